"""Nonconvex landscapes whose global structure is known, each solved for many initialisations at once.

Everything here is a batched torch computation (the member axis B first); nothing loops over models.

* :class:`FixedReadoutFamily` / :func:`du_network`: the two-layer ReLU net of Du et al. (2019),
  f(x) = m^{-1/2} Σ_r a_r relu(w_rᵀx) with a_r = ±1 fixed and only W trained; members of many widths packed
  into one hidden layer, so the core trainer (:func:`widgets.core.train.train`) runs a width sweep as one
  computation. :func:`relu_gram_inf` is its Gram matrix H∞ in closed form, :func:`pattern_gram` the
  finite-width H(0); :func:`half_sum_squares` the paper's loss (a sum, not a mean).
* :func:`sphere_saddle_gd`: projected (noisy) GD on f(u) = −Σ_k (a_kᵀu)⁴ on the unit sphere, the strict
  saddles of orthogonal tensor decomposition (Ge et al. 2015), with each row's first escape step.
* :func:`tensor_decomposition_gd`: Ge et al.'s formulation min Σ_{i≠j} T(u_i, u_i, u_j, u_j), ‖u_i‖ = 1.
* :func:`psd_completion_gd`: GD on (1/2p)‖P_Ω(UUᵀ − M)‖²_F (Ge, Lee & Ma 2016).
* :func:`relu_teacher_loss` / :func:`relu_teacher_gd`: the Gaussian population loss of a ReLU student
  against a ReLU teacher in closed form, with its analytic gradient (Safran & Shamir 2018).
* :func:`affine_regime_point`: a spurious local minimum of a one-hidden-layer ReLU net built from the
  least-squares fit, every unit in its linear piece (after He, Wang & Tao 2020).
"""

from __future__ import annotations

import math
import time

import torch

from widgets.core.checks import (
    check_bool,
    check_float,
    check_instance,
    check_int,
    check_ints,
    check_memory,
    check_numbers,
    check_tensor,
)
from widgets.core.env import get_device, get_dtype, one_cpu_thread
from widgets.core.train import recorded

# ------------------------------------------------------------------ Du et al.: fixed-readout ReLU nets


