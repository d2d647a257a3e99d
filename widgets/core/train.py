"""The one training loop: a whole family of K networks trained as one computation.

The loss of the family is the sum of the members' losses, so one backward pass gives every member its own
gradient. Everything that varies between experiments is data handed to this loop, never a copy of it:

* the update rule (:mod:`widgets.core.optim`: gradient descent, SGD with momentum, AdamW), with per-member
  learning rates and weight decays;
* per-member step budgets (member k stops after ``steps[k]``: equal time lr × steps across learning rates);
* an objective hook (e.g. :func:`widgets.core.hooks.gradient_penalty`, :func:`widgets.core.hooks.spectral_penalty`,
  :func:`widgets.core.hooks.sam`) and a perturbation hook applied to each batch (e.g.
  :func:`widgets.core.hooks.pgd`, for adversarial training);
* the family's own training-time behavior: dropout (:func:`widgets.core.models.mlp`), active only inside each
  step's objective and gradient (``family.stepping()``), never in the records or probes;
* shared data, or one dataset per member (inputs [K, n, d] and/or targets with a leading K axis);
* the family's layout: stacked and padded (:func:`widgets.core.models.mlp`) or packed
  (:func:`widgets.core.models.packed_mlp`), through ``family.broadcast``;
* how a step runs: eagerly (the default), or with its loss, backward and update compiled by ``torch.compile``
  (``compile=True``, :mod:`widgets.core.compiled`; faster, not bit-identical).

Minibatches follow one scheme for the whole book: each member draws its own permutation of the training
set (from its seed), walks through it in batches of ``batch_size``, and reshuffles when fewer than
``batch_size`` points are left (the remainder of an epoch is dropped). Records are taken on the schedule of
:func:`record_marks`: log-spaced (the default) or evenly spaced, per member.
"""

from __future__ import annotations

import contextlib
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import MISSING, dataclass, field, fields

import torch

from widgets.core import compiled, optim
from widgets.core.checks import (
    check_bool,
    check_choice,
    check_device,
    check_float,
    check_instance,
    check_int,
    check_ints,
    check_memory,
    check_sequence,
    check_tensor,
)
from widgets.core.data import Dataset
from widgets.core.losses import loss_kind, member_accuracy, member_losses

SPACINGS = ("log", "linear")


def log_steps(steps: int, n: int) -> list[int]:
    """About ``n`` distinct record points 0 = s_0 < … < s_last = steps, spaced geometrically."""
    steps, n = check_int("steps", steps, 0), check_int("records", n, 2, 10**5)
    if steps == 0:
        return [0]
    pts = {0, steps}
    if n > 2:
        pts.update(round(steps ** (i / (n - 2))) for i in range(n - 1))
    return sorted(p for p in pts if 0 <= p <= steps)


def record_marks(steps: Sequence[int], records: int, spacing: str = "log") -> torch.Tensor:
    """The record schedule of every member: [R, K] long, entry (r, k) the step of member k's r-th record, −1
    where member k has fewer than R records.

    ``steps``: each member's own budget. ``"log"``: :func:`log_steps` of each budget (distinct points).
    ``"linear"``: ``round(r · steps_k / (R − 1))`` for r = 0 … R − 1 with R = ``records``, so row r is the
    same *fraction* of every member's run (points may repeat for tiny budgets).
    """
    check_choice("spacing", spacing, SPACINGS)
    records = check_int("records", records, 2, 10**5)
    steps = check_ints("steps", steps, 0, 10**8)  # one budget per member
    check_memory(f"the record schedule of {len(steps)} members × {records} records", 8 * 2 * len(steps) * records)
    if spacing == "linear":
        return torch.tensor([[round(r * s / (records - 1)) for s in steps] for r in range(records)])
    cols = [log_steps(s, records) for s in steps]
    R = max(len(c) for c in cols)
    return torch.tensor([[c[r] if r < len(c) else -1 for c in cols] for r in range(R)])


