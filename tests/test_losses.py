"""Tests of the callable losses of widgets.core.losses against direct computations (the named losses are
tested through the trainer in test_train.py)."""

import math

import pytest
import torch

from widgets.core import losses


def test_centered_mse_frees_the_offset():
    out, y = torch.randn(2, 10, 1, dtype=torch.float64), torch.randn(2, 10, 1, dtype=torch.float64)
    r = (out - y)[..., 0]
    expected = ((r - r.mean(1, keepdim=True)) ** 2).mean(1)
    assert torch.allclose(losses.centered_mse(out, y), expected, rtol=1e-12)
    assert torch.allclose(losses.centered_mse(out + 3.0, y), losses.centered_mse(out, y), rtol=1e-12)


def test_sobolev_loss_at_zero_is_the_centered_mse():
    n = 40
    out, y = torch.randn(3, n, 1, dtype=torch.float64), torch.randn(3, n, 1, dtype=torch.float64)
    assert torch.allclose(losses.sobolev_loss(0.0, n)(out, y), losses.centered_mse(out, y), rtol=1e-12)


@pytest.mark.parametrize("n", [16, 15])
def test_sobolev_loss_weighs_a_pure_frequency_by_its_parseval_and_sobolev_factors(n):
    # a unit cosine at frequency k has mean square ½ (1 at k = n/2), spread over the bins ±k
    x = torch.arange(n, dtype=torch.float64) / n
    for k in (1, 3, n // 2):
        r = torch.cos(2 * math.pi * k * x)[None, :, None]
        mean_sq = float((r**2).mean())
        for s in (-1.0, 0.5):
            got = float(losses.sobolev_loss(s, n)(r, torch.zeros_like(r))[0])
            assert got == pytest.approx(mean_sq * (1 + k**2) ** s, rel=1e-10)


def test_sobolev_loss_rejects_bad_arguments():
    with pytest.raises(ValueError, match="s"):
        losses.sobolev_loss(9.0, 16)
    with pytest.raises(ValueError, match="grid points"):
        losses.sobolev_loss(1.0, 16)(torch.zeros(1, 8, 1), torch.zeros(1, 8, 1))
    with pytest.raises(ValueError, match="exponents"):
        losses.sobolev_loss([0.0, 1.0], 8)(torch.zeros(3, 8, 1), torch.zeros(3, 8, 1))


def test_an_unknown_loss_name_is_an_error_not_another_loss():
    with pytest.raises(ValueError, match="loss must be one of"):
        losses.member_losses(torch.zeros(2, 3, 1), torch.zeros(3), "bogus")


# ---------------------------------------------------------------- the robust and bounded losses, by hand


def test_regression_losses_against_hand_values():
    out = torch.tensor([[[0.0], [1.0], [3.0]]], dtype=torch.float64)  # residuals 0, 0.5, -1.5 against y
    y = torch.tensor([0.0, 0.5, 4.5], dtype=torch.float64)
    assert float(losses.member_losses(out, y, "mse")[0]) == pytest.approx((0 + 0.25 + 2.25) / 3)
    assert float(losses.member_losses(out, y, "mae")[0]) == pytest.approx((0 + 0.5 + 1.5) / 3)
    # δ = 1: ½r² inside (0, 0.125), δ(|r| − δ/2) outside (1.5 − 0.5 = 1)
    assert float(losses.member_losses(out, y, "huber:1")[0]) == pytest.approx((0 + 0.125 + 1.0) / 3)
    assert float(losses.member_losses(out, y, "huber")[0]) == pytest.approx((0 + 0.125 + 1.0) / 3)
    # δ = 0.2: both nonzero residuals are outside: 0.2(0.5 − 0.1) = 0.08, 0.2(1.5 − 0.1) = 0.28
    assert float(losses.member_losses(out, y, "huber:0.2")[0]) == pytest.approx((0 + 0.08 + 0.28) / 3)


def test_classification_losses_against_hand_values():
    out = torch.tensor([[[math.log(3.0), 0.0], [0.0, 0.0]]], dtype=torch.float64)  # p = (¾, ¼), (½, ½)
    y = torch.tensor([0, 1])
    assert float(losses.member_losses(out, y, "cross_entropy")[0]) == pytest.approx(
        (-math.log(0.75) - math.log(0.5)) / 2)
    # raw outputs against one-hot: (ln3 − 1)² + 0², then 0² + (0 − 1)²
    assert float(losses.member_losses(out, y, "square")[0]) == pytest.approx(((math.log(3) - 1) ** 2 + 1) / 2)
    assert float(losses.member_losses(out, y, "softmax_mae")[0]) == pytest.approx((2 * 0.25 + 2 * 0.5) / 2)
    q = 0.5
    assert float(losses.member_losses(out, y, f"gce:{q}")[0]) == pytest.approx(
        ((1 - 0.75**q) / q + (1 - 0.5**q) / q) / 2)
    # GCE: q → 0 is cross-entropy, q = 1 is half the MAE
    assert float(losses.member_losses(out, y, "gce:0.0001")[0]) == pytest.approx(
        float(losses.member_losses(out, y, "cross_entropy")[0]), rel=1e-3)
    assert float(losses.member_losses(out, y, "gce:1")[0]) == pytest.approx(
        float(losses.member_losses(out, y, "softmax_mae")[0]) / 2)
    f = torch.tensor([[[2.0], [-1.0]]], dtype=torch.float64)
    s = torch.tensor([1.0, 1.0], dtype=torch.float64)
    assert float(losses.member_losses(f, s, "sigmoid")[0]) == pytest.approx(
        (1 / (1 + math.exp(2)) + 1 / (1 + math.exp(-1))) / 2)


def test_bounded_losses_are_bounded_and_the_mae_is_symmetric():
    out = 50 * torch.randn(1, 20, 4, dtype=torch.float64)
    y = torch.randint(0, 4, (20,))
    assert float(losses.member_losses(out, y, "softmax_mae")[0]) <= 2
    assert float(losses.member_losses(out, y, "gce")[0]) <= 1 / 0.7
    # Ghosh et al.'s symmetry: Σ_j L(f, j) = 2(K − 1) for every f
    total = sum(losses.member_losses(out, torch.full((20,), j), "softmax_mae") for j in range(4))
    assert float(total[0]) == pytest.approx(2 * 3)


def test_per_member_losses_equal_each_loss_alone():
    out = torch.randn(4, 6, 3, dtype=torch.float64)
    y = torch.randint(0, 3, (4, 6))
    specs = ["cross_entropy", "gce:0.5", "square", "cross_entropy"]
    got = losses.member_losses(out, y, specs)
    for k, spec in enumerate(specs):
        assert float(got[k]) == pytest.approx(float(losses.member_losses(out[k:k + 1], y[k:k + 1], spec)[0]))


def test_bad_loss_specs_are_value_errors_naming_the_problem():
    with pytest.raises(ValueError, match=r"huber delta must be a finite number in \[1e-08"):
        losses.parse_loss("huber:-1")
    with pytest.raises(ValueError, match=r"gce q must be a finite number in \[0.0001, 1.0\]"):
        losses.parse_loss("gce:2")
    with pytest.raises(ValueError, match="takes no parameter"):
        losses.parse_loss("mse:3")
    with pytest.raises(ValueError, match="same targets"):
        losses.loss_kind(["mse", "cross_entropy"])
    with pytest.raises(ValueError, match="one per member"):
        losses.member_losses(torch.zeros(2, 3, 1), torch.zeros(3), ["mse"])


@pytest.mark.parametrize("specs, kind", [(["cross_entropy", "square", "softmax_mae", "gce:0.7"], "multiclass"),
                                         (["mse", "mae", "huber:0.3", "mse"], "regression"),
                                         (["logistic", "sigmoid", "logistic", "sigmoid"], "binary")])
def test_a_family_with_one_loss_per_member_equals_lone_runs(specs, kind):
    """The trainer's per-member loss: each member trains exactly as it would alone with its own loss, on its
    own targets and minibatches."""
    from widgets.core import data, models, train

    g = torch.Generator().manual_seed(0)
    x = torch.randn(40, 3, generator=g, dtype=torch.float64)
    K = len(specs)
    if kind == "multiclass":
        y, d_out = torch.randint(0, 3, (K, 40), generator=g), 3
    elif kind == "binary":
        y, d_out = torch.where(torch.rand(K, 40, generator=g) < 0.5, -1.0, 1.0).double(), 1
    else:
        y, d_out = torch.randn(K, 40, 1, generator=g, dtype=torch.float64), 1
    ds = data.Dataset(x[:30], y[:, :30], x[30:], y[:, 30:])
    kw = dict(steps=12, lr=1e-2, optimizer="adam", batch_size=10, records=4)
    fam = models.mlp(3, d_out, widths=[6, 7, 5, 6], seeds=[0, 1, 2, 3], depth=2, act="tanh", dtype=torch.float64)
    res = train.train(fam, ds, loss=specs, **kw)
    assert res.config["loss"] == specs
    for k in range(K):
        lone = models.mlp(3, d_out, widths=[6, 7, 5, 6][k], seeds=k, depth=2, act="tanh", dtype=torch.float64)
        one = data.Dataset(x[:30], y[k, :30], x[30:], y[k, 30:])
        r1 = train.train(lone, one, loss=specs[k], **kw)
        assert torch.allclose(res.train_loss[:, k], r1.train_loss[:, 0], rtol=1e-10, atol=1e-12)
        assert torch.allclose(res.test_acc[:, k], r1.test_acc[:, 0], equal_nan=True)
        for a, b in zip(fam.member(k).params, lone.params, strict=True):
            assert torch.allclose(a, b, rtol=1e-10, atol=1e-12)


# ---------------------------------------------------------------- bad input: a clear error naming the argument

_NAN = float("nan")
_OUT = torch.zeros(2, 4, 3)
_BAD_INPUTS = [
    (losses.parse_loss, ("bogus",), {}, ValueError, r"loss must be one of"),
    (losses.parse_loss, (3,), {}, ValueError, r"loss must be one of"),
    (losses.parse_loss, ("huber:x",), {}, ValueError, r"huber delta must be a number in"),
    (losses.parse_loss, ("gce:nan",), {}, ValueError, r"gce q must be a finite number"),
    (losses.loss_kind, ([],), {}, ValueError, r"loss must name at least one loss"),
    (losses.loss_kind, (["mse", "logistic"],), {}, ValueError, r"per-member losses must all take the same targets"),
    (losses.loss_kind, ("hinge",), {}, ValueError, r"loss must be one of"),
    (losses.member_losses, (_OUT, torch.zeros(4, 3), "bogus"), {}, ValueError, r"loss must be one of"),
    (losses.member_losses, (torch.zeros(4, 3), torch.zeros(4, 3), "mse"), {}, ValueError,
     r"out must be a tensor of shape \[K, n, o\]"),
    (losses.member_losses, (_OUT, torch.zeros(4), "mse"), {}, ValueError, r"y must be \[4\] \(one output\), \[4, 3\]"),
    (losses.member_losses, (_OUT, torch.zeros(5, 3), "mse"), {}, ValueError, r"y must be .* for loss='mse'"),
    (losses.member_losses, (_OUT, torch.zeros(2, 4, 2), "mae"), {}, ValueError, r"y must be .* for loss='mae'"),
    (losses.member_losses, (_OUT, torch.zeros(4), "cross_entropy"), {}, ValueError,
     r"y must be \[4\] or \[2, 4\] int64"),
    (losses.member_losses, (_OUT, torch.zeros(3, dtype=torch.long), "cross_entropy"), {}, ValueError,
     r"y must be \[4\] or \[2, 4\] int64 class labels"),
    (losses.member_losses, (_OUT, torch.ones(4), "logistic"), {}, ValueError,
     r"loss='logistic' takes ±1 labels on one"),
    (losses.member_losses, (torch.zeros(2, 4, 1), torch.ones(4, 1), "logistic"), {}, ValueError,
     r"y must be \[4\] or \[2, 4\] ±1 labels"),
    (losses.member_losses, (_OUT, [0, 1, 2, 0], "cross_entropy"), {}, TypeError, r"y must be a torch.Tensor"),
    (losses.member_losses, (_OUT, torch.zeros(4, 3), ["mse"]), {}, ValueError, r"loss must be one name or a list of 2"),
    (losses.member_accuracy, (_OUT, torch.zeros(4), "square"), {}, ValueError, r"y must be \[4\] or \[2, 4\] int64"),
    (losses.member_accuracy, (torch.zeros(4, 3), torch.zeros(4, dtype=torch.long), "square"), {}, ValueError,
     r"out must be a tensor of shape \[K, n, o\]"),
    (losses.member_accuracy, (_OUT, torch.zeros(4, 3), "hinge"), {}, ValueError, r"loss must be one of"),
    (losses.member_accuracy, (torch.zeros(4), torch.zeros(4), losses.centered_mse), {}, ValueError,
     r"out must be a tensor of shape \[K, n, o\]"),
    (losses.centered_mse, (_OUT, torch.zeros(4, 3)), {}, ValueError, r"out must be \[K, n, 1\] and y"),
    (losses.centered_mse, (torch.zeros(2, 4, 1), torch.zeros(5, 1)), {}, ValueError, r"out must be \[K, n, 1\] and y"),
    (losses.sobolev_weights, ([], 8), {}, ValueError, r"s must have at least 1 entries"),
    (losses.sobolev_weights, (5.0, 8), {}, ValueError, r"s must be a finite number in \[-4, 4\]"),
    (losses.sobolev_weights, ([0.0, _NAN], 8), {}, ValueError, r"s\[i\] must be a finite number"),
    (losses.sobolev_weights, ("ab", 8), {}, TypeError, r"s must be a list or tuple"),
    (losses.sobolev_weights, (0.0, 1), {}, ValueError, r"n must be an integer in \[2, 10000000\]"),
    (losses.sobolev_weights, ([0.0] * 10**4, 10**7), {}, ValueError, r"the weights of 10000 exponents .* too large"),
    (losses.sobolev_loss, (True, 8), {}, ValueError, r"s must be a number"),
    (losses.sobolev_loss(0.0, 8), (torch.zeros(2, 6, 1), torch.zeros(2, 6, 1)), {}, ValueError,
     r"the Sobolev loss was built for n = 8 grid points, got 6"),
    (losses.sobolev_loss([0.0, 1.0, 2.0], 8), (torch.zeros(2, 8, 1), torch.zeros(2, 8, 1)), {}, ValueError,
     r"the Sobolev loss has 3 exponents for 2 members"),
]


@pytest.mark.parametrize("fn,args,kwargs,exc,match", _BAD_INPUTS,
                         ids=[f"{getattr(c[0], '__name__', 'loss')}-{i}" for i, c in enumerate(_BAD_INPUTS)])
def test_bad_input_is_refused_naming_the_argument(fn, args, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        fn(*args, **kwargs)


# ---------------------------------------------------------------- random valid input never gives NaN

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=40, deadline=None, database=None)
@given(K=st.integers(1, 3), n=st.integers(1, 6), o=st.integers(1, 4), scale=st.floats(1e-3, 1e3),
       seed=st.integers(0, 2**16))
def test_random_valid_inputs_never_give_nan(K, n, o, scale, seed):
    g = torch.Generator().manual_seed(seed)
    out = scale * torch.randn(K, n, o, generator=g, dtype=torch.float64)
    targets = {"regression": scale * torch.randn(n, o, generator=g, dtype=torch.float64),
               "multiclass": torch.randint(0, o, (n,), generator=g),
               "binary": torch.where(torch.rand(n, generator=g) < 0.5, -1.0, 1.0).double()}
    for name in losses.LOSSES:
        kind = losses.loss_kind(name)
        if kind == "binary" and o != 1:
            continue
        value = losses.member_losses(out[..., :1] if kind == "binary" else out, targets[kind], name)
        assert value.shape == (K,) and torch.isfinite(value).all() and (value >= 0).all(), name
    s = losses.sobolev_loss([-1.0, 2.0][:K] if K <= 2 else 0.5, n + 1)
    assert torch.isfinite(s(torch.randn(K, n + 1, 1, generator=g), torch.zeros(K, n + 1, 1))).all()
