"""Measuring tools on a whole family: one number (or one matrix) per member, all members in one batched pass.

* :func:`tangent_kernel`: each member's empirical neural tangent kernel, in the standard or the NTK
  parametrization;
* :func:`grad_norm_sq`: ‖∇_θ E‖² of each member's full-batch loss;
* :func:`hessian_operator` and :func:`top_hessian_eig`: Hessian-vector products and the top Hessian
  eigenvalue (sharpness) by power iteration;
* :func:`geometric_complexity`: the mean squared Frobenius norm of the input Jacobian (Dherin et al. 2022);
* :func:`kernel_alignment`: centered kernel-target alignment (Cortes et al. 2012; Baratin et al. 2021).

Members are independent, so a derivative of the *sum* of the members' outputs or losses with respect to the
stacked parameters holds every member's own derivative; padded entries of narrower members are masked out.
"""

from __future__ import annotations

import warnings
from dataclasses import replace

import torch

from widgets.core.checks import check_choice, check_int, check_memory, check_sequence, check_tensor
from widgets.core.losses import BINARY, LOSSES, MULTICLASS, member_losses
from widgets.core.models import Family, _check_family, _io_dims

PARAMETRIZATIONS = ("standard", "ntk")

# ---------------------------------------------------------------- the empirical tangent kernel


def tangent_kernel(family: Family, x: torch.Tensor, scale=1.0, *, parametrization: str = "standard",
                   chunk: int = 64) -> torch.Tensor:
    """Each member's empirical neural tangent kernel of its scalar output α_k·f_k on inputs x [n, d]:
    Θ_k(x_i, x_j) = α_k² Σ_ℓ σ_ℓ² ∂f_k(x_i)/∂θ_ℓ · ∂f_k(x_j)/∂θ_ℓ over the parameter tensors θ_ℓ.
    Returns [K, n, n] in float64.

    ``parametrization``: ``"standard"`` (σ_ℓ = 1): the gradient with respect to the stored weights, the
    kernel that gradient descent with one learning rate follows (it grows with the width).
    ``"ntk"``: σ_ℓ² = gain²/fan_in, the init variance of tensor ℓ (gain² 2 for hidden layers, 1 for the
    readout): the kernel of the same network in the NTK parametrization (W = σ·w, w ~ N(0, 1)), whose
    infinite-width limit :func:`widgets.core.kernels.kernel` computes. It needs a bias-free ReLU family (the
    analytic kernels have no biases) built with ``init_scale`` 1.
    ``scale``: α, a number or one per member.

    One reverse pass per sample, vectorized with ``torch.func`` in chunks of ``chunk`` samples, gives every
    member's tangent features J [n, P] at once; the kernel is J Jᵀ in float64. The features take n·K·P
    numbers: for very wide networks, pass one member at a time (``family.member(k)``).
    """
    check_choice("parametrization", parametrization, PARAMETRIZATIONS)
    _check_family("family", family)  # stacked [K, ...] parameters: not a packed layout
    x = _check_inputs(family, x)
    chunk = check_int("chunk", chunk, 1)
    o = _io_dims(family)[1]
    if o != 1:
        raise ValueError(f"family must be a single-output family for tangent_kernel, got d_out = {o}")
    try:
        alpha = torch.as_tensor(scale, dtype=torch.float64).flatten()
    except (TypeError, ValueError, RuntimeError):
        raise TypeError(f"scale must be a number or one number per member, got {type(scale).__name__}") from None
    if len(alpha) not in (1, family.size):
        raise ValueError(f"scale must be one number or one per member ({family.size}), got {len(alpha)}")
    if not torch.isfinite(alpha).all():
        raise ValueError("scale must hold only finite numbers, got NaN or inf")
    n, P = len(x), sum(p[0].numel() for p in family.params)
    elem = family.params[0].element_size()  # the gradients and features, then J in float64, and the kernel
    check_memory(f"the tangent features of {n} inputs × {family.size} members × {P} parameters",
                 (2 * elem + 8) * n * family.size * P + 8 * family.size * n * n)
    x = x.to(family.device, family.params[0].dtype)
    # the masks zero the padding of narrower members; the NTK parametrization also scales each tensor by σ_ℓ
    weights = family.masks if parametrization == "standard" else _ntk_weights(family)
    params = [p.detach() for p in family.params]

    def summed(ps, xi):  # Σ_k f_k(xi): [d] → scalar
        return replace(family, params=ps)(xi[None])[:, 0, 0].sum()

    with warnings.catch_warnings():  # the CNN's unfold has no vmap rule yet: torch loops, correctly, and warns
        warnings.filterwarnings("ignore", message=".*unfold_backward.*")
        grads = list(torch.func.vmap(torch.func.grad(summed), in_dims=(None, 0), chunk_size=chunk)(params, x))
    # grads: one [n, K, ...] per stacked parameter, each dropped once weighted (wide layers dominate memory)
    feats = []
    for i, w in enumerate(weights):
        feats.append((grads[i] * w).flatten(2))
        grads[i] = None
    J = torch.cat(feats, dim=2)
    del feats
    J = J.transpose(0, 1).double()  # [K, n, P]
    return (J @ J.transpose(1, 2)) * alpha.to(J.device).view(-1, 1, 1) ** 2


