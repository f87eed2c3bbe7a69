"""What every algorithm of the comparison answers, and the defaults most of them share.

An algorithm is a few small functions of plain tensors (learn2learn's ``algorithms/`` in spirit, each in a
file of its own):

    learned(net, inner_lr, inner_steps)   the entries it meta-learns besides the network (step sizes, ...)
    network(params)                       the plain network inside its parameters (``model.forward`` runs it)
    adapt(params, x, y, ...)              its inner loop on one task's support set, as used at test:
                                          returns the adapted plain network
    task(params, xs, ys, xq, yq, ...)     one training task: (what to differentiate, query loss, accuracy);
                                          a first-order algorithm returns its gradients themselves instead
    schedule(state, progress)             what changes during training (MAML++'s loss weights, outer lr)

``engine.meta.meta_gradient`` runs ``task`` over the meta-batch, one task at a time with plain autograd or
all at once with ``vmap``; the tests check every one against a plain float64 reference of its definition.
"""

from __future__ import annotations

import torch

from .. import inner, model
from ..inner import Forward, Params

NETWORK = tuple(model.init_params(1))  # the plain network's entry names (shapes depend on n_way)
LEARNED = ("lr.", "step.")  # prefixes of what an algorithm meta-learns besides the network


def second_order_how(how: str) -> str:
    """The inner loop's differentiable mode for a path: plain autograd with a graph, or torch.func."""
    return "func" if how.startswith("func") else "graph"


def first_order_how(how: str) -> str:
    """The inner loop's first-order mode for a path: no graph kept between steps."""
    return "func-const" if how.startswith("func") else "const"


class Algorithm:
    name = ""
    first_order = False  # task() returns gradients (no outer differentiation) rather than an objective
    parts: dict[str, str] = {}  # what is on, in words, for the record

    def learned(self, net: Params, inner_lr: float, inner_steps: int) -> Params:
        """The entries meta-learned besides the network, at their initial values."""
        return {}

    def learned_names(self) -> tuple[str, ...]:
        """The names of the entries ``learned`` adds."""
        return ()

    def complete(self, params: Params, inner_lr: float, inner_steps: int) -> Params:
        """``params`` with the learned entries it lacks added at their initial values (a plain network becomes
        this algorithm's starting point); ``params`` themselves when nothing is missing (every meta-step)."""
        if all(n in params for n in self.learned_names()):
            return params
        missing = {
            k: v for k, v in self.learned(self.network(params), inner_lr, inner_steps).items() if k not in params
        }
        return {**params, **missing} if missing else params

    def network(self, params: Params) -> Params:
        """Every entry but the learned ones (``LEARNED`` prefixes): any network's parameters pass through."""
        return {k: v for k, v in params.items() if not k.startswith(LEARNED)}

    def state(self, device, inner_steps: int) -> dict:
        """Tensors the training schedule changes in place (a CUDA graph keeps their addresses)."""
        return {}

    def schedule(self, state: dict, progress: float) -> float:
        """Set ``state`` for ``progress`` (0 at the start of training, 1 at its end: the share of the iterations
        planned, or of the time budget, whichever is further); returns the outer learning rate's factor."""
        return 1.0

    def adapt(
        self,
        params: Params,
        x,
        y,
        *,
        inner_lr: float,
        inner_steps: int,
        forward: Forward = model.forward,
        how: str = "const",
        trace=None,
    ) -> Params:
        """Plain gradient steps on every network entry (MAML, FOMAML, Reptile at test)."""
        return inner.adapt(
            self.network(params),
            x,
            y,
            inner_lr=inner_lr,
            inner_steps=inner_steps,
            forward=forward,
            how=how,
            trace=trace,
        )

    def task(self, params, xs, ys, xq, yq, *, inner_lr, inner_steps, forward, how, state):
        raise NotImplementedError


def dot(params: Params, direction: Params) -> torch.Tensor:
    """Σ ⟨θ, d⟩ over the entries of ``direction``: its gradient with respect to θ is d."""
    return sum((params[k] * direction[k]).sum() for k in direction)
