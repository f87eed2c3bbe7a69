"""The live parts of the pages: the jobs list, a job's panel that redraws itself, the light live curves,
and charts drawn just after the first paint."""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from mamlviz import charts, svgchart
from mamlviz.run.jobs import JobRegistry
from views._state import capabilities, owner, registry, shown_path


def where_runs_go(reg: JobRegistry) -> str:
    """Where a Start sends its run, in words, for the sidebar."""
    ex = reg.executor
    if ex is None and reg.executor_pending:
        return f"Runs: on this server, one at a time, until the Ray cluster at {reg.executor_pending} answers"
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


def light_curves(series: dict, x: str) -> None:
    """Every variant's training curves as inline SVG: drawn at once, and cheap to redraw every second
    (inline, it cost training less than the same SVG as an image: bench/live_overhead.py). The SVG is
    built from numbers and this app's own labels only."""
    st.markdown(svgchart.curves_svg(series, x, charts.X_AXES[x]), unsafe_allow_html=True)


def light_validation(series: dict) -> None:
    """The held-out validation accuracy against training seconds, as points arrive (inline SVG, like the curves)."""
    if any(series.values()):
        st.markdown(svgchart.validation_svg(series), unsafe_allow_html=True)


def _state_line(reg: JobRegistry, job_id: str, snap: dict, head) -> None:
    """What the job is doing, in one line (and what happened, once it ended)."""
    state = snap["state"]
    if state == "queued" and reg.parallel:
        head.info("Waiting for room on the Ray cluster: starts when a GPU (or CPU share) is free.")
    elif state == "queued":
        head.info(f"Queued (position {reg.position(job_id)}): starts when the current run ends.")
    elif state == "running":
        head.markdown(f"**Running:** {snap['label']} · phase: {snap['phase']} · on {snap['where'] or '…'}")
        if snap["skip_requested"]:
            head.warning("Skipping the evaluation: the results will have no test accuracies.")
        elif snap["stop_requested"] and snap["phase"] == "setup":
            head.warning("Stop taken: the run ends when its set-up does, without training or evaluation.")
        elif snap["stop_requested"] and snap["phase"] == "train":
            head.warning(
                "Stop taken: training ends after the current round, every variant at the same iteration; the "
                "partly trained models are then evaluated, which you can skip."
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


def _buttons(reg: JobRegistry, job_id: str, snap: dict, col, stop_label: str) -> None:
    """Skip evaluation, Stop, or Take off the queue: whichever applies now."""
    state = snap["state"]
    if state == "running" and snap["phase"] in ("analysis", "eval") and not snap["skip_requested"]:
        col.button(
            "Skip evaluation",
            key=f"skip-{job_id}",
            width="stretch",
            on_click=reg.skip_evaluation,
            args=(job_id,),
            help="End the run now, without test accuracies.",
        )
    elif state == "running":
        col.button(
            stop_label,
            key=f"stop-{job_id}",
            width="stretch",
            on_click=reg.stop,
            args=(job_id,),
            disabled=snap["stop_requested"],
            help="Training ends after the current iteration.",
        )
    elif state == "queued" and snap["owner"] == owner():
        col.button("Take off the queue", key=f"stop-{job_id}", width="stretch", on_click=reg.stop, args=(job_id,))


def job_panel(job_id: str, draw: Callable[[dict], None], *, refresh_s: float, stop_label: str = "Stop") -> None:
    """A job's live panel: queued (with its position), running (with Stop), failed, cancelled or
    finished, then ``draw(snapshot)``. It redraws itself every ``refresh_s`` while the job is active,
    and once the job has ended it reruns the whole page, so the timer stops and the results appear."""
    reg = registry()
    job = reg.get(job_id)

    @st.fragment(run_every=refresh_s if job.active else None)
    def panel():
        snap = reg.get(job_id).snapshot()
        head, stop_col = st.columns([4, 1])
        _state_line(reg, job_id, snap, head)
        _buttons(reg, job_id, snap, stop_col, stop_label)
        draw(snap)
        if snap["state"] not in ("queued", "running") and st.session_state.get(f"drawn-{job_id}") is None:
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
