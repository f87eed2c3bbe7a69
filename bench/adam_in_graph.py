"""Our capturable Adam against torch.optim.Adam(capturable=True), inside the CUDA-graph meta-step.

    python bench/adam_in_graph.py [--device cuda] [--meta-batch 32] [--reps 50] [--out FILE]

If the library's optimizer is as fast, the engine should use it and drop mamlviz/engine/adam.py
(issue 9). Both run the same captured meta-step (the vectorized path on CPU, where there is no
graph) on the same batches from the same initialisation; prints ms per meta-iteration (median of
synchronized timings, capture excluded) and how far apart the two networks' outputs end.
"""

import argparse
import json
import statistics
from pathlib import Path

from mamlviz import RunConfig
from mamlviz.engine import measure, model
from mamlviz.engine.data import load_data
from mamlviz.engine.step import MetaStep
from mamlviz.engine.tasks import TaskSampler


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--meta-batch", type=int, default=32)
    ap.add_argument("--reps", type=int, default=50)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    device = measure.resolve_device(args.device)
    path = "graph" if device.type == "cuda" else "vmap"
    data = load_data(device)
    cfg = RunConfig(
        n_way=5,
        k_shot=1,
        k_query=15,
        inner_lr=0.4,
        inner_steps=1,
        meta_batch=args.meta_batch,
        train_tasks=args.meta_batch,
        device=device.type,
    )
    sampler = TaskSampler(data.train, 5, 1, 15, seed=0)
    batches = [sampler.sample(args.meta_batch) for _ in range(4)]
    init = model.init_params(5, 0, device=device)
    rows, nets = {}, {}
    for optimizer in ("mamlviz", "torch"):
        for first_order in (False, True):
            params = {k: v.clone() for k, v in init.items()}
            step = MetaStep(path, params, cfg, "fomaml" if first_order else "maml", batches[0], optimizer=optimizer)
            times = []
            for i in range(args.reps):
                t0 = measure.now(device)
                step(batches[i % 4])
                times.append((measure.now(device) - t0) * 1000)
            name = f"{'fomaml' if first_order else 'maml'} {optimizer}"
            rows[name] = {"ms": statistics.median(times[2:] or times), "setup_s": step.setup_s}
            nets[name] = params
            step.close()
            print(f"{name:16} {path:6} {rows[name]['ms']:8.2f} ms/it  capture {step.setup_s:.2f} s", flush=True)
    x = batches[0].xq[0]
    for alg in ("maml", "fomaml"):
        a, b = model.forward(nets[f"{alg} mamlviz"], x), model.forward(nets[f"{alg} torch"], x)
        diff = float((a - b).norm() / a.norm())
        ratio = rows[f"{alg} torch"]["ms"] / rows[f"{alg} mamlviz"]["ms"]
        rows[f"{alg} comparison"] = {"torch_over_ours_time": ratio, "output_relative_difference": diff}
        print(
            f"{alg}: torch.optim.Adam / ours = {ratio:.2f}x time; outputs differ by {diff:.1e} (relative) "
            f"after {args.reps} steps"
        )
    env = measure.environment(device)
    print(f"{env['device_name']} | torch {env['torch']} | path {path} | meta-batch {args.meta_batch}")
    if args.out:
        args.out.write_text(json.dumps({"environment": env, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
