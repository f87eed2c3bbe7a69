"""The inner loop, written once: plain gradient steps on one task's support loss.

Training (both paths), the exact memory probe, evaluation, the adaptation explorer and the seed's
``train_maml`` all adapt through ``adapt``. ``how`` says how the gradient of each step is taken:

    "graph"  torch.autograd.grad with create_graph: differentiable through the steps (MAML, per-task loop)
    "const"  torch.autograd.grad without a graph: each step's graph is freed at once (first order, testing)
    "func"   torch.func.grad: differentiable, vmappable over tasks, capturable in a CUDA graph
    "func-const"  torch.func.grad, each step's gradient detached: first order under vmap

The algorithms of ``engine.algorithms`` vary three things: which entries adapt (``keys``: ANIL only the
head), the step size of each entry at each step (``inner_lr`` as a function: Meta-SGD's and MAML++'s learned
ones), and the network a step's loss sees (``view``: MAML++'s per-step batch-norm weights).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch.func import grad

from . import model

Params = dict[str, torch.Tensor]
Forward = Callable[[Params, torch.Tensor], torch.Tensor]
StepSize = float | Callable[[str, int], "float | torch.Tensor"]  # a number, or (entry, step) -> its step size
HOW = ("graph", "const", "func", "func-const")


def support_loss(params: Params, x: torch.Tensor, y: torch.Tensor, forward: Forward = model.forward) -> torch.Tensor:
    return F.cross_entropy(forward(params, x), y)


def query_loss_acc(params: Params, x: torch.Tensor, y: torch.Tensor, forward: Forward = model.forward, support=None):
    """Cross-entropy and accuracy of ``forward(params, x)`` against labels ``y``; ``support``: the task's support
    images, whose statistics normalise the queries when ``forward`` is in batch-norm mode "support"."""
    stats = model.query_stats(forward, support)
    logits = forward(params, x) if stats is None else forward(params, x, stats=stats)
    loss = F.cross_entropy(logits, y)
    return loss, (logits.argmax(-1) == y).to(logits.dtype).mean()


def sgd_step(params: Params, grads: Params, lr: StepSize, step: int = 0) -> Params:
    """One gradient step θ - α g for every entry of ``grads`` (the others are carried along unchanged); ``lr``
    is a number or a function (entry, step) -> step size (a learned one is a tensor: a scalar or shaped like
    the entry)."""
    size = lr if callable(lr) else (lambda k, s: lr)
    return {k: params[k] - size(k, step) * grads[k] if k in grads else params[k] for k in params}


def adapt(
    params: Params,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    inner_lr: StepSize,
    inner_steps: int,
    forward: Forward = model.forward,
    how: str = "graph",
    trace: Callable[[int, Params], None] | None = None,
    loss: Callable[[Params, torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
    keys=None,
    view: Callable[[Params, int], Params] | None = None,
) -> Params:
    """``inner_steps`` steps at ``inner_lr`` on the support loss of one task (x, y); ``trace(k, params)``
    sees the parameters after 0, 1, ..., inner_steps steps. ``loss(params, x, y)`` stands in for the support
    loss of ``forward`` (the all-tasks path: the summed losses of stacked tasks, each with its own copy).
    ``keys``: the entries that adapt (default all); ``view(params, step)``: the network step ``step``'s loss
    sees (default the parameters themselves); ``inner_lr`` may be a function (entry, step) -> step size."""
    loss = loss or (lambda p, x_, y_: support_loss(p, x_, y_, forward))
    if how not in HOW:
        raise ValueError(f"how: must be one of {', '.join(HOW)}, got {how!r}")
    keys = list(params) if keys is None else list(keys)
    seen = view or (lambda p, step: p)
    func = how.startswith("func")
    if not func:  # plain autograd differentiates with respect to tensors that require grad
        params = {k: v.detach().requires_grad_() if k in keys and not v.requires_grad else v for k, v in params.items()}
    for k in range(inner_steps):
        if trace is not None:
            trace(k, params)
        if func:
            g = grad(lambda a, p=params, step=k: loss(seen({**p, **a}, step), x, y))({n: params[n] for n in keys})
            if how == "func-const":
                g = {n: v.detach() for n, v in g.items()}
        else:
            value = loss(seen(params, k), x, y)
            g = dict(zip(keys, torch.autograd.grad(value, [params[n] for n in keys], create_graph=how == "graph")))
        params = sgd_step(params, g, inner_lr, k)
    if trace is not None:
        trace(inner_steps, params)
    return params
