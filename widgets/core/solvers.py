"""Solvers that are not the trainer: the closed-form or classical optimum that an experiment compares
gradient descent against, and gradient descent written by hand for models that are not families of networks
(torch and numpy). The hand-written ones record through :func:`widgets.core.train.recorded`.

* :func:`hard_margin_svm`: the max-margin direction through the origin (coordinate ascent on the dual);
* :func:`logistic_minimizer`: the finite minimiser of the logistic loss on non-separable data (Newton);
* :func:`min_nuclear_completion`: the minimum nuclear norm matrix completion (Soft-Impute);
* :func:`thin_svd`, :func:`filter_factors`, :func:`least_squares`: batched minimum-norm and ridge least
  squares through one thin SVD;
* :func:`logistic_gd`: linear logistic regression by full-batch GD, many problems at once (numpy);
* :func:`deep_factorization_gd`: GD on a product of up to three matrix factors, for matrix completion.
"""

from __future__ import annotations

import math
import time

import numpy as np
import torch

from widgets.core.checks import (
    check_bool,
    check_device,
    check_dtype,
    check_float,
    check_int,
    check_memory,
    check_sequence,
    check_tensor,
)
from widgets.core.env import get_dtype, one_cpu_thread
from widgets.core.train import recorded

# ---------------------------------------------------------------- classification: max margin and logistic


def hard_margin_svm(x: torch.Tensor, y: torch.Tensor, tol: float = 1e-10, max_iter: int = 20_000) -> dict:
    """The hard-margin SVM through the origin, min ‖w‖² s.t. yᵢ xᵢ·w ≥ 1, by coordinate ascent on its dual
    max Σα − ½‖Σ αᵢ yᵢ xᵢ‖², α ≥ 0 (exact line search per coordinate).

    x: [n, d], y: [n] in {−1, +1}. Returns ``w`` [d] (float64), ``alpha`` [n], ``margin`` = 1/‖w‖ (the
    geometric margin), ``iterations`` (sweeps). Raises ValueError if the data are not linearly separable
    through the origin (the dual is then unbounded).
    """
    x = check_tensor("x", x, ndim=2, shape="[n, d]", min_size=1)
    y = check_tensor("y", y, ndim=1, shape=f"[{len(x)}]")
    if len(y) != len(x):
        raise ValueError(f"y must have shape [{len(x)}] (one label per row of x), got {tuple(y.shape)}")
    if not ((y == 1) | (y == -1)).all():
        raise ValueError("y must hold labels in {-1, +1}")
    tol = check_float("tol", tol, 0, 1, lo_open=True)
    max_iter = check_int("max_iter", max_iter, 1, 10**7)
    z = (y[:, None] * x).to(torch.float64)
    n = len(z)
    sq = (z * z).sum(1)
    if (sq == 0).any():
        raise ValueError("x must not contain the origin (its margin is 0 for every w)")
    # Σα = ‖w‖² = 1/margin²: past this bound the margin is below 1e-4 of the shortest input, i.e. none
    bound = 1e8 / float(sq.min())
    zl, sql = z.tolist(), sq.tolist()
    a, wl = [0.0] * n, [0.0] * z.shape[1]
    change = math.inf
    sweeps = 0
    for sweeps in range(1, max_iter + 1):  # noqa: B007 (reported below)
        change = 0.0
        for i in range(n):  # plain Python: n is small and each update depends on the last
            zi = zl[i]
            step = max(-a[i], (1.0 - sum(p * q for p, q in zip(zi, wl, strict=True))) / sql[i])
            if step != 0.0:
                a[i] += step
                wl = [p + step * q for p, q in zip(wl, zi, strict=True)]
                change = max(change, abs(step) * sql[i])
        if sum(a) > bound:
            raise ValueError("the data are not linearly separable through the origin (the SVM dual is unbounded)")
        if change < tol:
            break
    if change >= tol:
        raise ValueError(f"the SVM dual did not converge in max_iter={max_iter} sweeps: the data are not linearly "
                         "separable through the origin, or barely")
    alpha, w = torch.tensor(a, dtype=torch.float64), torch.tensor(wl, dtype=torch.float64)
    w = alpha @ z  # recompute from α to wash out accumulated rounding
    return {"w": w, "alpha": alpha, "margin": float(1.0 / w.norm()), "iterations": sweeps}


