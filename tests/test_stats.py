import math

import pytest
import torch
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
