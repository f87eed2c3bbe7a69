"""The four algorithms beyond MAML and FOMAML, each checked in float64 against a plain per-task autograd
reference written from its definition (issue 22), and the learned step sizes by finite differences."""

import pytest
import torch
import torch.nn.functional as F
from engine.test_gradients import _flat, _smooth_forward, _tasks, _unit_directions

from mamlviz.engine import algorithms, meta, model
from mamlviz.engine.algorithms import mamlpp

NEW = ("reptile", "anil", "metasgd", "mamlpp")


def _ce(forward, p, x, y):
    return F.cross_entropy(forward(p, x), y)


def _reptile(params, xs, ys, xq, yq, lr, steps, forward, **_):
    """(θ - φ_K) / α after K plain steps on support and query together, mean over tasks."""
    total = {k: torch.zeros_like(v) for k, v in params.items()}
    for t in range(xs.shape[0]):
        x, y = torch.cat([xs[t], xq[t]]), torch.cat([ys[t], yq[t]])
        fast = {k: v.detach().clone().requires_grad_() for k, v in params.items()}
        for _ in range(steps):
            g = torch.autograd.grad(_ce(forward, fast, x, y), list(fast.values()))
            fast = {k: (w - lr * gk).detach().requires_grad_() for (k, w), gk in zip(fast.items(), g)}
        for k in total:
            total[k] += (params[k] - fast[k].detach()) / lr
    return {k: v / xs.shape[0] for k, v in total.items()}


def _anil(params, xs, ys, xq, yq, lr, steps, forward, **_):
    """Second order through a head-only inner loop; the whole network recomputed at every step."""
    leaves = {k: v.detach().clone().requires_grad_() for k, v in params.items()}
    total = 0
    for t in range(xs.shape[0]):
        head = {k: leaves[k] for k in ("head.weight", "head.bias")}
        for _ in range(steps):
            g = torch.autograd.grad(
                _ce(forward, {**leaves, **head}, xs[t], ys[t]), list(head.values()), create_graph=True
            )
            head = {k: w - lr * gk for (k, w), gk in zip(head.items(), g)}
        total = total + _ce(forward, {**leaves, **head}, xq[t], yq[t])
    (total / xs.shape[0]).backward()
    return {k: v.grad for k, v in leaves.items()}


def _metasgd(params, xs, ys, xq, yq, lr, steps, forward, **_):
    """φ ← φ - lr ⊙ ∇L_support with the lr entries learned; second order for the network and the lrs."""
    leaves = {k: v.detach().clone().requires_grad_() for k, v in params.items()}
    net = [k for k in leaves if not k.startswith("lr.")]
    total = 0
    for t in range(xs.shape[0]):
        fast = {k: leaves[k] for k in net}
        for _ in range(steps):
            g = torch.autograd.grad(_ce(forward, fast, xs[t], ys[t]), list(fast.values()), create_graph=True)
            fast = {k: w - leaves["lr." + k] * gk for (k, w), gk in zip(fast.items(), g)}
        total = total + _ce(forward, fast, xq[t], yq[t])
    (total / xs.shape[0]).backward()
    return {k: v.grad for k, v in leaves.items()}


def _mamlpp(params, xs, ys, xq, yq, lr, steps, forward, weights):
    """Σ_k w_k L_query after step k, step k's batch-norm weights in the support loss of step k and the query
    loss after it, per-layer per-step step sizes, batch norm not adapted inside."""
    leaves = {k: v.detach().clone().requires_grad_() for k, v in params.items()}
    adapted = [k for k in leaves if k.startswith(("conv", "head"))]
    total = 0
    for t in range(xs.shape[0]):
        fast = {k: leaves[k] for k in adapted}
        for k in range(steps):
            bn = {n.removeprefix("step."): leaves[n][k] for n in leaves if n.startswith("step.")}
            g = torch.autograd.grad(_ce(forward, {**fast, **bn}, xs[t], ys[t]), list(fast.values()), create_graph=True)
            fast = {n: w - leaves["lr." + n][k] * gn for (n, w), gn in zip(fast.items(), g)}
            total = total + weights[k] * _ce(forward, {**fast, **bn}, xq[t], yq[t])
    (total / xs.shape[0]).backward()
    return {k: v.grad for k, v in leaves.items()}


