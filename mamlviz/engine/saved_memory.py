"""What one meta-iteration keeps for backpropagation, measured exactly, on any device.

Sampled process memory (RSS) is noise at the size of a CPU demo, while the difference in what each
variant keeps for the backward pass is the point of the comparison. This counts it: every tensor
autograd saves for the backward pass goes through a saved-tensor hook, which holds it until autograd
lets go of it (FOMAML frees each inner step's graph at once; MAML keeps every inner step's graph
until the outer backward). The figure is the peak, over the meta-iteration, of the bytes of the
distinct storages held at the same moment. It depends only on shapes, so it is the same on every
run of a config. ``torch.func`` transforms refuse saved-tensor hooks, so the probe runs plain
autograd, as the per-task loop path does.
"""

from __future__ import annotations

import torch

from . import algorithms, inner, meta, model


class _Held:
    """One saved tensor, counted while autograd holds it."""

    __slots__ = ("tensor", "key", "counter")

    def __init__(self, tensor, counter):
        self.tensor, self.counter = tensor, counter
        storage = tensor.untyped_storage()
        self.key = (storage.data_ptr(), tensor.device)
        counter.hold(self.key, storage.nbytes())

    def __del__(self):
        self.counter.release(self.key)


class SavedCounter:
    def __init__(self):
        self.refs: dict = {}
        self.sizes: dict = {}
        self.current = self.peak = 0

    def hold(self, key, nbytes):
        if self.refs.get(key, 0) == 0:
            self.sizes[key] = nbytes
            self.current += nbytes
            self.peak = max(self.peak, self.current)
        self.refs[key] = self.refs.get(key, 0) + 1

    def release(self, key):
        self.refs[key] -= 1
        if self.refs[key] == 0:
            self.current -= self.sizes.pop(key)
            del self.refs[key]

    def pack(self, tensor):
        return _Held(tensor, self)

    @staticmethod
    def unpack(held):
        return held.tensor


def saved_for_backward_bytes(
    params,
    xs,
    ys,
    xq,
    yq,
    *,
    inner_lr: float,
    inner_steps: int,
    algorithm: str,
    tasks_together: bool,
    forward=model.forward,
) -> int:
    """Peak bytes ``algorithm`` holds for the backward pass during one meta-iteration over the stacked tasks.

    ``tasks_together``: all tasks' graphs are alive until one backward pass, as the vectorized
    paths (vmap, CUDA graph) hold them; otherwise one task at a time, as the per-task loop does.
    """
    counter = SavedCounter()
    kw = dict(inner_lr=inner_lr, inner_steps=inner_steps, forward=forward)
    with torch.enable_grad(), torch.autograd.graph.saved_tensors_hooks(counter.pack, counter.unpack):
        if not tasks_together:  # exactly the engine's per-task loop path
            meta.meta_gradient(params, xs, ys, xq, yq, algorithm=algorithm, path="loop", **kw)
            return counter.peak
        alg = algorithms.get(algorithm)
        params = alg.complete(params, inner_lr, inner_steps)
        leaves = {k: v.detach().requires_grad_() for k, v in params.items()}
        if alg.name == "fomaml":  # every task's query graph alive until one backward pass, as vmap holds them
            total = 0
            for t in range(xs.shape[0]):
                fast = inner.adapt(leaves, xs[t], ys[t], how="const", **kw)
                total = total + inner.query_loss_acc(fast, xq[t], yq[t], forward, xs[t])[0]
            torch.autograd.grad(total / xs.shape[0], list(leaves.values()))
            del total, fast
            return counter.peak
        if alg.first_order:  # Reptile: its gradient is the inner steps' own, nothing is kept across tasks
            for t in range(xs.shape[0]):
                alg.task(leaves, xs[t], ys[t], xq[t], yq[t], how="graph", state=None, **kw)
            return counter.peak
        total = 0
        for t in range(xs.shape[0]):  # every task's graph alive until the one backward pass
            total = total + alg.task(leaves, xs[t], ys[t], xq[t], yq[t], how="graph", state=None, **kw)[0]
        torch.autograd.grad(total / xs.shape[0], list(leaves.values()), allow_unused=True)
        del total
    return counter.peak
