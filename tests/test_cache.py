import os
from pathlib import Path

import numpy as np
import pytest
import torch

from widgets.book import build
from widgets.core import cache


@pytest.fixture
def calls():
    return []


def make(calls, value):
    def compute():
        calls.append(1)
        return value

    return compute


def only_entry(folder):
    (path,) = folder.glob("exp-*.pt")
    return path


def test_hit_miss_and_keying(tmp_path, calls):
    v = {"w": torch.arange(3.0), "n": 2}
    a = cache.cached("exp", {"lr": 0.1, "widths": (1, 2)}, make(calls, v), directory=tmp_path)
    b = cache.cached("exp", {"widths": [1, 2], "lr": 0.1}, make(calls, v), directory=tmp_path)
    assert len(calls) == 1 and torch.equal(a["w"], b["w"])
    cache.cached("exp", {"lr": 0.2, "widths": (1, 2)}, make(calls, v), directory=tmp_path)
    assert len(calls) == 2  # a changed parameter is a new entry
    cache.cached("exp", {"lr": 0.1, "widths": (1, 2)}, make(calls, v), directory=tmp_path, refresh=True)
    assert len(calls) == 3
    cache.cached("other", {"lr": 0.1, "widths": (1, 2)}, make(calls, v), directory=tmp_path)
    assert len(calls) == 4  # so is another experiment with the same parameters


def test_status_reports_what_happened(tmp_path, calls):
    run = lambda **kw: cache.cached("exp", {"a": 1}, make(calls, 1.0), directory=tmp_path, status=True, **kw)  # noqa: E731
    assert run() == (1.0, "miss")
    assert run() == (1.0, "hit")
    assert run(refresh=True) == (1.0, "refresh")


def test_a_hit_returns_what_the_miss_returned(tmp_path, calls):
    big = torch.arange(100_000.0)
    value = {"t": (1, 2.5, "s", None, True), "l": [big[:3]], "d": {3: big[5]}, "np": np.float64(0.25)}
    miss = cache.cached("exp", {}, make(calls, value), directory=tmp_path)
    hit = cache.cached("exp", {}, make(calls, value), directory=tmp_path)
    assert len(calls) == 1
    for out in (miss, hit):
        assert out["t"] == (1, 2.5, "s", None, True) and isinstance(out["t"], tuple)
        assert torch.equal(out["l"][0], torch.arange(3.0)) and out["d"][3].item() == 5.0
        assert type(out["np"]) is float and out["np"] == 0.25
    assert only_entry(tmp_path).stat().st_size < 10_000  # a view is stored without its base's 400 kB


def test_flipped_bit_in_a_stored_tensor_is_recomputed_never_served(tmp_path, calls):
    cache.cached("exp", {"a": 1}, make(calls, {"x": torch.tensor([500.0])}), directory=tmp_path)
    path = only_entry(tmp_path)
    blob = bytearray(path.read_bytes())
    at = blob.rfind(torch.tensor([500.0]).numpy().tobytes())  # 00 00 fa 43, inside the payload
    assert at > 0
    blob[at + 3] ^= 0x08  # 0x43 -> 0x4b: the float now reads 32768000.0
    path.write_bytes(bytes(blob))
    with pytest.warns(RuntimeWarning, match="checksum"):
        out = cache.cached("exp", {"a": 1}, make(calls, {"x": torch.tensor([500.0])}), directory=tmp_path,
                           status=True)
    assert out[0]["x"].item() == 500.0 and out[1] == "corrupt" and len(calls) == 2
    assert cache.cached("exp", {"a": 1}, make(calls, None), directory=tmp_path)["x"].item() == 500.0
    assert len(calls) == 2  # the rewritten entry is sound again


@pytest.mark.parametrize("keep", [0, 10, 40, -1])
def test_truncated_entry_is_recomputed_never_served(tmp_path, calls, keep):
    cache.cached("exp", {"a": 1}, make(calls, {"x": torch.ones(1000)}), directory=tmp_path)
    path = only_entry(tmp_path)
    path.write_bytes(path.read_bytes()[:keep])
    with pytest.warns(RuntimeWarning, match="unusable"):
        out = cache.cached("exp", {"a": 1}, make(calls, {"x": torch.ones(1000)}), directory=tmp_path)
    assert len(calls) == 2 and torch.equal(out["x"], torch.ones(1000))


