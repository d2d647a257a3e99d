import os

import pytest
import torch

from widgets import bench
from widgets.core import data, models


@pytest.fixture(scope="module")
def tiny():
    """The family benchmark at a tiny size: two widths, three members, one thread (restored after); without
    the compiled side, which :func:`tiny_compiled` measures at one width (each width is a compile)."""
    return bench.run(widths=(8, 12), members=3, n=16, steps=3, repeats=2, threads=1, device="cpu",
                     compiled=False)


@pytest.fixture(scope="module")
def tiny_compiled():
    """All four sides at width 8, the compiled one compiling with inductor's usual cache (an empty one would
    cost ~15 s more here)."""
    return bench.run(widths=(8,), members=3, n=16, steps=3, repeats=2, threads=1, device="cpu", cold_compile=False)


def test_family_benchmark_reports_every_side_at_every_width(tiny, tiny_compiled):
    assert {"device", "threads", "members", "n", "steps", "repeats", "lr"} <= tiny.keys()
    assert tiny["threads"] == 1 and [row["width"] for row in tiny["widths"]] == [8, 12]
    assert tiny["goals"] == tiny_compiled["goals"] == []  # issue 14's goals are at widths 32 and 256
    for r in (tiny, tiny_compiled):
        for row in r["widths"]:
            assert row["flops_per_step"] == bench.matmul_flops(3, 16, [1, row["width"], row["width"], 1])
            assert row["bmm_peak_gflops"] > 0
            for name in bench.SIDES if r is tiny_compiled else ("trainer", "vmap", "loop"):
                side = row[name]
                assert side["step_s"] > 0
                assert side["gflops"] == pytest.approx(row["flops_per_step"] / side["step_s"] / 1e9)
                assert side["of_peak"] == pytest.approx(side["gflops"] / row["bmm_peak_gflops"])
            assert row["vs_vmap"] == pytest.approx(row["vmap"]["step_s"] / row["trainer"]["step_s"])
            assert row["vs_loop"] == pytest.approx(row["loop"]["step_s"] / row["trainer"]["step_s"])
    assert "compiled" not in tiny["widths"][0] and tiny["compile_cache"] is None
    # the compiled trainer: the same ratios, and its compile time apart from its time per step
    row = tiny_compiled["widths"][0]
    assert row["compiled_vs_vmap"] == pytest.approx(row["vmap"]["step_s"] / row["compiled"]["step_s"])
    assert row["compiled_vs_loop"] == pytest.approx(row["loop"]["step_s"] / row["compiled"]["step_s"])
    assert row["compiled_vs_trainer"] == pytest.approx(row["trainer"]["step_s"] / row["compiled"]["step_s"])
    assert 0 <= row["compiled"]["compile_s"] <= row["compiled"]["first_call_s"]
    text = bench.report(tiny)
    assert "3 members" in text and "width 12" in text and "ours, compiled" not in text
    assert all(bench.LABELS[name] in text for name in ("trainer", "vmap", "loop"))
    text = bench.report(tiny_compiled)
    assert "ours, compiled: compile" in text and all(bench.LABELS[name] in text for name in bench.SIDES)


def test_run_restores_the_thread_count():
    before = torch.get_num_threads()
    bench.run(widths=(4,), members=2, n=8, steps=1, repeats=1, threads=1, device="cpu", compiled=False)
    assert torch.get_num_threads() == before


def test_both_peers_train_the_same_models_as_the_trainer(tiny, tiny_compiled):
    """Same init, same data, same Adam: after one step (where Adam's update is ±lr per weight, so any
    difference in the gradient's sign or the update shows) and after the last, the losses agree; so do the
    compiled trainer's."""
    for row in tiny["widths"] + tiny_compiled["widths"]:
        scale = max(1.0, row["step1_loss"])
        for peer in ("compiled", "vmap", "loop") if "compiled" in row else ("vmap", "loop"):
            assert row[f"step1_diff_{peer}"] < 1e-5 * scale, (row["width"], peer)
            assert row[f"final_diff_{peer}"] < 1e-4 * scale, (row["width"], peer)


