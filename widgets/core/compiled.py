"""The trainer's opt-in compiled step: ``train(..., compile=True)`` runs each step's loss, forward and backward,
and the update rule's update through ``torch.compile`` (inductor), in the same loop as the eager path.

What it changes: only speed, and the last bits of float32 arithmetic (inductor fuses and reorders the
elementwise work: the activation and its derivative, the loss, the optimizer's moments). Gradients agree with
the eager ones to about 1e-6 relative in float32 (both are within ~4e-5 of float64); trajectories agree to
the tolerance the tests state, not bit for bit. The eager path is untouched and stays the default.

How it is built:

* :func:`step_grads` compiles ``member_losses(family(x), y, loss).sum()`` (the trainer's default objective);
  AOTAutograd compiles its backward, so ``torch.autograd.grad`` of it runs both compiled.
* :func:`update` compiles the rule's ``step(params, grads, state, scalars, lr, wd)`` (see
  :mod:`widgets.core.optim`), the step-dependent scalars (Adam's bias corrections) handed to it as 0-d float64
  tensors: a Python int t would be baked into the graph and recompile it every step (dynamo gives up after 8
  and silently runs eagerly). They are ``rule.scalars`` of a 0-d step tensor on the parameters' device,
  refilled each step, computed eagerly: no copy from the host each step on CUDA, and not inside the graph,
  where inductor recomputes them for every element (measured: the update as slow as eager). A rule without
  ``step``/``scalars`` keeps its eager ``update``.
* Compiled functions are kept per *structure* (the family's layout and shapes, the data's shapes, the loss, the
  rule), each on its own copy of the code object: dynamo keeps at most 8 compiled versions per code object and
  then silently falls back to eager, which a width sweep would hit. So a second ``train`` call on the same
  structure reuses the compiled code (no compile), and a new structure costs one compile (a few seconds on the
  CPU; the very first one in a process ~10-15 s, less when inductor's on-disk cache is warm).
* ``TORCHINDUCTOR_COMPILE_THREADS`` is set to 1 unless the user set it: inductor's pool of compile workers
  otherwise stays alive and slows later eager work in this process (measured ~2.7x on a 2-core machine).

If ``torch.compile`` cannot run here (an unsupported Python or platform, no working C++ compiler on the CPU,
no triton on CUDA), training raises a RuntimeError saying so, rather than falling back: the user asked for the
compiled path, and a silent fallback would hide a 1.4-1.6x slowdown behind numbers that look the same.
Not supported (a ValueError from the trainer): ``objective`` hooks (e.g. the gradient penalty differentiates
twice, and compiled graphs have no double backward). ``perturb`` hooks, probes and the records (a forward pass
on each split every few steps) run eagerly: compiling the records would add two graphs per structure, seconds
of compile time for ~2% of a step's time.
"""

from __future__ import annotations

import os
import types
from collections import OrderedDict
from collections.abc import Callable

import torch

from widgets.core.losses import member_losses

MAX_KEPT = 64  # compiled functions kept (least recently used dropped first)
_kept: OrderedDict = OrderedDict()


def check_available(device: torch.device) -> None:
    """Raise a RuntimeError if ``torch.compile`` cannot run on ``device`` here (checks what can be checked
    without compiling; a missing C++ compiler shows at the first step, also as a RuntimeError)."""
    import torch._dynamo

    from widgets.core.checks import check_instance

    check_instance("device", device, torch.device, "a torch.device")
    check = getattr(torch._dynamo.eval_frame, "check_if_dynamo_supported", None)
    try:
        if check is not None:
            check()
    except RuntimeError as e:  # what torch raises on unsupported Python versions and platforms
        raise RuntimeError(f"train(compile=True) needs torch.compile, which is not available here ({e}); "
                           "use compile=False") from e
    if device.type == "cuda":
        from torch.utils._triton import has_triton

        if not has_triton():
            raise RuntimeError("train(compile=True) on CUDA needs triton (torch.compile's GPU backend), which is "
                               "not installed; install it or use compile=False")
    if "TORCHINDUCTOR_COMPILE_THREADS" not in os.environ:
        os.environ["TORCHINDUCTOR_COMPILE_THREADS"] = "1"
        import torch._inductor.config as inductor_config  # read from the environment when first imported

        inductor_config.compile_threads = 1


def _meta(t: torch.Tensor) -> tuple:
    return tuple(t.shape), t.stride(), t.dtype, str(t.device), t.requires_grad