def test_entry_under_the_wrong_key_is_not_served(tmp_path, calls):
    cache.cached("exp", {"a": 1}, make(calls, 1.0), directory=tmp_path)
    cache.cached("exp", {"a": 2}, make(calls, 2.0), directory=tmp_path)
    one, two = (cache.entry_path("exp", {"a": a}, directory=tmp_path) for a in (1, 2))
    one.write_bytes(two.read_bytes())  # a sound file, but another question's answer
    with pytest.warns(RuntimeWarning, match="another key"):
        assert cache.cached("exp", {"a": 1}, make(calls, 1.0), directory=tmp_path) == 1.0
    assert len(calls) == 3


def test_old_format_or_foreign_file_is_not_served(tmp_path, calls):
    cache.cached("exp", {"a": 1}, make(calls, 1.0), directory=tmp_path)
    torch.save({"key": "x", "value": 99.0}, only_entry(tmp_path))  # the previous format, pickled whole
    with pytest.warns(RuntimeWarning, match="format"):
        assert cache.cached("exp", {"a": 1}, make(calls, 1.0), directory=tmp_path) == 1.0


@pytest.mark.parametrize("change", ["code", "torch", "numpy"])
def test_another_environment_is_a_miss_and_replaces_the_stale_entry(tmp_path, calls, monkeypatch, change):
    cache.cached("exp", {"a": 1}, make(calls, 1.0), directory=tmp_path)
    old = only_entry(tmp_path)
    env = cache.environment()
    monkeypatch.setattr(cache, "environment", lambda: {**env, change: "edited"})
    with pytest.warns(cache.StaleEntryWarning, match="other code or library versions"):
        value, status = cache.cached("exp", {"a": 1}, make(calls, 2.0), directory=tmp_path, status=True)
    assert (value, status, len(calls)) == (2.0, "stale", 2)
    assert not old.exists() and only_entry(tmp_path) != old  # one entry per question, never the stale one


def test_environment_covers_code_and_versions(monkeypatch):
    env = cache.environment()
    assert env["torch"] == torch.__version__ and env["numpy"] == np.__version__
    monkeypatch.setattr(cache, "code_hash", lambda: "edited")
    assert cache.environment()["code"] == "edited"


def test_device_type_and_default_dtype_are_keyed(tmp_path, calls, monkeypatch):
    cache.cached("exp", {"a": 1}, make(calls, 1.0), device="cpu", directory=tmp_path)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # the key only names the device type
    cache.cached("exp", {"a": 1}, make(calls, 1.0), device="cuda", directory=tmp_path)
    monkeypatch.undo()
    assert len(calls) == 2
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        cache.cached("exp", {"a": 1}, make(calls, 1.0), device="cpu", directory=tmp_path)
    finally:
        torch.set_default_dtype(default)
    assert len(calls) == 3 and len(list(tmp_path.glob("exp-*.pt"))) == 3  # different questions all kept


def test_code_hash_covers_the_package():
    h = cache.code_hash()
    assert len(h) == 64 and h == cache.code_hash()
    assert any(p.parent.name == "core" for p in cache._PACKAGE.rglob("*.py"))  # subfolders are hashed too


def test_write_is_atomic(tmp_path, calls):
    def boom():
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        cache.cached("exp", {"a": 1}, boom, directory=tmp_path)
    assert list(tmp_path.iterdir()) == []  # nothing half-written left behind


