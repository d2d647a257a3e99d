"""Why gradient descent finds global minima of some nonconvex problems, and where it stops.

* Wide nets (Du et al. 2019): a two-layer ReLU net with its first layer trained, widths from tens to
  thousands trained as one packed family by the core trainer; the loss against the kernel prediction
  (I − ηH∞)^k r(0) and the theorem's (1 − ηλ₀/2)^k bound, and how far the weights move.
* Strict saddles (Ge et al. 2015): GD at a saddle of orthogonal tensor decomposition stalls, noise escapes it
  in a time ∝ ln(1/σ); Ge et al.'s formulation recovers every component from random starts.
* A benign landscape (Ge, Lee & Ma 2016): PSD matrix completion, every random start reaches M.
* Spurious minima: exactly parameterized ReLU students (Safran & Shamir 2018), and an explicit spurious
  local minimum of a ReLU net in its affine cell (He, Wang & Tao 2020).

Every experiment returns plain tensors; the batched solvers are in :mod:`widgets.core.landscapes`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import ClassVar

import torch

from widgets.core import cost, data, landscapes, models, train
from widgets.core.checks import check_float, check_floats, check_instance, check_int, check_ints, check_memory
from widgets.core.losses import member_losses
from widgets.core.params import Params, experiment
from widgets.core.probes import grad_norm_sq
from widgets.core.stats import loglog_slope


def _sphere(n: int, d: int, g: torch.Generator) -> torch.Tensor:
    x = torch.randn(n, d, generator=g, dtype=torch.float64)
    return x / x.norm(dim=1, keepdim=True)


def _orthonormal(d: int, g: torch.Generator) -> torch.Tensor:
    q, r = torch.linalg.qr(torch.randn(d, d, generator=g, dtype=torch.float64))
    return (q * torch.sign(torch.diagonal(r))).T  # rows: a random orthonormal basis


# ------------------------------------------------------------------------------------ 1. wide nets


@dataclass(frozen=True)
class WideParams(Params):
    """Du et al.'s experiment, scaled: n points uniform on the unit sphere in d dimensions, y ~ N(0, 1),
    widths trained as one family (``seeds`` initialisations of each width, one dataset), full-batch GD on
    Σ ½(f − y)² at step ``lr`` for ``steps`` steps. ``read_at``: the ηk at which losses are compared."""

    FULL: ClassVar[dict] = {"n": 1000, "d": 1000, "widths": (100, 200, 500, 1000, 2000, 5000, 10_000, 20_000),
                            "seeds": 3}
    STEPS: ClassVar[tuple] = ("steps",)
    CPU_FIT: ClassVar[dict] = {"widths": "half"}  # widths to 20,000 on 1,000 points of d = 1,000

    n: int = 200
    d: int = 200
    widths: tuple = (50, 100, 200, 400, 800, 1600, 3200, 6400)
    seeds: int = 1
    lr: float = 0.4
    steps: int = 100
    read_at: float = 20.0
    seed: int = 0

    def cap(self, max_steps: int) -> dict:
        """The losses are compared at ηk = ``read_at``, which a capped run must still reach."""
        return {**super().cap(max_steps), "read_at": min(self.read_at, self.lr * min(self.steps, max_steps))}

    def check(self) -> None:
        n = check_int("n", self.n, 2, 10**5)
        d = check_int("d", self.d, 2, 10**5)
        widths = check_ints("widths", self.widths, 1, 10**6)
        S = check_int("seeds", self.seeds, 1, 100)
        lr = check_float("lr", self.lr, 0, 1.5, lo_open=True)
        steps = check_int("steps", self.steps, 2, 10**5 - 1)  # a record at every step: the trainer's 10⁵ at most
        check_float("read_at", self.read_at, 0, lr * steps, lo_open=True)
        check_int("seed", self.seed, 0)
        # the packed weights (initial, trained, float64 copies), the units' patterns on the data, every
        # member's finite-width Gram matrix, and H∞ with its eigenvectors
        H, K = S * sum(widths), S * len(widths)
        check_memory("seeds × widths × (d + n) (and seeds × widths × n²)",
                     8 * (4 * H * d + 3 * H * n + K * n * n + 3 * n * n))


def _wide_nets_cost(p: WideParams) -> cost.Cost:
    # the packed fixed-readout family (H = seeds × Σ widths units; only W [H, d] trains): full-batch GD with a
    # record (a forward pass) at every step; after it, on the device in float64, every member's H(0) from its
    # activation patterns and its eigvalsh; on the CPU in float64 (x lives there) H∞ and its eigh
    S, M, n, d = p.seeds, len(p.widths), p.n, p.d
    H, K = S * sum(p.widths), S * M
    fwd = cost.product(H, d, n) + cost.passes(H * n, 4, ops=6)  # W xᵀ, relu, the readout's scale, index_add
    step = fwd * 2 + cost.passes(H * d, 2, ops=22)  # forward, backward (W's gradient only), loss and update
    rec = fwd + cost.Cost(ops=25)
    init = cost.Cost(cpu_flops=cost.RANDOM_DRAW_FLOPS * H * d, cpu_ops=4 * K)
    after = (cost.product(H, d, n) * 2 + cost.passes(H * n, 3) + cost.passes(H * d, 3, f64=True)  # flips, moves
             + cost.product(H, d, n, f64=True) + cost.passes(H * n, 2, f64=True)  # the patterns, in float64
             + cost.Cost(flops64=2.0 * n * n * H, ops=K) + cost.passes(K * n * n, 2, f64=True)  # Σ_r of each H(0)
             + cost.eigh(n, batch=K))
    on_cpu = cost.Cost(cpu_flops=2.0 * n * n * d + 9.0 * n**3 + 2.0 * K * n * n + 20.0 * (p.steps + 1) * K * n)
    held = cost.Cost(memory=cost.F32 * (4 * H * d + 3 * H * n + n * d)  # W, its gradient, W(0), W(T), activations
                     + cost.F64 * (H * d + H * n + 2 * K * n * n))  # the float64 patterns and the H(0) stack
    return (init + fwd + p.steps * step + cost.records(p.steps, p.steps + 1, "linear") * rec + after + on_cpu
            + held)


@cost.model(_wide_nets_cost)
@experiment
def wide_nets(p: WideParams, *, device=None, progress: bool = False) -> dict:
    """Train every (seed, width) member as one family; compare with the kernel and the theorem.

    Returns, with S seeds and M widths (member (s, m) at index s·M + m of the flat K axis): ``widths`` [M],
    ``steps`` [T], ``loss`` [T, S, M], ``kernel_loss`` [T, S, M] (½‖(I − ηH∞)^k r(0)‖² with each member's
    own r(0)), ``bound`` [T, S, M] ((1 − ηλ₀/2)^k L(0)), ``move_max`` [S, M] (max_r ‖w_r(T) − w_r(0)‖),
    ``flip`` [S, M] (fraction of (r, i) whose sign of w_rᵀx_i changed), ``lam_h0`` [S, M]
    (λ_min(H(0))/λ₀), ``moves`` [H] (‖w_r(T) − w_r(0)‖ of every unit) with ``unit_member`` [H] (its flat
    member index), ``lam0``,
    ``lam_max``, ``w0_norm`` (mean ‖w_r(0)‖), ``seconds``.
    """
    g = torch.Generator().manual_seed(p.seed)
    x = _sphere(p.n, p.d, g)
    y = torch.randn(p.n, generator=g, dtype=torch.float64)
    S, M = p.seeds, len(p.widths)
    widths = list(p.widths) * S
    seeds = [100_000 * p.seed + 1000 * (s + 1) + m for s in range(S) for m in range(M)]
    family = landscapes.du_network(p.d, widths, seeds, device=device)
    W0 = family.params[0].detach().clone()
    dt = W0.dtype
    with torch.no_grad():
        u0 = family(x.to(family.device))[..., 0].double().cpu()  # [K, n]
    ds = data.Dataset(x.to(dt), y.to(dt)[:, None], x[:1].to(dt), y[:1].to(dt)[:, None])  # no test set here
    result = train.train(family, ds, steps=p.steps, lr=p.lr, loss=landscapes.half_sum_squares, optimizer="gd",
                         records=p.steps + 1, spacing="linear", progress=progress)
    WT = result.params[0].to(family.device)

    H = landscapes.relu_gram_inf(x)
    lam, V = torch.linalg.eigh(H)
    lam0 = float(lam[0])
    k = result.steps.double()  # [T]
    r0 = (u0 - y) @ V  # [K, n]: residuals in H∞'s eigenbasis
    kernel = 0.5 * ((1 - p.lr * lam)[None, None, :] ** (2 * k[:, None, None]) * r0[None] ** 2).sum(-1)  # [T, K]
    loss = result.train_loss.double()
    bound = loss[:1] * (1 - p.lr * lam0 / 2) ** k[:, None]

    moves = (WT - W0).double().norm(dim=1).cpu()  # [H]
    flips = ((W0 @ x.T.to(W0)) >= 0) != ((WT @ x.T.to(W0)) >= 0)  # [H, n]
    h0 = landscapes.pattern_gram(family, x, W0)
    lam_h0 = torch.linalg.eigvalsh(h0)[:, 0] / lam0
    per = family.split(moves)
    return {"widths": torch.tensor(p.widths), "steps": result.steps, "lr": p.lr,
            "loss": loss.view(-1, S, M), "kernel_loss": kernel.view(-1, S, M), "bound": bound.view(-1, S, M),
            "move_max": torch.stack([m.max() for m in per]).view(S, M),
            "flip": torch.stack([f.double().mean() for f in family.split(flips.cpu())]).view(S, M),
            "lam_h0": lam_h0.cpu().view(S, M), "moves": moves, "unit_member": family.owner.cpu(), "lam0": lam0,
            "lam_max": float(lam[-1]),
            "w0_norm": float(W0.double().norm(dim=1).mean()), "seconds": result.seconds, "params": asdict(p)}


def wide_summary(r: dict, read_at: float) -> dict:
    """The chapter's numbers from :func:`wide_nets`: log-log slopes of movement and flips against width
    (median over seeds), the widest member's late loss rate over ηλ₀ (second half of training), whether the
    bound held at every step and member, λ_min(H(0))/λ₀ at the widest width, the loss ratio narrowest/widest
    at ηk = ``read_at`` (within the run), and the slope of |log L − log L_lin| against width there."""
    check_instance("r", r, dict, "the dict of wide_nets")
    missing = {"widths", "loss", "lr", "steps", "lam0", "kernel_loss", "move_max", "flip", "bound", "lam_h0"} - r.keys()
    if missing:
        raise ValueError(f"r must be wide_nets' dict, missing {sorted(missing)}")
    check_float("read_at", read_at, 0, float(r["steps"][-1]) * r["lr"], lo_open=True)
    widths, loss, lr = r["widths"].double(), r["loss"], r["lr"]
    steps = r["steps"].double()
    at = int((steps * lr - read_at).abs().argmin())
    half = len(steps) // 2
    rate = (loss[half].log() - loss[-1].log()) / (steps[-1] - steps[half]) / (lr * r["lam0"])  # [S, M]
    rel = loss[at] / loss[0]
    dev = (loss[at].log() - r["kernel_loss"][at].log()).abs()
    med = lambda v: float(torch.as_tensor(v).median())  # noqa: E731
    return {"move_slope": med([loglog_slope(widths, m) for m in r["move_max"]]),
            "flip_slope": med([loglog_slope(widths, f) for f in r["flip"]]),
            "kernel_dev_slope": med([loglog_slope(widths, v) for v in dev]),
            "flip_widest": float(r["flip"][:, -1].max()), "rate_widest": med(rate[:, -1]),
            "rate_narrowest": med(rate[:, 0]),
            "kernel_rate": med((r["kernel_loss"][half].log() - r["kernel_loss"][-1].log())[:, -1]
                               / (steps[-1] - steps[half]) / (lr * r["lam0"])),
            "bound_holds": bool((loss <= r["bound"] * (1 + 1e-6)).all()),
            "bound_margin": float((loss / r["bound"]).max()),
            "lam_h0_widest": med(r["lam_h0"][:, -1]), "lam_h0_narrowest": med(r["lam_h0"][:, 0]),
            "small_vs_wide": med(rel[:, 0] / rel[:, -1]), "read_step": int(steps[at]),
            "read_at": float(steps[at] * lr)}


# ------------------------------------------------------------------------------------ 2. saddles


@dataclass(frozen=True)
class SaddleParams(Params):
    """Strict saddles of f(u) = −Σ_k (a_kᵀu)⁴ on the sphere in d dimensions (random orthonormal a_k).
    ``orders``: saddle orders |S|; ``sigmas``: noise per step; ``reps``: noisy runs per (order, σ);
    ``stall_steps``: noiseless GD from each exact saddle. Tensor recovery: ``inits`` random starts of Ge et
    al.'s formulation, ``tensor_steps`` noisy (``tensor_noise``) then ``clean_steps`` plain steps."""

    FULL: ClassVar[dict] = {"d": 50, "reps": 200, "inits": 200, "stall_steps": 20_000}
    STEPS: ClassVar[tuple] = ("steps", "stall_steps", "tensor_steps", "clean_steps")

    d: int = 10
    lr: float = 0.05
    orders: tuple = (2, 3, 4, 6, 10)
    sigmas: tuple = (1e-2, 1e-4, 1e-6, 1e-8, 1e-10, 1e-12)
    reps: int = 20
    steps: int = 1500
    stall_steps: int = 5000
    radius: float = 0.3
    inits: int = 30
    tensor_lr: float = 0.02
    tensor_noise: float = 1e-3
    tensor_steps: int = 1500
    clean_steps: int = 500
    seed: int = 0

    def check(self) -> None:
        d = check_int("d", self.d, 2, 10**4)
        check_float("lr", self.lr, 0, 0.5, lo_open=True)
        orders = check_ints("orders", self.orders, 2, d)
        sigmas = check_floats("sigmas", self.sigmas, 0, 1, lo_open=True, hi_open=True)
        reps = check_int("reps", self.reps, 1, 10**5)
        check_int("steps", self.steps, 1, 10**7)
        check_int("stall_steps", self.stall_steps, 1, 10**7)
        check_float("radius", self.radius, 0, 1, lo_open=True)
        check_int("inits", self.inits, 1, 10**5)
        check_float("tensor_lr", self.tensor_lr, 0, 0.5, lo_open=True)
        check_float("tensor_noise", self.tensor_noise, 0, 1)
        check_int("tensor_steps", self.tensor_steps, 0, 10**7)
        check_int("clean_steps", self.clean_steps, 0, 10**7)
        check_int("seed", self.seed, 0)
        # the noisy rows (every order, σ and rep) and the tensor starts, float64 with the solvers' temporaries
        check_memory("orders × sigmas × reps × d (and inits × d²)",
                     8 * 8 * d * (len(orders) * len(sigmas) * reps + self.inits * d))


