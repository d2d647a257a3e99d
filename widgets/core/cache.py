"""An on-disk cache for expensive results, keyed by everything that changes them, verified on every load.

An entry is one file, ``<name>-<slot>-<key>.pt`` in :func:`cache_dir`:

* ``slot`` hashes (name, parameters, device type, default dtype): the question asked;
* ``key`` hashes the slot and the environment that answers it: the hash of every ``widgets/**/*.py`` file
  and the torch and numpy versions. Editing the package (unlike jupyter-cache, which watches only a
  notebook's cells) or upgrading torch makes a new key; the older entry of that slot is then stale, is
  never served, and is deleted once the new one is written, so the folder holds one entry per question.

The file is a magic line, a JSON header line (key, sha256 and length of the payload, the environment) and
the payload, ``torch.save`` of the value. On load the key, length and checksum must match before the
payload is unpickled, with ``torch.load(weights_only=True)`` so that loading never runs code: a flipped bit,
a truncated file, a wrong key or an unreadable file is recomputed and overwritten with a RuntimeWarning,
never served. Files are written to a temporary name (``.<name>-….tmp``, which never matches an entry's
name) and renamed into place, so a reader never sees half a file and a killed writer's leftover is never
read.

Values must be plain data: tensors, numbers, strings, None, and lists/tuples/dicts of them. Tensors are
stored detached, on the CPU and compacted, and the value a miss returns is that stored form, so a hit and a
miss return the same thing. ``$WIDGETS_CACHE=off`` bypasses the cache (compute, neither read nor write).
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from widgets.core.env import get_device, project_root

_PACKAGE = Path(__file__).resolve().parents[1]  # the whole widgets package
_MAGIC = b"widgets-cache 2\n"
_OFF = ("off", "0", "false", "no")
_ON = ("on", "1", "true", "yes", "")


class StaleEntryWarning(RuntimeWarning):
    """An entry of the same question made by other code or library versions was replaced (never served). The
    book build silences it (its claim record notes the cache state of every run); elsewhere it says why a
    result was recomputed."""


def cache_dir() -> Path:
    """``$WIDGETS_CACHE_DIR``; else, inside the book (a chapter runs in ``book/``), ``<book>/_build/cache``,
    so every executor of a chapter shares one cache with the book build; else ``~/.cache/widgets``."""
    if os.environ.get("WIDGETS_CACHE_DIR"):
        folder = Path(os.environ["WIDGETS_CACHE_DIR"])
        if folder.exists() and not folder.is_dir():
            raise ValueError(f"$WIDGETS_CACHE_DIR must name a folder (or a path to create one), got the file "
                             f"{str(folder)!r}")
        return folder
    root = project_root()
    return root / "_build" / "cache" if root is not None else Path.home() / ".cache" / "widgets"


def enabled() -> bool:
    """False when ``$WIDGETS_CACHE`` is ``off`` (or 0/false/no): every call computes, nothing is stored. True
    when it is unset or on (1/true/yes); any other value is a ValueError naming the variable."""
    value = os.environ.get("WIDGETS_CACHE", "on").strip().lower()
    if value not in _OFF + _ON:
        raise ValueError(f"$WIDGETS_CACHE must be one of {_ON[:-1]} or {_OFF}, got {os.environ['WIDGETS_CACHE']!r}")
    return value not in _OFF


def code_hash() -> str:
    """sha256 over the source of every module of the package (names and bytes, in sorted order)."""
    h = hashlib.sha256()
    for path in sorted(_PACKAGE.rglob("*.py")):
        h.update(path.relative_to(_PACKAGE).as_posix().encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def environment() -> dict:
    """What answers a question besides its parameters: the package's code and the library versions."""
    return {"code": code_hash(), "torch": torch.__version__, "numpy": np.__version__}