def test_writer_killed_mid_write_leaves_nothing_read(tmp_path, calls, monkeypatch):
    def killed(fd):
        raise KeyboardInterrupt

    monkeypatch.setattr(cache.os, "fsync", killed)
    with pytest.raises(KeyboardInterrupt):
        cache.cached("exp", {"a": 1}, make(calls, 1.0), directory=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_leftover_temp_file_is_never_read(tmp_path, calls, monkeypatch):
    # a writer killed by SIGKILL cannot clean up: its temporary file holds a complete, sound entry
    cache.cached("exp", {"a": 1}, make(calls, 1.0), directory=tmp_path)
    path = only_entry(tmp_path)
    leftover = tmp_path / ".exp-killed.tmp"
    leftover.write_bytes(path.read_bytes())
    path.unlink()
    assert cache.cached("exp", {"a": 1}, make(calls, 1.0), directory=tmp_path) == 1.0
    assert len(calls) == 2 and leftover.exists() and only_entry(tmp_path) == path
    monkeypatch.setattr(cache.time, "time", lambda: leftover.stat().st_mtime + 7200)
    cache.cached("exp", {"a": 1}, make(calls, 1.0), directory=tmp_path, refresh=True)
    assert not leftover.exists()  # swept once it is over an hour old


def test_bypass(tmp_path, calls, monkeypatch):
    monkeypatch.setenv("WIDGETS_CACHE", "off")
    for _ in range(2):
        assert cache.cached("exp", {"a": 1}, make(calls, 1.0), directory=tmp_path, status=True) == (1.0, "off")
    assert len(calls) == 2 and list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match="cache stores tensors"):  # plain data is required all the same
        cache.cached("exp", {}, lambda: object(), directory=tmp_path)


