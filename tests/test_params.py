"""The Params base (presets derived once, validation once) and the one experiment signature."""

import dataclasses
import importlib
import inspect
import math
import re
import typing
from dataclasses import dataclass, replace
from typing import ClassVar

import pytest

from widgets.core.checks import check_int
from widgets.core.params import Params

TOPICS = ("intro", "spectral", "implicit_regularization", "implicit_bias", "eigenspace", "simplicity",
          "double_descent", "information_bottleneck", "loss_choice", "nonconvex_optimization")


@dataclass(frozen=True)
class Toy(Params):
    FULL: ClassVar[dict] = {"steps": 5000, "ks": (1, 2, 3, 4)}

    steps: int = 100
    ks: tuple = (1, 2)
    lr: float = 0.1

    def check(self) -> None:
        check_int("steps", self.steps, 1, 10**6)


def test_quick_is_the_defaults_and_full_overrides_only_what_FULL_names():
    assert Toy.preset("quick") == Toy()
    full = Toy.preset("full")
    assert (full.steps, full.ks) == (5000, (1, 2, 3, 4))
    assert full.lr == Toy().lr  # not named in FULL: the default
    assert Toy.FULL == {"steps": 5000, "ks": (1, 2, 3, 4)}  # presets never mutate the table


def test_mode_none_takes_the_default_mode(monkeypatch):
    monkeypatch.setenv("WIDGETS_MODE", "full")
    assert Toy.preset(None) == Toy.preset("full")
    monkeypatch.setenv("WIDGETS_MODE", "quick")
    assert Toy.preset() == Toy()


@pytest.mark.parametrize("mode", ["fast", "", "Full", 1])
def test_bad_mode_is_a_value_error_naming_mode(mode):
    with pytest.raises(ValueError, match="mode must be one of"):
        Toy.preset(mode)


def test_validation_fires_on_construction_and_on_replace():
    with pytest.raises(ValueError, match=r"steps must be an integer in \[1, 1000000\], got 0"):
        Toy(steps=0)
    with pytest.raises(ValueError, match="steps"):
        replace(Toy(), steps=-3)
    assert replace(Toy(), steps=7).steps == 7


def test_full_naming_an_unknown_field_is_an_error():
    @dataclass(frozen=True)
    class Typo(Params):
        FULL: ClassVar[dict] = {"stpes": 10}
        steps: int = 1

    with pytest.raises(ValueError, match="stpes"):
        Typo.preset("full")


def test_a_bad_full_preset_fails_validation():
    @dataclass(frozen=True)
    class TooBig(Toy):
        FULL: ClassVar[dict] = {"steps": 10**9}

    with pytest.raises(ValueError, match="steps"):
        TooBig.preset("full")


def test_params_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        Toy().steps = 3


# ---------------------------------------------------------------- every topic's Params and experiments


def _params_classes():
    for name in TOPICS:
        mod = importlib.import_module(f"widgets.{name}")
        for attr, obj in vars(mod).items():
            if isinstance(obj, type) and obj.__module__ == mod.__name__ and dataclasses.is_dataclass(obj) \
                    and attr.endswith("Params"):
                yield f"{name}.{attr}", obj


def _experiments():
    """Every public function of a topic module whose first parameter is annotated with a Params class."""
    found = []
    for name in TOPICS:
        mod = importlib.import_module(f"widgets.{name}")
        for attr, fn in vars(mod).items():
            if attr.startswith("_") or not inspect.isfunction(fn) or fn.__module__ != mod.__name__:
                continue
            hints = typing.get_type_hints(fn)
            first = next(iter(inspect.signature(fn).parameters), None)
            kind = hints.get(first)
            if isinstance(kind, type) and issubclass(kind, Params):
                found.append((f"{name}.{attr}", fn, hints))
    return found


PARAMS = dict(_params_classes())
EXPERIMENTS = _experiments()


def test_every_topic_params_class_derives_from_the_base():
    assert len(PARAMS) >= 20
    bad = [name for name, cls in PARAMS.items() if not issubclass(cls, Params)]
    assert not bad, f"not derived from widgets.core.params.Params: {bad}"


@pytest.mark.parametrize("name", sorted(PARAMS))
def test_every_preset_is_valid_and_full_names_only_fields(name):
    cls = PARAMS[name]
    assert cls.preset("quick") == cls()
    full = cls.preset("full")
    overrides = cls.full_overrides()
    kept = [f.name for f in dataclasses.fields(cls) if f.name not in overrides]
    assert all(getattr(full, k) == getattr(cls(), k) for k in kept)
    assert all(getattr(full, k) == v for k, v in overrides.items())
    for attr in ("quick", "full"):
        assert attr not in vars(cls), f"{name} defines its own {attr}(): the base derives presets"
    assert "preset" not in vars(cls), f"{name} defines its own preset(): the base derives it"


