"""Adam on a dict of tensors, updated in place with the step count kept on the device.

Keeping every quantity a tensor (no Python float that changes per step) is what lets the
whole meta-step, optimizer included, be captured once in a CUDA graph and replayed.
"""

from __future__ import annotations

import torch


class Adam:
    def __init__(self, params: dict[str, torch.Tensor], lr: float, betas=(0.9, 0.999), eps: float = 1e-8):
        (self.beta1, self.beta2), self.eps = betas, eps
        self.m = {k: torch.zeros_like(v) for k, v in params.items()}
        self.v = {k: torch.zeros_like(v) for k, v in params.items()}
        device = next(iter(params.values())).device
        self.step = torch.zeros((), device=device, dtype=torch.float32)
        self.lr = torch.tensor(float(lr), device=device)  # a tensor, so that a schedule changes it in a CUDA graph

    @torch.no_grad()
    def set_lr(self, lr: float) -> None:
        self.lr.fill_(lr)

    @torch.no_grad()
    def update(self, params: dict[str, torch.Tensor], grads: dict[str, torch.Tensor]) -> None:
        self.step += 1
        bias1 = 1 - torch.pow(self.beta1, self.step)
        bias2 = 1 - torch.pow(self.beta2, self.step)
        for k, p in params.items():
            g = grads[k]
            self.m[k].mul_(self.beta1).add_(g, alpha=1 - self.beta1)
            self.v[k].mul_(self.beta2).addcmul_(g, g, value=1 - self.beta2)
            denom = (self.v[k] / bias2.to(p.dtype)).sqrt_().add_(self.eps)
            p.sub_(self.lr * (self.m[k] / bias1.to(p.dtype)) / denom)

    @torch.no_grad()
    def reset(self) -> None:
        """Back to a fresh optimizer, in place (the CUDA graph keeps these tensors' addresses)."""
        for t in (self.step, *self.m.values(), *self.v.values()):
            t.zero_()


class TorchAdam:
    """``torch.optim.Adam`` (capturable on CUDA) behind the same two calls, so that the engine can use
    the library's optimizer if it is as fast inside the CUDA graph: bench/adam_in_graph.py measures it."""

    def __init__(self, params: dict[str, torch.Tensor], lr: float, betas=(0.9, 0.999), eps: float = 1e-8):
        device = next(iter(params.values())).device
        capturable = device.type == "cuda"  # a tensor lr, so that a schedule changes it inside a CUDA graph
        lr = torch.tensor(float(lr), device=device) if capturable else lr
        self.opt = torch.optim.Adam(list(params.values()), lr=lr, betas=betas, eps=eps, capturable=capturable)

    @torch.no_grad()
    def set_lr(self, lr: float) -> None:
        for group in self.opt.param_groups:
            if torch.is_tensor(group["lr"]):
                group["lr"].fill_(lr)
            else:
                group["lr"] = lr

    @torch.no_grad()
    def update(self, params: dict[str, torch.Tensor], grads: dict[str, torch.Tensor]) -> None:
        for k, p in params.items():
            p.grad = grads[k]
        self.opt.step()

    @torch.no_grad()
    def reset(self) -> None:
        for state in self.opt.state.values():
            for t in state.values():
                if torch.is_tensor(t):
                    t.zero_()


OPTIMIZERS = {"mamlviz": Adam, "torch": TorchAdam}
