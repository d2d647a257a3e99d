import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import rankdata, spearmanr

from widgets.core import stats


def test_ranks_match_scipy_per_row_with_ties():
    g = torch.Generator().manual_seed(0)
    v = torch.randint(0, 5, (3, 40), generator=g).double()
    v[0, :3] = math.inf
    expected = torch.from_numpy(rankdata(v.numpy(), axis=1))
    assert torch.equal(stats.ranks(v), expected)
    with pytest.raises(ValueError, match="NaN"):
        stats.ranks(torch.tensor([1.0, math.nan]))


@pytest.mark.parametrize("a,b", [([1, 2, 3, 4, 5], [2, 1, 4, 3, 5]), ([1, 2, 2, 3, 7], [3, 3, 1, 2, 2]),
                                 ([5, 10, 15, 20], [3.0, math.inf, 7.0, math.inf]),
                                 ([1.0, 2, 3, 4], [10.0, 5, 3, 1])])
def test_spearman_matches_scipy_with_ties(a, b):
    expected = spearmanr(a, [1e300 if math.isinf(v) else v for v in b]).statistic
    assert stats.spearman(a, b) == pytest.approx(expected, abs=1e-12)


def test_spearman_is_nan_for_a_constant_sequence_and_rejects_bad_lengths():
    assert math.isnan(stats.spearman([1, 2, 3], [4, 4, 4]))
    with pytest.raises(ValueError, match="equal length"):
        stats.spearman([1, 2, 3], [1, 2])


def test_auc_matches_sklearn_with_ties():
    from sklearn.metrics import roc_auc_score

    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, 2, (300,), generator=g)
    scores = torch.randint(0, 6, (4, 300), generator=g).float() + 0.3 * y  # many ties
    ours = stats.auc(scores, y)
    for row, a in zip(scores, ours, strict=True):
        assert a.item() == pytest.approx(roc_auc_score(y.numpy(), row.double().numpy()), abs=1e-12)
    assert stats.auc(y.float(), y).item() == 1.0 and stats.auc(-y.float(), y).item() == 0.0
    assert stats.auc(torch.zeros(300), y).item() == 0.5
    with pytest.raises(ValueError, match="both classes"):
        stats.auc(torch.zeros(5), torch.zeros(5, dtype=torch.int64))
    with pytest.raises(ValueError, match="NaN or inf"):
        stats.auc(torch.tensor([0.0, math.nan]), torch.tensor([0, 1]))


def test_effective_rank_closed_forms():
    assert stats.effective_rank(torch.tensor([1.0, 1.0, 1.0, 0.0])).item() == pytest.approx(3.0)
    assert stats.effective_rank(torch.tensor([2.0, 0.0])).item() == pytest.approx(1.0)
    p = torch.tensor([0.75, 0.25])
    assert stats.effective_rank(torch.tensor([3.0, 1.0])).item() == pytest.approx(math.exp(-(p * p.log()).sum().item()))
    # of a PSD kernel's spectrum: the identity spans all 5 directions, a rank-one kernel one
    assert stats.effective_rank(torch.linalg.eigvalsh(torch.eye(5, dtype=torch.float64))).item() == pytest.approx(5.0)
    v = torch.randn(6, dtype=torch.float64)
    ev = torch.linalg.eigvalsh(torch.outer(v, v)).clamp_min(0)
    assert stats.effective_rank(ev).item() == pytest.approx(1.0, abs=1e-6)


def test_loglog_slope_recovers_a_power_law_and_skips_unusable_points():
    x = torch.tensor([1.0, 2.0, 4.0, 8.0])
    assert stats.loglog_slope(x, 3 * x**-2) == pytest.approx(-2.0)
    assert stats.loglog_slope(torch.cat([x, torch.tensor([16.0])]),
                              torch.cat([3 * x**2, torch.tensor([math.inf])])) == pytest.approx(2.0)
    with pytest.raises(ValueError, match="at least two"):
        stats.loglog_slope([1.0], [2.0])
    with pytest.raises(ValueError, match="at least two"):
        stats.loglog_slope([1.0, 2.0], [-1.0, 2.0])


