"""The introduction's demo: its parameters and its experiment refuse bad input with an error naming it."""

import math

import pytest

from widgets import intro

_BAD_INPUTS = [
    (intro.DemoParams, (), {"n": 4}, ValueError, r"n must be an integer in \[8, 1000000\]"),
    (intro.DemoParams, (), {"n": 12.5}, ValueError, r"n must be an integer"),
    (intro.DemoParams, (), {"ks": ()}, ValueError, r"ks must have at least 1 entries"),
    (intro.DemoParams, (), {"ks": (1, 64)}, ValueError, r"ks\[i\] must be an integer in \[1, 63\]"),
    (intro.DemoParams, (), {"ks": (1.5,)}, ValueError, r"ks\[i\] must be an integer"),
    (intro.DemoParams, (), {"widths": ()}, ValueError, r"widths must have at least 1 entries"),
    (intro.DemoParams, (), {"widths": (8, 0)}, ValueError, r"widths\[i\] must be an integer in \[1, 100000\]"),
    (intro.DemoParams, (), {"widths": 8}, TypeError, r"widths must be a list or tuple"),
    (intro.DemoParams, (), {"depth": 0}, ValueError, r"depth must be an integer in \[1, 64\]"),
    (intro.DemoParams, (), {"steps": -1}, ValueError, r"steps must be an integer in \[1, 10000000\]"),
    (intro.DemoParams, (), {"lr": math.nan}, ValueError, r"lr must be a finite number in \(0, 10\]"),
    (intro.DemoParams, (), {"lr": "0.1"}, ValueError, r"lr must be a number"),
    (intro.DemoParams, (), {"records": 1}, ValueError, r"records must be an integer in \[2, 10000\]"),
    (intro.DemoParams, (), {"seed": -1}, ValueError, r"seed must be an integer in \[0, inf\]"),
    (intro.DemoParams, (), {"widths": (10**5,) * 8, "depth": 64}, ValueError,
     r"widths × depth × n × records is too large: it would need about .* GB"),
    (intro.fit_sines, ("params",), {}, TypeError, r"p must be a DemoParams"),
    (intro.fit_sines, (intro.DemoParams(),), {"device": "bogus"}, ValueError, r"device must name a device"),
    (intro.fit_sines, (intro.DemoParams(),), {"device": "meta"}, ValueError, r"device must be cpu, cuda"),
    (intro.fit_sines, (intro.DemoParams(),), {"device": 3}, TypeError, r"device must be None, a device string"),
    (intro.fit_sines, (intro.DemoParams(),), {"progress": "yes"}, TypeError, r"progress must be True or False"),
]


@pytest.mark.parametrize("fn,args,kwargs,exc,match", _BAD_INPUTS,
                         ids=[f"{c[0].__name__}-{i}" for i, c in enumerate(_BAD_INPUTS)])
def test_bad_input_is_refused_naming_the_argument(fn, args, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        fn(*args, **kwargs)


def test_the_demo_runs_at_a_tiny_size():
    r = intro.fit_sines(intro.DemoParams(n=16, ks=(1, 2), widths=(4, 8), depth=2, steps=3, records=2))
    assert r["outputs"].shape == (2, 2, 16) and r["train_loss"].shape == (2, 2)
