from widgets import bench


def test_batched_and_loop_train_the_same_models():
    r = bench.run(members=4, width=16, n=32, steps=5, device="cpu")
    assert r["max_final_loss_diff"] < 1e-4 * max(1.0, r["final_loss_mean"])
    assert r["batched_s"] > 0 and r["loop_s"] > 0 and r["bmm_peak_gflops"] > 0
    text = bench.report(r)
    assert "speed-up" in text and "4 members" in text


def test_kernel_benchmark_agrees_and_reports():
    r = bench.run_kernels(d=10, d_dense=7, device="cpu")
    assert r["max_rel_diff"] < 1e-6 and r["spectrum_s"] > 0 and r["ratio"] > 0
    assert "speed-up" in bench.report_kernels(r)
