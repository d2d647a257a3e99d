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
    bytes held at once on the device. ``cpu_ops``: operations that run one after another on the CPU whatever
    the device (a float64 solver's loop of tiny CPU tensors, numpy calls, a pure-Python loop), in units of one
    eager CPU operation, so they take the CPU's per-operation time on every device.
    """

    flops: float = 0.0
    flops64: float = 0.0
    cpu_flops: float = 0.0
    ops: float = 0.0
    memory: float = 0.0
    cpu_ops: float = 0.0

    def __post_init__(self):
        for f in fields(self):
            v = getattr(self, f.name)
            if not isinstance(v, int | float) or not math.isfinite(v) or v < 0:
                raise ValueError(f"Cost.{f.name} must be a finite number ≥ 0, got {v!r}")

    def __add__(self, other: Cost) -> Cost:
        """One part after the other: work adds up, the peak memory is the larger of the two."""
        return Cost(self.flops + other.flops, self.flops64 + other.flops64, self.cpu_flops + other.cpu_flops,
                    self.ops + other.ops, max(self.memory, other.memory), self.cpu_ops + other.cpu_ops)

    def __mul__(self, k: float) -> Cost:
        """The same part ``k`` times in a row (the memory is held once)."""
        return Cost(self.flops * k, self.flops64 * k, self.cpu_flops * k, self.ops * k, self.memory, self.cpu_ops * k)

    __rmul__ = __mul__

    def seconds(self, device=None, device_rate: Rate | None = None, cpu_rate: Rate | None = None) -> float:
        """Estimated seconds on ``device`` (its measured :func:`rate`), or at ``device_rate``; the work pinned
        to the CPU at ``cpu_rate`` (default: this CPU's measured rate)."""
        r = device_rate or rate(device)
        cpu = (cpu_rate or rate("cpu")) if self.cpu_flops or self.cpu_ops else None
        return (self.flops / r.flops + self.flops64 / r.flops64 + self.ops * r.op_s
                + (self.cpu_flops / cpu.flops64 + self.cpu_ops * cpu.op_s if cpu else 0.0))

    @property
    def work(self) -> float:
        """All the floating-point work, wherever it runs (float32, float64, CPU-pinned)."""
        return self.flops + self.flops64 + self.cpu_flops

    def record(self, device=None) -> dict:
        """Plain numbers for a record: GFLOP, GB and the estimated seconds on ``device`` and on one H100."""
        return {"gflop": round(self.work / 1e9, 3),
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

CPU_REFERENCE = Rate("one CPU core (reference: 70 GFLOP/s fp32, 45 fp64, 4 µs per eager op)", 70e9, 45e9, 4e-6)
"""A fixed CPU for decisions that must not depend on how busy the machine is when they are made (what a dry
run shrinks): about one core of the 2-core CI machine, measured quiet (:func:`rate` gave 70-98 GFLOP/s fp32,
45-49 fp64 and 2-4 µs per operation)."""

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
        best = math.inf
        for _ in range(3):  # the best of three: another process on the machine only ever slows a try down
            sync()
            t0 = time.perf_counter()
            trainer.train(fam, ds, steps=steps, lr=1e-4, records=2)
            sync()
            best = min(best, (time.perf_counter() - t0) / steps)
        return best

    tiny, medium = (1, (1, 4, 4, 1), 8), ((16, (64, 1024, 1024, 10), 1024) if dev.type != "cpu"
                                          else (4, (64, 256, 256, 10), 256))
    t_tiny = per_step(*tiny, 100)
    t_med = per_step(*medium, 10)
    c_tiny, c_med = (train(members=m, sizes=s, batch=b, steps=1) for m, s, b in (tiny, medium))
    op_s = t_tiny / c_tiny.ops
    flops = c_med.flops / max(t_med - c_med.ops * op_s, 0.25 * t_med)
    if dev.type == "mps":
        flops64 = flops / 8
    else:
        k, n = (64, 512) if dev.type != "cpu" else (8, 128)
        a = torch.randn(k, n, n, device=dev, dtype=torch.float64)
        best = math.inf
        for _ in range(4):
            sync()
            t0 = time.perf_counter()
            torch.bmm(a, a)
            sync()
            best = min(best, time.perf_counter() - t0)
        flops64 = 2 * k * n**3 / best
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


def tangent_features(*, members: int, n: int, weights: int) -> Cost:
    """What :func:`tangent_kernel` leaves out, and a CPU pays (add the two): its per-sample gradients come
    from ``torch.func.vmap``, which makes every sample's forward and backward pass matrix-vector products
    (:func:`matvec`, three per weight), and the features then take a few elementwise passes (weighted,
    concatenated, converted to float64)."""
    count = float(members) * n * weights
    return Cost(flops=(3 * MATVEC_FLOPS + 5 * PASS_FLOPS) * count)


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


def records(steps: int | Sequence[int], records: int, spacing: str = "log") -> int:
    """How many times a run records: the distinct steps of the trainer's schedule
    (:func:`widgets.core.train.record_marks`), each of which evaluates the whole family (every member, whichever
    members are due). ``steps``: one budget, or one per member (members of different budgets record at
    different steps)."""
    from widgets.core.train import record_marks  # here, not at the top, like _measure's imports

    marks = record_marks([steps] if isinstance(steps, int) else list(steps), records, spacing)
    return len(set(marks[marks >= 0].tolist()))


PASS_FLOPS = 16
"""What one memory-bound elementwise pass over a number (read, compute, write) is counted as, in flops of the
batched products the rates are measured on: a CPU core streams 1-5 G numbers/s where it multiplies matrices
at 20-70 GFLOP/s, an H100 about 0.4 T numbers/s at 25 TFLOP/s. Transcendentals (arccos, exp, sigmoid) on a
CPU run at about 1 G numbers/s: count them as several passes."""

MATVEC_FLOPS = 60
"""What one entry of a batched matrix-vector product (a product with a single output column, or a single
row) is counted as, in flops: memory-bound, and on a CPU torch's batched path for such shapes runs at about
1 GFLOP/s (2 ns a multiply-add, measured), where a square product runs at 20-70."""

TINY_OP = 0.35
"""One operation on a few numbers on the CPU (a scalar solver's loop), in the CPU operations of
:func:`rate`: ~2.3 µs where the trainer's operation takes ~7 (measured)."""

RANDOM_DRAW_FLOPS = 400
"""What one float64 normal draw on the CPU (with its copies into stacked tensors) is counted as, in float64
flops of the CPU: about 25 ns a draw, at about 16 GFLOP/s."""


def passes(count: float, passes: float = 1, *, f64: bool = False, ops: float = 1) -> Cost:
    """``passes`` memory-bound elementwise passes over ``count`` numbers on the device, at :data:`PASS_FLOPS`
    each (``ops``: the operations launched; memory: one array of ``count`` numbers)."""
    work = PASS_FLOPS * float(count) * passes
    mem = count * (F64 if f64 else F32)
    return Cost(flops64=work, ops=ops, memory=mem) if f64 else Cost(flops=work, ops=ops, memory=mem)


def matvec(batch: int, rows: int, cols: int, *, f64: bool = False, ops: float = 1) -> Cost:
    """``batch`` products of a rows × cols matrix with one vector, at :data:`MATVEC_FLOPS` per matrix entry."""
    work = MATVEC_FLOPS * float(batch) * rows * cols
    mem = batch * rows * cols * (F64 if f64 else F32)
    return Cost(flops64=work, ops=ops, memory=mem) if f64 else Cost(flops=work, ops=ops, memory=mem)


ACTIVATION_PASSES = 10
"""Elementwise passes (:data:`PASS_FLOPS`) a hidden unit costs per point in a training step: the activation,
and its backward, which on a CPU receives the batched product's backward gradient transposed (not
contiguous) and runs at 1.5-4.5 ns an element on a quiet core (measured; up to 18 under load), where a
contiguous one takes 0.2."""


def dense_extras(*, members: int, sizes: Sequence[int], batch: int, steps: int, evals: int = 0, records: int = 0,
                 optimizer: str | None = None, second_order: bool = False) -> Cost:
    """What :func:`train` leaves out of a dense ReLU family's training, and a CPU pays in full (add it to
    :func:`train` with the same arguments): the elementwise work on the hidden units (:data:`ACTIVATION_PASSES`
    per unit and point of a step, twice with ``second_order``; three per evaluated point: the bias broadcast
    into the product's output, the activation, its copy), given the ``optimizer``, its passes over the
    parameters at :data:`PASS_FLOPS` (:func:`train` counts one flop each), and, when the family has a single
    output, its
    readout's products as matrix-vector products (:func:`matvec`): a forward and two backward ones per step
    and point, a forward one per evaluated point; with several outputs, the loss over them (a softmax: about
    10 passes an output and point)."""
    k = 2 if second_order else 1
    outputs = PASS_FLOPS * 10.0 * members * sizes[-1] * (steps * batch + records * evals) if sizes[-1] > 1 else 0.0
    update = ((PASS_FLOPS - 1) * OPTIMIZER_PASSES[optimizer] * float(mlp_weights(sizes)) * members * steps
              if optimizer else 0.0)
    return Cost(flops=_unit_work(members, sizes, steps * batch, ACTIVATION_PASSES * k, 3 * k)
                + _unit_work(members, sizes, records * evals, 3, 1) + outputs + update)


def small_products(batch: int, m: int, k: int, n: int, *, f64: bool = False, ops: float = 1) -> Cost:
    """``batch`` products of small m×k and k×n matrices (tens of rows, or one narrow side) through torch's
    batched path: at these sizes a CPU spends its time touching the entries (:data:`MATVEC_FLOPS` each, as in
    a matrix-vector product) more than on the 2mkn multiply-adds; whichever is larger is counted."""
    work = float(batch) * max(2.0 * m * k * n, MATVEC_FLOPS * (m * k + k * n + m * n))
    mem = batch * (m * k + k * n + m * n) * (F64 if f64 else F32)
    return Cost(flops64=work, ops=ops, memory=mem) if f64 else Cost(flops=work, ops=ops, memory=mem)


def as_float64(c: Cost) -> Cost:
    """``c`` run in float64 on the device (a family or solver built with ``dtype=torch.float64``): its float32
    work counted as float64, its device memory doubled."""
    return Cost(flops64=c.flops + c.flops64, cpu_flops=c.cpu_flops, ops=c.ops, memory=2 * c.memory,
                cpu_ops=c.cpu_ops)


def loss_groups(*, members: int, n: int, outputs: int, groups: int) -> Cost:
    """A list of per-member losses (:func:`widgets.core.losses.member_losses` with one name per member) on
    ``n`` points of ``outputs`` outputs, forward and backward, beyond one plain loss: each distinct loss
    gathers its members' outputs and targets and puts its values back, and the gather's backward fills a zero
    gradient the size of the whole family's outputs: about three passes over them per loss, and sixteen
    operations per loss, forward and backward (one copies the member indices from the host)."""
    return passes(members * n * outputs, 3 * groups, ops=16 * groups)


def family_init(*, members: int, weights: int, layers: int) -> Cost:
    """Building a family (:func:`widgets.core.models.mlp` and the other builders): every member drawn from its
    own seed on the CPU in float64 (``weights`` numbers each, :data:`RANDOM_DRAW_FLOPS` a number), a few CPU
    operations per member and layer to stack them, and the float32 parameters and masks on the device."""
    return Cost(cpu_flops=RANDOM_DRAW_FLOPS * float(members) * weights, cpu_ops=8.0 * members * layers,
                memory=2 * members * weights * F32)


def _unit_work(members: int, sizes: Sequence[int], n: int, passes: float, products: float) -> float:
    """The elementwise work on the hidden units of ``n`` points (``passes`` each, :data:`PASS_FLOPS`), and a
    single-output readout's ``products`` matrix-vector products per point (:data:`MATVEC_FLOPS`)."""
    work = PASS_FLOPS * passes * float(sum(sizes[1:-1])) * members * n
    return work + (MATVEC_FLOPS * products * float(members) * n * sizes[-2] if sizes[-1] == 1 else 0.0)


def forward(*, members: int, sizes: Sequence[int], n: int) -> Cost:
    """One forward pass of a dense family on ``n`` shared inputs (2 flops per weight and point; three passes
    over the hidden units as in :func:`dense_extras`, and a single output's readout as matrix-vector
    products). Memory: the inputs once, and two of the widest layer's outputs per member."""
    P, layers = mlp_weights(sizes), len(sizes) - 1
    return Cost(flops=2.0 * P * members * n + _unit_work(members, sizes, n, 3, 1), ops=3 * layers + 2,
                memory=(sizes[0] * n + (2 * max(sizes[1:]) * n + P) * members) * F32)


def grad_norm(*, members: int, sizes: Sequence[int], n: int) -> Cost:
    """:func:`widgets.core.probes.grad_norm_sq` of a dense family on ``n`` points: a forward and a backward
    pass (3 forward passes' work, with the activations' and the readout's as in :func:`dense_extras`), then
    the squared norms of the gradients. Memory: the kept activations and the gradients."""
    P, units, layers = mlp_weights(sizes), sum(sizes[1:]), len(sizes) - 1
    return Cost(flops=6.0 * P * members * n + _unit_work(members, sizes, n, ACTIVATION_PASSES, 3)
                + PASS_FLOPS * 3.0 * P * members, ops=16 * layers + 6,
                memory=(3 * units * n + 2 * P) * members * F32)


def hessian_power(*, members: int, sizes: Sequence[int], n: int, iters: int) -> Cost:
    """:func:`widgets.core.probes.top_hessian_eig` of a dense family on ``n`` points: the loss's gradient with
    its graph kept (3 forward passes' work), then ``iters`` Hessian-vector products by double backward (about
    5 forward passes' work each) and the power iteration's normalisation (a few passes over the parameters).
    Memory: the double-backward graph (about twice a step's activations) and five parameter-sized vectors."""
    P, units, layers = mlp_weights(sizes), sum(sizes[1:]), len(sizes) - 1
    fwd = 2.0 * P * members * n + _unit_work(members, sizes, n, ACTIVATION_PASSES / 3, 1)
    return Cost(flops=3 * fwd + iters * (5 * fwd + PASS_FLOPS * 8.0 * P * members),
                ops=16 * layers + 8 + iters * (45 * layers + 6),
                memory=(6 * units * n + 5 * P) * members * F32)


def geometric_complexity(*, members: int, sizes: Sequence[int], n: int) -> Cost:
    """:func:`widgets.core.probes.geometric_complexity` of a dense family on ``n`` points: one forward pass on
    per-member copies of the inputs, then one backward pass to the inputs per output unit (about a forward
    pass's work each: no weight gradients). Memory: the inputs' copies and the kept activations."""
    P, units, layers, o = mlp_weights(sizes), sum(sizes[1:]), len(sizes) - 1, sizes[-1]
    fwd = 2.0 * P * members * n + _unit_work(members, sizes, n, ACTIVATION_PASSES / 3, 1)
    return Cost(flops=fwd * (1 + o), ops=3 * layers + 3 + o * (6 * layers + 4),
                memory=(3 * units + sizes[0]) * n * members * F32)


def svm_dual(*, n: int, d: int, sweeps: float) -> Cost:
    """:func:`widgets.core.solvers.hard_margin_svm` on ``n`` points in ``d`` dimensions: ``sweeps`` sweeps of
    coordinate ascent in plain Python on the CPU, about 1.2 + 0.09·d µs a point and sweep (measured), counted
    in CPU operations of ~8 µs."""
    return Cost(cpu_ops=sweeps * n * (0.15 + 0.011 * d))


def two_layer_gd(*, members: int, n: int, n_test: int, d: int, width: int, steps: int, records: int,
                 frozen: bool = False, centred: bool = False, grid: int = 0, grid_records: int = 1,
                 kernel_points: int = 0) -> Cost:
    """:func:`widgets.core.meanfield.train_two_layer`: ``members`` two-layer nets of ``width`` units on their
    own ``n`` points (and ``n_test``) of ``d`` (padded) inputs, ``steps`` steps of full-batch GD with the
    gradients by hand, ``records`` records (a train and a test forward pass each), outputs on ``grid`` points
    at ``grid_records`` of them. ``frozen``: the random-features case (no first-layer step): the n×n kernel
    is formed once and each step is a kernel-vector product. ``centred``: F = α(f − f₀) (f₀ once at the
    start). ``kernel_points``: the tangent kernel on that many points at the start and the end."""
    K, m, D = members, width, d
    units = float(K) * m

    def fwd(pts: int) -> float:  # pre-activations (a product), then relu, the weighted sum over units
        return 2.0 * units * pts * D + PASS_FLOPS * 3.0 * units * pts

    init = Cost(cpu_flops=RANDOM_DRAW_FLOPS * units * (D + 1), cpu_ops=4.0 * K)
    if frozen:
        setup = Cost(flops=fwd(n) + 2.0 * K * n * n * m, ops=8)
        step = Cost(flops=PASS_FLOPS * (2.0 * K * n * n + 6.0 * K * n), ops=7)
        rec_extra = 2.0 * units * n
    else:
        setup = Cost()
        step = Cost(flops=fwd(n) + 2.0 * units * n * D + PASS_FLOPS * (4.0 * units * n + 4.0 * units * D),
                    ops=22)
        rec_extra = 0.0
    rec = Cost(flops=fwd(n) + fwd(n_test) + rec_extra + PASS_FLOPS * 4.0 * units * D, ops=32)
    start = Cost(flops=fwd(n) + fwd(n_test) + fwd(grid), ops=12) if centred else Cost()
    kp = kernel_points
    kernel = Cost(flops=2 * (2.0 * units * kp * D + 4.0 * units * kp * kp + 2.0 * K * kp * kp * D), ops=24) \
        if kp else Cost()
    out_grid = Cost(flops=grid_records * fwd(grid), ops=8 * grid_records) if grid else Cost()
    memory = F32 * (K * (n + n_test + grid) * D + 2 * units * (D + 1)
                    + 2 * units * max(2 * n, n_test, grid) + (K * n * n + units * n if frozen else 0)
                    + 3 * (units * kp + K * kp * kp))
    return init + setup + start + kernel + steps * step + records * rec + out_grid + Cost(memory=memory)


def size_weight(nbytes: float) -> float:
    """Passes of :data:`PASS_FLOPS` that one elementwise pass over a freshly allocated array of ``nbytes``
    costs: more once it outgrows the caches (measured on one CPU core: ~0.3 ns a number within 1 MB, 2-3 ns
    beyond 16 MB; an H100 streams 0.4 T numbers/s from its memory, about 64 flops a number at its nominal
    rate)."""
    return 1.0 if nbytes <= 2**20 else 3.0 if nbytes <= 2**24 else 6.0


def step_weight(nbytes: float) -> float:
    """:func:`size_weight` for the buffers of a training step, which the allocator reuses step after step: a
    pass costs more only once they outgrow the caches (16 MB)."""
    return 1.0 if nbytes <= 2**24 else size_weight(nbytes)


def cnn_train(*, members: int, d: int, channels: int, depth: int, q: int, batch: int, steps: int,
              evals: int = 0, records: int = 0, optimizer: str = "sgd", d_out: int = 1,
              per_member_data: bool = False) -> Cost:
    """A family of ``members`` circular 1-D CNNs (:func:`models.cnn`, flatten readout) trained for ``steps``
    steps on batches of ``batch`` points, with ``records`` evaluations on ``evals`` points.

    Products: each convolution is a batched product of the unfolded patches [n·d, C_in·q] with the filters
    [C_in·q, C_out], 2·C_out·C_in·q·d flops per point; with so few columns it is partly memory-bound: each
    patch entry also costs a matrix-vector product's entry (MATVEC_FLOPS), as does each readout weight
    (C·d·d_out); a step is 3× a forward. Memory-bound float32 passes (PASS_FLOPS) per point and layer:
    the circular pad (C_in·(d+q)) forward and its adjoint's fill and copy; the patches copied for the
    product, and the unfold's adjoint (a zero fill and a scatter-add), counted twice for their size; the
    ReLU at ACTIVATION_PASSES per unit (C·d) and the copies of the product's permuted output and
    gradient; weighted by the size of a layer's [K, points, C, d] output (:func:`size_weight`; a step's
    buffers are reused, so only beyond 16 MB). Memory: parameters and optimizer state, a batch's patches and activations
    kept for the backward pass, one evaluation's activations."""
    K, C = members, channels
    c_in = [1] + [C] * (depth - 1)
    P = sum(C * ci * q + C for ci in c_in) + C * d * d_out + d_out
    fwd = K * (sum(2.0 * C * ci * q * d + MATVEC_FLOPS * ci * q * d for ci in c_in)
               + MATVEC_FLOPS * C * d * d_out)  # flops per point through every member
    patch = sum(ci * d * q for ci in c_in)  # unfolded numbers per point
    step_pass = sum(6 * ci * d * q + 4 * ci * (d + q) + (ACTIVATION_PASSES + 3) * C * d for ci in c_in)
    eval_pass = sum(ci * d * q + ci * (d + q) + 3 * C * d for ci in c_in)
    step = (3 * fwd * batch + OPTIMIZER_PASSES[optimizer] * P * K
            + PASS_FLOPS * step_weight(4 * K * batch * C * d) * K * batch * step_pass)
    state = {"gd": 2, "sgd": 3, "adam": 4}[optimizer] * P * K * F32
    acts = K * batch * (2 * patch + 3 * C * d * depth) * F32
    evals_mem = K * evals * (patch + 2 * C * d) * F32
    data = (K if per_member_data else 1) * (evals + batch) * (d + d_out) * F32
    look = PASS_FLOPS * size_weight(4 * K * evals * C * d) * K * eval_pass
    return Cost(flops=steps * step + records * (fwd + look) * evals,
                ops=steps * (50 + 32 * depth) + records * (12 * depth + 8),
                memory=state + max(acts, evals_mem) + data)


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
