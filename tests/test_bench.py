import pytest
import torch

from widgets import bench
from widgets.core import data, models


@pytest.fixture(scope="module")
def tiny():
    """The family benchmark at a tiny size: two widths, three members, one thread (restored after)."""
    return bench.run(widths=(8, 12), members=3, n=16, steps=3, repeats=2, threads=1, device="cpu")


def test_family_benchmark_reports_every_side_at_every_width(tiny):
    assert {"device", "threads", "members", "n", "steps", "repeats", "lr"} <= tiny.keys()
    assert tiny["threads"] == 1 and [row["width"] for row in tiny["widths"]] == [8, 12]
    assert tiny["goals"] == []  # issue 14's goals are at widths 32 and 256
    for row in tiny["widths"]:
        assert row["flops_per_step"] == bench.matmul_flops(3, 16, [1, row["width"], row["width"], 1])
        assert row["bmm_peak_gflops"] > 0
        for name in bench.SIDES:
            side = row[name]
            assert side["step_s"] > 0
            assert side["gflops"] == pytest.approx(row["flops_per_step"] / side["step_s"] / 1e9)
            assert side["of_peak"] == pytest.approx(side["gflops"] / row["bmm_peak_gflops"])
        assert row["vs_vmap"] == pytest.approx(row["vmap"]["step_s"] / row["trainer"]["step_s"])
        assert row["vs_loop"] == pytest.approx(row["loop"]["step_s"] / row["trainer"]["step_s"])
    text = bench.report(tiny)
    assert "3 members" in text and "width 12" in text and all(name in text for name in bench.SIDES)


def test_run_restores_the_thread_count():
    before = torch.get_num_threads()
    bench.run(widths=(4,), members=2, n=8, steps=1, repeats=1, threads=1, device="cpu")
    assert torch.get_num_threads() == before


def test_both_peers_train_the_same_models_as_the_trainer(tiny):
    """Same init, same data, same Adam: after one step (where Adam's update is ±lr per weight, so any
    difference in the gradient's sign or the update shows) and after the last, the losses agree."""
    for row in tiny["widths"]:
        scale = max(1.0, row["step1_loss"])
        for peer in ("vmap", "loop"):
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
