import math
import pickle

import numpy as np
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


# ---------------------------------------------------------------- bad input

_NAN = float("nan")
_DS = data.Dataset(torch.zeros(2, 1), torch.zeros(2), torch.zeros(1, 1), torch.zeros(1))
_LAB = torch.tensor([0, 1, 2, 1])
_BAD_INPUTS = [
    (_DS.to, ("bogus",), {}, ValueError, r"device must name a device"),
    (_DS.to, (3,), {}, TypeError, r"device must be None, a device string"),
    (data.sinusoids, (1,), {}, ValueError, r"n must be an integer in \[2, 10000000\]"),
    (data.sinusoids, (10,), {"ks": []}, ValueError, r"ks must be a non-empty list of positive frequencies"),
    (data.sinusoids, (10,), {"ks": [5, math.inf]}, ValueError, r"ks must be a non-empty list of positive"),
    (data.sinusoids, (10,), {"ks": [-1]}, ValueError, r"ks must be a non-empty list of positive"),
    (data.sinusoids, (10,), {"ks": "abc"}, TypeError, r"ks must be a tensor or a sequence"),
    (data.sinusoids, (10,), {"amplitudes": "loud"}, ValueError, r"amplitudes must be 'equal', 'rising' or a list"),
    (data.sinusoids, (10,), {"ks": [1, 2], "amplitudes": [1.0]},
     ValueError, r"amplitudes must have one entry per frequency"),
    (data.sinusoids, (10,), {"ks": [1, 2], "amplitudes": [1.0, _NAN]}, ValueError, r"amplitudes must hold only finite"),
    (data.sinusoids, (10,), {"x": torch.tensor([0.5, 1.5])},
     ValueError, r"x must be a non-empty 1-D tensor of positions in \[0, 1\)"),
    (data.sinusoids, (10,), {"x": torch.tensor([0.5, _NAN])}, ValueError, r"x must be a non-empty 1-D tensor"),
    (data.sinusoids, (10,), {"x": torch.zeros(0)}, ValueError, r"x must be a non-empty"),
    (data.sinusoids, (10,), {"seed": -1}, ValueError, r"seed must be an integer in \[0"),
    (data.sinusoids, (10,), {"ks": list(range(1, 10**4)), "x": torch.rand(10**6)}, ValueError, r"sinusoids.* GB"),
    (data.density_grid, (0,), {}, ValueError, r"n must be an integer in \[1"),
    (data.density_grid, (10,), {"weights": []}, ValueError, r"weights must be a non-empty list of positive"),
    (data.density_grid, (10,), {"weights": [1, -1]}, ValueError, r"weights must be a non-empty list of positive"),
    (data.density_grid, (10,), {"weights": [1, math.inf]},
     ValueError, r"weights must be a non-empty list of positive finite"),
    (data.density_grid, (10,), {"weights": "ab"}, TypeError, r"weights must be a tensor or a sequence"),
    (data.density_grid, (10,), {"seed": 1.5}, ValueError, r"seed must be an integer"),
    (data.hypercube, (0,), {}, ValueError, r"d must be an integer in \[1, 24\]"),
    (data.hypercube, (25,), {}, ValueError, r"d must be an integer in \[1, 24\]"),
    (data.hypercube, (3, 0), {}, ValueError, r"n must be an integer in \[1"),
    (data.hypercube, (10**6, 10**8), {}, ValueError, r"samples of the 1000000-cube.* GB"),
    (data.hypercube, (3, 5), {"seed": -2}, ValueError, r"seed must be an integer"),
    (data.clusters, (0,), {}, ValueError, r"k must be an integer in \[1, 100\]"),
    (data.clusters, (3, 0), {}, ValueError, r"n must be an integer"),
    (data.clusters, (3, 10, 1), {}, ValueError, r"d must be an integer in \[2"),
    (data.clusters, (3, 10, 2, -0.1), {}, ValueError, r"sigma must be a finite number in \[0, 10\]"),
    (data.clusters, (3, 10, 2, _NAN), {}, ValueError, r"sigma must be a finite number"),
    (data.clusters, (3, 10**7, 10**5), {}, ValueError, r"points in 100000 dimensions.* GB"),
    (data.split, (torch.zeros(4, 2), torch.zeros(3), 2), {}, ValueError, r"x and y must have the same length"),
    (data.split, (torch.zeros(4, 2), torch.zeros(4), 0), {}, ValueError, r"n_train must be an integer in \[1, 3\]"),
    (data.split, (torch.zeros(4, 2), torch.zeros(4), 4), {}, ValueError, r"n_train must be an integer in \[1, 3\]"),
    (data.split, (torch.zeros(1, 2), torch.zeros(1), 1), {}, ValueError, r"x must have at least 2 rows"),
    (data.split, (torch.zeros(4, 2), torch.zeros(4), 2, 3), {}, ValueError, r"n_test must be an integer in \[1, 2\]"),
    (data.split, ([[0.0]] * 4, torch.zeros(4), 2), {}, TypeError, r"x must be a torch\.Tensor"),
    (data.split, (torch.zeros(4, 2), torch.zeros(4), 2), {"n_classes": 0}, ValueError, r"n_classes must be an integer"),
    (data.split, (torch.full((4, 2), _NAN), torch.zeros(4), 2), {}, ValueError, r"x must hold only finite"),
    (data.label_noise, (_LAB, 1.5, 3), {}, ValueError, r"fraction must be a finite number in \[0, 1\]"),
    (data.label_noise, (_LAB, 0.5, 1), {}, ValueError, r"n_classes must be an integer in \[2"),
    (data.label_noise, (_LAB.float(), 0.5, 3), {}, ValueError, r"y must be a 1-D int64 tensor"),
    (data.label_noise, (_LAB, 0.5, 2), {}, ValueError, r"y must hold class labels in \[0, 1\]"),
    (data.label_noise, (_LAB[None], 0.5, 3), {}, ValueError, r"y must have shape \[n\]"),
    (data.label_noise, (_LAB, 0.5, 3), {"seed": -1}, ValueError, r"seed must be an integer"),
    (data.digits, (), {"classes": [10, 1]}, ValueError, r"classes\[i\] must be an integer in \[0, 9\]"),
    (data.digits, (), {"classes": [1, 1]}, ValueError, r"classes must not repeat a digit"),
    (data.digits, (), {"classes": [3]}, ValueError, r"classes must have at least 2 entries"),
    (data.digits, (), {"classes": 3}, TypeError, r"classes must be a list or tuple"),
    (data.digits, (0,), {}, ValueError, r"n_train must be an integer in \[1"),
    (data.digits, (2000,), {}, ValueError, r"n_train must be an integer in \[1, 1796\]"),
    (data.mnist1d, (), {"num_samples": 10}, ValueError, r"num_samples must be an integer in \[20"),
    (data.mnist1d, (6000,), {}, ValueError, r"n_train must be an integer in \[1, 4999\]"),
    (data.mnist1d, (100,), {"n_test": 10**4}, ValueError, r"n_test must be an integer in \[1, 4900\]"),
]


