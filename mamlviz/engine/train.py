"""Meta-train one algorithm: the training loop, read in one pass.

Every iteration: sample a meta-batch on the device, take one meta-step (meta-gradient + Adam),
read the synchronized clock. Losses stay on the device and are copied to the host every
``FLUSH_INTERVAL_S`` (a copy is a sync point), where divergence is checked; progress goes to the
listener at its own, slower cadence.
"""

from __future__ import annotations

import math
import statistics
import threading

import torch

from .. import variants
from ..config import RunConfig
from ..progress import Progress, Reporter
from ..records import AlgorithmResult, Curve, decimate
from . import measure
from .data import Data
from .step import MetaStep
from .tasks import TaskSampler

FLUSH_INTERVAL_S = 0.2
UNSTABLE_GROWTH = 10.0  # training loss this many times its start: flagged unstable though finite
CURVE_POINTS = 400  # stored curve points per algorithm; longer runs are averaged into this many
WARM_SEED_OFFSET = 13  # the CUDA-graph capture batch is not a training batch


class LossLog:
    """Per-iteration query loss and accuracy, on the device until flushed to the host."""

    def __init__(self, total: int, device: torch.device):
        self.loss = torch.full((total,), float("nan"), device=device)
        self.acc = torch.full((total,), float("nan"), device=device)
        self.host_loss: list[float] = []
        self.host_acc: list[float] = []

    def put(self, i: int, loss: torch.Tensor, acc: torch.Tensor) -> None:
        self.loss[i].copy_(loss.detach())
        self.acc[i].copy_(acc.detach())

    def flush(self, upto: int) -> int | None:
        """Copy iterations [flushed, upto) to the host; returns the 1-based iteration of the first
        non-finite loss (and keeps only the iterations before it), or None."""
        start = len(self.host_loss)
        new_loss, new_acc = self.loss[start:upto].tolist(), self.acc[start:upto].tolist()
        bad = next((i for i, v in enumerate(new_loss) if not math.isfinite(v)), None)
        if bad is not None:
            new_loss, new_acc = new_loss[:bad], new_acc[:bad]
        self.host_loss += new_loss
        self.host_acc += new_acc
        return None if bad is None else start + bad + 1


class Snapshots:
    """Copies of the parameters at ``points`` evenly spaced moments of training (the first is the
    initialisation), for the gradient-alignment curve measured after training. The copies go into
    buffers allocated before the memory measurement starts, so they do not count as training memory.
    Spacing is by iterations, or by time when a time budget ends training first."""

    def __init__(self, init: dict, points: int, total: int, budget: float | None):
        n = max(0, points - 1)
        self.iteration_marks = [round(k * total / n) for k in range(1, n + 1)]
        self.time_marks = [k * budget / n for k in range(1, n + 1)] if budget else []
        self.buffers = [{k: torch.zeros_like(v) for k, v in init.items()} for _ in range(n)]
        self.taken: list[tuple[int, dict]] = [(0, init)] if points else []

    def after(self, done: int, elapsed: float, params: dict) -> None:
        k = len(self.taken) - 1  # the next mark
        if k < 0 or k >= len(self.buffers):
            return
        if done >= self.iteration_marks[k] or (self.time_marks and elapsed >= self.time_marks[k]):
            with torch.no_grad():
                for name, buf in self.buffers[k].items():
                    buf.copy_(params[name])
            self.taken.append((done, self.buffers[k]))

    def finish(self, done: int, params: dict) -> list[tuple[int, dict]]:
        """The points taken, ending with the final parameters."""
        taken = [(i, p) for i, p in self.taken if i <= done]  # not past a divergence
        if taken and taken[-1][0] != done:
            taken.append((done, params))
        return taken