def _structure(value, depth: int = 0):
    """A hashable description of what shapes a traced graph: tensors by their metadata, plain data as is,
    containers and objects (a family, a rule) field by field. Member seeds do not shape it and are left out."""
    if isinstance(value, torch.Tensor):
        return _meta(value)
    if value is None or isinstance(value, str | int | float | bool | torch.dtype | torch.device):
        return value
    if depth > 4:
        return type(value).__qualname__
    if isinstance(value, list | tuple):
        return tuple(_structure(v, depth + 1) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((str(k), _structure(v, depth + 1)) for k, v in value.items()))
    if isinstance(value, types.FunctionType | types.BuiltinFunctionType | types.MethodType):
        return value  # a callable loss: by identity
    fields = getattr(value, "__dict__", None)
    if fields is None:
        return type(value).__qualname__
    return (type(value).__qualname__,
            tuple(sorted((k, _structure(v, depth + 1)) for k, v in fields.items() if k != "seeds")))


def _compiled(fn: Callable, key) -> Callable:
    """``torch.compile`` of a private copy of ``fn`` for structure ``key``, kept and reused."""
    if key in _kept:
        _kept.move_to_end(key)
        return _kept[key]
    copy = types.FunctionType(fn.__code__.replace(), fn.__globals__, fn.__name__, fn.__defaults__, fn.__closure__)
    _kept[key] = torch.compile(copy, dynamic=False)
    while len(_kept) > MAX_KEPT:
        _kept.popitem(last=False)
    return _kept[key]


def _failed(e: Exception) -> RuntimeError:
    inner = getattr(e, "inner_exception", None) or e  # what the backend raised (e.g. no C++ compiler)
    lines = [line for line in str(inner).splitlines() if line.strip()]
    return RuntimeError(f"train(compile=True): torch.compile failed here ({type(inner).__name__}: "
                        f"{lines[0] if lines else ''}); use compile=False")


def _loss_sum(family, x: torch.Tensor, y: torch.Tensor, loss) -> torch.Tensor:
    return member_losses(family(x), y, loss).sum()


def _by_batch(fn: Callable, name: str, family, loss) -> Callable:
    """``(x, y) → fn(family, x, y, loss)`` compiled, one compiled function per shape of the batch (the family's
    structure is read once: training changes its values, not its layout)."""
    base = (name, _structure(family), _structure(loss))
    picked: dict = {}

    def call(x: torch.Tensor, y: torch.Tensor):
        meta = (_meta(x), _meta(y))
        if meta not in picked:
            picked[meta] = _compiled(fn, base + meta)
        try:
            return picked[meta](family, x, y, loss)
        except torch._dynamo.exc.BackendCompilerFailed as e:
            raise _failed(e) from e

    return call


def step_grads(family, loss) -> Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, ...]]:
    """``(x, y) → gradients of Σ_k loss_k`` with respect to ``family.params``, forward and backward compiled."""
    from widgets.core.losses import loss_kind

    if not hasattr(family, "params"):
        raise TypeError(f"family must be a family of models, got {type(family).__name__}")
    loss_kind(loss)  # a ValueError naming a bad loss
    loss_sum = _by_batch(_loss_sum, "loss", family, loss)

    def grads(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out = loss_sum(x, y)
        try:  # the backward graph is compiled with the forward; this is for a backend that defers it
            return torch.autograd.grad(out, family.params)
        except torch._dynamo.exc.BackendCompilerFailed as e:
            raise _failed(e) from e

    return grads


def _rule_step(rule, params, grads, state, scalars, lr, wd) -> None:
    rule.step(params, grads, state, scalars, lr, wd)


def update(rule) -> Callable:
    """The rule's ``update(params, grads, state, t, lr, wd)`` with its ``step`` compiled, ``scalars(t)`` handed
    to it as 0-d tensors; a rule without ``step`` and ``scalars`` as it is."""
    if not (hasattr(rule, "init") and callable(getattr(rule, "update", None))):
        raise TypeError(f"rule must be an update rule (init and update, see widgets.core.optim), got "
                        f"{type(rule).__name__}")
    if not (hasattr(rule, "step") and hasattr(rule, "scalars")):
        return rule.update
    fn, step = None, None

    def run(params, grads, state, t: int, lr, wd) -> None:
        nonlocal fn, step
        if fn is None:
            dev = params[0].device
            step = torch.zeros((), dtype=torch.float32 if dev.type == "mps" else torch.float64, device=dev)
            key = ("update", _structure(rule), _structure(params), _structure(state), _structure(lr),
                   _structure(wd), _meta(step))
            fn = _compiled(_rule_step, key)
        step.fill_(t)  # a kernel argument, no copy from the host
        try:
            fn(rule, [p.detach() for p in params], grads, state, rule.scalars(step), lr, wd)
        except torch._dynamo.exc.BackendCompilerFailed as e:
            raise _failed(e) from e

    return run
