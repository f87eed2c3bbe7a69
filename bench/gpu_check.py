"""Correctness on the device before any timing: run first in a GPU session (reference_runs.py does).

    python bench/gpu_check.py [--device cuda]

1. The vectorized meta-gradient on the device, in float64, against the per-task loop on the CPU.
2. The CUDA-graph meta-step (captured meta-gradient + Adam) against the plain vmap step: the same
   network after a few iterations on the same batches.
Exits non-zero when a check fails.
"""

import argparse
import sys

import torch

from mamlviz import RunConfig, variants
from mamlviz.engine import algorithms, measure, meta, model
from mamlviz.engine.data import load_data
from mamlviz.engine.step import MetaStep
from mamlviz.engine.tasks import TaskSampler


def flat(g):
    return torch.cat([v.flatten().double().cpu() for v in g.values()])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cuda")
    device = measure.resolve_device(ap.parse_args().device)
    ok = True
    gen = torch.Generator().manual_seed(0)
    xs, xq = (
        torch.rand(4, 10, 1, 28, 28, generator=gen, dtype=torch.float64),
        torch.rand(4, 15, 1, 28, 28, generator=gen, dtype=torch.float64),
    )
    ys, yq = torch.arange(5).repeat_interleave(2).repeat(4, 1), torch.arange(5).repeat_interleave(3).repeat(4, 1)
    params = model.init_params(5, seed=1, dtype=torch.float64)
    for name in variants.VARIANTS:  # every algorithm of the table, its learned entries at their starting values
        for steps in (1, 3):
            kw = dict(inner_lr=0.3, inner_steps=steps, algorithm=name)
            ref = meta.meta_gradient(params, xs, ys, xq, yq, path="loop", **kw)[0]
            dev = meta.meta_gradient(
                {k: v.to(device) for k, v in params.items()},
                xs.to(device),
                ys.to(device),
                xq.to(device),
                yq.to(device),
                path="vmap",
                **kw,
            )[0]
            err = ((flat(dev) - flat(ref)).norm() / flat(ref).norm()).item()
            good = err < 1e-9
            ok &= good
            print(
                f"float64 vmap on {device} vs CPU loop, {name}, steps={steps}: "
                f"relative error {err:.2e} {'ok' if good else 'FAIL'}"
            )
    if device.type == "cuda":
        data = load_data(device)
        cfg = RunConfig(n_way=5, k_shot=1, k_query=15, inner_steps=2, meta_batch=8, train_tasks=8, device="cuda")
        sampler = TaskSampler(data.train, 5, 1, 15, seed=0)
        batches = [sampler.sample(8) for _ in range(4)]
        init = model.init_params(5, seed=0, device=device)
        for name in variants.VARIANTS:
            out = {}
            for path in ("vmap", "graph"):
                p = {k: v.clone() for k, v in init.items()}
                p = algorithms.get(name).complete(p, cfg.inner_lr, cfg.inner_steps)
                step = MetaStep(path, p, cfg, name, warm_batch=batches[0], total=len(batches))
                losses = [float(step(b)[0]) for b in batches]
                out[path] = (algorithms.network(p), losses)
                step.close()
            x = batches[0].xq[0]
            a, b = model.forward(out["vmap"][0], x), model.forward(out["graph"][0], x)
            err = ((a - b).norm() / a.norm()).item()
            pairs = zip(out["vmap"][1], out["graph"][1])
            good = err < 1e-3 and all(abs(u - v) < 1e-3 * max(1, abs(u)) for u, v in pairs)
            ok &= good
            print(
                f"{name}: CUDA graph step vs vmap step after 4 iterations: output relative difference {err:.2e}, "
                f"losses {out['graph'][1]} vs {out['vmap'][1]} {'ok' if good else 'FAIL'}"
            )
    print("ALL OK" if ok else "SOME CHECKS FAILED")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