def _ntk_weights(family: Family) -> list[torch.Tensor]:
    """mask_ℓ · σ_ℓ for every parameter tensor, σ_ℓ = gain/√fan_in with each member's own fan-in: [K, ...]."""
    if family.act != "relu" or family.bias:
        raise ValueError("the NTK parametrization needs a ReLU family built with bias=False (the analytic "
                         "kernels have no biases)")
    w = torch.tensor(family.widths, dtype=torch.float64)
    depth = family.info["depth"]
    if family.kind == "mlp":  # weights [K, fan_in, fan_out]: d_in into the first layer, width after it
        fans = [torch.full_like(w, family.info["d_in"])] + [w] * (depth - 1)
    else:  # convolutions [K, C_out, C_in, q], then the readout of the flattened or averaged channels
        fans = [torch.full_like(w, family.q)] + [w * family.q] * (depth - 1)
        fans.append(w * family.info["d"] if family.readout == "flatten" else w)
    gains2 = [2.0] * (len(fans) - 1) + [1.0]  # He init for the ReLU layers, variance 1/fan_in for the readout
    return [m * (g2 / f).sqrt().to(m).view(-1, *[1] * (m.ndim - 1))
            for m, g2, f in zip(family.masks, gains2, fans, strict=True)]


# ---------------------------------------------------------------- gradients and the Hessian of the loss


def _check_inputs(family, x: torch.Tensor, min_rows: int = 0) -> torch.Tensor:
    """x: [n, d_in] for the family's input width, finite."""
    d_in = _io_dims(family)[0]
    x = check_tensor("x", x, ndim=2, shape=f"[n, {d_in}]")
    if x.shape[1] != d_in:
        raise ValueError(f"x must have shape [n, {d_in}] (the family's input width), got {tuple(x.shape)}")
    if len(x) < min_rows:
        raise ValueError(f"x must hold at least {min_rows} input(s), got {len(x)}")
    return x


def _check_data(family, x: torch.Tensor, y: torch.Tensor, loss: str) -> None:
    """x: [n, d_in]; y the targets ``loss`` takes for n inputs and the family's outputs, without broadcasting:
    [n, o] / [K, n, o] (or [n] for one output) for a regression loss, class indices in [0, o) for a
    multiclass one, ±1 labels for a binary one ([n] or [K, n] for both)."""
    x = _check_inputs(family, x, min_rows=1)
    n, (_, o), K = len(x), _io_dims(family), family.size
    y = check_tensor("y", y)
    if loss in MULTICLASS or loss in BINARY:
        if y.shape not in ((n,), (K, n)):
            raise ValueError(f"y must have shape [{n}] or [{K}, {n}] (one label per input of x), got {tuple(y.shape)}")
        if loss in MULTICLASS:
            if y.is_floating_point() or (y.numel() and (int(y.min()) < 0 or int(y.max()) >= o)):
                raise ValueError(f"y must hold integer class indices in [0, {o - 1}] for loss={loss!r}")
        else:
            if o != 1:
                raise ValueError(f"loss={loss!r} needs a family with one output, got d_out = {o}")
            if not ((y == 1) | (y == -1)).all():
                raise ValueError(f"y must hold labels in {{-1, +1}} for loss={loss!r}")
    elif y.shape not in ((n, o), (K, n, o)) + (((n,),) if o == 1 else ()):
        raise ValueError(f"y must have shape [{n}, {o}] or [{K}, {n}, {o}]{f' or [{n}]' if o == 1 else ''} "
                         f"(regression targets for x and the family's outputs), got {tuple(y.shape)}")


