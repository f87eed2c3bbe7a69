"""ANIL, "almost no inner loop" (Raghu, Raghu, Bengio and Vinyals 2020, "Rapid Learning or Feature Reuse?").

The inner loop adapts only the head; the meta-gradient is MAML's, second order, for every parameter, through
that head-only loop. The body's features do not change during the inner loop, so they are computed once per
task and the head adapts on them: the saving ANIL is about.
"""

from __future__ import annotations

from .. import inner, model
from .base import Algorithm, second_order_how

_BODIES = {model.forward: {}, model.forward_fused: model.FUSED}


def _body_kw(forward):
    """How the model's forward (either mode) runs its body (``model.body``'s keywords), or None for another
    network."""
    return _BODIES.get(forward.forward if isinstance(forward, model.SupportStats) else forward)


def _head(params, h):
    return model.head(params, h)


class ANIL(Algorithm):
    name = "anil"
    parts = {"inner loop": "the head only", "meta-gradient": "second order, every parameter"}

    def _adapt(self, params, x, y, *, inner_lr, inner_steps, forward, how, trace=None):
        """The adapted head (on the body's features when the network is the model's) and the features."""
        body = _body_kw(forward)
        if body is None:  # another network: the head adapts through its whole forward (the same function)
            fast = inner.adapt(
                params,
                x,
                y,
                inner_lr=inner_lr,
                inner_steps=inner_steps,
                forward=forward,
                how=how,
                keys=model.HEAD,
                trace=trace,
            )
            return fast, None
        features = model.body(params, x, **body)
        see = None if trace is None else (lambda k, head: trace(k, {**params, **head}))
        head = {k: params[k] for k in model.HEAD}
        head = inner.adapt(
            head, features, y, inner_lr=inner_lr, inner_steps=inner_steps, forward=_head, how=how, trace=see
        )
        return {**params, **head}, body

    def adapt(self, params, x, y, *, inner_lr, inner_steps, forward=model.forward, how="const", trace=None):
        return self._adapt(
            self.network(params),
            x,
            y,
            inner_lr=inner_lr,
            inner_steps=inner_steps,
            forward=forward,
            how=how,
            trace=trace,
        )[0]

    def task(self, params, xs, ys, xq, yq, *, inner_lr, inner_steps, forward, how, state):
        fast, body = self._adapt(
            params, xs, ys, inner_lr=inner_lr, inner_steps=inner_steps, forward=forward, how=second_order_how(how)
        )
        if body is None:
            loss, acc = inner.query_loss_acc(fast, xq, yq, forward, xs)
        else:  # the queries' features, normalised with the support set's statistics in that mode
            stats = model.query_stats(forward, xs)
            loss, acc = inner.query_loss_acc(fast, model.body(params, xq, **body, stats=stats), yq, _head)
        return loss, loss, acc