REFERENCES = {"reptile": _reptile, "anil": _anil, "metasgd": _metasgd, "mamlpp": _mamlpp}


def _params(name, steps, seed=1, n_way=3):
    """The algorithm's parameters with its learned entries moved off their starting values, so that a
    mix-up of entries or steps shows."""
    alg = algorithms.get(name)
    p = alg.complete(model.init_params(n_way, seed=seed, dtype=torch.float64), 0.1, steps)
    g = torch.Generator().manual_seed(seed + 100)
    for k in p:
        if k.startswith(("lr.", "step.")):
            p[k] = p[k] * (0.5 + torch.rand(p[k].shape, generator=g, dtype=p[k].dtype))
    return p


def _state(steps):
    alg = algorithms.get("mamlpp")
    state = alg.state("cpu", steps)
    alg.schedule(state, 0.03)  # part way through the multi-step loss's phase: unequal weights
    return state


@pytest.mark.parametrize("steps", [1, 3])
@pytest.mark.parametrize("path", ["loop", "vmap", "tasks", "threads"])
@pytest.mark.parametrize("name", NEW)
def test_each_algorithm_matches_its_plain_float64_reference(name, path, steps):
    params = _params(name, steps)
    args = _tasks()
    state = _state(steps) if name == "mamlpp" else None
    weights = state["msl"].double() if state else None
    ref = REFERENCES[name](params, *args, 0.1, steps, model.forward, weights=weights)
    got, loss, acc = meta.meta_gradient(
        params, *args, inner_lr=0.1, inner_steps=steps, algorithm=name, path=path, state=state
    )
    assert set(got) == set(params)  # a gradient for every entry, learned step sizes included
    err = (_flat(got) - _flat({k: ref[k] for k in got})).norm() / _flat(ref).norm()
    assert err < 1e-10, f"{name} {path}: relative error {err:.2e}"
    assert torch.isfinite(loss) and 0 <= acc <= 1


def test_mamlpp_weights_follow_the_authors_schedule():
    w = mamlpp.msl_weights(0.0, 5)
    assert w == pytest.approx([0.2] * 5)
    late = mamlpp.msl_weights(0.99, 5)
    assert late[:4] == pytest.approx([0.03 / 5] * 4) and late[-1] == pytest.approx(1 - 4 * 0.03 / 5)
    alg = algorithms.get("mamlpp")
    state = alg.state("cpu", 5)
    alg.schedule(state, 0.5)  # past the phase: only the last step's loss
    assert state["msl"].tolist() == [0, 0, 0, 0, 1]
    assert alg.schedule(state, 0.0) == pytest.approx(1.0)
    assert alg.schedule(state, 1.0) == pytest.approx(mamlpp.MIN_LR_FACTOR)


def test_a_time_fair_mamlpp_anneals_over_its_time_not_its_iteration_cap():
    """Fair by time, the iteration count is only a cap: the schedule follows the share of the budget spent."""
    from conftest import TINY

    from mamlviz import RunConfig
    from mamlviz.engine import train as training
    from mamlviz.engine.data import load_data

    cfg = RunConfig(**{**TINY, "algorithms": "maml,mamlpp", "fairness": "time", "time_budget_s": 0.5})
    seen = []
    real = algorithms.get("mamlpp").schedule

    def spy(state, progress):
        seen.append(progress)
        return real(state, progress)

    import threading

    init = model.init_params(cfg.n_way, cfg.seed)
    mp = pytest.MonkeyPatch()
    mp.setattr(algorithms.get("mamlpp"), "schedule", spy)
    try:
        training.train(
            ["mamlpp"], cfg, torch.device("cpu"), load_data(torch.device("cpu")), init, "loop", None, threading.Event()
        )
    finally:
        mp.undo()
    assert seen[-1] > 0.8, seen[-5:]  # near the end of its time, far from the end of its iteration cap


def test_alignment_compares_network_entries_only_whatever_the_reference():
    """Meta-SGD's lr.head.bias [n_way] and MAML++'s lr.head.bias [K] have one shape when K = n_way: never compared."""
    from mamlviz.engine import geometry

    params = model.init_params(3, seed=1, dtype=torch.float64)
    a = geometry.alignment(params, *_tasks(), inner_lr=0.1, inner_steps=3, names=["metasgd", "mamlpp"])
    assert set(a["variants"]["mamlpp"]["per_layer"]) == {"block 1", "block 2", "block 3", "block 4", "head"}


