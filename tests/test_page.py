import json

import pytest
import torch
from IPython.display import Markdown

from widgets import page


@pytest.fixture
def ctx(tmp_path, monkeypatch):
    monkeypatch.setenv("WIDGETS_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("WIDGETS_CLAIMS_DIR", str(tmp_path / "claims"))
    monkeypatch.delenv("WIDGETS_CACHE", raising=False)
    monkeypatch.setattr(page, "_context", None)
    return page.setup("unit_page", "quick", device="cpu", seed=3)


def record(tmp_path) -> dict:
    return json.loads((tmp_path / "claims" / "unit_page.json").read_text())


calls = []


def experiment(p: dict, *, device=None, progress: bool = False) -> dict:
    calls.append({"p": p, "device": device, "progress": progress})
    return {"y": torch.full((3,), float(p["a"])), "draw": torch.rand(()).item()}


def no_device(p: dict) -> dict:
    calls.append({"p": p})
    return {"a": p["a"], "seconds": 12.5}


def scaled(p: dict, factor: float, *, offset: float = 0.0, device=None) -> torch.Tensor:
    calls.append({"factor": factor, "offset": offset})
    return torch.tensor([p["a"] * factor + offset])


@pytest.fixture(autouse=True)
def clear_calls():
    calls.clear()


def test_run_caches_a_second_call_does_not_compute(ctx, tmp_path):
    a = page.run(experiment, {"a": 2})
    b = page.run(experiment, {"a": 2})
    assert len(calls) == 1 and torch.equal(a["y"], b["y"]) and a["draw"] == b["draw"]
    assert a["seconds"] == b["seconds"] >= 0  # the compute time, stored with the result
    page.run(experiment, {"a": 5})
    assert len(calls) == 2  # other parameters: computed
    runs = record(tmp_path)["runs"]
    assert [r["cache"] for r in runs] == ["hit", "miss"]  # the repeated run replaced its entry
    assert runs[0]["experiment"] == "test_page.experiment"
    assert runs[0]["compute_s"] == pytest.approx(a["seconds"], abs=1e-3)


def test_run_passes_device_and_progress(ctx):
    page.run(experiment, {"a": 1})
    assert calls[-1]["device"] == torch.device("cpu") and calls[-1]["progress"] is ctx.progress
    page.run(experiment, {"a": 1}, progress=not ctx.progress)  # not keyed: progress changes no result
    assert len(calls) == 1
    page.run(no_device, {"a": 1})  # an experiment without device/progress gets neither
    assert calls[-1] == {"p": {"a": 1}}


def test_run_keys_args_and_extra(ctx):
    assert page.run(scaled, {"a": 2}, 3.0).item() == 6.0
    assert page.run(scaled, {"a": 2}, 3.0).item() == 6.0
    assert page.run(scaled, {"a": 2}, 4.0).item() == 8.0
    assert page.run(scaled, {"a": 2}, 3.0, offset=1.0).item() == 7.0
    assert len(calls) == 3


def test_run_keeps_an_experiments_own_seconds_and_seeds_first(ctx, monkeypatch):
    assert page.run(no_device, {"a": 1})["seconds"] == 12.5
    draws = {page.run(experiment, {"a": a})["draw"] for a in (1, 2)}
    assert len(draws) == 1  # each computation starts from the chapter's seed, not from the last one's state
    monkeypatch.setenv("WIDGETS_CACHE", "off")
    page.run(experiment, {"a": 1})
    page.run(experiment, {"a": 1})
    assert len(calls) == 5  # 1 + 2 computed, then 2 more with the cache off


def test_run_returns_cpu_results_and_refuses_non_plain_ones(ctx):
    with pytest.raises(ValueError, match=r"value\['net'\] is a Linear"):
        page.run(lambda p, device=None: {"net": torch.nn.Linear(1, 1)}, {})


def test_run_needs_setup(monkeypatch):
    monkeypatch.setattr(page, "_context", None)
    with pytest.raises(RuntimeError, match="setup"):
        page.run(experiment, {"a": 1})


def test_note_glues(monkeypatch):
    import myst_nb

    glued = []
    monkeypatch.setattr(myst_nb, "glue", lambda name, value, display=True: glued.append((name, value, display)))
    md = Markdown("**x**")
    page.note(n=3, rate=0.25, mode="quick", table=md, t=torch.tensor(1.5), flag=True)
    assert glued == [("n", 3, False), ("rate", 0.25, False), ("mode", "quick", False), ("table", md, False),
                     ("t", 1.5, False), ("flag", True, False)]
    glued.clear()
    with pytest.raises(ValueError, match="'v' must be a single number"):
        page.note(ok=1, v=torch.ones(2))
    with pytest.raises(ValueError, match="'obj' must be a number"):
        page.note(obj=object())
    assert glued == []  # a bad value glues nothing


def test_note_takes_a_function_whose_failure_stands_in_a_real_run(ctx, monkeypatch):
    from widgets.book import glue

    glued = {}
    monkeypatch.setattr(glue, "glue", lambda name, value: glued.__setitem__(name, value))
    page.note(k=lambda: 2.5, table=Markdown("x"))  # computed; a rich object is glued as it is
    assert glued["k"] == 2.5 and isinstance(glued["table"], Markdown)
    with pytest.raises(ZeroDivisionError):
        page.note(slope=lambda: 1 / 0)


def test_a_dry_run_caps_steps_records_the_cost_and_glues_what_it_cannot_compute(tmp_path, monkeypatch):
    from dataclasses import dataclass
    from typing import ClassVar

    from widgets.book import glue
    from widgets.core import cost
    from widgets.core.params import Params

    monkeypatch.setenv("WIDGETS_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("WIDGETS_CLAIMS_DIR", str(tmp_path / "claims"))
    monkeypatch.setattr(page, "_context", None)

    @dataclass(frozen=True)
    class P(Params):
        STEPS: ClassVar[tuple] = ("steps",)
        CPU_FIT: ClassVar[dict] = {"width": "half"}
        steps: int = 500
        width: int = 1024

    seen = []

    @cost.model(lambda p: cost.Cost(flops=p.width * 1e10, memory=p.width))  # 1024 wide: too slow for a dry run
    def exp(p: P, *, device=None, progress: bool = False) -> dict:
        seen.append(p)
        return {"steps": p.steps}

    glued = {}
    monkeypatch.setattr(glue, "glue", lambda name, value: glued.__setitem__(name, value))
    ctx = page.setup("unit_page", "quick", device="cpu", max_steps=4)
    assert ctx.max_steps == 4
    page.run(exp, P())
    assert seen[0].steps == 4 and seen[0].width < 1024  # capped, and shrunk to fit this CPU
    page.note(slope=lambda: 1 / 0)
    assert glued["slope"] == "n/a (dry run)"
    rec = json.loads((tmp_path / "claims" / "dry-run" / "unit_page.json").read_text())
    assert rec["runs"][0]["cost"]["gflop"] == pytest.approx(10240, rel=1e-3)  # the full run's estimate
    with pytest.raises(ValueError, match="max_steps"):
        page.setup("unit_page", "quick", device="cpu", max_steps=0)
