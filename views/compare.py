"""Compare: train the chosen algorithms side by side, watch the curves grow, read the measured verdict."""

import streamlit as st

from mamlviz import presets, variants
from mamlviz.charts import X_AXES, label
from mamlviz.charts import compare as charts
from mamlviz.run.jobs import rate_and_eta
from views import _config_form as form
from views import _live, _results, _state

L = variants.label


def other_session_notice(registry) -> None:
    """When someone else's run holds the server: what it is doing, and a button to watch it."""
    mine = registry.get(st.session_state.get("job_id"))
    running = registry.running()
    if running is None or (mine is not None and (mine.active or running.id == mine.id)):
        return
    snap = running.snapshot()
    prog = snap["progress"].get(snap["algorithm"] or "", {})
    st.info(
        f"Another session's run is in progress: **{snap['label']}** ({snap['phase']}"
        + (f", {L(snap['algorithm'])} {prog.get('iteration', 0)}/{prog.get('total', '?')}" if prog else "")
        + "). You can watch it, or queue your own run: it starts when this one ends."
    )
    if st.button("Watch it"):
        st.session_state["job_id"] = running.id
        st.rerun()


def progress_line(name: str, snap: dict) -> tuple[float, str]:
    """(fraction done, words) for one variant's progress bar."""
    if snap["record"]:  # finished: say how it ended, from the record
        r = snap["record"]["results"][name]
        rate = f" · {1000 / r['per_iteration_ms']:.1f} it/s" if r["per_iteration_ms"] else ""
        if r["stop_reason"] == "time budget":
            done = f"{r['iterations_done']} iterations in {r['train_time_s']:.1f} s (the time budget)"
            frac = 1.0
        else:
            done = f"{r['iterations_done']}/{r['iterations_planned']} iterations"
            frac = r["iterations_done"] / max(1, r["iterations_planned"])
        return frac, f"{L(name)}: {done}{rate} · {r['status'].replace('_', ' ')}"
    p = snap["progress"].get(name)
    if p is None:
        return 0.0, f"{L(name)}: waiting"
    total = max(1, p["total"])
    frac = min(1.0, p["iteration"] / total)
    if p["phase"] == "analysis":
        return frac, f"{L(name)}: trained; measuring its memory and gradient alignment…"
    if p["phase"] == "eval":
        done, total = p.get("eval_done") or 0, p.get("eval_total") or snap["config"]["eval_tasks"]
        if done >= total or snap["algorithm"] != name:
            return 1.0, f"{L(name)}: evaluated on {total} test tasks"
        return done / total, f"{L(name)}: evaluating on the test tasks… {done}/{total}"
    budget = p.get("budget_s") or snap["config"].get("time_budget_s")
    rate, eta = rate_and_eta(p, {"time_budget_s": budget})
    if budget and snap["config"].get("fairness") == "time":  # trains to a time, not a task count
        text = f"{L(name)}: {p['iteration']} iterations · {p['elapsed_s']:.1f}/{budget:.1f} s of training"
    else:
        text = f"{L(name)}: {p['iteration']}/{total} iterations"
    if rate:
        text += f" · {rate:.1f} it/s"
    if eta is not None and p["iteration"] < total and snap["state"] == "running" and snap["algorithm"] == name:
        text += f" · ETA {eta:.0f} s"
    if budget:
        frac = max(frac, min(1.0, p["elapsed_s"] / budget))
    return frac, text


def live_progress(snap: dict, x: str) -> None:
    """Progress bars and the curves of a running (or just finished) comparison: what the timer redraws."""
    for name in variants.ordered(snap["config"]["algorithms"].split(",")):
        frac, text = progress_line(name, snap)
        st.progress(frac, text=text)
    run = snap["progress"].get("run", {})
    if not snap["record"] and run.get("phase") == "eval":
        done, total = run.get("eval_done") or 0, run.get("eval_total") or 1
        st.progress(done / total, text=f"Un-meta-trained initialisation (the baseline): evaluating… {done}/{total}")
    if snap["record"]:  # finished: the interactive chart of the recorded curves
        st.plotly_chart(
            charts.curves({n: r["curve"] for n, r in snap["record"]["results"].items()}, x=x),
            key=f"curves-{snap['id']}",
        )
    else:  # training: a light SVG, cheap for the browser to redraw while it shares the CPU with training
        _live.light_curves(snap["curves"], x)


def live_caption(snap: dict, caps) -> None:
    cfg = snap["config"]
    st.caption(
        label(snap["record"])
        if snap["record"]
        else f"Live, on {caps.device_name if cfg['device'] != 'cpu' else 'CPU'}: {cfg['n_way']}-way "
        f"{cfg['k_shot']}-shot, {cfg['k_query']} queries per class, {cfg['inner_steps']} inner step(s), "
        f"meta-batch {cfg['meta_batch']}. Raw points are means over the iterations between two redraws."
    )


def my_run(job_id: str, caps, registry) -> None:
    """The session's own (or watched) run: live panel, then the results."""
    if registry.get(job_id) is None:
        st.session_state.pop("job_id", None)
        return
    x = st.radio(
        "x-axis",
        list(X_AXES),
        format_func=X_AXES.get,
        horizontal=True,
        key=f"x-{job_id}",
        help="Wall-clock seconds show the speed difference directly.",
    )
    _live.job_panel(job_id, lambda snap: live_progress(snap, x), refresh_s=form.refresh_period())
    snap = registry.get(job_id).snapshot()
    live_caption(snap, caps)
    if snap["record"]:
        st.subheader("Results")
        _results.show_results(snap["record"], key=job_id)


def latest_record() -> None:
    """Before any run of one's own: the most recent complete comparison on record."""
    compares = [(p, r) for p, r in _state.of_kind("compare") if r["status"] != "stopped"]
    if not compares:
        st.info("No runs yet. Press **Start** in the sidebar: both curves appear here as they train.")
        return
    path, record = compares[0]
    st.subheader(f"Latest run ({_state.source_of(path)}): {_state.run_title(record)}")
    st.caption("Press **Start** in the sidebar to train your own; this is the most recent run record.")
    x = st.radio(
        "x-axis",
        list(X_AXES),
        format_func=X_AXES.get,
        horizontal=True,
        key="x-latest",
        help="Wall-clock seconds show the speed difference directly.",
    )
    curves = {n: r["curve"] for n, r in record["results"].items()}
    _live.light_curves(curves, x)  # drawn at once
    _results.show_results(record, key="latest", defer_charts=True)


caps = _state.capabilities()
registry = _state.registry()
if "inner_lr" not in st.session_state:
    form.apply_config(presets.default_for(caps.cuda), caps)
values, slots = form.settings_sidebar(caps)
errors = form.setting_errors(values, caps)
for name, message in errors.items():
    (slots.get(name) or st.sidebar).error(message)
form.start_button(values, errors, caps, registry)

st.title("MAML vs first-order MAML, side by side")
st.markdown(
    "The chosen algorithms meta-train on the **same Omniglot task stream** from the **same initialisation**; "
    "then each adapts to the same held-out test tasks. Training time, memory and accuracy are "
    "measured on this machine. The [theory](/theory) explains where the difference comes from."
)
if not caps.cuda and caps.live_training:
    st.caption(caps.reason)
other_session_notice(registry)
if st.session_state.get("job_id"):
    my_run(st.session_state["job_id"], caps, registry)
else:
    latest_record()
