"""Runs as Ray tasks across a cluster: one GPU each where the cluster has GPUs, else a CPU share.

Progress goes up and stop requests go down through a small actor beside the driver. Ray is imported
only when a ``RayExecutor`` is made. No torch here (a worker imports the engine where the run executes).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

from .executors import Cancelled, Task, execute

log = logging.getLogger(__name__)
PACKAGE = Path(__file__).resolve().parents[1]
RAY_HINT = "Ray is not installed: pip install -r requirements-cluster.txt (adds ray[default] 2.60)"
CONNECT_TIMEOUT_S = 20.0  # a cluster that has not answered by then is reported unreachable
HUB_SILENCE_S = 60.0  # a run whose driver has not answered for this long stops (the driver is gone)


def ray_address() -> str | None:
    """The Ray cluster the dashboard sends runs to: $MAMLVIZ_RAY_ADDRESS, else $RAY_ADDRESS, else none."""
    for name in ("MAMLVIZ_RAY_ADDRESS", "RAY_ADDRESS"):
        value = os.environ.get(name, "").strip()
        if value:
            return value
    return None


def ray_available() -> bool:
    try:
        import ray  # noqa: F401
    except ImportError:
        return False
    return True


class _Hub:
    """A Ray actor between the driver and its running tasks: progress goes up, stop requests go down."""

    def __init__(self):
        self.inbox: list[tuple[str, str, object]] = []
        self.flags: dict[str, tuple[bool, bool]] = {}

    def post(self, tid: str, items: list) -> tuple[bool, bool]:
        """A task's news ((id, kind, payload) items); returns that task's (stop, skip_eval) flags."""
        self.inbox.extend(items)
        return self.flags.get(tid, (False, False))

    def drain(self) -> list:
        out, self.inbox = self.inbox, []
        return out

    def request(self, tid: str, stop: bool, skip_eval: bool) -> None:
        self.flags[tid] = (stop, skip_eval)


def _where(threads: int | None) -> str:
    import ray

    gpus = ray.get_gpu_ids()
    host = f"{socket.gethostname()} ({ray.util.get_node_ip_address()})"
    return host + (f", GPU {','.join(map(str, gpus))}" if gpus else f", {threads or 1} CPU thread(s)")


def _run_on_worker(tid: str, kind: str, config, options: dict, save_params: bool, hub, threads: int | None):
    """A Ray task: run one comparison or sweep, posting progress every half second and taking stop
    requests; returns the record and its networks' files (bytes), which the driver saves beside the record."""
    import ray
    import torch

    if threads:
        torch.set_num_threads(threads)
    stop, skip = threading.Event(), threading.Event()
    hub.post.remote(tid, [(tid, "placed", {"where": _where(threads), "pid": os.getpid()})])
    pending, lock, finished, replies = [], threading.Lock(), threading.Event(), []
    unheard = {"since": None}  # when the hub stopped answering (it restarts by itself if it was killed)

    def on_progress(snap):
        with lock:
            pending.append((tid, "progress", snap))

    def flush():
        # Never wait on the hub: while a task blocks in ray.get, Ray lends its CPUs to another task,
        # and the cluster would run more comparisons at once than it has room for.
        with lock:
            items = pending[:]
            pending.clear()
        try:
            replies.append(hub.post.remote(tid, items))
            ready, _ = ray.wait(replies, num_returns=len(replies), timeout=0)
            for ref in ready:
                replies.remove(ref)
                wants_stop, wants_skip = ray.get(ref)
                if wants_stop:
                    stop.set()
                if wants_skip:
                    skip.set()
            unheard["since"] = None
        except Exception:  # the hub is restarting, or gone with its driver: if nobody listens for long, stop
            replies.clear()
            unheard["since"] = unheard["since"] or time.monotonic()
            if time.monotonic() - unheard["since"] > HUB_SILENCE_S:
                stop.set()
                skip.set()

    def pump():
        while not finished.wait(0.5):
            flush()

    pumper = threading.Thread(target=pump, daemon=True)
    pumper.start()
    try:
        record, files = execute(kind, config, options, stop, skip, on_progress, save_params)
    finally:
        finished.set()
        pumper.join()
        flush()
    return record, files


