"""What each way of running the per-task loop gives: the attempts behind the engine's choices, measured.

    python bench/engine_attempts.py [--reps 5] [--configs default,seed,finn5,finn20] [--compile] [--out FILE]

Every attempt is the project's own per-task meta-gradient (``meta._loop_meta_gradient``: the inner loop by
``torch.autograd.grad``, one task at a time) with one thing changed, timed in one process on the same tasks, in
turn within every repetition, for MAML (second order) and FOMAML (first order), on the configs of
``bench/engine_speed.py``:

    nchw            the native fused batch norm, the default (NCHW) layout: the engine's second-order choice
    channels-last   the same, 64-channel activations channel-innermost from the first convolution's output on:
                    the engine's first-order and evaluation choice
    primitive-bn    batch norm from primitives (what ``vmap`` needs), NCHW
    channels-last-primitive-bn
    pool-channels-last   NCHW, only the first two max-pools run in channels-last (converted there and back)
    func-grad       the inner loop by ``torch.func.grad`` instead of ``torch.autograd.grad`` (NCHW, fused)
    two-threads     the tasks split over two Python threads, one intra-op thread each, instead of one task at a
                    time on two intra-op threads: the engine's "threads" path (NCHW, fused; channels-last for
                    first order)
    compiled        (--compile; first order only: inductor does not support a second derivative) the network's
                    forward through ``torch.compile``, channels-last; its compile time is printed beside it

Prints the median ms per meta-gradient and the ratio to the engine's choice (above 1: the attempt is slower),
and writes them with the machine named to --out (docs/results.md shows them). A benchmark, not a test.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).parent))
from engine_speed import CONFIGS  # noqa: E402  (the same configs as the side-by-side benchmark)

from mamlviz import RunConfig  # noqa: E402
from mamlviz.engine import inner, measure, meta, model  # noqa: E402
from mamlviz.engine.data import load_data  # noqa: E402
from mamlviz.engine.tasks import TaskSampler  # noqa: E402


def _pool_channels_last(params, x):
    """NCHW, with the first two (largest) max-pools in channels-last."""
    h = x
    for b in range(model.BLOCKS):
        h = F.conv2d(h, params[f"conv{b}.weight"], params[f"conv{b}.bias"], padding=1)
        h = model.fused_batch_norm(h, params[f"bn{b}.weight"], params[f"bn{b}.bias"])
        if b < 2:
            h = F.max_pool2d(h.contiguous(memory_format=torch.channels_last), 2).contiguous()
        else:
            h = F.max_pool2d(h, 2)
        h = F.relu(h)
    return model.head(params, h.flatten(1))


FORWARDS = {
    "nchw": model.forward_fused,
    "channels-last": model.forward_fused_channels_last,
    "primitive-bn": model.forward,
    "channels-last-primitive-bn": lambda p, x: model.forward(p, x, channels_last=True),
    "pool-channels-last": _pool_channels_last,
}


def _loop(forward, how=None):
    def run(params, b, cfg, first_order):
        kw = dict(inner_lr=cfg.inner_lr, inner_steps=cfg.inner_steps, first_order=first_order, forward=forward)
        if how is None:
            return meta._loop_meta_gradient(params, b.xs, b.ys, b.xq, b.yq, **kw)[0]
        leaves = {k: v.detach().requires_grad_() for k, v in params.items()}  # the inner loop by torch.func
        total = [torch.zeros_like(v) for v in leaves.values()]
        for t in range(b.xs.shape[0]):
            fast = inner.adapt(
                leaves,
                b.xs[t],
                b.ys[t],
                inner_lr=cfg.inner_lr,
                inner_steps=cfg.inner_steps,
                forward=forward,
                how="func-const" if first_order else "func",
            )
            if first_order:
                fast = {k: v.detach().requires_grad_() for k, v in fast.items()}
            loss = F.cross_entropy(forward(fast, b.xq[t]), b.yq[t])
            for acc, g in zip(total, torch.autograd.grad(loss, list((fast if first_order else leaves).values()))):
                acc += g
        return total

    return run


def _two_threads(params, b, cfg, first_order):
    """The engine's threads path: the tasks split among worker threads, one intra-op thread each on 2 cores."""
    kw = dict(inner_lr=cfg.inner_lr, inner_steps=cfg.inner_steps, first_order=first_order)
    return meta.meta_gradient(params, b.xs, b.ys, b.xq, b.yq, path="threads", **kw)[0]


def run_config(name, changes, data, reps, compile_):
    cfg = RunConfig(**{"n_way": 5, "k_shot": 1, "device": "cpu", **changes, "train_tasks": changes["meta_batch"]})
    sampler = TaskSampler(data.train, cfg.n_way, cfg.k_shot, cfg.k_query, seed=0)
    batches = [sampler.sample(cfg.meta_batch) for _ in range(4)]
    params = model.init_params(cfg.n_way, 0)
    rows = {}
    for order, first_order in (("maml", False), ("fomaml", True)):
        attempts = {n: _loop(f) for n, f in FORWARDS.items()}
        attempts["func-grad"] = _loop(model.forward_fused, how="func")
        attempts["two-threads"] = _two_threads
        compile_s = None
        if compile_ and first_order:
            compiled = torch.compile(model.forward_fused_channels_last)
            attempts["compiled"] = _loop(compiled)
        chosen = "channels-last" if first_order else "nchw"
        times, errors = {a: [] for a in attempts}, {}
        for a, fn in list(attempts.items()):  # warm-up (and compilation), errors kept
            t0 = time.perf_counter()
            try:
                fn(params, batches[0], cfg, first_order)
            except Exception as e:  # an attempt that does not run here is reported, not fatal
                errors[a] = f"{type(e).__name__}: {e}"[:200]
                del attempts[a], times[a]
            if a == "compiled":
                compile_s = time.perf_counter() - t0
        for r in range(reps):
            for a, fn in attempts.items():
                t0 = time.perf_counter()
                fn(params, batches[r % 4], cfg, first_order)
                times[a].append((time.perf_counter() - t0) * 1000)
        ms = {a: statistics.median(t) for a, t in times.items()}
        rows[order] = {
            "chosen": chosen,
            "ms_median": ms,
            "ratio_to_chosen": {a: m / ms[chosen] for a, m in ms.items()},
            "errors": errors,
            **({"compile_s": compile_s} if compile_s is not None else {}),
        }
        print(
            f"{name:8} {order:7} "
            + "  ".join(f"{a} {m:7.1f} ms ({m / ms[chosen]:.2f}x)" for a, m in ms.items())
            + (f"  compile {compile_s:.0f} s" if compile_s is not None else "")
            + "".join(f"  [{a}: {e}]" for a, e in errors.items()),
            flush=True,
        )
    return {"name": name, "what": CONFIGS[name][0], "config": cfg.to_dict(), "results": rows}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--configs", default=",".join(CONFIGS))
    ap.add_argument("--compile", action="store_true", help="time torch.compile too (first order; minutes to compile)")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    data = load_data(torch.device("cpu"))
    out = [run_config(n, CONFIGS[n][1], data, args.reps, args.compile) for n in args.configs.split(",")]
    env = measure.environment(torch.device("cpu"))
    print(f"\n{env['device_name']} | torch {env['torch']} | median of {args.reps} alternated repetitions")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"environment": env, "reps": args.reps, "configs": out}, indent=1) + "\n")


if __name__ == "__main__":
    main()
