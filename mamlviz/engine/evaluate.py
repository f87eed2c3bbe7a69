"""Accuracy on held-out tasks after adaptation: the same test tasks for every model of a run."""

from __future__ import annotations

import math
import statistics
import threading

import torch

from ..config import RunConfig
from ..records import Evaluation
from . import meta
from .data import Data
from .tasks import TaskSampler

EVAL_SEED_OFFSET = 1_000_003  # test tasks come from their own stream, the same for every model
EVAL_CHUNK = {"cuda": 200, "cpu": 50}  # tasks adapted at once


def evaluate(
    params: dict, cfg: RunConfig, device: torch.device, data: Data, path: str, cancel: threading.Event | None = None
) -> Evaluation | None:
    """Accuracy on ``cfg.eval_tasks`` held-out tasks after ``cfg.eval_inner_steps`` steps, 95 % CI;
    None when ``cancel`` is set before the last chunk of tasks is done."""
    sampler = TaskSampler(data.test, cfg.n_way, cfg.k_shot, cfg.k_query, seed=cfg.seed + EVAL_SEED_OFFSET)
    per_task: list[float] = []
    while len(per_task) < cfg.eval_tasks:
        if cancel is not None and cancel.is_set():
            return None
        b = sampler.sample(min(EVAL_CHUNK[device.type], cfg.eval_tasks - len(per_task)))
        acc = meta.adapted_accuracy(
            params,
            b.xs,
            b.ys,
            b.xq,
            b.yq,
            inner_lr=cfg.inner_lr,
            inner_steps=cfg.eval_inner_steps,
            path="loop" if path == "loop" else "vmap",
        )
        per_task += acc.tolist()
    n = len(per_task)
    mean = statistics.fmean(per_task)
    ci95 = 1.96 * statistics.stdev(per_task) / math.sqrt(n) if n > 1 else 0.0
    return Evaluation(mean, ci95, n, mean - 1.0 / cfg.n_way, [round(a, 4) for a in per_task])
