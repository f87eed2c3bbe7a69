"""Live progress: the small snapshots the engine sends to the CLI's bars and the dashboard's jobs.

Torch-free: the UI reads these. A snapshot travels as a plain dict (``asdict(Progress(...))``) so a
callback needs nothing from this module to read it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

PHASES = ("setup", "train", "validation", "eval", "sweep", "done")


@dataclass
class Progress:
    algorithm: str | None  # a variant's name ("maml", "fomaml", ...), or None for the whole run
    phase: str  # one of PHASES
    iteration: int  # iterations done (train); points done (sweep)
    total: int
    elapsed_s: float = 0.0  # training seconds of this algorithm so far
    loss: float | None = None  # mean query loss since the previous snapshot
    accuracy: float | None = None
    inner_steps: int | None = None  # sweep: the point being measured
    budget_s: float | None = None  # train: the time budget this algorithm trains to, if any
    eval_done: int | None = None  # eval: test tasks done so far, of eval_total
    eval_total: int | None = None
    detail: str | None = None  # setup: what it is doing now, in words
    validation: list | None = None  # validation: a new point [iteration, training seconds, accuracy]


class Reporter:
    """Passes snapshots to ``fn`` at most every ``interval_s`` (always when forced); None: no one listens."""

    def __init__(self, fn: Callable[[dict], None] | None, interval_s: float = 0.25):
        self.fn, self.interval_s, self.last = fn, interval_s, -float("inf")

    def due(self) -> bool:
        return self.fn is not None and time.perf_counter() - self.last >= self.interval_s

    def __call__(self, progress: Progress, force: bool = False) -> None:
        if self.fn is not None and (force or self.due()):
            self.last = time.perf_counter()
            self.fn(asdict(progress))
