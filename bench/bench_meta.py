"""Fast path vs the per-task loop, same process, same device: ms per meta-iteration and the ratio.

    python bench/bench_meta.py [--device auto] [--meta-batch 32] [--steps 1,5] [--reps 20] [--out FILE]

Each meta-iteration is the full step (meta-gradient + Adam update) on a fresh-looking batch of
N-way K-shot tasks (default 5-way 1-shot, 15 queries per class). Median of ``--reps`` synchronized timings after a
warm-up; CUDA-graph capture is excluded and printed separately.
"""

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from mamlviz import RunConfig, variants
from mamlviz.engine import measure, model
from mamlviz.engine.data import load_data
from mamlviz.engine.step import MetaStep
from mamlviz.engine.tasks import TaskSampler


def time_path(path, cfg, device, data, algorithm, reps):
    params = model.init_params(cfg.n_way, 0, device=device)
    sampler = TaskSampler(data.train, cfg.n_way, cfg.k_shot, cfg.k_query, seed=0)
    batches = [sampler.sample(cfg.meta_batch) for _ in range(4)]  # rotate a few inputs
    measure.release_memory(device)
    with measure.PeakMemory(device) as mem:
        step = MetaStep(path, params, cfg, algorithm, batches[0])
        for i in range(2):
            step(batches[i % 4])
        times = []
        for i in range(reps):
            t0 = measure.now(device)
            step(batches[i % 4])
            times.append((measure.now(device) - t0) * 1000)
        step.close()
    return statistics.median(times), step.setup_s, mem.increase_bytes


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="auto")
    ap.add_argument("--meta-batch", type=int, default=32)
    ap.add_argument("--steps", default="1,5")
    ap.add_argument("--n-way", type=int, default=5)
    ap.add_argument("--k-shot", type=int, default=1, help="5 with --steps 5: PyTorch's published functorch MAML setup")
    ap.add_argument("--k-query", type=int, default=15)
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--loop-reps", type=int, default=None, help="reps for the slow per-task loop")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    device = measure.resolve_device(args.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    data = load_data(device)
    paths = ["loop", "vmap"] + (["graph"] if device.type == "cuda" else [])
    rows = []
    for steps in [int(s) for s in args.steps.split(",")]:
        cfg = RunConfig(
            n_way=args.n_way,
            k_shot=args.k_shot,
            k_query=args.k_query,
            inner_lr=0.4,
            inner_steps=steps,
            meta_batch=args.meta_batch,
            train_tasks=args.meta_batch,
            device=device.type,
        )
        for name in variants.DEFAULT:
            row = {"algorithm": name, "inner_steps": steps, "meta_batch": args.meta_batch}
            for path in paths:
                reps = args.loop_reps or args.reps if path == "loop" else args.reps
                ms, setup, mem = time_path(path, cfg, device, data, name, reps)
                row[path] = {"ms": ms, "setup_s": setup, "peak_bytes": mem}
                print(
                    f"{name:7} steps={steps} {path:6} {ms:9.2f} ms/it  setup {setup:5.2f} s  "
                    f"peak +{mem / 2**20:8.1f} MiB",
                    flush=True,
                )
            rows.append(row)
    env = measure.environment(device)
    print(
        f"\n{env['device_name']} | torch {env['torch']} | {args.n_way}-way {args.k_shot}-shot, {args.k_query} queries, "
        f"meta-batch {args.meta_batch}"
    )
    print(f"{'algorithm':9}{'steps':>6}" + "".join(f"{p + ' ms':>12}" for p in paths) + f"{'loop/fast':>12}")
    for r in rows:
        best = min(r[p]["ms"] for p in paths if p != "loop")
        print(
            f"{r['algorithm']:9}{r['inner_steps']:>6}"
            + "".join(f"{r[p]['ms']:>12.2f}" for p in paths)
            + f"{r['loop']['ms'] / best:>11.1f}×"
        )
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"environment": env, "rows": rows, "date": time.strftime("%F")}, indent=1))


if __name__ == "__main__":
    main()
