"""Benchmarks: a family of MLPs trained as one batched computation vs a Python loop over the members, and
the exact hypercube spectrum of a kernel by a fast Walsh–Hadamard transform vs a dense eigendecomposition.

    python -m widgets.bench                      # both; family: 64 members, 1→256→256→1, tanh, Adam, 256 points
    python -m widgets.bench --members 8 --steps 5 --device cuda
    python -m widgets.bench --only kernels       # the d = 20 spectrum, and FWHT vs dense eigh at d = 12

Both sides start from the same weights and train with Adam on the same data; the loop is the naive way
(one ``nn.Module`` and one ``torch.optim.Adam`` per member, trained one after another). The report gives
both times, their ratio, the largest difference in final loss, and the achieved GFLOP/s of each side as a
fraction of this machine's own ``torch.bmm`` peak, measured in the same run.
"""

from __future__ import annotations

import argparse
import time

import torch

from widgets.core import data, kernels, models, train
from widgets.core.env import get_device


def _sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize()


def bmm_peak(dev: torch.device, k: int = 64, n: int = 256, repeats: int = 20) -> float:
    """GFLOP/s of a [k, n, n] @ [k, n, n] batched matmul in float32, the best of ``repeats``."""
    a, b = torch.randn(k, n, n, device=dev), torch.randn(k, n, n, device=dev)
    torch.bmm(a, b)
    best = float("inf")
    for _ in range(repeats):
        _sync(dev)
        t0 = time.perf_counter()
        torch.bmm(a, b)
        _sync(dev)
        best = min(best, time.perf_counter() - t0)
    return 2 * k * n**3 / best / 1e9


def run(members: int = 64, width: int = 256, n: int = 256, steps: int = 50, lr: float = 1e-3,
        device=None) -> dict:
    """Time both ways of training the same family; returns the numbers the report prints."""
    dev = get_device(device)
    s = data.sinusoids(n, seed=0)
    ds = data.Dataset(s.inputs, s.y, s.inputs, s.y).to(dev)
    family = models.mlp(1, 1, widths=width, seeds=list(range(members)), depth=3, act="tanh", device=dev)
    nets = [models.to_module(family, k) for k in range(members)]

    _sync(dev)
    t0 = time.perf_counter()
    result = train.train(family, ds, steps=steps, lr=lr, optimizer="adam", records=2)
    _sync(dev)
    t_batched = time.perf_counter() - t0

    _sync(dev)
    t0 = time.perf_counter()
    loop_loss = []
    for net in nets:
        opt = torch.optim.Adam(net.parameters(), lr=lr)
        for _ in range(steps):
            opt.zero_grad()
            torch.nn.functional.mse_loss(net(ds.x_train), ds.y_train).backward()
            opt.step()
        with torch.no_grad():
            loop_loss.append(torch.nn.functional.mse_loss(net(ds.x_train), ds.y_train).item())
    _sync(dev)
    t_loop = time.perf_counter() - t0

    weights = 1 * width + width * width + width * 1
    flops = 6 * n * weights * members * steps  # forward 2·n·weights, backward twice that
    peak = bmm_peak(dev)
    diff = (result.train_loss[-1] - torch.tensor(loop_loss)).abs().max().item()
    return {"device": str(dev), "members": members, "width": width, "n": n, "steps": steps,
            "threads": torch.get_num_threads(), "batched_s": t_batched, "loop_s": t_loop,
            "ratio": t_loop / t_batched, "max_final_loss_diff": diff,
            "final_loss_mean": float(result.train_loss[-1].mean()),
            "batched_gflops": flops / t_batched / 1e9, "loop_gflops": flops / t_loop / 1e9, "bmm_peak_gflops": peak}


def report(r: dict) -> str:
    return "\n".join([
        f"MLP family 1→{r['width']}→{r['width']}→1 (tanh), {r['members']} members, {r['n']} points, "
        f"{r['steps']} Adam steps, on {r['device']} ({r['threads']} threads)",
        f"  {'':<22}{'time (s)':>10}{'GFLOP/s':>10}{'of bmm peak':>13}",
        f"  {'batched (stacked)':<22}{r['batched_s']:>10.2f}{r['batched_gflops']:>10.1f}"
        f"{r['batched_gflops'] / r['bmm_peak_gflops']:>12.0%}",
        f"  {'python loop':<22}{r['loop_s']:>10.2f}{r['loop_gflops']:>10.1f}"
        f"{r['loop_gflops'] / r['bmm_peak_gflops']:>12.0%}",
        f"  speed-up (loop / batched): {r['ratio']:.2f}x;  torch.bmm peak here: {r['bmm_peak_gflops']:.1f} GFLOP/s",
        f"  same results: max |final loss difference| = {r['max_final_loss_diff']:.2e} "
        f"(mean final loss {r['final_loss_mean']:.4f})",
    ])


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
    p.add_argument("--members", type=int, default=64)
    p.add_argument("--width", type=int, default=256)
    p.add_argument("--points", type=int, default=256)
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--device", default=None)
    p.add_argument("--only", choices=["family", "kernels"], default=None)
    a = p.parse_args(argv)
    if a.only != "kernels":
        print(report(run(a.members, a.width, a.points, a.steps, device=a.device)), flush=True)
    if a.only != "family":
        print(report_kernels(run_kernels(device=a.device)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