def test_first_crossing_above_and_below_on_recorded_steps():
    steps = torch.tensor([0, 1, 10, 100])
    value = torch.tensor([[0.0, 0.0, 0.0], [0.6, 0.1, 0.2], [0.9, 0.7, 0.3], [1.0, 0.9, 0.4]])
    assert stats.first_crossing(steps, value, 0.5, "above").tolist() == [1.0, 10.0, math.inf]
    assert stats.first_crossing(steps, 1 - value, 0.5, "below").tolist() == [1.0, 10.0, math.inf]
    # strict unless inclusive: a value equal to the level crosses only then
    flat = torch.tensor([0.6, 0.5, 0.5, 0.2])
    assert float(stats.first_crossing(steps, flat, 0.5, "below")) == 100.0
    assert float(stats.first_crossing(steps, flat, 0.5, "below", inclusive=True)) == 1.0
    assert float(stats.first_crossing(steps, flat, 0.6, "above", inclusive=True)) == 0.0


def test_first_crossing_indices_fallback_and_dim():
    y = torch.tensor([0.5, 0.2, 0.0, 0.0])
    assert int(stats.first_crossing(torch.arange(4), y, 0.01, "below", inclusive=True)) == 2
    never = stats.first_crossing(torch.arange(2), torch.tensor([0.5, 0.4]), 0.01, "below", never=1)
    assert float(never) == 1.0
    loss = torch.tensor([[0.9, 0.8, 0.04], [0.5, 0.03, 0.02]])  # two members along the last axis
    assert stats.first_crossing(torch.arange(3), loss, 0.05, "below", dim=-1).tolist() == [2.0, 1.0]
    assert stats.first_crossing(torch.arange(2), loss, 0.05, "below", dim=0).tolist() == [math.inf, 1.0, 0.0]


def test_first_crossing_that_stays_needs_the_curve_to_stay_below():
    ns = torch.tensor([1.0, 2.0, 4.0, 8.0])
    curves = torch.tensor([[0.5, 0.05, 0.2, 0.01], [0.5, 0.4, 0.3, 0.2], [0.5, 0.05, 0.06, 0.07]])
    assert stats.first_crossing(ns, curves, 0.1, "below", stays=True, dim=-1).tolist() == [8.0, math.inf, 2.0]
    assert stats.first_crossing(ns, curves, 0.1, "below", dim=-1).tolist() == [2.0, math.inf, 2.0]


def test_first_crossing_interpolates_in_log_log():
    loss = torch.tensor([[1.0, 1.0], [0.1, 0.5], [0.01, 0.2]])
    value = torch.tensor([[1.0, 4.0], [0.01, 2.0], [0.001, 1.0]])
    out = stats.first_crossing(value, loss, 0.1, "below", inclusive=True, loglog=True, never=math.nan)
    assert float(out[0]) == pytest.approx(0.01)  # exactly on a record
    assert math.isnan(float(out[1]))  # member 1 never gets down to 0.1
    # loss 1 → 0.01 with value ∝ loss²: halfway in log at loss 0.1, so value 1e-2
    x, v = torch.tensor([1.0, 1e-4], dtype=torch.float64), torch.tensor([1.0, 0.01], dtype=torch.float64)
    half = stats.first_crossing(x, v, 0.1, "below", loglog=True)
    assert float(half) == pytest.approx(1e-2, rel=1e-12)
    # crossing at the first record: its own x, no interpolation
    assert float(stats.first_crossing(torch.tensor([3.0, 1.0]), torch.tensor([0.01, 0.001]), 0.1, "below",
                                      loglog=True)) == 3.0


