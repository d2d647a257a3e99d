"""Families of K networks stored as stacked weights, so that K models run as one batched computation.

A family's parameters are tensors with a leading member axis K. Members may have different widths
(hidden units, or channels for the CNN): every member is padded to the widest, and the padded entries are
zero and masked. A zero unit outputs act(0) = 0 for relu, tanh and identity, and receives zero gradient,
so each member computes exactly what it would compute alone (tests check this against a lone member).

Each member is initialised from its own seed, with its own fan-ins, exactly as a lone network of its width:
weights ~ N(0, (init_scale · gain)² / fan_in) with gain √2 for relu and 1 otherwise; biases start at zero.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import torch

from widgets.core.checks import check_choice, check_float, check_int
from widgets.core.env import get_device, get_dtype

ACTIVATIONS = {"relu": torch.relu, "tanh": torch.tanh, "identity": lambda h: h}
GAINS = {"relu": math.sqrt(2.0), "tanh": 1.0, "identity": 1.0}


@dataclass
class Family:
    """K networks with stacked parameters.

    ``params``: list of [K, ...] tensors (leaf tensors with ``requires_grad``); ``masks``: matching 0/1
    tensors marking each member's real entries; ``widths``: [K] hidden width (MLP) or channels (CNN);
    ``seeds``: [K]. ``kind`` is ``"mlp"`` or ``"cnn"``.
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

    @property
    def size(self) -> int:
        return len(self.seeds)

    @property
    def device(self) -> torch.device:
        return self.params[0].device

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: [n, d] (shared by all members) or [K, n, d] (one batch per member) → outputs [K, n, out]."""
        if x.ndim not in (2, 3):
            raise ValueError(f"x must have shape [n, d] or [K, n, d], got {tuple(x.shape)}")
        return _mlp_forward(self, x) if self.kind == "mlp" else _cnn_forward(self, x)

    __call__ = forward

    def n_params(self) -> list[int]:
        """Number of real (unpadded) parameters of each member."""
        return [int(sum(m[k].sum() for m in self.masks)) for k in range(self.size)]

    def member(self, k: int) -> Family:
        """Member k alone, as a family of one (a copy; trimmed to its own width)."""
        k = check_int("k", k, 0, self.size - 1)
        params = [p[k:k + 1].detach().clone() for p in self.params]
        masks = [m[k:k + 1].clone() for m in self.masks]
        params, masks = _trim(params, masks)
        for p in params:
            p.requires_grad_(True)
        return Family(self.kind, self.act, params, masks, [self.widths[k]], [self.seeds[k]], self.bias,
                      self.q, self.readout, dict(self.info))

    def to_state(self) -> dict:
        """Plain data (CPU tensors and numbers) for the cache; the inverse is :func:`family_from_state`."""
        return {"kind": self.kind, "act": self.act, "widths": list(self.widths), "seeds": list(self.seeds),
                "bias": self.bias, "q": self.q, "readout": self.readout, "info": dict(self.info),
                "params": [p.detach().cpu() for p in self.params], "masks": [m.cpu() for m in self.masks]}


def tangent_kernel(family: Family, x: torch.Tensor, scale=1.0, chunk: int = 64) -> torch.Tensor:
    """Each member's empirical neural tangent kernel of its scalar output α_k·f_k:
    Θ_k(x_i, x_j) = α_k² ∇_θ f_k(x_i) · ∇_θ f_k(x_j), on inputs x [n, d]. ``scale``: α, a number or one
    per member. Returns [K, n, n] in float64.

    Members are independent, so the gradient of Σ_k f_k(x_i) with respect to the stacked parameters holds
    every member's own gradient: one reverse pass per sample, vectorized with ``torch.func`` in chunks of
    ``chunk`` samples, gives all members' tangent features at once.
    """
    if x.ndim != 2:
        raise ValueError(f"x must have shape [n, d], got {tuple(x.shape)}")
    x = x.to(family.device, family.params[0].dtype)
    if family(x[:1]).shape[-1] != 1:
        raise ValueError("tangent_kernel needs a single-output family")
    alpha = torch.as_tensor(scale, dtype=torch.float64).flatten()
    if len(alpha) not in (1, family.size):
        raise ValueError(f"scale must be one number or one per member ({family.size}), got {len(alpha)}")
    params = [p.detach() for p in family.params]

    def summed(ps, xi):  # Σ_k f_k(xi): [d] → scalar
        return replace(family, params=ps)(xi[None])[:, 0, 0].sum()

    grads = torch.func.vmap(torch.func.grad(summed), in_dims=(None, 0), chunk_size=chunk)(params, x)
    # grads: one [n, K, ...] per stacked parameter; padding entries of narrower members are masked out
    J = torch.cat([(g * m).flatten(2) for g, m in zip(grads, family.masks, strict=True)], dim=2)
    J = J.transpose(0, 1).double()  # [K, n, P]
    return (J @ J.transpose(1, 2)) * alpha.to(J.device).view(-1, 1, 1) ** 2


def to_module(family: Family, k: int) -> torch.nn.Sequential:
    """Member k of an MLP family (with biases) as a plain ``torch.nn.Sequential`` holding a copy of its
    weights, e.g. to check it against ``torch.optim`` or to use torch's own tooling on it."""
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


def family_from_state(state: dict, device=None) -> Family:
    dev = get_device(device)
    params = [p.to(dev).requires_grad_(True) for p in state["params"]]
    return Family(state["kind"], state["act"], params, [m.to(dev) for m in state["masks"]],
                  list(state["widths"]), list(state["seeds"]), state["bias"], state["q"], state["readout"],
                  dict(state["info"]))