def logistic_minimizer(z: torch.Tensor, iters: int = 100) -> torch.Tensor:
    """The minimiser of the mean logistic loss over w for non-separable z [n, d], by damped Newton's method
    (an independent reference for where GD should end up). Returns w [d] float64. Raises ValueError when
    the iterate separates the rows (separable z: no finite minimiser exists)."""
    z = check_tensor("z", z, ndim=2, shape="[n, d]", min_size=1)
    iters = check_int("iters", iters, 1, 10**4)
    z = z.to(torch.float64)
    w = torch.zeros(z.shape[1], dtype=torch.float64)
    for _ in range(iters):
        m = z @ w
        s = torch.sigmoid(-m)
        grad = -(z * s[:, None]).mean(0)
        hess = (z.T * (s * (1 - s))) @ z / len(z)
        step = torch.linalg.solve(hess + 1e-12 * torch.eye(len(w), dtype=w.dtype), grad)
        loss = torch.nn.functional.softplus(-m).mean()
        tau = 1.0
        while torch.nn.functional.softplus(-(z @ (w - tau * step))).mean() > loss and tau > 1e-8:
            tau /= 2
        w = w - tau * step
        if grad.norm() < 1e-14:
            break
    if bool((z @ w > 0).all()):  # w separates the rows: the loss decreases along w forever
        raise ValueError("z must not be linearly separable (some w has z·w > 0 on every row): the logistic loss "
                         "then has no finite minimiser")
    return w


# ---------------------------------------------------------------- matrix completion


def min_nuclear_completion(M: torch.Tensor, mask: torch.Tensor, iters: int = 3000,
                           lam_final: float = 1e-6) -> torch.Tensor:
    """The minimum nuclear norm completion min ‖X‖_* s.t. X = M on the mask, approximately, by Soft-Impute
    (Mazumder, Hastie & Tibshirani 2010) on λ‖X‖_* + ½‖P_Ω(X − M)‖²_F with λ decreasing geometrically to
    ``lam_final``·‖M_Ω‖ (warm-started). M, mask: [B, s, s] → X [B, s, s] (float64). Every matrix needs an
    observed nonzero entry (M_Ω ≠ 0), else λ has no scale.

    It runs on the CPU in float64 (numpy's SVD) whatever the device: it is the exact reference GD is compared
    with, its matrices are small (s ≈ 30), and a batched float64 SVD is slower on a GPU at that size."""
    M = check_tensor("M", M, ndim=3, shape="[B, s, s]", min_size=1, finite=False)
    mask = check_tensor("mask", mask, ndim=3, shape=f"{list(M.shape)}", finite=False)
    if mask.shape != M.shape:
        raise ValueError(f"mask must have M's shape {tuple(M.shape)}, got {tuple(mask.shape)}")
    lam_final = check_float("lam_final", lam_final, 0, 1, lo_open=True)
    B, rows, cols = M.shape
    check_memory(f"the completion of {B} matrices of {rows} × {cols}", 8 * 10 * B * rows * cols)
    check_tensor("M", M)
    check_tensor("mask", mask)
    if not ((mask == 0) | (mask == 1)).all():
        raise ValueError("mask must hold only 0 and 1")
    if ((M * mask).flatten(1).abs().amax(1) == 0).any():
        raise ValueError("M must have a nonzero observed entry (mask = 1) in every matrix of the batch")
    # numpy's SVD on the CPU: torch's batched float64 SVD can be many times slower with several threads, and
    # these matrices are small
    M, mask = M.detach().cpu().to(torch.float64).numpy(), mask.detach().cpu().to(torch.float64).numpy()
    iters = check_int("iters", iters, 1, 10**6)
    X = np.zeros_like(M)
    scale = np.linalg.norm(M * mask, axis=(1, 2))[:, None]
    lam0 = np.linalg.norm(M * mask, ord=2, axis=(1, 2))[:, None] / 2
    for i in range(iters):
        lam = lam0 * (lam_final * scale / lam0) ** min(1.0, i / (0.8 * iters))
        U, S, Vh = np.linalg.svd(mask * M + (1 - mask) * X, full_matrices=False)
        X = (U * np.maximum(S - lam, 0)[:, None, :]) @ Vh
    return torch.from_numpy(X)


