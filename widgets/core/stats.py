"""Statistics shared by the chapters (torch only): average ranks, Spearman's correlation, AUC, effective rank,
log-log slopes, and the first crossing of a level by a recorded curve."""

from __future__ import annotations

import math
import numbers

import torch

from widgets.core.checks import check_bool, check_choice, check_float, check_int, check_numbers


def ranks(v: torch.Tensor) -> torch.Tensor:
    """1-based ranks along the last dimension of v ([..., n]), ties sharing their average rank; +inf ranks
    last. Returns float64 of v's shape."""
    v = check_numbers("v", v)
    if v.ndim == 0:
        raise ValueError("v must have shape [..., n] (at least one dimension), got a 0-d tensor")
    v = v.detach().double()
    if torch.isnan(v).any():
        raise ValueError("v must not hold NaN (ranks need an order; ±inf is allowed)")
    srt = v.sort(-1).values.contiguous()
    v = v.contiguous()
    below = torch.searchsorted(srt, v, right=False)  # how many are strictly smaller
    upto = torch.searchsorted(srt, v, right=True)  # how many are smaller or equal
    return (below + upto + 1).double() / 2  # the mean of ranks below+1 … upto


def spearman(a, b) -> float:
    """Spearman's rank correlation of two 1-D sequences of equal length (average ranks for ties; +inf counts
    as largest). NaN when either sequence is constant, since no order exists to correlate."""
    a, b = check_numbers("a", a).flatten(), check_numbers("b", b).flatten()
    if len(a) != len(b) or len(a) < 2:
        raise ValueError(f"a and b must be two sequences of equal length ≥ 2, got lengths {len(a)} and {len(b)}")
    for name, t in (("a", a), ("b", b)):
        if t.is_floating_point() and torch.isnan(t).any():
            raise ValueError(f"{name} must not hold NaN (ranks need an order; ±inf is allowed)")
    ra, rb = ranks(a), ranks(b)
    ra, rb = ra - ra.mean(), rb - rb.mean()
    den = ra.norm() * rb.norm()
    return float((ra @ rb) / den) if den > 0 else math.nan


