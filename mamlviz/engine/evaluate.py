"""Accuracy on held-out tasks after adaptation: the same test tasks for every model of a run."""

from __future__ import annotations

import threading
from collections.abc import Callable

import torch

from ..analysis.stats import interval
from ..config import RunConfig
from ..records import Evaluation
from . import meta, model
from .data import Data
from .tasks import TaskSampler

EVAL_SEED_OFFSET = 1_000_003  # test tasks come from their own stream, the same for every model
EVAL_CHUNK = {"cuda": 200, "cpu": 50}  # tasks drawn at once (this fixes which tasks the run's test set holds)
PROGRESS_EVERY = {"cuda": 200, "cpu": 8}  # tasks adapted between progress reports (and cancel checks)


def test_batches(data: Data, cfg: RunConfig, device: torch.device):
    """The run's held-out tasks, in the chunks they are drawn in (the same tasks for every model)."""
    sampler = TaskSampler(data.test, cfg.n_way, cfg.k_shot, cfg.k_query, seed=cfg.seed + EVAL_SEED_OFFSET)
    drawn = 0
    while drawn < cfg.eval_tasks:
        batch = sampler.sample(min(EVAL_CHUNK[device.type], cfg.eval_tasks - drawn))
        drawn += batch.xs.shape[0]
        yield batch


def accuracies(params: dict, batch, part: slice, cfg: RunConfig, path: str, algorithm: str | None = None):
    """Per-task accuracy [len(part)] on the tasks ``part`` of ``batch`` after ``cfg.eval_inner_steps`` steps of
    ``algorithm``'s inner loop (plain gradient steps for an initialisation), by the run's path where it is one
    that evaluates (the loop paths), else vmap: the test set's and the validation curve's, one function. The
    per-task loop evaluates in worker threads where there are threads to split: no second derivative is taken,
    so each task's small graph is all they hold (at the CPU default on 2 cores, one model's 64 test tasks took
    1.0 s instead of 1.3-1.4 s)."""
    if path == "loop" and meta.splits(batch.xs.device):
        path = "threads"
    return meta.adapted_accuracy(
        params,
        batch.xs[part],
        batch.ys[part],
        batch.xq[part],
        batch.yq[part],
        inner_lr=cfg.inner_lr,
        inner_steps=cfg.eval_inner_steps,
        path=path if path in meta.LOOP_PATHS else "vmap",
        algorithm=algorithm,
        forward=model.for_mode(cfg.batch_norm),
    )


def evaluate(
    params: dict,
    cfg: RunConfig,
    device: torch.device,
    data: Data,
    path: str,
    cancel: threading.Event | None = None,
    on_progress: Callable[[int], None] | None = None,
    algorithm: str | None = None,
) -> Evaluation | None:
    """Accuracy on ``cfg.eval_tasks`` held-out tasks after ``cfg.eval_inner_steps`` steps of ``algorithm``'s
    inner loop (plain gradient steps for an initialisation), 95 % CI.

    Returns None when ``cancel`` is set before the end; ``on_progress(tasks done)`` hears how far it is."""
    per_task: list[float] = []
    for batch in test_batches(data, cfg, device):
        for lo in range(0, batch.xs.shape[0], PROGRESS_EVERY[device.type]):
            if cancel is not None and cancel.is_set():
                return None
            acc = accuracies(params, batch, slice(lo, lo + PROGRESS_EVERY[device.type]), cfg, path, algorithm)
            per_task += acc.tolist()
            if on_progress is not None:
                on_progress(len(per_task))
    mean, ci95, n = interval(per_task)
    return Evaluation(mean, ci95 or 0.0, n, mean - 1.0 / cfg.n_way, [round(a, 4) for a in per_task])
