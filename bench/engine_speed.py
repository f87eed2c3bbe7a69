"""The project's engine against the field's plain per-task code, side by side: ms per meta-iteration.

    python bench/engine_speed.py [--reps 15] [--configs default,seed] [--end-to-end 3] [--out FILE]

Contenders, in one process, on the same tasks, in turn within every repetition (so that a noisy moment
of a shared machine hits them all alike):

    project  mamlviz's MetaStep on the per-task loop path: meta_gradient + the engine's Adam
    project-threads  the same per-task loop with the tasks split among worker threads (one intra-op thread
             each on 2 cores): the "threads" path
    project-tasks    all tasks at once as groups of channels: the "tasks" path (MAML and FOMAML)
    plain    a per-task loop as the field's tutorials write it: an nn.Module (Conv2d, BatchNorm2d on batch
             statistics, ReLU, MaxPool2d, Linear) called through torch.func.functional_call,
             torch.autograd.grad(create_graph=True) for the inner steps, native F.batch_norm,
             torch.optim.Adam; each task's query loss backpropagated as it comes
    higher   the higher library's innerloop_ctx (optional: pip install higher; skipped if it is missing)

for MAML and FOMAML; the other algorithms of the variant table (Reptile, ANIL, Meta-SGD, MAML++) are timed
on the project's engine alone, in the same rotation (no peer implements them the same way). Prints the
median ms per meta-iteration, the ratio peer / project (above 1: the
project is faster) and the bytes each holds for backpropagation in one meta-iteration (saved-tensor
hooks, exact), and writes them with the machine named to --out. A benchmark, not a test: the tests check
exactness, never time.

``--end-to-end N`` then times, N times, the default CPU comparison from the command line as a user runs it
(``python -m mamlviz compare --device cpu``: a fresh interpreter, data, path choice, both trainings, the memory
and alignment analysis, validation, evaluation of three models, the record written) and keeps where the time
went from each run's record.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from mamlviz import RunConfig, variants
from mamlviz.engine import algorithms, measure, meta, model
from mamlviz.engine.data import load_data
from mamlviz.engine.saved_memory import SavedCounter
from mamlviz.engine.step import MetaStep
from mamlviz.engine.tasks import TaskSampler

CONFIGS = {  # name -> (what, config): the issue's configs, Finn et al.'s and the CPU default
    "seed": (
        "5-way 1-shot, 15 queries, meta-batch 4, 5 inner steps at 0.01",
        dict(k_query=15, meta_batch=4, inner_steps=5, inner_lr=0.01),
    ),
    "default": (
        "5-way 1-shot, 3 queries, meta-batch 2, 1 step at 0.4 (the CPU default)",
        dict(k_query=3, meta_batch=2, inner_steps=1, inner_lr=0.4),
    ),
    "finn5": (
        "Finn et al. 5-way 1-shot: 1 query, meta-batch 32, 1 step at 0.4",
        dict(k_query=1, meta_batch=32, inner_steps=1, inner_lr=0.4),
    ),
    "finn20": (
        "20-way 1-shot: 1 query, meta-batch 16, 5 steps at 0.1",
        dict(n_way=20, k_query=1, meta_batch=16, inner_steps=5, inner_lr=0.1),
    ),
}


class PlainNet(nn.Module):
    """The 4-block Omniglot CNN as the tutorials write it, with the project's initialisation."""

    def __init__(self, n_way: int, seed: int):
        super().__init__()
        blocks = []
        for b in range(model.BLOCKS):
            blocks += [
                nn.Conv2d(1 if b == 0 else model.FILTERS, model.FILTERS, 3, padding=1),
                nn.BatchNorm2d(model.FILTERS, track_running_stats=False),
                nn.ReLU(),
                nn.MaxPool2d(2),
            ]
        self.body = nn.Sequential(*blocks, nn.Flatten())
        self.head = nn.Linear(model.FILTERS, n_way)
        init = model.init_params(n_way, seed)  # the same starting point as the project's
        with torch.no_grad():
            for b in range(model.BLOCKS):
                self.body[4 * b].weight.copy_(init[f"conv{b}.weight"])
                self.body[4 * b].bias.copy_(init[f"conv{b}.bias"])
            self.head.weight.copy_(init["head.weight"])
            self.head.bias.copy_(init["head.bias"])

    def forward(self, x):
        return self.head(self.body(x))


