import torch

from widgets.figures import spectral as fig


def fake_result(case="equal", T=5, S=2, m=3, n=16):
    return {"amplitude_case": case, "steps": torch.tensor([0, 1, 3, 10, 30][:T]), "ks": torch.tensor([5.0, 10, 15][:m]),
            "ratio": torch.rand(T, S, m, dtype=torch.float64), "x": torch.arange(n) / n,
            "outputs": torch.randn(T, S, n), "targets": torch.randn(S, n)}


def test_charts_have_titles_descriptions_and_axis_titles():
    specs = [fig.spectrum_heatmap([fake_result(), fake_result("rising")]).to_dict(),
             fig.fit_over_training(fake_result()).to_dict()]
    for spec in specs:
        assert spec.get("description") and spec.get("title")
    heat = specs[0]["spec"]["encoding"]
    assert "frequency" in heat["y"]["title"] and "step" in heat["x"]["title"]
    # the slider of the fit figure steps through every recorded step
    assert specs[1]["params"][0]["bind"]["max"] == 4


def test_practice_verdict_reads_the_direction_of_each_intervention():
    rows = []
    for name, acc, same, diff in [("baseline", 0.9, 0.010, 0.010), ("more data", 0.95, 0.008, 0.012),
                                  ("augmentation", 0.95, 0.012, 0.008)]:
        rows.append({"intervention": name, "seed": 0, "n_train": 10, "step": 5, "test_acc": acc, "hf_same": same,
                     "hf_diff": diff})
    text = fig.practice_verdict(fig.practice_table(rows)).data
    more, aug = text.split("\n- ")[1:]
    assert "more data" in more and "This matches" in more
    assert "augmentation" in aug and "does **not** match" in aug