class FixedReadoutFamily:
    """Two-layer ReLU nets f_m(x) = m^{-1/2} Σ_r a_r relu(w_rᵀx), members of different widths packed side by
    side: member k owns hidden units [offset_k, offset_k + width_k) of one layer of H = Σ widths units.

    Only ``W`` ([H, d]) is a parameter; the readout ``a`` ([H], ±1) is fixed, as in Du et al. (2019). The
    trainer reads ``params``, ``masks``, ``broadcast``, ``seeds``, ``size`` and ``device`` off it.
    Everything is checked here, once: :meth:`forward` runs at every training step and checks only shapes.
    """

    def __init__(self, W: torch.Tensor, a: torch.Tensor, widths: list[int], seeds: list[int]):
        W = check_tensor("W", W, ndim=2, shape="[H, d]", min_size=1)
        widths = check_ints("widths", widths, 1)
        seeds = check_ints("seeds", seeds, 0)
        if len(seeds) != len(widths) or sum(widths) != len(W):
            raise ValueError(f"widths (summing to the {len(W)} rows of W) and seeds must be equally long, got "
                             f"{len(widths)} widths summing to {sum(widths)} and {len(seeds)} seeds")
        a = check_tensor("a", a, ndim=1, shape=f"[{len(W)}]")
        if a.shape != (len(W),) or not bool(((a == 1) | (a == -1)).all()):
            raise ValueError(f"a must be [{len(W)}] readout signs ±1 (one per row of W)")
        self.params = [W]
        self.a, self.widths, self.seeds = a, list(widths), list(seeds)
        self.owner = torch.cat([torch.full((w,), k) for k, w in enumerate(widths)]).to(W.device)
        self.scale = a / torch.tensor(widths, device=W.device, dtype=W.dtype).sqrt()[self.owner]  # a_r/√m

    @property
    def size(self) -> int:
        return len(self.seeds)

    @property
    def device(self) -> torch.device:
        return self.params[0].device

    @property
    def masks(self) -> list[torch.Tensor]:
        return [torch.ones(1, 1, device=self.device, dtype=self.params[0].dtype)]

    def broadcast(self, values: torch.Tensor) -> list[torch.Tensor]:
        """Per-member values [K] → one column per hidden unit, [H, 1]."""
        values = check_tensor("values", values, finite=False)
        if values.shape != (self.size,):
            raise ValueError(f"values must have shape [{self.size}] (one per member), got {tuple(values.shape)}")
        return [values[self.owner].view(-1, 1)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: [n, d] → outputs [K, n, 1]. Only x's shape is checked: this is the training loop's hot path,
        where a finiteness check would cost a host round trip per step (NaN inputs give NaN outputs)."""
        W = self.params[0]
        if not isinstance(x, torch.Tensor) or x.ndim != 2 or x.shape[1] != W.shape[1]:
            raise ValueError(f"x must be a tensor of shape [n, {W.shape[1]}], got "
                             f"{tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__}")
        h = torch.relu(W @ x.to(W.dtype).T) * self.scale[:, None]  # [H, n]
        out = torch.zeros(self.size, h.shape[1], device=h.device, dtype=h.dtype).index_add(0, self.owner, h)
        return out[..., None]

    __call__ = forward

    def split(self, t: torch.Tensor) -> list[torch.Tensor]:
        """A per-unit tensor [H, ...] cut into one block per member."""
        if not isinstance(t, torch.Tensor) or t.ndim == 0 or len(t) != len(self.owner):
            raise ValueError(f"t must be a tensor with one row per hidden unit ({len(self.owner)})")
        return list(t.split(self.widths))


def du_network(d: int, widths, seeds, device=None, dtype=None) -> FixedReadoutFamily:
    """Members of widths ``widths`` (one seed each): w_r(0) ~ N(0, I_d), a_r uniform on {−1, +1}, drawn from
    the member's own seed, so a member is the same whichever family it sits in."""
    d = check_int("d", d, 1, 10**6)
    widths, seeds = check_ints("widths", widths, 1, 10**7), check_ints("seeds", seeds, 0)
    if len(widths) != len(seeds):
        raise ValueError(f"widths and seeds must be equally long, got {len(widths)} and {len(seeds)}")
    check_memory(f"{sum(widths)} hidden units of {d} inputs", 8 * 3 * sum(widths) * (d + 1))
    Ws, As = [], []
    for w, s in zip(widths, seeds, strict=True):
        g = torch.Generator().manual_seed(s)
        Ws.append(torch.randn(w, d, generator=g, dtype=torch.float64))
        As.append(torch.randint(0, 2, (w,), generator=g, dtype=torch.float64) * 2 - 1)
    dev = get_device(device)
    dt = get_dtype(dev, dtype)
    W = torch.cat(Ws).to(dev, dt).requires_grad_(True)
    return FixedReadoutFamily(W, torch.cat(As).to(dev, dt), widths, seeds)


def half_sum_squares(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Du et al.'s loss L = Σ_i ½ (f(x_i) − y_i)², per member: out [K, n, 1], y [n] or [n, 1] → [K]. The
    trainer calls it at every step: only shapes are checked (no host round trip)."""
    if out.ndim != 3 or out.shape[2] != 1 or y.numel() != out.shape[1]:
        raise ValueError(f"out must be [K, n, 1] and y [n] or [n, 1], got {tuple(out.shape)} and {tuple(y.shape)}")
    return 0.5 * ((out[..., 0] - y.reshape(-1).to(out.dtype)) ** 2).sum(1)


def relu_gram_inf(x: torch.Tensor) -> torch.Tensor:
    """H∞_ij = E_{w~N(0,I)}[x_iᵀx_j 1{wᵀx_i ≥ 0, wᵀx_j ≥ 0}] = x_iᵀx_j (π − arccos ρ_ij)/(2π), with ρ_ij the
    cosine of the angle between x_i and x_j. x: [n, d] → [n, n] float64. No row may be zero (it has no
    angle)."""
    x = check_tensor("x", x, ndim=2, shape="[n, d]", min_size=1).to(torch.float64)
    if bool((x == 0).all(1).any()):
        raise ValueError("x must have no zero row: its angle to the others is undefined")
    check_memory(f"the {len(x)} × {len(x)} Gram matrix", 8 * 4 * len(x) ** 2)
    g = x @ x.T
    norms = x.norm(dim=1)
    rho = (g / (norms[:, None] * norms[None, :])).clamp(-1, 1)
    return g * (math.pi - torch.arccos(rho)) / (2 * math.pi)


def pattern_gram(family: FixedReadoutFamily, x: torch.Tensor, W: torch.Tensor | None = None) -> torch.Tensor:
    """The finite-width Gram matrix of every member, H_ij = (1/m) x_iᵀx_j Σ_r 1{w_rᵀx_i ≥ 0, w_rᵀx_j ≥ 0},
    at the weights ``W`` [H, d] (default: the current ones). Returns [K, n, n] float64."""
    check_instance("family", family, FixedReadoutFamily, "a FixedReadoutFamily (from du_network)")
    H, d = family.params[0].shape
    W = family.params[0] if W is None else check_tensor("W", W, ndim=2, shape=f"[{H}, {d}]")
    if W.shape != (H, d):
        raise ValueError(f"W must have the family's shape [{H}, {d}], got {tuple(W.shape)}")
    x = check_tensor("x", x, ndim=2, shape=f"[n, {d}]", min_size=1)
    if x.shape[1] != d:
        raise ValueError(f"x must have shape [n, {d}], got {tuple(x.shape)}")
    check_memory(f"the pattern Grams of {family.size} members on {len(x)} points",
                 8 * (family.size * len(x) ** 2 + 2 * H * len(x)))
    W = W.detach().to(torch.float64)
    x = x.to(W.device, torch.float64)
    act = (W @ x.T >= 0).to(torch.float64)  # [H, n]
    counts = torch.stack([b.T @ b / len(b) for b in family.split(act)])  # [K, n, n]: one product per member
    return counts * (x @ x.T)


# ------------------------------------------------------------------ Ge et al. 2015: strict saddles


def _unit_noise(shape, generator: torch.Generator, dtype) -> torch.Tensor:
    """Draws uniform on the unit sphere of the last axis, on the generator's device (no host copy per step;
    the CPU draws the same numbers as before, a GPU its own stream)."""
    z = torch.randn(shape, generator=generator, dtype=torch.float64, device=generator.device)
    return (z / z.norm(dim=-1, keepdim=True)).to(dtype)


def sphere_saddle_gd(A: torch.Tensor, u0: torch.Tensor, *, lr: float, steps: int, noise, radius: float = 0.3,
                     seed: int = 0, device=None) -> dict:
    """Projected noisy GD on f(u) = −Σ_k (a_kᵀu)⁴ over the unit sphere, every row of ``u0`` at once:
    u ← normalize(u − η(grad_R f(u) + σ ξ)), ξ uniform on the unit sphere, grad_R the tangent gradient.

    A: [d, d] orthonormal rows a_k; u0: [B, d] unit starts; ``noise``: σ, one number or one per row.
    Returns ``u`` [B, d] (final), ``distance`` [B] (‖u(T) − u0‖), ``escape`` [B] (first step at which
    ‖u − u0‖ > ``radius``, −1 if never), ``f`` [B] (final objective), ``seconds``. float64.
    """
    A, u0 = _check_basis(A, u0, "u0", "[B, d]")
    lr = check_float("lr", lr, 0, 10, lo_open=True)
    steps = check_int("steps", steps, 0, 10**7)
    radius = check_float("radius", radius, 0, 2, lo_open=True)
    sigma = check_numbers("noise", noise, torch.float64)
    if sigma.ndim > 1 or sigma.numel() not in (1, len(u0)) or (sigma < 0).any() or not torch.isfinite(sigma).all():
        raise ValueError(f"noise must be one number or one per row ({len(u0)}), finite and ≥ 0")
    seed = check_int("seed", seed, 0)
    dev, dt = get_device(device), torch.float64
    A, u = A.to(dev, dt), u0.to(dev, dt).clone()
    start = u.clone()
    B = len(u)
    sigma = sigma.expand(B).to(dev)
    g = torch.Generator(device=dev).manual_seed(seed)
    escape = torch.full((B,), -1, dtype=torch.long, device=dev)
    noisy = bool((sigma > 0).any())
    t0 = time.perf_counter()
    with one_cpu_thread(dev):
        for t in range(1, steps + 1):
            c = u @ A.T  # [B, d]: a_kᵀu
            grad = -4 * (c**3) @ A
            grad = grad - (grad * u).sum(1, keepdim=True) * u  # tangent part
            if noisy:
                grad = grad + sigma[:, None] * _unit_noise(u.shape, g, dt)
            u = u - lr * grad
            u = u / u.norm(dim=1, keepdim=True)
            # on the device, without a host sync per step: the first step past the radius, per row
            escape = torch.where(((u - start).norm(dim=1) > radius) & (escape < 0), t, escape)
    f = -((u @ A.T) ** 4).sum(1)
    return {"u": u.cpu(), "distance": (u - start).norm(dim=1).cpu(), "escape": escape.cpu(), "f": f.cpu(),
            "seconds": time.perf_counter() - t0}


def _check_basis(A, U, name: str, shape: str) -> tuple[torch.Tensor, torch.Tensor]:
    """A [d, d] (orthonormal rows) and starts U of ``shape`` ending in d, with no zero row (a unit start)."""
    A = check_tensor("A", A, ndim=2, shape="[d, d]", min_size=1)
    d = A.shape[1]
    U = check_tensor(name, U, ndim=shape.count(",") + 1, shape=shape.replace("d]", f"{d}]"), min_size=1)
    if A.shape != (d, d) or U.shape[-1] != d:
        raise ValueError(f"A must be [d, d] and {name} {shape}, got {tuple(A.shape)} and {tuple(U.shape)}")
    if bool((U == 0).all(-1).any()):
        raise ValueError(f"{name} must have unit (nonzero) rows")
    check_memory(f"{name} {tuple(U.shape)}", 8 * 8 * U.numel() + 8 * 2 * A.numel())
    return A, U


def tensor_decomposition_gd(A: torch.Tensor, U0: torch.Tensor, *, lr: float, steps: int, noise: float,
                            clean_steps: int = 0, seed: int = 0, device=None) -> dict:
    """Noisy projected GD on Ge et al.'s (2015) formulation of orthogonal 4th-order tensor decomposition,
    min Σ_{i≠j} T(u_i, u_i, u_j, u_j) with T = Σ_k a_k^{⊗4} and every ‖u_i‖ = 1, for B starts at once.

    A: [d, d] orthonormal rows; U0: [B, d, d] (start b's rows u_i, unit norm). ``steps`` with noise σ, then
    ``clean_steps`` without. Returns ``U`` [B, d, d], ``objective`` [B], ``recovery`` [B]
    (min_k max_i |a_kᵀu_i|: 1 when every component is found), ``seconds``. float64.
    """
    A, U0 = _check_basis(A, U0, "U0", "[B, d, d]")
    if U0.shape[1] != U0.shape[2]:
        raise ValueError(f"U0 must be [B, d, d] (d unit rows per start), got {tuple(U0.shape)}")
    lr = check_float("lr", lr, 0, 10, lo_open=True)
    steps, clean_steps = check_int("steps", steps, 0, 10**7), check_int("clean_steps", clean_steps, 0, 10**7)
    noise = check_float("noise", noise, 0)
    seed = check_int("seed", seed, 0)
    dev, dt = get_device(device), torch.float64
    A, U = A.to(dev, dt), U0.to(dev, dt).clone()
    g = torch.Generator(device=dev).manual_seed(seed)
    t0 = time.perf_counter()
    with one_cpu_thread(dev):
        for t in range(steps + clean_steps):
            C = U @ A.T  # [B, i, k]: a_kᵀu_i
            S = (C**2).sum(1, keepdim=True)  # [B, 1, k]
            grad = (4 * C * (S - C**2)) @ A
            grad = grad - (grad * U).sum(-1, keepdim=True) * U
            if t < steps and noise > 0:
                grad = grad + noise * _unit_noise(U.shape, g, dt)
            U = U - lr * grad
            U = U / U.norm(dim=-1, keepdim=True)
    C = U @ A.T
    obj = ((C**2).sum(1) ** 2 - (C**4).sum(1)).sum(1)
    return {"U": U.cpu(), "objective": obj.cpu(), "recovery": C.abs().amax(1).amin(1).cpu(),
            "seconds": time.perf_counter() - t0}


# ------------------------------------------------------------------ Ge, Lee & Ma 2016: PSD completion


def psd_completion_gd(M: torch.Tensor, mask: torch.Tensor, U0: torch.Tensor, *, lr: float, steps: int,
                      records: int = 30, device=None, progress: bool = False) -> dict:
    """GD on f(U) = (1/2p)‖P_Ω(UUᵀ − M)‖²_F, p the observed fraction, for B starts U0 [B, d, r] at once
    (gradient (2/p) P_Ω(UUᵀ − M) U for a symmetric mask). M, mask: [d, d] (symmetric). float64.

    Returns ``steps`` [T], ``rel_err`` [T, B] (‖UUᵀ − M‖_F/‖M‖_F), ``train_err`` [T, B] (the same on the
    observed entries), ``U`` [B, d, r] (final), ``seconds``.
    """
    M = check_tensor("M", M, ndim=2, shape="[d, d]", min_size=1)
    d = len(M)
    mask = check_tensor("mask", mask, ndim=2, shape=f"[{d}, {d}]")
    U0 = check_tensor("U0", U0, ndim=3, shape=f"[B, {d}, r]", min_size=1)
    if M.shape != (d, d) or mask.shape != (d, d) or U0.shape[1] != d:
        raise ValueError(f"M and mask must be [d, d] and U0 [B, d, r], got {tuple(M.shape)}, {tuple(mask.shape)} "
                         f"and {tuple(U0.shape)}")
    if not bool(((mask == 0) | (mask == 1)).all()):
        raise ValueError("mask must hold only 0 and 1")
    if not torch.equal(mask, mask.T):
        raise ValueError("mask must be symmetric (each observed pair (i, j) also observes (j, i))")
    if not bool((M * mask).abs().sum() > 0):  # the errors are relative to ‖M‖ and to ‖M‖ on the mask
        raise ValueError("M must be nonzero on the observed entries (mask = 1)")
    lr = check_float("lr", lr, 0, 1e4, lo_open=True)
    steps = check_int("steps", steps, 0, 10**8)
    check_int("records", records, 2, 10**5)
    check_bool("progress", progress)
    check_memory(f"the completion residuals of {len(U0)} starts ({d} × {d})", 8 * 4 * len(U0) * d * d)
    dev, dt = get_device(device), torch.float64
    M, mask, U = M.to(dev, dt), mask.to(dev, dt), U0.to(dev, dt).clone()
    p = float(mask.mean())
    m_norm, m_seen = M.norm(), (M * mask).norm()
    state = [U]

    def advance(k: int) -> None:
        U = state[0]
        for _ in range(k):
            R = (U @ U.transpose(1, 2) - M) * mask
            U = U - lr * (2 / p) * (R @ U)
        state[0] = U

    def record(step: int) -> dict:
        E = state[0] @ state[0].transpose(1, 2) - M
        return {"rel_err": (E.norm(dim=(1, 2)) / m_norm).cpu(),
                "train_err": ((E * mask).norm(dim=(1, 2)) / m_seen).cpu()}

    t0 = time.perf_counter()
    with one_cpu_thread(dev):
        out = recorded(steps, records, advance, record, progress=progress)
    out.update(U=state[0].cpu(), seconds=time.perf_counter() - t0)
    return out


# ------------------------------------------------------------------ Safran & Shamir 2018: ReLU teachers


def _pair_terms(W: torch.Tensor, Z: torch.Tensor):
    """g(w_i, z_j) = E_x[relu(w_iᵀx) relu(z_jᵀx)] for x ~ N(0, I), and the pieces of its gradient in w_i.

    W: [B, n, d], Z: [B, m, d] (no zero rows). Returns g [B, n, m], a [B, n, m] = ‖z_j‖ sin θ_ij/(2π) and
    b [B, n, m] = (π − θ_ij)/(2π), so that ∂g/∂w_i = a ŵ_i + b z_j (smooth at θ = 0, unlike autograd
    through arccos).
    """
    nw, nz = W.norm(dim=-1), Z.norm(dim=-1)
    cos = (W @ Z.transpose(1, 2) / (nw[..., None] * nz[:, None, :])).clamp(-1, 1)
    theta = torch.arccos(cos)
    sin = (1 - cos**2).clamp_min(0).sqrt()
    g = nw[..., None] * nz[:, None, :] * (sin + (math.pi - theta) * cos) / (2 * math.pi)
    return g, nz[:, None, :] * sin / (2 * math.pi), (math.pi - theta) / (2 * math.pi)


def relu_teacher_loss(W: torch.Tensor, V: torch.Tensor, grad: bool = False):
    """F(W) = ½ E_{x~N(0,I)}[(Σ_i relu(w_iᵀx) − Σ_j relu(v_jᵀx))²] in closed form, for B students at once.

    W: [B, n, d] students; V: [k, d] the teacher, neither with a zero row (its angles are undefined).
    Returns F [B], and with ``grad=True`` also ∂F/∂W [B, n, d] (analytic).
    """
    W, V = _check_teacher(W, V)
    return _teacher_loss(W, V, check_bool("grad", grad))


def _check_teacher(W, V) -> tuple[torch.Tensor, torch.Tensor]:
    W = check_tensor("W", W, ndim=3, shape="[B, n, d]", min_size=1)
    V = check_tensor("V", V, ndim=2, shape=f"[k, {W.shape[2]}]", min_size=1)
    if V.shape[1] != W.shape[2]:
        raise ValueError(f"W [B, n, d] and V [k, d] must share d, got {tuple(W.shape)} and {tuple(V.shape)}")
    for name, t in (("W", W), ("V", V)):
        if bool((t == 0).all(-1).any()):
            raise ValueError(f"{name} must have no zero row: its angle to the others is undefined")
    check_memory(f"the pair terms of {tuple(W.shape)} against {len(V)} teacher units",
                 8 * 8 * len(W) * W.shape[1] * (W.shape[1] + len(V)))
    return W, V


def _teacher_loss(W: torch.Tensor, V: torch.Tensor, grad: bool = False):
    """:func:`relu_teacher_loss` unchecked, for GD's inner loop."""
    Vb = V.to(W)[None].expand(len(W), *V.shape)
    Z = torch.cat([W, Vb], 1)  # [B, n + k, d]: every student against the students and the teacher
    c = torch.cat([W.new_ones(W.shape[1]), -W.new_ones(len(V))])  # +1 student, −1 teacher (made on W's device)
    g, a, b = _pair_terms(W, Z)
    F = 0.5 * (g * c).sum((1, 2)) - 0.5 * g[..., W.shape[1]:].sum((1, 2)) + 0.5 * _pair_terms(Vb[:1], Vb[:1])[0].sum()
    if not grad:
        return F
    G = (a * c).sum(2, keepdim=True) * (W / W.norm(dim=-1, keepdim=True)) + (b * c) @ Z
    return F, G


def relu_teacher_gd(W0: torch.Tensor, V: torch.Tensor, *, lr: float, steps: int, records: int = 20,
                    device=None, progress: bool = False) -> dict:
    """GD on :func:`relu_teacher_loss` from B starts W0 [B, n, d] at once (float64, analytic gradient).

    Returns ``steps`` [T], ``loss`` [T, B], ``grad_norm`` [T, B] (‖∂F/∂W‖_F), ``W`` [B, n, d], ``seconds``.
    """
    W0, V = _check_teacher(W0, V)
    lr = check_float("lr", lr, 0, 1e4, lo_open=True)
    steps = check_int("steps", steps, 0, 10**8)
    check_int("records", records, 2, 10**5)
    check_bool("progress", progress)
    dev, dt = get_device(device), torch.float64
    state = [W0.to(dev, dt).clone()]
    V = V.to(dev, dt)

    def advance(k: int) -> None:
        W = state[0]
        for _ in range(k):
            W = W - lr * _teacher_loss(W, V, grad=True)[1]
        state[0] = W

    def record(step: int) -> dict:
        F, G = _teacher_loss(state[0], V, grad=True)
        return {"loss": F.cpu(), "grad_norm": G.norm(dim=(1, 2)).cpu()}

    t0 = time.perf_counter()
    with one_cpu_thread(dev):
        out = recorded(steps, records, advance, record, progress=progress)
    out.update(W=state[0].cpu(), seconds=time.perf_counter() - t0)
    return out


# ------------------------------------------------------------------ He, Wang & Tao 2020: affine cell


def affine_regime_point(x: torch.Tensor, y: torch.Tensor, hidden: int, margin: float = 1.0) -> dict:
    """A point of a one-hidden-layer ReLU net f(x) = Σ_j v_j relu(w_jᵀx + b_j) + c at which the net is the
    least-squares affine fit βᵀx + β₀ and every unit sits in its linear piece on the data.

    Every unit gets w_j = β and b_j = B, with B such that every pre-activation is ≥ ``margin``; v_j = 1/h and
    c = β₀ − B. Near this point the net stays affine on the data, so no small move lowers the squared loss
    below the least-squares loss: a local minimum, spurious when the data are not affine.

    x: [n, d], y: [n]. Returns ``W1`` [d, h], ``b1`` [h], ``W2`` [h], ``b2`` (a number), ``beta`` [d],
    ``beta0``, ``ls_mse`` (the least-squares mean squared error), all float64.
    """
    x = check_tensor("x", x, ndim=2, shape="[n, d]", min_size=1)
    y = check_tensor("y", y, ndim=(1, 2), shape=f"[{len(x)}]")
    if y.numel() != len(x):
        raise ValueError(f"y must hold one target per row of x ({len(x)}), got shape {tuple(y.shape)}")
    hidden = check_int("hidden", hidden, 1, 10**6)
    margin = check_float("margin", margin, 0, lo_open=True)
    check_memory(f"{hidden} units on {x.shape[1]} inputs", 8 * 2 * hidden * (x.shape[1] + 2))
    x, y = x.to(torch.float64), y.to(torch.float64).reshape(-1)
    X1 = torch.cat([x, torch.ones(len(x), 1, dtype=torch.float64)], 1)
    coef = torch.linalg.lstsq(X1, y[:, None]).solution[:, 0]
    beta, beta0 = coef[:-1], float(coef[-1])
    B = margin - float((x @ beta).min())
    return {"W1": beta[:, None].repeat(1, hidden), "b1": torch.full((hidden,), B, dtype=torch.float64),
            "W2": torch.full((hidden,), 1.0 / hidden, dtype=torch.float64), "b2": beta0 - B, "beta": beta,
            "beta0": beta0, "ls_mse": float(((X1 @ coef - y) ** 2).mean())}
