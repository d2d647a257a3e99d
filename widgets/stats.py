"""Rank statistics shared by the chapters (torch only): average ranks, Spearman's correlation, AUC."""

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