# ---------------------------------------------------------------- least squares through one thin SVD


def thin_svd(phi: torch.Tensor, rcond: float = 1e-7):
    """Thin SVD Φ = U diag(s) Vᵀ of a batch phi: [S, n, N], from the eigendecomposition of the smaller Gram
    matrix (ΦΦᵀ or ΦᵀΦ; in float64 this keeps s to ~1e-8 relative, plenty for a pseudo-inverse and much
    faster than an SVD of a wide matrix). Returns U [S, n, r], s [S, r] (descending), V [S, N, r] with
    r = min(n, N); singular values below ``rcond`` · s_max are set to zero (the pseudo-inverse's cut-off)."""
    phi = check_tensor("phi", phi, ndim=3, shape="[S, n, N]", min_size=1, finite=False)
    if not phi.is_floating_point():
        raise TypeError(f"phi must be a floating tensor, got dtype {phi.dtype}")
    rcond = check_float("rcond", rcond, 0, 1, hi_open=True)
    S, n, N = phi.shape
    check_memory(f"the thin SVD of phi {tuple(phi.shape)}", 8 * S * (4 * min(n, N) ** 2 + 2 * max(n, N) * min(n, N)))
    check_tensor("phi", phi)
    wide = phi.shape[2] >= phi.shape[1]
    gram = phi @ phi.transpose(1, 2) if wide else phi.transpose(1, 2) @ phi
    lam, vec = torch.linalg.eigh(gram)
    lam, vec = lam.flip(-1), vec.flip(-1)
    s = lam.clamp_min(0).sqrt()
    s = torch.where(s > rcond * s[..., :1], s, torch.zeros_like(s))
    inv = torch.where(s > 0, 1 / s.clamp_min(1e-300), torch.zeros_like(s))[:, None, :]
    if wide:
        return vec, s, (phi.transpose(1, 2) @ vec) * inv
    return (phi @ vec) * inv, s, vec


def filter_factors(s: torch.Tensor, lam: float, n: int) -> torch.Tensor:
    """Spectral filter of the fit: 1/s (λ = 0: minimum norm, zero where s = 0) or s/(s² + nλ) (ridge)."""
    lam = check_float("lam", lam, 0)
    n = check_int("n", n, 1)
    s = check_tensor("s", s)
    if (s < 0).any():
        raise ValueError("s must hold singular values (≥ 0)")
    if lam == 0:
        return torch.where(s > 0, 1.0 / s.clamp_min(1e-300), torch.zeros_like(s))
    return s / (s**2 + n * lam)


