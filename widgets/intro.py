"""The introduction's small live demo: a family of MLPs of several widths fits a sum of sines.

It exercises the whole pipeline (data → batched trainer → records → chart → claim) in seconds.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import ClassVar

import torch

from widgets.core import cost, data, models, train
from widgets.core.checks import check_float, check_int, check_ints, check_memory
from widgets.core.params import Params, experiment


@dataclass(frozen=True)
class DemoParams(Params):
    """Sizes of the demo. ``ks``: the target's frequencies (cycles on [0, 1)); ``widths``: one member each."""

    FULL: ClassVar[dict] = {"n": 256, "ks": (1, 2, 4, 8), "widths": (8, 32, 128, 512), "depth": 4,
                            "steps": 10_000, "records": 40}
    STEPS: ClassVar[tuple] = ("steps",)

    n: int = 128
    ks: tuple = (1, 2, 4)
    widths: tuple = (8, 32, 128)
    depth: int = 3
    steps: int = 1500
    lr: float = 3e-3
    records: int = 24
    seed: int = 0

    def check(self) -> None:
        n = check_int("n", self.n, 8, 10**6)
        check_ints("ks", self.ks, 1, (n - 1) // 2)  # below the grid's Nyquist frequency n/2
        widths = check_ints("widths", self.widths, 1, 10**5)
        depth = check_int("depth", self.depth, 1, 64)
        check_int("steps", self.steps, 1, 10**7)
        check_float("lr", self.lr, 0, 10, lo_open=True)
        records = check_int("records", self.records, 2, 10**4)
        check_int("seed", self.seed, 0)
        K = len(widths)  # and the recorded outputs
        check_memory("widths × depth × n × records",
                     models.training_bytes(K, n, 1, 1, max(widths), depth) + 4 * records * K * n)


def _fit_sines_cost(p: DemoParams) -> cost.Cost:
    # one padded family at the widest width; every record evaluates the train and test inputs and the probe
    return cost.train(members=len(p.widths), sizes=cost.mlp_sizes(1, max(p.widths), p.depth, 1), batch=p.n,
                      steps=p.steps, evals=3 * p.n, records=p.records)


@cost.model(_fit_sines_cost)
@experiment
def fit_sines(p: DemoParams, *, device=None, progress: bool = False) -> dict:
    """Train one MLP per width on f(x) = Σ sin(2π k x + 2π φ_k), full-batch Adam on MSE.

    Returns plain tensors: ``x`` [n] in [0, 1), ``target`` [n], ``steps`` [T], ``outputs`` [T, K, n] (each
    member's function at each record), ``train_loss`` [T, K], ``widths`` [K], ``seconds``.
    """
    s = data.sinusoids(p.n, ks=p.ks, seed=p.seed)
    ds = data.Dataset(s.inputs, s.y, s.inputs, s.y)
    family = models.mlp(1, 1, widths=list(p.widths), seeds=[p.seed] * len(p.widths), depth=p.depth,
                        device=device)
    result = train.train(family, ds, steps=p.steps, lr=p.lr, records=p.records,
                         probes={"f": train.outputs_on(s.inputs)}, progress=progress)
    return {"x": s.x, "target": s.y[:, 0], "steps": result.steps, "outputs": result.probes["f"][..., 0],
            "train_loss": result.train_loss, "widths": torch.tensor(p.widths), "seconds": result.seconds,
            "params": asdict(p)}


# ---------------------------------------------------------------- the chapter's plan


def plan(mode: str | None = None) -> list:
    """The chapter's runs, (experiment, params), as it makes them: its cost before it starts."""
    return [(fit_sines, DemoParams.preset(mode))]
