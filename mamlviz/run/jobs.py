"""Training jobs for a multi-session UI: one at a time on this server, or several at once on Ray.

The UI holds only a job id; worker threads write into the ``Job`` under its lock and never touch
the UI (Streamlit drops session-state writes from other threads). Without a cluster, one job at a
time, because CUDA memory counters are per device and two CPU jobs would distort each other's
timings. With a ``RayExecutor`` every job goes to the cluster at once, which runs one per GPU (or
per CPU share) and queues the rest; each job says where it runs. A job goes on when the tab that
started it closes, and its record is saved to ``runs_dir``. No torch at import time: the engine is
imported where a job runs.
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

from .. import records
from ..analysis import study
from ..config import RunConfig
from .executors import Cancelled, LocalExecutor, Task, execute, this_machine
from .study_runner import run_study

log = logging.getLogger(__name__)
ACTIVE = ("queued", "running")
KEEP_FINISHED = 20
KINDS = ("compare", "sweep", "study")


@dataclass
class Job:
    kind: str  # "compare", "sweep" or "study"
    config: RunConfig  # validated once, where the job was asked for; a study's: its plan's base
    label: str = ""
    owner: str = ""
    options: dict = field(default_factory=dict)  # sweep: over, values, iterations
    plan: study.Plan | None = None  # a study's runs, planned once where it was asked for
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:10])
    created: float = field(default_factory=time.time)
    state: str = "queued"  # queued, running, done, stopped, failed, cancelled
    phase: str = "queued"
    algorithm: str | None = None
    progress: dict = field(default_factory=dict)  # algorithm -> its latest progress snapshot
    curves: dict = field(default_factory=dict)  # algorithm -> {iteration, time_s, loss, accuracy}
    validation: dict = field(default_factory=dict)  # algorithm -> {iteration, time_s, accuracy}: held-out points
    record: dict | None = None
    record_path: str | None = None
    save_error: str | None = None  # the run finished but its record could not be written: why, and where
    error: str | None = None  # why the run failed, one line
    traceback: str | None = None  # for the server log and a local user; never shown on a hosted copy
    started: float | None = None
    finished: float | None = None
    where: str | None = None  # the machine (and GPU) it runs on, once it starts
    runs: dict = field(default_factory=dict)  # study: run key -> {state, where, attempts, progress, error}
    stop_event: threading.Event = field(default_factory=threading.Event, repr=False)
    skip_eval: threading.Event = field(default_factory=threading.Event, repr=False)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def on_progress(self, snap: dict) -> None:
        """compare()'s progress callback: keep the latest state and extend the live curves."""
        with self.lock:
            if snap.get("phase") == "validation":  # a point of the accuracy-against-time chart, between iterations
                v = self.validation.setdefault(snap["algorithm"], {"iteration": [], "time_s": [], "accuracy": []})
                for series, value in zip(("iteration", "time_s", "accuracy"), snap["validation"]):
                    v[series].append(value)
                return
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

    def placed(self, where: str, pid: int | None = None) -> None:
        with self.lock:
            self.where = where
            if self.state == "queued":
                self.state, self.phase, self.started = "running", "setup", time.time()

    def on_study_event(self, event: str, key: str, payload) -> None:
        """``run_study``'s events: each run's state, place and latest progress."""
        if not key:
            return
        with self.lock:
            run = self.runs.setdefault(key, {"state": "pending", "where": None, "attempts": 0, "progress": None})
            if event == "placed":
                run.update(state="running", where=payload["where"], attempts=run["attempts"] + 1)
            elif event == "progress" and payload.get("phase") != "validation":
                run["progress"] = dict(payload)
            elif event == "done":
                run.update(state=study.run_state(payload["status"]), error=None)
            elif event in ("retry", "failed"):
                run.update(state="pending" if event == "retry" else "failed", error=payload)
            elif event == "cancelled":
                run["state"] = "cancelled"

    def snapshot(self) -> dict:
        """A consistent copy for drawing (the worker keeps writing to the original)."""
        with self.lock:
            flags = {"stop_requested": self.stop_event.is_set(), "skip_requested": self.skip_eval.is_set()}
            keep = (
                "id",
                "kind",
                "label",
                "owner",
                "options",
                "created",
                "state",
                "phase",
                "algorithm",
                "progress",
                "curves",
                "validation",
                "record",
                "record_path",
                "save_error",
                "error",
                "traceback",
                "started",
                "finished",
                "where",
                "runs",
            )
            return {**copy.deepcopy({k: getattr(self, k) for k in keep}), "config": self.config.to_dict(), **flags}

    @property
    def active(self) -> bool:
        return self.state in ACTIVE