def _member_loss(family: Family, x: torch.Tensor, y: torch.Tensor, loss: str, params=None) -> torch.Tensor:
    fam = family if params is None else replace(family, params=list(params))
    return member_losses(fam(x), y, loss)


def _dot(u, v) -> torch.Tensor:
    """Per-member inner product of two lists shaped like ``family.params``: → [K]."""
    return sum((a * b).flatten(1).sum(1) for a, b in zip(u, v, strict=True))


def grad_norm_sq(family: Family, x: torch.Tensor, y: torch.Tensor, loss: str = "cross_entropy") -> torch.Tensor:
    """‖∇_θ E‖² of each member's full-batch loss E on (x, y). → [K]."""
    check_choice("loss", loss, LOSSES)
    _check_family("family", family)
    _check_data(family, x, y, loss)
    grads = torch.autograd.grad(_member_loss(family, x, y, loss).sum(), family.params)
    return member_sq_norm(grads, family.masks)


def member_sq_norm(tensors: list[torch.Tensor], masks: list[torch.Tensor]) -> torch.Tensor:
    """Σ ‖t_k‖² over a list of stacked per-member tensors [K, ...] (e.g. gradients), padding masked out → [K]."""
    tensors, masks = check_sequence("tensors", tensors, min_length=1), check_sequence("masks", masks)
    if len(masks) != len(tensors):
        raise ValueError(f"masks must have one entry per tensor ({len(tensors)}), got {len(masks)}")
    for i, (t, m) in enumerate(zip(tensors, masks, strict=True)):
        check_tensor(f"tensors[{i}]", t, finite=False)
        check_tensor(f"masks[{i}]", m, finite=False)
        try:
            fits = t.ndim >= 1 and torch.broadcast_shapes(t.shape, m.shape) == t.shape
        except RuntimeError:
            fits = False
        if not fits:
            raise ValueError(f"masks[{i}] must broadcast to tensors[{i}] of shape {tuple(t.shape)}, got "
                             f"{tuple(m.shape)}")
    return sum((t * m).pow(2).flatten(1).sum(1) for t, m in zip(tensors, masks, strict=True))


def hessian_operator(family: Family, x: torch.Tensor, y: torch.Tensor, loss: str = "cross_entropy"):
    """v ↦ Hv for every member's loss at once, ``v`` a list shaped like ``family.params`` (returns the same).

    The family's loss is a sum of the members' losses, so its Hessian is block-diagonal over members and one
    product with the stacked vector ``v`` gives each member its own H_k v_k.
    """
    check_choice("loss", loss, LOSSES)
    _check_family("family", family)
    _check_data(family, x, y, loss)
    # reverse-over-reverse on a graph built once: each product is one extra backward pass. (torch.func's
    # forward-over-reverse jvp(grad) gives the same numbers but was ~45× slower on CPU here.)
    params = [p.detach().requires_grad_(True) for p in family.params]
    grads = torch.autograd.grad(_member_loss(family, x, y, loss, params).sum(), params, create_graph=True)

    def apply(v):
        if len(v) != len(params):
            raise ValueError(f"v must have one tensor per parameter tensor ({len(params)}), got {len(v)}")
        out = torch.autograd.grad(grads, params, [t.to(p) for t, p in zip(v, params, strict=True)],
                                  retain_graph=True)
        return [o.detach() * m for o, m in zip(out, family.masks, strict=True)]

    return apply


