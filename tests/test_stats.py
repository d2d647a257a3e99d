import math

import pytest
import torch
from scipy.stats import rankdata, spearmanr

from widgets import stats


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
