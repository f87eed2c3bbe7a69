"""What the pages share: the server-wide job registry, the machine's capabilities, run records,
the live job panel and the results block."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from pathlib import Path

import streamlit as st

from mamlviz import charts, executors, hosting, paths, records, summary, svgchart
from mamlviz.jobs import JobRegistry

log = logging.getLogger(__name__)


@st.cache_resource
def registry() -> JobRegistry:
    """One registry per server, shared by every session: runs go to the Ray cluster named by
    MAMLVIZ_RAY_ADDRESS (or RAY_ADDRESS), several at once, else one at a time on this server."""
    address = executors.ray_address()
    if address and capabilities().live_training:
        try:
            return JobRegistry(paths.runs_dir(), executor=executors.RayExecutor(address))
        except Exception as e:  # the pages still work; the sidebar says why runs stay here
            log.error("could not use the Ray cluster at %s: %s", address, e)
            reg = JobRegistry(paths.runs_dir())
            reg.executor_error = f"the Ray cluster at {address} could not be used ({executors.describe_failure(e)})"
            return reg
    return JobRegistry(paths.runs_dir())


def where_runs_go(reg: JobRegistry) -> str:
    """Where a Start sends its run, in words, for the sidebar."""
    ex = reg.executor
    if ex is None:
        note = f" ({reg.executor_error})" if reg.executor_error else ""
        return "Runs: on this server, one at a time" + note
    res = ex.resources()
    room = f"{res['GPU']:g} GPU(s)" if res.get("GPU") else f"{res.get('CPU', 0):g} CPUs"
    return f"Runs: on the Ray cluster at {ex.address or 'this machine'} ({room}), several at once"


def jobs_view(reg: JobRegistry) -> None:
    """Every queued and running job on this server, and where each runs; redrawn every few seconds
    while there are any (by itself: the rest of the page does not rerun)."""

    @st.fragment(run_every=3.0 if reg.active_jobs() else None)
    def jobs():
        active = reg.active_jobs()
        if not active:
            return
        with st.expander(f"Jobs on this server ({len(active)})"):
            for job in active:
                snap = job.snapshot()
                where = snap["where"] or ("waiting for room on the cluster" if reg.parallel else "waiting in the queue")
                st.caption(f"**{snap['kind']}** · {snap['label'] or snap['id']} · {snap['state']} · {where}")

    jobs()


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


def light_curves(series: dict, x: str) -> None:
    """Both variants' training curves as inline SVG: drawn at once, and cheap to redraw every second
    (inline, it cost training less than the same SVG as an image: bench/live_overhead.py). The SVG is
    built from numbers and this app's own labels only."""
    st.markdown(svgchart.curves_svg(series, x, charts.X_AXES[x]), unsafe_allow_html=True)


