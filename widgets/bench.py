"""Benchmarks: a family of MLPs trained as one batched computation (our trainer) against the two ways a
PyTorch user would write it, and the exact hypercube spectrum of a kernel by a fast Walsh–Hadamard transform
vs a dense eigendecomposition.

    python -m widgets.bench                      # both; family: 64 members, 1→w→w→1 tanh, w = 32 and 256
    python -m widgets.bench --members 8 --steps 5 --widths 64 --device cuda
    python -m widgets.bench --only kernels       # the d = 20 spectrum, and FWHT vs dense eigh at d = 12

The family benchmark trains 64 members (seeds 0..63) on 256 points of a sum of sinusoids, full-batch Adam on
the MSE, three ways, all from the same weights:

- ``trainer``: :func:`widgets.core.train.train` on the stacked family (what the book runs);
- ``compiled`` ("ours, compiled"): the same trainer with ``compile=True`` (its loss, backward and Adam update
  through ``torch.compile``); its compile time (its first call less a warm call of the same length) is reported
  apart from its time per step. Compiles start from an empty inductor cache (a temporary
  ``TORCHINDUCTOR_CACHE_DIR``, unless one is set), so they are cold compiles, the same on every run;
- ``vmap``: the idiomatic peer, ``torch.func.stack_module_state`` of 64 ``nn.Sequential`` members and
  ``vmap(functional_call)``, with one ``torch.optim.Adam`` over the stacked leaves;
- ``loop``: the naive way, one ``nn.Module`` and one ``torch.optim.Adam`` per member, one after another.

For each width it reports the time per step (median of a few repeats, after a warm-up), the achieved matmul
GFLOP/s as a share of this machine's ``torch.bmm`` peak at the same shapes (measured in the same run), the
ratios against both peers, and how far the peers' losses are from the trainer's after step 1 and at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import replace

import torch
import torch.nn.functional as F

from widgets.core import data, kernels, models, train
from widgets.core.checks import check_int
from widgets.core.env import get_device

SIDES = ("trainer", "compiled", "vmap", "loop")
LABELS = {"trainer": "ours", "compiled": "ours, compiled", "vmap": "vmap", "loop": "loop"}
OURS = ("trainer", "compiled")  # the sides the goals are checked on
# issue 14's targets: (width, what, at least)
GOALS = ((32, "vs_vmap", 1.3), (256, "of_peak", 0.6))


def _sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize()


def _timed(fn: Callable[[], object], dev: torch.device) -> tuple[float, object]:
    """Wall seconds of one call of ``fn`` (device work included), and what it returned."""
    _sync(dev)
    t0 = time.perf_counter()
    out = fn()
    _sync(dev)
    return time.perf_counter() - t0, out


def bmm_peak(dev: torch.device, k: int = 64, n: int = 256, w: int = 256, repeats: int = 5, calls: int = 10) -> float:
    """GFLOP/s of the batched matmul [k, n, w] @ [k, w, w] in float32 (the shape of a hidden layer of the
    family's forward pass): 2·k·n·w² FLOPs a call, best of ``repeats`` runs of ``calls`` calls (the peak this
    machine reaches at that shape, launch overhead included)."""
    a, b = torch.randn(k, n, w, device=dev), torch.randn(k, w, w, device=dev)
    torch.bmm(a, b)  # warm-up: first-call allocation and kernel selection

    def burst():
        for _ in range(calls):
            torch.bmm(a, b)

    best = min(_timed(burst, dev)[0] for _ in range(repeats))
    return 2 * k * n * w * w * calls / best / 1e9


def matmul_flops(members: int, n: int, dims: Sequence[int]) -> int:
    """Matmul FLOPs of one full-batch training step of a family of MLPs with layer sizes ``dims``.

    A layer a → b on n points costs 2·n·a·b forward (one multiply-add per weight and point); its backward costs
    2·n·a·b for the weight gradient and 2·n·a·b for the input gradient, except the first layer, whose input
    (the data) needs none. So FLOPs/step = K · n · Σ_l (6 − 2·[l = 1]) · a_l · b_l; for 1 → w → w → 1 that is
    K · n · (6w² + 10w). Elementwise work (bias, tanh and its derivative, the loss, Adam) is not counted.
    """
    layers = list(zip(dims[:-1], dims[1:], strict=True))
    return members * n * sum((4 if i == 0 else 6) * a * b for i, (a, b) in enumerate(layers))


def _fresh(family: models.Family) -> models.Family:
    """A trainable copy of ``family`` (the trainer trains in place; every run starts from the same weights)."""
    return replace(family, params=[p.detach().clone().requires_grad_(True) for p in family.params])


def _mse(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Each member's mean squared error: out [K, n, 1], y [n, 1] → [K]."""
    return ((out - y) ** 2).mean(dim=(1, 2))


