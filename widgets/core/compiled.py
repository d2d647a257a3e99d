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
  :mod:`widgets.core.optim`), with the step-dependent scalars (Adam's bias corrections) passed as 0-d tensors:
  a Python int step would be baked into the graph and recompile it every step (dynamo gives up after 8 and
  silently runs eagerly). A rule without ``step``/``scalars`` keeps its eager ``update``.
* Compiled functions are kept per *structure* (the family's layout and shapes, the data's shapes, the loss, the
  rule), each on its own copy of the code object: dynamo keeps at most 8 compiled versions per code object and
  then silently falls back to eager, which a width sweep would hit. So a second ``train`` call on the same
  structure reuses the compiled code (no compile), and a new structure costs one compile (a few seconds on the
  CPU; the very first one in a process ~10-15 s, less when inductor's on-disk cache is warm).
* ``TORCHINDUCTOR_COMPILE_THREADS`` is set to 1 unless the user set it: inductor's pool of compile workers
  otherwise stays alive and slows later eager work in this process (measured ~2.7x on a 2-core machine).

If ``torch.compile`` cannot run here (an unsupported Python or platform, no working C++ compiler on the CPU,
no triton on CUDA), training raises a RuntimeError saying so, rather than falling back: the user asked for the
compiled path, and a silent fallback would hide a 1.5-2x slowdown behind numbers that look the same.
Not supported (a ValueError from the trainer): ``objective`` hooks (e.g. the gradient penalty differentiates
twice, and compiled graphs have no double backward). ``perturb`` hooks and probes run eagerly, as do the
records.
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
    try:
        torch._dynamo.eval_frame.check_if_dynamo_supported()
    except Exception as e:  # torch raises RuntimeError on unsupported Python versions and platforms
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
    return RuntimeError(f"train(compile=True): torch.compile failed here ({type(e).__name__}: "
                        f"{str(e).splitlines()[0] if str(e) else ''}); use compile=False")


def _loss_sum(family, x: torch.Tensor, y: torch.Tensor, loss) -> torch.Tensor:
    return member_losses(family(x), y, loss).sum()


def step_grads(family, loss) -> Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, ...]]:
    """``(x, y) → gradients of Σ_k loss_k`` with respect to ``family.params``, forward and backward compiled
    (the compiled function is picked at the first call, from the family's and the batch's structure)."""
    fn = None

    def grads(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, ...]:
        nonlocal fn
        if fn is None:
            key = ("loss", _structure(family), _structure(loss), _meta(x), _meta(y))
            fn = _compiled(_loss_sum, key)
        try:
            return torch.autograd.grad(fn(family, x, y, loss), family.params)
        except torch._dynamo.exc.BackendCompilerFailed as e:
            raise _failed(e) from e

    return grads


def _rule_step(rule, params, grads, state, scalars, lr, wd) -> None:
    rule.step(params, grads, state, scalars, lr, wd)


def update(rule) -> Callable:
    """The rule's ``update(params, grads, state, t, lr, wd)`` with its ``step`` compiled and the step-dependent
    scalars ``rule.scalars(t)`` passed as 0-d tensors; a rule without ``step`` and ``scalars`` as it is."""
    if not (hasattr(rule, "step") and hasattr(rule, "scalars")):
        return rule.update
    fn = None

    def run(params, grads, state, t: int, lr, wd) -> None:
        nonlocal fn
        p0 = params[0]
        if fn is None:
            key = ("update", _structure(rule), _structure(params), _structure(state), _structure(lr),
                   _structure(wd))
            fn = _compiled(_rule_step, key)
        scalars = tuple(torch.tensor(s, dtype=p0.dtype, device=p0.device) for s in rule.scalars(t))
        try:
            fn(rule, [p.detach() for p in params], grads, state, scalars, lr, wd)
        except torch._dynamo.exc.BackendCompilerFailed as e:
            raise _failed(e) from e

    return run
