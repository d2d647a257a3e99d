"""Seeded data generators. Everything here is offline: synthetic, or shipped inside a pip package, or (for
full mode only) read from a folder the reader already has (CIFAR-10 in ``$WIDGETS_DATA``; see :func:`cifar10`).

Every generator takes a ``seed`` and returns CPU tensors (float32 inputs; float32 targets for regression,
int64 class labels for classification). Move them with ``.to(device)``; the trainer does that for you.
"""

from __future__ import annotations

import math
import os
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from widgets.core.checks import (
    check_device,
    check_float,
    check_int,
    check_memory,
    check_numbers,
    check_sequence,
    check_tensor,
)


@dataclass
class Dataset:
    """A train/test split. ``x_*``: [n, d] float; ``y_*``: [n] int64 labels or [n, out] float targets."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    n_classes: int | None = None

    def to(self, device) -> Dataset:
        """The split on ``device`` (None: where it is)."""
        device = None if device is None else check_device("device", device)
        return Dataset(*(t.to(device) for t in (self.x_train, self.y_train, self.x_test, self.y_test)),
                       n_classes=self.n_classes)


# ---------------------------------------------------------------- 1-D sums of sinusoids

@dataclass
class Sinusoids:
    """Samples of f(x) = Σ_i A_i sin(2π k_i x + 2π φ_i) on x ∈ [0, 1).

    ``x``: [n] positions in [0, 1); ``inputs``: [n, 1] the network's input, x rescaled to [-1, 1)
    (input scale matters for how fast high frequencies are learned); ``y``: [n, 1] target;
    ``ks``, ``amplitudes``, ``phases``: [m] the components.
    """

    x: torch.Tensor
    inputs: torch.Tensor
    y: torch.Tensor
    ks: torch.Tensor
    amplitudes: torch.Tensor
    phases: torch.Tensor


def sinusoids(n: int = 200, ks=tuple(range(5, 55, 5)), amplitudes: str | list = "equal", seed: int = 0,
              x: torch.Tensor | None = None) -> Sinusoids:
    """A sum of sinusoids with random phases φ_i ~ U[0, 1) (Rahaman et al. 2019's target).

    ``amplitudes``: ``"equal"`` (A_i = 1), ``"rising"`` (A_i = 0.1·i, i = 1..m) or a list of m numbers.
    ``x``: positions in [0, 1) to sample at; by default ``n`` evenly spaced points (see :func:`density_grid`
    for a non-uniform grid).
    """
    ks = check_numbers("ks", ks, torch.float64)
    if ks.ndim != 1 or len(ks) == 0 or (ks <= 0).any() or not torch.isfinite(ks).all():
        raise ValueError(f"ks must be a non-empty list of positive frequencies, got {ks.tolist()}")
    m = len(ks)
    if isinstance(amplitudes, str):
        if amplitudes == "equal":
            amps = torch.ones(m, dtype=torch.float64)
        elif amplitudes == "rising":
            amps = 0.1 * torch.arange(1, m + 1, dtype=torch.float64)
        else:
            raise ValueError(f"amplitudes must be 'equal', 'rising' or a list of {m} numbers, got {amplitudes!r}")
    else:
        amps = check_numbers("amplitudes", amplitudes, torch.float64)
        if amps.shape != (m,):
            raise ValueError(f"amplitudes must have one entry per frequency ({m}), got shape {tuple(amps.shape)}")
        if not torch.isfinite(amps).all():
            raise ValueError("amplitudes must hold only finite numbers")
    if x is None:
        n = check_int("n", n, 2, 10**7)
        x = torch.arange(n, dtype=torch.float64) / n
    else:
        x = check_numbers("x", x, torch.float64)
        if x.ndim != 1 or len(x) == 0 or not ((x >= 0) & (x < 1)).all():
            raise ValueError("x must be a non-empty 1-D tensor of positions in [0, 1)")
    seed = check_int("seed", seed, 0)
    check_memory(f"the sum of {m} sinusoids at {len(x)} points", 8 * 3 * len(x) * m)
    g = torch.Generator().manual_seed(seed)
    phases = torch.rand(m, generator=g, dtype=torch.float64)
    y = (amps * torch.sin(2 * math.pi * (ks * x[:, None] + phases))).sum(1)
    return Sinusoids(x=x.float(), inputs=(2 * x - 1).float()[:, None], y=y.float()[:, None],
                     ks=ks.float(), amplitudes=amps.float(), phases=phases.float())


def density_grid(n: int, weights=(1, 2, 4), seed: int = 0) -> torch.Tensor:
    """n sorted positions in [0, 1) drawn from a piecewise-constant density.

    The interval is cut into ``len(weights)`` equal pieces with density ∝ ``weights`` (Basri et al. 2020 use
    1:2:4). Returns [n] float64.
    """
    n = check_int("n", n, 1, 10**7)
    w = check_numbers("weights", weights, torch.float64)
    if w.ndim != 1 or len(w) == 0 or (w <= 0).any() or not torch.isfinite(w).all():
        raise ValueError(f"weights must be a non-empty list of positive finite numbers, got {w.tolist()}")
    g = torch.Generator().manual_seed(check_int("seed", seed, 0))
    piece = torch.multinomial(w / w.sum(), n, replacement=True, generator=g)
    x = (piece + torch.rand(n, generator=g, dtype=torch.float64)) / len(w)
    return x.sort().values


# ---------------------------------------------------------------- boolean hypercube and 2-D clusters

def hypercube(d: int, n: int | None = None, seed: int = 0) -> torch.Tensor:
    """Points of {-1, 1}^d: all 2^d in binary order (bit i of the row index ↦ coordinate i) when ``n`` is
    None, else ``n`` uniform samples. Returns [N, d] float32."""
    d = check_int("d", d, 1, 24 if n is None else 10**6)
    if n is None:
        idx = torch.arange(2**d)
        bits = (idx[:, None] >> torch.arange(d)) & 1
    else:
        n = check_int("n", n, 1, 10**8)
        check_memory(f"{n} samples of the {d}-cube", 12 * n * d)
        g = torch.Generator().manual_seed(check_int("seed", seed, 0))
        bits = torch.randint(0, 2, (n, d), generator=g)
    return (1 - 2 * bits).float()


def clusters(k: int = 3, n: int = 256, d: int = 2, sigma: float = 0.05, seed: int = 0) -> tuple:
    """A k×k grid of Gaussian clusters in the plane with random ±1 labels, embedded in d dimensions.

    Cluster centres sit on {-1/2 … 1/2}² (Chizat & Bach 2020's setup); the other d − 2 coordinates are
    uniform noise on [-1/2, 1/2]. Returns x [n, d] float32 and y [n] float32 in {-1, +1}, and the centre
    labels [k, k].
    """
    k = check_int("k", k, 1, 100)
    n = check_int("n", n, 1, 10**7)
    d = check_int("d", d, 2, 10**5)
    sigma = check_float("sigma", sigma, 0, 10)
    check_memory(f"{n} points in {d} dimensions", 4 * 3 * n * d)
    g = torch.Generator().manual_seed(check_int("seed", seed, 0))
    labels = torch.where(torch.rand(k, k, generator=g) < 0.5, -1.0, 1.0)
    centres = torch.linspace(-0.5, 0.5, k) if k > 1 else torch.zeros(1)
    i, j = torch.randint(0, k, (n,), generator=g), torch.randint(0, k, (n,), generator=g)
    plane = torch.stack([centres[i], centres[j]], 1) + sigma * torch.randn(n, 2, generator=g)
    noise = torch.rand(n, d - 2, generator=g) - 0.5
    return torch.cat([plane, noise], 1), labels[i, j], labels


# ---------------------------------------------------------------- the 12-bit task of Shwartz-Ziv & Tishby

_PHI = (1 + math.sqrt(5)) / 2
# bit j (column j, most significant first) sits on icosahedron vertex j (before normalising by √(1 + φ²))
ICOSAHEDRON = ((0, -1, -_PHI), (-1, -_PHI, 0), (0, -1, _PHI), (1, -_PHI, 0), (-_PHI, 0, 1), (0, 1, -_PHI),
               (-1, _PHI, 0), (1, _PHI, 0), (_PHI, 0, 1), (0, 1, _PHI), (_PHI, 0, -1), (-_PHI, 0, -1))
TISHBY_THRESHOLD = 7.63  # any θ in (7.5628, 7.7013] gives the same labels


def tishby_bits() -> tuple[torch.Tensor, torch.Tensor]:
    """The 12-bit "symmetric" task of Shwartz-Ziv & Tishby (2017), all 2¹² = 4096 inputs.

    Row n of x is the binary expansion of n, most significant bit first. The 12 bits stand for 12 points u_j
    spread evenly on the sphere (the vertices of an icosahedron, :data:`ICOSAHEDRON`, normalised), and the
    label is a spherically symmetric threshold: y = 1 iff Σ_j x_j + ‖Σ_j x_j u_j‖ ≥ 7.63. This closed form
    reproduces all 4096 labels of the authors' ``var_u.mat`` (p(y = 1) = 0.517); the paper describes the
    rule only in words. Returns x [4096, 12] float32 in {0, 1} and y [4096] int64 in {0, 1}.
    """
    n = torch.arange(4096)
    x = ((n[:, None] >> torch.arange(11, -1, -1)) & 1).double()
    u = torch.tensor(ICOSAHEDRON, dtype=torch.float64)
    u = u / u.norm(dim=1, keepdim=True)
    f = x.sum(1) + (x @ u).norm(dim=1)
    return x.float(), (f >= TISHBY_THRESHOLD).long()


# ---------------------------------------------------------------- splits and label noise

def split(x: torch.Tensor, y: torch.Tensor, n_train: int, n_test: int | None = None, seed: int = 0,
          n_classes: int | None = None) -> Dataset:
    """A seeded random split into ``n_train`` training and ``n_test`` (default: all the rest) test rows."""
    x = check_tensor("x", x, ndim=tuple(range(1, 65)), shape="[n, ...]")
    y = check_tensor("y", y, ndim=tuple(range(1, 65)), shape=f"[{len(x)}, ...]")
    n = len(x)
    if len(y) != n:
        raise ValueError(f"x and y must have the same length, got {n} and {len(y)}")
    if n < 2:
        raise ValueError(f"x must have at least 2 rows to split into training and test rows, got {n}")
    if n_classes is not None:
        n_classes = check_int("n_classes", n_classes, 1)
    n_train = check_int("n_train", n_train, 1, n - 1)
    n_test = n - n_train if n_test is None else check_int("n_test", n_test, 1, n - n_train)
    g = torch.Generator().manual_seed(check_int("seed", seed, 0))
    perm = torch.randperm(n, generator=g)
    tr, te = perm[:n_train], perm[n_train:n_train + n_test]
    return Dataset(x[tr], y[tr], x[te], y[te], n_classes=n_classes)


def label_noise(y: torch.Tensor, fraction: float, n_classes: int, seed: int = 0) -> torch.Tensor:
    """Replace a ``fraction`` of labels by uniformly random classes (they may land on the true class, as in
    Nakkiran et al. 2019). Returns a new [n] int64 tensor."""
    fraction = check_float("fraction", fraction, 0, 1)
    n_classes = check_int("n_classes", n_classes, 2)
    y = check_tensor("y", y, ndim=1, shape="[n]")
    if y.dtype != torch.int64:
        raise ValueError("y must be a 1-D int64 tensor of class labels")
    if len(y) and (int(y.min()) < 0 or int(y.max()) >= n_classes):
        raise ValueError(f"y must hold class labels in [0, {n_classes - 1}] (n_classes = {n_classes}), got "
                         f"labels in [{int(y.min())}, {int(y.max())}]")
    g = torch.Generator().manual_seed(check_int("seed", seed, 0))
    y = y.clone()
    chosen = torch.randperm(len(y), generator=g)[: round(fraction * len(y))]
    y[chosen] = torch.randint(0, n_classes, (len(chosen),), generator=g)
    return y


# ---------------------------------------------------------------- data shipped inside pip packages

def digits(n_train: int = 400, seed: int = 0, classes=None, n_test: int | None = None) -> Dataset:
    """scikit-learn's 8×8 digits (1797 images, shipped with the package), pixels scaled to [0, 1].

    ``classes``: keep only these digits, relabelled 0..len(classes)-1. x: [n, 64] float32, y: [n] int64.
    """
    from sklearn.datasets import load_digits  # shipped with scikit-learn; no download

    if classes is not None:
        classes = [check_int("classes[i]", c, 0, 9) for c in check_sequence("classes", classes, min_length=2)]
        if len(set(classes)) != len(classes):
            raise ValueError(f"classes must not repeat a digit, got {classes}")
    data = load_digits()
    x = torch.tensor(data.data, dtype=torch.float32) / 16.0
    y = torch.tensor(data.target, dtype=torch.int64)
    n_classes = 10
    if classes is not None:
        keep = torch.isin(y, torch.tensor(classes))
        x, y = x[keep], torch.searchsorted(torch.tensor(sorted(classes)), y[keep])
        n_classes = len(classes)
    return split(x, y, n_train, n_test, seed, n_classes=n_classes)


CIFAR10_FOLDER = "cifar-10-batches-py"
"""The folder the python version of CIFAR-10 unpacks to (``cifar-10-python.tar.gz``), looked for in
``$WIDGETS_DATA``."""

CIFAR10_FILES = tuple(f"data_batch_{i}" for i in range(1, 6)) + ("test_batch",)


def data_folder() -> Path | None:
    """``$WIDGETS_DATA``: the folder holding the papers' datasets when the reader has them (e.g.
    ``$WIDGETS_DATA/cifar-10-batches-py``); None when unset. Nothing is ever downloaded."""
    value = os.environ.get("WIDGETS_DATA")
    if not value:
        return None
    folder = Path(value).expanduser()
    if not folder.is_dir():
        raise ValueError(f"$WIDGETS_DATA must name a folder (the one holding {CIFAR10_FOLDER}/), got {value!r}")
    return folder


def cifar10_available() -> bool:
    """Whether CIFAR-10's python batches are in ``$WIDGETS_DATA/cifar-10-batches-py``."""
    folder = data_folder()
    return folder is not None and all((folder / CIFAR10_FOLDER / f).is_file() for f in CIFAR10_FILES)


class _BatchUnpickler(pickle.Unpickler):
    """Reads CIFAR-10's pickled batches and nothing else: only numpy's array reconstruction may be named, so
    a file that tries to call anything else is refused instead of run."""

    ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
               ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"),
               ("numpy._core.multiarray", "scalar"),
               ("_codecs", "encode")}  # how Python 3's protocol 2 stores an array's raw bytes

    def find_class(self, module, name):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"a CIFAR-10 batch may not name {module}.{name}")
        return super().find_class(module, name)


