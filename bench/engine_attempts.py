"""What each way of running the per-task loop gives: the attempts behind the engine's choices, measured.

    python bench/engine_attempts.py [--reps 5] [--configs default,seed,finn5,finn20] [--compile] [--out FILE]

Every attempt is the project's own per-task meta-gradient (``meta._loop_meta_gradient``: the inner loop by
``torch.autograd.grad``, one task at a time) with one thing changed, timed in one process on the same tasks, in
turn within every repetition, for MAML (second order) and FOMAML (first order), on the configs of
``bench/engine_speed.py``:

    nchw            the native fused batch norm, the default (NCHW) layout: the engine's choice
    channels-last   the same, 64-channel activations channel-innermost from the first convolution's output on
    primitive-bn    batch norm from primitives (what ``vmap`` needs), NCHW
    channels-last-primitive-bn
    pool-channels-last   NCHW, only the first two max-pools run in channels-last (converted there and back)
    func-grad       the inner loop by ``torch.func.grad`` instead of ``torch.autograd.grad`` (NCHW, fused)
    two-threads     the tasks split over two Python threads, one intra-op thread each, instead of one task at a
                    time on two intra-op threads: the engine's "threads" path (NCHW, fused)
    no-conv-bias    the convolutions' biases left out (batch norm on batch statistics subtracts any per-channel
                    constant, so they change nothing and their gradient is exactly zero), NCHW, fused
    bn-double-backward   the native batch norm, with its second derivative by hand (a closed form in one
                    custom autograd function) instead of autograd's (NCHW)
    conv0-matmul    the first convolution (one input channel) as a matrix product of unfolded patches, NCHW
    compiled        (--compile; first order only: inductor does not support a second derivative) the network's
                    forward through ``torch.compile`` (NCHW, fused); its compile time is printed beside it

Prints the median ms per meta-gradient, the ratio to the engine's choice (above 1: the attempt is slower) and
how far each attempt's float32 meta-gradient is from the float64 one (relative norm; on real characters, whose
flat backgrounds give the max-pools near-ties, a less precise kernel shows here as the gradient routed through
other pixels), and writes them with the machine named to --out (docs/results.md shows them). A benchmark, not a
test (tests/engine/test_gradients.py checks the engine's float32 error).
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
from mamlviz.engine import algorithms, inner, measure, meta, model  # noqa: E402
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


class _BatchNorm(torch.autograd.Function):
    """The native batch norm whose backward is ``_BatchNormBackward``: its second derivative by hand."""

    @staticmethod
    def forward(x, w, b):
        return torch.native_batch_norm(x, w, b, None, None, True, 0.0, model.BN_EPS)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(inputs[0], inputs[1], output[1], output[2])
        ctx.mark_non_differentiable(output[1], output[2])

    @staticmethod
    def backward(ctx, gy, _mean, _invstd):
        return _BatchNormBackward.apply(gy, *ctx.saved_tensors)


class _BatchNormBackward(torch.autograd.Function):
    """Batch norm's backward (native) as a function of (gy, x, w), differentiated once by the closed form: with
    x̂ = (x - μ)s, s = 1/σ, M elements per channel, P(u) = u - mean(u) - x̂ mean(u x̂), and the upstream gradients
    a, c, d of gx = γ s P(gy), gγ = Σ gy x̂, gβ = Σ gy:
        ∂gy = γ s P(a) + c x̂ + d,   ∂γ = s R,   ∂x = s P(u) - γ s² R x̂ / M,
    where R = Σ a (gy - mean(gy) - x̂ mean(gy x̂)) and u = c gy - γ s (gy Σ(a x̂) / M + a mean(gy x̂))."""

    @staticmethod
    def forward(gy, x, w, mean, invstd):
        return torch.ops.aten.native_batch_norm_backward(
            gy, x, w, None, None, mean, invstd, True, model.BN_EPS, [True, True, True]
        )

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(*inputs)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, a, c, d):
        g, x, w, mean, invstd = ctx.saved_tensors
        m, dims = x.numel() // x.shape[1], (0, 2, 3)
        s, gamma = invstd.view(1, -1, 1, 1), w.view(1, -1, 1, 1)
        xh = (x - mean.view(1, -1, 1, 1)) * s
        m1 = (g * xh).sum(dims, keepdim=True) / m
        a = torch.zeros_like(g) if a is None else a
        asum, b = a.sum(dims, keepdim=True), (a * xh).sum(dims, keepdim=True)
        r = (a * g).sum(dims, keepdim=True) - g.sum(dims, keepdim=True) * asum / m - m1 * b
        gs = gamma * s
        dg = gs * (a - asum / m - xh * (b / m))
        u = -gs * (g * (b / m) + m1 * a)
        if c is not None:
            dg, u = dg + c.view(1, -1, 1, 1) * xh, u + c.view(1, -1, 1, 1) * g
        if d is not None:
            dg = dg + d.view(1, -1, 1, 1)
        dx = s * (u - u.mean(dims, keepdim=True) - xh * (u * xh).mean(dims, keepdim=True)) - (gs * s * r / m) * xh
        return dg, dx, (s * r).view(-1), None, None


def _conv0_matmul(h, w, b):
    """The one-channel first convolution as (64 x 9) @ (9 x N·H·W) unfolded patches, back to NCHW."""
    n, _, height, width = h.shape
    cols = F.unfold(h, 3, padding=1).transpose(0, 1).reshape(9, n * height * width)
    y = (w.view(w.shape[0], 9) @ cols).view(-1, n, height, width).transpose(0, 1)
    return (y + b[None, :, None, None]).contiguous()


def _blocks(params, x, conv_bias=True, norm=model.fused_batch_norm, conv0=None, channels_last=False):
    """The network with one thing swappable: the conv biases, the batch norm, the first convolution, the layout
    (channels-last from the first convolution's output on, whose single input channel is fast in NCHW)."""
    h = x
    for k in range(model.BLOCKS):
        w, b = params[f"conv{k}.weight"], params[f"conv{k}.bias"] if conv_bias else None
        h = conv0(h, w, b) if conv0 is not None and k == 0 else F.conv2d(h, w, b, padding=1)
        if k == 0 and channels_last:
            h = h.contiguous(memory_format=torch.channels_last)
        h = F.relu(F.max_pool2d(norm(h, params[f"bn{k}.weight"], params[f"bn{k}.bias"]), 2))
    return model.head(params, h.flatten(1))


FORWARDS = {
    "nchw": model.forward_fused,
    "channels-last": lambda p, x: _blocks(p, x, channels_last=True),
    "primitive-bn": model.forward,
    "channels-last-primitive-bn": lambda p, x: _blocks(p, x, norm=model.batch_norm, channels_last=True),
    "pool-channels-last": _pool_channels_last,
    "bn-double-backward": lambda p, x: _blocks(p, x, norm=lambda h, w, b: _BatchNorm.apply(h, w, b)[0]),
    "conv0-matmul": lambda p, x: _blocks(p, x, conv0=_conv0_matmul),
}


def _loop(forward, how=None, keys=None):
    """The engine's per-task loop with ``forward``; with ``how`` (the inner loop's "func" for torch.func.grad,
    "graph" for autograd) or ``keys`` (the entries that adapt and are differentiated; the others' gradient is
    left 0) a loop of its own that differs in that only."""

    def run(params, b, cfg, first_order):
        if how is None and keys is None:
            kw = dict(inner_lr=cfg.inner_lr, inner_steps=cfg.inner_steps, forward=forward, state=None)
            alg = algorithms.get("fomaml" if first_order else "maml")
            return meta._loop_meta_gradient(alg, params, b.xs, b.ys, b.xq, b.yq, **kw)[0]
        adapted = list(params) if keys is None else keys
        inner_how = {"func": "func-const", "graph": "const"}[how] if first_order else how
        leaves = {k: v.detach().requires_grad_() for k, v in params.items()}
        total = {k: torch.zeros_like(v) for k, v in leaves.items()}
        for t in range(b.xs.shape[0]):
            kw = dict(inner_lr=cfg.inner_lr, inner_steps=cfg.inner_steps, forward=forward, keys=adapted)
            fast = inner.adapt(leaves, b.xs[t], b.ys[t], how=inner_how, **kw)
            if first_order:
                fast = {k: v.detach().requires_grad_() for k, v in fast.items()}
            loss = F.cross_entropy(forward(fast, b.xq[t]), b.yq[t])
            at = fast if first_order else leaves
            for k, g in zip(adapted, torch.autograd.grad(loss, [at[k] for k in adapted])):
                total[k] += g
        return {k: v / b.xs.shape[0] for k, v in total.items()}  # the mean over the tasks, as the engine's

    return run


_NO_CONV_BIAS = _loop(
    lambda p, x: _blocks(p, x, conv_bias=False),  # unused conv biases: their gradient is zero, not taken
    how="graph",
    keys=[k for k in model.init_params(1) if not (k.startswith("conv") and k.endswith(".bias"))],
)


def _two_threads(params, b, cfg, first_order):
    """The engine's threads path: the tasks split among worker threads, one intra-op thread each on 2 cores."""
    kw = dict(inner_lr=cfg.inner_lr, inner_steps=cfg.inner_steps, first_order=first_order)
    return meta.meta_gradient(params, b.xs, b.ys, b.xq, b.yq, path="threads", **kw)[0]


def _double(b):
    """A task batch with its images in float64."""
    return type(b)(b.xs.double(), b.ys, b.xq.double(), b.yq)


def _flat(g, params) -> torch.Tensor:
    """An attempt's meta-gradient (a dict in ``params``' order) as one vector."""
    return torch.cat([g[k].flatten() for k in params]).detach()


def run_config(name, changes, data, reps, compile_):
    cfg = RunConfig(**{"n_way": 5, "k_shot": 1, "device": "cpu", **changes, "train_tasks": changes["meta_batch"]})
    sampler = TaskSampler(data.train, cfg.n_way, cfg.k_shot, cfg.k_query, seed=0)
    batches = [sampler.sample(cfg.meta_batch) for _ in range(4)]
    params = model.init_params(cfg.n_way, 0)
    rows = {}
    for order, first_order in (("maml", False), ("fomaml", True)):
        attempts = {n: _loop(f) for n, f in FORWARDS.items()}
        attempts["func-grad"] = _loop(model.forward_fused, how="func")
        attempts["no-conv-bias"] = _NO_CONV_BIAS
        attempts["two-threads"] = _two_threads
        compile_s = None
        if compile_ and first_order:
            compiled = torch.compile(model.forward_fused)
            attempts["compiled"] = _loop(compiled)
        chosen = "nchw"
        exact = _flat(  # the float64 meta-gradient on the same tasks, by the primitive network
            _loop(model.forward)({k: v.double() for k, v in params.items()}, _double(batches[0]), cfg, first_order),
            params,
        )
        times, errors, grads = {a: [] for a in attempts}, {}, {}
        for a, fn in list(attempts.items()):  # warm-up (and compilation), errors kept, the gradient kept
            t0 = time.perf_counter()
            try:
                grads[a] = _flat(fn(params, batches[0], cfg, first_order), params)
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
            "error_to_float64": {a: ((g.double() - exact).norm() / exact.norm()).item() for a, g in grads.items()},
            "ratio_to_chosen": {a: m / ms[chosen] for a, m in ms.items()},
            "errors": errors,
            **({"compile_s": compile_s} if compile_s is not None else {}),
        }
        print(
            f"{name:8} {order:7} "
            + "  ".join(f"{a} {m:7.1f} ms ({m / ms[chosen]:.2f}x)" for a, m in ms.items())
            + (f"  compile {compile_s:.0f} s" if compile_s is not None else "")
            + "".join(f"  [{a}: {e}]" for a, e in errors.items())
            + "  float32 error: "
            + ", ".join(f"{a} {d:.0e}" for a, d in rows[order]["error_to_float64"].items()),
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