def _saddles_cost(p: SaddleParams) -> cost.Cost:
    # float64 on the device. Projected GD on the sphere, all rows at once, with a host round trip every step
    # (the escape test is read on the CPU) and, for noisy rows, the noise drawn on the CPU and copied over
    # every step; then Ge et al.'s formulation from `inits` starts (U [B, d, d]), noisy then clean, and clean
    d = p.d

    def sphere(B: int, steps: int, noisy: bool) -> cost.Cost:
        step = (cost.product(B, d, d, f64=True) * 2 + cost.passes(B * d, 12, f64=True, ops=12)
                + cost.Cost(cpu_ops=2))
        if noisy:
            step = step + cost.Cost(cpu_flops=cost.RANDOM_DRAW_FLOPS * B * d, cpu_ops=4, ops=3)
        return steps * step

    def tensor(B: int, steps: int, noisy_steps: int) -> cost.Cost:
        step = cost.product(B * d, d, d, f64=True) * 2 + cost.passes(B * d * d, 14, f64=True, ops=16)
        noise = cost.Cost(cpu_flops=cost.RANDOM_DRAW_FLOPS * B * d * d, cpu_ops=4, ops=2)
        return steps * step + noisy_steps * noise

    n_orders, N = len(p.orders), len(p.sigmas)
    total = p.tensor_steps + p.clean_steps
    return (2 * sphere(n_orders, p.stall_steps, False) + sphere(n_orders * N * p.reps, p.steps, True)
            + tensor(p.inits, total, p.tensor_steps if p.tensor_noise > 0 else 0) + tensor(p.inits, total, 0))