@pytest.mark.parametrize("fn,args,kwargs,exc,match", _BAD_INPUTS,
                         ids=[f"{c[0].__name__}-{i}" for i, c in enumerate(_BAD_INPUTS)])
def test_bad_input_is_refused_naming_the_argument(fn, args, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        fn(*args, **kwargs)


# ---------------------------------------------------------------- CIFAR-10 from a local folder (full mode)


def _write_cifar(folder, n_per_batch=4, n_test=3, seed=0):
    """Tiny files in CIFAR-10's python format: a pickled dict of b'data' [n, 3072] uint8 and b'labels'."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    batches = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        n = n_test if name == "test_batch" else n_per_batch
        batch = {b"batch_label": name.encode(), b"labels": rng.integers(0, 10, n).tolist(),
                 b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8), b"filenames": [b"x.png"] * n}
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))
        batches[name] = batch
    return batches


def test_cifar10_reads_the_python_batches(tmp_path, monkeypatch):
    batches = _write_cifar(tmp_path / "cifar-10-batches-py")
    monkeypatch.setenv("WIDGETS_DATA", str(tmp_path))
    assert data.cifar10_available()
    ds = data.cifar10(n_train=20, n_test=3, seed=1)
    assert ds.x_train.shape == (20, 3072) and ds.x_train.dtype == torch.float32 and ds.n_classes == 10
    assert ds.y_test.tolist() == batches["test_batch"][b"labels"]
    assert torch.equal((ds.x_test * 255).round(), torch.tensor(batches["test_batch"][b"data"], dtype=torch.float32))
    # the training images are a permutation of the five batches, with their own labels
    all_x = np.concatenate([batches[f"data_batch_{i}"][b"data"] for i in range(1, 6)])
    all_y = sum((batches[f"data_batch_{i}"][b"labels"] for i in range(1, 6)), [])
    for x, y in zip(ds.x_train, ds.y_train, strict=True):
        i = int(np.flatnonzero((all_x == (x * 255).round().numpy().astype(np.uint8)).all(1))[0])
        assert all_y[i] == int(y)
    assert data.cifar10(n_train=5, n_test=2, seed=1).x_train.shape == (5, 3072)


def test_cifar10_is_never_downloaded_and_refuses_what_is_not_a_batch(tmp_path, monkeypatch):
    monkeypatch.delenv("WIDGETS_DATA", raising=False)
    assert not data.cifar10_available()
    with pytest.raises(FileNotFoundError, match="WIDGETS_DATA"):
        data.cifar10()
    monkeypatch.setenv("WIDGETS_DATA", str(tmp_path / "nowhere"))
    with pytest.raises(ValueError, match=r"\$WIDGETS_DATA must name a folder"):
        data.cifar10_available()
    monkeypatch.setenv("WIDGETS_DATA", str(tmp_path))
    folder = tmp_path / "cifar-10-batches-py"
    _write_cifar(folder)
    (folder / "data_batch_3").unlink()
    assert not data.cifar10_available()
    with pytest.raises(FileNotFoundError, match="data_batch_3"):
        data.cifar10()
    (folder / "data_batch_3").write_bytes(b"not a pickle")
    with pytest.raises(ValueError, match="data_batch_3 is not a CIFAR-10 python batch"):
        data.cifar10()

    class Evil:  # a pickle that would run code when loaded
        def __reduce__(self):
            return (print, ("ran",))

    (folder / "data_batch_3").write_bytes(pickle.dumps({b"data": Evil(), b"labels": []}))
    with pytest.raises(ValueError, match="may not name builtins.print"):
        data.cifar10()
    (folder / "data_batch_3").write_bytes(pickle.dumps({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}))
    with pytest.raises(ValueError, match=r"expected \[n, 3072\]"):
        data.cifar10()
    _write_cifar(tmp_path / "small")
    with pytest.raises(ValueError, match=r"n_train must be an integer in \[1, 20\]"):
        data.cifar10(n_train=21, folder=tmp_path / "small")
