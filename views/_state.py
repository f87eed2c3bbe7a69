"""What the pages share that is not drawn: the server-wide job registry, the machine's capabilities,
this session's owner id, and the run records on disk."""

from __future__ import annotations

import json
import logging
import threading
import uuid
from pathlib import Path

import streamlit as st

from mamlviz import hosting, paths, records
from mamlviz.config import FIELDS
from mamlviz.run import cluster
from mamlviz.run.executors import describe_failure
from mamlviz.run.jobs import JobRegistry

log = logging.getLogger(__name__)


@st.cache_resource
def registry() -> JobRegistry:
    """One registry per server, shared by every session: runs go to the Ray cluster named by
    MAMLVIZ_RAY_ADDRESS (or RAY_ADDRESS), several at once, else one at a time on this server. The cluster is
    connected to in the background: no page waits for it, and runs stay here until it answers."""
    reg = JobRegistry(paths.runs_dir())
    address = cluster.ray_address()
    if address and capabilities().live_training:
        reg.executor_pending = address

        def connect():
            try:
                reg.executor = cluster.RayExecutor(address)
            except Exception as e:  # the pages still work; the sidebar says why runs stay here
                log.error("could not use the Ray cluster at %s: %s", address, e)
                reg.executor_error = f"the Ray cluster at {address} could not be used ({describe_failure(e)})"
            finally:
                reg.executor_pending = None

        threading.Thread(target=connect, name="mamlviz-ray-connect", daemon=True).start()
    return reg


@st.cache_resource
def capabilities() -> hosting.Capabilities:
    return hosting.detect()


def cannot_start(caps, reg: JobRegistry) -> list[str]:
    """Why a Start button on this server must stay off (live training off, records unsaveable), if at all."""
    if not caps.live_training:
        return [caps.reason]
    if unsaveable := reg.unwritable_reason():
        return [f"Run records cannot be saved: {unsaveable}. Set MAMLVIZ_RUNS_DIR to a writable folder."]
    return []


def owner() -> str:
    return st.session_state.setdefault("owner", uuid.uuid4().hex[:8])


def all_records():
    """Cached runs shipped with the app, then the user's; plus the files skipped and why."""
    return records.scan(paths.CACHED_RUNS, paths.runs_dir())


def of_kind(kind: str) -> list[tuple[Path, dict]]:
    """The records of one kind, newest first."""
    return [(p, r) for p, r in all_records()[0] if r["kind"] == kind]


SAME_SETTINGS = (  # what makes two comparisons the same experiment (not where or how it ran)
    "algorithms", "inner_lr", "outer_lr", "inner_steps", "train_tasks", "n_way", "k_shot", "k_query", "meta_batch",
    "eval_tasks", "eval_inner_steps", "time_budget_s", "fairness", "image_size",
)  # fmt: skip


def pick_compare(values: dict | None) -> tuple[Path, dict, str] | None:
    """The comparison a page opens on, and why in words: the newest complete one with the settings ``values``
    (the sidebar's), preferring the cached runs the index names; else the first cached run the index names
    (the most instructive, chosen when it was made); else the newest."""
    found = [(p, r) for p, r in of_kind("compare") if r["status"] == "complete"]
    if not found:
        return None
    index = cached_index()
    order = list(index)
    named = sorted((pr for pr in found if pr[0].name in index and source_of(pr[0]) == "cached"),
                   key=lambda pr: order.index(pr[0].name))  # fmt: skip
    if values:
        defaults = {f.name: f.default for f in FIELDS}  # a field newer than a record had its default then
        same = [
            pr
            for pr in named + found
            if all({**defaults, **pr[1]["config"]}[k] == values.get(k) for k in SAME_SETTINGS)
        ]
        if same:
            path, record = same[0]
            if (path, record) in named:
                return path, record, f"it has the settings in the sidebar: {index[path.name]}"
            return path, record, "it is the newest complete run with the settings in the sidebar"
    if named:
        path, record = named[0]
        return path, record, f"it is the cached reference run: {index[path.name]}"
    return (*found[0], "it is the newest complete run on record")


def cached_index() -> dict[str, str]:
    """cached_runs/index.json: file name -> what that record is."""
    try:
        return {e["file"]: e["what"] for e in json.loads((paths.CACHED_RUNS / "index.json").read_text())}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def shown_path(path) -> str:
    """A file as visitors may see it: the full path locally, only its name on a hosted copy."""
    return Path(path).name if capabilities().hosted else str(path)


def source_of(path) -> str:
    return "cached" if paths.CACHED_RUNS in path.parents else "yours"


def device_of(record: dict) -> str:
    """The device a record's figures come from (a study has none until its first run ends)."""
    env = record.get("environment")
    return env["device_name"] if env else "no run finished yet"


def run_title(record: dict) -> str:
    return record.get("label") or record["id"]
