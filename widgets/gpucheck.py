"""One prepared GPU check: run it once on a GPU machine and commit its report.

    python -m widgets.gpucheck                          # on the GPU: about 5 minutes on one H100
    python -m widgets.gpucheck --out docs/gpu-check.json --steps 40
    python -m widgets.gpucheck --device cpu --mode quick --steps 2 --chapters intro   # a smoke test anywhere

It needs only torch and numpy (a GPU machine without the book's Jupyter stack runs it), and writes one JSON
report with:

1. ``device``: the GPU's name and memory, torch and CUDA versions, and this device's measured :class:`Rate`
   beside the nominal H100 figures the estimates assume (:data:`widgets.core.cost.H100`);
2. ``bench``: :mod:`widgets.bench`'s family benchmark on this device (ours, compiled, the ``vmap`` peer, the
   naive loop);
3. ``equivalence``: member k of a trained family against the same network trained alone, on this device, and
   against the CPU's run: the batched computation changes nothing but the speed;
4. ``chapters``: for each chapter, its most expensive full-size experiment (by its cost model) with every
   size at its full value and its training capped at ``--steps`` steps: the seconds and peak device memory
   measured, the cost model's estimate of the full run (``estimate``) and of the capped one, and the full
   run's time extrapolated from the measurement by the model's ratio of full to capped work
   (``seconds_extrapolated``). An experiment that needs a package this machine
   lacks (scikit-learn's digits, ``mnist1d``) is listed as skipped, with the reason.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import platform
import sys
import time
import traceback
from pathlib import Path

import torch

from widgets.book import estimate
from widgets.core import cost, data, models, train
from widgets.core.checks import check_int
from widgets.core.env import check_mode, get_device, seed_everything, use_cpu_threads


def _sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def device_info(dev: torch.device) -> dict:
    """What this machine is: the device, its memory, the versions, and its measured rates."""
    info = {"device": str(dev), "torch": torch.__version__, "cuda": torch.version.cuda,
            "python": sys.version.split()[0], "host": platform.node()}
    if dev.type == "cuda":
        props = torch.cuda.get_device_properties(dev)
        info.update(name=props.name, memory_gb=round(props.total_memory / 1e9, 1))
    r = cost.rate(dev)
    info["rate"] = {"flops_tflops": round(r.flops / 1e12, 3), "flops64_tflops": round(r.flops64 / 1e12, 3),
                    "op_us": round(r.op_s * 1e6, 2)}
    info["nominal_h100"] = {"flops_tflops": cost.H100.flops / 1e12, "flops64_tflops": cost.H100.flops64 / 1e12,
                            "op_us": cost.H100.op_s * 1e6}
    return info


def equivalence(dev: torch.device, steps: int = 200) -> dict:
    """Member 3 of a trained family of six MLPs (widths 16 … 512, their own seeds and learning rates, Adam on the
    MSE) against the same network trained alone, on this device: in float64 for ``steps`` steps (they must
    agree to rounding, 1e-9), and in float32 for 25 steps (1e-4: the padded products round differently, and
    Adam amplifies that over long runs, so a long float32 comparison proves nothing); and the float64 family on
    this device against the CPU's."""
    s = data.sinusoids(256, ks=(1, 3, 7), seed=0)
    ds = data.Dataset(s.inputs, s.y, s.inputs, s.y)
    widths, k = [16, 32, 64, 128, 256, 512], 3
    lrs = [1e-3 * (1 + j) for j in range(len(widths))]

    def fit(device, dtype, n_steps, alone=False):
        ws, ls, ss = ([widths[k]], [lrs[k]], [k]) if alone else (widths, lrs, list(range(len(widths))))
        fam = models.mlp(1, 1, widths=ws, seeds=ss, depth=3, device=device, dtype=dtype)
        train.train(fam, ds, steps=n_steps, lr=ls, records=2)
        return fam.member(0 if alone else k)

    def gap(a, b) -> float:
        return max(float((x.detach().cpu() - y.detach().cpu()).abs().max()) for x, y in
                   zip(a.params, b.params, strict=True))

    out = {"members": len(widths), "member": k,
           "float64_member_vs_lone": gap(fit(dev, torch.float64, steps), fit(dev, torch.float64, steps, True)),
           "float64_steps": steps,
           "float32_member_vs_lone": gap(fit(dev, torch.float32, 25), fit(dev, torch.float32, 25, True)),
           "float64_device_vs_cpu": gap(fit(dev, torch.float64, steps), fit("cpu", torch.float64, steps))}
    out["passed"] = (out["float64_member_vs_lone"] <= 1e-9 and out["float32_member_vs_lone"] <= 1e-4
                     and out["float64_device_vs_cpu"] <= 1e-9)
    return out