def _cifar_batch(path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """One batch file → (images [n, 3072] uint8, channel-major 3×32×32; labels [n] int64)."""
    try:
        with open(path, "rb") as fh:
            batch = _BatchUnpickler(fh, encoding="bytes").load()
        x = np.asarray(batch[b"data"], dtype=np.uint8)
        y = np.asarray(batch[b"labels"], dtype=np.int64)
    except (OSError, EOFError, KeyError, TypeError, ValueError, pickle.UnpicklingError) as err:
        raise ValueError(f"{path} is not a CIFAR-10 python batch ({type(err).__name__}: {err})") from None
    if x.ndim != 2 or x.shape[1] != 3072 or y.shape != (x.shape[0],) or (y.size and (y.min() < 0 or y.max() > 9)):
        raise ValueError(f"{path} is not a CIFAR-10 python batch: data {x.shape}, labels {y.shape} "
                         "(expected [n, 3072] uint8 and n labels in 0..9)")
    return torch.from_numpy(x.copy()), torch.from_numpy(y.copy())


def cifar10(n_train: int = 50_000, n_test: int | None = None, folder: str | Path | None = None,
            seed: int = 0) -> Dataset:
    """CIFAR-10 from the python batches in a local folder (default ``$WIDGETS_DATA/cifar-10-batches-py``):
    the first ``n_train`` of a ``seed`` permutation of the 50,000 training images and the first ``n_test``
    of the 10,000 test images (None: all of them), pixels scaled to [0, 1].

    x: [n, 3072] float32, channel-major (3 × 32 × 32, as the files store it); y: [n] int64 in 0..9. Raises
    FileNotFoundError naming the folder when the files are not there (nothing is downloaded), and ValueError
    for a file that is not a CIFAR-10 batch.
    """
    if folder is None:
        root = data_folder()
        if root is None:
            raise FileNotFoundError(f"CIFAR-10 needs $WIDGETS_DATA set to the folder holding {CIFAR10_FOLDER}/ "
                                    "(the python version, unpacked); nothing is downloaded")
        folder = root / CIFAR10_FOLDER
    folder = Path(folder)
    missing = [f for f in CIFAR10_FILES if not (folder / f).is_file()]
    if missing:
        raise FileNotFoundError(f"CIFAR-10's python batches are not all in {folder}: missing {missing}")
    parts = [_cifar_batch(folder / f) for f in CIFAR10_FILES]
    x_tr, y_tr = torch.cat([x for x, _ in parts[:-1]]), torch.cat([y for _, y in parts[:-1]])
    x_te, y_te = parts[-1]
    n_train = check_int("n_train", n_train, 1, len(x_tr))
    n_test = len(x_te) if n_test is None else check_int("n_test", n_test, 1, len(x_te))
    order = torch.randperm(len(x_tr), generator=torch.Generator().manual_seed(check_int("seed", seed, 0)))[:n_train]
    scale = 1.0 / 255.0
    return Dataset(x_tr[order].float() * scale, y_tr[order], x_te[:n_test].float() * scale, y_te[:n_test], 10)


def mnist1d(n_train: int = 4000, seed: int = 0, n_test: int | None = None, num_samples: int = 5000) -> Dataset:
    """MNIST-1D generated procedurally by ``mnist1d.data.make_dataset`` (never its downloading loader).

    ``num_samples`` examples are generated with the package's default arguments (its own fixed seed),
    then split with ``seed``. x: [n, 40] float32, y: [n] int64 in 0..9.
    """
    num_samples = check_int("num_samples", num_samples, 20, 10**6)
    n_train = check_int("n_train", n_train, 1, num_samples - 1)
    if n_test is not None:
        check_int("n_test", n_test, 1, num_samples - n_train)
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()
    args.num_samples = num_samples
    args.train_split = 1.0 - 1.0 / num_samples  # we split ourselves below; keep all but one row in "x"
    raw = make_dataset(args)
    x = np.concatenate([raw["x"], raw["x_test"]]).astype(np.float32)
    y = np.concatenate([raw["y"], raw["y_test"]]).astype(np.int64)
    return split(torch.from_numpy(x), torch.from_numpy(y), n_train, n_test, seed, n_classes=10)