@cost.model(_saddles_cost)
@experiment
def saddles(p: SaddleParams, *, device=None, progress: bool = False) -> dict:
    """GD from each exact saddle u_S = Σ_{k∈S} a_k/√|S| without noise (the stall), and with noise σ
    (``reps`` runs per order and σ, all rows one batch); and Ge et al.'s formulation from random starts, with
    and without noise.

    Returns ``orders`` [O], ``sigmas`` [N], ``gamma`` [O] (8/|S|, the escape curvature), ``stall`` [O]
    (‖u(T) − u_S‖ after ``stall_steps`` noiseless steps from u_S in the coordinate basis), ``stall_random``
    [O] and ``stall_random_escape`` [O] (the same in the random basis, and its escape step, −1 if none),
    ``escape`` [O, N, reps] (first step with ‖u − u_S‖ > radius; −1 never), ``median`` [O, N] (inf where
    more than half never escaped), ``slope``
    [O] (fitted steps per nat of 1/σ), ``predicted`` [O] (1/ln(1 + ηγ)), ``recovery`` / ``recovery_clean``
    [inits] (min_k max_i |a_kᵀu_i|, with
    and without noise), ``objective`` [inits], ``seconds``.
    """
    g = torch.Generator().manual_seed(p.seed)
    A = _orthonormal(p.d, g)
    n_orders, N = len(p.orders), len(p.sigmas)
    saddle = torch.stack([A[:s].sum(0) / math.sqrt(s) for s in p.orders])  # [O, d]
    # noiseless, from each exact saddle: in the coordinate basis (a_k = e_k) the saddle's symmetry is exact
    # in floating point; in the random basis its rounding error is a tiny offset of its own
    eye = torch.eye(p.d, dtype=torch.float64)
    coord = torch.stack([eye[:s].sum(0) / math.sqrt(s) for s in p.orders])
    stall = landscapes.sphere_saddle_gd(eye, coord, lr=p.lr, steps=p.stall_steps, noise=0.0, radius=p.radius,
                                        device=device)
    stall_random = landscapes.sphere_saddle_gd(A, saddle, lr=p.lr, steps=p.stall_steps, noise=0.0,
                                               radius=p.radius, device=device)
    starts = saddle[:, None, None, :].expand(n_orders, N, p.reps, p.d).reshape(-1, p.d)
    sig = torch.tensor(p.sigmas, dtype=torch.float64)[None, :, None].expand(n_orders, N, p.reps).reshape(-1)
    noisy = landscapes.sphere_saddle_gd(A, starts, lr=p.lr, steps=p.steps, noise=sig, radius=p.radius,
                                        seed=p.seed + 1, device=device)
    escape = noisy["escape"].view(n_orders, N, p.reps)
    # a run that never escaped counts as escaping at infinity: its medians and slopes are then not finite,
    # and the chapter's claims say so (a short run is reported, not raised here)
    median = torch.where(escape < 0, math.inf, escape.double()).median(-1).values
    lnv = torch.log(1 / torch.tensor(p.sigmas, dtype=torch.float64))
    lc = lnv - lnv.mean()
    slope = ((median - median.mean(1, keepdim=True)) @ lc) / (lc @ lc)
    gamma = torch.tensor([8.0 / s for s in p.orders], dtype=torch.float64)

    U0 = torch.randn(p.inits, p.d, p.d, generator=g, dtype=torch.float64)
    U0 = U0 / U0.norm(dim=-1, keepdim=True)
    tens = landscapes.tensor_decomposition_gd(A, U0, lr=p.tensor_lr, steps=p.tensor_steps, noise=p.tensor_noise,
                                              clean_steps=p.clean_steps, seed=p.seed + 2, device=device)
    clean = landscapes.tensor_decomposition_gd(A, U0, lr=p.tensor_lr, steps=p.tensor_steps + p.clean_steps,
                                               noise=0.0, device=device)
    return {"orders": torch.tensor(p.orders), "sigmas": torch.tensor(p.sigmas, dtype=torch.float64),
            "gamma": gamma, "stall": stall["distance"], "stall_random": stall_random["distance"],
            "stall_random_escape": stall_random["escape"], "escape": escape, "median": median, "slope": slope,
            "predicted": 1 / torch.log1p(p.lr * gamma), "recovery": tens["recovery"],
            "recovery_clean": clean["recovery"], "objective": tens["objective"], "lr": p.lr,
            "params": asdict(p)}


