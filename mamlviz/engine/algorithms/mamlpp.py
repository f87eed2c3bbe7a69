"""MAML++ (Antoniou, Edwards and Storkey 2019, "How to train your MAML"): MAML with its instabilities fixed.

The parts, each on unless said (as in the authors' released Omniglot configurations):

- multi-step loss (MSL): the query loss after every inner step, weighted; the weights start equal and are
  annealed towards the last step over the first ``MSL_FRACTION`` of training, then only the last counts;
- per-layer per-step learned inner step sizes (LSLR): ``lr.<name>`` of shape [K], starting at α;
- per-step batch-norm weights and biases (BNWB): ``step.bn<b>.weight`` / ``.bias`` of shape [K, 64]; the
  support loss of step k and the query loss after it see the weights of step k; they are meta-learned, not
  adapted in the inner loop (the authors' default);
- cosine-annealed outer learning rate, from the configured rate to ``MIN_LR_FACTOR`` of it;
- derivative-order annealing (first order for the first part of training): available
  (``MAMLPlusPlus(first_order_until=...)``), off by default as in the authors' configs.

Per-step batch-norm running statistics (BNRS) do not apply: every network here normalises with the
statistics of the batch it sees (transductive), running averages are never kept. At test, steps beyond the
K trained keep using the last step's sizes and batch-norm weights.
"""

from __future__ import annotations

import math

import torch

from .. import inner, model
from ..inner import Params
from .base import NETWORK, Algorithm, first_order_how, second_order_how

MSL_FRACTION = 0.1  # of training with the multi-step loss (the authors': 15 of 150 epochs)
MSL_MIN = 0.03  # the smallest weight of a non-final step, times K (the authors' 0.03 / K)
MIN_LR_FACTOR = 0.01  # cosine annealing ends at this fraction of the outer learning rate (1e-5 of 1e-3)
BN = tuple(k for k in NETWORK if k.startswith("bn"))
ADAPTED = tuple(k for k in NETWORK if k not in BN)  # conv and head: the batch-norm weights are per step
STEP, LR = "step.", "lr."


def msl_weights(progress: float, steps: int) -> list[float]:
    """The multi-step loss's weights per inner step at ``progress`` (0..1) through its phase: the authors'
    ``get_per_step_loss_importance_vector`` with the epoch as a fraction of the phase."""
    k = steps
    w = [max(1.0 / k - progress / k, MSL_MIN / k) for _ in range(k - 1)]
    w.append(min(1.0 / k + progress * (k - 1) / k, 1.0 - (k - 1) * MSL_MIN / k))
    return w


class MAMLPlusPlus(Algorithm):
    name = "mamlpp"

    def __init__(self, first_order_until: float = 0.0):
        self.first_order_until = first_order_until

    @property
    def parts(self):
        return {
            "multi-step loss": f"on for the first {MSL_FRACTION:.0%} of training, weights annealed to the last step",
            "per-layer per-step step sizes": "learned (lr.<name>, shape [K]), starting at the inner lr",
            "per-step batch-norm weights and biases": "learned (step.bn<b>.*, shape [K, 64]), not adapted inside",
            "outer learning rate": f"cosine-annealed to {MIN_LR_FACTOR:g} of it",
            "derivative-order annealing": (
                f"first order for the first {self.first_order_until:.0%} of training"
                if self.first_order_until
                else "off"
            ),
            "per-step batch-norm statistics": "not applicable (batch statistics, no running averages)",
        }

    def learned(self, net: Params, inner_lr: float, inner_steps: int) -> Params:
        k = max(1, inner_steps)
        out = {LR + n: torch.full((k,), inner_lr, dtype=net[n].dtype, device=net[n].device) for n in ADAPTED}
        out.update({STEP + n: net[n].expand(k, *net[n].shape).clone() for n in BN if n in net})
        return out

    def learned_names(self) -> tuple[str, ...]:
        return tuple(LR + n for n in ADAPTED) + tuple(STEP + n for n in BN)

    def complete(self, params: Params, inner_lr: float, inner_steps: int) -> Params:
        """A plain network's batch-norm weights become per-step copies; missing step sizes start at α."""
        if all(n in params for n in self.learned_names()) and not any(n in params for n in BN):
            return params
        out = {k: v for k, v in params.items() if k not in BN}
        for k, v in self.learned(params, inner_lr, inner_steps).items():
            out.setdefault(k, v)
        return out

    @staticmethod
    def trained_steps(params: Params) -> int:
        return params[STEP + BN[0]].shape[0]

    def view(self, params: Params, step: int) -> Params:
        """The plain network step ``step`` (0-based) sees: its batch-norm weights, the adapted conv and head."""
        s = min(step, self.trained_steps(params) - 1)
        return {**{n: params[n] for n in ADAPTED}, **{n: params[STEP + n][s] for n in BN}}

    def network(self, params: Params) -> Params:
        """The plain network after the last trained step (its batch-norm weights)."""
        return self.view(params, self.trained_steps(params) - 1)

    def step_size(self, params: Params):
        last = params[LR + ADAPTED[0]].shape[0] - 1
        return lambda n, step: params[LR + n][min(step, last)]

    def state(self, device, inner_steps: int) -> dict:
        k = max(1, inner_steps)
        w = msl_weights(0.0, k)
        return {"msl": torch.tensor(w, device=device), "msl_host": w, "first_order": self.first_order_until > 0}

    def schedule(self, state: dict, progress: float) -> float:
        k = state["msl"].shape[0]
        w = msl_weights(progress / MSL_FRACTION, k) if progress < MSL_FRACTION else [0.0] * (k - 1) + [1.0]
        if w != state["msl_host"]:
            state["msl"].copy_(torch.tensor(w))
            state["msl_host"] = w
        state["first_order"] = progress < self.first_order_until
        return MIN_LR_FACTOR + (1 - MIN_LR_FACTOR) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    def _steps(self, params, x, y, *, inner_steps, forward, how, trace):
        """The inner loop: the conv and head weights, each layer's size at each step, each step's batch norm."""
        kw = dict(keys=ADAPTED, view=self.view, trace=trace)
        return inner.adapt(
            params, x, y, inner_lr=self.step_size(params), inner_steps=inner_steps, forward=forward, how=how, **kw
        )

    def adapt(self, params, x, y, *, inner_lr, inner_steps, forward=model.forward, how="const", trace=None):
        see = None if trace is None else (lambda k, p: trace(k, self.view(p, max(k - 1, 0))))
        fast = self._steps(params, x, y, inner_steps=inner_steps, forward=forward, how=how, trace=see)
        return self.view(fast, max(inner_steps - 1, 0))

    def task(self, params, xs, ys, xq, yq, *, inner_lr, inner_steps, forward, how, state):
        state = state or self.state(xs.device, inner_steps)
        weights, host = state["msl"].to(xs.dtype), state["msl_host"]
        queries = []
        every = state.get("every_step", False)  # a captured CUDA graph must hold every step's loss, weighted

        def query(k, p):  # after step k (1-based): the query loss with step k's batch-norm weights
            if k >= 1 and (every or host[k - 1] > 0 or k == inner_steps):
                queries.append((k - 1, *inner.query_loss_acc(self.view(p, k - 1), xq, yq, forward, xs)))

        mode = first_order_how(how) if state.get("first_order") else second_order_how(how)
        self._steps(params, xs, ys, inner_steps=inner_steps, forward=forward, how=mode, trace=query)
        objective = sum(weights[k] * loss for k, loss, _ in queries)
        _, loss, acc = queries[-1]
        return objective, loss, acc
