"""Training jobs for a multi-session UI: one at a time for the whole server, the rest queued.

The UI holds only a job id; the worker thread writes into the ``Job`` under its lock and never
touches the UI (Streamlit drops session-state writes from other threads). One job at a time,
because CUDA memory counters are per device and two CPU jobs would distort each other's timings.
A job goes on when the tab that started it closes, and its record is saved to ``runs_dir``.
No torch at import time: the engine is imported by the worker when a job starts.
"""

from __future__ import annotations

import atexit
import copy
import logging
import threading
import time
import traceback
import uuid
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from pathlib import Path

from . import records
from .config import RunConfig

log = logging.getLogger(__name__)
ACTIVE = ("queued", "running")
KEEP_FINISHED = 20


@dataclass
class Job:
    kind: str  # "compare" or "sweep"
    config: dict
    label: str = ""
    owner: str = ""
    options: dict = field(default_factory=dict)  # sweep: inner_steps, iterations
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:10])
    created: float = field(default_factory=time.time)
    state: str = "queued"  # queued, running, done, stopped, failed, cancelled
    phase: str = "queued"
    algorithm: str | None = None
    progress: dict = field(default_factory=dict)  # algorithm -> its latest progress snapshot
    curves: dict = field(default_factory=dict)  # algorithm -> {iteration, time_s, loss, accuracy}
    record: dict | None = None
    record_path: str | None = None
    save_error: str | None = None  # the run finished but its record could not be written: why, and where
    error: str | None = None  # why the run failed, one line
    traceback: str | None = None  # for the server log and a local user; never shown on a hosted copy
    started: float | None = None
    finished: float | None = None
    stop_event: threading.Event = field(default_factory=threading.Event, repr=False)
    skip_eval: threading.Event = field(default_factory=threading.Event, repr=False)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def on_progress(self, snap: dict) -> None:
        """compare()'s progress callback: keep the latest state and extend the live curves."""
        with self.lock:
            self.phase = snap.get("phase", self.phase)
            name = snap.get("algorithm")
            if name is None:  # the whole run's progress: setup, the baseline's evaluation, done
                self.progress["run"] = dict(snap)
                return
            self.algorithm = name
            self.progress[name] = dict(snap)
            if snap.get("phase") == "train" and snap.get("loss") is not None:
                c = self.curves.setdefault(name, {"iteration": [], "time_s": [], "loss": [], "accuracy": []})
                c["iteration"].append(snap["iteration"])
                c["time_s"].append(snap["elapsed_s"])
                c["loss"].append(snap["loss"])
                c["accuracy"].append(snap["accuracy"])

    def snapshot(self) -> dict:
        """A consistent copy for drawing (the worker keeps writing to the original)."""
        with self.lock:
            flags = {"stop_requested": self.stop_event.is_set(), "skip_requested": self.skip_eval.is_set()}
            keep = (
                "id",
                "kind",
                "config",
                "label",
                "owner",
                "options",
                "created",
                "state",
                "phase",
                "algorithm",
                "progress",
                "curves",
                "record",
                "record_path",
                "save_error",
                "error",
                "traceback",
                "started",
                "finished",
            )
            return {**copy.deepcopy({k: getattr(self, k) for k in keep}), **flags}

    @property
    def active(self) -> bool:
        return self.state in ACTIVE