def recorded(steps: int, records: int, advance: Callable[[int], None], record: Callable[[int], dict],
             spacing: str = "log", progress: bool = False) -> dict:
    """The record scheduler of the solvers that are not the trainer (closed-form updates, hand gradients):
    ``advance(n)`` runs n more steps, ``record(step)`` returns a dict of tensors at that point.

    Returns ``steps`` [T] and, for each key of ``record``, its values stacked along a leading [T] axis.
    """
    for name, fn in (("advance", advance), ("record", record)):
        if not callable(fn):
            raise TypeError(f"{name} must be a function, got {type(fn).__name__}")
    check_bool("progress", progress)
    at = record_marks([steps], records, spacing)[:, 0].tolist()
    log: dict[str, list] = {}
    bar = _bar(at[-1], "solving", progress)
    t = 0
    for target in at:
        advance(target - t)
        if bar is not None:
            bar.update(target - t)
        t = target
        values = record(t)
        if not isinstance(values, dict) or not all(isinstance(v, torch.Tensor) for v in values.values()):
            raise ValueError(f"record must return a dict of tensors, got {type(values).__name__}")
        for key, value in values.items():
            log.setdefault(key, []).append(value)
    if bar is not None:
        bar.close()
    return {"steps": torch.tensor(at), **{k: torch.stack(v) for k, v in log.items()}}


def _bar(total: int, desc: str, show: bool):
    """A tqdm progress bar over ``total`` steps, or None when not shown."""
    if not show:
        return None
    from tqdm.auto import tqdm  # presentation nicety; torch itself depends on tqdm

    return tqdm(total=total, desc=desc, leave=False)


@dataclass
class TrainResult:
    """What a family's training produced, on the CPU.

    ``steps``: [T] the optimizer steps at which records were taken (0 = initialisation), or [T, K] when
    members have their own step budgets (each member's own steps; −1 where it has no record).
    ``train_loss``, ``test_loss``, ``train_acc``, ``test_acc``: [T, K] (accuracy is NaN for MSE on a
    single output; NaN where a member has no record). ``probes``: name → [T, K, ...] as returned by each
    probe. ``params``: the final parameters, [K, ...] each. ``diverged``: [K] bool, members whose loss
    became non-finite. ``config``: the training settings; ``seconds``: wall time.
    """

    steps: torch.Tensor
    train_loss: torch.Tensor
    test_loss: torch.Tensor
    train_acc: torch.Tensor
    test_acc: torch.Tensor
    probes: dict[str, torch.Tensor]
    params: list[torch.Tensor]
    diverged: torch.Tensor
    config: dict = field(default_factory=dict)
    seconds: float = 0.0

    def to_state(self) -> dict:
        return dict(self.__dict__)

    @classmethod
    def from_state(cls, state: dict) -> TrainResult:
        """The result :meth:`to_state` stored."""
        check_instance("state", state, dict, "the dict of TrainResult.to_state")
        names = {f.name for f in fields(cls)}
        if not {f.name for f in fields(cls) if f.default is MISSING and f.default_factory is MISSING} <= state.keys() \
                or not state.keys() <= names:
            raise ValueError(f"state must hold TrainResult's fields {sorted(names)}, got {sorted(state)}")
        return cls(**state)


def _per_member_targets(y: torch.Tensor, loss) -> bool:
    """Targets are per member when they carry a leading K axis: [K, n, o] for squared-error-like losses
    (shared: [n] or [n, o]), [K, n] for class labels (shared: [n])."""
    return y.ndim == (2 if loss_kind(loss) in ("multiclass", "binary") else 3)


