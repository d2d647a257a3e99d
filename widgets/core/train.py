"""Train a whole family of K networks as one computation, recording at log-spaced steps.

The loss of the family is the sum of the members' losses, so one backward pass gives every member its own
gradient; the optimizers below are written on the stacked tensors with per-member learning rates and
weight decays. Members differ in seed, width, init scale, learning rate and weight decay; they share the
data, the loss, the optimizer kind, the batch size and the number of steps.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch

from widgets.core.checks import check_choice, check_float, check_int
from widgets.core.data import Dataset
from widgets.core.losses import LOSSES, member_accuracy, member_losses
from widgets.core.models import Family

OPTIMIZERS = ("gd", "sgd", "adam")


def log_steps(steps: int, n: int) -> list[int]:
    """About ``n`` distinct record points 0 = s_0 < … < s_last = steps, spaced geometrically."""
    steps, n = check_int("steps", steps, 0), check_int("records", n, 2, 10**5)
    if steps == 0:
        return [0]
    pts = {0, steps}
    if n > 2:
        pts.update(round(steps ** (i / (n - 2))) for i in range(n - 1))
    return sorted(p for p in pts if 0 <= p <= steps)


@dataclass
class TrainResult:
    """What a family's training produced, on the CPU.

    ``steps``: [T] the optimizer steps at which records were taken (0 = initialisation).
    ``train_loss``, ``test_loss``, ``train_acc``, ``test_acc``: [T, K] (accuracy is NaN for MSE on a
    single output). ``probes``: name → [T, K, ...] as returned by each probe. ``params``: the final
    parameters, [K, ...] each. ``diverged``: [K] bool, members whose loss became non-finite.
    ``config``: the training settings; ``seconds``: wall time.
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
        return cls(**state)


def _check_targets(data: Dataset, loss, family: Family) -> None:
    if callable(loss):
        loss = "mse"
    for name, y in (("y_train", data.y_train), ("y_test", data.y_test)):
        if loss == "cross_entropy" and y.dtype != torch.int64:
            raise ValueError(f"loss='cross_entropy' needs int64 class labels in {name}, got {y.dtype}")
        if loss == "logistic":
            if not torch.isin(y.float(), torch.tensor([-1.0, 1.0], device=y.device)).all():
                raise ValueError(f"loss='logistic' needs labels in {{-1, +1}} in {name}")
        if loss != "cross_entropy" and not torch.isfinite(y.float()).all():
            raise ValueError(f"{name} holds NaN or inf")
    for name, x in (("x_train", data.x_train), ("x_test", data.x_test)):
        if not torch.isfinite(x).all():
            raise ValueError(f"{name} holds NaN or inf")


def per_member(name: str, value, K: int, lo: float, hi: float, device, dtype) -> torch.Tensor:
    """One number, or one per member, checked against [lo, hi] (a clear ValueError naming ``name``) → [K]."""
    vals = [value] * K if isinstance(value, int | float) else list(value)
    if len(vals) != K:
        raise ValueError(f"{name} must be a number or a list of {K} (one per member), got {len(vals)}")
    vals = [check_float(name, v, lo, hi) for v in vals]
    return torch.tensor(vals, device=device, dtype=dtype)