def test_first_crossing_rejects_bad_arguments():
    with pytest.raises(ValueError, match="direction"):
        stats.first_crossing(torch.arange(3), torch.zeros(3), 0.5, "up")
    with pytest.raises(ValueError, match="x must be"):
        stats.first_crossing(torch.arange(4), torch.zeros(3, 2), 0.5)


@pytest.mark.parametrize("values, match", [
    (torch.zeros(3), "all-zero"),
    (torch.zeros(0), "spectrum"),
    (torch.tensor(1.0), "spectrum"),
    (torch.tensor([1.0, -0.5]), "nonnegative"),
    (torch.tensor([1.0, float("nan")]), "finite"),
])
def test_effective_rank_rejects_what_has_no_effective_rank(values, match):
    with pytest.raises(ValueError, match=match):
        stats.effective_rank(values)


def test_loglog_slope_of_a_constant_x_is_an_error_not_nan():
    with pytest.raises(ValueError, match="single value"):
        stats.loglog_slope([2.0, 2.0, 2.0], [1.0, 2.0, 3.0])


# ---------------------------------------------------------------- bad input and no NaN

_NAN = float("nan")
_BAD_INPUTS = [
    (stats.ranks, (torch.tensor(1.0),), {}, ValueError, r"v must have shape \[\.\.\., n\]"),
    (stats.ranks, (torch.tensor([1.0, _NAN]),), {}, ValueError, r"v must not hold NaN"),
    (stats.ranks, ("abc",), {}, TypeError, r"v must be a tensor or a sequence of numbers"),
    (stats.ranks, (torch.ones(3, dtype=torch.complex64),), {}, TypeError, r"v must hold real numbers"),
    (stats.spearman, ([1, 2, 3], [1, 2]), {}, ValueError, r"a and b must be two sequences of equal length"),
    (stats.spearman, ([1], [1]), {}, ValueError, r"a and b must be two sequences of equal length ≥ 2"),
    (stats.spearman, ([_NAN, 1, 2], [1, 2, 3]), {}, ValueError, r"a must not hold NaN"),
    (stats.spearman, ([1, 2, 3], [1, _NAN, 2]), {}, ValueError, r"b must not hold NaN"),
    (stats.spearman, ({"a": 1}, [1, 2]), {}, TypeError, r"a must be a tensor or a sequence"),
    (stats.auc, (torch.tensor([0.1, 0.2, 0.3]), torch.tensor([0, 1])), {}, ValueError, r"y must be \[n\] with n = 3"),
    (stats.auc, (torch.tensor([0.1, 0.2]), torch.tensor([0, 2])), {}, ValueError, r"y must hold labels in \{0, 1\}"),
    (stats.auc, (torch.tensor([0.1, 0.2]), torch.tensor([1, 1])), {}, ValueError, r"y must contain both classes"),
    (stats.auc, (torch.tensor([0.1, _NAN]), torch.tensor([0, 1])), {}, ValueError, r"scores must hold only finite"),
    (stats.auc, (torch.ones(2, 2, 2), torch.tensor([0, 1])), {},
     ValueError, r"scores must have shape \[n\] or \[K, n\]"),
    (stats.auc, ("ab", torch.tensor([0, 1])), {}, TypeError, r"scores must be a tensor or a sequence"),
    (stats.auc, (torch.tensor([0.1, 0.2]), torch.tensor([[0, 1]])), {}, ValueError, r"y must be \[n\]"),
    (stats.effective_rank, (torch.zeros(3),), {}, ValueError, r"values holds an all-zero spectrum"),
    (stats.effective_rank, (torch.zeros(0),), {}, ValueError, r"values must hold a spectrum"),
    (stats.effective_rank, (torch.tensor(2.0),), {}, ValueError, r"values must hold a spectrum"),
    (stats.effective_rank, (torch.tensor([-1.0, 2.0]),), {}, ValueError, r"values must be finite and nonnegative"),
    (stats.effective_rank, (torch.tensor([math.inf, 1.0]),), {}, ValueError, r"values must be finite"),
    (stats.effective_rank, ("abc",), {}, TypeError, r"values must be a tensor or a sequence"),
    (stats.loglog_slope, ([1, 2, 3], [1, 2]), {}, ValueError, r"x and y must have the same number of entries"),
    (stats.loglog_slope, ([1], [1, 2, 3]), {}, ValueError, r"x and y must have the same number of entries"),
    (stats.loglog_slope, ([1, 1, 1], [1, 2, 3]), {}, ValueError, r"x takes a single value"),
    (stats.loglog_slope, ([1, -2, 0], [1, 2, 3]), {}, ValueError, r"x and y must have at least two entries"),
    (stats.loglog_slope, ("ab", [1, 2]), {}, TypeError, r"x must be a tensor or a sequence"),
    (stats.first_crossing, ([0, 1], [1.0, 0.0], 0.5, "sideways"), {}, ValueError, r"direction must be one of"),
    (stats.first_crossing, ([0, 1], [1.0, 0.0], _NAN), {}, ValueError, r"level must be a finite number"),
    (stats.first_crossing, ([1, 2], [1.0, 0.5], 0.0), {"loglog": True},
     ValueError, r"level must be a finite number in \(0"),
    (stats.first_crossing, ([0, 1], [1.0, 0.0], 0.5), {"dim": 3}, ValueError, r"dim must be an integer in \[-1, 0\]"),
    (stats.first_crossing, ([0, 1, 2], [1.0, 0.0], 0.5), {}, ValueError, r"x must be \[2\]"),
    (stats.first_crossing, ([0], torch.tensor(1.0), 0.5), {}, ValueError, r"values must have at least one dimension"),
    (stats.first_crossing, ([], torch.zeros(0), 0.5), {}, ValueError, r"values must hold at least one record"),
    (stats.first_crossing, ([0, 1], [1.0, 0.0], 0.5), {"inclusive": "yes"},
     TypeError, r"inclusive must be True or False"),
    (stats.first_crossing, ([0, 1], [1.0, 0.0], 0.5), {"never": "x"}, TypeError, r"never must be a number"),
    (stats.first_crossing, ("ab", [1.0, 0.0], 0.5), {}, TypeError, r"x must be a tensor or a sequence"),
]


