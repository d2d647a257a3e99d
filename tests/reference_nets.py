"""Small families and an independent re-implementation of their loss, shared by the tests of the probes and
of the trainer's hooks (not a test module: pytest collects only test_*.py)."""

import math

import torch

from widgets.core import models


def tiny_family(K=2, width=5, d_in=3, d_out=2, depth=3, act="tanh"):
    return models.mlp(d_in, d_out, widths=width, seeds=list(range(K)), depth=depth, act=act, dtype=torch.float64)


def flat_loss(family, k, x, y, loss):
    """Member k's loss as a function of one flat parameter vector (an independent re-implementation)."""
    shapes = [p[k].shape for p in family.params]
    sizes = [math.prod(s) for s in shapes]

    def f(theta):
        parts = torch.split(theta, sizes)
        h = x
        Ws, bs = parts[0::2], parts[1::2]
        for i, (W, b) in enumerate(zip(Ws, bs, strict=True)):
            h = h @ W.view(shapes[2 * i]) + b.view(shapes[2 * i + 1])
            if i < len(Ws) - 1:
                h = torch.tanh(h)
        if loss == "mse":
            return ((h - y) ** 2).mean()
        return torch.nn.functional.cross_entropy(h, y)

    theta = torch.cat([p[k].detach().flatten() for p in family.params])
    return f, theta