def least_squares(phi: torch.Tensor, Y: torch.Tensor, lam: float = 0.0) -> torch.Tensor:
    """Minimum-norm least squares (λ = 0) or ridge, minimising ‖Φa − Y‖² + nλ‖a‖². phi: [S, n, N],
    Y: [n, c] or [S, n, c] → a: [S, N, c]."""
    lam = check_float("lam", lam, 0)
    phi = check_tensor("phi", phi, ndim=3, shape="[S, n, N]", min_size=1, finite=False)  # thin_svd checks it
    S, n, _ = phi.shape
    Y = check_tensor("Y", Y, ndim=(2, 3), shape=f"[{n}, c] or [{S}, {n}, c]")
    if (Y.ndim == 2 and Y.shape[0] != n) or (Y.ndim == 3 and Y.shape[:2] != (S, n)):
        raise ValueError(f"Y must have shape [{n}, c] or [{S}, {n}, c] (phi is {list(phi.shape)}), got "
                         f"{tuple(Y.shape)}")
    U, s, V = thin_svd(phi)
    f = filter_factors(s, lam, phi.shape[1])
    return V @ (f[..., None] * (U.transpose(1, 2) @ Y.to(phi.dtype)))


# ------------------------------------------------------ gradient descent by hand, for models that are not a family


def logistic_gd(z: torch.Tensor, lr: float, steps: int, records: int) -> dict:
    """Full-batch GD on the mean logistic loss (1/n) Σ log(1 + exp(−zᵢ·w)) from w = 0, for R problems at once.

    z: [R, n, d] the label-signed inputs yᵢxᵢ of each problem. Runs in float64 numpy on the CPU: at this
    size each step costs microseconds and the cost is per-call overhead, which numpy keeps lowest.
    Returns ``steps`` [T] (log-spaced, with 0), ``w`` [T, R, d], ``loss`` [T, R], ``grad_norm`` [T, R].
    """
    lr = check_float("lr", lr, 0, 1e6, lo_open=True)
    steps = check_int("steps", steps, 1, 10**8)
    records = check_int("records", records, 2, 10**5)
    z = check_tensor("z", z, ndim=3, shape="[R, n, d]", min_size=1)
    check_memory(f"z {tuple(z.shape)} and its records", 8 * z.numel() * 4 + 8 * records * z.shape[0] * z.shape[2])
    zs = z.detach().cpu().to(torch.float64).numpy()
    zt = np.ascontiguousarray(zs.transpose(0, 2, 1))
    R, n, d = zs.shape
    w = np.zeros((R, d, 1))

    def advance(k: int) -> None:
        for _ in range(k):
            s = 1.0 / (1.0 + np.exp(zs @ w))  # σ(−z·w), [R, n, 1]
            w[...] += (lr / n) * (zt @ s)

    def record(step: int) -> dict:
        m = (zs @ w)[..., 0]
        gnorm = np.linalg.norm((zt @ (1.0 / (1.0 + np.exp(m))[..., None]))[..., 0] / n, axis=1)
        return {"w": torch.from_numpy(w[..., 0].copy()), "loss": torch.from_numpy(np.logaddexp(0.0, -m).mean(1)),
                "grad_norm": torch.from_numpy(gnorm)}

    return recorded(steps, records, advance, record)


