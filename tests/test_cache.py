import pytest
import torch

from widgets.core import cache


@pytest.fixture
def calls():
    return []


def make(calls, value):
    def compute():
        calls.append(1)
        return value

    return compute


def test_hit_miss_and_keying(tmp_path, calls):
    v = {"w": torch.arange(3.0), "n": 2}
    a = cache.cached("exp", {"lr": 0.1, "widths": (1, 2)}, make(calls, v), directory=tmp_path)
    b = cache.cached("exp", {"widths": [1, 2], "lr": 0.1}, make(calls, v), directory=tmp_path)
    assert len(calls) == 1 and torch.equal(a["w"], b["w"])
    cache.cached("exp", {"lr": 0.2, "widths": (1, 2)}, make(calls, v), directory=tmp_path)
    assert len(calls) == 2  # a changed parameter is a new entry
    cache.cached("exp", {"lr": 0.1, "widths": (1, 2)}, make(calls, v), directory=tmp_path, refresh=True)
    assert len(calls) == 3


def test_truncated_entry_is_recomputed_never_served(tmp_path, calls):
    cache.cached("exp", {"a": 1}, make(calls, {"x": torch.ones(1000)}), directory=tmp_path)
    (path,) = tmp_path.glob("exp-*.pt")
    path.write_bytes(path.read_bytes()[:100])
    with pytest.warns(RuntimeWarning, match="unreadable"):
        out = cache.cached("exp", {"a": 1}, make(calls, {"x": torch.ones(1000)}), directory=tmp_path)
    assert len(calls) == 2 and torch.equal(out["x"], torch.ones(1000))
    assert cache.cached("exp", {"a": 1}, make(calls, None), directory=tmp_path)["x"].shape == (1000,)
    assert len(calls) == 2  # the rewritten entry is sound again


def test_entry_under_the_wrong_key_is_not_served(tmp_path, calls):
    cache.cached("exp", {"a": 1}, make(calls, 1.0), directory=tmp_path)
    (path,) = tmp_path.glob("exp-*.pt")
    torch.save({"key": "somebody else", "value": 99.0}, path)
    with pytest.warns(RuntimeWarning, match="does not match"):
        assert cache.cached("exp", {"a": 1}, make(calls, 1.0), directory=tmp_path) == 1.0


def test_code_change_invalidates(tmp_path, calls, monkeypatch):
    cache.cached("exp", {"a": 1}, make(calls, 1.0), directory=tmp_path)
    monkeypatch.setattr(cache, "code_hash", lambda: "edited")
    cache.cached("exp", {"a": 1}, make(calls, 2.0), directory=tmp_path)
    assert len(calls) == 2


def test_code_hash_covers_the_package():
    h = cache.code_hash()
    assert len(h) == 64 and h == cache.code_hash()


def test_write_is_atomic(tmp_path, calls):
    def boom():
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        cache.cached("exp", {"a": 1}, boom, directory=tmp_path)
    assert list(tmp_path.iterdir()) == []  # nothing half-written left behind


def test_bad_inputs(tmp_path):
    with pytest.raises(ValueError, match="name"):
        cache.cached("bad name!", {}, lambda: 1, directory=tmp_path)
    with pytest.raises(ValueError, match="cache stores tensors"):
        cache.cached("exp", {}, lambda: object(), directory=tmp_path)
    with pytest.raises(TypeError, match="cannot be keyed"):
        cache.cached("exp", {"f": lambda: 1}, lambda: 1, directory=tmp_path)


def test_env_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("WIDGETS_CACHE_DIR", str(tmp_path / "c"))
    cache.cached("exp", {"a": 1}, lambda: 1.0)
    assert len(list((tmp_path / "c").glob("exp-*.pt"))) == 1


def test_dataclass_parameters_are_keyed_by_value(tmp_path, calls):
    from widgets.intro import DemoParams

    cache.cached("exp", {"p": DemoParams()}, make(calls, 1.0), directory=tmp_path)
    cache.cached("exp", {"p": DemoParams()}, make(calls, 1.0), directory=tmp_path)
    cache.cached("exp", {"p": DemoParams(steps=7)}, make(calls, 1.0), directory=tmp_path)
    assert len(calls) == 2
