"""Meta-train the variants of a comparison side by side: one meta-iteration of each in turn.

Every variant trains on the same task stream from the same initialisation. Taking turns, every
meta-iteration is timed on its own (sampling on the device, meta-step, Adam, synchronized clock), so
all variants see the same machine load at the same moment, their curves grow together, and Stop
leaves every one at the same iteration. Losses stay on the device and are copied to the host every
``FLUSH_INTERVAL_S`` of a variant's own training (a copy is a sync point), where divergence is
checked; progress goes to the listener at its own, slower cadence. The device's peak memory, whose
counters are per device, is measured per variant in a short phase of its own (``peak_memory``).
"""

from __future__ import annotations

import math
import statistics
import threading
from collections.abc import Callable
from dataclasses import dataclass

import torch

from .. import variants
from ..config import BY_NAME, FASTEST_RATIO, RunConfig
from ..progress import Progress, Reporter
from ..records import AlgorithmResult, Curve, ValidationCurve, decimate
from . import algorithms, evaluate, measure
from .data import Data
from .step import MetaStep
from .tasks import TaskBatch, TaskSampler

FLUSH_INTERVAL_S = 0.2
UNSTABLE_GROWTH = 10.0  # training loss this many times its start: flagged unstable though finite
CURVE_POINTS = 400  # stored curve points per algorithm; longer runs are averaged into this many
WARM_SEED_OFFSET = 13  # the CUDA-graph capture batch is not a training batch
MEMORY_ITERATIONS = 3  # meta-iterations of the device-memory phase
VALIDATION_SEED_OFFSET = 2_000_003  # the validation tasks' own stream (the test tasks' is evaluate's)
VALIDATION_CHUNK = {"cuda": 200, "cpu": 8}  # validation tasks adapted at once


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


class Marks:
    """``points`` evenly spaced moments of training, the first at the start: after it, marks by iterations, or
    by time once a time budget is known (it can become known during training: a time-fair variant gets the
    reference's time). ``due`` says when the next mark is reached, once."""

    def __init__(self, points: int, total: int, budget: float | None):
        self.n = max(0, points - 1)
        self.iteration_marks = [round(k * total / self.n) for k in range(1, self.n + 1)]
        self.time_marks: list[float] = []
        self.next = 0
        self.set_budget(budget)

    def set_budget(self, budget: float | None) -> None:
        self.time_marks = [k * budget / self.n for k in range(1, self.n + 1)] if budget else []

    def due(self, done: int, elapsed: float) -> bool:
        k = self.next
        if k >= self.n:
            return False
        if done >= self.iteration_marks[k] or (self.time_marks and elapsed >= self.time_marks[k]):
            self.next += 1
            return True
        return False


class Snapshots:
    """Copies of the parameters at ``points`` evenly spaced moments of training (the first is the
    initialisation), for the gradient-alignment curve measured after training. The copies go into
    buffers allocated before training."""

    def __init__(self, init: dict, points: int, total: int, budget: float | None):
        self.marks = Marks(points, total, budget)
        self.buffers = [{k: torch.zeros_like(v) for k, v in init.items()} for _ in range(self.marks.n)]
        self.taken: list[tuple[int, dict]] = [(0, init)] if points else []

    def set_budget(self, budget: float | None) -> None:
        self.marks.set_budget(budget)

    def after(self, done: int, elapsed: float, params: dict) -> None:
        if self.marks.due(done, elapsed):
            buffer = self.buffers[len(self.taken) - 1]
            with torch.no_grad():
                for name, buf in buffer.items():
                    buf.copy_(params[name])
            self.taken.append((done, buffer))

    def finish(self, done: int, params: dict) -> list[tuple[int, dict]]:
        """The points taken, ending with the final parameters."""
        taken = [(i, p) for i, p in self.taken if i <= done]  # not past a divergence
        if taken and taken[-1][0] != done:
            taken.append((done, params))
        return taken


def validation_tasks(data: Data, cfg: RunConfig) -> TaskBatch | None:
    """The run's validation tasks: drawn once from the held-out characters by their own stream (not the test
    tasks), the same for every variant at every point; None when no validation curve is asked for."""
    if not cfg.validation_points:
        return None
    sampler = TaskSampler(data.test, cfg.n_way, cfg.k_shot, cfg.k_query, seed=cfg.seed + VALIDATION_SEED_OFFSET)
    return sampler.sample(cfg.validation_tasks)