def test_bad_inputs(tmp_path):
    for name in ("bad name!", "", ".hidden", None):
        with pytest.raises(ValueError, match="name"):
            cache.cached(name, {}, lambda: 1, directory=tmp_path)
    with pytest.raises(ValueError, match="cache stores tensors"):
        cache.cached("exp", {}, lambda: object(), directory=tmp_path)
    with pytest.raises(ValueError, match=r"value\['a'\]\[1\] is a ndarray"):
        cache.cached("exp", {}, lambda: {"a": [1, np.zeros(2)]}, directory=tmp_path)
    with pytest.raises(ValueError, match="keys must be str or int"):
        cache.cached("exp", {}, lambda: {(1, 2): 1}, directory=tmp_path)
    with pytest.raises(TypeError, match="cannot be keyed"):
        cache.cached("exp", {"f": lambda: 1}, lambda: 1, directory=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_env_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("WIDGETS_CACHE_DIR", str(tmp_path / "c"))
    cache.cached("exp", {"a": 1}, lambda: 1.0)
    assert len(list((tmp_path / "c").glob("exp-*.pt"))) == 1


def test_parameters_are_keyed_by_value(tmp_path, calls):
    from widgets.intro import DemoParams

    for p in (DemoParams(), DemoParams(), DemoParams(steps=7)):
        cache.cached("exp", {"p": p}, make(calls, 1.0), directory=tmp_path)
    assert len(calls) == 2
    for t in (torch.arange(4.0), torch.arange(4.0), torch.arange(4.0) + 1, torch.arange(4)):
        cache.cached("exp", {"x": t}, make(calls, 1.0), directory=tmp_path)
    assert len(calls) == 5  # tensors by content and dtype


def test_the_test_session_computes_with_a_fresh_cache():
    folder = Path(os.environ["WIDGETS_CACHE_DIR"])  # set by conftest before any chapter runs
    assert folder.name.startswith("widgets-test-cache-") and folder.is_dir()


def test_build_fresh_uses_an_empty_cache_and_leaves_the_stored_one(tmp_path, monkeypatch):
    stored = tmp_path / "stored"
    cache.cached("exp", {"a": 1}, lambda: 1.0, directory=stored)
    monkeypatch.setenv("WIDGETS_CACHE_DIR", str(stored))
    seen = []

    def fake_main(args):
        folder = Path(os.environ["WIDGETS_CACHE_DIR"])
        seen.append((folder, list(folder.iterdir()), args.fresh))
        return 0

    monkeypatch.setattr(build, "_main", fake_main)
    assert build.main(["--fresh", "--no-html"]) == 0
    assert build.main(["--no-html"]) == 0
    (fresh, contents, flag), (default, _, no_flag) = seen
    assert fresh != stored and contents == [] and flag and not fresh.exists()  # empty, then removed
    assert default == stored and not no_flag and os.environ["WIDGETS_CACHE_DIR"] == str(stored)
    assert len(list(stored.glob("exp-*.pt"))) == 1


# ---------------------------------------------------------------- bad input


def _enabled_with(value):
    old = os.environ.get("WIDGETS_CACHE")
    os.environ["WIDGETS_CACHE"] = value
    try:
        return cache.enabled()
    finally:
        if old is None:
            del os.environ["WIDGETS_CACHE"]
        else:
            os.environ["WIDGETS_CACHE"] = old


def _cache_dir_with(value):
    old = os.environ.get("WIDGETS_CACHE_DIR")
    os.environ["WIDGETS_CACHE_DIR"] = value
    try:
        return cache.cache_dir()
    finally:
        if old is None:
            del os.environ["WIDGETS_CACHE_DIR"]
        else:
            os.environ["WIDGETS_CACHE_DIR"] = old


def _never():
    raise AssertionError("compute must not run on bad input")


_BAD_INPUTS = [
    (cache.cache_slot, ("", {}), {}, ValueError, r"name must be a non-empty identifier"),
    (cache.cache_slot, (".hidden", {}), {}, ValueError, r"name must be a non-empty identifier"),
    (cache.cache_slot, ("a/b", {}), {}, ValueError, r"name must be a non-empty identifier"),
    (cache.cache_slot, (3, {}), {}, ValueError, r"name must be a non-empty identifier"),
    (cache.cache_slot, ("exp", [1, 2]), {}, TypeError, r"params must be a dict"),
    (cache.cache_slot, ("exp", {}), {"device": "bogus"}, ValueError, r"device must name a device"),
    (cache.cache_slot, ("exp", {"f": object()}), {}, TypeError, r"cache parameter of type object cannot be keyed"),
    (cache.cache_key, ("exp", "abc"), {}, TypeError, r"params must be a dict"),
    (cache.entry_path, ("exp", {}), {"directory": 5}, TypeError, r"directory must be None, a str or a Path"),
    (cache.cached, ("exp", {}, 3), {}, TypeError, r"compute must be a callable"),
    (cache.cached, ("exp", {}, _never), {"refresh": "yes"}, TypeError, r"refresh must be True or False"),
    (cache.cached, ("exp", {}, _never), {"status": 1}, TypeError, r"status must be True or False"),
    (cache.cached, ("bad name", {}, _never), {}, ValueError, r"name must be a non-empty identifier"),
    (cache.cached, ("exp", None, _never), {}, TypeError, r"params must be a dict"),
    (cache.cached, ("exp", {}, _never), {"directory": 1.5}, TypeError, r"directory must be None"),
    (cache.cached, ("exp", {}, _never), {"device": "bogus"}, ValueError, r"device must name a device"),
    (cache.cached, ("exp", {}, lambda: object()), {"directory": "/nonexistent-widgets-cache-test"}, ValueError,
     r"value is a object; the cache stores tensors"),
    (_enabled_with, ("maybe",), {}, ValueError, r"\$WIDGETS_CACHE must be one of"),
    (_enabled_with, ("of",), {}, ValueError, r"\$WIDGETS_CACHE must be one of"),
    (_cache_dir_with, (__file__,), {}, ValueError, r"\$WIDGETS_CACHE_DIR must name a folder"),
]


@pytest.mark.parametrize("fn,args,kwargs,exc,match", _BAD_INPUTS,
                         ids=[f"{c[0].__name__}-{i}" for i, c in enumerate(_BAD_INPUTS)])
def test_bad_input_is_refused_naming_the_argument(fn, args, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        fn(*args, **kwargs)


def test_the_cache_switch_accepts_its_documented_values(monkeypatch):
    for value, on in (("on", True), ("1", True), ("YES", True), ("off", False), (" 0 ", False), ("no", False)):
        monkeypatch.setenv("WIDGETS_CACHE", value)
        assert cache.enabled() is on
    monkeypatch.delenv("WIDGETS_CACHE")
    assert cache.enabled()