def _check_data(data: Dataset, loss, K: int, d_out: int | None = None) -> None:
    """Inputs are shared [n, d] or per member [K, n, d]; targets shared or per member (see
    :func:`_per_member_targets`), each split on its own; every shape must agree, and nothing may be NaN.
    With the family's output size ``d_out`` known, targets must fit it: regression targets have d_out
    columns (no silent broadcasting of [n, o] targets against one output), class labels lie in [0, d_out),
    and ±1 labels need one output."""
    kind = loss_kind(loss)
    for split in ("train", "test"):
        x, y = getattr(data, f"x_{split}"), getattr(data, f"y_{split}")
        if x.ndim not in (2, 3) or (x.ndim == 3 and len(x) != K):
            raise ValueError(f"x_{split} must be [n, d] (shared) or [K={K}, n, d] (one dataset per member), "
                             f"got {tuple(x.shape)}")
        if _per_member_targets(y, loss) and len(y) != K:
            raise ValueError(f"y_{split} has a leading member axis of {len(y)}, the family has K={K} members")
        n_x = x.shape[-2] if x.ndim == 3 else len(x)
        n_y = y.shape[1] if _per_member_targets(y, loss) else len(y)
        if n_x != n_y:
            raise ValueError(f"x_{split} holds {n_x} points but y_{split} holds {n_y} ({tuple(y.shape)})")
        if split == "train" and n_x == 0:
            raise ValueError("x_train holds no training points")
        if not torch.isfinite(x).all():
            raise ValueError(f"x_{split} holds NaN or inf")
        if kind == "multiclass" and y.dtype != torch.int64:
            raise ValueError(f"loss={loss!r} needs int64 class labels in y_{split}, got {y.dtype}")
        if kind == "binary" and not torch.isin(y.float(), torch.tensor([-1.0, 1.0], device=y.device)).all():
            raise ValueError(f"loss={loss!r} needs labels in {{-1, +1}} in y_{split}")
        if kind != "multiclass" and not torch.isfinite(y.float()).all():
            raise ValueError(f"y_{split} holds NaN or inf")
        if d_out is None or y.numel() == 0:
            continue
        if kind == "regression":
            cols = 1 if y.ndim == (2 if _per_member_targets(y, loss) else 1) else y.shape[-1]
            if cols != d_out:
                raise ValueError(f"y_{split} {tuple(y.shape)} has {cols} target column(s), but the family has "
                                 f"{d_out} output(s): give one target per output")
        elif kind == "multiclass" and (int(y.min()) < 0 or int(y.max()) >= d_out):
            raise ValueError(f"y_{split} holds class labels in [{int(y.min())}, {int(y.max())}], but the family's "
                             f"{d_out} outputs allow labels in [0, {d_out - 1}]")
        elif kind == "binary" and d_out != 1:
            raise ValueError(f"loss={loss!r} takes ±1 labels on one output, but the family has {d_out} outputs")


def per_member(name: str, value, K: int, lo: float, hi: float, device, dtype) -> torch.Tensor:
    """One number, or one per member, checked against [lo, hi] (a clear ValueError naming ``name``) → [K]."""
    K = check_int("K", K, 1)
    vals = [value] * K if isinstance(value, int | float) else check_sequence(name, value)
    if len(vals) != K:
        raise ValueError(f"{name} must be a number or a list of {K} (one per member), got {len(vals)}")
    vals = [check_float(name, v, lo, hi) for v in vals]
    return torch.tensor(vals, device=device, dtype=dtype)


class Batches:
    """The book's one minibatch scheme: member k walks through its own permutation of the n training points
    (drawn from ``seeds[k]``) in batches of ``size`` and reshuffles when fewer than ``size`` are left.

    Each member's generator lives on the training device, so a reshuffle is drawn there, with no host copy
    in the training loop (the CPU draws what it always drew; a GPU draws its own permutations)."""

    def __init__(self, n: int, size: int, seeds: Sequence[int], device):
        n = check_int("n", n, 1)
        size = check_int("size", size, 1, n)
        seeds = check_ints("seeds", seeds, 0)
        device = check_device("device", device)
        self.n, self.size, self.device = n, size, device
        self.gens = [torch.Generator(device=device).manual_seed(s + 1_000_003) for s in seeds]
        self.order, self.cursor = None, n

    def next(self) -> torch.Tensor:
        """Indices of the next batch of every member: [K, size] long."""
        if self.cursor + self.size > self.n:
            self.order = torch.stack([torch.randperm(self.n, generator=g, device=self.device) for g in self.gens])
            self.cursor = 0
        idx = self.order[:, self.cursor:self.cursor + self.size]
        self.cursor += self.size
        return idx