class Validation:
    """Accuracy after adaptation on the validation tasks at ``cfg.validation_points`` evenly spaced moments of a
    variant's training (the first at the initialisation, the last at its end), measured between two of its
    meta-iterations, outside its timed training: accuracy against training seconds, while it trains."""

    def __init__(self, name: str, cfg: RunConfig, tasks: TaskBatch | None, path: str, total: int, budget):
        self.name, self.cfg, self.tasks = name, cfg, tasks
        self.path = path
        self.marks = Marks(cfg.validation_points if tasks is not None else 0, total, budget)
        self.curve = ValidationCurve([], [], [], tasks.xs.shape[0] if tasks is not None else 0)

    def set_budget(self, budget: float | None) -> None:
        self.marks.set_budget(budget)

    def measure(self, done: int, elapsed: float, params: dict) -> list | None:
        """Measure now; returns the point [iteration, training seconds, accuracy] (None without tasks)."""
        if self.tasks is None or (self.curve.iteration and self.curve.iteration[-1] == done):
            return None
        b = self.tasks
        chunk = VALIDATION_CHUNK[b.xs.device.type]
        accs = [
            evaluate.accuracies(params, b, slice(i, i + chunk), self.cfg, self.path, self.name)
            for i in range(0, b.xs.shape[0], chunk)
        ]
        accuracy = float(torch.cat(accs).mean())
        c = self.curve
        c.iteration.append(done)
        c.time_s.append(elapsed)
        c.accuracy.append(accuracy)
        return [done, elapsed, accuracy]

    def after(self, done: int, elapsed: float, params: dict) -> list | None:
        return self.measure(done, elapsed, params) if self.marks.due(done, elapsed) else None


@dataclass
class Trained:
    result: AlgorithmResult
    params: dict  # the final parameters
    snapshots: list[tuple[int, dict]]  # (iteration, parameters) from the initialisation to the end


