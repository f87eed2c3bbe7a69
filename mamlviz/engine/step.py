"""One meta-iteration by a chosen path, and the choice of path: measured, not assumed.

Paths: "loop" (the per-task autograd reference), "vmap" (all tasks at once with torch.func) and,
on CUDA, "graph" (the vmapped meta-step and the Adam update captured once in a CUDA graph and
replayed). ``select_path`` times the candidates briefly on the device for the run's own config.
"""

from __future__ import annotations

import math
import time

import torch

from .. import variants
from ..config import PATH_MARGIN, RunConfig
from . import algorithms, measure, meta, model
from .adam import OPTIMIZERS
from .data import Data
from .tasks import TaskBatch, TaskSampler

PROBE_SEED_OFFSET = 7  # the probe's tasks are not the training stream's
MARGIN = PATH_MARGIN  # another path must be this many times faster than the device's usual one to be chosen
REPEATS = 3  # interleaved timings of each path; the fastest of each counts
SLOW_STEP_S = 1.0  # a warm-up this long (105x105 images): one timing of each path is enough, the gap is large
_CHOSEN: dict[tuple, tuple[str, dict]] = {}  # (machine, config) -> the path chosen there, for this process


class MetaStep:
    """One meta-iteration (meta-gradient + Adam, in place on ``params``) by a given path.

    "graph" (CUDA only) captures the vectorized meta-step and the Adam update once and replays
    it; the batch is copied into static buffers first. Capture time is kept in ``setup_s``.
    """

    def __init__(
        self,
        path: str,
        params: dict,
        cfg: RunConfig,
        algorithm: str,
        warm_batch: TaskBatch,
        optimizer: str = "mamlviz",
        total: int = 1,
    ):
        """``params``: the algorithm's own (``Algorithm.complete``); ``total``: the meta-iterations planned,
        over which the algorithm's schedule runs (MAML++'s loss weights and outer learning rate)."""
        self.path, self.params, self.outer_lr = path, params, cfg.outer_lr
        self.algorithm = algorithms.get(algorithm)
        self.adam = OPTIMIZERS[optimizer](params, cfg.outer_lr)
        self.state = self.algorithm.state(warm_batch.xs.device, cfg.inner_steps)
        self.iteration, self.total, self.lr_factor = 0, total, 1.0
        if path == "graph":  # one capture serves the whole run: nothing may depend on a Python value that changes
            if getattr(self.algorithm, "first_order_until", 0):
                raise ValueError("path: derivative-order annealing changes the graph mid-run; use 'vmap' for it")
            self.state["every_step"] = True
        self.kw = dict(
            inner_lr=cfg.inner_lr,
            inner_steps=cfg.inner_steps,
            algorithm=algorithm,
            state=self.state,
            forward=model.for_mode(cfg.batch_norm),
        )
        self.setup_s = 0.0
        if path == "graph":
            t0 = time.perf_counter()
            self._capture(warm_batch)
            self.setup_s = time.perf_counter() - t0

    def _body(self, b: TaskBatch):
        g, loss, acc = meta.meta_gradient(
            self.params, b.xs, b.ys, b.xq, b.yq, path="vmap" if self.path == "graph" else self.path, **self.kw
        )
        self.adam.update(self.params, g)
        return loss, acc

    def _capture(self, warm: TaskBatch):
        self.static = TaskBatch(*(t.clone() for t in (warm.xs, warm.ys, warm.xq, warm.yq)))
        saved = {k: t.clone() for k, t in self.params.items()}
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(3):  # warm-up on a side stream, as CUDA graph capture requires
                self._body(self.static)
        torch.cuda.current_stream().wait_stream(side)
        with torch.no_grad():  # the warm-up must not count as training
            for k, t in self.params.items():
                t.copy_(saved[k])
        self.adam.reset()
        self.algorithm.schedule(self.state, 0.0)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self.static_out = self._body(self.static)
        torch.cuda.synchronize()

    def __call__(self, batch: TaskBatch, progress: float | None = None):
        """One meta-iteration; ``progress`` (0..1) through training, by default the share of ``total`` done."""
        progress = self.iteration / max(1, self.total) if progress is None else progress
        factor = self.algorithm.schedule(self.state, progress)
        if factor != self.lr_factor:
            self.adam.set_lr(self.outer_lr * factor)
            self.lr_factor = factor
        self.iteration += 1
        if self.path != "graph":
            return self._body(batch)
        for dst, src in zip(
            (self.static.xs, self.static.ys, self.static.xq, self.static.yq), (batch.xs, batch.ys, batch.xq, batch.yq)
        ):
            dst.copy_(src)
        self.graph.replay()
        return self.static_out

    def close(self):
        self.graph = self.static = self.static_out = None


