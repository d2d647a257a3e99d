"""Statistics shared by the chapters (torch only): average ranks, Spearman's correlation, AUC, effective rank."""

from __future__ import annotations

import math

import torch


def ranks(v: torch.Tensor) -> torch.Tensor:
    """1-based ranks along the last dimension of v ([..., n]), ties sharing their average rank; +inf ranks
    last. Returns float64 of v's shape."""
    v = torch.as_tensor(v).detach().double()
    if torch.isnan(v).any():
        raise ValueError("ranks: values hold NaN")
    srt = v.sort(-1).values.contiguous()
    v = v.contiguous()
    below = torch.searchsorted(srt, v, right=False)  # how many are strictly smaller
    upto = torch.searchsorted(srt, v, right=True)  # how many are smaller or equal
    return (below + upto + 1).double() / 2  # the mean of ranks below+1 … upto


def spearman(a, b) -> float:
    """Spearman's rank correlation of two 1-D sequences of equal length (average ranks for ties; +inf counts
    as largest). NaN when either sequence is constant, since no order exists to correlate."""
    a, b = torch.as_tensor(a).flatten(), torch.as_tensor(b).flatten()
    if len(a) != len(b) or len(a) < 2:
        raise ValueError(f"spearman needs two sequences of equal length ≥ 2, got {len(a)} and {len(b)}")
    ra, rb = ranks(a), ranks(b)
    ra, rb = ra - ra.mean(), rb - rb.mean()
    den = ra.norm() * rb.norm()
    return float((ra @ rb) / den) if den > 0 else math.nan


def auc(scores: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Area under the ROC curve of each row of ``scores`` ([n] or [K, n]) for labels y ∈ {0, 1} ([n]).

    The Mann–Whitney form: (sum of the positives' ranks − n₊(n₊+1)/2) / (n₊ n₋), with tied scores given
    their average rank, so a tie between a positive and a negative counts one half. Returns [] or [K].
    """
    squeeze = scores.ndim == 1
    s = scores.detach().double().reshape(-1, scores.shape[-1])
    y = torch.as_tensor(y).to(s.device)
    if y.ndim != 1 or len(y) != s.shape[1]:
        raise ValueError(f"y must be [n] with n = {s.shape[1]}, got shape {tuple(y.shape)}")
    if not torch.isin(y, torch.tensor([0, 1], device=y.device)).all():
        raise ValueError("y must hold labels in {0, 1}")
    pos = y == 1
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    if n_pos == 0 or n_neg == 0:
        raise ValueError("y must contain both classes for an AUC")
    if not torch.isfinite(s).all():
        raise ValueError("scores hold NaN or inf")
    out = ((ranks(s) * pos).sum(1) - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
    return out[0] if squeeze else out


def effective_rank(values: torch.Tensor) -> torch.Tensor:
    """Roy & Vetterli's (2007) effective rank exp(H(p)), p = v/Σv, of a nonnegative spectrum (singular values,
    or a PSD kernel's eigenvalues) along the last dimension: [..., r] → [...]. 0·log 0 counts as 0."""
    p = values / values.sum(-1, keepdim=True).clamp_min(1e-300)
    return torch.exp(-torch.special.xlogy(p, p).sum(-1))


def loglog_slope(x, y) -> float:
    """Least-squares slope of log y against log x, over the entries where both are finite and positive (e.g. a
    learning time of inf, never reached, is left out). Raises if fewer than two remain."""
    x, y = torch.as_tensor(x, dtype=torch.float64).flatten(), torch.as_tensor(y, dtype=torch.float64).flatten()
    ok = torch.isfinite(x) & torch.isfinite(y) & (x > 0) & (y > 0)
    if ok.sum() < 2:
        raise ValueError("need at least two finite positive points for a log-log slope")
    lx, ly = x[ok].log(), y[ok].log()
    lx = lx - lx.mean()
    return float(lx @ (ly - ly.mean()) / (lx @ lx))