def job_panel(job_id: str, draw: Callable[[dict], None], *, refresh_s: float, stop_label: str = "Stop") -> None:
    """A job's live panel: queued (with its position), running (with Stop), failed, cancelled or
    finished, then ``draw(snapshot)``. It redraws itself every ``refresh_s`` while the job is active,
    and once the job has ended it reruns the whole page, so the timer stops and the results appear."""
    reg = registry()
    job = reg.get(job_id)

    @st.fragment(run_every=refresh_s if job.active else None)
    def panel():
        snap = reg.get(job_id).snapshot()
        state = snap["state"]
        head, stop_col = st.columns([4, 1])
        if state == "queued" and reg.parallel:
            head.info("Waiting for room on the Ray cluster: starts when a GPU (or CPU share) is free.")
        elif state == "queued":
            head.info(f"Queued (position {reg.position(job_id)}): starts when the current run ends.")
        elif state == "running":
            head.markdown(f"**Running:** {snap['label']} · phase: {snap['phase']} · on {snap['where'] or '…'}")
            if snap["skip_requested"]:
                head.warning("Skipping the evaluation: the results will have no test accuracies.")
            elif snap["stop_requested"] and snap["phase"] == "train":
                head.warning(
                    "Stop taken: training ends after the current iteration; the partly trained models are "
                    "then evaluated, which you can skip."
                )
        elif state == "failed":
            head.error(f"The run failed: {snap['error']}")
            if snap["traceback"] and not capabilities().hosted:  # a hosted copy keeps it in the server log
                with head.expander("Details"):
                    st.code(snap["traceback"])
        elif state == "cancelled":
            head.warning("Taken off the queue.")
        else:
            head.success(
                f"Finished: {snap['label']}"
                + (" (stopped early)" if state == "stopped" else "")
                + (f"; saved as {shown_path(snap['record_path'])}" if snap["record_path"] else "")
            )
            if snap["save_error"]:
                head.warning(
                    f"The results are below, but the run record was not saved: {snap['save_error']}. "
                    "Download it with the button under the results before closing this tab."
                )
        if state == "running" and snap["phase"] in ("analysis", "eval") and not snap["skip_requested"]:
            stop_col.button(
                "Skip evaluation",
                key=f"skip-{job_id}",
                width="stretch",
                on_click=reg.skip_evaluation,
                args=(job_id,),
                help="End the run now, without test accuracies.",
            )
        elif state == "running":
            stop_col.button(
                stop_label,
                key=f"stop-{job_id}",
                width="stretch",
                on_click=reg.stop,
                args=(job_id,),
                disabled=snap["stop_requested"],
                help="Training ends after the current iteration.",
            )
        elif state == "queued" and snap["owner"] == owner():
            stop_col.button(
                "Take off the queue", key=f"stop-{job_id}", width="stretch", on_click=reg.stop, args=(job_id,)
            )
        draw(snap)
        if state not in ("queued", "running") and st.session_state.get(f"drawn-{job_id}") is None:
            st.session_state[f"drawn-{job_id}"] = True
            st.rerun()  # the whole page: the timer stops and what depends on the result appears

    panel()


def after_first_paint(key: str, draw: Callable[[], None], waiting: str) -> None:
    """Draw ``draw`` once the rest of the page is on screen: the first time a session sees it, the
    page goes out without it (Plotly's code takes the browser about a second to load on 2 cores),
    and a one-off timer brings it a moment later."""
    ready = f"painted-{key}"

    @st.fragment(run_every=None if st.session_state.get(ready) else 1.0)
    def later():
        state = st.session_state.get(ready)
        if state is True:
            draw()
        elif state == "due":  # the timer fired: the page is on screen
            st.session_state[ready] = True
            st.rerun()  # the whole page, so that the timer stops and the charts are drawn
        else:
            st.caption(waiting)
            st.session_state[ready] = "due"

    later()


def show_results(record: dict, key: str, defer_charts: bool = False) -> None:
    """The comparison: bars, ratios in words, baseline and chance, recommendation, downloads."""
    res = record["results"]
    if record["status"] == "stopped":
        done = ", ".join(
            f"{summary.NAMES[n]} {r['iterations_done']}/{r['iterations_planned']} iterations ({r['status']})"
            for n, r in res.items()
        )
        st.warning(f"Stopped early: partial results. {done}. Accuracies are for the partially trained models.")
    elif record["status"] == "diverged":
        bad = [
            f"{summary.NAMES[n]} at iteration {r['diverged_at']}" for n, r in res.items() if r["status"] == "diverged"
        ]
        st.error(f"Diverged (non-finite loss): {', '.join(bad)}. The other variant's results stand.")
    for warning in summary.warnings(record):
        st.warning(warning)
    cols = st.columns(3)
    for col, (title, field, fmt) in zip(
        cols,
        (
            ("Training time", "train_time_s", lambda v: f"{v:.1f} s"),
            (
                "Held for backprop (exact)" if summary.memory_key(record) == "autograd_saved_bytes" else "Peak memory",
                summary.memory_key(record),
                summary.fmt_bytes,
            ),
            ("Test accuracy", "test", summary.fmt_accuracy),
        ),
    ):
        with col:
            st.markdown(f"**{title}**")
            for n in records.ALGORITHMS:
                v = res[n].get(field)
                st.markdown(f"{summary.NAMES[n]}: {fmt(v) if v is not None else '–'}")

    def result_charts():
        st.plotly_chart(charts.result_bars(record), key=f"bars-{key}")
        race(record, key)
        why_they_differ(record, key)

    if defer_charts:
        after_first_paint(key, result_charts, "Drawing the charts…")
    else:
        result_charts()
    c = summary.compare_numbers(record)
    st.markdown(f"#### {summary.ratio_words(c)}")
    base = record.get("baseline")
    st.markdown(
        (f"Un-meta-trained initialisation, adapted the same way: **{summary.fmt_accuracy(base)}**; " if base else "")
        + f"chance: **{record['chance'] * 100:.0f} %**."
    )
    st.info("**Recommendation.** " + summary.recommendation(record))
    st.caption(
        f"{charts.label(record)}. Memory: {record['protocol']['memory']}. "
        f"Timing: {record['protocol']['timing']}."
        + (
            " Trained by the dashboard while it redrew the live curves: on a machine with few cores the "
            "browser's drawing competes with training, so for benchmark figures use the CLI."
            if record["setup"]["launched_from"] == "dashboard"
            else ""
        )
    )
    d1, d2 = st.columns(2)
    with d1:
        record_download(record, f"{record['id']}.json", key=f"json-{key}")
    d2.download_button(
        "Download curves (CSV)",
        lambda: records.curves_csv(record),  # built when clicked, not at every redraw
        file_name=f"{record['id']}-curves.csv",
        mime="text/csv",
        key=f"csv-{key}",
        on_click="ignore",
    )