class JobRegistry:
    """The server-wide queue: ``submit`` returns at once; a single worker thread runs jobs in order."""

    def __init__(self, runs_dir: str | Path, run_compare=None, run_sweep=None, executor=None):
        atexit.register(self.shutdown)  # server stop (SIGTERM, Ctrl-C): finish the iteration, save, then exit
        self.runs_dir = Path(runs_dir)
        self._run_compare, self._run_sweep = run_compare, run_sweep
        self.executor = executor  # a RayExecutor: jobs run at once on the cluster; None: here, in turn
        self.executor_error: str | None = None  # why a cluster that was asked for is not used
        self.executor_pending: str | None = None  # the cluster being connected to, in the background
        self._lock = threading.Lock()
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._queue: deque[Job] = deque()
        self._wake = threading.Condition(self._lock)
        self._closed = False
        self._worker = threading.Thread(target=self._work, name="mamlviz-jobs", daemon=True)
        self._worker.start()

    @property
    def parallel(self) -> bool:
        return self.executor is not None

    def submit(
        self,
        kind: str,
        config: RunConfig | dict | None = None,
        label: str = "",
        owner: str = "",
        plan: study.Plan | None = None,
        **options,
    ) -> Job:
        """Queue a job: a compare or sweep of ``config`` (a RunConfig, validated where it was made; a dict is
        validated here), or a study of ``plan`` (planned, and so validated, where it was asked for)."""
        if kind not in KINDS:
            raise ValueError(f"kind: must be one of {', '.join(KINDS)}, got {kind!r}")
        if kind == "study":
            if plan is None:
                raise ValueError("plan: a study job needs its plan (mamlviz.analysis.study.plan)")
            config = plan.base
        cfg = config if isinstance(config, RunConfig) else RunConfig.from_dict(config)
        job = Job(kind=kind, config=cfg, label=label, owner=owner, options=options, plan=plan)
        if kind == "study":
            job.runs = {r.key: {"state": "pending", "where": None, "attempts": 0, "progress": None} for r in plan.runs}
        with self._lock:
            if self._closed:
                raise RuntimeError("the job registry is shut down")
            self._jobs[job.id] = job
            if self.parallel:  # the cluster queues it until it has room
                threading.Thread(target=self._run, args=(job,), name=f"mamlviz-job-{job.id}", daemon=True).start()
            else:
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

    def active_jobs(self) -> list[Job]:
        """Every queued or running job, oldest first: the server's jobs view."""
        with self._lock:
            return [j for j in self._jobs.values() if j.active]

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
            job.stop_event.set()  # on Ray, a run still waiting for room is cancelled by the executor
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
            running = [j for j in self._jobs.values() if j.active]
        self._worker.join(timeout)
        deadline = time.monotonic() + timeout
        while self.parallel and any(j.active for j in running) and time.monotonic() < deadline:
            time.sleep(0.1)
        if self.executor is not None:
            self.executor.shutdown()

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
            outcome = self._execute(job)
            if outcome is None:
                return
            record, files = outcome
            saved = why = None
            if job.kind != "study":  # a study saved itself and its runs as they came, and says where
                # the record and its networks as one unit; a full disk sends both to the temporary folder
                try:
                    saved, why = records.save_run_somewhere(record, files, self.runs_dir / f"{record['id']}.json")
                except Exception as e:  # the results stay the user's, saved or not
                    why = f"could not be saved ({type(e).__name__}: {e})"
                if why:
                    log.error("run record %s: %s", record["id"], why)
            with job.lock:  # one change: whoever sees the job finished also sees where its record went
                job.record = record
                job.state = "stopped" if record.get("status") == "stopped" else "done"
                if job.kind != "study":
                    job.record_path = str(saved) if saved else None
                    job.save_error = why
                job.phase, job.finished = "finished", time.time()
        except Exception as e:  # the UI shows it; the server goes on
            log.exception("run %s failed", job.id)
            with job.lock:
                job.state, job.error = "failed", f"{type(e).__name__}: {e}"
                job.traceback = traceback.format_exc(limit=8)
        finally:
            with job.lock:
                if job.finished is None:
                    job.phase, job.finished = "finished", time.time()

    def _execute(self, job: Job) -> tuple[dict, dict] | None:
        """Run the job where it belongs: (its record, the files to save beside it); None: cancelled before
        it started."""
        if job.kind == "study":
            if not self.parallel:
                job.placed(this_machine())
            executor = self.executor or LocalExecutor()
            try:
                return (
                    run_study(
                        job.plan,
                        self.runs_dir,
                        executor,
                        label=job.label,
                        launched_from="dashboard",
                        stop=job.stop_event,
                        on_event=lambda event, key, payload: self._study_event(job, event, key, payload),
                    ),
                    {},
                )
            finally:
                if executor is not self.executor:
                    executor.shutdown()
        options = {"label": job.label, "launched_from": "dashboard", **job.options}
        networks = job.kind == "compare"  # saved beside the record, for the Adaptation page
        if self.parallel:
            task = Task(
                job.kind,
                job.config,
                options,
                networks=networks,
                stop=job.stop_event,
                skip_eval=job.skip_eval,
                on_progress=job.on_progress,
                on_placed=job.placed,
            )
            try:
                return self.executor.submit(task).result()
            except Cancelled:
                with job.lock:
                    job.state, job.phase, job.finished = "cancelled", "cancelled", time.time()
                return None
        job.placed(this_machine())
        run = self._run_compare if job.kind == "compare" else self._run_sweep
        return execute(job.kind, job.config, options, job.stop_event, job.skip_eval, job.on_progress, networks, run)

    @staticmethod
    def _study_event(job: Job, event: str, key: str, payload) -> None:
        if event == "saved":
            with job.lock:
                job.record_path = payload
                job.phase = "running the grid"
        elif event == "placed" and job.state == "queued":
            job.placed("the Ray cluster")
        job.on_study_event(event, key, payload)

    def unwritable_reason(self) -> str | None:
        """Why records cannot be saved in the runs folder right now, or None."""
        return records.unwritable_reason(self.runs_dir / "run.json")


class RecordsFolderError(OSError):
    """The runs folder cannot take a record."""


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
