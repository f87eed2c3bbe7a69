"""Exactness: the vectorized meta-gradient against the per-task autograd loop and finite differences."""

import pytest
import torch
import torch.nn.functional as F
from torch.func import functional_call

from mamlviz.engine import algorithms, geometry, inner, meta, model, saved_memory
from mamlviz.engine.adam import Adam


def _tasks(T=3, N=3, K=2, Q=2, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    xs = torch.rand(T, N * K, 1, 28, 28, generator=g, dtype=dtype)
    xq = torch.rand(T, N * Q, 1, 28, 28, generator=g, dtype=dtype)
    ys = torch.arange(N).repeat_interleave(K).repeat(T, 1)
    yq = torch.arange(N).repeat_interleave(Q).repeat(T, 1)
    return xs, ys, xq, yq


def _flat(g):
    return torch.cat([v.flatten() for v in g.values()])


def test_shapes_and_param_names():
    p = model.init_params(5, seed=0)
    assert model.forward(p, torch.rand(7, 1, 28, 28)).shape == (7, 5)
    assert model.count_params(p) == 112_261
    assert set(p) == {n for n, _ in model.OmniglotCNN(5).named_parameters()}
    assert all(torch.equal(p[k], model.init_params(5, seed=0)[k]) for k in p)


def test_batch_norm_from_primitives_matches_torch():
    x = torch.randn(6, 4, 5, 5, dtype=torch.float64)
    w, b = torch.rand(4, dtype=torch.float64), torch.rand(4, dtype=torch.float64)
    ref = F.batch_norm(x, None, None, w, b, training=True, eps=model.BN_EPS)
    assert torch.allclose(model.batch_norm(x, w, b), ref, atol=1e-12)


def test_module_and_functional_forward_agree():
    m = model.OmniglotCNN(5, seed=1)
    x = torch.rand(4, 1, 28, 28)
    p = model.init_params(5, seed=2)
    assert torch.allclose(functional_call(m, p, (x,)), model.forward(p, x))


def _reference(params, xs, ys, xq, yq, inner_lr, inner_steps, first_order, forward):
    """An independent plain-autograd MAML: one task at a time, sum of losses, one backward."""
    leaves = {k: v.detach().clone().requires_grad_() for k, v in params.items()}
    total = 0
    for t in range(xs.shape[0]):
        fast = dict(leaves)
        for _ in range(inner_steps):
            loss = F.cross_entropy(forward(fast, xs[t]), ys[t])
            grads = torch.autograd.grad(loss, list(fast.values()), create_graph=not first_order)
            if first_order:
                grads = [g.detach() for g in grads]
            fast = {k: w - inner_lr * g for (k, w), g in zip(fast.items(), grads)}
        total = total + F.cross_entropy(forward(fast, xq[t]), yq[t])
    (total / xs.shape[0]).backward()
    return {k: v.grad for k, v in leaves.items()}


@pytest.mark.parametrize("first_order", [False, True])
@pytest.mark.parametrize("inner_steps", [1, 3])
@pytest.mark.parametrize("path", ["loop", "vmap", "tasks", "threads"])
def test_meta_gradient_matches_plain_autograd_in_float64(path, inner_steps, first_order):
    """The reference uses batch norm from primitives; the loop and tasks paths use the native fused op:
    agreement to 1e-10 in float64 is the proof that the fused op is exact, first and second order."""
    params = model.init_params(3, seed=1, dtype=torch.float64)
    xs, ys, xq, yq = _tasks()
    ref = _reference(params, xs, ys, xq, yq, 0.1, inner_steps, first_order, model.forward)
    got, loss, acc = meta.meta_gradient(
        params, xs, ys, xq, yq, inner_lr=0.1, inner_steps=inner_steps, first_order=first_order, path=path
    )
    err = (_flat(got) - _flat(ref)).norm() / _flat(ref).norm()
    assert err < 1e-10, f"relative error {err:.2e}"
    assert 0 <= acc <= 1 and torch.isfinite(loss)


def test_second_order_differs_from_first_order():
    params = model.init_params(3, seed=1, dtype=torch.float64)
    args = _tasks()
    so = meta.meta_gradient(params, *args, inner_lr=0.4, inner_steps=2, first_order=False, path="vmap")[0]
    fo = meta.meta_gradient(params, *args, inner_lr=0.4, inner_steps=2, first_order=True, path="vmap")[0]
    assert (_flat(so) - _flat(fo)).norm() / _flat(so).norm() > 1e-3  # the Hessian term is really there


def test_first_order_is_the_query_gradient_at_adapted_params():
    params = model.init_params(3, seed=4, dtype=torch.float64)
    xs, ys, xq, yq = _tasks(T=1)
    fast = inner.adapt(params, xs[0], ys[0], inner_lr=0.3, inner_steps=2, how="func")
    fast = {k: v.detach().requires_grad_() for k, v in fast.items()}
    F.cross_entropy(model.forward(fast, xq[0]), yq[0]).backward()
    got = meta.meta_gradient(params, xs, ys, xq, yq, inner_lr=0.3, inner_steps=2, first_order=True, path="vmap")[0]
    assert all(torch.allclose(got[k], fast[k].grad, atol=1e-12) for k in got)


def _unit_directions(params, seed: int, n: int):
    """``n`` random directions in parameter space, each of unit norm."""
    g = torch.Generator().manual_seed(seed)
    for _ in range(n):
        d = {k: torch.randn(v.shape, generator=g, dtype=v.dtype) for k, v in params.items()}
        norm = _flat(d).norm()
        yield {k: v / norm for k, v in d.items()}


def _directional_derivative(params, args, d, eps=1e-5, **kw):
    """Central finite difference of the mean query loss after adaptation along ``d``."""
    plus = meta.meta_gradient({k: params[k] + eps * d[k] for k in params}, *args, **kw)[1]
    minus = meta.meta_gradient({k: params[k] - eps * d[k] for k in params}, *args, **kw)[1]
    return (plus - minus) / (2 * eps)


def _smooth_forward(p, x):
    return model.forward(p, x, activation=torch.tanh, pool=F.avg_pool2d)


@pytest.mark.parametrize("inner_steps", [1, 2])
@pytest.mark.parametrize("path", ["loop", "vmap", "tasks"])
def test_second_order_matches_finite_differences(path, inner_steps):
    """On the smooth variant (tanh, average pooling), central differences along random unit directions."""
    params = model.init_params(3, seed=5, dtype=torch.float64)
    args = _tasks(T=2)
    kw = dict(inner_lr=0.2, inner_steps=inner_steps, first_order=False, forward=_smooth_forward)
    grads = meta.meta_gradient(params, *args, path=path, **kw)[0]
    for d in _unit_directions(params, seed=0, n=3):
        fd = _directional_derivative(params, args, d, path="loop", **kw)
        analytic = sum((grads[k] * d[k]).sum() for k in params)
        assert abs(fd - analytic) <= 1e-6 * max(1.0, abs(analytic)), (fd.item(), analytic.item())


def test_adapted_accuracy_paths_agree():
    params = model.init_params(3, seed=1, dtype=torch.float64)
    args = _tasks(T=4)
    a = meta.adapted_accuracy(params, *args, inner_lr=0.4, inner_steps=2, path="loop")
    b = meta.adapted_accuracy(params, *args, inner_lr=0.4, inner_steps=2, path="vmap")
    c = meta.adapted_accuracy(params, *args, inner_lr=0.4, inner_steps=2, path="tasks")
    d = meta.adapted_accuracy(params, *args, inner_lr=0.4, inner_steps=2, path="threads")
    assert a.shape == (4,) and torch.equal(a, b) and torch.equal(a, c) and torch.equal(a, d)


def test_unknown_path_is_refused():
    with pytest.raises(ValueError, match="path"):
        meta.meta_gradient(
            model.init_params(3),
            *_tasks(dtype=torch.float32),
            inner_lr=0.1,
            inner_steps=1,
            first_order=True,
            path="nope",
        )


def test_adam_matches_torch_optim():
    p = model.init_params(3, seed=0, dtype=torch.float64)
    ref = {k: torch.nn.Parameter(v.clone()) for k, v in p.items()}
    opt = torch.optim.Adam(ref.values(), lr=0.01)
    ours = Adam(p, lr=0.01)
    g = torch.Generator().manual_seed(0)
    for _ in range(5):
        grads = {k: torch.randn(v.shape, generator=g, dtype=v.dtype) for k, v in p.items()}
        for k, v in ref.items():
            v.grad = grads[k].clone()
        opt.step()
        ours.update(p, grads)
    assert all(torch.allclose(p[k], ref[k].detach(), atol=1e-6) for k in p)


def test_default_path_is_the_fast_exact_one_for_the_device():
    params = model.init_params(3, seed=1, dtype=torch.float64)
    args = _tasks(T=2)
    kw = dict(inner_lr=0.2, inner_steps=2, first_order=False)
    assert meta.fastest_path(torch.device("cpu")) == "loop" and meta.fastest_path(torch.device("cuda")) == "vmap"
    default = meta.meta_gradient(params, *args, **kw)[0]
    loop = meta.meta_gradient(params, *args, path="loop", **kw)[0]
    assert all(torch.equal(default[k], loop[k]) for k in params)  # bit-identical: the loop path ran


def _cosine(a, b):
    return float(a @ b / (a.norm() * b.norm()))


@pytest.mark.parametrize("inner_steps", [1, 3])
def test_alignment_is_the_geometry_of_the_two_exact_meta_gradients(inner_steps):
    params = model.init_params(3, seed=1, dtype=torch.float64)
    args = _tasks()
    so = _flat(_reference(params, *args, 0.1, inner_steps, False, model.forward))  # independent plain autograd
    fo = _flat(_reference(params, *args, 0.1, inner_steps, True, model.forward))
    full = geometry.alignment(params, *args, inner_lr=0.1, inner_steps=inner_steps)
    assert full["reference"] == "maml" and list(full["variants"]) == ["fomaml"]
    a = full["variants"]["fomaml"]
    assert a["cosine"] == pytest.approx(_cosine(so, fo), abs=1e-10)
    assert full["reference_norm"] == pytest.approx(float(so.norm()), rel=1e-10)
    assert a["norm"] == pytest.approx(float(fo.norm()), rel=1e-10)
    assert a["difference_norm"] == pytest.approx(float((so - fo).norm()), rel=1e-10)
    # per layer: the layers' dot products and squared norms add up to the whole
    layers = a["per_layer"]
    assert set(layers) == {"block 1", "block 2", "block 3", "block 4", "head"}
    dot = sum(v["cosine"] * v["reference_norm"] * v["norm"] for v in layers.values())
    assert dot == pytest.approx(a["cosine"] * full["reference_norm"] * a["norm"], rel=1e-9)
    assert sum(v["reference_norm"] ** 2 for v in layers.values()) == pytest.approx(
        full["reference_norm"] ** 2, rel=1e-10
    )
    head = [k for k in params if k.startswith("head")]
    so_head = torch.cat([_reference(params, *args, 0.1, inner_steps, False, model.forward)[k].flatten() for k in head])
    fo_head = torch.cat([_reference(params, *args, 0.1, inner_steps, True, model.forward)[k].flatten() for k in head])
    assert layers["head"]["cosine"] == pytest.approx(_cosine(so_head, fo_head), abs=1e-10)


def test_alignment_tends_to_one_as_the_inner_learning_rate_goes_to_zero():
    params = model.init_params(3, seed=2, dtype=torch.float64)
    args = _tasks()
    gaps = [
        1 - geometry.alignment(params, *args, inner_lr=lr, inner_steps=2)["variants"]["fomaml"]["cosine"]
        for lr in (0.1, 0.01, 1e-3, 1e-5)
    ]
    assert all(a > b for a, b in zip(gaps, gaps[1:])), gaps
    assert gaps[-1] < 1e-6


def test_the_correction_is_what_finite_differences_add_to_the_first_order_gradient():
    """d . (MAML - FOMAML) equals the finite-difference derivative of the query loss minus d . FOMAML."""
    params = model.init_params(3, seed=5, dtype=torch.float64)
    args = _tasks(T=2)
    kw = dict(inner_lr=0.2, inner_steps=2, forward=_smooth_forward)
    so = meta.meta_gradient(params, *args, first_order=False, **kw)[0]
    fo = meta.meta_gradient(params, *args, first_order=True, **kw)[0]
    a = geometry.alignment(params, *args, **kw)["variants"]["fomaml"]
    assert a["difference_norm"] == pytest.approx(float((_flat(so) - _flat(fo)).norm()), rel=1e-10)
    for d in _unit_directions(params, seed=1, n=2):
        fd = float(_directional_derivative(params, args, d, first_order=False, **kw))
        first = float(sum((fo[k] * d[k]).sum() for k in params))
        correction = float(sum(((so[k] - fo[k]) * d[k]).sum() for k in params))
        assert fd - first == pytest.approx(correction, abs=1e-6 * max(1.0, abs(fd)))


def test_saved_for_backward_bytes_are_exact_grow_with_maml_steps_and_stay_flat_for_fomaml():
    params = model.init_params(5, seed=0)
    g = torch.Generator().manual_seed(0)
    xs, xq = torch.rand(2, 5, 1, 28, 28, generator=g), torch.rand(2, 10, 1, 28, 28, generator=g)
    ys, yq = torch.arange(5).repeat(2, 1), torch.arange(5).repeat_interleave(2).repeat(2, 1)

    def saved(steps, first_order, together=False):
        algorithm = "fomaml" if first_order else "maml"
        return saved_memory.saved_for_backward_bytes(
            params, xs, ys, xq, yq, inner_lr=0.4, inner_steps=steps, algorithm=algorithm, tasks_together=together
        )

    maml = [saved(k, False) for k in (1, 2, 3, 4)]
    fomaml = [saved(k, True) for k in (1, 2, 3, 4)]
    assert maml == [saved(k, False) for k in (1, 2, 3, 4)]  # deterministic: the same figure on every run
    steps = [b - a for a, b in zip(maml, maml[1:])]
    assert min(steps) > 0 and max(steps) - min(steps) <= 0.02 * max(steps)  # linear in inner steps
    assert len(set(fomaml)) == 1 and fomaml[0] < maml[0]  # flat: each inner step's graph is freed
    assert saved(2, False, together=True) > saved(2, False)  # all tasks' graphs at once hold more


@pytest.mark.parametrize("optimizer", ["mamlviz", "torch"])
def test_meta_step_with_either_adam_trains_the_same_parameters(optimizer):
    from mamlviz import RunConfig
    from mamlviz.engine.step import MetaStep

    params = model.init_params(3, seed=0, dtype=torch.float64)
    xs, ys, xq, yq = _tasks(T=2)
    cfg = RunConfig(n_way=3, outer_lr=0.01, inner_lr=0.1, meta_batch=2, train_tasks=2, device="cpu")
    batch = __import__("mamlviz.engine.tasks", fromlist=["TaskBatch"]).TaskBatch(xs, ys, xq, yq)
    ours = {k: v.clone() for k, v in params.items()}
    theirs = {k: v.clone() for k, v in params.items()}
    a = MetaStep("loop", ours, cfg, "maml", batch)
    b = MetaStep("loop", theirs, cfg, "maml", batch, optimizer=optimizer)
    a(batch), b(batch)
    # one step: the same update up to our float32 step count (later steps amplify any difference where
    # Adam divides a near-zero gradient by its own size)
    assert all(torch.allclose(ours[k], theirs[k], atol=1e-7) for k in params)
    b.adam.reset()  # back to a fresh optimizer: the next step equals a first step
    fresh = {k: v.clone() for k, v in theirs.items()}
    MetaStep("loop", fresh, cfg, "maml", batch, optimizer=optimizer)(batch)
    b(batch)
    assert all(torch.allclose(fresh[k], theirs[k], atol=1e-12) for k in params)


@pytest.mark.parametrize("path", ["loop", "vmap"])
def test_algorithm_names_select_the_same_meta_gradients_as_first_order(path):
    params = model.init_params(3, seed=1, dtype=torch.float64)
    args = _tasks(T=2)
    for name, first_order in (("maml", False), ("fomaml", True)):
        by_name = meta.meta_gradient(params, *args, inner_lr=0.2, inner_steps=2, algorithm=name, path=path)[0]
        by_flag = meta.meta_gradient(params, *args, inner_lr=0.2, inner_steps=2, first_order=first_order, path=path)[0]
        assert all(torch.equal(by_name[k], by_flag[k]) for k in params)
    with pytest.raises(KeyError, match="unknown algorithm 'nope'"):
        meta.meta_gradient(params, *args, inner_lr=0.2, inner_steps=1, algorithm="nope")
    with pytest.raises(ValueError, match="first_order"):
        meta.meta_gradient(params, *args, inner_lr=0.2, inner_steps=1, algorithm="maml", first_order=True)


def test_the_one_inner_loop_takes_the_same_steps_however_its_gradient_is_taken():
    """graph, const and func give the same adapted parameters; trace sees every step; a bad ``how`` is named."""
    params = model.init_params(3, seed=2, dtype=torch.float64)
    xs, ys, _, _ = _tasks(T=1)
    seen = []
    out = {
        how: inner.adapt(params, xs[0], ys[0], inner_lr=0.3, inner_steps=3, how=how, trace=lambda k, p: seen.append(k))
        for how in ("graph", "const", "func")
    }
    assert seen == [0, 1, 2, 3] * 3
    for how in ("const", "func"):
        assert all(torch.allclose(out[how][k], out["graph"][k], atol=1e-12) for k in params)
    manual = {k: v.clone().requires_grad_() for k, v in params.items()}
    for _ in range(3):
        g = torch.autograd.grad(F.cross_entropy(model.forward(manual, xs[0]), ys[0]), list(manual.values()))
        manual = {k: (w - 0.3 * gk).detach().requires_grad_() for (k, w), gk in zip(manual.items(), g)}
    assert all(torch.allclose(out["const"][k], manual[k], atol=1e-12) for k in params)
    with pytest.raises(ValueError, match="how"):
        inner.adapt(params, xs[0], ys[0], inner_lr=0.3, inner_steps=1, how="fast")


def test_the_fused_batch_norm_is_the_primitive_one_in_value_and_both_derivatives():
    x = torch.randn(6, 4, 5, 5, dtype=torch.float64, requires_grad=True)
    w, b = (
        torch.rand(4, dtype=torch.float64, requires_grad=True),
        torch.rand(4, dtype=torch.float64, requires_grad=True),
    )
    outs = [f(x, w, b) for f in (model.batch_norm, model.fused_batch_norm)]
    assert torch.allclose(outs[0], outs[1], atol=1e-12)
    probe = torch.randn_like(outs[0])
    firsts = [torch.autograd.grad((o * probe).sum(), (x, w, b), create_graph=True) for o in outs]
    for a, c in zip(*firsts):
        assert torch.allclose(a, c, atol=1e-11)
    seconds = [torch.autograd.grad(sum((g * g).sum() for g in f), (x, w, b), allow_unused=True) for f in firsts]
    for a, c in zip(*seconds):  # None: that input does not reach the first derivative (the bias), in both
        assert (a is None and c is None) or torch.allclose(a, c, atol=1e-10)


def test_the_tasks_path_runs_each_task_with_its_own_parameters():
    """forward_tasks on stacked copies equals forward task by task, copies that differ included."""
    g = torch.Generator().manual_seed(3)
    per_task = [model.init_params(4, seed=s, dtype=torch.float64) for s in range(3)]
    stacked = {k: torch.stack([p[k] for p in per_task]) for k in per_task[0]}
    x = torch.rand(3, 6, 1, 28, 28, generator=g, dtype=torch.float64)
    got = model.forward_tasks(stacked, x)
    for t in range(3):
        assert torch.allclose(got[t], model.forward(per_task[t], x[t]), atol=1e-12)


def test_the_loop_paths_run_the_models_network_with_the_native_batch_norm_and_keep_another_as_it_is():
    """``model.fused``: the model's forward (either batch-norm mode) becomes the native batch norm's, the same
    function; another network is kept; every loop computation, first order, second order and evaluation, runs
    it in the default layout."""
    assert model.fused(model.forward) is model.forward_fused
    support = model.fused(model.for_mode("support"))
    assert support.forward is model.forward_fused and model.query_stats(support, "xs") == "xs"
    other = lambda p, x: model.forward(p, x)  # noqa: E731
    assert model.fused(other) is other
    seen = []
    real = model.forward_fused

    def spy(p, x, stats=None):
        seen.append(x.is_contiguous())
        return real(p, x, stats=stats)

    xs, ys, xq, yq = _tasks(T=1, dtype=torch.float32)
    params = model.init_params(3, seed=1)
    import unittest.mock

    with unittest.mock.patch.object(model, "forward_fused", spy):
        for name in ("maml", "fomaml"):
            meta.meta_gradient(params, xs, ys, xq, yq, inner_lr=0.1, inner_steps=1, algorithm=name, path="loop")
        meta.adapted_accuracy(params, xs, ys, xq, yq, inner_lr=0.1, inner_steps=2, path="loop")
    assert seen == [True] * 7


def test_the_threads_path_splits_the_tasks_keeps_the_callers_threads_and_counts_what_every_worker_holds():
    """Worker threads take contiguous runs of tasks, set their own intra-op threads only, and saved-tensor hooks
    given to ``in_threads`` see every worker's graph (hooks are per thread)."""
    assert meta.parts(5, 2) == [slice(0, 3), slice(3, 5)] and meta.parts(1, 2) == [slice(0, 1)]
    assert meta.parts(4, 8) == [slice(i, i + 1) for i in range(4)]
    before = torch.get_num_threads()
    xs, ys, xq, yq = _tasks(T=4, dtype=torch.float32)
    params = model.init_params(3, seed=1)
    kw = dict(inner_lr=0.1, inner_steps=2, forward=model.forward_fused, state=None)
    maml = algorithms.get("maml")
    one = saved_memory.SavedCounter()
    with torch.autograd.graph.saved_tensors_hooks(one.pack, one.unpack):
        loop = meta._loop_meta_gradient(maml, params, xs, ys, xq, yq, **kw)
    every = saved_memory.SavedCounter()
    threads = meta._threads_meta_gradient(maml, params, xs, ys, xq, yq, hooks=(every.pack, every.unpack), **kw)
    assert torch.get_num_threads() == before
    assert (_flat(threads[0]) - _flat(loop[0])).norm() < 1e-5 * _flat(loop[0]).norm()  # float32; exact in float64
    assert torch.allclose(threads[1], loop[1]) and torch.allclose(threads[2], loop[2])
    workers = len(meta.parts(4, before))
    assert one.peak > 0 and (every.peak > one.peak if workers > 1 else every.peak == one.peak)


@pytest.mark.parametrize("mode", ["transductive", "support"])
def test_one_pass_gives_maml_and_fomaml_exactly(mode):
    """The alignment analysis's single pass: MAML's gradient at the initial parameters and FOMAML's at the adapted
    ones from one backward, each equal in float64 to the engine's own meta-gradient of that algorithm."""
    params = model.init_params(3, seed=1, dtype=torch.float64)
    args = _tasks()
    forward = model.for_mode(mode)
    both = meta.maml_and_fomaml(params, *args, inner_lr=0.1, inner_steps=2, forward=forward)
    for got, name in zip(both, ("maml", "fomaml")):
        ref = meta.meta_gradient(params, *args, inner_lr=0.1, inner_steps=2, algorithm=name, forward=forward)[0]
        assert (_flat(got) - _flat(ref)).norm() < 1e-10 * _flat(ref).norm(), name


@pytest.mark.parametrize("seed", [5, 9])
def test_float32_meta_gradients_on_real_omniglot_tasks_match_float64_on_every_loop_path(seed):
    """The float64 tests cannot see float32 precision: on real characters (flat backgrounds, so the max-pools
    have near-ties that route the gradient by the last bit) every loop path's float32 meta-gradient must stay
    near the float64 one. The native batch norm in the channels-last layout (once the first-order layout) puts
    MAML's 0.5 % and 4 % off on these two draws (checked when this test was written); NCHW within 1e-5.
    Reptile's (θ - φ) / α loses digits to its own subtraction on every path, hence its looser bound."""
    from mamlviz.engine.data import load_data
    from mamlviz.engine.tasks import TaskSampler

    batch = TaskSampler(load_data(torch.device("cpu")).train, 5, 1, 3, seed=seed).sample(2)
    for name in ("maml", "fomaml", "reptile", "anil", "metasgd", "mamlpp"):
        g = {}
        for dtype, path in ((torch.float64, "loop"), *((torch.float32, p) for p in ("loop", "threads", "tasks"))):
            params = model.init_params(5, seed, dtype=dtype)
            xs, ys, xq, yq = (
                t.to(dtype) if t.is_floating_point() else t for t in (batch.xs, batch.ys, batch.xq, batch.yq)
            )
            g[path, dtype] = _flat(
                meta.meta_gradient(params, xs, ys, xq, yq, inner_lr=0.4, inner_steps=1, algorithm=name, path=path)[0]
            ).double()
        exact = g["loop", torch.float64]
        for path in ("loop", "threads", "tasks"):
            error = ((g[path, torch.float32] - exact).norm() / exact.norm()).item()
            assert error < (5e-3 if name == "reptile" else 1e-4), (name, path, error)
