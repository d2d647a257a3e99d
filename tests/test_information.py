"""The 12-bit task and the information estimators of widgets.core.information, against hand-computed cases."""

import math

import numpy as np
import pytest
import torch

from widgets.core import data, information, models


def test_tishby_bits_rows_are_binary_expansions_msb_first():
    x, y = data.tishby_bits()
    assert x.shape == (4096, 12) and x.dtype == torch.float32
    assert y.shape == (4096,) and y.dtype == torch.int64
    assert set(x.unique().tolist()) == {0.0, 1.0} and set(y.unique().tolist()) == {0, 1}
    weights = 2 ** torch.arange(11, -1, -1)
    assert torch.equal((x.long() * weights).sum(1), torch.arange(4096))
    assert x[1].tolist() == [0] * 11 + [1] and x[2048].tolist() == [1] + [0] * 11


def test_tishby_bits_label_statistics_match_the_authors_file():
    """p(y=1) = 0.5171 and P(y=1 | popcount k): 0 for k ≤ 4, 60/792, 532/924, 732/792 for k = 5, 6, 7, 1 for
    k ≥ 8 (the rates of var_u.mat)."""
    x, y = data.tishby_bits()
    assert int(y.sum()) == 2118  # 0.5171 · 4096
    k = x.sum(1)
    positives = {c: int(y[k == c].sum()) for c in range(13)}
    assert all(positives[c] == 0 for c in range(5))
    assert (positives[5], positives[6], positives[7]) == (60, 532, 732)
    assert all(positives[c] == int((k == c).sum()) for c in range(8, 13))


def test_tishby_threshold_sits_in_a_gap_and_the_rule_is_rotation_invariant():
    x, y = data.tishby_bits()
    u = torch.tensor(data.ICOSAHEDRON, dtype=torch.float64)
    u = u / u.norm(dim=1, keepdim=True)
    f = x.double().sum(1) + (x.double() @ u).norm(dim=1)
    for theta in (7.57, 7.70):  # anywhere in (7.5628, 7.7013] gives the same labels
        assert torch.equal((f >= theta).long(), y)
    q, _ = torch.linalg.qr(torch.randn(3, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0)))
    f_rot = x.double().sum(1) + (x.double() @ (u @ q)).norm(dim=1)
    assert torch.equal((f_rot >= data.TISHBY_THRESHOLD).long(), y)


def test_a_copy_of_the_input_holds_all_12_bits_and_a_constant_layer_none():
    x, y = data.tishby_bits()
    h_y = -(0.5171 * math.log2(0.5171) + 0.4829 * math.log2(0.4829))
    ixt, ity = information.binned_information(x, y, width=0.5)
    assert float(ixt) == pytest.approx(12.0, abs=1e-12)
    assert float(ity) == pytest.approx(h_y, abs=1e-3)
    ixt, ity = information.binned_information(torch.full((4096, 3), 0.3), y)
    assert float(ixt) == 0.0 and abs(float(ity)) < 1e-12
    ixt, ity = information.binned_information(y[:, None].float(), y, width=0.5)  # the label itself
    assert float(ixt) == pytest.approx(float(ity), abs=1e-12) == pytest.approx(h_y, abs=1e-3)


def test_binned_information_on_a_hand_computed_layer():
    """Eight inputs, labels 0 0 0 0 1 1 1 1; the layer puts inputs 0-5 in one bin and 6, 7 in another:
    H(T) = H(3/4) = 0.8113; H(T, Y) = H(4/8, 2/8, 2/8) = 1.5, H(Y) = 1, so I(T;Y) = 0.3113."""
    t = torch.tensor([0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.9, 0.9])[:, None]
    y = torch.tensor([0, 0, 0, 0, 1, 1, 1, 1])
    ixt, ity = information.binned_information(t, y)
    h = -(0.75 * math.log2(0.75) + 0.25 * math.log2(0.25))
    assert float(ixt) == pytest.approx(h, abs=1e-12)
    assert float(ity) == pytest.approx(h + 1 - 1.5, abs=1e-12)


def test_grid_bins_are_numpy_digitize_and_width_bins_are_floor():
    t = torch.tensor([-1.5, -1.0, -0.99, -0.2, 0.0, 0.31, 0.98, 1.0, 7.0], dtype=torch.float64)
    edges = np.linspace(-1, 1, 30)
    assert information.bin_ids(t).tolist() == np.digitize(t.numpy(), edges).tolist()
    assert information.bin_ids(t, width=0.07).tolist() == np.floor(t.numpy() / 0.07).astype(int).tolist()