@pytest.mark.parametrize("fn,args,kwargs,exc,match", _BAD_INPUTS,
                         ids=[f"{c[0].__name__}-{i}" for i, c in enumerate(_BAD_INPUTS)])
def test_bad_input_is_refused_naming_the_argument(fn, args, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        fn(*args, **kwargs)


_finite = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False, width=32)  # lists become float32 tensors


@settings(max_examples=50, deadline=None, database=None)
@given(a=st.lists(_finite, min_size=2, max_size=12), data=st.data())
def test_random_valid_inputs_never_give_nan(a, data):
    b = data.draw(st.lists(_finite, min_size=len(a), max_size=len(a)))
    assert torch.isfinite(stats.ranks(torch.tensor(a))).all()
    rho = stats.spearman(a, b)
    constant = len(set(a)) == 1 or len(set(b)) == 1
    assert math.isnan(rho) if constant else -1 - 1e-12 <= rho <= 1 + 1e-12  # NaN only where documented
    y = torch.tensor(data.draw(st.lists(st.sampled_from([0, 1]), min_size=len(a), max_size=len(a))))
    if 0 < int(y.sum()) < len(y):
        assert 0 <= float(stats.auc(torch.tensor(a), y)) <= 1
    spec = torch.tensor([abs(v) for v in a])
    if spec.sum() > 0:
        r = float(stats.effective_rank(spec))
        assert math.isfinite(r) and 1 - 1e-9 <= r <= len(a) + 1e-9
    t = stats.first_crossing(torch.arange(len(a)), torch.tensor(b), 0.0)
    assert not torch.isnan(t)
