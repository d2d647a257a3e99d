"""Tests of widgets.core.probes against independent references: per-sample autograd Jacobians, the analytic
infinite-width kernels, dense Hessians, finite differences and hand computations."""

from __future__ import annotations

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
