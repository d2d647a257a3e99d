"""Tests of widgets.core.checks: every helper refuses what it should with a message naming the argument."""

import math

import pytest
import torch

from widgets.core import checks

_NAN = float("nan")
_BAD_INPUTS = [
    (checks.check_ints, ("ks", (1, 2.5)), {}, ValueError, r"ks\[i\] must be an integer"),
    (checks.check_ints, ("ks", ()), {}, ValueError, r"ks must have at least 1 entries"),
    (checks.check_ints, ("ks", 5), {}, TypeError, r"ks must be a list or tuple"),
    (checks.check_ints, ("ks", [0, 3]), {"lo": 1}, ValueError, r"ks\[i\] must be an integer in \[1, inf\]"),
    (checks.check_floats, ("lrs", [0.1, _NAN]), {}, ValueError, r"lrs\[i\] must be a finite number"),
    (checks.check_floats, ("lrs", [0.0]), {"lo": 0, "lo_open": True}, ValueError,
     r"lrs\[i\] must be a finite number in \(0, inf\]"),
    (checks.check_floats, ("lrs", "0.1"), {}, TypeError, r"lrs must be a list or tuple"),
    (checks.check_floats, ("lrs", [0.1]), {"min_length": 2}, ValueError, r"lrs must have at least 2 entries"),
    (checks.check_instance, ("d", 3, dict), {}, TypeError, r"d must be a dict, got int"),
    (checks.check_instance, ("g", None, torch.Generator, "a torch.Generator"), {}, TypeError,
     r"g must be a torch.Generator, got NoneType"),
    (checks.check_numbers, ("x", "abc"), {}, TypeError, r"x must be a tensor or a sequence of numbers, got a string"),
    (checks.check_numbers, ("x", [1, "a"]), {}, TypeError, r"x must be a tensor or a sequence of numbers"),
    (checks.check_numbers, ("x", torch.tensor([True])), {}, TypeError, r"x must hold real numbers"),
    (checks.check_numbers, ("x", torch.ones(2, dtype=torch.complex64), torch.float64), {}, TypeError,
     r"x must hold real numbers"),
    (checks.check_float, ("lr", True), {}, ValueError, r"lr must be a number"),
    (checks.check_float, ("lr", "1e-3"), {}, ValueError, r"lr must be a number"),
    (checks.check_int, ("n", _NAN), {}, ValueError, r"n must be an integer, got nan"),
    (checks.check_int, ("n", math.inf), {}, ValueError, r"n must be an integer, got inf"),
    (checks.check_int, ("n", "3"), {}, ValueError, r"n must be an integer"),
    (checks.check_int, ("n", True), {}, ValueError, r"n must be an integer"),
    (checks.check_int, ("n", 2.5), {}, ValueError, r"n must be an integer"),
    (checks.check_int, ("n", 5, 0, 3), {}, ValueError, r"n must be an integer in \[0, 3\], got 5"),
    (checks.check_float, ("lr", _NAN), {}, ValueError, r"lr must be a finite number, got nan"),
    (checks.check_float, ("lr", "fast"), {}, ValueError, r"lr must be a number"),
    (checks.check_float, ("lr", 0.0, 0), {"lo_open": True}, ValueError, r"lr must be a finite number in \(0, inf\]"),
    (checks.check_float, ("p", 1.0, 0, 1), {"hi_open": True}, ValueError, r"p must be a finite number in \[0, 1\)"),
    (checks.check_choice, ("act", "gelu", ("relu",)), {}, ValueError, r"act must be one of \('relu',\)"),
    (checks.check_bool, ("flag", 1), {}, TypeError, r"flag must be True or False"),
    (checks.check_sequence, ("seeds", 3), {}, TypeError, r"seeds must be a list or tuple, got int"),
    (checks.check_sequence, ("seeds", "ab"), {}, TypeError, r"seeds must be a list or tuple, got str"),
    (checks.check_sequence, ("seeds", [1], 2), {}, ValueError, r"seeds must have one entry per member \(2\)"),
    (checks.check_sequence, ("seeds", []), {"min_length": 1}, ValueError, r"seeds must have at least 1 entries"),
    (checks.check_tensor, ("x", [1.0]), {}, TypeError, r"x must be a torch\.Tensor"),
    (checks.check_tensor, ("x", torch.ones(2)), {"ndim": 2, "shape": "[n, d]"},
     ValueError, r"x must have shape \[n, d\]"),
    (checks.check_tensor, ("x", torch.ones(2)), {"ndim": (2, 3)}, ValueError, r"x must have shape 2-D or 3-D"),
    (checks.check_tensor, ("x", torch.tensor([1.0, _NAN])), {}, ValueError, r"x must hold only finite values"),
    (checks.check_tensor, ("x", torch.tensor([True])), {}, TypeError, r"x must be a real-valued"),
    (checks.check_tensor, ("x", torch.ones(2, 0)), {"min_size": 1}, ValueError, r"x must have at least 1 entries"),
    (checks.check_memory, ("the Gram matrix", 1e15), {},
     ValueError, r"the Gram matrix is too large: .*1e\+06 GB.*32 GB"),
    (checks.check_memory, ("x", 2e9), {"budget": 10**9},
     ValueError, r"x is too large: it would need about 2 GB .*1 GB"),
    (checks.check_dtype, ("dtype", "float32"), {}, TypeError, r"dtype must be None or a floating torch dtype"),
    (checks.check_dtype, ("dtype", torch.int32), {}, TypeError, r"dtype must be None or a floating"),
    (checks.check_device, ("device", "bogus"), {}, ValueError, r"device must name a device"),
    (checks.check_device, ("device", "meta"), {}, ValueError, r"device must be cpu, cuda, cuda:N or mps"),
    (checks.check_device, ("device", 3), {}, TypeError, r"device must be None, a device string or a torch\.device"),
]


@pytest.mark.parametrize("fn,args,kwargs,exc,match", _BAD_INPUTS,
                         ids=[f"{c[0].__name__}-{i}" for i, c in enumerate(_BAD_INPUTS)])
def test_bad_input_is_refused_naming_the_argument(fn, args, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        fn(*args, **kwargs)


def test_valid_values_pass_through():
    assert checks.check_int("n", 3.0, 0, 3) == 3 and isinstance(checks.check_int("n", 3.0), int)
    assert checks.check_float("x", 1, 0, 1) == 1.0
    assert checks.check_sequence("s", range(3), 3) == [0, 1, 2]
    assert checks.check_sequence("s", torch.tensor([1, 2])) == [1, 2]
    x = torch.ones(2, 3)
    assert checks.check_tensor("x", x, ndim=2, min_size=1) is x
    assert checks.check_memory("x", 10) == 10 and checks.MEMORY_BUDGET_BYTES == 32 * 10**9
    assert checks.check_device("device", "cpu") == torch.device("cpu") and checks.check_dtype("d", None) is None
