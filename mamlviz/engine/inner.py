"""The inner loop, written once: plain gradient steps on one task's support loss.

Training (both paths), the exact memory probe, evaluation, the adaptation explorer and the seed's
``train_maml`` all adapt through ``adapt``. ``how`` says how the gradient of each step is taken:

    "graph"  torch.autograd.grad with create_graph: differentiable through the steps (MAML, per-task loop)
    "const"  torch.autograd.grad without a graph: each step's graph is freed at once (first order, testing)
    "func"   torch.func.grad: differentiable, vmappable over tasks, capturable in a CUDA graph
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch.func import grad

from . import model

Params = dict[str, torch.Tensor]
Forward = Callable[[Params, torch.Tensor], torch.Tensor]
HOW = ("graph", "const", "func")


def support_loss(params: Params, x: torch.Tensor, y: torch.Tensor, forward: Forward = model.forward) -> torch.Tensor:
    return F.cross_entropy(forward(params, x), y)


def sgd_step(params: Params, grads: Params, lr: float) -> Params:
    """One plain gradient step: θ - α g, for every parameter."""
    return {k: params[k] - lr * grads[k] for k in params}


def adapt(
    params: Params,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    inner_lr: float,
    inner_steps: int,
    forward: Forward = model.forward,
    how: str = "graph",
    trace: Callable[[int, Params], None] | None = None,
    loss: Callable[[Params, torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
) -> Params:
    """``inner_steps`` steps at ``inner_lr`` on the support loss of one task (x, y); ``trace(k, params)``
    sees the parameters after 0, 1, ..., inner_steps steps. ``loss(params, x, y)`` stands in for the support
    loss of ``forward`` (the all-tasks path: the summed losses of stacked tasks, each with its own copy)."""
    loss = loss or (lambda p, x_, y_: support_loss(p, x_, y_, forward))
    if how not in HOW:
        raise ValueError(f"how: must be one of {', '.join(HOW)}, got {how!r}")
    if how != "func":  # plain autograd differentiates with respect to tensors that require grad
        params = {k: v if v.requires_grad else v.detach().requires_grad_() for k, v in params.items()}
    for k in range(inner_steps):
        if trace is not None:
            trace(k, params)
        if how == "func":
            g = grad(lambda p: loss(p, x, y))(params)
        else:
            value = loss(params, x, y)
            g = dict(zip(params, torch.autograd.grad(value, list(params.values()), create_graph=how == "graph")))
        params = sgd_step(params, g, inner_lr)
    if trace is not None:
        trace(inner_steps, params)
    return params
