"""MAML (Finn et al. 2017) and its first-order shortcut FOMAML.

MAML:    ∇θ L_query(φ_K(θ))             through the inner loop, Hessian term included
FOMAML:  ∇φ L_query(φ_K)  at φ = φ_K     the inner loop treated as a constant
"""

from __future__ import annotations

from .. import inner
from .base import Algorithm, first_order_how, second_order_how


class MAML(Algorithm):
    name = "maml"
    parts = {"second-order meta-gradient": "on"}

    def task(self, params, xs, ys, xq, yq, *, inner_lr, inner_steps, forward, how, state):
        fast = inner.adapt(
            params, xs, ys, inner_lr=inner_lr, inner_steps=inner_steps, forward=forward, how=second_order_how(how)
        )
        loss, acc = inner.query_loss_acc(fast, xq, yq, forward, xs)
        return loss, loss, acc


class FOMAML(Algorithm):
    name = "fomaml"
    first_order = True
    parts = {"second-order meta-gradient": "off (first order)"}

    def task(self, params, xs, ys, xq, yq, *, inner_lr, inner_steps, forward, how, state):
        fast = inner.adapt(
            params, xs, ys, inner_lr=inner_lr, inner_steps=inner_steps, forward=forward, how=first_order_how(how)
        )
        fast = {k: v.detach() for k, v in fast.items()}
        if how.startswith("func"):
            from torch.func import grad

            g, (loss, acc) = grad(
                lambda f: (lambda la: (la[0], la))(inner.query_loss_acc(f, xq, yq, forward, xs)), has_aux=True
            )(fast)
        else:
            import torch

            fast = {k: v.requires_grad_() for k, v in fast.items()}
            loss, acc = inner.query_loss_acc(fast, xq, yq, forward, xs)
            g = dict(zip(fast, torch.autograd.grad(loss, list(fast.values()))))
        return g, loss.detach(), acc.detach()
