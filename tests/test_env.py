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