def test_row_codes_are_exact_when_the_product_of_bins_overflows_int64():
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(0, 3, (2, 500, 40), generator=g) * 10**6  # 40 columns of huge ids: 3^40 patterns
    ids[:, 250:] = ids[:, :250]  # every row appears twice
    codes = information.row_codes(ids)
    for k in range(2):
        n_unique = len(torch.unique(ids[k], dim=0))
        assert len(torch.unique(codes[k])) == n_unique
        assert torch.equal(codes[k, 250:], codes[k, :250])
    h = information.code_entropy(codes)
    expected = [math.log2(len(torch.unique(ids[k], dim=0))) for k in range(2)]  # all patterns twice: uniform
    assert h.tolist() == pytest.approx(expected, abs=1e-9)


def test_binned_information_is_batched_over_leading_axes():
    x, y = data.tishby_bits()
    g = torch.Generator().manual_seed(0)
    t = torch.tanh(x @ torch.randn(2, 3, 12, 4, generator=g))  # [2, 3, 4096, 4]
    ixt, ity = information.binned_information(t, y)
    assert ixt.shape == ity.shape == (2, 3)
    for i in range(2):
        for j in range(3):
            a, b = information.binned_information(t[i, j], y)
            assert float(ixt[i, j]) == pytest.approx(float(a)) and float(ity[i, j]) == pytest.approx(float(b))
    assert (ity <= ixt + 1e-9).all() and (ixt <= 12 + 1e-9).all()


def test_kde_bound_is_zero_for_a_constant_layer_and_log_n_for_separated_points():
    y = torch.tensor([0, 1] * 32)
    ixt, ity = information.kde_information(torch.zeros(64, 2), y, var=1e-3)
    assert abs(float(ixt)) < 1e-9 and abs(float(ity)) < 1e-9
    t = torch.arange(64, dtype=torch.float64)[:, None] * 10.0  # far apart: every Gaussian on its own
    ixt, ity = information.kde_information(t, y, var=1e-3)
    assert float(ixt) == pytest.approx(6.0, abs=1e-6)  # log2 64
    assert float(ity) == pytest.approx(1.0, abs=1e-6)  # H(Y)
    ixt_big, _ = information.kde_information(t, y, var=1e6)  # noise swamps the spread: little information
    assert float(ixt_big) < 0.5


def test_bad_arguments_name_themselves():
    x, y = data.tishby_bits()
    with pytest.raises(ValueError, match="width"):
        information.bin_ids(x, width=0)
    with pytest.raises(ValueError, match="lo must be below hi"):
        information.bin_ids(x, lo=1, hi=-1)
    with pytest.raises(ValueError, match="y must be"):
        information.binned_information(x, y[:10])
    with pytest.raises(ValueError, match="var"):
        information.kde_information(x[:8], y[:8], var=0.0)
    with pytest.raises(ValueError, match="batch_size"):
        information.gradient_snr(x[:100], y[:100], batch_size=80)


def test_mlp_with_hidden_layers_of_different_widths_and_its_layer_outputs():
    fam = models.mlp(12, 2, None, seeds=[0, 1], act="tanh", hidden=(10, 7, 5, 4, 3), dtype=torch.float64)
    assert [tuple(p.shape) for p in fam.params[0::2]] == [(2, 12, 10), (2, 10, 7), (2, 7, 5), (2, 5, 4),
                                                          (2, 4, 3), (2, 3, 2)]
    x, _ = data.tishby_bits()
    outs = models.layer_outputs(fam, x[:50])
    assert [o.shape[-1] for o in outs] == [10, 7, 5, 4, 3, 2]
    torch.testing.assert_close(outs[-1], fam(x[:50]))
    pre = models.layer_outputs(fam, x[:50], pre=True)
    torch.testing.assert_close(torch.tanh(pre[2]), outs[2])
    lone = models.mlp(12, 2, None, seeds=1, act="tanh", hidden=(10, 7, 5, 4, 3), dtype=torch.float64)
    torch.testing.assert_close(fam(x[:50])[1], lone(x[:50])[0])
    with pytest.raises(ValueError, match="not both"):
        models.mlp(12, 2, 10, seeds=0, hidden=(4, 3))
    with pytest.raises(ValueError, match="widths"):
        models.mlp(12, 2, None, seeds=0)