def plain_step(net, opt, b, inner_lr, steps, first_order):
    params = dict(net.named_parameters())
    opt.zero_grad(set_to_none=True)
    n = b.xs.shape[0]
    for t in range(n):
        fast = params
        for _ in range(steps):
            loss = F.cross_entropy(functional_call(net, fast, (b.xs[t],)), b.ys[t])
            grads = torch.autograd.grad(loss, list(fast.values()), create_graph=not first_order)
            fast = {k: w - inner_lr * g for (k, w), g in zip(fast.items(), grads)}
        (F.cross_entropy(functional_call(net, fast, (b.xq[t],)), b.yq[t]) / n).backward()
    opt.step()


def higher_step(higher, net, opt, inner_opt, b, steps, first_order):
    opt.zero_grad(set_to_none=True)
    n = b.xs.shape[0]
    for t in range(n):
        with higher.innerloop_ctx(net, inner_opt, copy_initial_weights=False, track_higher_grads=not first_order) as (
            fnet,
            diffopt,
        ):
            for _ in range(steps):
                diffopt.step(F.cross_entropy(fnet(b.xs[t]), b.ys[t]))
            loss = F.cross_entropy(fnet(b.xq[t]), b.yq[t]) / n
            if first_order:  # the query gradient at the adapted parameters, given to the initial ones
                for p, g in zip(net.parameters(), torch.autograd.grad(loss, list(fnet.parameters()))):
                    p.grad = g if p.grad is None else p.grad + g
            else:
                loss.backward()
    opt.step()


def saved_bytes(fn) -> int:
    counter = SavedCounter()
    with torch.autograd.graph.saved_tensors_hooks(counter.pack, counter.unpack):
        fn()
    return counter.peak


def threads_saved_bytes(step: MetaStep, b) -> int:
    """What the threads path holds for backpropagation, counted in every worker (saved-tensor hooks are per
    thread, so the engine hands the counting hooks to each): its meta-gradient, as the step runs it."""
    counter = SavedCounter()
    meta.meta_gradient(
        step.params, b.xs, b.ys, b.xq, b.yq, path="threads", hooks=(counter.pack, counter.unpack), **step.kw
    )
    return counter.peak


