import math

import pytest
import torch
import torch.nn.functional as F

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