# ------------------------------------------------------------------------------------ 3. matrix completion


@dataclass(frozen=True)
class CompletionParams(Params):
    """PSD completion: M = ZZᵀ with Z ∈ ℝ^{d×r} Gaussian, each pair (i ≤ j) observed with probability ``p``,
    ``inits`` N(0, 1) starts, GD at ``lr``/σ₁(M) for ``steps`` steps (float64)."""

    FULL: ClassVar[dict] = {"d": 300, "r": 5, "inits": 100, "steps": 3000}
    STEPS: ClassVar[tuple] = ("steps",)

    d: int = 100
    r: int = 3
    p: float = 0.3
    inits: int = 20
    lr: float = 0.2
    steps: int = 1500
    records: int = 30
    seed: int = 0

    def check(self) -> None:
        check_int("d", self.d, 2, 10**5)
        check_int("r", self.r, 1, self.d)
        check_float("p", self.p, 0, 1, lo_open=True)
        check_int("inits", self.inits, 1, 10**5)
        check_float("lr", self.lr, 0, 1, lo_open=True)
        check_int("steps", self.steps, 1, 10**7)
        check_int("records", self.records, 2, 10**4)
        check_int("seed", self.seed, 0)
        # the residual (U Uᵀ − M) ∘ mask of every start, and M, its mask and eigendecomposition
        check_memory("inits × d²", 8 * (3 * self.inits + 6) * self.d * self.d)