def race(record: dict, key: str) -> None:
    """The two recorded training curves replayed on the wall-clock axis, animated by the browser."""
    if not all(record["results"][n]["curve"]["time_s"] for n in records.ALGORITHMS):
        return
    if st.toggle(
        "Replay as a race",
        key=f"race-{key}",
        help="Both variants' recorded training accuracy against wall-clock seconds, played back in your "
        "browser at real speed or five times faster: watch which finishes first and where MAML pulls ahead.",
    ):
        st.plotly_chart(charts.race(record), key=f"race-chart-{key}")
        facts = charts.race_facts(record)
        ends = {n: t for n, t in facts["ends"].items() if t is not None}
        first = min(ends, key=ends.get)
        words = (
            f"{summary.NAMES[first]} finished first, after {ends[first]:.1f} s of training"
            + (f"; the other after {max(ends.values()):.1f} s" if len(ends) == 2 else "")
            + ". "
        )
        ahead = facts["maml_ahead_from"]
        words += (
            f"MAML's smoothed training accuracy stays ahead of FOMAML's from {ahead:.1f} s on."
            if ahead is not None
            else "MAML's smoothed training accuracy never stays ahead of FOMAML's."
        )
        st.caption(words + f" {summary.fairness_words(record)}.")


def why_they_differ(record: dict, key: str) -> None:
    """The mechanism, measured on this run: what each variant holds for backprop, and how far the
    first-order gradient points from the exact one, over training and per layer."""
    fig = charts.alignment(record)
    memory = summary.memory_words(record)
    if fig is None and memory is None:
        return
    st.markdown("#### Why they differ, measured on this run")
    if memory:
        st.markdown(memory)
    if fig is not None:
        st.markdown(
            "FOMAML drops the Hessian term of MAML's meta-gradient. Below, both meta-gradients are computed "
            "exactly at the same parameters and tasks: a cosine of 1 means the shortcut loses nothing, 0 that it "
            "points in an unrelated direction."
        )
        st.plotly_chart(fig, key=f"align-{key}")
        for line in summary.alignment_words(record):
            st.markdown(f"- {line}")
    st.caption(
        f"Alignment: {record['protocol']['alignment']}. Held for backprop: {record['protocol']['saved_memory']}."
    )


def record_download(record: dict, file_name: str, key: str) -> None:
    """The run record as a JSON download, built only when clicked (records can be large)."""
    st.download_button(
        "Download run record (JSON)",
        lambda: records.dumps(record),
        file_name=file_name,
        mime="application/json",
        key=key,
        on_click="ignore",
    )