def test_complete_parameters_pass_through_and_the_graph_path_refuses_a_changing_order():
    alg = algorithms.get("metasgd")
    p = alg.complete(model.init_params(3), 0.1, 2)
    assert alg.complete(p, 0.1, 2) is p  # every meta-step: nothing rebuilt
    from mamlviz import RunConfig
    from mamlviz.engine.step import MetaStep
    from mamlviz.engine.tasks import TaskBatch

    cfg = RunConfig(n_way=3, inner_steps=2, train_tasks=4, meta_batch=2)
    xs, ys, xq, yq = _tasks(T=2, dtype=torch.float32)
    annealed = mamlpp.MAMLPlusPlus(first_order_until=0.3)
    mp = pytest.MonkeyPatch()
    mp.setitem(algorithms.ALGORITHMS, "mamlpp", annealed)
    try:
        with pytest.raises(ValueError, match="derivative-order annealing"):
            MetaStep("graph", annealed.complete(model.init_params(3), 0.1, 2), cfg, "mamlpp", TaskBatch(xs, ys, xq, yq))
    finally:
        mp.undo()


@pytest.mark.parametrize("name", ["metasgd", "mamlpp"])
def test_learned_step_sizes_match_finite_differences(name):
    """The gradient of the mean query objective with respect to the step sizes alone, along random unit
    directions, against central differences, on the smooth network (tanh, average pooling)."""
    steps = 2
    params = _params(name, steps, seed=3)
    args = _tasks(T=2)
    state = _state(steps) if name == "mamlpp" else None
    kw = dict(inner_lr=0.1, inner_steps=steps, algorithm=name, forward=_smooth_forward, path="loop", state=state)
    alg = algorithms.get(name)
    grads = meta.meta_gradient(params, *args, **kw)[0]
    lrs = {k: v for k, v in params.items() if k.startswith("lr.")}

    def objective(p):
        total = 0
        for t in range(args[0].shape[0]):
            value, _, _ = alg.task(
                p,
                *(a[t] for a in args),
                inner_lr=0.1,
                inner_steps=steps,
                forward=_smooth_forward,
                how="graph",
                state=state,
            )
            total = total + value.detach()
        return total / args[0].shape[0]

    eps = 1e-6
    for d in _unit_directions(lrs, seed=1, n=3):
        plus = objective({**params, **{k: params[k] + eps * d[k] for k in d}})
        minus = objective({**params, **{k: params[k] - eps * d[k] for k in d}})
        fd = (plus - minus) / (2 * eps)
        analytic = sum((grads[k] * d[k]).sum() for k in d)
        assert abs(fd - analytic) <= 1e-6 * max(1.0, abs(analytic)), (name, fd.item(), analytic.item())


@pytest.mark.parametrize("name", ["maml", *NEW])
def test_adapted_accuracy_uses_each_algorithms_inner_loop(name):
    params = _params(name, 2)
    xs, ys, xq, yq = _tasks()
    kw = dict(inner_lr=0.1, inner_steps=2, algorithm=name)
    loop = meta.adapted_accuracy(params, xs, ys, xq, yq, path="loop", **kw)
    vmapped = meta.adapted_accuracy(params, xs, ys, xq, yq, path="vmap", **kw)
    assert torch.equal(loop, vmapped)
    alg = algorithms.get(name)
    for t in range(xs.shape[0]):
        fast = alg.adapt(params, xs[t], ys[t], inner_lr=0.1, inner_steps=2)
        assert set(fast) == set(algorithms.NETWORK)
        acc = (model.forward(fast, xq[t]).argmax(-1) == yq[t]).double().mean()
        assert acc == loop[t]


def test_a_plain_network_is_completed_with_each_algorithms_learned_entries():
    net = model.init_params(5, seed=0)
    sgd = algorithms.get("metasgd").complete(net, 0.4, 3)
    assert all(torch.equal(sgd["lr." + k], torch.full_like(net[k], 0.4)) for k in net)
    pp = algorithms.get("mamlpp").complete(net, 0.4, 3)
    assert "bn0.weight" not in pp and pp["step.bn0.weight"].shape == (3, 64)
    assert pp["lr.conv0.weight"].tolist() == pytest.approx([0.4] * 3)
    assert torch.equal(algorithms.network(pp)["bn2.bias"], net["bn2.bias"])
