"""Meta-SGD (Li, Zhou, Chen and Li 2017): the inner step sizes are learned too, one per parameter entry.

``lr.<name>`` is shaped like ``<name>`` and starts at α; the inner loop steps φ ← φ - lr ⊙ ∇L_support(φ),
and the meta-gradient is second order, for the network and the step sizes alike.
"""

from __future__ import annotations

import torch

from .. import inner
from ..inner import Params
from .base import NETWORK, Algorithm, second_order_how

PREFIX = "lr."


class MetaSGD(Algorithm):
    name = "metasgd"
    parts = {"step sizes": "learned, one per parameter (lr.<name>, shaped like it)", "meta-gradient": "second order"}

    def learned_names(self) -> tuple[str, ...]:
        return tuple(PREFIX + k for k in NETWORK)

    def learned(self, net: Params, inner_lr: float, inner_steps: int) -> Params:
        return {PREFIX + k: torch.full_like(net[k], inner_lr) for k in NETWORK}

    @staticmethod
    def step_size(params):
        return lambda k, step: params[PREFIX + k]

    def _steps(self, params, x, y, *, inner_steps, forward, how, trace=None):
        """The inner loop: every weight, each with its own learned step size."""
        size = self.step_size(params)
        return inner.adapt(
            params, x, y, inner_lr=size, inner_steps=inner_steps, forward=forward, how=how, keys=NETWORK, trace=trace
        )

    def adapt(self, params, x, y, *, inner_lr, inner_steps, forward=inner.model.forward, how="const", trace=None):
        return self.network(self._steps(params, x, y, inner_steps=inner_steps, forward=forward, how=how, trace=trace))

    def task(self, params, xs, ys, xq, yq, *, inner_lr, inner_steps, forward, how, state):
        fast = self._steps(params, xs, ys, inner_steps=inner_steps, forward=forward, how=second_order_how(how))
        loss, acc = inner.query_loss_acc(fast, xq, yq, forward, xs)
        return loss, loss, acc