def _completion_cost(p: CompletionParams) -> cost.Cost:
    # float64 on the device, all starts at once: U Uᵀ (an outer product of rank r), the masked residual, and
    # R U (a product with r columns) per step; each record measures the full and the observed error
    B, d, r = p.inits, p.d, p.r
    step = (cost.small_products(B, d, r, d, f64=True) + cost.small_products(B, d, d, r, f64=True)
            + cost.passes(B * d * d, 2, f64=True, ops=2) + cost.passes(B * d * r, 3, f64=True, ops=2))
    rec = cost.small_products(B, d, r, d, f64=True) + cost.passes(B * d * d, 6, f64=True, ops=12)
    on_cpu = cost.Cost(cpu_flops=9.0 * d**3 + cost.RANDOM_DRAW_FLOPS * (d * d + B * d * r))
    return (p.steps * step + cost.records(p.steps, p.records) * rec + on_cpu
            + cost.Cost(memory=cost.F64 * (4 * B * d * d + 3 * d * d)))


@cost.model(_completion_cost)
@experiment
def completion(p: CompletionParams, *, device=None, progress: bool = False) -> dict:
    """GD on PSD matrix completion from ``inits`` random starts (one batch). Returns the solver's ``steps``,
    ``rel_err`` [T, inits] and ``train_err`` [T, inits], ``observed`` (the fraction of entries seen),
    ``dof`` (dr − r(r−1)/2), ``seconds``."""
    g = torch.Generator().manual_seed(p.seed)
    Z = torch.randn(p.d, p.r, generator=g, dtype=torch.float64)
    M = Z @ Z.T
    upper = torch.triu(torch.rand(p.d, p.d, generator=g, dtype=torch.float64) < p.p).double()
    mask = upper + torch.triu(upper, 1).T
    U0 = torch.randn(p.inits, p.d, p.r, generator=g, dtype=torch.float64)
    sigma1 = float(torch.linalg.eigvalsh(M)[-1])
    out = landscapes.psd_completion_gd(M, mask, U0, lr=p.lr / sigma1, steps=p.steps, records=p.records,
                                       device=device, progress=progress)
    return {"steps": out["steps"], "rel_err": out["rel_err"], "train_err": out["train_err"],
            "observed": float(mask.mean()), "dof": p.d * p.r - p.r * (p.r - 1) // 2,
            "seen_pairs": int(upper.sum()), "seconds": out["seconds"], "params": asdict(p)}