def top_hessian_eig(family: Family, x: torch.Tensor, y: torch.Tensor, loss: str = "cross_entropy",
                    iters: int = 30, seed: int = 0) -> torch.Tensor:
    """The largest-magnitude Hessian eigenvalue of each member's loss, by ``iters`` steps of power iteration
    on Hessian-vector products (all members in one batched product per step). → [K]."""
    check_choice("loss", loss, LOSSES)
    iters = check_int("iters", iters, 1, 10**5)
    seed = check_int("seed", seed, 0)
    H = hessian_operator(family, x, y, loss)
    g = torch.Generator().manual_seed(seed)
    v = [torch.randn(p.shape, generator=g, dtype=p.dtype).to(p.device) * m
         for p, m in zip(family.params, family.masks, strict=True)]
    eig = torch.zeros(family.size, dtype=family.params[0].dtype, device=family.device)
    for _ in range(iters):
        norm = _dot(v, v).sqrt().clamp_min(1e-30)
        v = [t / norm.view(-1, *[1] * (t.ndim - 1)) for t in v]
        Hv = H(v)
        eig = _dot(v, Hv)
        v = Hv
    return eig.detach()


# ---------------------------------------------------------------- the input Jacobian


def geometric_complexity(family: Family, x: torch.Tensor) -> torch.Tensor:
    """GC = mean over the n inputs of ‖∇_x f(x)‖²_F, the squared Frobenius norm of the input Jacobian of the
    output vector (Dherin et al. 2022). x: [n, d] shared by all members → [K].

    Samples do not interact, so one backward pass per output unit gives every sample's (and member's) row.
    """
    _check_family("family", family)
    x = _check_inputs(family, x, min_rows=1)
    xs = x.to(family.device, family.params[0].dtype).expand(family.size, *x.shape).clone().requires_grad_(True)
    out = family(xs)  # [K, n, o]
    total = torch.zeros(family.size, dtype=out.dtype, device=out.device)
    for c in range(out.shape[-1]):
        (gx,) = torch.autograd.grad(out[..., c].sum(), xs, retain_graph=c < out.shape[-1] - 1)
        total = total + gx.pow(2).sum((1, 2))
    return (total / x.shape[0]).detach()


# ---------------------------------------------------------------- kernel-target alignment


def centered_kernel(K: torch.Tensor) -> torch.Tensor:
    """H K H with H = I − 11ᵀ/n, for K: [..., n, n]."""
    K = check_tensor("K", K, ndim=tuple(range(2, 65)), shape="[..., n, n]")
    if K.shape[-1] != K.shape[-2]:
        raise ValueError(f"K must have shape [..., n, n] (square), got {tuple(K.shape)}")
    return K - K.mean(-1, keepdim=True) - K.mean(-2, keepdim=True) + K.mean((-1, -2), keepdim=True)


def kernel_alignment(K: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Centered kernel-target alignment A = ỹᵀK̃ỹ / (‖K̃‖_F ‖ỹ‖²), with K̃ the centered kernel and ỹ the
    centered targets. K: [..., n, n]; y: [n] (or [n, c] one-hot, summed over columns) → [...]. It lies in
    [−1, 1] for a positive semi-definite K, and equals 1 when K̃ ∝ ỹỹᵀ; it is 0 when y is constant or K̃ = 0
    (no centred signal to align)."""
    K = check_tensor("K", K, ndim=tuple(range(2, 65)), shape="[..., n, n]")
    y = check_tensor("y", y, ndim=(1, 2), shape="[n] or [n, c]", min_size=1)
    if K.shape[-1] != K.shape[-2] or K.shape[-1] != y.shape[0]:
        raise ValueError(f"K must be [..., n, n] with n = len(y) = {y.shape[0]}, got {tuple(K.shape)}")
    Y = y.to(K.dtype).reshape(len(y), -1)
    Y = Y - Y.mean(0)
    Kc = centered_kernel(K)
    num = torch.einsum("ic,...ij,jc->...", Y, Kc, Y)
    return num / (Kc.flatten(-2).norm(dim=-1) * Y.pow(2).sum()).clamp_min(1e-300)