def test_experiments_are_found():
    names = {n for n, *_ in EXPERIMENTS}
    assert {"intro.fit_sines", "spectral.learn_sines", "implicit_bias.max_margin", "double_descent.width_sweep",
            "simplicity.adversarial_training", "eigenspace.mode_counts"} <= names
    assert len(names) >= 25


@pytest.mark.parametrize("name,fn,hints", EXPERIMENTS, ids=[n for n, *_ in EXPERIMENTS])
def test_every_experiment_has_the_one_signature(name, fn, hints):
    """``f(p, *, device=None, progress=False) -> dict``: nothing else, so a chapter's ``run`` can call any."""
    params = list(inspect.signature(fn).parameters.values())
    shape = [(q.name, q.kind, q.default) for q in params]
    assert shape == [
        (params[0].name, inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.empty),
        ("device", inspect.Parameter.KEYWORD_ONLY, None),
        ("progress", inspect.Parameter.KEYWORD_ONLY, False),
    ], f"{name}{inspect.signature(fn)}"
    assert params[0].name == "p", f"{name}: call the parameters p"
    assert hints.get("return") is dict, f"{name} must be annotated -> dict"


def test_a_function_taking_p_is_annotated_so_it_is_found():
    """The finder above keys on the annotation: a public function whose first parameter is ``p`` without a
    Params annotation would slip past the signature check."""
    found = {n for n, *_ in EXPERIMENTS}
    loose = []
    for name in TOPICS:
        mod = importlib.import_module(f"widgets.{name}")
        for attr, fn in vars(mod).items():
            if attr.startswith("_") or not inspect.isfunction(fn) or fn.__module__ != mod.__name__:
                continue
            first = next(iter(inspect.signature(fn).parameters), None)
            if first == "p" and f"{name}.{attr}" not in found:
                loose.append(f"{name}.{attr}")
    assert not loose, f"take p without a Params annotation: {loose}"


# ---------------------------------------------------------------- dry runs: iteration counts capped, sizes kept

ITERATION_WORDS = ("steps", "epochs", "iters", "check_at")  # field names that count iterations


@pytest.mark.parametrize("name", sorted(PARAMS))
def test_every_iteration_count_is_named_in_steps(name):
    """A dry run caps exactly the fields in STEPS: an iteration field left out would run in full."""
    cls = PARAMS[name]
    full = cls.preset("full")
    counts = {f.name for f in dataclasses.fields(cls)
              if any(w in f.name for w in ITERATION_WORDS) and isinstance(getattr(full, f.name), int)}
    assert counts <= set(cls.STEPS), f"{name}: iteration fields not in STEPS: {sorted(counts - set(cls.STEPS))}"
    assert set(cls.STEPS) <= {f.name for f in dataclasses.fields(cls)}, f"{name}.STEPS names unknown fields"
    assert set(cls.CPU_FIT) <= {f.name for f in dataclasses.fields(cls)}, f"{name}.CPU_FIT names unknown fields"
    assert set(cls.CPU_FIT.values()) <= {"half", "take", "minus"}, f"{name}.CPU_FIT: unknown ways to shrink"


@pytest.mark.parametrize("name", sorted(PARAMS))
@pytest.mark.parametrize("max_steps", [2, 3, 10])
def test_a_capped_full_preset_is_valid_and_keeps_every_size(name, max_steps):
    cls = PARAMS[name]
    full = cls.preset("full")
    capped = full.capped(max_steps)  # validates on construction
    changed = {f.name for f in dataclasses.fields(cls) if getattr(capped, f.name) != getattr(full, f.name)}
    assert changed <= set(full.cap(max_steps)), f"{name}: the cap changed {changed - set(full.cap(max_steps))}"
    for f in cls.STEPS:
        assert getattr(capped, f) <= max_steps
    assert full.capped(10**7) == full


def test_cap_extends_to_derived_counts():
    from widgets.implicit_regularization import IGRParams
    from widgets.nonconvex_optimization import WideParams

    igr = IGRParams.preset("full").capped(5)  # lrs span a factor 32: the largest lr still takes one step
    assert min(round(igr.time / h) for h in igr.lrs) == 1
    assert max(round(igr.time / h) for h in igr.lrs) == max(igr.lrs) / min(igr.lrs)
    quick = IGRParams().capped(10)  # lrs span a factor 8: the smallest lr takes exactly the cap
    assert max(round(quick.time / h) for h in quick.lrs) == 10
    wide = WideParams.preset("full").capped(5)
    assert wide.steps == 5 and wide.read_at <= wide.lr * wide.steps


