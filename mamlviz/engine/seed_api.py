"""The seed project's entry point, kept for people who come from it: thin, on the engine."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch.func import functional_call

from . import inner, meta
from . import model as model_mod


class Learner:
    """Adapts the meta-trained model to a new task: ``learner.adapt(x, y)(x_new) -> logits``."""

    def __init__(self, module: torch.nn.Module, inner_lr: float, inner_steps: int, forward):
        self.module, self.inner_lr, self.inner_steps, self._forward = module, inner_lr, inner_steps, forward

    def params(self) -> dict[str, torch.Tensor]:
        return {k: v.detach() for k, v in self.module.named_parameters()}

    def adapt(self, x: torch.Tensor, y: torch.Tensor, steps: int | None = None):
        with torch.enable_grad():
            fast = inner.adapt(
                self.params(),
                x,
                y,
                inner_lr=self.inner_lr,
                inner_steps=steps or self.inner_steps,
                forward=self._forward,
                how="const",
            )
        fast = {k: v.detach() for k, v in fast.items()}
        return lambda x_new: self._forward(fast, x_new)


def _as_tasks(batch):
    """(xs, ys, xq, yq) with the tasks on dim 0; a single task (4-D images) gets a task dim."""
    if hasattr(batch, "xs"):
        batch = (batch.xs, batch.ys, batch.xq, batch.yq)
    xs, ys, xq, yq = batch
    if xs.dim() == 4:
        xs, ys, xq, yq = xs[None], ys[None], xq[None], yq[None]
    return xs, ys, xq, yq


def train_maml(
    model: torch.nn.Module,
    task_dataloader: Iterable,
    inner_lr: float,
    outer_lr: float,
    inner_steps: int,
    first_order: bool,
):
    """Meta-train ``model`` in place (Adam outer loop); returns (model, learner, per-batch losses).

    Each item of ``task_dataloader`` is (x_support, y_support, x_query, y_query), one task or a
    stack of tasks on dim 0, or a ``TaskBatch``. ``mamlviz.model.OmniglotCNN`` takes the
    vectorized path; any other module runs the exact per-task loop through ``functional_call``.
    """
    if isinstance(model, model_mod.OmniglotCNN):
        forward, path = model_mod.forward, "vmap"
    else:

        def forward(params, x):
            return functional_call(model, params, (x,))

        path = "loop"
    opt = torch.optim.Adam(model.parameters(), lr=outer_lr)
    losses = []
    for batch in task_dataloader:
        xs, ys, xq, yq = _as_tasks(batch)
        params = dict(model.named_parameters())
        grads, loss, _ = meta.meta_gradient(
            params,
            xs,
            ys,
            xq,
            yq,
            inner_lr=inner_lr,
            inner_steps=inner_steps,
            first_order=first_order,
            path=path,
            forward=forward,
        )
        opt.zero_grad(set_to_none=True)
        for name, p in params.items():
            p.grad = grads[name]
        opt.step()
        losses.append(float(loss))
    return model, Learner(model, inner_lr, inner_steps, forward), losses