def _canonical(params: dict) -> str:
    def default(o):
        if isinstance(o, torch.Tensor):  # a digest: a dataset passed as a parameter need not become JSON
            raw = o.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()
            return {"tensor": hashlib.sha256(raw).hexdigest(), "shape": list(o.shape), "dtype": str(o.dtype)}
        if isinstance(o, tuple | set | frozenset):
            return sorted(o, key=repr) if isinstance(o, set | frozenset) else list(o)
        if isinstance(o, torch.device | torch.dtype):
            return str(o)
        if dataclasses.is_dataclass(o) and not isinstance(o, type):  # parameter presets
            return {"type": type(o).__qualname__, **dataclasses.asdict(o)}
        raise TypeError(f"cache parameter of type {type(o).__name__} cannot be keyed")

    return json.dumps(params, sort_keys=True, default=default, allow_nan=True)


def _check_name(name: str) -> None:
    if not isinstance(name, str) or not name or name.startswith(".") or \
            not name.replace("_", "").replace("-", "").replace(".", "").isalnum():
        raise ValueError(f"name must be a non-empty identifier (letters, digits, _, - and ., not starting "
                         f"with .), got {name!r}")


def cache_slot(name: str, params: dict, device=None) -> str:
    """sha256 of the question: name, parameters, device type (``get_device(device)``) and default dtype."""
    _check_name(name)
    if not isinstance(params, dict):
        raise TypeError(f"params must be a dict of the parameters that change the result, got {type(params).__name__}")
    question = {"name": name, "device": get_device(device).type, "dtype": str(torch.get_default_dtype())}
    return hashlib.sha256(f"{json.dumps(question, sort_keys=True)}\n{_canonical(params)}".encode()).hexdigest()


def cache_key(name: str, params: dict, device=None) -> str:
    """sha256 of the slot and the :func:`environment`: changes with the code and the library versions."""
    return _locate(name, params, device, None)[1]


def entry_path(name: str, params: dict, device=None, directory: Path | str | None = None) -> Path:
    """Where the entry for (name, params, device) under the current environment lives."""
    return _locate(name, params, device, directory)[0]


def _locate(name: str, params: dict, device, directory) -> tuple[Path, str]:
    """(entry path, full key): the environment is hashed once per call."""
    if directory is not None and not isinstance(directory, str | os.PathLike):
        raise TypeError(f"directory must be None, a str or a Path, got {type(directory).__name__}")
    folder = Path(directory) if directory is not None else cache_dir()
    slot = cache_slot(name, params, device)
    env = json.dumps(environment(), sort_keys=True)
    key = hashlib.sha256(f"{slot}\n{env}".encode()).hexdigest()
    return folder / f"{name}-{slot[:16]}-{key[:32]}.pt", key


def cached(name: str, params: dict, compute: Callable[[], object], *, device=None,
           directory: Path | str | None = None, refresh: bool = False, status: bool = False):
    """Return ``compute()``, from the cache when a sound entry for (name, params, device, environment) exists.

    ``device``: the device the computation runs on (None: :func:`get_device`'s choice); its type is keyed.
    ``refresh=True`` recomputes and overwrites. The value must be plain data (see the module docstring);
    what is returned is its stored form (tensors detached, on the CPU). ``status=True`` returns
    ``(value, status)``, status one of ``"hit"``, ``"miss"``, ``"stale"`` (an entry of an older environment
    was replaced), ``"corrupt"`` (an unsound entry was replaced, with a RuntimeWarning), ``"refresh"``,
    ``"off"`` (``$WIDGETS_CACHE=off``).
    """
    if not callable(compute):
        raise TypeError(f"compute must be a callable taking no arguments, got {type(compute).__name__}")
    for flag, value in (("refresh", refresh), ("status", status)):
        if not isinstance(value, bool):
            raise TypeError(f"{flag} must be True or False, got {value!r}")
    path, key = _locate(name, params, device, directory)
    if not enabled():
        value = _plain(compute())
        return (value, "off") if status else value
    state = "refresh" if refresh else "miss"
    if not refresh and path.exists():
        try:
            value = _read(path, key)
            return (value, "hit") if status else value
        except Exception as err:  # unsound: recompute, never serve it
            warnings.warn(f"cache entry {path.name} is unusable ({err}); recomputing", RuntimeWarning,
                          stacklevel=2)
            state = "corrupt"
    value = _plain(compute())
    _write(path, key, name, _dumps(value))
    if _prune(path, name) and state == "miss":
        state = "stale"
        warnings.warn(f"the cached {name} was made by other code or library versions: recomputed and replaced",
                      StaleEntryWarning, stacklevel=2)
    return (value, state) if status else value


