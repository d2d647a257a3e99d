import math

import pytest
import torch

from widgets.core import data


def test_sinusoids_match_their_formula_and_spectrum():
    s = data.sinusoids(200, ks=[5, 10, 50], amplitudes="rising", seed=3)
    assert s.inputs.shape == (200, 1) and s.y.shape == (200, 1)
    assert torch.allclose(s.amplitudes, torch.tensor([0.1, 0.2, 0.3]))
    # on an even grid the DFT recovers each amplitude: 2|f̂(k)|/n = A_k
    spec = torch.fft.rfft(s.y[:, 0].double()).abs() * 2 / 200
    for k, a in zip([5, 10, 50], [0.1, 0.2, 0.3], strict=True):
        assert spec[k].item() == pytest.approx(a, abs=1e-5)
    assert spec[[1, 7, 20]].max() < 1e-5
    assert torch.allclose(s.inputs[:, 0], 2 * s.x - 1)


def test_sinusoids_are_seeded():
    a, b, c = data.sinusoids(seed=1), data.sinusoids(seed=1), data.sinusoids(seed=2)
    assert torch.equal(a.y, b.y) and not torch.equal(a.y, c.y)


@pytest.mark.parametrize("kwargs, match", [
    ({"n": 1}, "n must be"), ({"ks": []}, "ks must"), ({"ks": [5, -1]}, "ks must"),
    ({"amplitudes": "loud"}, "amplitudes"), ({"amplitudes": [1, 2]}, "amplitudes"), ({"seed": -3}, "seed"),
    ({"x": torch.tensor([0.5, 1.5])}, "x must"),
])
def test_sinusoids_reject_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        data.sinusoids(**kwargs)


def test_density_grid_follows_its_weights():
    x = data.density_grid(70_000, weights=(1, 2, 4), seed=0)
    counts = torch.histc(x.float(), bins=3, min=0, max=1)
    assert torch.allclose(counts / counts.sum(), torch.tensor([1 / 7, 2 / 7, 4 / 7]), atol=0.01)
    assert (x[1:] >= x[:-1]).all() and x.min() >= 0 and x.max() < 1
    with pytest.raises(ValueError, match="weights"):
        data.density_grid(10, weights=(1, 0))


def test_hypercube_is_complete_and_ordered():
    x = data.hypercube(3)
    assert x.shape == (8, 3) and set(x.unique().tolist()) == {-1.0, 1.0}
    assert len({tuple(r) for r in x.tolist()}) == 8
    assert x[1].tolist() == [-1, 1, 1]  # bit 0 of index 1 flips coordinate 0
    assert data.hypercube(30, n=5).shape == (5, 30)
    with pytest.raises(ValueError, match="d must"):
        data.hypercube(25)
    with pytest.raises(ValueError, match="d must"):
        data.hypercube(0)


def test_clusters_labels_follow_their_centres():
    x, y, labels = data.clusters(k=3, n=600, d=7, sigma=0.01, seed=0)
    assert x.shape == (600, 7) and set(y.unique().tolist()) <= {-1.0, 1.0}
    i = torch.round((x[:, 0] + 0.5) * 2).long()
    j = torch.round((x[:, 1] + 0.5) * 2).long()
    assert torch.equal(labels[i, j], y)
    assert x[:, 2:].abs().max() <= 0.5
    with pytest.raises(ValueError, match="d must"):
        data.clusters(d=1)


def test_split_and_label_noise():
    x, y = torch.arange(100.0)[:, None], torch.arange(100) % 10
    ds = data.split(x, y, 60, seed=1)
    assert len(ds.x_train) == 60 and len(ds.x_test) == 40
    assert set(ds.x_train[:, 0].tolist()).isdisjoint(ds.x_test[:, 0].tolist())
    with pytest.raises(ValueError, match="n_train"):
        data.split(x, y, 100)
    noisy = data.label_noise(y, 0.5, 10, seed=0)
    changed = (noisy != y).float().mean().item()
    assert 0.35 < changed <= 0.5  # half resampled, a tenth of those land on the true class
    assert torch.equal(data.label_noise(y, 0.0, 10), y)
    with pytest.raises(ValueError, match="fraction"):
        data.label_noise(y, 1.5, 10)
    with pytest.raises(ValueError, match="fraction"):
        data.label_noise(y, math.nan, 10)


def test_digits_offline():
    ds = data.digits(400, seed=0)
    assert ds.x_train.shape == (400, 64) and len(ds.x_test) == 1797 - 400
    assert ds.x_train.max() <= 1 and ds.n_classes == 10
    two = data.digits(100, classes=[3, 8])
    assert set(two.y_train.tolist()) == {0, 1} and two.n_classes == 2


def test_mnist1d_offline_and_seeded():
    a = data.mnist1d(n_train=300, n_test=100, num_samples=500, seed=0)
    b = data.mnist1d(n_train=300, n_test=100, num_samples=500, seed=0)
    assert a.x_train.shape == (300, 40) and a.y_train.dtype == torch.int64
    assert torch.equal(a.x_train, b.x_train)
    assert set(a.y_train.tolist()) <= set(range(10))
