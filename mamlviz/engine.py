"""compare(): train MAML, then FOMAML, on the same task stream; evaluate both; return a run record.

Everything a figure in the app needs is measured here, on the device, and written into the
record with its label: training time (synchronized; data loading, path selection and CUDA-graph
capture reported apart), per-iteration time, peak memory, curves, test accuracy with a 95 %
confidence interval, and the un-meta-trained initialisation adapted the same way (the baseline).
"""
from __future__ import annotations

import math
import statistics
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Callable

import torch

from . import measure, meta, model, omniglot, records
from .adam import Adam
from .config import RunConfig
from .tasks import TaskBatch, TaskSampler, class_images

ALGORITHMS = (("maml", False), ("fomaml", True))
PROGRESS_INTERVAL_S = 0.25
CURVE_POINTS = 400
SPLIT_SEED = 0
EVAL_SEED_OFFSET = 1_000_003  # test tasks come from their own stream, the same for every model
EVAL_CHUNK = {"cuda": 200, "cpu": 50}
Progress = Callable[[dict], None]


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("device: 'cuda' was asked for but no CUDA GPU is available (use 'cpu' or 'auto')")
    if name not in ("cpu", "cuda"):
        raise ValueError(f"device: must be one of auto, cpu, cuda, got {name!r}")
    return torch.device(name)


@dataclass
class Data:
    train: torch.Tensor  # uint8 [4800, 20, 28, 28] on the device
    test: torch.Tensor  # uint8 [1692, 20, 28, 28]
    load_s: float


def load_data(device: torch.device) -> Data:
    """The shipped array, split 1,200/423 characters (fixed seed), with rotations, on the device."""
    t0 = time.perf_counter()
    data = omniglot.load()
    train_chars, test_chars = omniglot.split_characters(SPLIT_SEED)
    out = Data(class_images(data, train_chars, device), class_images(data, test_chars, device), 0.0)
    measure.sync(device)
    out.load_s = time.perf_counter() - t0
    return out


class MetaStep:
    """One meta-iteration (meta-gradient + Adam, in place on ``params``) by a given path.

    "graph" (CUDA only) captures the vectorized meta-step and the Adam update once and replays
    it; the batch is copied into static buffers first. Capture time is kept in ``setup_s``.
    """

    def __init__(self, path: str, params: dict, cfg: RunConfig, first_order: bool, warm_batch: TaskBatch):
        self.path, self.params = path, params
        self.adam = Adam(params, cfg.outer_lr)
        self.kw = dict(inner_lr=cfg.inner_lr, inner_steps=cfg.inner_steps, first_order=first_order)
        self.setup_s = 0.0
        if path == "graph":
            t0 = time.perf_counter()
            self._capture(warm_batch)
            self.setup_s = time.perf_counter() - t0

    def _body(self, b: TaskBatch):
        g, loss, acc = meta.meta_gradient(self.params, b.xs, b.ys, b.xq, b.yq,
                                          path="loop" if self.path == "loop" else "vmap", **self.kw)
        self.adam.update(self.params, g)
        return loss, acc

    def _capture(self, warm: TaskBatch):
        self.static = TaskBatch(*(t.clone() for t in (warm.xs, warm.ys, warm.xq, warm.yq)))
        live = [*self.params.values(), *self.adam.state()]
        saved = [t.clone() for t in live]
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(3):  # warm-up on a side stream, as CUDA graph capture requires
                self._body(self.static)
        torch.cuda.current_stream().wait_stream(side)
        with torch.no_grad():
            for t, s in zip(live, saved):  # the warm-up must not count as training
                t.copy_(s)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self.static_out = self._body(self.static)
        torch.cuda.synchronize()

    def __call__(self, batch: TaskBatch):
        if self.path != "graph":
            return self._body(batch)
        for dst, src in zip((self.static.xs, self.static.ys, self.static.xq, self.static.yq),
                            (batch.xs, batch.ys, batch.xq, batch.yq)):
            dst.copy_(src)
        self.graph.replay()
        return self.static_out

    def close(self):
        self.graph = self.static = self.static_out = None


def candidate_paths(device: torch.device) -> list[str]:
    return ["graph", "vmap"] if device.type == "cuda" else ["loop", "vmap"]