def _reachable(address: str, timeout_s: float = 3.0) -> None:
    """ConnectionError naming ``address`` unless something listens there (a TCP connect, a few seconds at most)."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise ConnectionError(f"the Ray address must be host:port, got {address!r}")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout_s):
            pass
    except OSError as e:
        raise ConnectionError(f"nothing answers at {address} ({e.strerror or e}): is the Ray head running?") from None


def _send_token_if_any() -> None:
    """Clusters started by ``ray start`` use token authentication (Ray's default), but a client sends
    its token only in token mode: turn it on, as ``ray start`` does, when there is a token to send
    (a cluster without authentication accepts it too)."""
    if "RAY_AUTH_MODE" in os.environ:
        return
    try:
        from ray._private.authentication.authentication_token_setup import (
            maybe_enable_token_auth_if_token_available,
        )
    except ImportError:  # another Ray version: the RAY_AUTH_MODE variable still works
        return
    maybe_enable_token_auth_if_token_available(warn_if_disabled=False)


@dataclass
class _Live:
    task: Task
    ref: object
    future: Future
    placed: bool = False
    sent: tuple[bool, bool] = (False, False)


class RayExecutor:
    """Each run is a Ray task: one GPU each where the cluster has GPUs, else ``cpus_per_run`` CPUs, so
    the cluster runs as many at once as it has room for and queues the rest. ``address``: a running
    cluster ("host:port"), or "local" for a Ray runtime on this machine (``local_cpus`` CPUs)."""

    name = "ray"

    def __init__(self, address: str = "local", cpus_per_run: int = 1, local_cpus: int | None = None):
        try:
            import ray
            from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy
        except ImportError:
            raise RuntimeError(RAY_HINT) from None
        if not 1 <= cpus_per_run <= 256:
            raise ValueError(f"cpus_per_run: must be from 1 to 256, got {cpus_per_run}")
        self._ray, self._cpus_per_run = ray, cpus_per_run
        self.address = address if address != "local" else None
        self._lock = threading.Lock()
        self._live: dict[str, _Live] = {}
        self._closed, ready, failure = threading.Event(), threading.Event(), []

        def connect_then_pump():
            try:
                self._connect(address, local_cpus, NodeAffinitySchedulingStrategy)
            except BaseException as e:
                failure.append(e)
                return
            finally:
                ready.set()
            self._pump_loop()

        # Ray is started from this long-lived thread: the processes of a local runtime die with the
        # thread that started them (Linux's parent-death signal), and a Streamlit script's thread ends
        # after every rerun.
        if address != "local":
            _reachable(address)  # within seconds: never minutes of retries against a closed port
        self._pump = threading.Thread(target=connect_then_pump, name="mamlviz-ray", daemon=True)
        self._pump.start()
        if not ready.wait(CONNECT_TIMEOUT_S):
            self._closed.set()
            raise ConnectionError(f"the Ray cluster at {address} did not answer within {CONNECT_TIMEOUT_S:g} s")
        if failure:
            raise failure[0]

    def _connect(self, address: str, local_cpus: int | None, node_affinity) -> None:
        ray = self._ray
        # the package travels with the tasks, so worker nodes need Ray and torch but not mamlviz
        runtime_env = {"py_modules": [str(PACKAGE)], "env_vars": {"RAY_DEDUP_LOGS": "0"}}
        self._owns_runtime = not ray.is_initialized()  # else whoever started Ray here ends it
        if self._owns_runtime:
            if address == "local":
                ray.init(num_cpus=local_cpus, include_dashboard=False, runtime_env=runtime_env, log_to_driver=False)
            else:
                _send_token_if_any()
                ray.init(address=address, runtime_env=runtime_env, log_to_driver=False)
        self._resources = {k: v for k, v in ray.cluster_resources().items() if k in ("CPU", "GPU")}
        self._gpus = self._resources.get("GPU", 0) >= 1
        self.per_run = {"GPU": 1} if self._gpus else {"CPU": self._cpus_per_run}
        self._remote = ray.remote(max_retries=0)(_run_on_worker)
        # the hub lives beside this driver: it goes when the driver goes, never with another machine
        here = node_affinity(ray.get_runtime_context().get_node_id(), soft=False)
        # restarted by Ray if it dies (its calls retried), so that a lost hub does not fail the runs
        hub = ray.remote(num_cpus=0, scheduling_strategy=here, max_restarts=-1, max_task_retries=-1)(_Hub)
        self._hub = hub.remote()

    def resources(self) -> dict:
        return dict(self._resources)

    def parallel_words(self) -> str:
        if "GPU" in self.per_run:
            return "one run per GPU, as many at once as the cluster has GPUs: times compare across one GPU model"
        return (
            f"runs in parallel on the cluster's CPUs, {self.per_run['CPU']} CPU thread(s) each: runs that share a "
            "machine compete for its memory bandwidth, so times compare within this study, not with runs made alone"
        )

    def submit(self, task: Task) -> Future:
        """A GPU for a run that may use one (device auto or cuda) where the cluster has GPUs; else CPUs."""
        if self._closed.is_set():
            raise RuntimeError("the Ray executor is shut down")
        future: Future = Future()
        future.set_running_or_notify_cancel()
        if self._gpus and task.config.device != "cpu":
            threads, options = None, {"num_gpus": 1, "num_cpus": 1}
        else:
            threads, options = self._cpus_per_run, {"num_gpus": 0, "num_cpus": self._cpus_per_run}
        args = (task.id, task.kind, task.config, task.options, task.networks, self._hub, threads)
        ref = self._remote.options(**options).remote(*args)
        with self._lock:
            self._live[task.id] = _Live(task, ref, future)
        return future

    def _pump_loop(self):
        failures = 0
        while not self._closed.wait(0.2):
            try:
                self._pump_once()
                failures = 0
            except Exception as e:  # the cluster or the hub is gone: end the runs rather than hang
                failures += 1
                if failures >= 5:
                    self._fail_all(e)

    def _fail_all(self, error: BaseException):
        with self._lock:
            lives, self._live = list(self._live.values()), {}
        for live in lives:
            try:
                self._ray.cancel(live.ref, force=True)
            except Exception:
                pass
            live.future.set_exception(error)

    @staticmethod
    def _call(fn, *args):
        """A task owner's callback; its failure must not stop the news of the other runs."""
        if fn is not None:
            try:
                fn(*args)
            except Exception:
                log.exception("progress callback failed")

    def _pump_once(self):
        ray = self._ray
        with self._lock:
            lives = dict(self._live)
        if not lives:
            return
        for tid, kind, payload in ray.get(self._hub.drain.remote(), timeout=10):
            live = lives.get(tid)
            if live is None:
                continue
            if kind == "placed":
                live.placed = True
                self._call(live.task.on_placed, payload["where"], payload["pid"])
            elif kind == "progress":
                self._call(live.task.on_progress, payload)
        for tid, live in lives.items():
            wanted = (live.task.stop.is_set(), live.task.skip_eval.is_set())
            if wanted != live.sent:
                self._hub.request.remote(tid, *wanted)
                if wanted[0] and not live.placed:
                    # still waiting for room: it never starts. (One that started less than a poll ago is
                    # interrupted in its set-up: it had nothing to keep, and it is reported cancelled.)
                    ray.cancel(live.ref)
                live.sent = wanted
        refs = [live.ref for live in lives.values()]
        ready, _ = ray.wait(refs, num_returns=len(refs), timeout=0)
        for tid, live in lives.items():
            if live.ref in ready:
                with self._lock:
                    self._live.pop(tid, None)
                self._resolve(live)

    def _resolve(self, live: _Live):
        ray = self._ray
        try:
            record, files = ray.get(live.ref)
        except ray.exceptions.TaskCancelledError:
            live.future.set_exception(Cancelled())
        except ray.exceptions.RayTaskError as e:  # the run raised: pass on its own exception
            cause = e.cause if isinstance(getattr(e, "cause", None), Exception) else e
            live.future.set_exception(Cancelled() if isinstance(cause, Cancelled) else cause)
        except Exception as e:  # a worker or node lost, an object lost
            live.future.set_exception(e)
        else:
            live.future.set_result((record, files))  # the files are saved beside the record by its owner

    def shutdown(self) -> None:
        """Stop every task and let go of the cluster (a local runtime ends with it)."""
        with self._lock:
            lives = list(self._live.values())
        for live in lives:
            live.task.stop.set()
            live.task.skip_eval.set()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with self._lock:
                if not self._live:
                    break
            time.sleep(0.2)
        self._closed.set()
        self._pump.join(5)
        self._fail_all(Cancelled())  # what did not end in time: nobody waits on it forever
        if self._owns_runtime:
            self._ray.shutdown()
