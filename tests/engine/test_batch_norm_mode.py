"""Issue 23: batch-norm mode. Transductive (the default, as Finn et al. and the seed tutorial): a task's queries
are normalised together, so one query's prediction depends on the others. Support: every query is normalised
with its task's support-set statistics, at training and test. Checked in float64 against a reference written
layer by layer, on every path and for every algorithm."""

import pytest
import torch
import torch.nn.functional as F
from conftest import TINY

from mamlviz import RunConfig, compare, variants
from mamlviz.engine import algorithms, meta, model

G = torch.Generator().manual_seed(0)
XS = torch.rand(2, 3, 1, 28, 28, generator=G, dtype=torch.float64)
XQ = torch.rand(2, 4, 1, 28, 28, generator=G, dtype=torch.float64)
YS, YQ = torch.arange(3).repeat(2, 1), torch.tensor([0, 1, 2, 0]).repeat(2, 1)


def reference_logits(p, xs, xq):
    """The queries' logits with every batch norm taking the support images' statistics, written out."""
    hs, hq = xs, xq
    for b in range(model.BLOCKS):
        hs = F.conv2d(hs, p[f"conv{b}.weight"], p[f"conv{b}.bias"], padding=1)
        hq = F.conv2d(hq, p[f"conv{b}.weight"], p[f"conv{b}.bias"], padding=1)
        mean, var = hs.mean((0, 2, 3), keepdim=True), hs.var((0, 2, 3), unbiased=False, keepdim=True)
        w, c = p[f"bn{b}.weight"][None, :, None, None], p[f"bn{b}.bias"][None, :, None, None]
        hs = F.relu(F.max_pool2d((hs - mean) / torch.sqrt(var + model.BN_EPS) * w + c, 2))
        hq = F.relu(F.max_pool2d((hq - mean) / torch.sqrt(var + model.BN_EPS) * w + c, 2))
    return F.linear(hq.flatten(1), p["head.weight"], p["head.bias"])


def reference_maml(p, lr=0.1, steps=2):
    """MAML's mean query loss with support statistics for the queries, plain autograd, one task at a time."""
    total = 0
    for t in range(XS.shape[0]):
        q = dict(p)
        for _ in range(steps):
            loss = F.cross_entropy(reference_logits(q, XS[t], XS[t]), YS[t])
            grads = torch.autograd.grad(loss, list(q.values()), create_graph=True)
            q = {k: v - lr * g for (k, v), g in zip(q.items(), grads)}
        total = total + F.cross_entropy(reference_logits(q, XS[t], XQ[t]), YQ[t])
    return total / XS.shape[0]


def _rel(a, b):
    keys = [k for k in b if not ("conv" in k and k.endswith("bias"))]  # biases before batch norm (their steps): ~0
    return max(((a[k] - b[k]).norm() / b[k].norm()).item() for k in keys)


def test_in_support_mode_a_query_is_classified_on_its_own():
    p = model.init_params(3, 1, dtype=torch.float64)
    xs, xq = XS[0], XQ[0]
    alone = model.forward(p, xq[:1], stats=xs)
    together = model.forward(p, xq, stats=xs)[:1]
    assert (alone - together).abs().max() < 1e-12  # the other queries change nothing (but rounding)
    assert (model.forward(p, xq[:1]) - model.forward(p, xq)[:1]).abs().max() > 1e-3  # transductive: they do
    assert (together - reference_logits(p, xs, xq)[:1]).abs().max() < 1e-12


@pytest.mark.parametrize("path", ["loop", "vmap", "tasks", "threads"])
def test_maml_in_support_mode_is_exact_on_every_path(path):
    p = model.init_params(3, 1, dtype=torch.float64)
    leaves = {k: v.clone().requires_grad_() for k, v in p.items()}
    ref = dict(zip(leaves, torch.autograd.grad(reference_maml(leaves), list(leaves.values()))))
    kw = dict(inner_lr=0.1, inner_steps=2, algorithm="maml", path=path, forward=model.for_mode("support"))
    assert _rel(meta.meta_gradient(p, XS, YS, XQ, YQ, **kw)[0], ref) < 1e-10
    plain = meta.meta_gradient(p, XS, YS, XQ, YQ, **{**kw, "forward": model.forward})[0]
    assert _rel(plain, ref) > 1e-3  # the mode changes the gradient


@pytest.mark.parametrize("name", [n for n in variants.VARIANTS if n != "maml"])
def test_every_algorithm_in_support_mode_agrees_across_paths(name):
    p = model.init_params(3, 1, dtype=torch.float64)
    kw = dict(inner_lr=0.1, inner_steps=2, algorithm=name, forward=model.for_mode("support"))
    loop = meta.meta_gradient(p, XS, YS, XQ, YQ, path="loop", **kw)[0]
    for path in ("vmap", "tasks", "threads"):
        assert _rel(meta.meta_gradient(p, XS, YS, XQ, YQ, path=path, **kw)[0], loop) < 1e-10, path
    own = algorithms.get(name).complete(p, 0.1, 2)  # its own parameters, as training leaves them
    acc = [meta.adapted_accuracy(own, XS, YS, XQ, YQ, inner_lr=0.1, inner_steps=2, path=path, algorithm=name,
                                 forward=model.for_mode("support")) for path in ("loop", "vmap", "tasks")]  # fmt: skip
    assert torch.equal(acc[0], acc[1]) and torch.equal(acc[0], acc[2])


def test_a_run_in_support_mode_says_so_in_its_record():
    cfg = RunConfig(**{**TINY, "batch_norm": "support", "train_tasks": 4, "eval_tasks": 10, "alignment_points": 2})
    record = compare(cfg)
    assert record["config"]["batch_norm"] == "support"
    assert record["protocol"]["batch_norm"].startswith("support statistics")
    assert all(r["test"] and r["alignment"] for r in record["results"].values())
    with pytest.raises(ValueError, match="batch_norm: must be one of transductive, support"):
        RunConfig(batch_norm="running")
