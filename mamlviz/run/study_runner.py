"""Run a study's plan on an executor: every run's record and the study record, written as they come.

All runs are handed to the executor at once (the local one runs them in turn, Ray as the cluster has
room). Each finished run's record is written atomically in ``out_dir``, and the study record is
rewritten after it, so a reader (the dashboard, or you after a crash) always finds a consistent
study with the runs done so far. A run that fails or whose worker is lost is reported and retried
once. Stop ends every run within an iteration, skipping evaluation, and takes the rest off.
No torch here.
"""

from __future__ import annotations

import datetime as _dt
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, CancelledError, wait
from pathlib import Path

from .. import records
from ..analysis.study import Plan, aggregate, complete_runs, memory_field, run_state
from .executors import Cancelled, Task, describe_failure

ATTEMPTS = 2  # a run that fails or is lost is tried once more
# (event, run key, payload); events: placed, progress, done, retry, failed, cancelled, saved
OnEvent = Callable[[str, str, object], None]


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


class Study:
    """The state of one study while it runs; ``record()`` is its study record at this moment."""

    def __init__(self, plan: Plan, executor, label: str, launched_from: str):
        self.plan, self.executor, self.label, self.launched_from = plan, executor, label, launched_from
        self.id = records.new_id()
        self.started, self.t0 = _now(), time.perf_counter()
        self.runs = {
            r.key: records.StudyRun(r.key, r.setting, r.seed, "pending", 0, None, None, None, []) for r in plan.runs
        }
        self.done: dict[str, dict] = {}  # run key -> its record (done or stopped)
        self.status = "running"

    def record(self) -> dict:
        finished = list(self.done.values())
        memory_words = memory_field(complete_runs(self.done))[1]
        first = next(iter(finished), None)
        return records.new_record(
            "study",
            self.plan.base,
            first["environment"] if first else None,
            self.label,
            self.id,
            created=self.started,
            status=self.status,
            protocol=records.StudyProtocol(
                grid=self.plan.grid,
                seeds=self.plan.seeds,
                runs=len(self.plan.runs),
                statistics=records.STUDY_STATISTICS,
                memory=memory_words,
                executor=self.executor.name,
                parallel=self.executor.parallel_words(),
                retries=f"a run that fails or whose worker is lost is reported and tried again ({ATTEMPTS} tries)",
            ),
            setup=records.StudySetup(
                launched_from=self.launched_from,
                executor=self.executor.name,
                address=self.executor.address,
                resources=self.executor.resources(),
                per_run=dict(self.executor.per_run),
                devices=sorted({r["environment"]["device_name"] for r in finished}),
                started=self.started,
                updated=_now(),
                wall_time_s=time.perf_counter() - self.t0,
            ),
            runs=list(self.runs.values()),
            settings=aggregate(self.plan, self.done),
        )


def _resume(study: Study, old: dict, out_dir: Path) -> set[str]:
    """Take over ``old``'s id and its finished runs (done or diverged, their records readable in ``out_dir``):
    the keys of the runs kept."""
    if old["kind"] != "study":
        raise ValueError(f"resume: {old['id']} is a {old['kind']} record, not a study")
    if set(study.runs) != {r["key"] for r in old["runs"]}:
        raise ValueError("resume: the study record's grid and seeds are not this plan's")
    study.id, study.started, study.label = old["id"], old["setup"]["started"], old["label"] or study.label
    kept = set()
    for run in old["runs"]:
        if run["state"] in ("done", "diverged") and run["record_file"]:
            try:
                study.done[run["key"]] = records.load(out_dir / run["record_file"])
            except records.RecordError:
                continue  # a missing or broken run record: the run is run again
            study.runs[run["key"]] = records.StudyRun(**run)
            kept.add(run["key"])
    return kept