# ------------------------------------------------------------------------------------ 4. spurious minima


@dataclass(frozen=True)
class StudentParams(Params):
    """Safran & Shamir's setting: teacher Σ_{j≤k} relu(e_jᵀx) in d = k dimensions, x ~ N(0, I); students of
    k and k + ``extra`` units from ``inits`` starts w_i(0) ~ N(0, I/d), GD at 2/k on the closed-form
    population loss. A member is spurious when F > ``spurious_loss`` and ‖∇F‖ < ``stationary_grad``."""

    FULL: ClassVar[dict] = {"ks": (6, 8, 10, 12, 14, 16, 18, 20), "inits": 500, "steps": 20_000}
    STEPS: ClassVar[tuple] = ("steps",)

    ks: tuple = (6, 8, 10, 12)
    extra: int = 2
    inits: int = 100
    steps: int = 5000
    records: int = 20
    spurious_loss: float = 1e-5
    stationary_grad: float = 1e-6
    seed: int = 0

    def check(self) -> None:
        ks = check_ints("ks", self.ks, 2, 1000)
        extra = check_int("extra", self.extra, 1, 100)
        inits = check_int("inits", self.inits, 1, 10**5)
        check_int("steps", self.steps, 1, 10**7)
        check_int("records", self.records, 2, 10**4)
        check_float("spurious_loss", self.spurious_loss, 0, lo_open=True)
        check_float("stationary_grad", self.stationary_grad, 0, lo_open=True)
        check_int("seed", self.seed, 0)
        n = max(ks) + extra  # the largest student: its pair terms against itself and the teacher
        check_memory("inits × (max(ks) + extra)²", 8 * 8 * inits * n * (n + max(ks)))