def auc(scores: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Area under the ROC curve of each row of ``scores`` ([n] or [K, n]) for labels y ∈ {0, 1} ([n]).

    The Mann–Whitney form: (sum of the positives' ranks − n₊(n₊+1)/2) / (n₊ n₋), with tied scores given
    their average rank, so a tie between a positive and a negative counts one half. Returns [] or [K].
    """
    scores, y = check_numbers("scores", scores), check_numbers("y", y)
    if scores.ndim not in (1, 2) or scores.shape[-1] == 0:
        raise ValueError(f"scores must have shape [n] or [K, n] with n ≥ 1, got {tuple(scores.shape)}")
    squeeze = scores.ndim == 1
    s = scores.detach().double().reshape(-1, scores.shape[-1])
    y = y.to(s.device)
    if y.ndim != 1 or len(y) != s.shape[1]:
        raise ValueError(f"y must be [n] with n = {s.shape[1]}, got shape {tuple(y.shape)}")
    if not torch.isin(y, torch.tensor([0, 1], device=y.device)).all():
        raise ValueError("y must hold labels in {0, 1}")
    pos = y == 1
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    if n_pos == 0 or n_neg == 0:
        raise ValueError("y must contain both classes for an AUC")
    if not torch.isfinite(s).all():
        raise ValueError("scores must hold only finite values, got NaN or inf")
    out = ((ranks(s) * pos).sum(1) - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
    return out[0] if squeeze else out


def effective_rank(values: torch.Tensor) -> torch.Tensor:
    """Roy & Vetterli's (2007) effective rank exp(H(p)), p = v/Σv, of a nonnegative spectrum (singular values,
    or a PSD kernel's eigenvalues) along the last dimension: [..., r] → [...]. 0·log 0 counts as 0.

    Raises ValueError for an empty spectrum, negative or non-finite values, or an all-zero spectrum (whose
    effective rank is undefined)."""
    values = check_numbers("values", values)
    if values.ndim == 0 or values.shape[-1] == 0:
        raise ValueError(f"values must hold a spectrum along the last dimension, got shape {tuple(values.shape)}")
    if not torch.isfinite(values).all() or (values < 0).any():
        raise ValueError("values must be finite and nonnegative (clamp tiny negative eigenvalues to 0 first)")
    total = values.sum(-1, keepdim=True)
    if (total == 0).any():
        raise ValueError("values holds an all-zero spectrum: its effective rank is undefined")
    p = values / total
    return torch.exp(-torch.special.xlogy(p, p).sum(-1))


def loglog_slope(x, y) -> float:
    """Least-squares slope of log y against log x, over the entries where both are finite and positive (e.g. a
    learning time of inf, never reached, is left out). Raises if fewer than two remain."""
    x, y = check_numbers("x", x, torch.float64).flatten(), check_numbers("y", y, torch.float64).flatten()
    if len(x) != len(y):
        raise ValueError(f"x and y must have the same number of entries, got {len(x)} and {len(y)}")
    ok = torch.isfinite(x) & torch.isfinite(y) & (x > 0) & (y > 0)
    if ok.sum() < 2:
        raise ValueError("x and y must have at least two entries where both are finite and positive for a "
                         f"log-log slope, got {int(ok.sum())}")
    lx, ly = x[ok].log(), y[ok].log()
    lx = lx - lx.mean()
    if float(lx @ lx) == 0:
        raise ValueError("x takes a single value over the usable points: a log-log slope needs at least two")
    return float(lx @ (ly - ly.mean()) / (lx @ lx))


def first_crossing(x, values, level: float, direction: str = "below", *, inclusive: bool = False,
                   stays: bool = False, loglog: bool = False, never: float = math.inf, dim: int = 0) -> torch.Tensor:
    """Where a recorded curve first crosses ``level``: the position x of the first record along ``dim`` at which
    ``values`` is below ``level`` (``direction="below"``) or above it (``"above"``). Returns float64 of
    values' shape without ``dim``, holding ``never`` (+inf by default) where the curve never crosses.

    ``x``: the records' positions, [T] shared (steps, sample sizes, or ``torch.arange(T)`` for indices) or
    values' own shape (one position per record and column, e.g. a second measured quantity).
    ``inclusive``: a value equal to the level counts as crossed (≤, ≥ instead of <, >).
    ``stays``: the first record from which the curve stays across until the last one.
    ``loglog``: interpolate x linearly in (log values, log x) between the last record before the crossing and
    the first one after it (both must be positive), instead of taking x at the first record past it.

    A NaN record (a diverged run) never counts as crossed, and x is returned as recorded (a NaN or
    non-positive x under ``loglog`` gives NaN there). ``level`` must be finite (positive with ``loglog``);
    ``never`` may be any number, inf or NaN included (``math.nan`` marks "never" as missing).
    """
    check_choice("direction", direction, ("below", "above"))
    check_float("level", level, 0 if loglog else None, lo_open=True)
    for name, flag in (("inclusive", inclusive), ("stays", stays), ("loglog", loglog)):
        check_bool(name, flag)
    if isinstance(never, bool) or not isinstance(never, numbers.Real):
        raise TypeError(f"never must be a number (inf and NaN allowed), got {never!r}")
    values = check_numbers("values", values)
    if values.ndim == 0:
        raise ValueError("values must have at least one dimension (the records), got a 0-d tensor")
    dim = check_int("dim", dim, -values.ndim, values.ndim - 1)
    x = check_numbers("x", x, torch.float64).to(device=values.device)
    T = values.shape[dim]
    if T == 0:
        raise ValueError(f"values must hold at least one record along dim={dim}, got shape {tuple(values.shape)}")
    if x.shape not in ((T,), values.shape):
        raise ValueError(f"x must be [{T}] or values' shape {tuple(values.shape)}, got {tuple(x.shape)}")
    v = values.movedim(dim, -1)
    xs = (x if x.ndim == 1 else x.movedim(dim, -1)).expand(v.shape)
    # compared in the values' own precision, as a loop over them would; interpolated in float64
    i, hit = _first_hit(v, level, direction, inclusive, stays)  # [...], [...]
    out = xs.gather(-1, i[..., None])[..., 0]
    if loglog:
        out = torch.where(i > 0, _loglog_at(xs, v.double(), i, level), out)
    return torch.where(hit, out, torch.full_like(out, never))


def _first_hit(v: torch.Tensor, level: float, direction: str, inclusive: bool, stays: bool):
    """Index of the first crossing record along the last axis of v [..., T] ([...] long; 0 where none) and
    whether there is one ([...] bool)."""
    if direction == "below":
        hit = v <= level if inclusive else v < level
    else:
        hit = v >= level if inclusive else v > level
    if stays:  # across from here to the end: the reversed running product of the hits
        hit = hit.flip(-1).cumprod(-1).flip(-1).bool()
    # argmax returns the first of equal maxima, so the first True of each row
    return hit.to(torch.uint8).argmax(-1), hit.any(-1)


def _loglog_at(xs: torch.Tensor, v: torch.Tensor, i: torch.Tensor, level: float) -> torch.Tensor:
    """x at the level, interpolated in (log v, log x) between records i − 1 and i (i ≥ 1). xs, v: [..., T];
    i: [...]. Where the two records have equal values, x at record i."""
    lo, hi = (i - 1).clamp_min(0)[..., None], i[..., None]
    v0, v1 = v.gather(-1, lo)[..., 0].log(), v.gather(-1, hi)[..., 0].log()
    x0, x1 = xs.gather(-1, lo)[..., 0].log(), xs.gather(-1, hi)[..., 0].log()
    w = torch.where(v1 != v0, (math.log(level) - v0) / (v1 - v0), torch.ones_like(v0))
    return torch.exp(x0 + w * (x1 - x0))

