"""Tests of widgets.core.probes against independent references: per-sample autograd Jacobians, the analytic
infinite-width kernels, dense Hessians, finite differences and hand computations."""

from __future__ import annotations

import math

import pytest
import torch
from reference_nets import flat_loss, tiny_family

from widgets.core import data, kernels, models, probes

# ---------------------------------------------------------------- the tangent kernel


def test_standard_tangent_kernel_matches_per_sample_autograd_jacobians():
    # members of different widths (padding masked out), one output scale per member
    fam = models.mlp(2, 1, widths=[16, 9], seeds=[0, 1], depth=3, bias_std=1.0, dtype=torch.float64)
    x = torch.randn(7, 2, dtype=torch.float64)
    theta = probes.tangent_kernel(fam, x, scale=[1.0, 3.0], chunk=3)
    for k, alpha in enumerate([1.0, 3.0]):
        net = models.to_module(fam, k).double()
        rows = []
        for xi in x:
            net.zero_grad()
            net(xi[None]).sum().backward()
            rows.append(torch.cat([p.grad.flatten() for p in net.parameters()]))
        J = torch.stack(rows)
        assert torch.allclose(theta[k], alpha**2 * J @ J.T, rtol=1e-9, atol=1e-10)
    with pytest.raises(ValueError, match="single-output"):
        probes.tangent_kernel(models.mlp(2, 3, widths=4), x)
    with pytest.raises(ValueError, match="scale must be"):
        probes.tangent_kernel(fam, x, scale=[1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="x must have shape"):
        probes.tangent_kernel(fam, x[0])
    with pytest.raises(ValueError, match="parametrization"):
        probes.tangent_kernel(fam, x, parametrization="mup")


# The NTK parametrization against the analytic kernel of widgets.core.kernels. Tolerance: relative Frobenius
# error of the seed-averaged empirical NTK below TOL. At width 4096 the measured errors are 1-4%; finite-width
# fluctuations shrink like depth/√width.
TOL = 0.1


@pytest.mark.parametrize("arch,depth,readout,width", [("mlp", 2, "flatten", 4096), ("cnn", 1, "flatten", 4096),
                                                      ("cnn", 1, "gap", 4096), ("cnn", 2, "flatten", 1024)])
def test_analytic_ntk_matches_wide_network(arch, depth, readout, width):
    d = 8 if arch == "mlp" else 6
    x = data.hypercube(d, n=8, seed=3)
    seeds = [0, 1]
    if arch == "mlp":
        fam = models.mlp(d, 1, widths=width, seeds=seeds, depth=depth + 1, bias=False, device="cpu")
    else:
        fam = models.cnn(d, 1, channels=width, seeds=seeds, depth=depth, q=3, readout=readout, bias=False,
                         device="cpu")
    # one member at a time: the tangent features of a width-4096 MLP take 8 × 16.8M numbers per member
    emp = torch.stack([probes.tangent_kernel(fam.member(k), x, parametrization="ntk")[0]
                       for k in range(len(seeds))]).mean(0)
    ana = kernels.kernel(x, arch=arch, depth=depth, q=3, readout=readout)
    assert _relative(emp, ana) < TOL
    wrong = kernels.kernel(x, arch=arch, depth=depth + 1, q=3, readout=readout)
    assert _relative(emp, wrong) > 2 * TOL  # the test can tell a wrong depth apart


def _relative(a, b):
    return float((a - b).norm() / b.norm())


def test_ntk_parametrization_scales_each_tensor_by_its_init_std():
    # a bias-free ReLU MLP of two widths: Θ = Σ_ℓ (gain²/fan_in) J_ℓ J_ℓᵀ with each member's own fan-ins
    fam = models.mlp(3, 1, widths=[6, 4], seeds=[0, 1], depth=3, bias=False, dtype=torch.float64)
    x = torch.randn(5, 3, dtype=torch.float64)
    theta = probes.tangent_kernel(fam, x, parametrization="ntk")
    for k, w in enumerate([6, 4]):
        Ws = [W[0].detach() for W in fam.member(k).params]  # trimmed to the member's own width
        var = [2.0 / 3, 2.0 / w, 1.0 / w]
        expected = torch.zeros(5, 5, dtype=torch.float64)
        for ell in range(3):
            rows = []
            for xi in x:
                ps = [W.clone().requires_grad_(True) for W in Ws]
                h = xi[None]
                for i, W in enumerate(ps):
                    h = h @ W
                    if i < 2:
                        h = torch.relu(h)
                (g,) = torch.autograd.grad(h.sum(), ps[ell])
                rows.append(g.flatten())
            J = torch.stack(rows)
            expected += var[ell] * J @ J.T
        assert torch.allclose(theta[k], expected, rtol=1e-10, atol=1e-12)
    with pytest.raises(ValueError, match="bias=False"):
        probes.tangent_kernel(models.mlp(4, 1, widths=8, bias=True), torch.ones(2, 4), parametrization="ntk")


def test_bad_arguments():
    fam = tiny_family()
    x, y = torch.randn(4, 3, dtype=torch.float64), torch.randn(4, 2, dtype=torch.float64)
    with pytest.raises(ValueError, match="loss"):
        probes.grad_norm_sq(fam, x, y, "hinge")
    with pytest.raises(ValueError, match="iters"):
        probes.top_hessian_eig(fam, x, y, "mse", iters=0)


# ---------------------------------------------------------------- gradients, Hessians, GC, alignment


@pytest.mark.parametrize("loss", ["mse", "cross_entropy"])
def test_power_iteration_matches_dense_hessian(loss):
    torch.manual_seed(0)
    fam = tiny_family()
    x = torch.randn(12, 3, dtype=torch.float64)
    y = torch.randn(12, 2, dtype=torch.float64) if loss == "mse" else torch.randint(0, 2, (12,))
    eig = probes.top_hessian_eig(fam, x, y, loss, iters=300)
    for k in range(fam.size):
        f, theta = flat_loss(fam, k, x, y, loss)
        ev = torch.linalg.eigvalsh(torch.autograd.functional.hessian(f, theta))
        top = ev[ev.abs().argmax()]
        assert float(eig[k]) == pytest.approx(float(top), rel=1e-4)


def test_grad_norm_and_hessian_vector_products_match_flat_reference():
    torch.manual_seed(1)
    fam = tiny_family()
    x, y = torch.randn(10, 3, dtype=torch.float64), torch.randn(10, 2, dtype=torch.float64)
    g2 = probes.grad_norm_sq(fam, x, y, "mse")
    v = [torch.randn_like(p) for p in fam.params]
    hv = probes.hessian_operator(fam, x, y, "mse")(v)
    for k in range(fam.size):
        f, theta = flat_loss(fam, k, x, y, "mse")
        g = torch.autograd.functional.jacobian(f, theta)
        assert float(g2[k]) == pytest.approx(float(g @ g), rel=1e-10)
        H = torch.autograd.functional.hessian(f, theta)
        vk = torch.cat([t[k].flatten() for t in v])
        assert torch.allclose(torch.cat([t[k].flatten() for t in hv]), H @ vk, atol=1e-10)


def test_geometric_complexity_matches_finite_differences():
    torch.manual_seed(2)
    fam = tiny_family(act="relu")
    x = torch.randn(7, 3, dtype=torch.float64)
    gc = probes.geometric_complexity(fam, x)
    eps = 1e-6
    total = torch.zeros(fam.size, dtype=torch.float64)
    with torch.no_grad():
        for i in range(3):
            e = torch.zeros(3, dtype=torch.float64)
            e[i] = eps
            d = (fam(x + e) - fam(x - e)) / (2 * eps)  # [K, n, out]: column i of each Jacobian
            total += d.pow(2).sum((1, 2))
    assert torch.allclose(gc, total / len(x), rtol=1e-6)
    with pytest.raises(ValueError, match="x must have shape"):
        probes.geometric_complexity(fam, x[0])


def test_kernel_alignment_by_hand():
    y = torch.tensor([1.0, 1.0, -1.0, -1.0], dtype=torch.float64)
    assert float(probes.kernel_alignment(torch.outer(y, y), y)) == pytest.approx(1.0)
    K = torch.tensor([[2.0, 1.0, 0.0, 0.0], [1.0, 2.0, 0.0, 0.0], [0.0, 0.0, 2.0, 0.0], [0.0, 0.0, 0.0, 1.0]],
                     dtype=torch.float64)
    n = 4
    H = torch.eye(n, dtype=torch.float64) - torch.ones(n, n, dtype=torch.float64) / n
    Kc, yc = H @ K @ H, y - y.mean()
    expected = (yc @ Kc @ yc) / (torch.linalg.norm(Kc) * (yc @ yc))
    assert float(probes.kernel_alignment(K, y)) == pytest.approx(float(expected), rel=1e-12)
    # one-hot columns: the alignment with the stacked classes
    Y = torch.nn.functional.one_hot(torch.tensor([0, 0, 1, 1])).double()
    Yc = Y - Y.mean(0)
    exp2 = torch.trace(Yc.T @ Kc.double() @ Yc) / (torch.linalg.norm(Kc) * (Yc**2).sum())
    assert float(probes.kernel_alignment(K.double(), Y)) == pytest.approx(float(exp2), rel=1e-12)
    with pytest.raises(ValueError, match="K must be"):
        probes.kernel_alignment(K[:3, :3], y)


# ---------------------------------------------------------------- bad input

_FAM = models.mlp(3, 1, 4, seeds=[0, 1], dtype=torch.float64, device="cpu")
_FAM3 = models.mlp(3, 3, 4, seeds=[0, 1], dtype=torch.float64, device="cpu")
_X = torch.randn(5, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
_Y = torch.randn(5, dtype=torch.float64)
_LABELS = torch.tensor([0, 1, 2, 1, 0])
_NAN = float("nan")
_BAD_INPUTS = [
    (probes.tangent_kernel, (_FAM, torch.ones(5, 4)), {}, ValueError, r"x must have shape \[n, 3\]"),
    (probes.tangent_kernel, (_FAM, torch.ones(5)), {}, ValueError, r"x must have shape \[n, 3\]"),
    (probes.tangent_kernel, (_FAM, torch.full((2, 3), _NAN)), {}, ValueError, r"x must hold only finite"),
    (probes.tangent_kernel, (_FAM3, _X), {}, ValueError, r"family must be a single-output family"),
    (probes.tangent_kernel, ("a family", _X), {}, TypeError, r"family must be a Family"),
    (probes.tangent_kernel, (models.packed_mlp(3, 1, [2, 3], [0, 1]), _X), {}, TypeError, r"family must be a Family"),
    (probes.tangent_kernel, (_FAM, _X, [1.0, 2.0, 3.0]), {}, ValueError, r"scale must be one number or one per member"),
    (probes.tangent_kernel, (_FAM, _X, _NAN), {}, ValueError, r"scale must hold only finite"),
    (probes.tangent_kernel, (_FAM, _X, "big"), {}, TypeError, r"scale must be a number"),
    (probes.tangent_kernel, (_FAM, _X), {"parametrization": "mup"}, ValueError, r"parametrization must be one of"),
    (probes.tangent_kernel, (_FAM, _X), {"chunk": 0}, ValueError, r"chunk must be an integer"),
    (probes.tangent_kernel, (_FAM, torch.ones(1, 3).expand(10**6, 3)), {}, ValueError, r"tangent features.* GB"),
    (probes.grad_norm_sq, (_FAM, _X, _Y), {"loss": "bogus"}, ValueError, r"loss must be one of"),
    (probes.grad_norm_sq, (_FAM, _X, _Y[:4]), {"loss": "mse"}, ValueError, r"y must have shape \[5, 1\]"),
    (probes.grad_norm_sq, (_FAM, _X, torch.ones(5, 2)), {"loss": "mse"}, ValueError, r"y must have shape \[5, 1\]"),
    (probes.grad_norm_sq, (_FAM3, _X, _Y), {"loss": "mse"}, ValueError, r"y must have shape \[5, 3\]"),
    (probes.grad_norm_sq, (_FAM3, _X, _LABELS + 1), {}, ValueError, r"y must hold integer class indices in \[0, 2\]"),
    (probes.grad_norm_sq, (_FAM3, _X, _LABELS[:3]), {}, ValueError, r"y must have shape \[5\] or \[2, 5\]"),
    (probes.grad_norm_sq, (_FAM, _X, (_LABELS > 0).long()), {"loss": "logistic"}, ValueError, r"y must hold labels in"),
    (probes.grad_norm_sq, (_FAM3, _X, torch.ones(5)), {"loss": "logistic"},
     ValueError, r"loss='logistic' needs a family with one output"),
    (probes.grad_norm_sq, (_FAM, torch.ones(5, 2), _Y), {"loss": "mse"}, ValueError, r"x must have shape \[n, 3\]"),
    (probes.grad_norm_sq, (_FAM, _X, torch.full((5,), _NAN)), {"loss": "mse"}, ValueError, r"y must hold only finite"),
    (probes.grad_norm_sq, (None, _X, _Y), {"loss": "mse"},
     TypeError, r"family must be a Family"),
    (probes.grad_norm_sq, (_FAM, _X[:0], _Y[:0]), {"loss": "mse"}, ValueError, r"x must hold at least 1"),
    (probes.grad_norm_sq, (models.packed_mlp(3, 1, [2, 3], [0, 1]), _X, _Y), {"loss": "mse"}, TypeError,
     r"family must be a Family"),
    (probes.hessian_operator, (_FAM, _X, _Y), {"loss": "bogus"}, ValueError, r"loss must be one of"),
    (probes.hessian_operator, (_FAM, _X, _Y[:2]), {"loss": "mse"}, ValueError, r"y must have shape"),
    (probes.hessian_operator, (_FAM, _X.T, _Y), {"loss": "mse"}, ValueError, r"x must have shape"),
    (probes.top_hessian_eig, (_FAM, _X, _Y), {"loss": "mse", "iters": 0}, ValueError, r"iters must be an integer"),
    (probes.top_hessian_eig, (_FAM, _X, _Y), {"loss": "mse", "seed": -1}, ValueError, r"seed must be an integer"),
    (probes.top_hessian_eig, (_FAM, _X, torch.ones(2, 5, 2)), {"loss": "mse"}, ValueError, r"y must have shape"),
    (probes.member_sq_norm, ([], []), {}, ValueError, r"tensors must have at least 1"),
    (probes.member_sq_norm, ([torch.ones(2, 3)], []), {}, ValueError, r"masks must have one entry per tensor"),
    (probes.member_sq_norm, ([torch.ones(2, 3)], [torch.ones(3, 3)]), {}, ValueError, r"masks\[0\] must broadcast"),
    (probes.member_sq_norm, ("ab", [torch.ones(1)]), {}, TypeError, r"tensors must be a list or tuple"),
    (probes.member_sq_norm, ([[1.0, 2.0]], [torch.ones(2)]), {}, TypeError, r"tensors\[0\] must be a torch\.Tensor"),
    (probes.geometric_complexity, (_FAM, torch.ones(5, 4)), {}, ValueError, r"x must have shape \[n, 3\]"),
    (probes.geometric_complexity, (_FAM, torch.ones(0, 3)), {}, ValueError, r"x must hold at least 1"),
    (probes.geometric_complexity, (_FAM, torch.full((2, 3), math.inf)), {}, ValueError, r"x must hold only finite"),
    (probes.geometric_complexity, (models.packed_mlp(3, 1, [2], [0]), _X), {}, TypeError, r"family must be a Family"),
    (probes.centered_kernel, (torch.ones(3),), {}, ValueError, r"K must have shape \[\.\.\., n, n\]"),
    (probes.centered_kernel, (torch.ones(2, 3),), {}, ValueError, r"K must have shape \[\.\.\., n, n\] \(square\)"),
    (probes.centered_kernel, (torch.full((2, 2), _NAN),), {}, ValueError, r"K must hold only finite"),
    (probes.kernel_alignment, (torch.eye(3), torch.ones(4)), {},
     ValueError, r"K must be \[\.\.\., n, n\] with n = len\(y\) = 4"),
    (probes.kernel_alignment, (torch.eye(3), torch.tensor([0.0, _NAN, 1.0])), {},
     ValueError, r"y must hold only finite"),
    (probes.kernel_alignment, ([[1.0]], torch.ones(1)), {}, TypeError, r"K must be a torch\.Tensor"),
    (probes.kernel_alignment, (torch.eye(3), torch.ones(3, 1, 1)), {},
     ValueError, r"y must have shape \[n\] or \[n, c\]"),
    (probes.kernel_alignment, (torch.eye(2).expand(2, 2, 2).clone().fill_(math.inf), torch.ones(2)), {}, ValueError,
     r"K must hold only finite"),
]


@pytest.mark.parametrize("fn,args,kwargs,exc,match", _BAD_INPUTS,
                         ids=[f"{c[0].__name__}-{i}" for i, c in enumerate(_BAD_INPUTS)])
def test_bad_input_is_refused_naming_the_argument(fn, args, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        fn(*args, **kwargs)
