"""Tests of widgets.core.meanfield: the hand-written gradients and tangent kernel against autograd, the
random-features shortcut against plain parameter GD, and a member of a batch against the same net alone."""

import pytest
import torch

from widgets.core import meanfield as mf


def _problem(K=3, n=12, D=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(K, n, D, generator=g, dtype=torch.float64)
    y = torch.where(torch.rand(K, n, generator=g) < 0.5, -1.0, 1.0).double()
    return x, y


def test_two_layer_grads_match_autograd():
    x, y = _problem()
    A, b = mf.init_two_layer([0, 1, 2], [5, 4, 5], 7, 5, "cpu", torch.float64)
    alpha = torch.tensor([1.0, 3.0, 0.5], dtype=torch.float64)
    f0 = torch.randn(3, 12, dtype=torch.float64)
    loss, gA, gb = mf.two_layer_grads(A, b, x, y, alpha, f0)
    A_, b_ = A.clone().requires_grad_(True), b.clone().requires_grad_(True)
    f = (torch.relu(torch.bmm(x, A_)) * b_[:, None, :]).sum(-1) / 7
    ref = torch.nn.functional.softplus(-y * alpha[:, None] * (f - f0)).mean(1)
    rA, rb = torch.autograd.grad(ref.sum(), (A_, b_))
    assert torch.allclose(loss, ref.detach())
    assert torch.allclose(gA, rA, atol=1e-12) and torch.allclose(gb, rb, atol=1e-12)


def test_tangent_kernel_matches_autograd():
    x, _ = _problem(K=1, n=4, D=3)
    A, b = mf.init_two_layer([4], [3], 6, 3, "cpu", torch.float64)
    K = mf.tangent_kernel(A, b, x)[0]
    rows = []
    for i in range(4):
        A_, b_ = A.clone().requires_grad_(True), b.clone().requires_grad_(True)
        f = mf.two_layer_forward(A_, b_, x)[0][0, i]
        rows.append(torch.cat([t.flatten() for t in torch.autograd.grad(f, (A_, b_))]))
    J = torch.stack(rows)
    assert torch.allclose(K, J @ J.T, atol=1e-12)


def test_output_only_function_space_matches_parameter_gd():
    """The output-only path trains in function space with the fixed kernel; compare with plain GD on b."""
    x, y = _problem(K=2, n=10, D=4, seed=3)
    xt, yt = _problem(K=2, n=6, D=4, seed=4)
    steps, m, lr, alpha = 30, 9, 5.0, [1.0, 2.0]
    res = mf.train_two_layer(x, y, xt, yt, seeds=[0, 1], d_in=[4, 4], width=m, steps=steps, lr_first=[0.0, 0.0],
                             lr_out=[lr, lr], alpha=alpha, records=3, grid=xt, dtype=torch.float64, device="cpu")
    A, b = mf.init_two_layer([0, 1], [4, 4], m, 4, "cpu", torch.float64)
    al = torch.tensor(alpha, dtype=torch.float64)
    f0, f0t = mf.two_layer_forward(A, b, x)[0], mf.two_layer_forward(A, b, xt)[0]
    for _ in range(steps):
        _, _, gb = mf.two_layer_grads(A, b, x, y, al, f0)
        b = b - lr * gb
    ref = al[:, None] * (mf.two_layer_forward(A, b, xt)[0] - f0t)
    assert torch.allclose(res["grid_out"], ref, atol=1e-10)


def test_two_layer_member_in_batch_equals_alone():
    """Padding a member's input with zero columns (to batch it with wider members) changes nothing."""
    x, y = _problem(K=2, n=10, D=6, seed=7)
    x[0, :, 4:] = 0  # member 0 lives in 4 dimensions
    kw = dict(width=8, steps=20, records=2, dtype=torch.float64, device="cpu", kernel_points=5)
    both = mf.train_two_layer(x, y, x, y, seeds=[3, 4], d_in=[4, 6], lr_first=[2.0, 2.0], lr_out=[2.0, 2.0], **kw)
    alone = mf.train_two_layer(x[:1, :, :4], y[:1], x[:1, :, :4], y[:1], seeds=[3], d_in=[4], lr_first=[2.0],
                               lr_out=[2.0], **kw)
    assert torch.allclose(both["train_loss"][:, 0], alone["train_loss"][:, 0], atol=1e-12)
    assert torch.allclose(both["kernel_change"][0], alone["kernel_change"][0], atol=1e-10)


def test_train_two_layer_bad_input():
    x, y = _problem(K=2)
    with pytest.raises(ValueError, match="one entry per member"):
        mf.train_two_layer(x, y, x, y, seeds=[0, 1], d_in=[5], width=4, steps=1, lr_first=[1, 1], lr_out=[1, 1])
    with pytest.raises(ValueError, match="alpha"):
        mf.train_two_layer(x, y, x, y, seeds=[0, 1], d_in=[5, 5], width=4, steps=1, lr_first=[1, 1],
                           lr_out=[1, 1], alpha=[1.0, 0.0])


# ---------------------------------------------------------------- bad input

_NAN = float("nan")
_x, _y = _problem(K=2, n=6, D=4)
_A, _b = mf.init_two_layer([0, 1], [4, 3], 5, 4, "cpu", torch.float64)
_al = torch.ones(2, dtype=torch.float64)
_TRAIN = dict(seeds=[0, 1], d_in=[4, 4], width=3, steps=2, lr_first=[0.1, 0.1], lr_out=[0.1, 0.1], records=2)
_BAD_INPUTS = [
    (mf.init_two_layer, ([], [], 3, 4), {}, ValueError, r"seeds must have at least 1 entries"),
    (mf.init_two_layer, ([0, 1], [4], 3, 4), {}, ValueError, r"d_in must have one entry per member \(2\)"),
    (mf.init_two_layer, ([0], [10], 3, 4), {}, ValueError, r"d_in\[i\] must be an integer in \[1, 4\]"),
    (mf.init_two_layer, ([0], [4], 0, 4), {}, ValueError, r"width must be an integer in \[1, 1000000\]"),
    (mf.init_two_layer, ([0], [4], 3, 4), {"device": "bogus"}, ValueError, r"device must name a device"),
    (mf.init_two_layer, ([-1], [4], 3, 4), {}, ValueError, r"seeds\[i\] must be an integer in \[0"),
    (mf.init_two_layer, ([0] * 1000, [4] * 1000, 10**5, 10**5), {}, ValueError, r"first layer of 1000 members.* GB"),
    (mf.two_layer_forward, (_A[0], _b, _x), {}, ValueError, r"A must have shape \[K, D, m\]"),
    (mf.two_layer_forward, (_A, _b[:, :2], _x), {}, ValueError, r"b must have shape \[2, 5\]"),
    (mf.two_layer_forward, (_A, _b, _x[..., :3]), {}, ValueError, r"x must have shape \[2, n, 4\]"),
    (mf.two_layer_forward, (_A, _b, _x[:1]), {}, ValueError, r"x must have shape \[2, n, 4\]"),
    (mf.two_layer_forward, (_A, _b, _x * _NAN), {}, ValueError, r"x must hold only finite"),
    (mf.two_layer_forward, (_A.tolist(), _b, _x), {}, TypeError, r"A must be a torch\.Tensor"),
    (mf.two_layer_grads, (_A, _b, _x, (_y > 0).double(), _al, 0.0), {},
     ValueError, r"y must have shape \[2, 6\] and hold labels in \{-1, \+1\}"),
    (mf.two_layer_grads, (_A, _b, _x, _y[:, :3], _al, 0.0), {}, ValueError, r"y must have shape \[2, 6\]"),
    (mf.two_layer_grads, (_A, _b, _x, _y, _al[:1], 0.0), {}, ValueError, r"alpha must have shape \[2\]"),
    (mf.two_layer_grads, (_A, _b, _x, _y, _al * 0, 0.0), {},
     ValueError, r"alpha must have shape \[2\] and hold positive"),
    (mf.two_layer_grads, (_A, _b, _x, _y, _al, torch.zeros(3)), {},
     ValueError, r"f0 must be a number or have shape \[2, 6\]"),
    (mf.two_layer_grads, (_A, _b, _x, _y, _al, _NAN), {}, ValueError, r"f0 must be a finite number"),
    (mf.two_layer_grads, (_A, _b, _x[:, :0], _y[:, :0], _al, 0.0), {}, ValueError, r"x must hold at least one input"),
    (mf.tangent_kernel, (_A, _b, _x[..., :2]), {}, ValueError, r"x must have shape \[2, n, 4\]"),
    (mf.tangent_kernel, (_A, _b.T, _x), {}, ValueError, r"b must have shape \[2, 5\]"),
    (mf.train_two_layer, (_x, _y, _x, _y), {**_TRAIN, "d_in": [4]}, ValueError, r"d_in must have one entry per member"),
    (mf.train_two_layer, (_x, _y, _x, _y), {**_TRAIN, "d_in": [4, 5]},
     ValueError, r"d_in\[i\] must be an integer in \[1, 4\]"),
    (mf.train_two_layer, (_x, _y, _x, _y), {**_TRAIN, "alpha": [1.0, 0.0]},
     ValueError, r"alpha must be a finite number in \(0"),
    (mf.train_two_layer, (_x, _y, _x[..., :3], _y), _TRAIN, ValueError, r"x_test must have shape \[2, n', 4\]"),
    (mf.train_two_layer, (_x, _y, _x, _y[:, :2]), _TRAIN, ValueError, r"y_test must have shape \[2, 6\]"),
    (mf.train_two_layer, (_x, (_y > 0).double(), _x, _y), _TRAIN,
     ValueError, r"y must have shape \[2, 6\] and hold labels"),
    (mf.train_two_layer, (_x, _y, _x, _y), {**_TRAIN, "steps": -1}, ValueError, r"steps must be an integer in \[0"),
    (mf.train_two_layer, (_x, _y, _x, _y), {**_TRAIN, "lr_first": [_NAN, 0.1]},
     ValueError, r"lr_first must be a finite number"),
    (mf.train_two_layer, (_x, _y, _x, _y), {**_TRAIN, "lr_out": 0.1}, TypeError, r"lr_out must be a list or tuple"),
    (mf.train_two_layer, (_x, _y, _x, _y), {**_TRAIN, "records": 1}, ValueError, r"records must be an integer in \[2"),
    (mf.train_two_layer, (_x, _y, _x, _y), {**_TRAIN, "kernel_points": 7},
     ValueError, r"kernel_points must be an integer in \[0, 6\]"),
    (mf.train_two_layer, (_x, _y, _x, _y), {**_TRAIN, "device": "bogus"}, ValueError, r"device must name a device"),
    (mf.train_two_layer, (_x, _y, _x, _y), {**_TRAIN, "grid": _x[..., :2]},
     ValueError, r"grid must have shape \[2, G, 4\]"),
    (mf.train_two_layer, (_x * _NAN, _y, _x, _y), _TRAIN, ValueError, r"x must hold only finite"),
    (mf.train_two_layer, (_x[:1], _y[:1], _x[:1], _y[:1]), _TRAIN, ValueError, r"x must have shape \[2, n, D\]"),
    (mf.train_two_layer, (torch.zeros(2, 1, 4).expand(2, 10**5, 4), torch.ones(1, 1).expand(2, 10**5), _x, _y),
     {**_TRAIN, "width": 10**6}, ValueError, r"training 2 members of width 1000000.* GB"),
]


@pytest.mark.parametrize("fn,args,kwargs,exc,match", _BAD_INPUTS,
                         ids=[f"{c[0].__name__}-{i}" for i, c in enumerate(_BAD_INPUTS)])
def test_bad_input_is_refused_naming_the_argument(fn, args, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        fn(*args, **kwargs)