def _students_cost(p: StudentParams) -> cost.Cost:
    # float64 on the device: for each k and each student size, `inits` students at once, one closed-form
    # loss-and-gradient per step (small batched products, then ~25 elementwise passes with an arccos over the
    # [B, n, n + k] pairs); the ±1 signs of every call are built on the CPU and copied over
    B = p.inits
    total = cost.Cost()
    for k in p.ks:
        for n in (k, k + p.extra):
            m = n + k
            call = (cost.small_products(B, n, k, m, f64=True) * 2 + cost.passes(B * n * m, 25, f64=True)
                    + cost.passes(B * m * k, 4, f64=True) + cost.Cost(ops=50, cpu_ops=3))
            total = total + (p.steps + cost.records(p.steps, p.records)) * call + cost.passes(B * n * k, 2, f64=True)
    return total + cost.Cost(cpu_flops=cost.RANDOM_DRAW_FLOPS * B * 2 * sum((k + p.extra) * k for k in p.ks))


@cost.model(_students_cost)
@experiment
def students(p: StudentParams, *, device=None, progress: bool = False) -> dict:
    """For every k, GD from ``inits`` starts (one batch per student size) at n = k and n = k + extra.

    Returns ``ks`` [K], ``loss`` [K, 2, inits] and ``grad_norm`` [K, 2, inits] (final; index 1: the extra
    units), ``spurious`` [K, 2] (the fraction F > spurious_loss with ‖∇F‖ < stationary_grad), ``start_loss``
    [K] (mean F at initialisation), ``seconds``.
    """
    g = torch.Generator().manual_seed(p.seed)
    losses, grads, start = [], [], []
    for k in p.ks:  # one batched solve per problem size (the shapes differ); inits are batched
        V = torch.eye(k, dtype=torch.float64)
        row_l, row_g = [], []
        for n in (k, k + p.extra):
            W0 = torch.randn(p.inits, n, k, generator=g, dtype=torch.float64) / math.sqrt(k)
            out = landscapes.relu_teacher_gd(W0, V, lr=2.0 / k, steps=p.steps, records=p.records, device=device,
                                             progress=progress)
            row_l.append(out["loss"][-1])
            row_g.append(out["grad_norm"][-1])
            if n == k:
                start.append(float(out["loss"][0].mean()))
        losses.append(torch.stack(row_l))
        grads.append(torch.stack(row_g))
    loss, grad = torch.stack(losses), torch.stack(grads)
    spurious = ((loss > p.spurious_loss) & (grad < p.stationary_grad)).double().mean(-1)
    return {"ks": torch.tensor(p.ks), "extra": p.extra, "loss": loss, "grad_norm": grad, "spurious": spurious,
            "start_loss": torch.tensor(start), "params": asdict(p)}


@dataclass(frozen=True)
class AffineParams(Params):
    """He, Wang & Tao's construction on n points in [−1, 1]², y = sin(3x₁)x₂ + 0.5x₁², a ReLU net of ``hidden``
    units: ``perturbations`` random moves of norm ``radius`` from the constructed point, and GD (MSE, ``lr``,
    ``steps``) from ``inits`` He-normal starts (one family)."""

    FULL: ClassVar[dict] = {"n": 1000, "hidden": 256, "steps": 20_000}
    STEPS: ClassVar[tuple] = ("steps",)
    CPU_FIT: ClassVar[dict] = {"perturbations": "half", "n": "half"}  # 8 GB of perturbed copies

    n: int = 40
    hidden: int = 16
    perturbations: int = 2000
    radius: float = 1e-2
    inits: int = 20
    lr: float = 0.05
    steps: int = 6000
    records: int = 30
    seed: int = 0

    def check(self) -> None:
        check_int("n", self.n, 4, 10**6)
        check_int("hidden", self.hidden, 1, 10**5)
        check_int("perturbations", self.perturbations, 1, 10**6)
        check_float("radius", self.radius, 0, 1, lo_open=True)
        check_int("inits", self.inits, 1, 10**5)
        check_float("lr", self.lr, 0, 0.08, lo_open=True)
        check_int("steps", self.steps, 1, 10**7)
        check_int("records", self.records, 2, 10**4)
        check_int("seed", self.seed, 0)
        # the perturbed cloud and the GD family, float64
        check_memory("(perturbations + inits) × hidden × n",
                     2 * models.training_bytes(self.perturbations + self.inits, self.n, 2, 1, self.hidden, 2))


def _load(family, point: dict) -> None:
    """Set every member of an MLP family (d → h → 1, with biases) to the parameters of ``point`` (float64)."""
    W1, b1, W2, b2 = family.params
    with torch.no_grad():
        W1.copy_(point["W1"].to(W1))
        b1.copy_(point["b1"].to(b1)[None])
        W2.copy_(point["W2"].to(W2)[:, None])
        b2.fill_(float(point["b2"]))