def test_the_step_one_comparison_sees_a_different_update():
    """The agreement above is not vacuous: a peer with another learning rate misses it by far."""
    s = data.sinusoids(16, seed=0)
    family = models.mlp(1, 1, widths=8, seeds=[0, 1], depth=3, act="tanh")
    ds = data.Dataset(s.inputs, s.y, s.inputs[:1], s.y[:1])
    ours = bench._trainer(family, ds, 1, 1e-2)
    nets = [models.to_module(family, k) for k in range(2)]
    same = bench._vmap(nets, s.inputs, s.y, 1, 1e-2)
    nets = [models.to_module(family, k) for k in range(2)]
    other = bench._loop(nets, s.inputs, s.y, 1, 2e-2)
    assert (same - ours).abs().max() < 1e-5
    assert (other - ours).abs().max() > 1e-3


def test_matmul_flops_counts_forward_and_backward():
    # 1→4→4→1 on 10 points, 2 members: layer 1 (1×4) forward + weight grad 4·10·4; layers 2 (4×4) and 3 (4×1)
    # forward + weight grad + input grad 6·10·16 and 6·10·4
    assert bench.matmul_flops(2, 10, [1, 4, 4, 1]) == 2 * (4 * 10 * 4 + 6 * 10 * 16 + 6 * 10 * 4)
    assert bench.matmul_flops(64, 256, [1, 32, 32, 1]) == 64 * 256 * (6 * 32**2 + 10 * 32)


def test_run_names_a_bad_argument():
    with pytest.raises(ValueError, match="steps"):
        bench.run(widths=(4,), steps=0, device="cpu")
    with pytest.raises(ValueError, match="widths"):
        bench.run(widths=(0,), device="cpu")


def test_kernel_benchmark_agrees_and_reports():
    r = bench.run_kernels(d=10, d_dense=7, device="cpu")
    assert r["max_rel_diff"] < 1e-6 and r["spectrum_s"] > 0 and r["ratio"] > 0
    assert "speed-up" in bench.report_kernels(r)


def test_goals_are_read_from_the_right_rows():
    rows = [{"width": 32, "vs_vmap": 1.29, "trainer": {"of_peak": 0.9}},
            {"width": 256, "vs_vmap": 2.0, "trainer": {"of_peak": 0.61}}]
    got = {g["width"]: (g["what"], g["value"], g["met"]) for g in bench.goals(rows)}
    assert got == {32: ("vs_vmap", 1.29, False), 256: ("of_peak", 0.61, True)}
    assert bench.goals([{"width": 64, "vs_vmap": 9.0, "trainer": {"of_peak": 1.0}}]) == []
    # with the compiled side measured, its goals are read from its own entries
    rows[0].update(compiled_vs_vmap=1.9, compiled={"of_peak": 0.2})
    rows[1].update(compiled_vs_vmap=1.3, compiled={"of_peak": 0.596})
    got = {(g["width"], g["side"]): (g["value"], g["met"]) for g in bench.goals(rows)}
    assert got == {(32, "trainer"): (1.29, False), (32, "compiled"): (1.9, True),
                   (256, "trainer"): (0.61, True), (256, "compiled"): (0.596, False)}
    assert "ours, compiled: share of the bmm peak at width 256 ≥ 60%: 59.6%, NOT met" in "\n".join(
        bench._goal_line(g) for g in bench.goals(rows))


def test_cold_compiles_use_an_empty_temporary_inductor_cache(monkeypatch):
    monkeypatch.delenv("TORCHINDUCTOR_CACHE_DIR", raising=False)
    with bench._cold_compile_cache(True) as what:
        tmp = os.environ["TORCHINDUCTOR_CACHE_DIR"]
        assert "temporary" in what and os.path.isdir(tmp) and not os.listdir(tmp)
    assert "TORCHINDUCTOR_CACHE_DIR" not in os.environ and not os.path.exists(tmp)
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", "/somewhere/else")
    with bench._cold_compile_cache(True) as what:  # a cache the user chose is left alone
        assert what == "/somewhere/else" == os.environ["TORCHINDUCTOR_CACHE_DIR"]
