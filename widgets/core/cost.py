"""What an experiment costs before it runs: its arithmetic, its peak memory on the device, and the time these
take on a device, so that a full-mode run says what it will cost before it starts.

An experiment states its cost with a *model*: a function of its parameters returning a :class:`Cost`,
attached with :func:`model`::

    def _fit_cost(p: DemoParams) -> Cost:
        return cost.train(members=len(p.widths), layers=..., batch=p.n, steps=p.steps, evals=p.n, records=...)

    @cost.model(_fit_cost)
    def fit_sines(p: DemoParams, *, device=None, progress=False) -> dict: ...

The building blocks below count the dominant terms only (matrix products, factorizations, the optimizer's
passes over the parameters, the one-after-another device operations of an eager step); a model adds them up
with ``+`` (work adds, memory is the larger peak). :func:`rate` turns work into seconds on a device: measured
on the device at hand, or the nominal figures of :data:`H100` for a GPU that is not here. The estimates are
checked against measured quick-mode times (``tests/test_cost.py``) and, on a GPU, by ``python -m
widgets.gpucheck``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields

import torch

F32, F64 = 4, 8  # bytes per number
GB = 1e9


@dataclass(frozen=True)
class Cost:
    """The cost of one experiment (or a part of it).

    ``flops``: float32 operations on the experiment's device. ``flops64``: float64 operations on the device
    (exact kernels, solvers). ``cpu_flops``: float64 operations that run on the CPU whatever the device (small
    exact solvers, documented as such). ``ops``: device operations launched one after another (an eager
    training step launches tens; on a GPU each costs a few microseconds however small). ``memory``: the peak
    bytes held at once on the device.
    """

    flops: float = 0.0
    flops64: float = 0.0
    cpu_flops: float = 0.0
    ops: float = 0.0
    memory: float = 0.0

    def __post_init__(self):
        for f in fields(self):
            v = getattr(self, f.name)
            if not isinstance(v, int | float) or not math.isfinite(v) or v < 0:
                raise ValueError(f"Cost.{f.name} must be a finite number ≥ 0, got {v!r}")

    def __add__(self, other: Cost) -> Cost:
        """One part after the other: work adds up, the peak memory is the larger of the two."""
        return Cost(self.flops + other.flops, self.flops64 + other.flops64, self.cpu_flops + other.cpu_flops,
                    self.ops + other.ops, max(self.memory, other.memory))

    def __mul__(self, k: float) -> Cost:
        """The same part ``k`` times in a row (the memory is held once)."""
        return Cost(self.flops * k, self.flops64 * k, self.cpu_flops * k, self.ops * k, self.memory)

    __rmul__ = __mul__

    def seconds(self, device=None, device_rate: Rate | None = None) -> float:
        """Estimated seconds on ``device`` (its measured :func:`rate`), or at ``device_rate``."""
        r = device_rate or rate(device)
        return (self.flops / r.flops + self.flops64 / r.flops64 + self.ops * r.op_s
                + self.cpu_flops / rate("cpu").flops64)

    def record(self, device=None) -> dict:
        """Plain numbers for a record: GFLOP, GB and the estimated seconds on ``device`` and on one H100."""
        return {"gflop": round((self.flops + self.flops64 + self.cpu_flops) / 1e9, 3),
                "memory_gb": round(self.memory / GB, 4), "ops": round(self.ops),
                "seconds": round(self.seconds(device), 2), "device": str(torch.device(device or "cpu").type),
                "seconds_h100": round(self.seconds(device_rate=H100), 2)}


@dataclass(frozen=True)
class Rate:
    """How fast a device does the work: float32 and float64 operations per second on the batched products
    that dominate here, and the seconds per launched operation of eager torch."""

    name: str
    flops: float
    flops64: float
    op_s: float


H100 = Rate("NVIDIA H100 (nominal: 25 TFLOP/s fp32 and 25 fp64 sustained on batched products, 12 µs per eager op)",
            25e12, 25e12, 12e-6)
"""The figures the estimates assume for one H100 until ``python -m widgets.gpucheck`` measures one: about a
third of its fp32 peak (67 TFLOP/s, no tensor cores for fp32 by default) on the small batched products of these
experiments, the fp64 tensor-core figure's third likewise, and the per-operation cost of eager PyTorch on a fast
host (launch plus Python), which dominates small steps."""

_RATES: dict[str, Rate] = {}


def rate(device=None) -> Rate:
    """The measured :class:`Rate` of ``device`` (default: the CPU), once per process (about a second): the
    trainer itself on a tiny family (whose steps are all per-operation overhead) and on a medium one (whose
    steps are mostly products), solved for the two rates through :func:`train`'s own counts, so the estimates
    carry the real mix of a training step; and a float64 batched product."""
    dev = torch.device(device or "cpu")
    key = str(dev)
    if key not in _RATES:
        _RATES[key] = _measure(dev)
    return _RATES[key]


def _measure(dev: torch.device) -> Rate:
    from widgets.core import data, models  # here, not at the top: those modules attach cost models themselves
    from widgets.core import train as trainer

    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)

    def per_step(members: int, sizes: tuple, batch: int, steps: int) -> float:
        x = torch.randn(batch, sizes[0], generator=torch.Generator().manual_seed(0))
        y = torch.randn(batch, sizes[-1], generator=torch.Generator().manual_seed(1))
        fam = models.mlp(sizes[0], sizes[-1], widths=sizes[1], depth=len(sizes) - 1, seeds=list(range(members)),
                         device=dev)
        ds = data.Dataset(x, y, x[:2], y[:2])
        trainer.train(fam, ds, steps=2, lr=1e-4, records=2)  # warm up
        sync()
        t0 = time.perf_counter()
        trainer.train(fam, ds, steps=steps, lr=1e-4, records=2)
        sync()
        return (time.perf_counter() - t0) / steps

    tiny, medium = (1, (1, 4, 4, 1), 8), ((16, (64, 1024, 1024, 10), 1024) if dev.type != "cpu"
                                          else (4, (64, 256, 256, 10), 256))
    t_tiny = per_step(*tiny, 200)
    t_med = per_step(*medium, 20)
    c_tiny, c_med = (train(members=m, sizes=s, batch=b, steps=1) for m, s, b in (tiny, medium))
    op_s = t_tiny / c_tiny.ops
    flops = c_med.flops / max(t_med - c_med.ops * op_s, 0.25 * t_med)
    if dev.type == "mps":
        flops64 = flops / 8
    else:
        k, n = (64, 512) if dev.type != "cpu" else (8, 128)
        a = torch.randn(k, n, n, device=dev, dtype=torch.float64)
        torch.bmm(a, a)
        sync()
        t0 = time.perf_counter()
        for _ in range(10):
            torch.bmm(a, a)
        sync()
        flops64 = 2 * k * n**3 * 10 / (time.perf_counter() - t0)
    return Rate(f"{dev.type} (measured)", flops, flops64, op_s)


# ---------------------------------------------------------------- building blocks


def mlp_sizes(d_in: int, width: int, depth: int, d_out: int) -> tuple[int, ...]:
    """The layer sizes of :func:`widgets.core.models.mlp`: ``depth`` weight layers, ``depth − 1`` hidden."""
    return (d_in, *[width] * (depth - 1), d_out)


def mlp_weights(sizes: Sequence[int]) -> int:
    """Parameters of a dense network with layer sizes ``sizes`` = (d_in, hidden…, d_out), biases included."""
    return sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:], strict=False))


OPTIMIZER_PASSES = {"gd": 2, "sgd": 3, "adam": 7}  # elementwise passes over the parameters per step
"""Passes the update makes over each parameter tensor (read and write): gd θ −= lr·g; sgd with momentum adds
the buffer; Adam its two moments, the square root and the division."""


def train(*, members: int, sizes: Sequence[int], batch: int, steps: int, evals: int = 0, records: int = 0,
          optimizer: str = "adam", second_order: bool = False, per_member_data: bool = False) -> Cost:
    """A family of ``members`` dense networks of layer sizes ``sizes`` trained for ``steps`` steps on
    batches of ``batch`` points, with ``records`` evaluations on ``evals`` points each.

    Work: a forward pass is 2·P flops per point (P weights), a step 3× that (forward, two backward products),
    twice more with ``second_order`` (a gradient penalty's double backward); the update's passes
    (:data:`OPTIMIZER_PASSES`). Memory: parameters, gradients and optimizer state (float32), the batch's
    activations (kept for the backward pass, three numbers per unit) and one evaluation's.
    """
    P = mlp_weights(sizes)
    units = sum(sizes[1:])
    layers = len(sizes) - 1
    fwd = 2 * P * members  # flops per point through every member
    step = 3 * fwd * batch * (2 if second_order else 1) + OPTIMIZER_PASSES[optimizer] * P * members
    state = {"gd": 2, "sgd": 3, "adam": 4}[optimizer] * P * members * F32
    acts = 3 * units * batch * members * F32 * (2 if second_order else 1)
    evals_mem = 2 * max(sizes) * evals * members * F32
    data = (members if per_member_data else 1) * (evals + batch) * (sizes[0] + sizes[-1]) * F32
    ops_step = layers * (4 + 8 * (2 if second_order else 1)) + 2 * layers * (2 if optimizer == "adam" else 1) + 6
    return Cost(flops=steps * step + records * fwd * evals, ops=steps * ops_step + records * 4 * layers,
                memory=state + max(acts, evals_mem) + data)


def tangent_kernel(*, members: int, n: int, weights: int) -> Cost:
    """:func:`widgets.core.probes.tangent_kernel` of ``members`` networks of ``weights`` parameters each on
    ``n`` inputs: a reverse pass per input (3 forward passes' work), then J Jᵀ in float64; memory as that
    function's own check counts it (the float32 gradients and features, J in float64, the kernels)."""
    return Cost(flops=6.0 * weights * members * n, flops64=2.0 * members * n * n * weights, ops=40 * n / 64,
                memory=(2 * F32 + F64) * n * members * weights + F64 * members * n * n)


def matrix(rows: int, cols: int, *, dtype_bytes: int = F64, copies: int = 1) -> Cost:
    """Holding ``copies`` dense rows × cols matrices (memory only)."""
    return Cost(memory=copies * rows * cols * dtype_bytes)


def product(m: int, k: int, n: int, *, batch: int = 1, f64: bool = False) -> Cost:
    """``batch`` products of an m×k and a k×n matrix, with their result held."""
    work = 2.0 * batch * m * k * n
    mem = batch * (m * k + k * n + m * n) * (F64 if f64 else F32)
    return Cost(flops64=work, ops=1, memory=mem) if f64 else Cost(flops=work, ops=1, memory=mem)


def eigh(n: int, *, batch: int = 1, cpu: bool = False) -> Cost:
    """``batch`` symmetric eigendecompositions of n×n float64 matrices (about 9n³ flops each, three n×n
    buffers); ``cpu``: they run on the CPU whatever the device."""
    work = 9.0 * batch * n**3
    return Cost(cpu_flops=work, memory=3 * batch * n * n * F64) if cpu else \
        Cost(flops64=work, ops=batch, memory=3 * batch * n * n * F64)


def solve(n: int, rhs: int = 1, *, batch: int = 1, cpu: bool = False) -> Cost:
    """``batch`` float64 linear solves of an n×n system with ``rhs`` right-hand sides (Cholesky or LU:
    n³/3 + 2n²·rhs flops)."""
    work = batch * (n**3 / 3 + 2.0 * n * n * rhs)
    mem = 2 * batch * n * (n + rhs) * F64
    return Cost(cpu_flops=work, memory=mem) if cpu else Cost(flops64=work, ops=batch, memory=mem)


def elementwise(count: float, *, passes: int = 1, f64: bool = False, ops: float = 1) -> Cost:
    """``passes`` elementwise passes over ``count`` numbers (memory-bound work counted as one flop each)."""
    work = float(count) * passes
    mem = count * (F64 if f64 else F32)
    return Cost(flops64=work, ops=ops, memory=mem) if f64 else Cost(flops=work, ops=ops, memory=mem)


# ---------------------------------------------------------------- attaching a model to an experiment


def model(fn: Callable[..., Cost]):
    """Decorator: ``@model(cost_fn)`` on an experiment attaches ``cost_fn(params) → Cost`` as its
    ``cost`` attribute (the experiment itself is unchanged)."""
    if not callable(fn):
        raise TypeError(f"model needs a function of the parameters returning a Cost, got {fn!r}")

    def attach(experiment):
        experiment.cost = fn
        return experiment

    return attach


def of(experiment, params) -> Cost | None:
    """The cost of ``experiment(params)`` by its attached model, or None if it has none."""
    fn = getattr(experiment, "cost", None)
    if fn is None:
        return None
    c = fn(params)
    if not isinstance(c, Cost):
        raise TypeError(f"the cost model of {getattr(experiment, '__name__', experiment)} returned "
                        f"{type(c).__name__}, not a Cost")
    return c
