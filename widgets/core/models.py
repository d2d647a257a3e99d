"""Families of K networks stored as stacked weights, so that K models run as one batched computation.

A family's parameters are tensors with a leading member axis K. Members may have different widths
(hidden units, or channels for the CNN): every member is padded to the widest, and the padded entries are
zero and masked. A zero unit outputs act(0) = 0 for relu, tanh and identity, and receives zero gradient,
so each member computes exactly what it would compute alone (tests check this against a lone member).

Each member is initialised from its own seed, with its own fan-ins, exactly as a lone network of its width:
weights ~ N(0, (init_scale · gain)² / fan_in) with gain √2 for relu and 1 otherwise; biases start at zero.

An MLP family may carry dropout (Srivastava et al. 2014) with one rate per member: in the trainer's steps only
(:meth:`Family.stepping`), each hidden unit's output is zeroed with probability p_k and the survivors scaled by
1/(1 − p_k); every other forward pass (records, probes, evaluation) is the deterministic network. Each member
draws its masks from its own generator, seeded from its own seed, so it drops exactly the units it would drop
alone.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace

import torch

from widgets.core.checks import (
    check_bool,
    check_choice,
    check_device,
    check_dtype,
    check_float,
    check_int,
    check_memory,
    check_sequence,
    check_tensor,
)
from widgets.core.env import get_device, get_dtype

ACTIVATIONS = {"relu": torch.relu, "tanh": torch.tanh, "identity": lambda h: h}
GAINS = {"relu": math.sqrt(2.0), "tanh": 1.0, "identity": 1.0}
DROPOUT_SEED_OFFSET = 2_000_003  # member k's dropout masks come from seed_k + this (the minibatches use + 1_000_003)


class _Members:
    """What the trainer reads off any family layout: ``size`` (K) and ``device``, from ``seeds`` and ``params``."""

    seeds: list[int]
    params: list[torch.Tensor]

    @property
    def size(self) -> int:
        return len(self.seeds)

    @property
    def device(self) -> torch.device:
        return self.params[0].device


@dataclass
class Family(_Members):
    """K networks with stacked parameters.

    ``params``: list of [K, ...] tensors (leaf tensors with ``requires_grad``); ``masks``: matching 0/1
    tensors marking each member's real entries; ``widths``: [K] hidden width (MLP) or channels (CNN);
    ``seeds``: [K]. ``kind`` is ``"mlp"`` or ``"cnn"``. ``dropout``: None, or [K] rates in [0, 1) with
    ``drop_rng`` one CPU generator per member (see the module's docstring); ``training``: whether dropout is
    active now (set only inside :meth:`stepping`).
    """

    kind: str
    act: str
    params: list[torch.Tensor]
    masks: list[torch.Tensor]
    widths: list[int]
    seeds: list[int]
    bias: bool
    q: int = 0
    readout: str = "flatten"
    info: dict = field(default_factory=dict)
    scale: torch.Tensor | None = None  # [K]: with params0, the output is α_k (f_k − f_k at init); see centered()
    params0: list[torch.Tensor] | None = None
    dropout: torch.Tensor | None = None
    drop_rng: list[torch.Generator] | None = None
    training: bool = False

    @contextmanager
    def stepping(self) -> Iterator[Family]:
        """Training mode for the duration of a block: dropout (if the family has any) is active in every forward
        pass inside it. The trainer wraps each step's objective and gradient in it, and nothing else."""
        before = self.training
        self.training = True
        try:
            yield self
        finally:
            self.training = before

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: [n, d] (shared by all members) or [K, n, d] (one batch per member) → outputs [K, n, out].
        Non-finite inputs give non-finite outputs (not checked here: this is the training loop's hot path)."""
        _check_x(self, x)
        run = _mlp_forward if self.kind == "mlp" else _cnn_forward
        out = run(self, x, self.params)
        if self.params0 is None:
            return out
        with torch.no_grad():
            out0 = run(self, x, self.params0)
        return self.scale.view(-1, 1, 1) * (out - out0)

    __call__ = forward

    def broadcast(self, values: torch.Tensor) -> list[torch.Tensor]:
        """Per-member values [K] laid out to broadcast against each parameter ([K, 1, …] each): how the
        trainer applies per-member learning rates and weight decays."""
        values = check_tensor("values", values, finite=False)
        if values.shape != (self.size,):
            raise ValueError(f"values must have shape [{self.size}] (one per member), got {tuple(values.shape)}")
        return [values.view((self.size,) + (1,) * (p.ndim - 1)) for p in self.params]

    def member(self, k: int) -> Family:
        """Member k alone, as a family of one (a copy; trimmed to its own width)."""
        k = check_int("k", k, 0, self.size - 1)
        params = [p[k:k + 1].detach().clone() for p in self.params]
        masks = [m[k:k + 1].clone() for m in self.masks]
        params, masks = _trim(params, masks)
        for p in params:
            p.requires_grad_(True)
        lone = Family(self.kind, self.act, params, masks, [self.widths[k]], [self.seeds[k]], self.bias,
                      self.q, self.readout, dict(self.info))
        if self.dropout is not None:  # its rate, and its mask generator where it is now
            g = torch.Generator(device=self.drop_rng[k].device)
            g.set_state(self.drop_rng[k].get_state())
            lone = replace(lone, dropout=self.dropout[k:k + 1].clone(), drop_rng=[g])
        if self.params0 is not None:
            p0, _ = _trim([p[k:k + 1].detach().clone() for p in self.params0], [m[k:k + 1] for m in self.masks])
            lone = replace(lone, scale=self.scale[k:k + 1].clone(), params0=p0)
        return lone


def _check_family(name: str, family) -> None:
    """TypeError unless ``family`` is a :class:`Family`: stacked [K, ...] parameters, one slice per member
    (what the probes and :func:`to_module` read; a packed layout stores its members side by side)."""
    if not isinstance(family, Family):
        raise TypeError(f"{name} must be a Family (from models.mlp or models.cnn), got {type(family).__name__}")


def _io_dims(family) -> tuple[int, int]:
    """(input width, number of outputs) of a Family or a PackedFamily."""
    if isinstance(family, PackedFamily):
        return family.params[0].shape[1], family.params[2].shape[1]
    return family.info["d_in" if family.kind == "mlp" else "d"], family.info["d_out"]


def to_module(family: Family, k: int) -> torch.nn.Sequential:
    """Member k of an MLP family (with biases) as a plain ``torch.nn.Sequential`` holding a copy of its
    weights, e.g. to check it against ``torch.optim`` or to use torch's own tooling on it."""
    _check_family("family", family)
    if family.kind != "mlp" or not family.bias:
        raise ValueError("to_module needs an MLP family with biases")
    member = family.member(k)
    Ws, bs = member.params[0::2], member.params[1::2]
    layers = []
    for i, (W, b) in enumerate(zip(Ws, bs, strict=True)):
        lin = torch.nn.Linear(W.shape[1], W.shape[2], device=W.device, dtype=W.dtype)
        with torch.no_grad():
            lin.weight.copy_(W[0].T)
            lin.bias.copy_(b[0, 0])
        layers.append(lin)
        if i < len(Ws) - 1:
            layers.append({"relu": torch.nn.ReLU, "tanh": torch.nn.Tanh, "identity": torch.nn.Identity}[family.act]())
    return torch.nn.Sequential(*layers)


def _check_x(family, x) -> None:
    """x: [n, d] or [K, n, d] with the family's input width d (and K members); a shape check only."""
    d = _io_dims(family)[0]
    x = check_tensor("x", x, finite=False)
    if x.ndim not in (2, 3) or x.shape[-1] != d or (x.ndim == 3 and x.shape[0] != family.size):
        raise ValueError(f"x must have shape [n, {d}] or [{family.size}, n, {d}] (the family's input width and "
                         f"members), got {tuple(x.shape)}")


def _per_member(name: str, value, k: int) -> list:
    if isinstance(value, int | float):
        return [value] * k
    value = check_sequence(name, value)
    if len(value) != k:
        raise ValueError(f"{name} must be a number or a list of {k} (one per member), got {len(value)}")
    return value


def _members(seeds, widths) -> tuple[list[int], list[int]]:
    if isinstance(seeds, int):
        seeds = [seeds]
    seeds = [check_int("seeds[i]", s, 0) for s in check_sequence("seeds", seeds)]
    if not seeds:
        raise ValueError("seeds must name at least one member")
    widths = [check_int("widths[i]", w, 1, 10**6) for w in _per_member("widths", widths, len(seeds))]
    return seeds, widths


def mlp(d_in: int, d_out: int, widths: int | Sequence[int] | None, seeds: int | Sequence[int] = 0, depth: int = 2,
        act: str = "relu", init_scale: float | Sequence[float] = 1.0, bias: bool = True, bias_std: float = 0.0,
        device=None, dtype: torch.dtype | None = None, hidden: Sequence[int] | None = None,
        dropout: float | Sequence[float] = 0.0) -> Family:
    """A family of MLPs d_in → width → … → width → d_out with ``depth`` weight layers (depth − 1 hidden).

    ``seeds`` sets K (one member per seed); ``widths`` and ``init_scale`` are one number or one per member.
    Biases start at 0, or N(0, bias_std²/fan_in), drawn after all weights so the weights don't depend on it.
    (With one input, zero biases put every first-layer ReLU kink at x = 0.)

    ``hidden``: hidden layers of different widths, the same for every member, e.g. (10, 7, 5, 4, 3) for
    d_in → 10 → 7 → 5 → 4 → 3 → d_out; it sets ``depth = len(hidden) + 1``, and ``widths`` must then be None
    (the family records max(hidden) as each member's width).

    ``dropout``: one rate or one per member, in [0, 1): inverted dropout on every hidden layer's output, active
    only in training steps (see the module's docstring). All zero (the default): no dropout at all.
    """
    d_in, d_out = check_int("d_in", d_in, 1), check_int("d_out", d_out, 1)
    check_choice("act", act, ACTIVATIONS)
    bias = check_bool("bias", bias)
    dev, dtype = check_device("device", device), check_dtype("dtype", dtype)
    get_dtype(dev, dtype)
    if hidden is not None:
        hidden = check_sequence("hidden", hidden)
        if widths is not None:
            raise ValueError("pass either widths (one width for every hidden layer) or hidden (one width per "
                             "hidden layer), not both")
        hidden = [check_int("hidden[i]", h, 1, 10**6) for h in hidden]
        if not hidden:
            raise ValueError("hidden must name at least one hidden width")
        depth, widths = len(hidden) + 1, max(hidden)
    elif widths is None:
        raise ValueError("widths must be a width or one per member (or pass hidden)")
    depth = check_int("depth", depth, 1, 64)
    seeds, widths = _members(seeds, widths)
    scales = [check_float("init_scale", s, 0, 1e6) for s in _per_member("init_scale", init_scale, len(seeds))]
    rates = [check_float("dropout", p, 0, 1, hi_open=True) for p in _per_member("dropout", dropout, len(seeds))]
    bias_std = check_float("bias_std", bias_std, 0, 1e6)
    if bias_std and not bias:
        raise ValueError("bias_std > 0 needs bias=True")

    def layer_dims(w: int) -> list[int]:
        return [d_in, *hidden, d_out] if hidden is not None else [d_in] + [w] * (depth - 1) + [d_out]

    dims_max = layer_dims(max(widths))
    shapes = [(dims_max[i], dims_max[i + 1]) for i in range(depth)]
    # float64 draws per member, the stacked weights and masks, and the device copy
    per_member = sum(a * b + b for a, b in shapes)
    check_memory(f"the family (d_in={d_in}, d_out={d_out}, width {max(widths)}, depth {depth}, "
                 f"{len(seeds)} members)", 8 * per_member * len(seeds) * 4)
    layers = []
    for s, w, c in zip(seeds, widths, scales, strict=True):
        dims = layer_dims(w)
        g = torch.Generator().manual_seed(s)
        member = []
        for i in range(depth):
            gain = GAINS[act] if i < depth - 1 else 1.0
            W = torch.randn(dims[i], dims[i + 1], generator=g, dtype=torch.float64) * (c * gain / math.sqrt(dims[i]))
            member.append((W, torch.zeros(1, dims[i + 1], dtype=torch.float64)))
        if bias_std:
            member = [(W, torch.randn(b.shape, generator=g, dtype=torch.float64) * (bias_std / math.sqrt(W.shape[0])))
                      for W, b in member]
        layers.append(member)
    params, masks = [], []
    for i, (a, b) in enumerate(shapes):
        W = torch.zeros(len(seeds), a, b, dtype=torch.float64)
        Wm = torch.zeros_like(W)
        for k, member in enumerate(layers):
            Wk = member[i][0]
            W[k, : Wk.shape[0], : Wk.shape[1]] = Wk
            Wm[k, : Wk.shape[0], : Wk.shape[1]] = 1
        params.append(W)
        masks.append(Wm)
        if bias:
            bm = Wm[:, :1, :].clone()
            B = torch.zeros(len(seeds), 1, b, dtype=torch.float64)
            for k, member in enumerate(layers):
                Bk = member[i][1]
                B[k, :, : Bk.shape[1]] = Bk
            params.append(B)
            masks.append(bm)
    info = {"d_in": d_in, "d_out": d_out, "depth": depth}
    if hidden is not None:
        info["hidden"] = tuple(hidden)
    fam = _finish("mlp", act, params, masks, widths, seeds, bias, 0, "flatten", dev, dtype, info)
    if any(rates):
        fam = replace(fam, dropout=torch.tensor(rates, dtype=torch.float64),
                      drop_rng=[torch.Generator(device=dev).manual_seed(s + DROPOUT_SEED_OFFSET) for s in seeds])
    return fam


def cnn(d: int, d_out: int, channels: int | Sequence[int], seeds: int | Sequence[int] = 0, depth: int = 1,
        q: int = 3, act: str = "relu", readout: str = "flatten", init_scale: float | Sequence[float] = 1.0,
        bias: bool = True, device=None, dtype: torch.dtype | None = None) -> Family:
    """A family of 1-D CNNs on inputs of length ``d`` (one input channel): ``depth`` circular convolutions
    with filter size ``q`` and ``channels`` channels (stride 1, output length d), then a linear readout of
    the flattened features (``"flatten"``) or of their spatial average (``"gap"``).
    """
    d, d_out = check_int("d", d, 1), check_int("d_out", d_out, 1)
    q = check_int("q", q, 1, d)
    depth = check_int("depth", depth, 1, 64)
    check_choice("act", act, ACTIVATIONS)
    check_choice("readout", readout, ("flatten", "gap"))
    bias = check_bool("bias", bias)
    dev, dtype = check_device("device", device), check_dtype("dtype", dtype)
    get_dtype(dev, dtype)
    seeds, widths = _members(seeds, widths=channels)
    scales = [check_float("init_scale", s, 0, 1e6) for s in _per_member("init_scale", init_scale, len(seeds))]
    K, cmax = len(seeds), max(widths)
    per_member = cmax * q + (depth - 1) * cmax * cmax * q + (cmax * d if readout == "flatten" else cmax) * d_out
    check_memory(f"the family (d={d}, d_out={d_out}, {cmax} channels, depth {depth}, q={q}, {K} members)",
                 8 * per_member * K * 4)
    conv = [torch.zeros(K, cmax, 1 if i == 0 else cmax, q, dtype=torch.float64) for i in range(depth)]
    conv_m = [torch.zeros_like(t) for t in conv]
    biases = [torch.zeros(K, cmax, 1, dtype=torch.float64) for _ in range(depth)]
    bias_m = [torch.zeros_like(t) for t in biases]
    r_in = cmax * d if readout == "flatten" else cmax
    out_W = torch.zeros(K, r_in, d_out, dtype=torch.float64)
    out_m = torch.zeros_like(out_W)
    for k, (s, c, scale) in enumerate(zip(seeds, widths, scales, strict=True)):
        g = torch.Generator().manual_seed(s)
        for i in range(depth):
            c_in = 1 if i == 0 else c
            w = torch.randn(c, c_in, q, generator=g, dtype=torch.float64) * (scale * GAINS[act] / math.sqrt(c_in * q))
            conv[i][k, :c, :c_in] = w
            conv_m[i][k, :c, :c_in] = 1
            bias_m[i][k, :c] = 1
        fan = c * d if readout == "flatten" else c
        w = torch.randn(fan, d_out, generator=g, dtype=torch.float64) * (scale / math.sqrt(fan))
        # flatten order is (channel, position): rows [ch*d, (ch+1)*d) belong to channel ch
        out_W[k, :fan] = w
        out_m[k, :fan] = 1
    params, masks = [], []
    for i in range(depth):
        params.append(conv[i])
        masks.append(conv_m[i])
        if bias:
            params.append(biases[i])
            masks.append(bias_m[i])
    params.append(out_W)
    masks.append(out_m)
    if bias:
        params.append(torch.zeros(K, 1, d_out, dtype=torch.float64))
        masks.append(torch.ones(K, 1, d_out, dtype=torch.float64))
    return _finish("cnn", act, params, masks, widths, seeds, bias, q, readout, dev, dtype,
                   {"d": d, "d_out": d_out, "depth": depth})


def _finish(kind, act, params, masks, widths, seeds, bias, q, readout, device, dtype, info) -> Family:
    dev = get_device(device)
    dt = get_dtype(dev, dtype)
    params = [p.to(device=dev, dtype=dt).requires_grad_(True) for p in params]
    masks = [m.to(device=dev, dtype=dt) for m in masks]
    return Family(kind, act, params, masks, widths, seeds, bias, q, readout, info)


def training_bytes(members: int, n: int, d_in: int, d_out: int, width: int, depth: int, itemsize: int = 4) -> int:
    """About how much memory (bytes) training ``members`` MLPs d_in → width → … → d_out of ``depth`` weight
    layers on a batch of ``n`` inputs takes: the weights with their gradients and two optimizer moments, and
    two activations per layer kept for the backward pass. For a Params class's memory budget
    (:func:`widgets.core.checks.check_memory`), before anything is built."""
    members, n, itemsize = check_int("members", members, 1), check_int("n", n, 0), check_int("itemsize", itemsize, 1)
    d_in, d_out = check_int("d_in", d_in, 1), check_int("d_out", d_out, 1)
    width, depth = check_int("width", width, 1), check_int("depth", depth, 1)
    weights = d_in * d_out if depth == 1 else (d_in + d_out + (depth - 2) * width) * width
    return itemsize * members * (4 * weights + 2 * n * ((depth - 1) * width + d_out))


def _mlp_forward(f: Family, x: torch.Tensor, params: list[torch.Tensor]) -> torch.Tensor:
    act = ACTIVATIONS[f.act]
    step = 2 if f.bias else 1
    layers = [params[i:i + step] for i in range(0, len(params), step)]
    h = x.to(params[0].dtype)
    for i, layer in enumerate(layers):
        if h.ndim == 2:  # shared inputs [n, d]: one pass for all members
            h = h.expand(f.size, *h.shape)
        # bias folded into the batched GEMM: one pass over the activations instead of two
        h = torch.baddbmm(layer[1], h, layer[0]) if f.bias else torch.bmm(h, layer[0])
        if i < len(layers) - 1:
            h = act(h)
            if f.training and f.dropout is not None:
                h = h * _dropout_mask(f, i, h)
    return h


def _dropout_mask(f: Family, layer: int, h: torch.Tensor) -> torch.Tensor:
    """The inverted-dropout multipliers of hidden layer ``layer``'s output h [K, n, w]: 0 for a dropped unit,
    1/(1 − p_k) for a kept one, 1 on padding and for members with p_k = 0 (which draw nothing).

    Member k draws a [n, w_k] uniform block over its own w_k real units (its width, or the layer's width in a
    ``hidden=`` family) from its own generator, so its masks are those of the same network trained alone. The
    generators live on the family's device, so the masks are drawn there: no host copy in a training step (on
    the CPU the draws are the CPU generator's; a GPU draws its own stream)."""
    K, n, w = h.shape
    hidden = f.info.get("hidden")
    real = [hidden[layer]] * K if hidden is not None else list(f.widths)  # each member's real units here
    mult = torch.ones(K, n, w, dtype=torch.float64, device=h.device)
    for k, p in enumerate(f.dropout.tolist()):
        if p > 0:
            keep = torch.rand(n, real[k], generator=f.drop_rng[k], dtype=torch.float64, device=h.device) >= p
            mult[k, :, :real[k]] = keep.to(torch.float64) / (1 - p)
    return mult.to(h.dtype)


def layer_outputs(family: Family, x: torch.Tensor, pre: bool = False) -> list[torch.Tensor]:
    """Every layer's output of an MLP family on inputs x [n, d] (or [K, n, d]): one [K, n, width_l] tensor
    per weight layer, the hidden layers after their activation (before it with ``pre=True``) and the last
    layer's raw outputs (logits). Padded units of narrower members are zero. Without gradients."""
    _check_family("family", family)
    if family.kind != "mlp" or family.params0 is not None:
        raise ValueError("layer_outputs needs a plain MLP family (not a CNN, not centered)")
    _check_x(family, x)
    check_bool("pre", pre)
    act = ACTIVATIONS[family.act]
    step = 2 if family.bias else 1
    params = family.params
    outs = []
    with torch.no_grad():
        h = x.to(device=params[0].device, dtype=params[0].dtype)
        if h.ndim == 2:
            h = h.expand(family.size, *h.shape)
        n_layers = len(params) // step
        for i in range(n_layers):
            W = params[step * i]
            z = torch.baddbmm(params[step * i + 1], h, W) if family.bias else torch.bmm(h, W)
            if i == n_layers - 1:
                outs.append(z)
            else:
                h = act(z)
                outs.append(z if pre else h)
    return outs


def _circular_conv(h: torch.Tensor, W: torch.Tensor) -> torch.Tensor:
    """h: [K, n, C_in, d], W: [K, C_out, C_in, q] → [K, n, C_out, d], circular 'same' padding."""
    q = W.shape[-1]
    left, right = (q - 1) // 2, q // 2
    parts = ([h[..., h.shape[-1] - left:]] if left else []) + [h] + ([h[..., :right]] if right else [])
    patches = torch.cat(parts, -1).unfold(-1, q, 1)  # [K, n, C_in, d, q]
    return torch.einsum("kncpj,kocj->knop", patches, W)


def _cnn_forward(f: Family, x: torch.Tensor, params: list[torch.Tensor]) -> torch.Tensor:
    act = ACTIVATIONS[f.act]
    depth = f.info["depth"]
    step = 2 if f.bias else 1
    K = f.size
    h = x.to(params[0].dtype)
    h = h.unsqueeze(-2)  # [.., n, 1, d]
    if h.ndim == 3:
        h = h.unsqueeze(0).expand(K, *h.shape)
    for i in range(depth):
        h = _circular_conv(h, params[step * i])
        if f.bias:
            h = h + params[step * i + 1].unsqueeze(1)
        h = act(h)
    h = h.flatten(-2) if f.readout == "flatten" else h.mean(-1)
    out = torch.matmul(h, params[step * depth])
    if f.bias:
        out = out + params[step * depth + 1]
    return out


def _trim(params: list[torch.Tensor], masks: list[torch.Tensor]):
    """Cut a lone member's padding off (keep only the index ranges where its mask is nonzero)."""
    out_p, out_m = [], []
    for p, m in zip(params, masks, strict=True):
        idx = []
        for dim in range(1, m.ndim):
            other = [i for i in range(m.ndim) if i != dim]
            used = m.amax(dim=other) > 0
            n = int(used.nonzero().max()) + 1 if used.any() else 0
            idx.append(slice(0, n))
        out_p.append(p[(slice(None), *idx)].clone())
        out_m.append(m[(slice(None), *idx)].clone())
    return out_p, out_m


def centered(family: Family, scale) -> Family:
    """The family with outputs F_k(x) = α_k (f_k(x) − f_k⁰(x)), f⁰ the network at its current (initial)
    weights, kept frozen: lazy training for large α (Chizat, Oyallon & Bach 2019), which pairs with a
    learning rate ∝ 1/α². ``scale``: α, one number or one per member. Trains with the same parameters."""
    _check_family("family", family)
    if family.dropout is not None:  # f⁰ would be evaluated with its own dropout masks inside a training step
        raise ValueError("centered needs a family without dropout")
    alpha = torch.tensor([check_float("scale", s, 0, 1e8, lo_open=True)
                          for s in _per_member("scale", scale, family.size)],
                         device=family.device, dtype=family.params[0].dtype)
    return replace(family, scale=alpha, params0=[p.detach().clone() for p in family.params])


@dataclass
class PackedFamily(_Members):
    """Two-layer ReLU MLPs of different widths, M members stored *packed*: member m owns hidden units
    [offset_m, offset_m + width_m) of one hidden layer of H = Σ widths units, so the first layer is one GEMM
    with no padding (a width sweep from 1 to 1000 units costs Σ widths, not M × max width). Members are
    grouped by width (``groups``: (width, first member, count)), and each group's readout is one batched
    matmul. The trainer treats it like a :class:`Family` (``params``, ``masks``, ``broadcast``, ``seeds``).

    Weights are stored unit-major so that each group's hidden activations are a contiguous block (no copies):
    ``W1``: [H, d], ``b1``: [H, 1], ``W2``: [H, c] (row u: unit u's readout), ``b2``: [M, c].
    """

    params: list[torch.Tensor]
    widths: list[int]
    seeds: list[int]
    groups: list[tuple[int, int, int]]
    owner: torch.Tensor  # [H] long: the member owning each hidden unit

    @property
    def masks(self) -> list[torch.Tensor]:
        """No padding anywhere: all-ones masks that broadcast against every parameter."""
        return [torch.ones((1,) * p.ndim, device=self.device, dtype=p.dtype) for p in self.params]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: [n, d] → outputs [M, n, c]."""
        d = self.params[0].shape[1]
        if not isinstance(x, torch.Tensor) or x.ndim != 2 or x.shape[1] != d:
            raise ValueError(f"x must have shape [n, {d}]: a packed family takes inputs shared by all members, "
                             f"got {tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__}")
        W1, b1, W2, b2 = self.params
        hT = torch.relu(torch.addmm(b1, W1, x.to(W1.dtype).T))  # [H, n]
        sizes = [w * count for w, _, count in self.groups]
        # split (not slicing) so the backward pass concatenates the groups' gradients instead of adding
        # one zero-padded full-size gradient per group
        outs = [torch.bmm(W2g.view(count, w, -1).transpose(1, 2), hg.view(count, w, -1))  # [count, c, n]
                for (w, _, count), hg, W2g in zip(self.groups, hT.split(sizes), W2.split(sizes), strict=True)]
        return torch.cat(outs).transpose(1, 2) + b2[:, None, :]

    __call__ = forward

    def broadcast(self, values: torch.Tensor) -> list[torch.Tensor]:
        """Per-member values [M] → per-unit columns for W1, b1, W2 ([H, 1]) and [M, 1] for b2."""
        values = check_tensor("values", values, finite=False)
        if values.shape != (self.size,):
            raise ValueError(f"values must have shape [{self.size}] (one per member), got {tuple(values.shape)}")
        unit = values[self.owner].view(-1, 1)
        return [unit, unit, unit, values.view(-1, 1)]


def packed_mlp(d_in: int, d_out: int, widths, seeds, device=None, dtype=None) -> PackedFamily:
    """The members of ``mlp(d_in, d_out, widths, seeds, depth=2, act="relu")`` (the same initialisation,
    member by member), packed. Members are reordered so equal widths are adjacent; the result's ``widths`` and
    ``seeds`` give the new order."""
    widths, seeds = check_sequence("widths", widths), check_sequence("seeds", seeds)
    dev, dtype = check_device("device", device), check_dtype("dtype", dtype)
    get_dtype(dev, dtype)
    if len(widths) != len(seeds) or not widths:
        raise ValueError(f"widths and seeds must be equally long and non-empty, got {len(widths)} and {len(seeds)}")
    order = sorted(range(len(widths)), key=lambda k: (widths[k], k))
    widths, seeds = [widths[k] for k in order], [seeds[k] for k in order]
    fam = mlp(d_in, d_out, widths=widths, seeds=seeds, depth=2, device="cpu", dtype=torch.float64)
    W1, b1, W2, b2 = (p.detach() for p in fam.params)
    groups, k = [], 0
    while k < len(widths):
        count = widths.count(widths[k])  # sorted, so equal widths are adjacent
        groups.append((widths[k], k, count))
        k += count
    dt = dict(device=dev, dtype=get_dtype(dev, dtype))
    packed = [torch.cat([W1[k, :, :w] for k, w in enumerate(widths)], 1).T.contiguous(),
              torch.cat([b1[k, 0, :w] for k, w in enumerate(widths)])[:, None].contiguous(),
              torch.cat([W2[k, :w] for k, w in enumerate(widths)]), b2[:, 0].clone()]
    owner = torch.cat([torch.full((w,), k) for k, w in enumerate(widths)]).to(dev)
    return PackedFamily([p.to(**dt).requires_grad_(True) for p in packed], widths, seeds, groups, owner)