def test_probes_saturation_and_gradient_snr_against_direct_computation():
    x, y = data.tishby_bits()
    fam = models.mlp(12, 2, None, seeds=[0, 1], act="tanh", hidden=(4, 3), dtype=torch.float64)
    assert (information.saturation(x, 1)(fam) < 0.5).all()  # N(0, 1/fan_in) weights: mostly unsaturated
    with torch.no_grad():
        fam.params[2].mul_(1000.0)  # the second weight matrix: its layer saturates
    sat = information.saturation(x, 1)(fam)
    assert sat.shape == (2,) and (sat > 0.9).all()
    xs, ys = x[:512], y[:512]
    snr = information.gradient_snr(xs, ys, batch_size=128, params=(0, -2), seed=3)(fam)
    order = torch.randperm(512, generator=torch.Generator().manual_seed(3))
    for k in range(2):
        member = fam.member(k)
        grads = []
        for b in range(4):
            idx = order[128 * b:128 * (b + 1)]
            loss = torch.nn.functional.cross_entropy(member(xs[idx])[0], ys[idx])
            grads.append(torch.autograd.grad(loss, [member.params[0], member.params[-2]]))
        for j in range(2):
            g = torch.stack([gb[j] for gb in grads])
            assert float(snr[k, j]) == pytest.approx(float(g.mean(0).norm() / g.std(0).norm()), rel=1e-9)


def test_layer_information_probe_shapes_and_softmax_output():
    x, y = data.tishby_bits()
    fam = models.mlp(12, 2, None, seeds=[0, 1, 2], act="relu", hidden=(5, 3))
    v = information.layer_information(x, y, {"grid": {}, "width": {"width": 0.07}})(fam)
    assert v.shape == (3, 2, 3, 2)
    assert (v >= -1e-9).all() and (v[..., 0] <= 12 + 1e-9).all() and (v[..., 1] <= 1.0).all()
    probs = torch.softmax(models.layer_outputs(fam, x)[-1], -1)
    expected = information.binned_information(probs, y, width=0.07)
    torch.testing.assert_close(v[:, 1, -1, 0], expected[0])
    k = information.kde_layer_information(x[:128], y[:128], 1, [1e-3, 0.1])(fam)
    assert k.shape == (3, 2, 2)
    assert (k[:, 0, 0] >= k[:, 1, 0]).all()  # more noise, less information


# ---------------------------------------------------------------- bad input: a clear error naming the argument