def train(family: Family, data: Dataset, *, steps: int, lr: float | Sequence[float], loss: str | Callable = "mse",
          optimizer: str = "adam", weight_decay: float | Sequence[float] = 0.0, momentum: float = 0.0,
          batch_size: int | None = None, records: int = 30,
          probes: dict[str, Callable[[Family], torch.Tensor]] | None = None,
          progress: bool = False, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8) -> TrainResult:
    """Train every member of ``family`` on ``data`` for ``steps`` optimizer steps, in place.

    ``lr`` and ``weight_decay`` are one number or one per member. ``optimizer``: ``"gd"`` (full batch),
    ``"sgd"`` (minibatches of ``batch_size`` drawn without replacement, per member from its seed;
    heavy-ball ``momentum``) or ``"adam"`` (decoupled weight decay, as AdamW). Weight decay in gd/sgd adds
    ``weight_decay · θ`` to the gradient. ``probes``: name → function of the family returning a tensor
    with a leading K axis, evaluated at every record. Returns a :class:`TrainResult` on the CPU.
    """
    if not callable(loss):
        check_choice("loss", loss, LOSSES)
    check_choice("optimizer", optimizer, OPTIMIZERS)
    steps = check_int("steps", steps, 0, 10**8)
    momentum = check_float("momentum", momentum, 0, 1, hi_open=True)
    b1, b2 = (check_float(f"betas[{i}]", b, 0, 1, hi_open=True) for i, b in enumerate(betas))
    eps = check_float("eps", eps, 0, 1, lo_open=True)
    n = len(data.x_train)
    if batch_size is not None:
        if optimizer == "gd":
            raise ValueError("optimizer='gd' is full-batch: leave batch_size=None, or use optimizer='sgd'")
        batch_size = check_int("batch_size", batch_size, 1, n)
        if callable(loss):
            raise ValueError("a callable loss sees the whole training set: leave batch_size=None")
    K, dev, dt = family.size, family.device, family.params[0].dtype
    lrs = per_member("lr", lr, K, 0, 1e6, dev, dt)
    wds = per_member("weight_decay", weight_decay, K, 0, 1e6, dev, dt)
    _check_targets(data, loss, family)
    data = data.to(dev)
    if loss == "mse" and data.y_train.ndim == 1:  # one output: [n] → [n, 1], so batches are [K, B, 1]
        data = Dataset(data.x_train, data.y_train[:, None], data.x_test, data.y_test[:, None], data.n_classes)
    record_at = set(log_steps(steps, records))
    probes = probes or {}

    params, masks = family.params, family.masks
    shape = [(K,) + (1,) * (p.ndim - 1) for p in params]
    lr_b = [lrs.view(s) for s in shape]
    wd_b = [wds.view(s) for s in shape]
    padded = [bool((m == 0).any()) for m in masks]  # members of different widths share one tensor
    decay = bool((wds > 0).any())
    state1 = [torch.zeros_like(p) for p in params]  # momentum buffer, or Adam's first moment
    state2 = [torch.zeros_like(p) for p in params] if optimizer == "adam" else None
    gens = [torch.Generator().manual_seed(s + 1_000_003) for s in family.seeds]  # per-member batch order
    order, cursor = None, n

    log: dict[str, list] = {k: [] for k in ("steps", "train_loss", "test_loss", "train_acc", "test_acc")}
    probe_log: dict[str, list] = {k: [] for k in probes}

    def record(step: int) -> None:
        with torch.no_grad():
            for split in ("train", "test"):
                x, y = getattr(data, f"x_{split}"), getattr(data, f"y_{split}")
                out = family(x)
                log[f"{split}_loss"].append(member_losses(out, y, loss).cpu())
                log[f"{split}_acc"].append(member_accuracy(out, y, loss).cpu())
        log["steps"].append(step)
        for name, fn in probes.items():
            value = fn(family)
            if not isinstance(value, torch.Tensor) or value.shape[:1] != (K,):
                raise ValueError(f"probe {name!r} must return a tensor with a leading axis of size {K}")
            probe_log[name].append(value.detach().cpu())

    bar = None
    if progress:
        from tqdm.auto import tqdm  # presentation nicety; the core itself needs only torch

        bar = tqdm(total=steps, desc=f"training {K} models", leave=False)
    t0 = time.perf_counter()
    if 0 in record_at:
        record(0)
    for t in range(1, steps + 1):
        if batch_size is None:
            xb, yb = data.x_train, data.y_train
        else:
            if cursor + batch_size > n:
                order = torch.stack([torch.randperm(n, generator=g) for g in gens]).to(dev)
                cursor = 0
            idx = order[:, cursor:cursor + batch_size]
            cursor += batch_size
            xb, yb = data.x_train[idx], data.y_train[idx]
        total = member_losses(family(xb), yb, loss).sum()
        grads = torch.autograd.grad(total, params)
        with torch.no_grad():
            for i, (p, g) in enumerate(zip(params, grads, strict=True)):
                if padded[i]:
                    g = g * masks[i]
                if optimizer == "adam":
                    # AdamW, arranged as torch.optim's: p -= lr/bc1 · m / (√v/√bc2 + eps), with the per-member
                    # step folded into the denominator so the update is one addcdiv (fewer passes over memory)
                    bc1, bc2 = 1 - b1**t, math.sqrt(1 - b2**t)
                    state1[i].lerp_(g, 1 - b1)
                    state2[i].mul_(b2).addcmul_(g, g, value=1 - b2)
                    denom = state2[i].sqrt().add_(eps * bc2).mul_(bc1 / (bc2 * lr_b[i]))
                    if decay:
                        p.mul_(1 - lr_b[i] * wd_b[i])
                    p.addcdiv_(state1[i], denom, value=-1.0)
                else:
                    if decay:
                        g = g + wd_b[i] * p
                    if momentum:
                        g = state1[i].mul_(momentum).add_(g)
                    p.sub_(lr_b[i] * g)
        if t in record_at:
            record(t)
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    seconds = time.perf_counter() - t0

    train_loss = torch.stack(log["train_loss"])
    diverged = ~torch.isfinite(train_loss).all(0)
    if diverged.any():
        warnings.warn(f"{int(diverged.sum())} of {K} members diverged (non-finite loss); "
                      "they are marked in TrainResult.diverged", RuntimeWarning, stacklevel=2)
    config = {"steps": steps, "lr": lrs.tolist(), "weight_decay": wds.tolist(),
              "loss": loss if isinstance(loss, str) else getattr(loss, "__name__", "custom"),
              "optimizer": optimizer, "momentum": momentum, "batch_size": batch_size, "widths": family.widths,
              "seeds": family.seeds, "device": str(dev)}
    return TrainResult(
        steps=torch.tensor(log["steps"]), train_loss=train_loss, test_loss=torch.stack(log["test_loss"]),
        train_acc=torch.stack(log["train_acc"]), test_acc=torch.stack(log["test_acc"]),
        probes={k: torch.stack(v) for k, v in probe_log.items()},
        params=[p.detach().cpu().clone() for p in params], diverged=diverged, config=config, seconds=seconds)


def outputs_on(x: torch.Tensor) -> Callable[[Family], torch.Tensor]:
    """A probe recording every member's outputs on fixed inputs x: [m, d] → [K, m, out]."""

    def probe(family: Family) -> torch.Tensor:
        with torch.no_grad():
            return family(x.to(family.device))

    return probe