def run_study(
    plan: Plan,
    out_dir: str | Path,
    executor,
    *,
    label: str = "",
    launched_from: str = "python",
    stop: threading.Event | None = None,
    on_event: OnEvent | None = None,
    resume: dict | None = None,
) -> dict:
    """Run every comparison of ``plan`` on ``executor``; return the final study record (also on disk as
    ``out_dir/<study id>.json``, beside the runs' own records). ``on_event`` is called in this thread.
    With ``resume`` (a study record of this plan, in ``out_dir``), its finished runs are kept as they are, read
    from their records, and only the others run; the study record keeps its id and is updated in place."""
    out_dir = Path(out_dir)
    problem = records.unwritable_reason(out_dir / "study.json")
    if problem:
        raise ValueError(f"out: {problem}")
    stop = stop or threading.Event()
    study = Study(plan, executor, label, launched_from)
    kept = _resume(study, resume, out_dir) if resume else set()
    folder = {"now": out_dir}  # where the study's files go: out_dir, or the temporary folder once it fails
    inbox: queue.Queue = queue.Queue()  # executor callbacks land here, from the executor's threads
    live: dict = {}  # future -> (planned run, task)
    tell = on_event or (lambda event, key, payload: None)

    def submit(planned):
        key = planned.key
        task = Task(
            "compare",
            planned.config,
            {"label": f"{label or 'study'} · {key}", "launched_from": launched_from},
            on_progress=lambda snap: inbox.put(("progress", key, snap)),
            on_placed=lambda where, pid: inbox.put(("placed", key, {"where": where, "pid": pid})),
        )
        study.runs[key].attempts += 1
        live[executor.submit(task)] = (planned, task)

    def relocate(why: str) -> bool:
        """A write failed (a full disk, a folder gone): from now on the study and all its runs, those done so
        far too, go to the temporary folder; False when that fails as well (the results stay in memory)."""
        if folder["now"] != out_dir:
            return False
        fallback = records.fallback_path(out_dir / study.id)
        try:
            for key, rec in study.done.items():
                if study.runs[key].record_file:
                    records.save(rec, fallback / study.runs[key].record_file)
        except OSError:
            return False
        folder["now"] = fallback
        tell("save-failed", "", f"{why}; the study and its runs are saved in {fallback} instead")
        return True

    def study_path() -> Path:
        return folder["now"] / f"{study.id}.json"

    def save_study(record: dict | None = None):
        record = record or study.record()
        try:
            records.save(record, study_path())
        except OSError as e:
            if relocate(f"could not write the study record in {folder['now']} ({e.strerror or e})"):
                records.save(record, study_path())
            else:
                raise

    def pass_on(news):
        for event, key, payload in news:
            if event == "placed":
                study.runs[key].state, study.runs[key].where = "running", payload["where"]
            tell(event, key, payload)

    def stop_all():
        for future, (_, task) in live.items():
            task.stop.set()
            task.skip_eval.set()
            future.cancel()  # the local queue's waiting runs never start

    def failed(planned, run, error: str):
        run.error = error
        run.errors.append(error)
        if run.attempts < ATTEMPTS and not stop.is_set():
            run.state = "pending"
            tell("retry", planned.key, error)
            submit(planned)
        else:
            run.state = "failed"
            tell("failed", planned.key, error)

    def finish(future):
        """A run ended: save its record, or retry it once, or note it was cancelled."""
        planned, _ = live.pop(future)
        run = study.runs[planned.key]
        try:
            record, files = future.result()
        except (Cancelled, CancelledError):
            run.state = "cancelled"
            tell("cancelled", planned.key, None)
            return
        except Exception as e:  # the run raised, or its worker or machine was lost
            failed(planned, run, describe_failure(e))
            return
        name = f"{record['id']}.json"
        try:
            records.save_run(record, files, folder["now"] / name)
        except OSError as e:
            why = f"could not write {name} in {folder['now']} ({e.strerror or e})"
            try:
                if not relocate(why):
                    raise
                records.save_run(record, files, folder["now"] / name)
            except OSError:
                run.state, run.error = "failed", f"{why}, nor anywhere else: its results are lost"
                run.errors.append(run.error)
                tell("failed", planned.key, run.error)
                return
        run.record_file, run.error = name, None  # an earlier attempt's error stays in errors
        run.state = run_state(record["status"])
        study.done[planned.key] = record
        tell("done", planned.key, record)

    for planned in plan.runs:
        if planned.key not in kept:
            submit(planned)
    save_study()
    tell("saved", "", str(study_path()))
    try:
        while live:
            finished, _ = wait(list(live), timeout=0.25, return_when=FIRST_COMPLETED)
            news = []
            while not inbox.empty():
                news.append(inbox.get())
            ending = {live[f][0].key for f in finished}
            pass_on([n for n in news if n[1] in ending])  # the runs that ended first, then the others' news
            if stop.is_set():
                stop_all()
            for future in finished:
                finish(future)
            pass_on([n for n in news if n[1] not in ending])
            if finished:
                save_study()
    except BaseException:  # a record that cannot be written, a second Ctrl-C: end every run, then report
        stop_all()
        wait(list(live), timeout=60)  # running ones end within an iteration: never two runs at once here
        study.status = "stopped"
        try:
            save_study()
        except Exception:
            pass  # the error being raised says more than this one
        raise
    failed_runs = any(r.state == "failed" for r in study.runs.values())
    study.status = "stopped" if stop.is_set() else "incomplete" if failed_runs else "complete"  # never "complete"
    final = study.record()  # with a failed run
    save_study(final)
    tell("saved", "", str(study_path()))
    return final