def train(
    name: str,
    cfg: RunConfig,
    device: torch.device,
    data: Data,
    init: dict,
    path: str,
    report: Reporter,
    stop: threading.Event,
) -> tuple[AlgorithmResult, dict, list[tuple[int, dict]]]:
    """Meta-train ``name`` (a variant table name) from ``init``; returns its result, its final parameters
    and ``cfg.alignment_points`` (iteration, parameters) snapshots from the initialisation to the end."""
    params = {k: v.clone() for k, v in init.items()}
    snapshots = Snapshots(init, cfg.alignment_points, cfg.iterations, cfg.time_budget_s)
    sampler = TaskSampler(data.train, cfg.n_way, cfg.k_shot, cfg.k_query, seed=cfg.seed)  # same stream for both
    warm = TaskSampler(data.train, cfg.n_way, cfg.k_shot, cfg.k_query, seed=cfg.seed + WARM_SEED_OFFSET)
    total, budget = cfg.iterations, cfg.time_budget_s
    log = LossLog(total, device)
    clock: list[float] = []  # seconds since the start, after each iteration
    status, stop_reason, diverged_at = "complete", "tasks", None
    reported = 0  # iterations already summarised in a progress snapshot
    flushed_at = 0.0
    with measure.PeakMemory(device) as memory:
        step = MetaStep(path, params, cfg, name, warm.sample(cfg.meta_batch))
        setup_s = step.setup_s
        t_start = measure.now(device)
        for it in range(total):
            if stop.is_set():
                status, stop_reason = "stopped", "user"
                break
            loss, acc = step(sampler.sample(cfg.meta_batch))
            log.put(it, loss, acc)
            clock.append(measure.now(device) - t_start)  # synchronized: per-iteration time is exact
            snapshots.after(it + 1, clock[-1], params)
            over_budget = budget is not None and clock[-1] >= budget
            last = it + 1 == total or over_budget or stop.is_set()
            if last or clock[-1] - flushed_at >= FLUSH_INTERVAL_S or report.due():
                flushed_at = clock[-1]
                diverged_at = log.flush(it + 1)
                if diverged_at is not None:
                    status, stop_reason = "diverged", "non-finite loss"
                    break
                if len(log.host_loss) > reported and (last or report.due()):
                    report(
                        Progress(
                            name,
                            "train",
                            it + 1,
                            total,
                            clock[-1],
                            statistics.fmean(log.host_loss[reported:]),
                            statistics.fmean(log.host_acc[reported:]),
                            budget_s=budget,
                        ),
                        force=True,
                    )
                    reported = len(log.host_loss)
            if over_budget and it + 1 < total:
                stop_reason = "time budget"
                break
        if diverged_at is None:
            log.flush(len(clock))
        step.close()
        del step
    done = len(log.host_loss)
    train_s = clock[done - 1] if done else 0.0
    tail = log.host_loss[-max(1, min(20, done // 10)) :]
    curve = Curve(list(range(1, done + 1)), clock[:done], log.host_loss, log.host_acc)
    result = AlgorithmResult(
        name,
        variants.get(name).first_order,
        path,
        status,
        stop_reason,
        total,
        iterations_done=done,
        tasks_seen=done * cfg.meta_batch,
        diverged_at=diverged_at,
        train_time_s=train_s,
        setup_time_s=setup_s,
        per_iteration_ms=train_s / done * 1000 if done else None,
        per_iteration_ms_median=statistics.median(_differences(clock[:done])) * 1000 if done else None,
        peak_memory_bytes=memory.increase_bytes,
        peak_memory_total_bytes=memory.peak_bytes,
        memory_metric=memory.metric,
        final_train_loss=statistics.fmean(tail) if tail else None,
        loss_growth=(growth := loss_growth(log.host_loss)),
        unstable=growth is not None and growth >= UNSTABLE_GROWTH,
        curve=decimate(curve, CURVE_POINTS),
    )
    return result, params, snapshots.finish(done, params)


def loss_growth(losses: list[float], window: int = 5) -> float | None:
    """The highest mean loss over ``window`` consecutive iterations, over the first window's mean."""
    w = min(window, len(losses))
    if w == 0:
        return None
    start = statistics.fmean(losses[:w])
    sums = [sum(losses[:w])]
    for i in range(w, len(losses)):
        sums.append(sums[-1] + losses[i] - losses[i - w])
    return max(sums) / w / start if start > 0 else None


def _differences(clock: list[float]) -> list[float]:
    return [b - a for a, b in zip([0.0, *clock], clock)]
