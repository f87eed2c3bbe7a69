"""Reptile (Nichol, Achiam and Schulman 2018, "On First-Order Meta-Learning Algorithms").

K plain SGD steps at α on the task's support and query examples together (Reptile has no split), then the
meta-gradient (θ - φ_K) / α: the sum of the inner gradients (the paper's §5), fed to the same outer Adam as
every other algorithm. No second-order term and no query loss at the adapted parameters. At test it adapts
like MAML (support only). Its training curve reports the query loss and accuracy at φ_K, which has seen the
query examples: a training figure, not comparable with the others' (the test accuracy is).
"""

from __future__ import annotations

import torch

from .. import inner
from .base import Algorithm, first_order_how


class Reptile(Algorithm):
    name = "reptile"
    first_order = True
    parts = {"inner loop": "support and query examples together", "meta-gradient": "(θ - φ_K) / α"}

    def task(self, params, xs, ys, xq, yq, *, inner_lr, inner_steps, forward, how, state):
        x, y = torch.cat([xs, xq]), torch.cat([ys, yq])
        fast = inner.adapt(
            params, x, y, inner_lr=inner_lr, inner_steps=inner_steps, forward=forward, how=first_order_how(how)
        )
        g = {k: (params[k] - fast[k]).detach() / inner_lr for k in params}
        with torch.no_grad():
            loss, acc = inner.query_loss_acc({k: v.detach() for k, v in fast.items()}, xq, yq, forward, xs)
        return g, loss, acc