class JobRegistry:
    """The server-wide queue: ``submit`` returns at once; a single worker thread runs jobs in order."""

    def __init__(self, runs_dir: str | Path, run_compare=None, run_sweep=None):
        atexit.register(self.shutdown)  # server stop (SIGTERM, Ctrl-C): finish the iteration, save, then exit
        self.runs_dir = Path(runs_dir)
        self._run_compare, self._run_sweep = run_compare, run_sweep
        self._lock = threading.Lock()
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._queue: deque[Job] = deque()
        self._wake = threading.Condition(self._lock)
        self._closed = False
        self._worker = threading.Thread(target=self._work, name="mamlviz-jobs", daemon=True)
        self._worker.start()

    def submit(self, kind: str, config: RunConfig | dict, label: str = "", owner: str = "", **options) -> Job:
        if kind not in ("compare", "sweep"):
            raise ValueError(f"kind: must be 'compare' or 'sweep', got {kind!r}")
        cfg = config if isinstance(config, RunConfig) else RunConfig.from_dict(config)  # validated here
        job = Job(kind=kind, config=cfg.to_dict(), label=label, owner=owner, options=options)
        with self._lock:
            if self._closed:
                raise RuntimeError("the job registry is shut down")
            self._jobs[job.id] = job
            self._queue.append(job)
            self._trim()
            self._wake.notify_all()
        return job

    def get(self, job_id: str | None) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id) if job_id else None

    def running(self) -> Job | None:
        with self._lock:
            return next((j for j in self._jobs.values() if j.state == "running"), None)

    def position(self, job_id: str) -> int | None:
        """1 for the next job to run, None when not queued."""
        with self._lock:
            for i, j in enumerate(self._queue):
                if j.id == job_id:
                    return i + 1
        return None

    def stop(self, job_id: str) -> None:
        """Stop a running job within an iteration, or take a queued one off the queue."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                return
            job.stop_event.set()
            if job in self._queue:
                self._queue.remove(job)
                with job.lock:
                    job.state, job.phase, job.finished = "cancelled", "cancelled", time.time()

    def skip_evaluation(self, job_id: str) -> None:
        """Abandon a running comparison's evaluation (it ends with the results it has, no test accuracies)."""
        job = self.get(job_id)
        if job is not None:
            job.skip_eval.set()

    def shutdown(self, timeout: float = 60.0) -> None:
        """Stop everything (tests, server exit) and wait for the worker: a running comparison ends
        after its current iteration, skips evaluation and saves its partial record."""
        with self._lock:
            self._closed = True
            for job in self._jobs.values():
                job.stop_event.set()
                job.skip_eval.set()
            self._queue.clear()
            self._wake.notify_all()
        self._worker.join(timeout)

    def _trim(self):
        finished = [j for j in self._jobs.values() if not j.active]
        for j in finished[: max(0, len(finished) - KEEP_FINISHED)]:
            del self._jobs[j.id]

    def _work(self):
        while True:
            with self._lock:
                while not self._queue and not self._closed:
                    self._wake.wait()
                if self._closed:
                    return
                job = self._queue.popleft()
                with job.lock:
                    job.state, job.phase, job.started = "running", "setup", time.time()
            self._run(job)

    def _run(self, job: Job):
        try:
            problem = self.unwritable_reason()
            if problem:  # checked before training: an hour of training must not end in a lost record
                raise RecordsFolderError(f"run records cannot be saved: {problem}")
            if job.kind == "compare":
                run = self._run_compare or _engine().compare
                extra = {"skip_eval": job.skip_eval, "params_dir": self.runs_dir}
            else:
                run = self._run_sweep or _engine().sweep
                extra = {}
            record = run(
                job.config,
                on_progress=job.on_progress,
                stop=job.stop_event,
                label=job.label,
                launched_from="dashboard",
                **extra,
                **job.options,
            )
            with job.lock:  # the results are the user's from here on, saved or not
                job.record = record
                job.state = "stopped" if record.get("status") == "stopped" else "done"
            target = self.runs_dir / f"{record['id']}.json"
            try:
                records.save(record, target)
                with job.lock:
                    job.record_path = str(target)
            except OSError as e:
                log.error("could not save run record %s: %s", target, e)
                with job.lock:
                    job.save_error = f"could not write {target.name} in {target.parent} ({e.strerror or e})"
        except Exception as e:  # the UI shows it; the server goes on
            log.exception("run %s failed", job.id)
            with job.lock:
                job.state, job.error = "failed", f"{type(e).__name__}: {e}"
                job.traceback = traceback.format_exc(limit=8)
        finally:
            with job.lock:
                job.phase, job.finished = "finished", time.time()

    def unwritable_reason(self) -> str | None:
        """Why records cannot be saved in the runs folder right now, or None."""
        return records.unwritable_reason(self.runs_dir / "run.json")


class RecordsFolderError(OSError):
    """The runs folder cannot take a record."""


def _engine():
    from . import engine  # torch loads here, in the worker, not when the UI imports this module

    return engine


def rate_and_eta(progress: dict, config: dict) -> tuple[float | None, float | None]:
    """Iterations per second and seconds left for one algorithm's latest snapshot."""
    it, total, elapsed = progress.get("iteration") or 0, progress.get("total") or 0, progress.get("elapsed_s") or 0
    if it <= 0 or elapsed <= 0:
        return None, None
    rate = it / elapsed
    eta = (total - it) / rate
    budget = config.get("time_budget_s")
    if budget:
        eta = min(eta, max(0.0, budget - elapsed))
    return rate, eta