def candidate_paths(device: torch.device) -> list[str]:
    """The exact paths to time on ``device``, its usual one first."""
    # "tasks" (all tasks as groups of channels) wins on CPU at large meta-batches and loses at many inner steps
    # (bench/engine_speed.py): timed for each config like the others. "threads" (the loop's tasks split among
    # worker threads) wins where each task's small operations leave cores idle: timed where there are 2 or more
    # intra-op threads to split. vmap never won on CPU (2-5x slower than the loop in every record and benchmark;
    # 5.5x at 105x105), so a CPU run does not spend time timing it.
    if device.type == "cuda":
        return ["graph", "vmap", "tasks"]
    return ["loop", "threads", "tasks"] if meta.splits(device) else ["loop", "tasks"]


def _key(cfg: RunConfig, device: torch.device) -> tuple:
    """What the choice of path depends on: the machine and the shapes of one meta-iteration."""
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else measure.cpu_name()
    shape = (cfg.image_size, cfg.n_way, cfg.k_shot, cfg.k_query, cfg.meta_batch, cfg.inner_steps, tuple(cfg.variants))
    return (name, torch.__version__, torch.get_num_threads(), *shape)


def select_path(cfg: RunConfig, device: torch.device, data: Data, init: dict) -> tuple[str, dict]:
    """The fastest correct path on this device for this config: each candidate timed a few times, interleaved,
    the fastest timing of each counting; the device's usual path (the per-task loop on CPU, the CUDA graph
    on a GPU) is kept unless another is clearly faster (``MARGIN``), so that a noisy moment does not flip
    the choice. The choice is remembered per machine and config for the rest of the process. A run with fewer
    meta-iterations planned (all variants together) than the timing itself takes the usual path untimed."""
    if cfg.path != "auto":
        if cfg.path == "graph" and device.type != "cuda":
            raise ValueError("path: 'graph' needs a CUDA device; use 'loop', 'vmap' or 'auto' on CPU")
        return cfg.path, {"chosen_by": "config"}
    probe_steps = len(candidate_paths(device)) * (1 + REPEATS)
    planned = None if cfg.time_budget_s else cfg.iterations * len(cfg.variants)
    if planned is not None and planned < probe_steps:  # timing the paths would take longer than the training
        return candidate_paths(device)[0], {
            "chosen_by": f"the device's usual path: {planned} meta-iterations in all, fewer than the "
            f"{probe_steps} that timing the paths takes"
        }
    key = _key(cfg, device)
    if key in _CHOSEN:
        path, selection = _CHOSEN[key]
        return path, {**selection, "chosen_by": "measurement, earlier in this process (the same machine and config)"}
    tasks = cfg.meta_batch if device.type == "cuda" else min(cfg.meta_batch, 4)
    sampler = TaskSampler(data.train, cfg.n_way, cfg.k_shot, cfg.k_query, seed=cfg.seed + PROBE_SEED_OFFSET)
    batch = sampler.sample(tasks)
    timings, errors, steps, warm = {}, {}, {}, {}
    t_start = time.perf_counter()
    for path in candidate_paths(device):
        try:
            ref = variants.reference_of(cfg.variants)
            params = algorithms.get(ref).complete(
                {k: v.clone() for k, v in init.items()}, cfg.inner_lr, cfg.inner_steps
            )
            steps[path] = MetaStep(path, params, cfg, ref, warm_batch=batch)
            t0 = time.perf_counter()
            steps[path](batch)  # warm-up
            warm[path] = time.perf_counter() - t0
        except Exception as e:  # a path that fails here is simply not chosen, and the reason is kept
            errors[path] = f"{type(e).__name__}: {e}"[:300]
            steps.pop(path, None)
    # interleaved repetitions, best of each, so that a noisy moment does not pick the path
    repeats = 1 if max(warm.values(), default=0.0) >= SLOW_STEP_S else REPEATS
    for _ in range(repeats):
        for path, step in steps.items():
            t0 = measure.now(device)
            step(batch)
            ms = (measure.now(device) - t0) * 1000 * cfg.meta_batch / tasks
            timings[path] = min(ms, timings.get(path, math.inf))
    for step in steps.values():
        step.close()
    del steps
    measure.release_memory(device)
    if not timings:
        raise RuntimeError(f"no meta-gradient path works on {device}: {errors}")
    usual = candidate_paths(device)[0]
    fastest = min(timings, key=timings.get)
    best = usual if usual in timings and timings[fastest] * MARGIN > timings[usual] else fastest
    selection = {
        "chosen_by": "measurement",
        "probe_ms_per_iteration": timings,
        "probe_tasks": tasks,
        "repeats": repeats,
        "margin": MARGIN,
        "errors": errors,
        "probe_s": time.perf_counter() - t_start,
    }
    _CHOSEN[key] = best, selection
    return best, selection
