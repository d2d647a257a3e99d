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


# ---------------------------------------------------------------- bad input: a clear error naming the argument

_BAD_INPUTS = [
    (device.get_device, ("bogus",), {}, ValueError, r"device must name a device"),
    (device.get_device, ("meta",), {}, ValueError, r"device must be cpu, cuda, cuda:N or mps"),
    (device.get_device, (3,), {}, ValueError, r"device must name a device"),
    (device.get_dtype, ("cpu", "float32"), {}, TypeError, r"dtype must be None or a floating torch dtype"),
    (device.get_dtype, ("cpu", torch.int64), {}, TypeError, r"dtype must be None or a floating torch dtype"),
    (device.get_dtype, ("bogus", torch.float32), {}, ValueError, r"device must name a device"),
    (device.seed_everything, (-1,), {}, ValueError, r"seed must be an integer in \[0, 2\^63\)"),
    (device.seed_everything, (2**64,), {}, ValueError, r"seed must be an integer in \[0, 2\^63\)"),
    (device.seed_everything, (True,), {}, ValueError, r"seed must be an integer"),
    (device.seed_everything, (1.5,), {}, ValueError, r"seed must be an integer"),
    (device.check_mode, ("fast",), {}, ValueError, r"mode must be one of \('quick', 'full'\)"),
    (device.check_mode, (1,), {}, ValueError, r"mode must be one of"),
    (device.project_root, (3,), {}, TypeError, r"start must be None, a str or a Path"),
    (device.use_cpu_threads, ("bogus",), {}, ValueError, r"device must name a device"),
    (device.use_cpu_threads, (None,), {}, TypeError, r"device must be a device string or a torch.device"),
    (device.one_cpu_thread("cuda:x").__enter__, (), {}, ValueError, r"device must name a device"),
    (device.one_cpu_thread(0).__enter__, (), {}, TypeError, r"device must be a device string or a torch.device"),
]


@pytest.mark.parametrize("fn,args,kwargs,exc,match", _BAD_INPUTS,
                         ids=[f"{c[0].__name__}-{i}" for i, c in enumerate(_BAD_INPUTS)])
def test_bad_input_is_refused_naming_the_argument(fn, args, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        fn(*args, **kwargs)


def test_project_root_takes_a_string():
    assert device.project_root("/") is None