def select_path(cfg: RunConfig, device: torch.device, data: Data, init: dict) -> tuple[str, dict]:
    """The fastest correct path on this device for this config, by timing each one briefly."""
    if cfg.path != "auto":
        if cfg.path == "graph" and device.type != "cuda":
            raise ValueError("path: 'graph' needs a CUDA device; use 'loop', 'vmap' or 'auto' on CPU")
        return cfg.path, {"chosen_by": "config"}
    tasks = cfg.meta_batch if device.type == "cuda" else min(cfg.meta_batch, 4)
    sampler = TaskSampler(data.train, cfg.n_way, cfg.k_shot, cfg.k_query, seed=cfg.seed + 7)
    batch = sampler.sample(tasks)
    timings, errors, steps = {}, {}, {}
    t_start = time.perf_counter()
    for path in candidate_paths(device):
        try:
            params = {k: v.clone() for k, v in init.items()}
            steps[path] = MetaStep(path, params, cfg, first_order=False, warm_batch=batch)
            steps[path](batch)  # warm-up
        except Exception as e:  # a path that fails here is simply not chosen, and the reason is kept
            errors[path] = f"{type(e).__name__}: {e}"[:300]
            steps.pop(path, None)
    # interleaved repetitions, best of each, so that a noisy moment does not pick the path
    for _ in range(3 if device.type == "cuda" else 2):
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
    best = min(timings, key=timings.get)
    return best, {"chosen_by": "measurement", "probe_ms_per_iteration": timings, "probe_tasks": tasks,
                  "errors": errors, "probe_s": time.perf_counter() - t_start}


class _Throttle:
    """Calls ``on_progress`` at most every PROGRESS_INTERVAL_S (and always when forced)."""

    def __init__(self, fn: Progress | None):
        self.fn, self.last = fn, 0.0

    def due(self) -> bool:
        return time.perf_counter() - self.last >= PROGRESS_INTERVAL_S

    def __call__(self, snapshot: dict, force: bool = False):
        if self.fn is not None and (force or self.due()):
            self.last = time.perf_counter()
            self.fn(snapshot)


def _decimate(curve: dict, points: int = CURVE_POINTS) -> dict:
    n = len(curve["iteration"])
    if n <= points:
        return curve
    size = math.ceil(n / points)
    out = {k: [] for k in curve}
    for s in range(0, n, size):
        e = min(n, s + size)
        out["iteration"].append(curve["iteration"][e - 1])
        out["time_s"].append(curve["time_s"][e - 1])
        out["loss"].append(statistics.fmean(curve["loss"][s:e]))
        out["accuracy"].append(statistics.fmean(curve["accuracy"][s:e]))
    return out