def _affine_minimum_cost(p: AffineParams) -> cost.Cost:
    # every family here is float64 on the device (dtype forced): the constructed point's loss and gradient,
    # one forward pass of `perturbations` perturbed copies of it, then full-batch GD from `inits` starts
    n, h = p.n, p.hidden
    sizes = (2, h, 1)
    P = cost.mlp_weights(sizes)
    one = cost.family_init(members=1, weights=P, layers=2) + cost.grad_norm(members=1, sizes=sizes, n=n)
    Q = p.perturbations
    cloud = (cost.family_init(members=Q, weights=P, layers=2)
             + cost.Cost(cpu_flops=cost.RANDOM_DRAW_FLOPS * Q * P, cpu_ops=12)
             + cost.small_products(Q, n, 2, h) + cost.passes(Q * n * h, 2) + cost.matvec(Q, n, h)
             + cost.Cost(memory=2 * Q * n * h * cost.F32))  # the hidden layer before and after its relu
    run = dict(members=p.inits, sizes=sizes, batch=n, steps=p.steps, evals=2 * n,
               records=cost.records(p.steps, p.records), optimizer="gd")
    gd = (cost.family_init(members=p.inits, weights=P, layers=2) + cost.train(**run)
          + cost.dense_extras(**run))
    return cost.as_float64(one + cloud + gd)


@cost.model(_affine_minimum_cost)
@experiment
def affine_minimum(p: AffineParams, *, device=None, progress: bool = False) -> dict:
    """The constructed point θ*: its loss against least squares, its gradient norm, the loss change under
    random perturbations (one family of ``perturbations`` members), and GD from random starts.

    Returns ``ls_loss``, ``point_loss``, ``grad_norm``, ``deltas`` [P] (L(θ* + δ) − L(θ*)), ``gd_loss``
    [inits] (final), ``gd_steps`` [T], ``gd_curves`` [T, inits], ``n_params``, ``seconds``.
    """
    g = torch.Generator().manual_seed(p.seed)
    x = torch.rand(p.n, 2, generator=g, dtype=torch.float64) * 2 - 1
    y = torch.sin(3 * x[:, 0]) * x[:, 1] + 0.5 * x[:, 0] ** 2
    point = landscapes.affine_regime_point(x, y, p.hidden)
    yy = y[:, None]

    one = models.mlp(2, 1, widths=p.hidden, seeds=[0], depth=2, device=device, dtype=torch.float64)
    _load(one, point)
    with torch.no_grad():
        point_loss = member_losses(one(x.to(one.device)), yy.to(one.device), "mse")
    grad_norm = float(grad_norm_sq(one, x, yy, "mse").sqrt())  # the probes' one gradient-norm helper
    n_params = sum(q[0].numel() for q in one.params)

    cloud = models.mlp(2, 1, widths=p.hidden, seeds=[0] * p.perturbations, depth=2, device=device,
                       dtype=torch.float64)
    _load(cloud, point)
    delta = [torch.randn(q.shape, generator=g, dtype=torch.float64) for q in cloud.params]
    norm = torch.cat([dq.flatten(1) for dq in delta], 1).norm(dim=1)
    with torch.no_grad():
        for q, dq in zip(cloud.params, delta, strict=True):
            q.add_((p.radius * dq / norm.view(-1, *[1] * (dq.ndim - 1))).to(q))
        moved = member_losses(cloud(x.to(cloud.device)), yy.to(cloud.device), "mse")
    deltas = (moved - point_loss.detach()).cpu()

    nets = models.mlp(2, 1, widths=p.hidden, seeds=list(range(p.seed + 1, p.seed + 1 + p.inits)), depth=2,
                      device=device, dtype=torch.float64)
    ds = data.Dataset(x, yy, x, yy)
    res = train.train(nets, ds, steps=p.steps, lr=p.lr, loss="mse", optimizer="gd", records=p.records,
                      progress=progress)
    return {"ls_loss": point["ls_mse"], "point_loss": float(point_loss.detach()), "grad_norm": grad_norm,
            "deltas": deltas, "gd_loss": res.train_loss[-1], "gd_steps": res.steps, "gd_curves": res.train_loss,
            "n_params": n_params, "params": asdict(p)}


# ---------------------------------------------------------------- the chapter's plan


def plan(mode: str | None = None) -> list:
    """The chapter's runs, (experiment, params), as it makes them: its cost before it starts."""
    return [(wide_nets, WideParams.preset(mode)), (saddles, SaddleParams.preset(mode)),
            (completion, CompletionParams.preset(mode)), (students, StudentParams.preset(mode)),
            (affine_minimum, AffineParams.preset(mode))]
