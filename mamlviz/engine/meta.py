"""Meta-gradients of the variant table's algorithms: a readable per-task loop and a vmapped fast path.

Both compute the same thing, the mean over the meta-batch of

    second order (MAML):   d/dθ  L_query(θ - α ∇L_support(θ) - ...)      (through the inner loop)
    first order (FOMAML):  ∇L_query evaluated at the adapted parameters θ' (inner loop treated as constant)

Tasks are stacked on dim 0: xs [T, N·K, 1, S, S], ys [T, N·K], xq [T, N·Q, ...], yq [T, N·Q].
The inner loop is ``engine.inner.adapt``.
"""

from __future__ import annotations

import contextlib
import threading

import torch
import torch.nn.functional as F
from torch.func import grad, vmap

from .. import variants
from . import algorithms, inner, model
from .inner import Forward, Params, query_loss_acc

PATHS = ("auto", "loop", "vmap", "tasks", "threads")
LOOP_PATHS = ("loop", "tasks", "threads")  # plain autograd, outside vmap (native batch norm); they also evaluate


def fastest_path(device: torch.device) -> str:
    """The faster exact path for tensors on ``device`` when nothing was measured: the per-task loop on
    CPU (2.3x faster than vmap, measured on 2 cores with 8 tasks), vmap on a GPU. ``engine.step.select_path``
    measures instead, per config."""
    return "vmap" if device.type == "cuda" else "loop"


def first_order_of(algorithm: str | None, first_order: bool | None) -> bool:
    """Whether ``algorithm`` (a variant table name) drops the second-order term; ``first_order`` alone
    (the older keyword) means FOMAML (True) or MAML (False)."""
    if algorithm is not None:
        v = variants.get(algorithm)
        if first_order is not None and first_order != v.first_order:
            raise ValueError(f"first_order: {algorithm} is {'first' if v.first_order else 'second'} order")
        return v.first_order
    if first_order is None:
        raise ValueError(f"algorithm: give one of {', '.join(variants.VARIANTS)}")
    return bool(first_order)


def _tasks_loss_acc(params, x, y):
    """Per-task query loss and accuracy [T] of the stacked tasks, each with its own parameters."""
    logits = model.forward_tasks(params, x)
    t, b, n = logits.shape
    loss = F.cross_entropy(logits.reshape(t * b, n), y.reshape(t * b), reduction="none").reshape(t, b).mean(1)
    return loss, (logits.argmax(-1) == y).to(logits.dtype).mean(1)


def _tasks_support_loss(params, x, y):
    """The stacked tasks' support losses, summed: its gradient for each task's copy is that task's own."""
    return _tasks_loss_acc(params, x, y)[0].sum()


def _tasks_meta_gradient(params, xs, ys, xq, yq, *, inner_lr, inner_steps, first_order):
    """All tasks at once with plain autograd: every task's copy of the parameters stacked on dim 0 and run as
    groups of channels (``model.forward_tasks``). The tasks do not interact, so the gradient of the summed
    support losses with respect to a task's copy is that task's own gradient: the inner loop is taken for
    all tasks together, then the mean query loss is differentiated back to the shared parameters."""
    t = xs.shape[0]
    leaves = {k: v.detach().requires_grad_() for k, v in params.items()}
    with torch.enable_grad():
        fast = {k: v.expand(t, *v.shape) for k, v in leaves.items()}
        how = "const" if first_order else "graph"
        fast = inner.adapt(fast, xs, ys, inner_lr=inner_lr, inner_steps=inner_steps, how=how, loss=_tasks_support_loss)
        loss, acc = _tasks_loss_acc(fast, xq, yq)
        grads = torch.autograd.grad(loss.mean(), list(leaves.values()))
    return dict(zip(leaves, grads)), loss.mean().detach(), acc.mean().detach()


def splits(device: torch.device) -> bool:
    """Whether per-task work on ``device`` is split among worker threads (``in_threads``): on CPU, where there are
    two or more intra-op threads to share out."""
    return device.type == "cpu" and torch.get_num_threads() > 1