@dataclass(frozen=True)
class Sized(Params):
    STEPS: ClassVar[tuple] = ("steps",)
    CPU_FIT: ClassVar[dict] = {"width": "half", "widths": "half", "seeds": "take", "d": "minus"}

    steps: int = 1000
    width: int = 512
    widths: tuple = (8, 64, 512)
    seeds: tuple = (0, 1, 2, 3, 4, 5, 6, 7)
    d: int = 20

    def check(self) -> None:
        check_int("width", self.width, 16, 10**6)


def test_dry_run_caps_and_shrinks_only_what_does_not_fit():
    p, shrunk = Sized().dry_run(3, "cpu", fits=lambda q: True)
    assert p == Sized(steps=3) and shrunk == {}
    # width ∝ cost: the smallest power of two that fits is 4 (512 → 128), never further
    p, shrunk = Sized().dry_run(3, "cpu", fits=lambda q: q.width <= 150)
    assert (p.width, p.steps, p.widths) == (128, 3, (8, 64, 512)) and shrunk == {"width": (512, 128)}
    # width stops at its check's minimum (16), then the tuple shrinks element by element, at least 1
    p, shrunk = Sized().dry_run(3, "cpu", fits=lambda q: q.width <= 16 and max(q.widths) <= 100)
    assert (p.width, p.widths) == (16, (1, 8, 64))  # 512 / 8 = 64 fits, 512 / 4 = 128 would not
    assert shrunk == {"width": (512, 16), "widths": ((8, 64, 512), (1, 8, 64))}
    # seeds are cut, not divided (to one, in order, before d is touched); an exponent goes down one at a time
    p, shrunk = Sized().dry_run(3, "cpu", fits=lambda q: len(q.seeds) * 2**q.d <= 2 * 2**17)
    assert p.seeds == (0,) and p.d == 18 and p.widths == (1, 1, 1) and p.width == 16
    # on a GPU nothing shrinks
    assert Sized().dry_run(3, "meta", fits=lambda q: False)[1] == {}
    with pytest.raises(ValueError, match="does not fit this CPU"):
        Sized().dry_run(3, "cpu", fits=lambda q: False)
    with pytest.raises(ValueError, match="max_steps"):
        Sized().capped(1)


# ---------------------------------------------------------------- every field refuses what its type cannot be


def _wrong_values(name: str, cls) -> list:
    """Values that no field of this annotation may take: a wrong type, and for numbers NaN and inf (each field's
    range in check() must hold them out), for tuples a wrong type and NaN or wrong-typed entries."""
    kind = typing.get_type_hints(cls)[name]
    default = getattr(cls(), name)
    options = [k for k in typing.get_args(kind) if k is not type(None)]
    kind = options[0] if options else kind
    if kind is bool:
        return ["yes", 1]
    if kind is int:
        return ["8", 2.5, True, math.nan, math.inf]
    if kind is float:
        return ["0.1", True, math.nan, math.inf, -math.inf]
    if kind is str:
        return [5, None, "bogus"]
    if kind is tuple:
        entries = [("bogus",)] if default and isinstance(default[0], str) else [(math.nan,), ("x",)]
        return ["ab", 5, None, *entries]
    raise AssertionError(f"{cls.__name__}.{name}: an annotation the base does not check: {kind}")


FIELD_CASES = [(name, f.name, value) for name, cls in sorted(PARAMS.items()) for f in dataclasses.fields(cls)
               for value in _wrong_values(f.name, cls)]


@pytest.mark.parametrize("name,field,value", FIELD_CASES, ids=[f"{n}.{f}={v!r}" for n, f, v in FIELD_CASES])
def test_every_field_refuses_a_value_its_type_cannot_be(name, field, value):
    """Each field is checked (the base: its type; check(): its range, NaN and inf included), with an error
    naming the field."""
    with pytest.raises((TypeError, ValueError), match=rf"^{re.escape(field)}(\[i\])? must"):
        replace(PARAMS[name](), **{field: value})


def _unrelated_params(cls):
    """A Params instance of a class neither ``cls`` nor derived from it or its base (OneNetParams is a
    TwoLayerParams, so passing one where the other is expected would be accepted rightly)."""
    other = next(c for c in PARAMS.values() if not issubclass(c, cls) and not issubclass(cls, c))
    return other()


@pytest.mark.parametrize("name,fn,hints", EXPERIMENTS, ids=[n for n, *_ in EXPERIMENTS])
def test_every_experiment_checks_its_arguments_before_any_work(name, fn, hints):
    """``p`` of the wrong class, a bogus device and a non-bool ``progress`` are each refused with an error
    naming the argument (the ``@experiment`` decorator), before the experiment starts."""
    cls = hints[next(iter(inspect.signature(fn).parameters))]
    with pytest.raises(TypeError, match=rf"^p must be a {cls.__name__}"):
        fn(_unrelated_params(cls))
    with pytest.raises(ValueError, match="device must name a device"):
        fn(cls(), device="bogus")
    with pytest.raises(TypeError, match="progress must be True or False"):
        fn(cls(), progress="yes")
