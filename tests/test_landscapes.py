"""The landscape solvers' bad input: a clear error naming the argument, before any work. (Their results are
tested against references in tests/test_nonconvex_optimization.py.)"""

import pytest
import torch

from widgets.core import landscapes

_NAN = float("nan")
_FAM = landscapes.du_network(3, [2, 4], [0, 1])
_A = torch.eye(3, dtype=torch.float64)
_U = torch.eye(3, dtype=torch.float64)[:2]
_M = torch.eye(4, dtype=torch.float64)
_MASK = torch.ones(4, 4, dtype=torch.float64)
_W = torch.randn(2, 3, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
_V = torch.eye(4, dtype=torch.float64)[:2]
_BAD_INPUTS = [
    (landscapes.FixedReadoutFamily, (torch.zeros(6, 3), torch.ones(6), [2, 3], [0, 1]), {}, ValueError,
     r"widths \(summing to the 6 rows of W\) and seeds must be equally long"),
    (landscapes.FixedReadoutFamily, (torch.zeros(6, 3), torch.ones(6), [2, 4], [0]), {}, ValueError,
     r"widths .* and seeds must be equally long"),
    (landscapes.FixedReadoutFamily, (torch.zeros(6, 3), torch.zeros(6), [2, 4], [0, 1]), {}, ValueError,
     r"a must be \[6\] readout signs ±1"),
    (landscapes.FixedReadoutFamily, (torch.full((6, 3), _NAN), torch.ones(6), [2, 4], [0, 1]), {}, ValueError,
     r"W must hold only finite values"),
    (landscapes.FixedReadoutFamily, ("W", torch.ones(6), [2, 4], [0, 1]), {}, TypeError, r"W must be a torch.Tensor"),
    (landscapes.FixedReadoutFamily, (torch.zeros(6, 3), torch.ones(6), [2, 4], [0, -1]), {}, ValueError,
     r"seeds\[i\] must be an integer in \[0, inf\]"),
    (_FAM.forward, (torch.zeros(5, 4),), {}, ValueError, r"x must be a tensor of shape \[n, 3\]"),
    (_FAM.forward, ([[0.0, 1.0, 2.0]],), {}, ValueError, r"x must be a tensor of shape \[n, 3\]"),
    (_FAM.broadcast, (torch.ones(3),), {}, ValueError, r"values must have shape \[2\]"),
    (_FAM.split, (torch.ones(5),), {}, ValueError, r"t must be a tensor with one row per hidden unit \(6\)"),
    (landscapes.du_network, (0, [2], [0]), {}, ValueError, r"d must be an integer in \[1, 1000000\]"),
    (landscapes.du_network, (3, [], []), {}, ValueError, r"widths must have at least 1 entries"),
    (landscapes.du_network, (3, [2, 0], [0, 1]), {}, ValueError, r"widths\[i\] must be an integer in \[1, 10000000\]"),
    (landscapes.du_network, (3, [2, 2], [0]), {}, ValueError, r"widths and seeds must be equally long"),
    (landscapes.du_network, (3, [2], [-1]), {}, ValueError, r"seeds\[i\] must be an integer in \[0, inf\]"),
    (landscapes.du_network, (3, [2], [0]), {"device": "bogus"}, ValueError, r"device must name a device"),
    (landscapes.du_network, (10**6, [10**7], [0]), {}, ValueError, r"10000000 hidden units of 1000000 inputs"),
    (landscapes.half_sum_squares, (torch.zeros(2, 5, 2), torch.zeros(5)), {}, ValueError,
     r"out must be \[K, n, 1\] and y \[n\] or \[n, 1\]"),
    (landscapes.half_sum_squares, (torch.zeros(2, 5, 1), torch.zeros(4)), {}, ValueError, r"out must be \[K, n, 1\]"),
    (landscapes.relu_gram_inf, (torch.tensor([[1.0, 0.0], [0.0, 0.0]]),), {}, ValueError,
     r"x must have no zero row"),
    (landscapes.relu_gram_inf, (torch.zeros(3),), {}, ValueError, r"x must have shape \[n, d\]"),
    (landscapes.relu_gram_inf, (torch.tensor([[1.0, _NAN]]),), {}, ValueError, r"x must hold only finite values"),
    (landscapes.relu_gram_inf, (torch.ones(10**5, 1),), {}, ValueError,
     r"the 100000 × 100000 Gram matrix is too large"),
    (landscapes.pattern_gram, ("fam", torch.ones(4, 3)), {}, TypeError, r"family must be a FixedReadoutFamily"),
    (landscapes.pattern_gram, (_FAM, torch.ones(4, 2)), {}, ValueError, r"x must have shape \[n, 3\]"),
    (landscapes.pattern_gram, (_FAM, torch.ones(4, 3), torch.ones(5, 3)), {}, ValueError,
     r"W must have the family's shape \[6, 3\]"),
    (landscapes.sphere_saddle_gd, (_A, _U), {"lr": 0.0, "steps": 2, "noise": 0.0}, ValueError,
     r"lr must be a finite number in \(0, 10\]"),
    (landscapes.sphere_saddle_gd, (_A, _U), {"lr": 0.1, "steps": -1, "noise": 0.0}, ValueError,
     r"steps must be an integer in \[0, 10000000\]"),
    (landscapes.sphere_saddle_gd, (_A, _U), {"lr": 0.1, "steps": 2, "noise": [0.1, 0.1, 0.1]}, ValueError,
     r"noise must be one number or one per row \(2\)"),
    (landscapes.sphere_saddle_gd, (_A, _U), {"lr": 0.1, "steps": 2, "noise": -1.0}, ValueError,
     r"noise must be one number or one per row \(2\), finite and ≥ 0"),
    (landscapes.sphere_saddle_gd, (_A, _U), {"lr": 0.1, "steps": 2, "noise": "x"}, TypeError,
     r"noise must be a tensor or a sequence of numbers"),
    (landscapes.sphere_saddle_gd, (_A, _U * 0), {"lr": 0.1, "steps": 2, "noise": 0.0}, ValueError,
     r"u0 must have unit \(nonzero\) rows"),
    (landscapes.sphere_saddle_gd, (_A, _U[:, :2]), {"lr": 0.1, "steps": 2, "noise": 0.0}, ValueError,
     r"A must be \[d, d\] and u0 \[B, d\]"),
    (landscapes.sphere_saddle_gd, (_A[:2], _U), {"lr": 0.1, "steps": 2, "noise": 0.0}, ValueError,
     r"A must be \[d, d\]"),
    (landscapes.sphere_saddle_gd, (_A, _U), {"lr": 0.1, "steps": 2, "noise": 0.0, "radius": 3.0}, ValueError,
     r"radius must be a finite number in \(0, 2\]"),
    (landscapes.sphere_saddle_gd, (_A, _U), {"lr": 0.1, "steps": 2, "noise": 0.0, "seed": -1}, ValueError,
     r"seed must be an integer in \[0, inf\]"),
    (landscapes.tensor_decomposition_gd, (_A, _A[None, :2]), {"lr": 0.1, "steps": 2, "noise": 0.0}, ValueError,
     r"U0 must be \[B, d, d\]"),
    (landscapes.tensor_decomposition_gd, (_A, _A[None]), {"lr": 0.1, "steps": 2, "noise": _NAN}, ValueError,
     r"noise must be a finite number in \[0"),
    (landscapes.tensor_decomposition_gd, (_A, _A[None]), {"lr": 0.1, "steps": 2, "noise": 0.0, "clean_steps": -1},
     ValueError, r"clean_steps must be an integer in \[0, 10000000\]"),
    (landscapes.tensor_decomposition_gd, (_A, torch.zeros(1, 3, 3)), {"lr": 0.1, "steps": 2, "noise": 0.0}, ValueError,
     r"U0 must have unit \(nonzero\) rows"),
    (landscapes.psd_completion_gd, (_M, torch.zeros(4, 4), torch.ones(2, 4, 1)), {"lr": 0.1, "steps": 2}, ValueError,
     r"M must be nonzero on the observed entries"),
    (landscapes.psd_completion_gd, (_M * 0, _MASK, torch.ones(2, 4, 1)), {"lr": 0.1, "steps": 2}, ValueError,
     r"M must be nonzero on the observed entries"),
    (landscapes.psd_completion_gd, (_M, _MASK * 2, torch.ones(2, 4, 1)), {"lr": 0.1, "steps": 2}, ValueError,
     r"mask must hold only 0 and 1"),
    (landscapes.psd_completion_gd, (_M, torch.triu(_MASK), torch.ones(2, 4, 1)), {"lr": 0.1, "steps": 2},
     ValueError, r"mask must be symmetric"),
    (landscapes.psd_completion_gd, (_M, _MASK, torch.ones(2, 3, 1)), {"lr": 0.1, "steps": 2}, ValueError,
     r"M and mask must be \[d, d\] and U0 \[B, d, r\]"),
    (landscapes.psd_completion_gd, (_M, _MASK, torch.ones(2, 4, 1)), {"lr": 0.1, "steps": 2, "records": 1},
     ValueError, r"records must be an integer in \[2, 100000\]"),
    (landscapes.psd_completion_gd, (_M, _MASK, torch.ones(2, 4, 1)), {"lr": 0.1, "steps": 2, "progress": "no"},
     TypeError, r"progress must be True or False"),
    (landscapes.psd_completion_gd, (_M, _MASK, torch.ones(2, 4, 1)), {"lr": _NAN, "steps": 2}, ValueError,
     r"lr must be a finite number in \(0, 10000"),
    (landscapes.relu_teacher_loss, (_W, _V[:, :3]), {}, ValueError, r"W \[B, n, d\] and V \[k, d\] must share d"),
    (landscapes.relu_teacher_loss, (_W[0], _V), {}, ValueError, r"W must have shape \[B, n, d\]"),
    (landscapes.relu_teacher_loss, (_W * 0, _V), {}, ValueError, r"W must have no zero row"),
    (landscapes.relu_teacher_loss, (_W, _V * 0), {}, ValueError, r"V must have no zero row"),
    (landscapes.relu_teacher_loss, (_W, _V), {"grad": 1}, TypeError, r"grad must be True or False"),
    (landscapes.relu_teacher_gd, (_W, _V), {"lr": 0.0, "steps": 2}, ValueError, r"lr must be a finite number in \(0"),
    (landscapes.relu_teacher_gd, (_W, _V), {"lr": 0.1, "steps": 2, "records": 0}, ValueError,
     r"records must be an integer in \[2, 100000\]"),
    (landscapes.relu_teacher_gd, (_W * _NAN, _V), {"lr": 0.1, "steps": 2}, ValueError, r"W must hold only finite"),
    (landscapes.affine_regime_point, (torch.ones(4, 2), torch.ones(3), 2), {}, ValueError,
     r"y must hold one target per row of x \(4\)"),
    (landscapes.affine_regime_point, (torch.ones(4, 2), torch.ones(4), 0), {}, ValueError,
     r"hidden must be an integer in \[1, 1000000\]"),
    (landscapes.affine_regime_point, (torch.ones(4, 2), torch.ones(4), 2), {"margin": 0.0}, ValueError,
     r"margin must be a finite number in \(0"),
    (landscapes.affine_regime_point, (torch.ones(4), torch.ones(4), 2), {}, ValueError, r"x must have shape \[n, d\]"),
    (landscapes.affine_regime_point, (torch.ones(4, 2), torch.full((4,), _NAN), 2), {}, ValueError,
     r"y must hold only finite values"),
]


@pytest.mark.parametrize("fn,args,kwargs,exc,match", _BAD_INPUTS,
                         ids=[f"{c[0].__name__}-{i}" for i, c in enumerate(_BAD_INPUTS)])
def test_bad_input_is_refused_naming_the_argument(fn, args, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        fn(*args, **kwargs)


# ---------------------------------------------------------------- random valid input never gives NaN

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=30, deadline=None, database=None)
@given(n=st.integers(1, 6), d=st.integers(1, 4), scale=st.floats(1e-6, 1e3), seed=st.integers(0, 2**16))
def test_random_valid_inputs_never_give_nan(n, d, scale, seed):
    g = torch.Generator().manual_seed(seed)
    x = scale * torch.randn(n, d, generator=g, dtype=torch.float64)
    x[(x == 0).all(1)] = 1.0  # rows must be nonzero
    assert torch.isfinite(landscapes.relu_gram_inf(x)).all()
    W = scale * torch.randn(2, n, d, generator=g, dtype=torch.float64)
    W[(W == 0).all(-1)] = 1.0
    F, G = landscapes.relu_teacher_loss(W, torch.eye(d, dtype=torch.float64), grad=True)
    assert torch.isfinite(F).all() and torch.isfinite(G).all() and (F >= -1e-9 * (1 + scale**2)).all()
    fam = landscapes.du_network(d, [1, 3], [seed, seed + 1], dtype=torch.float64)
    assert torch.isfinite(fam(x)).all() and torch.isfinite(landscapes.pattern_gram(fam, x)).all()