def _take(t: torch.Tensor, idx: torch.Tensor, per_member: bool) -> torch.Tensor:
    """Rows ``idx`` [K, B] of shared data [n, ...] or of per-member data [K, n, ...] → [K, B, ...]."""
    if per_member:
        return t[torch.arange(len(idx), device=idx.device)[:, None], idx]
    return t[idx]


def _as_columns(data: Dataset, loss) -> Dataset:
    """Shared regression targets of a single output get an output axis ([n] → [n, 1]), so a batch's
    targets are [K, B, 1] like the outputs."""
    if callable(loss) or loss_kind(loss) != "regression" or data.y_train.ndim != 1:
        return data
    return Dataset(data.x_train, data.y_train[:, None], data.x_test, data.y_test[:, None], data.n_classes)


def train(family, data: Dataset, *, steps: int | Sequence[int], lr: float | Sequence[float],
          loss: str | Sequence[str] | Callable = "mse", optimizer="adam", weight_decay: float | Sequence[float] = 0.0,
          momentum: float = 0.0, batch_size: int | None = None, records: int = 30, spacing: str = "log",
          probes: dict[str, Callable] | None = None, objective: Callable | None = None,
          perturb: Callable | None = None, progress: bool = False, betas: tuple[float, float] = (0.9, 0.999),
          eps: float = 1e-8, compile: bool = False) -> TrainResult:
    """Train every member of ``family`` on ``data`` for ``steps`` optimizer steps, in place.

    ``steps``: one budget, or one per member (member k stops after ``steps[k]``; its lr is zero after).
    ``lr`` and ``weight_decay``: one number or one per member. ``loss``: a name of
    :data:`widgets.core.losses.LOSSES` (``"huber:0.2"`` with its parameter), one per member (a list, all
    taking the same kind of target), or a callable ``(out, y) → [K]``. ``optimizer``: ``"gd"`` (full batch),
    ``"sgd"`` (minibatches of ``batch_size``, see :class:`Batches`; heavy-ball ``momentum``), ``"adam"``
    (AdamW), or a rule of :mod:`widgets.core.optim`. Weight decay in gd/sgd adds ``weight_decay · θ`` to the
    gradient; in Adam it is decoupled.

    Hooks: ``objective(family, x, y) → [K]`` replaces the mean loss as what each member minimizes (the
    records still report the plain loss); ``perturb(family, x, y) → x'`` rewrites each batch's inputs before
    the step (adversarial training). ``probes``: name → function of the family returning a tensor with a
    leading K axis, evaluated at every record; ``records`` and ``spacing``: see :func:`record_marks`.

    ``data``: inputs [n, d] shared by all members or [K, n, d] (one dataset per member); targets shared
    ([n] or [n, o]; class labels [n]) or per member ([K, n, o]; class labels [K, n]). Returns a
    :class:`TrainResult` on the CPU.

    ``compile=True``: each step's loss, forward and backward, and the update run through ``torch.compile`` (see
    :mod:`widgets.core.compiled`): the same loop and arithmetic, float32 results within rounding of the eager
    ones (not bit-identical), 1.4-1.6x faster per step on the CPU after a compile of a few seconds per new
    structure (``seconds`` includes it). Not with an ``objective`` hook (ValueError); ``perturb``, probes and
    the records run eagerly. Not with dropout either (ValueError: its masks come from per-member generators on
    the host). Raises a RuntimeError if ``torch.compile`` cannot run here (no fallback).

    A family with a ``stepping()`` context (:class:`widgets.core.models.Family`) is in training mode only while
    each step's objective and gradient are computed: its dropout masks are drawn there and nowhere else.
    """
    check_instance("data", data, Dataset, "a widgets.core.data.Dataset")
    for name in ("params", "masks", "seeds", "broadcast", "size", "device"):  # what the loop reads off it
        if not hasattr(family, name):
            raise TypeError(f"family must be a family of models (models.mlp, models.cnn, models.packed_mlp, "
                            f"landscapes.du_network), got {type(family).__name__}")
    if probes is not None and (not isinstance(probes, dict) or not all(
            isinstance(k, str) and callable(v) for k, v in probes.items())):
        raise TypeError("probes must be a dict of name → function of the family")
    for name, hook in (("objective", objective), ("perturb", perturb)):
        if hook is not None and not callable(hook):
            raise TypeError(f"{name} must be None or a function (family, x, y), got {type(hook).__name__}")
    check_bool("progress", progress)
    if not callable(loss):
        loss_kind(loss)  # a ValueError naming a bad loss or parameter
        if not isinstance(loss, str):
            loss = tuple(loss)
            if len(loss) != family.size:
                raise ValueError(f"loss must be one name or a list of {family.size} (one per member), "
                                 f"got {len(loss)}")
    if not isinstance(compile, bool):
        raise ValueError(f"compile must be True or False, got {compile!r}")
    if compile and objective is not None:
        raise ValueError("compile=True does not support an objective hook (compiled graphs have no double "
                         "backward, which e.g. hooks.gradient_penalty needs): use compile=False")
    if compile and getattr(family, "dropout", None) is not None:
        raise ValueError("compile=True does not support dropout (each member draws its masks from its own "
                         "generator on the host): use compile=False")
    rule = optim.rule(optimizer, momentum=momentum, betas=betas, eps=eps)
    K, dev, dt = family.size, family.device, family.params[0].dtype
    budgets = [steps] * K if isinstance(steps, int) else list(steps)
    if len(budgets) != K:
        raise ValueError(f"steps must be a number or a list of {K} (one per member), got {len(budgets)}")
    budgets = [check_int("steps", s, 0, 10**8) for s in budgets]
    total_steps = max(budgets)
    _check_data(data, loss, K, getattr(family, "info", {}).get("d_out"))
    per_x = data.x_train.ndim == 3
    per_y = _per_member_targets(data.y_train, loss)
    n = data.x_train.shape[-2] if per_x else len(data.x_train)
    if batch_size is not None:
        if optimizer == "gd":
            raise ValueError("optimizer='gd' is full-batch: leave batch_size=None, or use optimizer='sgd'")
        batch_size = check_int("batch_size", batch_size, 1, n)
        if callable(loss):
            raise ValueError("a callable loss sees the whole training set: leave batch_size=None")
    lrs = per_member("lr", lr, K, 0, 1e6, dev, dt)
    wds = per_member("weight_decay", weight_decay, K, 0, 1e6, dev, dt)
    data = _as_columns(data.to(dev), loss)
    probes = probes or {}
    objective = objective or (lambda fam, x, y: member_losses(fam(x), y, loss))
    if compile:
        compiled.check_available(dev)

    params = family.params
    padded = [bool((m == 0).any()) for m in family.masks]  # members of different widths share one tensor
    lr_b = family.broadcast(lrs)
    wd_b = family.broadcast(wds) if bool((wds > 0).any()) else None
    budget = torch.tensor(budgets, device=dev)
    stops = set(budgets) - {total_steps}  # steps after which some member's lr drops to zero
    state = rule.init(params)
    if compile:  # the same step, compiled: gradients of Σ_k loss_k, then the rule's update
        step_grads, update = compiled.step_grads(family, loss), compiled.update(rule)
    else:
        def step_grads(x, y):
            return torch.autograd.grad(objective(family, x, y).sum(), params)

        update = rule.update
    batches = Batches(n, batch_size, family.seeds, dev) if batch_size is not None else None
    stepping = getattr(family, "stepping", contextlib.nullcontext)

    marks = record_marks(budgets, records, spacing)  # [R, K]
    R = len(marks)
    log = {k: torch.full((R, K), float("nan"), dtype=dt) for k in ("train_loss", "test_loss", "train_acc",
                                                                   "test_acc")}
    probe_log: dict[str, torch.Tensor] = {}
    due = {}  # step → (rows, cols) of the records taken then
    for r, k in (marks >= 0).nonzero().tolist():
        rows, cols = due.setdefault(int(marks[r, k]), ([], []))
        rows.append(r)
        cols.append(k)

    def record(step: int) -> None:
        rows, cols = (torch.tensor(v) for v in due[step])
        with torch.no_grad():
            for split in ("train", "test"):
                x, y = getattr(data, f"x_{split}"), getattr(data, f"y_{split}")
                out = family(x)
                log[f"{split}_loss"][rows, cols] = member_losses(out, y, loss).cpu().to(dt)[cols]
                log[f"{split}_acc"][rows, cols] = member_accuracy(out, y, loss).cpu().to(dt)[cols]
        for name, fn in probes.items():
            value = fn(family)
            if not isinstance(value, torch.Tensor) or value.shape[:1] != (K,):
                raise ValueError(f"probe {name!r} must return a tensor with a leading axis of size {K}")
            value = value.detach().cpu()
            if name not in probe_log:
                fill = float("nan") if value.is_floating_point() or value.is_complex() else 0
                probe_log[name] = torch.full((R, *value.shape), fill, dtype=value.dtype)
            probe_log[name][rows, cols] = value[cols]

    bar = _bar(total_steps, f"training {K} models", progress)
    t0 = time.perf_counter()
    for t in range(total_steps + 1):
        if t in due:
            record(t)
        if t == total_steps:
            break
        if t in stops:  # members whose budget is spent stop moving
            lr_b = family.broadcast(lrs * (t < budget).to(dt))
        if batches is None:
            xb, yb = data.x_train, data.y_train
        else:
            idx = batches.next()
            xb, yb = _take(data.x_train, idx, per_x), _take(data.y_train, idx, per_y)
        if perturb is not None:
            xb = perturb(family, xb, yb)
        with stepping():  # dropout, if any, is active here only
            grads = step_grads(xb, yb)
        grads = [g * m if pad else g for g, m, pad in zip(grads, family.masks, padded, strict=True)]
        update(params, grads, state, t + 1, lr_b, wd_b)
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    seconds = time.perf_counter() - t0

    diverged = (~torch.isfinite(log["train_loss"]) & (marks >= 0)).any(0)
    if diverged.any():
        warnings.warn(f"{int(diverged.sum())} of {K} members diverged (non-finite loss); "
                      "they are marked in TrainResult.diverged", RuntimeWarning, stacklevel=2)
    config = {"steps": budgets if len(set(budgets)) > 1 else total_steps, "lr": lrs.tolist(),
              "weight_decay": wds.tolist(),
              "loss": loss if isinstance(loss, str) else list(loss) if isinstance(loss, tuple)
              else getattr(loss, "__name__", "custom"),
              "optimizer": optimizer if isinstance(optimizer, str) else type(rule).__name__, "momentum": momentum,
              "batch_size": batch_size, "widths": list(family.widths), "seeds": list(family.seeds),
              "device": str(dev)}
    if compile:
        config["compile"] = True
    if getattr(family, "dropout", None) is not None:
        config["dropout"] = family.dropout.tolist()
    step_index = marks[:, 0] if len(set(budgets)) == 1 else marks
    return TrainResult(
        steps=step_index.clone(), probes=probe_log, diverged=diverged, config=config, seconds=seconds,
        params=[p.detach().cpu().clone() for p in params], **log)


def device_copies(*tensors: torch.Tensor) -> Callable[[torch.device], tuple]:
    """``on(device)`` → the tensors on ``device``, copied there the first time it is asked for and kept: a
    probe's fixed inputs cross to the GPU once, not at every record."""
    copies: dict = {}

    def on(device) -> tuple:
        key = str(device)
        if key not in copies:
            copies[key] = tuple(t.to(device) for t in tensors)
        return copies[key]

    return on


def outputs_on(x: torch.Tensor) -> Callable:
    """A probe recording every member's outputs on fixed inputs x: [m, d] → [K, m, out]."""
    x = check_tensor("x", x, ndim=(2, 3), shape="[m, d]", min_size=1)
    on = device_copies(x)

    def probe(family) -> torch.Tensor:
        with torch.no_grad():
            return family(on(family.device)[0])

    return probe