def train(name: str, first_order: bool, cfg: RunConfig, device: torch.device, data: Data, init: dict, path: str,
          emit: _Throttle, stop: threading.Event) -> tuple[dict, dict]:
    """Meta-train one algorithm from ``init``; returns (result for the record, final params)."""
    params = {k: v.clone() for k, v in init.items()}
    sampler = TaskSampler(data.train, cfg.n_way, cfg.k_shot, cfg.k_query, seed=cfg.seed)
    warm = TaskSampler(data.train, cfg.n_way, cfg.k_shot, cfg.k_query, seed=cfg.seed + 13).sample(cfg.meta_batch)
    total = cfg.iterations
    curve = {"iteration": [], "time_s": [], "loss": [], "accuracy": []}
    iter_times: list[float] = []
    status, stop_reason, diverged_at = "complete", "tasks", None
    with measure.PeakMemory(device) as mem:
        step = MetaStep(path, params, cfg, first_order, warm)
        setup_s = step.setup_s
        losses = torch.full((total,), float("nan"), device=device)
        accs = torch.full((total,), float("nan"), device=device)
        read = 0  # iterations whose loss has been copied to the host
        t_start = measure.now(device)
        last = t_start
        done = 0
        while done < total:
            if stop.is_set():
                status, stop_reason = "stopped", "user"
                break
            loss, acc = step(sampler.sample(cfg.meta_batch))
            losses[done].copy_(loss.detach())
            accs[done].copy_(acc.detach())
            t = measure.now(device)  # synchronized: per-iteration wall clock is exact
            iter_times.append(t - last)
            curve["time_s"].append(t - t_start)
            last = t
            done += 1
            budget_hit = cfg.time_budget_s is not None and t - t_start >= cfg.time_budget_s
            if emit.due() or done == total or budget_hit or stop.is_set():
                new_l, new_a = losses[read:done].tolist(), accs[read:done].tolist()
                bad = [i for i, v in enumerate(new_l) if not math.isfinite(v)]
                if bad:
                    diverged_at = read + bad[0] + 1
                    keep = bad[0]
                    new_l, new_a = new_l[:keep], new_a[:keep]
                curve["loss"] += new_l
                curve["accuracy"] += new_a
                read = done
                if diverged_at is not None:
                    status, stop_reason = "diverged", "non-finite loss"
                    done = diverged_at - 1
                    curve["time_s"] = curve["time_s"][:done]
                    break
                emit({"algorithm": name, "phase": "train", "iteration": done, "total": total,
                      "elapsed_s": t - t_start, "loss": statistics.fmean(new_l), "accuracy": statistics.fmean(new_a)},
                     force=True)
                if budget_hit and done < total:
                    stop_reason = "time budget"
                    break
        train_s = curve["time_s"][done - 1] if done else 0.0
        step.close()
        del step
    curve["iteration"] = list(range(1, len(curve["loss"]) + 1))
    curve["time_s"] = curve["time_s"][: len(curve["loss"])]
    tail = curve["loss"][-max(1, min(20, len(curve["loss"]) // 10)):]
    result = {
        "algorithm": name,
        "first_order": first_order,
        "path": path,
        "status": status,
        "stop_reason": stop_reason,
        "iterations_done": done,
        "iterations_planned": total,
        "tasks_seen": done * cfg.meta_batch,
        "diverged_at": diverged_at,
        "train_time_s": train_s,
        "setup_time_s": setup_s,
        "per_iteration_ms": (train_s / done * 1000) if done else None,
        "per_iteration_ms_median": statistics.median(iter_times[:done]) * 1000 if done else None,
        "peak_memory_bytes": mem.increase_bytes,
        "peak_memory_total_bytes": mem.peak_bytes,
        "memory_metric": mem.metric,
        "final_train_loss": statistics.fmean(tail) if tail else None,
        "curve": _decimate(curve),
        "test": None,
    }
    return result, params


def evaluate(params: dict, cfg: RunConfig, device: torch.device, data: Data, path: str) -> dict:
    """Accuracy on ``cfg.eval_tasks`` held-out tasks (the same ones for every model), 95 % CI."""
    sampler = TaskSampler(data.test, cfg.n_way, cfg.k_shot, cfg.k_query, seed=cfg.seed + EVAL_SEED_OFFSET)
    chunk = EVAL_CHUNK[device.type]
    per_task: list[float] = []
    while len(per_task) < cfg.eval_tasks:
        b = sampler.sample(min(chunk, cfg.eval_tasks - len(per_task)))
        acc = meta.adapted_accuracy(params, b.xs, b.ys, b.xq, b.yq, inner_lr=cfg.inner_lr,
                                    inner_steps=cfg.eval_inner_steps, path="loop" if path == "loop" else "vmap")
        per_task += acc.tolist()
    n = len(per_task)
    mean = statistics.fmean(per_task)
    ci95 = 1.96 * statistics.stdev(per_task) / math.sqrt(n) if n > 1 else 0.0
    return {"accuracy": mean, "ci95": ci95, "tasks": n, "over_chance": mean - 1.0 / cfg.n_way,
            "per_task": [round(a, 4) for a in per_task]}


def _protocol(cfg: RunConfig, device: torch.device, path: str) -> dict:
    return {
        "dataset": "Omniglot, 28x28 LANCZOS, ink=1 (mamlviz/data/omniglot28.npz, sha256-checked)",
        "split": f"1200 train / 423 test characters, random with seed {SPLIT_SEED}",
        "split_seed": SPLIT_SEED,
        "rotations": "4 rotations x 90 degrees as extra classes (4800 train / 1692 test classes)",
        "task": f"{cfg.n_way}-way {cfg.k_shot}-shot, {cfg.k_query} queries per class",
        "batch_norm": "transductive: batch statistics at training and test, no running averages",
        "train_inner_steps": cfg.inner_steps,
        "test_inner_steps": cfg.eval_inner_steps,
        "test_tasks": cfg.eval_tasks,
        "outer_optimizer": f"Adam lr={cfg.outer_lr}",
        "timing": ("training wall clock, synchronized every iteration, on-device task sampling included; "
                   "data loading, path selection and CUDA-graph capture excluded and reported apart"),
        "memory": measure.memory_metric(device),
        "path": path,
        "time_budget_s": cfg.time_budget_s,
    }


def _record(kind: str, cfg: RunConfig, device: torch.device, label: str | None) -> dict:
    return {
        "schema": records.SCHEMA,
        "version": records.VERSION,
        "kind": kind,
        "id": f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}",
        "label": label or "",
        "created": measure.environment(device)["date"],
        "config": cfg.to_dict(),
        "environment": measure.environment(device),
    }


def compare(config: RunConfig | dict, on_progress: Progress | None = None, stop: threading.Event | None = None,
            label: str | None = None) -> dict:
    """Train MAML then FOMAML sequentially on the same task stream; evaluate both; return the record.

    ``on_progress`` receives small snapshots at most every 0.25 s; setting ``stop`` ends training
    within one iteration (the other algorithm is then not run) and the record says so.
    """
    cfg = config if isinstance(config, RunConfig) else RunConfig.from_dict(config)
    stop = stop or threading.Event()
    emit = _Throttle(on_progress)
    device = resolve_device(cfg.device)
    torch.manual_seed(cfg.seed)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    emit({"algorithm": None, "phase": "setup", "iteration": 0, "total": cfg.iterations, "elapsed_s": 0.0,
          "loss": None, "accuracy": None}, force=True)
    data = load_data(device)
    init = model.init_params(cfg.n_way, cfg.seed, device=device)
    path, selection = select_path(cfg, device, data, init)
    results, trained = {}, {}
    for name, first_order in ALGORITHMS:
        if stop.is_set():
            results[name] = _not_run(name, first_order, cfg, path)
            continue
        results[name], trained[name] = train(name, first_order, cfg, device, data, init, path, emit, stop)
    t_eval = time.perf_counter()
    for name, res in results.items():
        if res["iterations_done"] > 0 and res["status"] != "diverged":
            emit({"algorithm": name, "phase": "eval", "iteration": res["iterations_done"], "total": cfg.iterations,
                  "elapsed_s": res["train_time_s"], "loss": None, "accuracy": None}, force=True)
            res["test"] = evaluate(trained[name], cfg, device, data, path)
    baseline = evaluate(init, cfg, device, data, path)
    statuses = {r["status"] for r in results.values()}
    status = ("stopped" if statuses & {"stopped", "not_run"} else "diverged" if "diverged" in statuses
              else "complete")
    record = _record("compare", cfg, device, label)
    record.update({
        "status": status,
        "protocol": _protocol(cfg, device, path),
        "setup": {"launched_from": "python", "data_load_s": data.load_s, "path": path, "path_selection": selection,
                  "eval_time_s": time.perf_counter() - t_eval, "params": model.count_params(init)},
        "results": results,
        "baseline": baseline,
        "chance": 1.0 / cfg.n_way,
    })
    emit({"algorithm": None, "phase": "done", "iteration": cfg.iterations, "total": cfg.iterations,
          "elapsed_s": 0.0, "loss": None, "accuracy": None}, force=True)
    return records.validate(record)


def _not_run(name: str, first_order: bool, cfg: RunConfig, path: str) -> dict:
    return {"algorithm": name, "first_order": first_order, "path": path, "status": "not_run",
            "stop_reason": "user", "iterations_done": 0, "iterations_planned": cfg.iterations, "tasks_seen": 0,
            "diverged_at": None, "train_time_s": None, "setup_time_s": None, "per_iteration_ms": None,
            "per_iteration_ms_median": None, "peak_memory_bytes": None, "peak_memory_total_bytes": None,
            "memory_metric": None, "final_train_loss": None,
            "curve": {"iteration": [], "time_s": [], "loss": [], "accuracy": []}, "test": None}


def sweep(config: RunConfig | dict, inner_steps=(1, 2, 3, 5, 7, 10), iterations: int = 20,
          on_progress: Progress | None = None, stop: threading.Event | None = None, label: str | None = None) -> dict:
    """Per-iteration time and peak memory against inner steps, both algorithms (the scaling view)."""
    base = config if isinstance(config, RunConfig) else RunConfig.from_dict(config)
    stop = stop or threading.Event()
    emit = _Throttle(on_progress)
    device = resolve_device(base.device)
    data = load_data(device)
    init = model.init_params(base.n_way, base.seed, device=device)
    points, path = [], None
    for steps in inner_steps:
        cfg = RunConfig(**{**base.to_dict(), "inner_steps": steps, "train_tasks": iterations * base.meta_batch})
        if path is None:
            path, _ = select_path(cfg, device, data, init)
        for name, first_order in ALGORITHMS:
            if stop.is_set():
                break
            emit({"algorithm": name, "phase": "sweep", "iteration": len(points), "total": 2 * len(inner_steps),
                  "elapsed_s": 0.0, "loss": None, "accuracy": None, "inner_steps": steps}, force=True)
            res, _ = train(name, first_order, cfg, device, data, init, path, _Throttle(None), stop)
            if res["iterations_done"] == 0:
                continue
            points.append({"algorithm": name, "inner_steps": steps, "iterations": res["iterations_done"],
                           "per_iteration_ms": res["per_iteration_ms_median"], "peak_memory_bytes":
                           res["peak_memory_bytes"], "status": res["status"]})
    record = _record("sweep", base, device, label)
    record.update({
        "status": "stopped" if stop.is_set() else "complete",
        "protocol": {**_protocol(base, device, path or "auto"), "sweep": f"{iterations} iterations per point, "
                     "median per-iteration time, peak memory as in compare"},
        "points": points,
    })
    return records.validate(record)
