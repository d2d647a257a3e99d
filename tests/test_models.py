import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from widgets.core import models


def lone_mlp_reference(member: models.Family, x):
    """The same network written plainly with torch.nn.functional, from the member's own weights."""
    W = [p[0] for p in member.params]
    h = x.double()
    step = 2 if member.bias else 1
    layers = [W[i:i + step] for i in range(0, len(W), step)]
    for i, layer in enumerate(layers):
        h = F.linear(h, layer[0].T, layer[1][0] if member.bias else None)
        if i < len(layers) - 1:
            h = {"relu": torch.relu, "tanh": torch.tanh, "identity": lambda t: t}[member.act](h)
    return h


@pytest.mark.parametrize("act", ["relu", "tanh", "identity"])
def test_mlp_family_members_compute_their_lone_network(act):
    fam = models.mlp(3, 2, widths=[4, 9, 6], seeds=[0, 1, 2], depth=3, act=act, dtype=torch.float64)
    x = torch.randn(11, 3, dtype=torch.float64)
    out = fam(x)
    assert out.shape == (3, 11, 2)
    for k, (w, s) in enumerate(zip([4, 9, 6], [0, 1, 2], strict=True)):
        lone = models.mlp(3, 2, widths=w, seeds=s, depth=3, act=act, dtype=torch.float64)
        assert torch.allclose(out[k], lone(x)[0], atol=1e-12)
        assert torch.allclose(out[k], lone_mlp_reference(lone, x), atol=1e-12)
        trimmed = fam.member(k)
        assert [tuple(p.shape) for p in trimmed.params] == [tuple(p.shape) for p in lone.params]
        assert all(torch.equal(a, b) for a, b in zip(trimmed.params, lone.params, strict=True))


def test_mlp_init_statistics():
    fam = models.mlp(100, 1, widths=2000, seeds=0, depth=2, act="relu", init_scale=2.0)
    W = fam.params[0][0]
    assert W.std().item() == pytest.approx(2.0 * math.sqrt(2 / 100), rel=0.02)
    assert fam.params[1].abs().max() == 0  # biases start at zero


def test_per_member_input_batches():
    fam = models.mlp(2, 1, widths=5, seeds=[0, 1], depth=2, dtype=torch.float64)
    xb = torch.randn(2, 7, 2, dtype=torch.float64)
    out = fam(xb)
    for k in range(2):
        assert torch.allclose(out[k], fam(xb[k])[k])