def _trainer(family: models.Family, ds: data.Dataset, steps: int, lr: float, compile: bool = False) -> torch.Tensor:
    """Our trainer on a fresh copy of the family (eager, or ``compile=True``) → every member's final training
    loss [K]."""
    result = train.train(_fresh(family), ds, steps=steps, lr=lr, optimizer="adam", records=2, compile=compile)
    return result.train_loss[-1]


def _vmap(nets: list[torch.nn.Module], x: torch.Tensor, y: torch.Tensor, steps: int, lr: float) -> torch.Tensor:
    """The idiomatic torch.func peer: the members' weights stacked into one leaf per parameter, one
    ``vmap(functional_call)`` forward, one ``torch.optim.Adam`` with its defaults (on the CPU that is its
    per-tensor loop: torch picks foreach only on accelerators) over the stacked leaves.
    The loss is the sum of the members' MSEs, so each member gets exactly its own gradient. → final losses [K]."""
    params, buffers = torch.func.stack_module_state(nets)  # name → [K, ...] leaves (copies of the weights)
    base = copy.deepcopy(nets[0]).to("meta")  # the architecture only; weights come from ``params``

    def one(p, b, xs):
        return torch.func.functional_call(base, (p, b), (xs,))

    forward = torch.func.vmap(one, in_dims=(0, 0, None))  # x shared: [n, 1] → [K, n, 1]
    opt = torch.optim.Adam(params.values(), lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        _mse(forward(params, buffers, x), y).sum().backward()
        opt.step()
    with torch.no_grad():
        return _mse(forward(params, buffers, x), y)


def _loop(nets: list[torch.nn.Module], x: torch.Tensor, y: torch.Tensor, steps: int, lr: float) -> torch.Tensor:
    """The naive peer: each member alone with its own ``torch.optim.Adam``, one after another (the nets are
    trained in place: pass fresh copies). → final losses [K]."""
    losses = []
    for net in nets:
        opt = torch.optim.Adam(net.parameters(), lr=lr)
        for _ in range(steps):
            opt.zero_grad()
            F.mse_loss(net(x), y).backward()
            opt.step()
        with torch.no_grad():
            losses.append(F.mse_loss(net(x), y))
    return torch.stack(losses)


Run = Callable[[int], tuple[float, torch.Tensor]]  # steps → (seconds, final losses [K])


def _sides(family: models.Family, ds: data.Dataset, lr: float, compiled: bool = True) -> dict[str, Run]:
    """name → run(steps) → (seconds, final losses [K]), each run from the family's initial weights. Building the
    peers' modules from those weights is outside the timing; each side's own setup (optimizer state, stacking)
    is inside, as is one loss evaluation at the end (the trainer's is its last record; it also records at
    step 0, one forward pass more than the peers)."""
    dev = family.device
    x, y = ds.x_train, ds.y_train

    def modules():
        return [models.to_module(family, k) for k in range(family.size)]

    def run_trainer(steps):
        return _timed(lambda: _trainer(family, ds, steps, lr), dev)

    def run_compiled(steps):
        return _timed(lambda: _trainer(family, ds, steps, lr, compile=True), dev)

    def run_vmap(steps):
        nets = modules()
        return _timed(lambda: _vmap(nets, x, y, steps, lr), dev)

    def run_loop(steps):
        nets = modules()
        return _timed(lambda: _loop(nets, x, y, steps, lr), dev)

    sides = {"trainer": run_trainer, "compiled": run_compiled, "vmap": run_vmap, "loop": run_loop}
    return sides if compiled else {k: v for k, v in sides.items() if k != "compiled"}


def _take_turns(sides: dict[str, Run], steps: int, repeats: int, peak: Callable[[], float]):
    """Run every side ``repeats`` times for ``steps`` steps, the sides taking turns (trainer, vmap, loop, bmm,
    then again) so that a burst of load from other processes slows every side rather than one.
    → (seconds per run of each side, each side's last final losses [K], the best bmm GFLOP/s)."""
    times: dict[str, list[float]] = {name: [] for name in sides}
    final, peaks = {}, []
    for _ in range(repeats):
        for name, go in sides.items():
            seconds, final[name] = go(steps)
            times[name].append(seconds)
        peaks.append(peak())
    return times, final, max(peaks)


def measure(width: int, members: int, n: int, steps: int, repeats: int, lr: float, dev: torch.device,
            compiled: bool = True) -> dict:
    """One width: every side's time per step (median of ``repeats`` runs of ``steps`` steps, after a warm-up),
    GFLOP/s and share of the bmm peak at this width (the best of its turns), the ratios, and the loss
    agreement after step 1 and after ``steps``. The compiled side (``compiled``) also gets ``compile_s``: its
    first call (which compiles) less a warm call of the same single step."""
    s = data.sinusoids(n, seed=0)
    # the trainer's records also evaluate the test split: one point keeps that cost negligible
    ds = data.Dataset(s.inputs, s.y, s.inputs[:1], s.y[:1]).to(dev)
    family = models.mlp(1, 1, widths=width, seeds=list(range(members)), depth=3, act="tanh", device=dev)
    sides = _sides(family, ds, lr, compiled)
    first, first_s = {}, {}
    for name, go in sides.items():  # losses after step 1 (and a first warm-up; the compiled side compiles)
        first_s[name], first[name] = go(1)
    for go in sides.values():
        go(min(steps, 2))  # warm-up at this size
    warm_s = sides["compiled"](1)[0] if compiled else 0.0
    times, final, peak = _take_turns(sides, steps, repeats, lambda: bmm_peak(dev, members, n, width, repeats=2))
    flops = matmul_flops(members, n, [1, width, width, 1])
    row = {"width": width, "flops_per_step": flops, "bmm_peak_gflops": peak}
    for name in sides:
        step_s = statistics.median(times[name]) / steps
        row[name] = {"step_s": step_s, "gflops": flops / step_s / 1e9, "of_peak": flops / step_s / 1e9 / peak,
                     "final_loss": float(final[name].mean())}
    for ours in (o for o in OURS if o in sides):
        for peer in ("vmap", "loop"):
            row[_key(ours, f"vs_{peer}")] = row[peer]["step_s"] / row[ours]["step_s"]
    if compiled:
        row["compiled"]["compile_s"] = max(0.0, first_s["compiled"] - warm_s)
        row["compiled"]["first_call_s"] = first_s["compiled"]
        row["compiled_vs_trainer"] = row["trainer"]["step_s"] / row["compiled"]["step_s"]
    for peer in (name for name in sides if name != "trainer"):
        row[f"step1_diff_{peer}"] = float((first[peer].cpu() - first["trainer"].cpu()).abs().max())
        row[f"final_diff_{peer}"] = float((final[peer].cpu() - final["trainer"].cpu()).abs().max())
    row["step1_loss"] = float(first["trainer"].abs().max())  # the scale the differences are relative to
    return row


def _key(side: str, what: str) -> str:
    """Where a row keeps ``what`` (``vs_vmap``, ``vs_loop``) of one of our sides: ``vs_vmap`` for the eager
    trainer (as before), ``compiled_vs_vmap`` for the compiled one."""
    return what if side == "trainer" else f"{side}_{what}"


@contextlib.contextmanager
def _cold_compile_cache(cold: bool):
    """With ``cold`` and no ``TORCHINDUCTOR_CACHE_DIR`` set: inductor compiles into an empty temporary cache
    (removed after), so compile times are those of a first compile on a fresh machine. → what was used."""
    if not cold or "TORCHINDUCTOR_CACHE_DIR" in os.environ:
        yield os.environ.get("TORCHINDUCTOR_CACHE_DIR", "inductor's default cache (may be warm)")
        return
    from torch._inductor.runtime.cache_dir_utils import temporary_cache_dir

    with tempfile.TemporaryDirectory(prefix="bench-inductor-") as tmp, temporary_cache_dir(tmp):
        yield "an empty temporary cache (cold compiles)"


def run(widths: Sequence[int] = (32, 256), members: int = 64, n: int = 256, steps: int = 20, repeats: int = 3,
        lr: float = 1e-3, threads: int | None = None, device=None, compiled: bool = True,
        cold_compile: bool = True) -> dict:
    """Time the trainer (eager and, with ``compiled``, compiled) and both peers at each width, in one run.
    ``threads``: run with ``torch.set_num_threads(threads)`` (restored after); None keeps torch's default (one
    per core). ``cold_compile``: compile into an empty temporary inductor cache (see :func:`_cold_compile_cache`;
    compiled code already built in this process for the same shapes is reused either way).
    Returns ``{"device", "threads", "members", "n", "steps", "repeats", "lr", "compile_cache", "widths": [row,
    …], "goals"}`` with one :func:`measure` row per width."""
    members, n = check_int("members", members, 1, 4096), check_int("n", n, 1, 10**6)
    steps, repeats = check_int("steps", steps, 1, 10**5), check_int("repeats", repeats, 1, 100)
    widths = [check_int("widths[i]", w, 1, 8192) for w in widths]
    dev = get_device(device)
    old = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(check_int("threads", threads, 1, 1024))
    try:
        used = torch.get_num_threads()
        with _cold_compile_cache(compiled and cold_compile) as cache:
            rows = [measure(w, members, n, steps, repeats, lr, dev, compiled) for w in widths]
    finally:
        torch.set_num_threads(old)
    return {"device": str(dev), "threads": used, "members": members, "n": n, "steps": steps, "repeats": repeats,
            "lr": lr, "compile_cache": cache if compiled else None, "widths": rows, "goals": goals(rows)}


def goals(rows: list[dict]) -> list[dict]:
    """Each of :data:`GOALS` whose width was measured, for each of our sides in the row (the eager trainer, and
    the compiled one if measured): ``{"width", "side", "what", "goal", "value", "met"}``."""
    by_width = {row["width"]: row for row in rows}
    out = []
    for width, what, goal in GOALS:
        row = by_width.get(width)
        for side in OURS if row is not None else ():
            if side not in row:
                continue
            value = row[_key(side, what)] if what == "vs_vmap" else row[side][what]
            out.append({"width": width, "side": side, "what": what, "goal": goal, "value": value,
                        "met": value >= goal})
    return out


def _goal_line(g: dict) -> str:
    who = LABELS[g.get("side", "trainer")]
    if g["what"] == "of_peak":
        what, value, goal = "share of the bmm peak", f"{g['value']:.1%}", f"{g['goal']:.0%}"
    else:
        what, value, goal = "speed-up over the vmap peer", f"{g['value']:.2f}x", f"{g['goal']:.1f}x"
    return (f"  goal (issue 14): {who}: {what} at width {g['width']} ≥ {goal}: {value}, "
            f"{'met' if g['met'] else 'NOT met'}")


def report(r: dict) -> str:
    """The benchmark as a table: one block per width, one line per side."""
    lines = [f"MLP family 1→w→w→1 (tanh), {r['members']} members, {r['n']} points, full-batch Adam on the MSE, "
             f"{r['steps']} steps × {r['repeats']} repeats (median), on {r['device']} ({r['threads']} threads)"]
    if r.get("compile_cache"):
        lines.append(f"  ours, compiled: train(..., compile=True); compiled into {r['compile_cache']}")
    for row in r["widths"]:
        lines += [f"  width {row['width']}: {row['flops_per_step'] / 1e9:.3f} GFLOP/step (matmuls); torch.bmm "
                  f"peak at [{r['members']}, {r['n']}, w] @ [{r['members']}, w, w]: "
                  f"{row['bmm_peak_gflops']:.1f} GFLOP/s",
                  f"    {'':<16}{'ms/step':>10}{'GFLOP/s':>10}{'of peak':>10}{'its time / ours':>17}"
                  f"{'vmap / its':>12}{'loop / its':>12}"]
        for name in (s for s in SIDES if s in row):
            side = row[name]
            speed = f"{side['step_s'] / row['trainer']['step_s']:.2f}x"
            peers = [f"{row[_key(name, f'vs_{p}')]:.2f}x" if name in OURS else "" for p in ("vmap", "loop")]
            lines.append(f"    {LABELS[name]:<16}{side['step_s'] * 1e3:>10.2f}{side['gflops']:>10.1f}"
                         f"{side['of_peak']:>10.0%}{speed:>17}{peers[0]:>12}{peers[1]:>12}")
        if "compiled" in row:
            c = row["compiled"]
            lines.append(f"    ours, compiled: compile {c['compile_s']:.1f} s (first call {c['first_call_s']:.1f} s "
                         f"less a warm call), not in ms/step; {row['compiled_vs_trainer']:.2f}x eager ours per step")
        peers = [p for p in ("compiled", "vmap", "loop") if f"step1_diff_{p}" in row]
        lines.append("    same losses: max |Δ| vs ours after step 1: "
                     + ", ".join(f"{LABELS[p]} {row[f'step1_diff_{p}']:.1e}" for p in peers)
                     + f" (loss ≈ {row['step1_loss']:.2f}); after {r['steps']} steps: "
                     + ", ".join(f"{LABELS[p]} {row[f'final_diff_{p}']:.1e}" for p in peers))
    lines += [_goal_line(g) for g in r.get("goals", [])]
    return "\n".join(lines)


def run_kernels(d: int = 20, d_dense: int = 12, depth: int = 3, q: int = 3, device=None) -> dict:
    """Time the CNN NTK's full spectrum on {-1,1}^d (all 2^d eigenvalues, FWHT), and the FWHT route (kernel
    values, transform, subset indexing) against a dense ``eigh`` of the 2^d_dense × 2^d_dense Gram matrix of
    the same kernel values, checking the eigenvalues agree."""
    dev = get_device(device)
    kw = {"arch": "cnn", "depth": depth, "q": q, "device": dev}
    _sync(dev)
    t0 = time.perf_counter()
    kernels.spectrum(d, **kw)
    _sync(dev)
    t_big = time.perf_counter() - t0
    t0 = time.perf_counter()
    fast = kernels.spectrum(d_dense, **kw).eigenvalues
    _sync(dev)
    t_fast = time.perf_counter() - t0
    # the dense side gets the same kernel values (k at x XOR x'), so the timing is eigh against the FWHT
    r = torch.arange(2**d_dense, device=dev)
    gram = kernels.kernel_z(d_dense, **kw)[r[:, None] ^ r[None]] / 2**d_dense
    _sync(dev)
    t0 = time.perf_counter()
    dense = torch.linalg.eigvalsh(gram)
    _sync(dev)
    t_dense = time.perf_counter() - t0
    err = float((fast.sort().values - dense).abs().max() / dense.abs().max())
    return {"device": str(dev), "threads": torch.get_num_threads(), "d": d, "d_dense": d_dense, "depth": depth,
            "q": q, "spectrum_s": t_big, "fwht_s": t_fast, "dense_s": t_dense, "ratio": t_dense / t_fast,
            "max_rel_diff": err}


def report_kernels(r: dict) -> str:
    return "\n".join([
        f"CNN NTK (depth {r['depth']}, filter {r['q']}) spectrum on {{-1,1}}^d, on {r['device']} "
        f"({r['threads']} threads)",
        f"  all 2^{r['d']} = {2 ** r['d']:,} eigenvalues by FWHT: {r['spectrum_s']:.2f} s",
        f"  d = {r['d_dense']}: FWHT {r['fwht_s']:.3f} s, dense eigh {r['dense_s']:.2f} s, "
        f"speed-up {r['ratio']:.0f}x; max relative difference {r['max_rel_diff']:.1e}",
    ])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m widgets.bench", description=__doc__.split("\n")[0])
    p.add_argument("--widths", type=int, nargs="+", default=[32, 256])
    p.add_argument("--members", type=int, default=64)
    p.add_argument("--points", type=int, default=256)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads for the run (default: torch's)")
    p.add_argument("--device", default=None)
    p.add_argument("--only", choices=["family", "kernels"], default=None)
    p.add_argument("--no-compile", action="store_true", help="leave out the compiled trainer (ours, compiled)")
    p.add_argument("--warm-cache", action="store_true",
                   help="compile with inductor's usual on-disk cache instead of an empty temporary one")
    a = p.parse_args(argv)
    if a.only != "kernels":
        r = run(a.widths, a.members, a.points, a.steps, a.repeats, threads=a.threads, device=a.device,
                compiled=not a.no_compile, cold_compile=not a.warm_cache)
        print(report(r), flush=True)
    if a.only != "family":
        print(report_kernels(run_kernels(device=a.device)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