_NAN = float("nan")
_T = torch.zeros(8, 2)
_Y = torch.tensor([0, 1] * 4)
_X = torch.zeros(8, 12)
_FAM = models.mlp(12, 2, None, seeds=[0], act="tanh", hidden=(4, 3))
_BAD_INPUTS = [
    (information.row_codes, (torch.zeros(4),), {}, ValueError, r"ids must have shape \[\.\.\., N, w\]"),
    (information.row_codes, (torch.zeros(4, 2),), {}, ValueError, r"ids must hold integer bin ids"),
    (information.row_codes, ("ids",), {}, TypeError, r"ids must be a torch.Tensor"),
    (information.code_entropy, (torch.zeros(3, 0, dtype=torch.long),), {}, ValueError,
     r"codes must hold at least one entry per row"),
    (information.code_entropy, (torch.zeros(4),), {}, ValueError, r"codes must hold integer codes"),
    (information.code_entropy, (torch.tensor(3),), {}, ValueError, r"codes must have shape \[\.\.\., N\]"),
    (information.bin_ids, (_T,), {"width": 0.0}, ValueError, r"width must be a finite number in \(0"),
    (information.bin_ids, (_T,), {"bins": 1}, ValueError, r"bins must be an integer in \[2, 1000000\]"),
    (information.bin_ids, (_T,), {"lo": 1.0, "hi": -1.0}, ValueError, r"lo must be below hi"),
    (information.bin_ids, (_T,), {"lo": _NAN}, ValueError, r"lo must be a finite number"),
    (information.bin_ids, (torch.tensor([_NAN]),), {}, ValueError, r"t must hold only finite values"),
    (information.binned_information, (_T, _Y[:5]), {}, ValueError, r"y must be \[N=8\] integer labels"),
    (information.binned_information, (_T, _Y.float()), {}, ValueError, r"y must be \[N=8\] integer labels"),
    (information.binned_information, (torch.zeros(8), _Y), {}, ValueError, r"t must have shape \[\.\.\., N, w\]"),
    (information.binned_information, (_T * _NAN, _Y), {}, ValueError, r"t must hold only finite values"),
    (information.binned_information, (_T, _Y), {"bins": 0}, ValueError, r"bins must be an integer"),
    (information.kde_information, (_T, _Y, 0.0), {}, ValueError, r"var must be a finite number in \(0"),
    (information.kde_information, (_T, _Y, 1e-3), {"chunk": 0}, ValueError, r"chunk must be an integer in \[1"),
    (information.kde_information, (_T, _Y[:3], 1e-3), {}, ValueError, r"y must be \[N=8\] integer labels"),
    (information.kde_information, (torch.zeros(8, 10**5, 1), torch.zeros(10**5, dtype=torch.long), 1e-3), {},
     ValueError, r"the pairwise distances of 8 rows of 100000 points is too large"),
    (information.layer_information, (_X, _Y, {}), {}, ValueError, r"binnings must name at least one binning"),
    (information.layer_information, (_X, _Y, [("grid", {})]), {}, TypeError, r"binnings must be a dict"),
    (information.layer_information, (_X, _Y, {"grid": {"edges": 3}}), {}, ValueError,
     r"binnings\['grid'\] must be a dict of bin_ids arguments"),
    (information.layer_information, (_X, _Y, {"w": {"width": -1.0}}), {}, ValueError, r"width must be a finite"),
    (information.layer_information, (_X, _Y[:4], {"grid": {}}), {}, ValueError, r"y must be \[8\] integer labels"),
    (information.layer_information, (_X, _Y, {"grid": {}}), {"pre": "yes"}, TypeError, r"pre must be True or False"),
    (information.kde_layer_information, (_X, _Y, 1, []), {}, ValueError, r"variances must have at least 1 entries"),
    (information.kde_layer_information, (_X, _Y, 1, [0.0]), {}, ValueError, r"variances\[i\] must be a finite"),
    (information.kde_layer_information, (_X, _Y, 1.5, [1e-3]), {}, ValueError, r"layer must be an integer"),
    (information.kde_layer_information(_X, _Y, 7, [1e-3]), (_FAM,), {}, ValueError,
     r"layer must be an index into the family's 3 layers"),
    (information.saturation, (_X, 0), {"level": -1.0}, ValueError, r"level must be a finite number in \[0"),
    (information.saturation, (_X * _NAN, 0), {}, ValueError, r"x must hold only finite values"),
    (information.saturation(_X, 5), (_FAM,), {}, ValueError, r"layer must be an index into the family's 3 layers"),
    (information.gradient_snr, (_X, _Y, 4), {"params": []}, ValueError, r"params must have at least 1 entries"),
    (information.gradient_snr, (_X, _Y, 4), {"loss": "hinge"}, ValueError, r"loss must be one of"),
    (information.gradient_snr, (_X, _Y, 4), {"seed": -1}, ValueError, r"seed must be an integer in \[0, inf\]"),
    (information.gradient_snr, (_X, _Y, 0), {}, ValueError, r"batch_size must be an integer in \[1, 8\]"),
    (information.gradient_snr, (_X, _Y, 8), {}, ValueError, r"batch_size must leave at least 2 batches"),
    (information.gradient_snr(_X, _Y, 4, params=(9,)), (_FAM,), {}, ValueError,
     r"params\[i\] must be an index into the family's 6 layers or tensors"),
]


@pytest.mark.parametrize("fn,args,kwargs,exc,match", _BAD_INPUTS,
                         ids=[f"{getattr(c[0], '__name__', 'probe')}-{i}" for i, c in enumerate(_BAD_INPUTS)])
def test_bad_input_is_refused_naming_the_argument(fn, args, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        fn(*args, **kwargs)


# ---------------------------------------------------------------- random valid input never gives NaN

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=30, deadline=None, database=None)
@given(N=st.integers(1, 40), w=st.integers(1, 4), scale=st.floats(1e-6, 1e3), seed=st.integers(0, 2**16))
def test_random_valid_inputs_never_give_nan(N, w, scale, seed):
    g = torch.Generator().manual_seed(seed)
    t = scale * torch.randn(2, N, w, generator=g, dtype=torch.float64)
    y = torch.randint(0, 3, (N,), generator=g)
    for binning in ({}, {"width": 0.07}):
        ixt, ity = information.binned_information(t, y, **binning)
        assert torch.isfinite(ixt).all() and torch.isfinite(ity).all()
        assert (ixt >= -1e-9).all() and (ixt <= math.log2(N) + 1e-9).all() and (ity <= ixt + 1e-9).all()
    ixt, ity = information.kde_information(t, y, var=1e-3)
    assert torch.isfinite(ixt).all() and torch.isfinite(ity).all()