def deep_factorization_gd(M, mask, *, depth, init, seeds, lr: float, steps: int, records: int, device=None,
                          dtype=None, progress: bool = False) -> dict:
    """GD on ½‖P_Ω(W_N ⋯ W_1 − M)‖²_F for K members at once (one per entry of ``depth``, ``init``, ``seeds``).

    M, mask: [K, s, s] (each member its own problem). Every member holds three factors; a member of depth
    N < 3 keeps the last 3 − N at the identity and never updates them, so all depths run in one bmm chain.
    Returns ``steps`` [T], ``singular_values`` [T, K, s], ``train_err``/``test_err`` [T, K] (relative
    Frobenius error on observed/unobserved entries), ``W`` [K, s, s] (the final product), ``seconds``.
    ``test_err`` is NaN for a member whose mask observes every entry, or whose M is zero off the mask (there
    is nothing unobserved to measure); the observed part of M must be nonzero. A learning rate too large for
    the problem diverges: its records then hold inf or NaN.
    """
    dev = check_device("device", device)
    dt = get_dtype(dev, check_dtype("dtype", dtype))
    M = check_tensor("M", M, ndim=3, shape="[K, s, s]", min_size=1, finite=False)
    mask = check_tensor("mask", mask, ndim=3, shape=f"{list(M.shape)}", finite=False)
    if M.shape[1] != M.shape[2] or mask.shape != M.shape:
        raise ValueError(f"M and mask must both have shape [K, s, s], got {tuple(M.shape)} and {tuple(mask.shape)}")
    K, s, _ = M.shape
    lr = check_float("lr", lr, 0, 1e4, lo_open=True)
    steps = check_int("steps", steps, 0, 10**8)
    records = check_int("records", records, 2, 10**5)
    check_bool("progress", progress)
    depth = [check_int("depth", d, 1, 3) for d in check_sequence("depth", depth, K)]
    init = check_sequence("init", init, K)
    seeds = [check_int("seeds[i]", sd, 0) for sd in check_sequence("seeds", seeds, K)]
    check_memory(f"the factorization of {K} matrices of {s} × {s}", 8 * K * s * (14 * s + records))
    check_tensor("M", M)
    check_tensor("mask", mask)
    if not ((mask == 0) | (mask == 1)).all():
        raise ValueError("mask must hold only 0 and 1")
    if ((M * mask).flatten(1).abs().amax(1) == 0).any():
        raise ValueError("M must have a nonzero observed entry (mask = 1) for every member")
    inits = [check_float("init", c, 0, 1e3, lo_open=True) for c in init]
    eye = torch.eye(s, dtype=torch.float64)
    Ws = torch.zeros(3, K, s, s, dtype=torch.float64)
    for k, (d, c, sd) in enumerate(zip(depth, init, seeds, strict=True)):
        g = torch.Generator().manual_seed(int(sd))
        c = inits[k]
        for i in range(3):
            draw = torch.randn(s, s, generator=g, dtype=torch.float64) * (c / math.sqrt(s))
            Ws[i, k] = draw if i < d else eye
    W1, W2, W3 = (w.to(dev, dt) for w in Ws)
    train = torch.tensor([[1.0 if i < d else 0.0 for i in range(3)] for d in depth], device=dev, dtype=dt)
    t1, t2, t3 = (lr * train[:, i, None, None] for i in range(3))
    M, mask = M.to(dev, dt), mask.to(dev, dt)
    unseen = 1 - mask
    m_seen, m_unseen = (M * mask).norm(dim=(1, 2)), (M * unseen).norm(dim=(1, 2))
    W = [W1, W2, W3]

    def advance(k: int) -> None:
        W1, W2, W3 = W
        for _ in range(k):
            W21 = torch.bmm(W2, W1)
            R = (torch.bmm(W3, W21) - M) * mask
            W32 = torch.bmm(W3, W2)
            g1 = torch.bmm(W32.transpose(1, 2), R)
            g2 = torch.bmm(torch.bmm(W3.transpose(1, 2), R), W1.transpose(1, 2))
            g3 = torch.bmm(R, W21.transpose(1, 2))
            W1 = W1 - t1 * g1
            W2 = W2 - t2 * g2
            W3 = W3 - t3 * g3
        W[:] = [W1, W2, W3]

    def record(step: int) -> dict:
        prod = torch.bmm(W[2], torch.bmm(W[1], W[0]))
        return {"singular_values": torch.linalg.svdvals(prod.double()).cpu(),
                "train_err": ((prod - M) * mask).norm(dim=(1, 2)).div(m_seen).cpu(),
                "test_err": ((prod - M) * unseen).norm(dim=(1, 2)).div(m_unseen).cpu()}

    t0 = time.perf_counter()
    with one_cpu_thread(dev):
        out = recorded(steps, records, advance, record, progress=progress)
    W1, W2, W3 = W
    out.update(W=torch.bmm(W3, torch.bmm(W2, W1)).cpu(), seconds=time.perf_counter() - t0)
    return out
