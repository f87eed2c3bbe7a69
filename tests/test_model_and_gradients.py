"""Exactness: the vectorized meta-gradient against the per-task autograd loop and finite differences."""

import pytest
import torch
import torch.nn.functional as F
from torch.func import functional_call

from mamlviz.engine import meta, model
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
@pytest.mark.parametrize("path", ["loop", "vmap"])
def test_meta_gradient_matches_plain_autograd_in_float64(path, inner_steps, first_order):
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
    fast = meta.inner_adapt(params, xs[0], ys[0], inner_lr=0.3, inner_steps=2)
    fast = {k: v.detach().requires_grad_() for k, v in fast.items()}
    F.cross_entropy(model.forward(fast, xq[0]), yq[0]).backward()
    got = meta.meta_gradient(params, xs, ys, xq, yq, inner_lr=0.3, inner_steps=2, first_order=True, path="vmap")[0]
    assert all(torch.allclose(got[k], fast[k].grad, atol=1e-12) for k in got)


def _smooth_forward(p, x):
    return model.forward(p, x, activation=torch.tanh, pool=F.avg_pool2d)


@pytest.mark.parametrize("inner_steps", [1, 2])
@pytest.mark.parametrize("path", ["loop", "vmap"])
def test_second_order_matches_finite_differences(path, inner_steps):
    """On the smooth variant (tanh, average pooling), central differences along random unit directions."""
    params = model.init_params(3, seed=5, dtype=torch.float64)
    args = _tasks(T=2)
    kw = dict(inner_lr=0.2, inner_steps=inner_steps, first_order=False, forward=_smooth_forward)
    grads = meta.meta_gradient(params, *args, path=path, **kw)[0]
    g = torch.Generator().manual_seed(0)
    for _ in range(3):
        d = {k: torch.randn(v.shape, generator=g, dtype=v.dtype) for k, v in params.items()}
        norm = _flat(d).norm()
        d = {k: v / norm for k, v in d.items()}
        eps = 1e-5
        plus = meta.meta_gradient({k: params[k] + eps * d[k] for k in params}, *args, path="loop", **kw)[1]
        minus = meta.meta_gradient({k: params[k] - eps * d[k] for k in params}, *args, path="loop", **kw)[1]
        fd = (plus - minus) / (2 * eps)
        analytic = sum((grads[k] * d[k]).sum() for k in params)
        assert abs(fd - analytic) <= 1e-6 * max(1.0, abs(analytic)), (fd.item(), analytic.item())


def test_adapted_accuracy_paths_agree():
    params = model.init_params(3, seed=1, dtype=torch.float64)
    args = _tasks(T=4)
    a = meta.adapted_accuracy(params, *args, inner_lr=0.4, inner_steps=2, path="loop")
    b = meta.adapted_accuracy(params, *args, inner_lr=0.4, inner_steps=2, path="vmap")
    assert a.shape == (4,) and torch.equal(a, b)


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