def parts(n: int, workers: int) -> list[slice]:
    """``n`` tasks as ``workers`` contiguous runs of near-equal length (the first ones one longer)."""
    k = max(1, min(workers, n))
    sizes = [n // k + (i < n % k) for i in range(k)]
    starts = [sum(sizes[:i]) for i in range(k)]
    return [slice(a, a + m) for a, m in zip(starts, sizes)]


def in_threads(fn, n: int, hooks=None) -> list:
    """``fn(part)`` for the tasks' ``parts``, one part per worker thread, each worker with its share of this
    thread's intra-op threads (one each on 2 cores), results in order: the per-task loop with the tasks, not
    each small operation, spread over the cores. ``hooks``: saved-tensor hooks (pack, unpack) to run each part
    under (they are per thread), for an exact count of what is held across the workers.

    Fresh threads for each call (about 0.1 ms each), not a pool: a pool refuses work once the interpreter
    begins to exit, and a run stopped by the server's shutdown still finishes its iteration and saves."""
    total = torch.get_num_threads()
    chunks = parts(n, total)
    per = max(1, total // len(chunks))
    results, errors = [None] * len(chunks), []

    def run(i):
        try:
            torch.set_num_threads(per)  # this worker's own: the caller's setting is left as it is
            with torch.autograd.graph.saved_tensors_hooks(*hooks) if hooks else contextlib.nullcontext():
                results[i] = fn(chunks[i])
        except BaseException as e:  # noqa: BLE001  (raised again in the caller)
            errors.append(e)

    workers = [threading.Thread(target=run, args=(i,), name="mamlviz-tasks", daemon=True) for i in range(len(chunks))]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    if errors:
        raise errors[0]
    return results


def _threads_meta_gradient(alg, params, xs, ys, xq, yq, hooks=None, **kw):
    """The per-task loop (``_loop_meta_gradient``) over the tasks split among worker threads (``in_threads``):
    each part's mean, weighted by its tasks. Exact: the same per-task gradients, summed in a fixed order. Two
    tasks' graphs are held at once on 2 cores, not one."""
    n = xs.shape[0]
    results = in_threads(lambda p: _loop_meta_gradient(alg, params, xs[p], ys[p], xq[p], yq[p], **kw), n, hooks)
    sizes = [len(range(n)[p]) for p in parts(n, len(results))]
    g = {k: sum(r[0][k] * m for r, m in zip(results, sizes)) / n for k in results[0][0]}
    loss, acc = (sum(r[i] * m for r, m in zip(results, sizes)) / n for i in (1, 2))
    return g, loss, acc


def maml_and_fomaml(params, xs, ys, xq, yq, *, inner_lr, inner_steps, forward=model.forward):
    """MAML's and FOMAML's mean meta-gradients at ``params``, from one pass: their inner loops take the same
    steps (FOMAML's adapted parameters are MAML's, in value), so one backward of each task's query loss gives
    both, MAML's with respect to the initial parameters (through the inner loop) and FOMAML's with respect to
    the adapted ones. For the alignment analysis, which compares the two at the same parameters. On CPU with
    threads to split, the tasks are split among worker threads as on the threads path."""
    forward = model.fused(forward)

    def sums(part):
        leaves = {k: v.detach().requires_grad_() for k, v in params.items()}
        second, first = ({k: torch.zeros_like(v) for k, v in leaves.items()} for _ in range(2))
        with torch.enable_grad():
            for t in range(part.start, part.stop):
                fast = inner.adapt(
                    leaves, xs[t], ys[t], inner_lr=inner_lr, inner_steps=inner_steps, forward=forward, how="graph"
                )
                loss, _ = query_loss_acc(fast, xq[t], yq[t], forward, xs[t])
                grads = torch.autograd.grad(loss, [*leaves.values(), *(fast[k] for k in leaves)])
                for total, g in zip([*second.values(), *first.values()], grads):
                    total += g
        return second, first

    n = xs.shape[0]
    parts_ = in_threads(sums, n) if splits(xs.device) else [sums(slice(0, n))]
    return tuple({k: sum(p[i][k] for p in parts_) / n for k in params} for i in (0, 1))


def _loop_meta_gradient(alg, params, xs, ys, xq, yq, *, inner_lr, inner_steps, forward, state):
    """The reference: ``alg`` (any algorithm of ``engine.algorithms``) one task at a time with plain autograd, as
    MAML is usually written; its ``task`` says what is differentiated (a first-order one returns its gradients)."""
    leaves = {k: v.detach().requires_grad_() for k, v in params.items()}
    total = {k: torch.zeros_like(v) for k, v in leaves.items()}
    losses, accs = [], []
    kw = dict(inner_lr=inner_lr, inner_steps=inner_steps, forward=forward, how="graph", state=state)
    with torch.enable_grad():
        for t in range(xs.shape[0]):
            value, loss, acc = alg.task(leaves, xs[t], ys[t], xq[t], yq[t], **kw)
            if alg.first_order:  # the task's gradients themselves
                grads = [value.get(k) for k in leaves]
            else:
                grads = torch.autograd.grad(value, list(leaves.values()), allow_unused=True)
            for acc_g, gk in zip(total.values(), grads):
                if gk is not None:
                    acc_g += gk
            losses.append(loss.detach())
            accs.append(acc.detach())
    n = xs.shape[0]
    return {k: v / n for k, v in total.items()}, torch.stack(losses).mean(), torch.stack(accs).mean()


def _vmap_meta_gradient(alg, params, xs, ys, xq, yq, *, inner_lr, inner_steps, forward, state):
    """``alg`` (any algorithm of ``engine.algorithms``), every task at once with torch.func: second order is
    ``grad`` of the ``vmap``ped objective, first order the ``vmap`` of each task's own gradients."""
    params = {k: v.detach() for k, v in params.items()}
    kw = dict(inner_lr=inner_lr, inner_steps=inner_steps, forward=forward, how="func", state=state)

    def task(p, xs_t, ys_t, xq_t, yq_t):
        return alg.task(p, xs_t, ys_t, xq_t, yq_t, **kw)

    if alg.first_order:
        g, loss, acc = vmap(task, in_dims=(None, 0, 0, 0, 0))(params, xs, ys, xq, yq)
        g = {k: g[k].mean(0) if k in g else torch.zeros_like(v) for k, v in params.items()}
        return g, loss.mean().detach(), acc.mean().detach()

    def mean_objective(p):
        value, loss, acc = vmap(task, in_dims=(None, 0, 0, 0, 0))(p, xs, ys, xq, yq)
        return value.mean(), (loss.mean().detach(), acc.mean().detach())

    g, (loss, acc) = grad(mean_objective, has_aux=True)(params)
    return g, loss, acc


def meta_gradient(
    params: Params,
    xs,
    ys,
    xq,
    yq,
    *,
    inner_lr: float,
    inner_steps: int,
    algorithm: str | None = None,
    first_order: bool | None = None,
    path: str = "auto",
    forward: Forward = model.forward,
    state: dict | None = None,
    hooks=None,
):
    """Mean meta-gradient of ``algorithm`` (a name of ``mamlviz.variants``; ``first_order=`` alone still
    means FOMAML or MAML) over the tasks, plus mean query loss and accuracy after adaptation.

    The gradient has an entry for every entry of ``algorithm``'s parameters: ``params`` as given, a plain
    network completed with the entries the algorithm learns (Meta-SGD's and MAML++'s step sizes, MAML++'s
    per-step batch-norm weights) at their starting values. ``state``: the training schedule's tensors
    (``Algorithm.state``; MAML++'s loss weights), at the start of training when not given.

    ``path`` picks the implementation ("loop": per-task reference, "vmap": vectorized, "tasks": all tasks as
    groups of channels (MAML and FOMAML; the others take the loop), "threads": the per-task loop with the tasks
    split among worker threads, "auto": the faster on the tensors' device); all are exact in second order and
    checked against each other in float64 by the tests. ``hooks``: saved-tensor hooks (pack, unpack) for the
    threads path's workers to run under, as the caller's own apply on the other paths (hooks are per thread).
    """
    first_order = first_order_of(algorithm, first_order)  # checks a first_order= given with an algorithm
    alg = algorithms.get(algorithm or ("fomaml" if first_order else "maml"))
    if path == "auto":
        path = fastest_path(xs.device)
    if path not in PATHS:
        raise ValueError(f"path: must be one of {', '.join(PATHS)}, got {path!r}")
    if not alg.learned_names():  # another algorithm's parameters: the plain network inside
        params = alg.network(params)
    params = alg.complete(params, inner_lr, inner_steps)
    if path == "tasks" and alg.name in ("maml", "fomaml") and forward is model.forward:
        kw = dict(inner_lr=inner_lr, inner_steps=inner_steps, first_order=alg.first_order)
        return _tasks_meta_gradient(params, xs, ys, xq, yq, **kw)
    # "tasks" runs MAML's and FOMAML's CNN itself in transductive mode; any other case takes the loop
    kw = dict(inner_lr=inner_lr, inner_steps=inner_steps, forward=forward, state=state)
    if path == "vmap":
        return _vmap_meta_gradient(alg, params, xs, ys, xq, yq, **kw)
    kw["forward"] = model.fused(forward)  # outside vmap: the native batch norm, exact and faster
    if path == "threads":
        return _threads_meta_gradient(alg, params, xs, ys, xq, yq, hooks, **kw)
    return _loop_meta_gradient(alg, params, xs, ys, xq, yq, **kw)


def adapted_accuracy(
    params: Params,
    xs,
    ys,
    xq,
    yq,
    *,
    inner_lr: float,
    inner_steps: int,
    path: str = "auto",
    forward: Forward = model.forward,
    algorithm: str | None = None,
) -> torch.Tensor:
    """Per-task query accuracy [T] after adapting ``params`` on each task's support set by ``algorithm``'s
    inner loop (plain gradient steps at ``inner_lr`` for MAML, FOMAML, Reptile and an initialisation)."""
    if path == "auto":
        path = fastest_path(xs.device)
    if path not in PATHS:
        raise ValueError(f"path: must be one of {', '.join(PATHS)}, got {path!r}")
    params = {k: v.detach() for k, v in params.items()}
    alg = algorithms.get(algorithm or "maml")
    with torch.enable_grad():
        kw = dict(inner_lr=inner_lr, inner_steps=inner_steps, forward=forward)
        plain = type(alg).adapt is algorithms.Algorithm.adapt  # plain gradient steps on every weight
        if plain and path == "tasks" and forward is model.forward:  # every task at once, no graph between steps
            t = xs.shape[0]
            fast = {k: v.expand(t, *v.shape).clone() for k, v in alg.network(params).items()}
            fast = inner.adapt(
                fast, xs, ys, inner_lr=inner_lr, inner_steps=inner_steps, how="const", loss=_tasks_support_loss
            )
            with torch.no_grad():
                return _tasks_loss_acc(fast, xq, yq)[1]
        if path == "vmap":

            def task(xs_t, ys_t, xq_t, yq_t):
                fast = alg.adapt(params, xs_t, ys_t, how="func-const", **kw)
                return query_loss_acc(fast, xq_t, yq_t, forward, xs_t)[1]

            return vmap(task)(xs, ys, xq, yq).detach()
    # one task at a time (the tasks path of the others' own inner loops too), outside vmap with the native batch
    # norm, exact and faster there; "threads": in worker threads
    kw["forward"] = forward = model.fused(forward)

    def loop(part):
        accs = []
        with torch.enable_grad():
            for t in range(part.start, part.stop):
                fast = alg.adapt(params, xs[t], ys[t], how="const", **kw)
                with torch.no_grad():
                    accs.append(query_loss_acc(fast, xq[t], yq[t], forward, xs[t])[1])
        return torch.stack(accs)

    n = xs.shape[0]
    return torch.cat(in_threads(loop, n)) if path == "threads" else loop(slice(0, n))