class Trainer:
    """One variant's meta-training, one meta-iteration at a time (``iterate``), each timed on its own."""

    def __init__(
        self, name, cfg: RunConfig, device, data: Data, init: dict, path: str, report: Reporter, validation=None
    ):
        self.name, self.cfg, self.device, self.path, self.report = name, cfg, device, path, report
        self.total, self.budget = cfg.iterations, cfg.time_budget_s
        if cfg.fairness == "time" and (self.budget is not None or name != variants.reference_of(cfg.variants)):
            # trains to a time (the budget, or the reference's once it is known): room for more iterations
            tasks = min(cfg.train_tasks * FASTEST_RATIO, BY_NAME["train_tasks"].hi)
            self.total = max(1, int(tasks) // cfg.meta_batch)
        algorithm = algorithms.get(name)  # its own parameters: the shared network plus what it learns besides
        self.params = algorithm.complete({k: v.clone() for k, v in init.items()}, cfg.inner_lr, cfg.inner_steps)
        start = {k: v.clone() for k, v in self.params.items()}
        # marks by the planned iterations until a time budget is known (a time-fair variant learns the reference's
        # time only when it has finished): evenly spaced over the reference's length, then its end
        spacing = self.total if self.budget is not None else cfg.iterations
        self.snapshots = Snapshots(start, cfg.alignment_points, spacing, self.budget)
        self.validation = Validation(name, cfg, validation, path, spacing, self.budget)
        self.sampler = TaskSampler(data.train, cfg.n_way, cfg.k_shot, cfg.k_query, seed=cfg.seed)  # one stream
        warm = TaskSampler(data.train, cfg.n_way, cfg.k_shot, cfg.k_query, seed=cfg.seed + WARM_SEED_OFFSET)
        self.log = LossLog(self.total, device)
        self.step = MetaStep(path, self.params, cfg, name, warm.sample(cfg.meta_batch), total=self.total)
        self.setup_s = self.step.setup_s
        self.clock: list[float] = []  # this variant's own training seconds, after each of its iterations
        self.status, self.stop_reason, self.diverged_at = "complete", "tasks", None
        self.finished = False
        self.reported, self.flushed_at = 0, 0.0

    @property
    def elapsed(self) -> float:
        return self.clock[-1] if self.clock else 0.0

    def set_budget(self, budget: float) -> None:
        """Train for ``budget`` seconds from now on (a time-fair variant gets the reference's time)."""
        self.budget = max(budget, 1e-3)
        self.snapshots.set_budget(self.budget)
        self.validation.set_budget(self.budget)
        if self.elapsed >= self.budget:
            self._end("complete", "time budget")

    def stop(self) -> None:
        self._end("stopped", "user")

    def validate(self, point: list | None) -> None:
        """Say a validation point as soon as it is measured (the live chart of accuracy against time)."""
        if point is not None:
            self.report(
                Progress(self.name, "validation", point[0], self.total, point[1], validation=point),
                force=True,
            )

    def iterate(self) -> None:
        it = len(self.clock)
        if it == 0:  # the initialisation's validation accuracy, before the first meta-iteration
            self.validate(self.validation.measure(0, 0.0, self.params))
        t0 = measure.now(self.device)
        progress = it / self.total  # or of the time budget, when there is one: whichever is further
        if self.budget is not None:
            progress = max(progress, self.elapsed / self.budget)
        loss, acc = self.step(self.sampler.sample(self.cfg.meta_batch), progress)
        self.log.put(it, loss, acc)
        self.clock.append(self.elapsed + measure.now(self.device) - t0)  # synchronized: exact per iteration
        self.snapshots.after(it + 1, self.clock[-1], self.params)
        self.validate(self.validation.after(it + 1, self.clock[-1], self.params))
        over_budget = self.budget is not None and self.clock[-1] >= self.budget
        last = it + 1 == self.total or over_budget
        if last or self.clock[-1] - self.flushed_at >= FLUSH_INTERVAL_S or self.report.due():
            self.flushed_at = self.clock[-1]
            self.diverged_at = self.log.flush(it + 1)
            if self.diverged_at is not None:
                self._end("diverged", "non-finite loss")
                return
            if len(self.log.host_loss) > self.reported and (last or self.report.due()):
                self._report()
        if last:
            self._end("complete", "time budget" if over_budget and it + 1 < self.total else "tasks")

    def _report(self) -> None:
        self.report(
            Progress(
                self.name,
                "train",
                len(self.log.host_loss),
                self.total,
                self.elapsed,
                statistics.fmean(self.log.host_loss[self.reported :]),
                statistics.fmean(self.log.host_acc[self.reported :]),
                budget_s=self.budget,
            ),
            force=True,
        )
        self.reported = len(self.log.host_loss)

    def _end(self, status: str, reason: str) -> None:
        if self.finished:
            return
        self.status, self.stop_reason, self.finished = status, reason, True
        if self.diverged_at is None:
            self.log.flush(len(self.clock))
            if len(self.log.host_loss) > self.reported:
                self._report()
            if self.clock:  # the trained network's point, whenever training ended
                self.validate(self.validation.measure(len(self.clock), self.elapsed, self.params))
        self.step.close()
        self.step = None

    def result(self) -> Trained:
        done = len(self.log.host_loss)
        train_s = self.clock[done - 1] if done else 0.0
        tail = self.log.host_loss[-max(1, min(20, done // 10)) :]
        curve = Curve(list(range(1, done + 1)), self.clock[:done], self.log.host_loss, self.log.host_acc)
        result = AlgorithmResult(
            self.name,
            variants.get(self.name).first_order,
            self.path,
            self.status,
            self.stop_reason,
            self.total,
            iterations_done=done,
            tasks_seen=done * self.cfg.meta_batch,
            diverged_at=self.diverged_at,
            train_time_s=train_s,
            setup_time_s=self.setup_s,
            per_iteration_ms=train_s / done * 1000 if done else None,
            per_iteration_ms_median=statistics.median(_differences(self.clock[:done])) * 1000 if done else None,
            final_train_loss=statistics.fmean(tail) if tail else None,
            loss_growth=(growth := loss_growth(self.log.host_loss)),
            unstable=growth is not None and growth >= UNSTABLE_GROWTH,
            curve=decimate(curve, CURVE_POINTS),
            validation=self.validation.curve if self.validation.curve.iteration else None,
        )
        return Trained(result, self.params, self.snapshots.finish(done, self.params))


def train(
    names: list[str],
    cfg: RunConfig,
    device: torch.device,
    data: Data,
    init: dict,
    path: str,
    on_progress: Callable[[dict], None] | None,
    stop: threading.Event,
) -> dict[str, Trained]:
    """Meta-train every variant of ``names`` from ``init``, one meta-iteration of each in turn.

    Fair by tasks: each trains ``cfg.iterations``. Fair by time: each trains for the time budget, or, without
    one, the reference trains its iterations and the others then train for as long as it took (``set_budget``
    once it has finished). Stop is taken between rounds, so every variant stops at the same iteration."""
    ref = variants.reference_of(names)
    tasks = validation_tasks(data, cfg)
    trainers = {n: Trainer(n, cfg, device, data, init, path, Reporter(on_progress), tasks) for n in names}
    budget_given = cfg.fairness != "time" or cfg.time_budget_s is not None
    while active := [t for t in trainers.values() if not t.finished]:
        if stop.is_set():
            for t in active:
                t.stop()
            break
        for t in active:
            t.iterate()
        if not budget_given and trainers[ref].finished:  # the reference's time is everybody's budget
            budget_given = True
            for n, t in trainers.items():
                if n != ref and not t.finished:
                    t.set_budget(trainers[ref].elapsed)
    return {n: t.result() for n, t in trainers.items()}


def peak_memory(name: str, cfg: RunConfig, device, data: Data, init: dict, path: str) -> measure.PeakMemory:
    """The device's peak memory for ``name``, measured alone: a few meta-iterations on a copy of ``init``
    (memory depends on shapes, not values), outside the timed training."""
    sampler = TaskSampler(data.train, cfg.n_way, cfg.k_shot, cfg.k_query, seed=cfg.seed + WARM_SEED_OFFSET)
    batches = [sampler.sample(cfg.meta_batch) for _ in range(MEMORY_ITERATIONS)]
    params = algorithms.get(name).complete({k: v.clone() for k, v in init.items()}, cfg.inner_lr, cfg.inner_steps)
    with measure.PeakMemory(device) as memory:
        step = MetaStep(path, params, cfg, name, batches[0])
        for b in batches:
            step(b)
        step.close()
        del step
    return memory


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