def run_config(name, what, changes, data, reps, higher):
    base = {"n_way": 5, "k_shot": 1, "device": "cpu", "path": "loop", "outer_lr": 0.001}
    cfg = RunConfig(**{**base, **changes, "train_tasks": changes["meta_batch"]})
    sampler = TaskSampler(data.train, cfg.n_way, cfg.k_shot, cfg.k_query, seed=0)
    batches = [sampler.sample(cfg.meta_batch) for _ in range(4)]
    rows = {}
    for algorithm, v in variants.VARIANTS.items():
        first_order, peers = v.first_order, algorithm in ("maml", "fomaml")
        contenders, steps = {}, {}
        for path in ("loop", "threads", "tasks") if peers else ("loop", "threads"):
            params = algorithms.get(algorithm).complete(model.init_params(cfg.n_way, 0), cfg.inner_lr, cfg.inner_steps)
            step = MetaStep(path, params, cfg, algorithm, batches[0], total=reps + 1)
            name_ = "project" if path == "loop" else f"project-{path}"
            contenders[name_], steps[name_] = (lambda b, s=step: s(b)), step
        if not peers:  # MAML's project step in the same rotation: the ratio to it is measured under the same load
            maml = MetaStep("loop", model.init_params(cfg.n_way, 0), cfg, "maml", batches[0])
            contenders["maml"] = lambda b, s=maml: s(b)
        if peers:
            net = PlainNet(cfg.n_way, 0)
            opt = torch.optim.Adam(net.parameters(), lr=cfg.outer_lr)
            contenders["plain"] = lambda b, net=net, opt=opt, fo=first_order: plain_step(
                net, opt, b, cfg.inner_lr, cfg.inner_steps, fo
            )
        if peers and higher is not None:
            hnet = PlainNet(cfg.n_way, 0)
            hopt, hinner = (
                torch.optim.Adam(hnet.parameters(), lr=cfg.outer_lr),
                torch.optim.SGD(hnet.parameters(), lr=cfg.inner_lr),
            )
            contenders["higher"] = lambda b, net=hnet, o=hopt, i=hinner, fo=first_order: higher_step(
                higher, net, o, i, b, cfg.inner_steps, fo
            )
        times = {c: [] for c in contenders}
        for fn in contenders.values():  # warm-up
            fn(batches[0])
        for r in range(reps):
            for c, fn in contenders.items():  # in turn: a busy moment slows every contender alike
                t0 = time.perf_counter()
                fn(batches[r % 4])
                times[c].append((time.perf_counter() - t0) * 1000)
        row = {}
        for c, fn in contenders.items():
            held = (
                threads_saved_bytes(steps[c], batches[0])
                if c == "project-threads"
                else saved_bytes(lambda fn=fn: fn(batches[0]))
            )
            row[c] = {"ms_median": statistics.median(times[c]), "saved_bytes": held}
        for c in contenders:
            row[c]["ratio_to_project"] = row[c]["ms_median"] / row["project"]["ms_median"]
        if not peers:  # only the algorithm's own figures, and how it compares with MAML's in its rotation
            maml_ms = row.pop("maml")["ms_median"]
            row = {c: {**v, "maml_over_it": maml_ms / v["ms_median"]} for c, v in row.items()}
        rows[algorithm] = row
        print(
            f"{name:8} {algorithm:7} "
            + "  ".join(
                f"{c} {v['ms_median']:8.1f} ms ({v['ratio_to_project']:.2f}x, {v['saved_bytes'] / 2**20:6.1f} MiB held)"
                for c, v in row.items()
            ),
            flush=True,
        )
    return {"name": name, "what": what, "config": cfg.to_dict(), "results": rows}


def end_to_end(runs: int) -> dict:
    """Wall-clock seconds of the default CPU comparison from the CLI, ``runs`` times, and its phases."""
    command = [sys.executable, "-m", "mamlviz", "compare", "--device", "cpu", "--quiet"]
    walls, phases = [], []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "run.json"
            t0 = time.perf_counter()
            subprocess.run([*command, "--out", str(out)], check=True, capture_output=True)
            walls.append(time.perf_counter() - t0)
            record = json.loads(out.read_text())
        setup = record["setup"]
        phases.append(
            {
                "path": setup["path"],
                "path_selection_s": setup["path_selection"].get("probe_s", 0.0),
                "train_s": {n: r["train_time_s"] for n, r in record["results"].items()},
                "analysis_s": setup["analysis_time_s"],
                "eval_s": setup["eval_time_s"],
                "test_accuracy": {n: r["test"]["accuracy"] for n, r in record["results"].items()},
            }
        )
        print(f"end to end: {walls[-1]:.1f} s ({phases[-1]})", flush=True)
    return {
        "command": "python -m mamlviz compare --device cpu",
        "config": record["config"],
        "wall_s": walls,
        "median_s": statistics.median(walls),
        "runs": phases,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=15)
    ap.add_argument("--configs", default=",".join(CONFIGS))
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    ap.add_argument("--end-to-end", type=int, default=0, help="time the CLI's default CPU comparison this many times")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        import higher
    except ImportError:
        higher = None
        print("higher is not installed (pip install higher): measuring project and plain only", flush=True)
    data = load_data(torch.device("cpu"))
    out = [run_config(n, *CONFIGS[n], data, args.reps, higher) for n in args.configs.split(",") if n]
    whole = end_to_end(args.end_to_end) if args.end_to_end else None
    env = measure.environment(torch.device("cpu"))
    print(f"\n{env['device_name']} | torch {env['torch']} | median of {args.reps} alternated repetitions")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        result = {"environment": env, "reps": args.reps, "configs": out, **({"end_to_end": whole} if whole else {})}
        args.out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