def _per_member(name: str, value, k: int) -> list:
    if isinstance(value, int | float):
        return [value] * k
    value = list(value)
    if len(value) != k:
        raise ValueError(f"{name} must be a number or a list of {k} (one per member), got {len(value)}")
    return value


def _members(seeds, widths) -> tuple[list[int], list[int]]:
    if isinstance(seeds, int):
        seeds = [seeds]
    seeds = [check_int("seeds[i]", s, 0) for s in seeds]
    if not seeds:
        raise ValueError("seeds must name at least one member")
    widths = [check_int("widths[i]", w, 1, 10**6) for w in _per_member("widths", widths, len(seeds))]
    return seeds, widths


def mlp(d_in: int, d_out: int, widths: int | Sequence[int], seeds: int | Sequence[int] = 0, depth: int = 2,
        act: str = "relu", init_scale: float | Sequence[float] = 1.0, bias: bool = True, bias_std: float = 0.0,
        device=None, dtype: torch.dtype | None = None) -> Family:
    """A family of MLPs d_in → width → … → width → d_out with ``depth`` weight layers (depth − 1 hidden).

    ``seeds`` sets K (one member per seed); ``widths`` and ``init_scale`` are one number or one per member.
    Biases start at 0, or N(0, bias_std²/fan_in), drawn after all weights so the weights don't depend on it.
    (With one input, zero biases put every first-layer ReLU kink at x = 0.)
    """
    d_in, d_out = check_int("d_in", d_in, 1), check_int("d_out", d_out, 1)
    depth = check_int("depth", depth, 1, 64)
    check_choice("act", act, ACTIVATIONS)
    seeds, widths = _members(seeds, widths)
    scales = [check_float("init_scale", s, 0, 1e6) for s in _per_member("init_scale", init_scale, len(seeds))]
    bias_std = check_float("bias_std", bias_std, 0, 1e6)
    if bias_std and not bias:
        raise ValueError("bias_std > 0 needs bias=True")
    wmax = max(widths)
    dims_max = [d_in] + [wmax] * (depth - 1) + [d_out]
    shapes = [(dims_max[i], dims_max[i + 1]) for i in range(depth)]
    layers = []
    for s, w, c in zip(seeds, widths, scales, strict=True):
        dims = [d_in] + [w] * (depth - 1) + [d_out]
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
    return _finish("mlp", act, params, masks, widths, seeds, bias, 0, "flatten", device, dtype,
                   {"d_in": d_in, "d_out": d_out, "depth": depth})


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
    seeds, widths = _members(seeds, widths=channels)
    scales = [check_float("init_scale", s, 0, 1e6) for s in _per_member("init_scale", init_scale, len(seeds))]
    K, cmax = len(seeds), max(widths)
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
    return _finish("cnn", act, params, masks, widths, seeds, bias, q, readout, device, dtype,
                   {"d": d, "d_out": d_out, "depth": depth})


def _finish(kind, act, params, masks, widths, seeds, bias, q, readout, device, dtype, info) -> Family:
    dev = get_device(device)
    dt = get_dtype(dev, dtype)
    params = [p.to(device=dev, dtype=dt).requires_grad_(True) for p in params]
    masks = [m.to(device=dev, dtype=dt) for m in masks]
    return Family(kind, act, params, masks, widths, seeds, bias, q, readout, info)


def _mlp_forward(f: Family, x: torch.Tensor) -> torch.Tensor:
    act = ACTIVATIONS[f.act]
    step = 2 if f.bias else 1
    layers = [f.params[i:i + step] for i in range(0, len(f.params), step)]
    h = x.to(f.params[0].dtype)
    for i, layer in enumerate(layers):
        if h.ndim == 2:  # shared inputs [n, d]: one pass for all members
            h = h.expand(f.size, *h.shape)
        # bias folded into the batched GEMM: one pass over the activations instead of two
        h = torch.baddbmm(layer[1], h, layer[0]) if f.bias else torch.bmm(h, layer[0])
        if i < len(layers) - 1:
            h = act(h)
    return h


def _circular_conv(h: torch.Tensor, W: torch.Tensor) -> torch.Tensor:
    """h: [K, n, C_in, d], W: [K, C_out, C_in, q] → [K, n, C_out, d], circular 'same' padding."""
    q = W.shape[-1]
    left, right = (q - 1) // 2, q // 2
    parts = ([h[..., h.shape[-1] - left:]] if left else []) + [h] + ([h[..., :right]] if right else [])
    patches = torch.cat(parts, -1).unfold(-1, q, 1)  # [K, n, C_in, d, q]
    return torch.einsum("kncpj,kocj->knop", patches, W)


def _cnn_forward(f: Family, x: torch.Tensor) -> torch.Tensor:
    act = ACTIVATIONS[f.act]
    depth = f.info["depth"]
    step = 2 if f.bias else 1
    K = f.size
    h = x.to(f.params[0].dtype)
    h = h.unsqueeze(-2)  # [.., n, 1, d]
    if h.ndim == 3:
        h = h.unsqueeze(0).expand(K, *h.shape)
    for i in range(depth):
        h = _circular_conv(h, f.params[step * i])
        if f.bias:
            h = h + f.params[step * i + 1].unsqueeze(1)
        h = act(h)
    h = h.flatten(-2) if f.readout == "flatten" else h.mean(-1)
    out = torch.matmul(h, f.params[step * depth])
    if f.bias:
        out = out + f.params[step * depth + 1]
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