def _most_expensive(chapter: str, mode: str):
    """The run of the chapter's plan whose full-size cost (on one H100, by its model) is largest."""
    runs = [(e, p, cost.of(e, p)) for e, p in estimate.plan(chapter, mode)]
    return max(runs, key=lambda r: r[2].seconds(device_rate=cost.H100) if r[2] is not None else -1)


def chapter_check(chapter: str, dev: torch.device, steps: int, mode: str = "full") -> dict:
    """Run the chapter's most expensive experiment of ``mode`` with its training capped at ``steps`` steps;
    measure its time and peak memory, and extrapolate to the uncapped run by the cost model."""
    experiment, params, full = _most_expensive(chapter, mode)
    capped = params.capped(steps)
    est_capped = cost.of(experiment, capped)
    row = {"chapter": chapter, "experiment": experiment.__name__, "mode": mode, "steps_cap": steps,
           "estimate": full.record(dev), "capped_estimate": est_capped.record(dev)}
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
        torch.cuda.empty_cache()
    seed_everything(0)
    _sync(dev)
    t0 = time.perf_counter()
    try:
        experiment(capped, device=dev)
    except ImportError as err:  # e.g. scikit-learn's digits on a bare GPU machine
        row["skipped"] = f"needs a package this machine lacks: {err}"
        return row
    except Exception as err:  # noqa: BLE001 — the check reports every failure and goes on to the next chapter
        row["error"] = f"{type(err).__name__}: {err}"
        row["traceback"] = traceback.format_exc(limit=6)
        return row
    _sync(dev)
    seconds = time.perf_counter() - t0
    row["seconds"] = round(seconds, 3)
    if dev.type == "cuda":
        row["peak_memory_gb"] = round(torch.cuda.max_memory_allocated(dev) / 1e9, 3)
    model_capped = est_capped.seconds(dev)
    row["estimated_over_measured"] = round(model_capped / seconds, 3) if seconds > 0 else None
    # the measured capped run, scaled by the model's ratio of the uncapped run's work to the capped run's
    row["seconds_extrapolated"] = round(seconds * full.seconds(dev) / max(model_capped, 1e-9), 1)
    return row


def run(device=None, steps: int = 40, chapters: list[str] | None = None, mode: str = "full", bench: bool = True,
        log=print) -> dict:
    """The whole check; returns the report (see the module's docstring)."""
    dev = get_device(device)
    use_cpu_threads(dev)  # the book's thread policy, as a chapter runs
    steps = check_int("steps", steps, 2, 10**6)
    mode = check_mode(mode)
    chapters = chapters or list(estimate.TOPICS)
    for c in chapters:
        if c not in estimate.TOPICS:
            raise ValueError(f"chapters must name chapters of {sorted(estimate.TOPICS)}, got {c!r}")
    t_start = time.perf_counter()
    report = {"started": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"), "mode": mode,
              "device": device_info(dev)}
    log(f"device: {report['device']}")
    report["equivalence"] = equivalence(dev, 200 if mode == "full" else 40)
    log(f"equivalence: {report['equivalence']}")
    if bench:
        from widgets import bench as bench_mod

        widths = (32, 256) if dev.type == "cuda" or mode == "full" else (32,)
        members, b_steps = (64, 20) if mode == "full" else (8, 3)
        report["bench"] = bench_mod.run(widths=widths, members=members, steps=b_steps, repeats=3, device=dev,
                                        compiled=dev.type == "cuda")
        log(bench_mod.report(report["bench"]))
    report["chapters"] = []
    for c in chapters:
        row = chapter_check(c, dev, steps, mode)
        report["chapters"].append(row)
        log(f"{c}: {json.dumps({k: v for k, v in row.items() if k != 'traceback'})}")
    report["seconds"] = round(time.perf_counter() - t_start, 1)
    return report


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m widgets.gpucheck", description=__doc__.split("\n")[0])
    p.add_argument("--device", default=None, help="default: cuda, then mps, then cpu")
    p.add_argument("--steps", type=int, default=40, help="the cap on each experiment's training (default 40)")
    p.add_argument("--mode", choices=("quick", "full"), default="full")
    p.add_argument("--chapters", nargs="+", default=None, help="default: every chapter")
    p.add_argument("--no-bench", action="store_true")
    p.add_argument("--out", default="gpu-check.json", help="where the JSON report goes (default gpu-check.json)")
    a = p.parse_args(argv)
    report = run(a.device, a.steps, a.chapters, a.mode, bench=not a.no_bench)
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1, allow_nan=False, default=str) + "\n", encoding="utf-8")
    print(f"wrote {out} ({report['seconds']} s)")
    failed = [r["chapter"] for r in report["chapters"] if "error" in r]
    return 1 if failed or not report["equivalence"]["passed"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
