"""Where runs execute: the executor interface, and the local one (this machine, one run at a time).

An executor takes a ``Task`` (what to run, and the stop switches its owner holds) and returns a
``concurrent.futures.Future`` of (its run record, the files to save beside it); progress snapshots and
the place a run landed on come back through the task's callbacks, called from the executor's own thread.
The study runner and the dashboard's job registry use the local one and ``mamlviz.run.ray.RayExecutor`` the same way.
No torch here (the engine is imported where a run executes).
"""

from __future__ import annotations

import os
import socket
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from ..config import RunConfig


class Cancelled(Exception):
    """The run was stopped before it started."""


@dataclass
class Task:
    kind: str  # "compare" or "sweep"
    config: RunConfig  # validated where the run was asked for (the form, the CLI), then passed through
    options: dict = field(default_factory=dict)  # label, launched_from; sweep: over, values, iterations
    networks: bool = False  # compare: send its networks back with its record, to be saved beside it
    stop: threading.Event = field(default_factory=threading.Event)
    skip_eval: threading.Event = field(default_factory=threading.Event)
    on_progress: Callable[[dict], None] | None = None
    on_placed: Callable[[str, int], None] | None = None  # where it runs and its process id, once it starts
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])


def execute(kind: str, config: RunConfig, options: dict, stop, skip_eval, on_progress, networks: bool, run=None):
    """Run a comparison or a sweep in this process (a Ray worker's or the app's own): (its record, the files to
    save beside it: its networks when ``networks``). ``run`` stands in for the engine's ``compare`` or
    ``sweep`` (tests of the job queue)."""
    files: dict[str, bytes] = {}
    if kind == "compare":
        if run is None:
            from ..engine import compare as run
        extra = {"skip_eval": skip_eval, **({"networks": files} if networks else {})}
    else:
        if run is None:
            from ..engine import sweep as run
        extra = {}
    return run(config, on_progress=on_progress, stop=stop, **extra, **options), files


def this_machine() -> str:
    return f"{socket.gethostname()} (this machine)"


class LocalExecutor:
    """One run at a time, in a worker thread of this process: timings never compete with each other."""

    name = "local"
    address = None
    per_run: dict = {}

    def __init__(self):
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="mamlviz-run")

    def resources(self) -> dict:
        return {"CPU": os.cpu_count() or 1}

    def parallel_words(self) -> str:
        return "one run at a time on one machine: times are comparable across the study's runs"

    def submit(self, task: Task) -> Future:
        return self._pool.submit(self._run, task)

    def _run(self, task: Task) -> dict:
        if task.stop.is_set():
            raise Cancelled()
        if task.on_placed:
            task.on_placed(this_machine(), os.getpid())
        on_progress = task.on_progress or (lambda snap: None)
        return execute(task.kind, task.config, task.options, task.stop, task.skip_eval, on_progress, task.networks)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def describe_failure(e: BaseException) -> str:
    """One line for a failed or lost run."""
    name = type(e).__name__
    text = str(e).strip().splitlines()
    first = next((line for line in text if line.strip()), "")
    return f"{name}: {first[:300]}" if first else name
