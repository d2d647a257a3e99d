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

from widgets.core.checks import check_float, check_int
from widgets.core.env import get_device, get_dtype, one_cpu_thread
from widgets.core.train import recorded

# ------------------------------------------------------------------ Du et al.: fixed-readout ReLU nets


class FixedReadoutFamily:
    """Two-layer ReLU nets f_m(x) = m^{-1/2} Σ_r a_r relu(w_rᵀx), members of different widths packed side by
    side: member k owns hidden units [offset_k, offset_k + width_k) of one layer of H = Σ widths units.

    Only ``W`` ([H, d]) is a parameter; the readout ``a`` ([H], ±1) is fixed, as in Du et al. (2019). The
    trainer reads ``params``, ``masks``, ``broadcast``, ``seeds``, ``size`` and ``device`` off it.
    """

    def __init__(self, W: torch.Tensor, a: torch.Tensor, widths: list[int], seeds: list[int]):
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
        return [values[self.owner].view(-1, 1)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: [n, d] → outputs [K, n, 1]."""
        W = self.params[0]
        h = torch.relu(W @ x.to(W.dtype).T) * self.scale[:, None]  # [H, n]
        out = torch.zeros(self.size, h.shape[1], device=h.device, dtype=h.dtype).index_add(0, self.owner, h)
        return out[..., None]

    __call__ = forward

    def split(self, t: torch.Tensor) -> list[torch.Tensor]:
        """A per-unit tensor [H, ...] cut into one block per member."""
        return list(t.split(self.widths))


def du_network(d: int, widths, seeds, device=None, dtype=None) -> FixedReadoutFamily:
    """Members of widths ``widths`` (one seed each): w_r(0) ~ N(0, I_d), a_r uniform on {−1, +1}, drawn from
    the member's own seed, so a member is the same whichever family it sits in."""
    d = check_int("d", d, 1, 10**6)
    widths, seeds = [check_int("widths[i]", w, 1, 10**7) for w in widths], [int(s) for s in seeds]
    if len(widths) != len(seeds) or not widths:
        raise ValueError(f"widths and seeds must be equally long and non-empty, got {len(widths)} and {len(seeds)}")
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
    """Du et al.'s loss L = Σ_i ½ (f(x_i) − y_i)², per member: out [K, n, 1], y [n] or [n, 1] → [K]."""
    return 0.5 * ((out[..., 0] - y.reshape(-1).to(out.dtype)) ** 2).sum(1)


def relu_gram_inf(x: torch.Tensor) -> torch.Tensor:
    """H∞_ij = E_{w~N(0,I)}[x_iᵀx_j 1{wᵀx_i ≥ 0, wᵀx_j ≥ 0}] = x_iᵀx_j (π − arccos ρ_ij)/(2π), with ρ_ij the
    cosine of the angle between x_i and x_j. x: [n, d] → [n, n] float64."""
    x = x.to(torch.float64)
    g = x @ x.T
    norms = x.norm(dim=1)
    rho = (g / (norms[:, None] * norms[None, :])).clamp(-1, 1)
    return g * (math.pi - torch.arccos(rho)) / (2 * math.pi)


def pattern_gram(family: FixedReadoutFamily, x: torch.Tensor, W: torch.Tensor | None = None) -> torch.Tensor:
    """The finite-width Gram matrix of every member, H_ij = (1/m) x_iᵀx_j Σ_r 1{w_rᵀx_i ≥ 0, w_rᵀx_j ≥ 0},
    at the weights ``W`` [H, d] (default: the current ones). Returns [K, n, n] float64."""
    W = (family.params[0] if W is None else W).detach().to(torch.float64)
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
    lr = check_float("lr", lr, 0, 10, lo_open=True)
    steps = check_int("steps", steps, 0, 10**7)
    radius = check_float("radius", radius, 0, 2, lo_open=True)
    dev, dt = get_device(device), torch.float64
    A, u = A.to(dev, dt), u0.to(dev, dt).clone()
    start = u.clone()
    B = len(u)
    sigma = torch.as_tensor(noise, dtype=dt).expand(B).to(dev)
    if (sigma < 0).any() or not torch.isfinite(sigma).all():
        raise ValueError("noise must be finite and ≥ 0 for every row")
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


def tensor_decomposition_gd(A: torch.Tensor, U0: torch.Tensor, *, lr: float, steps: int, noise: float,
                            clean_steps: int = 0, seed: int = 0, device=None) -> dict:
    """Noisy projected GD on Ge et al.'s (2015) formulation of orthogonal 4th-order tensor decomposition,
    min Σ_{i≠j} T(u_i, u_i, u_j, u_j) with T = Σ_k a_k^{⊗4} and every ‖u_i‖ = 1, for B starts at once.

    A: [d, d] orthonormal rows; U0: [B, d, d] (start b's rows u_i, unit norm). ``steps`` with noise σ, then
    ``clean_steps`` without. Returns ``U`` [B, d, d], ``objective`` [B], ``recovery`` [B]
    (min_k max_i |a_kᵀu_i|: 1 when every component is found), ``seconds``. float64.
    """
    lr = check_float("lr", lr, 0, 10, lo_open=True)
    steps, clean_steps = check_int("steps", steps, 0, 10**7), check_int("clean_steps", clean_steps, 0, 10**7)
    noise = check_float("noise", noise, 0)
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
    lr = check_float("lr", lr, 0, 1e4, lo_open=True)
    steps = check_int("steps", steps, 0, 10**8)
    if not torch.equal(mask, mask.T):
        raise ValueError("mask must be symmetric (each observed pair (i, j) also observes (j, i))")
    dev, dt = get_device(device), torch.float64
    M, mask, U = M.to(dev, dt), mask.to(dev, dt), U0.to(dev, dt).clone()
    p = float(mask.mean())
    if p == 0:
        raise ValueError("mask observes no entry")
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

    W: [B, n, d] students; V: [k, d] the teacher. Returns F [B], and with ``grad=True`` also ∂F/∂W [B, n, d]
    (analytic).
    """
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
    lr = check_float("lr", lr, 0, 1e4, lo_open=True)
    steps = check_int("steps", steps, 0, 10**8)
    dev, dt = get_device(device), torch.float64
    state = [W0.to(dev, dt).clone()]
    V = V.to(dev, dt)

    def advance(k: int) -> None:
        W = state[0]
        for _ in range(k):
            W = W - lr * relu_teacher_loss(W, V, grad=True)[1]
        state[0] = W

    def record(step: int) -> dict:
        F, G = relu_teacher_loss(state[0], V, grad=True)
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
    hidden = check_int("hidden", hidden, 1, 10**6)
    margin = check_float("margin", margin, 0, lo_open=True)
    x, y = x.to(torch.float64), y.to(torch.float64).reshape(-1)
    X1 = torch.cat([x, torch.ones(len(x), 1, dtype=torch.float64)], 1)
    coef = torch.linalg.lstsq(X1, y[:, None]).solution[:, 0]
    beta, beta0 = coef[:-1], float(coef[-1])
    B = margin - float((x @ beta).min())
    return {"W1": beta[:, None].repeat(1, hidden), "b1": torch.full((hidden,), B, dtype=torch.float64),
            "W2": torch.full((hidden,), 1.0 / hidden, dtype=torch.float64), "b2": beta0 - B, "beta": beta,
            "beta0": beta0, "ls_mse": float(((X1 @ coef - y) ** 2).mean())}
