import pytest
import torch

from widgets.core import env as device


def test_argument_beats_environment(monkeypatch):
    monkeypatch.setenv("WIDGETS_DEVICE", "cpu")
    assert device.get_device().type == "cpu"
    assert device.get_device("cpu").type == "cpu"


def test_unavailable_device_is_a_clear_error(monkeypatch):
    if torch.cuda.is_available():
        pytest.skip("CUDA is present here")
    with pytest.raises(ValueError, match="CUDA is not available"):
        device.get_device("cuda")
    monkeypatch.setenv("WIDGETS_DEVICE", "cuda")
    with pytest.raises(ValueError, match="CUDA"):
        device.get_device()


def test_fallback_order_without_accelerators(monkeypatch):
    monkeypatch.delenv("WIDGETS_DEVICE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert device.get_device().type == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert device.get_device().type == "cuda"


def test_modes(monkeypatch):
    monkeypatch.setenv("WIDGETS_MODE", "full")
    assert device.default_mode() == "full"
    assert device.check_mode(None) == "full"
    monkeypatch.delenv("WIDGETS_MODE")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert device.default_mode() == "quick"
    with pytest.raises(ValueError, match="mode must be one of"):
        device.check_mode("fast")
    monkeypatch.setenv("WIDGETS_MODE", "slow")
    with pytest.raises(ValueError, match="mode"):
        device.default_mode()


def test_seed_and_dtype():
    g1, g2 = device.seed_everything(3), device.seed_everything(3)
    assert torch.equal(torch.rand(4, generator=g1), torch.rand(4, generator=g2))
    with pytest.raises(ValueError, match="seed"):
        device.seed_everything(-1)
    assert device.get_dtype("cpu") == torch.float32
    assert device.get_dtype("cpu", torch.float64) == torch.float64


@pytest.mark.parametrize("value, match", [("bogus", "must name a device"), ("meta", "must be cpu, cuda"),
                                          ("cuda:x", "must name a device")])
def test_bad_device_names_where_it_came_from(monkeypatch, value, match):
    monkeypatch.setenv("WIDGETS_DEVICE", value)
    with pytest.raises(ValueError, match=rf"\$WIDGETS_DEVICE {match}"):
        device.get_device()
    with pytest.raises(ValueError, match=rf"^device {match}"):
        device.get_device(value)


def test_bad_mode_variable_is_named(monkeypatch):
    monkeypatch.setenv("WIDGETS_MODE", "fast")
    with pytest.raises(ValueError, match=r"\$WIDGETS_MODE \(the run mode\) must be one of"):
        device.default_mode()


def test_one_cpu_thread_policy_applies_on_the_cpu_only():
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        device.use_cpu_threads(torch.device("meta"))  # not the CPU: left alone
        assert torch.get_num_threads() == 2
        device.use_cpu_threads("cpu")
        assert torch.get_num_threads() == device.CPU_THREADS == 1
    finally:
        torch.set_num_threads(before)