def _dumps(value) -> bytes:
    buf = io.BytesIO()
    torch.save(value, buf)
    return buf.getvalue()


def _read(path: Path, key: str):
    """The value stored at ``path``; raises ValueError when the file is not a sound entry for ``key``."""
    blob = path.read_bytes()
    if not blob.startswith(_MAGIC):
        raise ValueError("not a cache entry of this format")
    end = blob.find(b"\n", len(_MAGIC))
    if end < 0:
        raise ValueError("truncated header")
    try:
        header = json.loads(blob[len(_MAGIC):end])
    except json.JSONDecodeError:
        raise ValueError("unreadable header") from None
    payload = blob[end + 1:]
    if not isinstance(header, dict) or header.get("key") != key:
        raise ValueError("stored under another key")
    if header.get("bytes") != len(payload):
        raise ValueError(f"payload is {len(payload)} bytes, {header.get('bytes')} were written: truncated")
    if header.get("sha256") != hashlib.sha256(payload).hexdigest():
        raise ValueError("payload checksum mismatch")
    return torch.load(io.BytesIO(payload), map_location="cpu", weights_only=True)


def _write(path: Path, key: str, name: str, payload: bytes) -> None:
    """Write the entry atomically: a temporary file in the same folder, fsynced, renamed into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    header = {"key": key, "name": name, "sha256": hashlib.sha256(payload).hexdigest(), "bytes": len(payload),
              "environment": environment()}
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{name}-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(_MAGIC + json.dumps(header, sort_keys=True).encode() + b"\n" + payload)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _prune(path: Path, name: str) -> bool:
    """Delete the other entries of ``path``'s slot (older environments), and temporary files of ``name``
    left by writers killed over an hour ago. True when there were stale entries."""
    slot_prefix = path.name.rsplit("-", 1)[0] + "-"
    stale = [p for p in path.parent.glob(f"{slot_prefix}*.pt") if p != path]
    for p in stale:
        p.unlink(missing_ok=True)
    now = time.time()
    for p in path.parent.glob(f".{name}-*.tmp"):
        try:
            if now - p.stat().st_mtime > 3600:
                p.unlink()
        except OSError:  # another writer renamed or removed it meanwhile
            pass
    return bool(stale)


def _plain(value, where: str = "value"):
    """The stored form of a plain value: tensors detached, on the CPU and compacted (a view keeps only its
    elements, not its base's whole storage); tuples and lists kept as such. Raises ValueError on anything
    else, so that loading never needs to run code (``torch.load(weights_only=True)``)."""
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().clone(memory_format=torch.contiguous_format)
    if value is None or type(value) in (bool, int, float, str):
        return value
    if isinstance(value, np.generic) and value.dtype.kind in "biuf":  # numpy scalars: Python numbers
        return value.item()
    if isinstance(value, str):
        return str(value)
    if isinstance(value, list | tuple):
        items = [_plain(v, f"{where}[{i}]") for i, v in enumerate(value)]
        return items if isinstance(value, list) else tuple(items)
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str | int) or isinstance(k, bool):
                raise ValueError(f"{where} has a key of type {type(k).__name__}; cache keys must be str or int")
            out[k] = _plain(v, f"{where}[{k!r}]")
        return out
    raise ValueError(f"{where} is a {type(value).__name__}; the cache stores tensors, numbers, strings and "
                     "lists/dicts of them (convert results with .to_state(), numpy arrays with "
                     "torch.from_numpy, numpy scalars with float())")
