"""An on-disk cache for expensive results, keyed by every parameter and by the code that made them.

A result is stored under sha256(name, parameters, hash of every ``widgets/*.py`` file), so editing the
package invalidates it (unlike jupyter-cache, which only watches a notebook's cells). Files are written to a
temporary name and renamed into place, so a reader never sees half a file. On load, the stored key must
match; an unreadable, truncated or mismatched entry is recomputed and overwritten, never served.

Values must be plain data: tensors, numbers, strings, and lists/tuples/dicts of them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path

import torch

_PACKAGE = Path(__file__).resolve().parents[1]  # the whole widgets package


def cache_dir() -> Path:
    """``$WIDGETS_CACHE_DIR``, else ``~/.cache/widgets``."""
    return Path(os.environ.get("WIDGETS_CACHE_DIR") or Path.home() / ".cache" / "widgets")


def code_hash() -> str:
    """sha256 over the source of every module of the package (names and bytes, in sorted order)."""
    h = hashlib.sha256()
    for path in sorted(_PACKAGE.rglob("*.py")):
        h.update(path.relative_to(_PACKAGE).as_posix().encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def _canonical(params: dict) -> str:
    def default(o):
        if isinstance(o, torch.Tensor):
            return {"tensor": o.tolist(), "dtype": str(o.dtype)}
        if isinstance(o, tuple | set | frozenset):
            return list(o)
        if dataclasses.is_dataclass(o) and not isinstance(o, type):  # parameter presets
            return {"type": type(o).__name__, **dataclasses.asdict(o)}
        raise TypeError(f"cache parameter of type {type(o).__name__} cannot be keyed")

    return json.dumps(params, sort_keys=True, default=default, allow_nan=True)


def cache_key(name: str, params: dict) -> str:
    if not name or not name.replace("_", "").replace("-", "").isalnum():
        raise ValueError(f"name must be a non-empty identifier (letters, digits, _ and -), got {name!r}")
    return hashlib.sha256(f"{name}\n{_canonical(params)}\n{code_hash()}".encode()).hexdigest()


def cached(name: str, params: dict, compute: Callable[[], object], *, directory: Path | str | None = None,
           refresh: bool = False):
    """Return ``compute()``, from the cache when an entry for (name, params, code) exists and is sound.

    ``refresh=True`` recomputes and overwrites. The value must be plain data (see the module docstring).
    """
    key = cache_key(name, params)
    folder = Path(directory) if directory is not None else cache_dir()
    path = folder / f"{name}-{key[:32]}.pt"
    if not refresh and path.exists():
        try:
            entry = torch.load(path, map_location="cpu", weights_only=True)
            if isinstance(entry, dict) and entry.get("key") == key:
                return entry["value"]
            warnings.warn(f"cache entry {path.name} does not match its key; recomputing", RuntimeWarning,
                          stacklevel=2)
        except Exception as err:  # a truncated or corrupt file: recompute, never serve it
            warnings.warn(f"cache entry {path.name} is unreadable ({type(err).__name__}); recomputing",
                          RuntimeWarning, stacklevel=2)
    value = compute()
    _check_plain(value)
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name}-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            torch.save({"key": key, "name": name, "value": value}, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return value


def _check_plain(value, where: str = "value") -> None:
    """Only plain data is cached, so that loading never runs code (``torch.load(weights_only=True)``)."""
    if isinstance(value, torch.Tensor | int | float | str | bool | type(None)):
        return
    if isinstance(value, list | tuple):
        for i, v in enumerate(value):
            _check_plain(v, f"{where}[{i}]")
        return
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str | int):
                raise ValueError(f"{where} has a key of type {type(k).__name__}; cache keys must be str or int")
            _check_plain(v, f"{where}[{k!r}]")
        return
    raise ValueError(f"{where} is a {type(value).__name__}; the cache stores tensors, numbers, strings and "
                     "lists/dicts of them (convert results with .to_state())")