def conv_reference(lone: models.Family, x):
    """A lone CNN through F.conv1d with circular padding."""
    step = 2 if lone.bias else 1
    depth = lone.info["depth"]
    h = x.double()[:, None, :]
    q = lone.q
    for i in range(depth):
        W = lone.params[step * i][0]
        h = F.conv1d(F.pad(h, ((q - 1) // 2, q // 2), mode="circular"), W,
                     lone.params[step * i + 1][0, :, 0] if lone.bias else None)
        h = torch.relu(h)
    h = h.flatten(1) if lone.readout == "flatten" else h.mean(-1)
    out = h @ lone.params[step * depth][0]
    return out + lone.params[step * depth + 1][0] if lone.bias else out


@pytest.mark.parametrize("q", [1, 2, 3, 4])
@pytest.mark.parametrize("readout", ["flatten", "gap"])
def test_cnn_family_matches_conv1d(q, readout):
    fam = models.cnn(8, 2, channels=[3, 5], seeds=[4, 5], depth=2, q=q, readout=readout, dtype=torch.float64)
    with torch.no_grad():  # give the biases something to do
        for p in fam.params:
            p.add_(0.1 * torch.randn_like(p) * (p != 0))
    x = torch.randn(6, 8, dtype=torch.float64)
    out = fam(x)
    for k in range(2):
        lone = fam.member(k)
        assert torch.allclose(out[k], conv_reference(lone, x), atol=1e-12)
        assert torch.allclose(out[k], lone(x)[0], atol=1e-12)


@pytest.mark.parametrize("call, match", [
    (lambda: models.mlp(0, 1, 4), "d_in"),
    (lambda: models.mlp(1, 1, 4, depth=0), "depth"),
    (lambda: models.mlp(1, 1, [4, 5], seeds=[0]), "widths"),
    (lambda: models.mlp(1, 1, 4, act="gelu"), "act"),
    (lambda: models.mlp(1, 1, 0), "widths"),
    (lambda: models.mlp(1, 1, 4, seeds=[]), "seeds"),
    (lambda: models.mlp(1, 1, 4, init_scale=float("nan")), "init_scale"),
    (lambda: models.cnn(4, 1, 2, q=5), "q must"),
    (lambda: models.cnn(4, 1, 2, readout="max"), "readout"),
])
def test_bad_arguments(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_forward_rejects_bad_shapes():
    fam = models.mlp(2, 1, 4)
    with pytest.raises(ValueError, match="x must have shape"):
        fam(torch.zeros(2))


def test_to_module_computes_the_member():
    fam = models.mlp(3, 2, widths=[4, 7], seeds=[0, 1], depth=3, act="relu", dtype=torch.float64)
    x = torch.randn(5, 3, dtype=torch.float64)
    for k in range(2):
        assert torch.allclose(models.to_module(fam, k)(x), fam(x)[k], atol=1e-12)
    with pytest.raises(ValueError, match="MLP family"):
        models.to_module(models.cnn(4, 1, 2), 0)


def test_bias_std_draws_biases_without_changing_weights():
    plain = models.mlp(3, 2, widths=[400, 300], seeds=[0, 1], depth=3, dtype=torch.float64)
    biased = models.mlp(3, 2, widths=[400, 300], seeds=[0, 1], depth=3, bias_std=2.0, dtype=torch.float64)
    for W0, W1 in zip(plain.params[::2], biased.params[::2], strict=True):
        assert torch.equal(W0, W1)
    b_first, b_hidden = biased.params[1][0, 0], biased.params[3][0, 0, :400]
    assert b_first.std().item() == pytest.approx(2.0 / 3**0.5, rel=0.15)  # N(0, bias_std²/fan_in)
    assert b_hidden.std().item() == pytest.approx(2.0 / 400**0.5, rel=0.15)
    assert (biased.params[1][1, 0, 300:] == 0).all()  # the narrower member's padding stays zero
    with pytest.raises(ValueError, match="bias_std"):
        models.mlp(1, 1, widths=4, bias=False, bias_std=1.0)


def test_hidden_widths_and_layer_outputs_match_the_forward_pass():
    from widgets.core import models as M

    x = torch.randn(7, 12)
    fam = M.mlp(12, 2, None, seeds=[0, 1, 2], hidden=(10, 7, 5, 4, 3), act="tanh")
    outs = M.layer_outputs(fam, x)
    assert [o.shape[-1] for o in outs] == [10, 7, 5, 4, 3, 2]
    torch.testing.assert_close(outs[-1], fam(x))
    lone = M.mlp(12, 2, None, seeds=[1], hidden=(10, 7, 5, 4, 3), act="tanh")
    torch.testing.assert_close(M.layer_outputs(lone, x)[2][0], outs[2][1])  # member 1 is the lone seed-1 net
    pre = M.layer_outputs(fam, x, pre=True)
    torch.testing.assert_close(torch.tanh(pre[0]), outs[0])
    with pytest.raises(ValueError, match="not both"):
        M.mlp(12, 2, 8, hidden=(4, 3))
    with pytest.raises(ValueError, match="widths"):
        M.mlp(12, 2, None)


# ---------------------------------------------------------------- bad input and no NaN

_NAN = float("nan")
_FAM = models.mlp(3, 2, [4, 2], seeds=[0, 1], device="cpu")
_CNN = models.cnn(5, 1, 2, seeds=[0, 1], device="cpu")
_NOBIAS = models.mlp(3, 1, 4, seeds=[0], bias=False, device="cpu")
_PACKED = models.packed_mlp(3, 1, [2, 3], [0, 1], device="cpu")
_BAD_INPUTS = [
    (models.training_bytes, (0, 10, 3, 1, 4, 2), {}, ValueError, r"members must be an integer in \[1, inf\]"),
    (models.training_bytes, (2, -1, 3, 1, 4, 2), {}, ValueError, r"n must be an integer in \[0, inf\]"),
    (models.training_bytes, (2, 10, 3, 1, 4.5, 2), {}, ValueError, r"width must be an integer"),
    (models.training_bytes, (2, 10, 3, 1, 4, 0), {}, ValueError, r"depth must be an integer in \[1, inf\]"),
    (models.training_bytes, (2, 10, 3, 1, 4, 2), {"itemsize": 0}, ValueError, r"itemsize must be an integer"),
    (models.mlp, (0, 1, 4), {}, ValueError, r"d_in must be an integer in \[1, inf\]"),
    (models.mlp, (3, 1, 4), {"dropout": 1.0}, ValueError, r"dropout must be a finite number in \[0, 1\)"),
    (models.mlp, (3, 1, 4), {"dropout": -0.1}, ValueError, r"dropout must be a finite number in \[0, 1\)"),
    (models.mlp, (3, 1, 4), {"dropout": float("nan")}, ValueError, r"dropout must be a finite number"),
    (models.mlp, (3, 1, 4), {"seeds": [0, 1], "dropout": [0.1]}, ValueError,
     r"dropout must be a number or a list of 2"),
    (models.mlp, (3, 1, 4), {"dropout": "0.1"}, TypeError, r"dropout must be a list or tuple"),
    (models.mlp, (3, 2.5, 4), {}, ValueError, r"d_out must be an integer"),
    (models.mlp, (3, 1, 0), {}, ValueError, r"widths\[i\] must be an integer in \[1, 1000000\]"),
    (models.mlp, (3, 1, None), {}, ValueError, r"widths must be a width or one per member"),
    (models.mlp, (3, 1, [4, 4]), {"seeds": [0]}, ValueError, r"widths must be a number or a list of 1"),
    (models.mlp, (3, 1, 4), {"seeds": []}, ValueError, r"seeds must name at least one member"),
    (models.mlp, (3, 1, 4), {"seeds": [-1]}, ValueError, r"seeds\[i\] must be an integer in \[0"),
    (models.mlp, (3, 1, 4), {"seeds": "ab"}, TypeError, r"seeds must be a list or tuple"),
    (models.mlp, (3, 1, 4), {"depth": 0}, ValueError, r"depth must be an integer in \[1, 64\]"),
    (models.mlp, (3, 1, 4), {"act": "gelu"}, ValueError, r"act must be one of"),
    (models.mlp, (3, 1, 4), {"init_scale": -1.0}, ValueError, r"init_scale must be a finite number in \[0"),
    (models.mlp, (3, 1, 4), {"init_scale": _NAN}, ValueError, r"init_scale must be a finite number"),
    (models.mlp, (3, 1, 4), {"bias_std": _NAN}, ValueError, r"bias_std must be a finite number"),
    (models.mlp, (3, 1, 4), {"bias_std": 0.1, "bias": False}, ValueError, r"bias_std > 0 needs bias=True"),
    (models.mlp, (3, 1, 4), {"bias": "yes"}, TypeError, r"bias must be True or False"),
    (models.mlp, (3, 1, 4), {"device": "bogus"}, ValueError, r"device must name a device"),
    (models.mlp, (3, 1, 4), {"device": "meta"}, ValueError, r"device must be cpu, cuda, cuda:N or mps"),
    (models.mlp, (3, 1, 4), {"dtype": torch.int64}, TypeError, r"dtype must be None or a floating torch dtype"),
    (models.mlp, (3, 1, 4), {"dtype": "float32"}, TypeError, r"dtype must be None or a floating torch dtype"),
    (models.mlp, (10**6, 1, 10**5), {}, ValueError, r"family \(d_in=1000000.* GB .*budget"),
    (models.mlp, (3, 1, None), {"hidden": []}, ValueError, r"hidden must name at least one hidden width"),
    (models.mlp, (3, 1, 4), {"hidden": [3, 2]}, ValueError, r"pass either widths .* or hidden"),
    (models.mlp, (3, 1, None), {"hidden": [3, 0]}, ValueError, r"hidden\[i\] must be an integer"),
    (models.cnn, (5, 1, 2), {"q": 6}, ValueError, r"q must be an integer in \[1, 5\]"),
    (models.cnn, (5, 1, 2), {"readout": "max"}, ValueError, r"readout must be one of"),
    (models.cnn, (5, 1, 0), {}, ValueError, r"widths\[i\] must be an integer"),
    (models.cnn, (0, 1, 2), {}, ValueError, r"d must be an integer"),
    (models.cnn, (5, 1, 2), {"device": "bogus"}, ValueError, r"device must name a device"),
    (models.cnn, (5, 1, 2), {"act": "sigmoid"}, ValueError, r"act must be one of"),
    (models.cnn, (10**5, 1, 10**5), {}, ValueError, r"family \(d=100000.* GB .*budget"),
    (_FAM.forward, (torch.ones(4, 5),), {}, ValueError, r"x must have shape \[n, 3\] or \[2, n, 3\]"),
    (_FAM.forward, (torch.ones(3),), {}, ValueError, r"x must have shape \[n, 3\]"),
    (_FAM.forward, (torch.ones(3, 4, 3),), {}, ValueError, r"x must have shape \[n, 3\] or \[2, n, 3\]"),
    (_FAM.forward, ([[1.0, 2.0, 3.0]],), {}, TypeError, r"x must be a torch\.Tensor"),
    (_CNN.forward, (torch.ones(4, 6),), {}, ValueError, r"x must have shape \[n, 5\]"),
    (_FAM.broadcast, (torch.ones(3),), {}, ValueError, r"values must have shape \[2\]"),
    (_FAM.broadcast, ([1.0, 2.0],), {}, TypeError, r"values must be a torch\.Tensor"),
    (_FAM.member, (2,), {}, ValueError, r"k must be an integer in \[0, 1\]"),
    (_FAM.member, (-1,), {}, ValueError, r"k must be an integer"),
    (models.to_module, (_NOBIAS, 0), {}, ValueError, r"to_module needs an MLP family with biases"),
    (models.to_module, (_FAM, 5), {}, ValueError, r"k must be an integer in \[0, 1\]"),
    (models.to_module, ("net", 0), {}, TypeError, r"family must be a Family"),
    (models.layer_outputs, (_FAM, torch.ones(4, 2)), {}, ValueError, r"x must have shape \[n, 3\]"),
    (models.layer_outputs, (_CNN, torch.ones(4, 5)), {}, ValueError, r"layer_outputs needs a plain MLP family"),
    (models.layer_outputs, (_FAM, torch.ones(4, 3)), {"pre": "yes"}, TypeError, r"pre must be True or False"),
    (models.layer_outputs, (None, torch.ones(4, 3)), {}, TypeError, r"family must be a Family"),
    (models.centered, (_FAM, 0.0), {}, ValueError, r"scale must be a finite number in \(0"),
    (models.centered, (_FAM, [1.0, 2.0, 3.0]), {}, ValueError, r"scale must be a number or a list of 2"),
    (models.centered, (_FAM, _NAN), {}, ValueError, r"scale must be a finite number"),
    (models.centered, ({}, 1.0), {}, TypeError, r"family must be a Family"),
    (models.centered, (models.mlp(3, 1, 4, dropout=0.1), 1.0), {}, ValueError, r"centered needs a family without"),
    (models.packed_mlp, (3, 1, [], []), {}, ValueError, r"widths and seeds must be equally long and non-empty"),
    (models.packed_mlp, (3, 1, [2, 3], [0]), {}, ValueError, r"widths and seeds must be equally long"),
    (models.packed_mlp, (3, 1, [2], [0]), {"device": "bogus"}, ValueError, r"device must name a device"),
    (models.packed_mlp, (0, 1, [2], [0]), {}, ValueError, r"d_in must be an integer"),
    (models.packed_mlp, (3, 1, 4, [0]), {}, TypeError, r"widths must be a list or tuple"),
    (models.packed_mlp, (3, 1, [0], [0]), {}, ValueError, r"widths\[i\] must be an integer"),
    (_PACKED.forward, (torch.ones(4, 2),), {}, ValueError, r"x must have shape \[n, 3\]"),
    (_PACKED.forward, (torch.ones(2, 4, 3),), {}, ValueError, r"x must have shape \[n, 3\]"),
    (_PACKED.broadcast, (torch.ones(5),), {}, ValueError, r"values must have shape \[2\]"),
]


@pytest.mark.parametrize("fn,args,kwargs,exc,match", _BAD_INPUTS,
                         ids=[f"{getattr(c[0], '__qualname__', c[0].__name__)}-{i}" for i, c in enumerate(_BAD_INPUTS)])
def test_bad_input_is_refused_naming_the_argument(fn, args, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        fn(*args, **kwargs)


@settings(max_examples=50, deadline=None, database=None)
@given(kind=st.sampled_from(["mlp", "cnn", "packed"]), d=st.integers(1, 6), width=st.integers(1, 8),
       depth=st.integers(1, 3), act=st.sampled_from(sorted(models.ACTIVATIONS)), seed=st.integers(0, 2**31),
       scale=st.floats(0, 4), data=st.data())
def test_random_valid_inputs_give_finite_outputs(kind, d, width, depth, act, seed, scale, data):
    if kind == "mlp":
        fam = models.mlp(d, 2, [width, max(1, width - 1)], seeds=[seed, seed + 1], depth=depth, act=act,
                         init_scale=scale, device="cpu")
    elif kind == "cnn":
        fam = models.cnn(d, 2, width, seeds=[seed], depth=depth, q=data.draw(st.integers(1, d)), act=act,
                         readout=data.draw(st.sampled_from(["flatten", "gap"])), init_scale=scale, device="cpu")
    else:
        fam = models.packed_mlp(d, 2, [width, width + 1], [seed, seed + 1], device="cpu")
    rows = data.draw(st.lists(st.lists(st.floats(-100, 100), min_size=d, max_size=d), min_size=1, max_size=5))
    out = fam(torch.tensor(rows))
    assert out.shape == (fam.size, len(rows), 2) and torch.isfinite(out).all()


def test_training_bytes_counts_weights_with_their_optimizer_state_and_two_activations_per_layer():
    # depth 2: weights (d_in + d_out)·width; activations n·(width + d_out)
    assert models.training_bytes(2, 10, 3, 1, 4, 2) == 4 * 2 * (4 * (3 + 1) * 4 + 2 * 10 * (4 + 1))
    assert models.training_bytes(1, 5, 3, 2, 7, 1) == 4 * (4 * 3 * 2 + 2 * 5 * 2)  # one layer: no width
