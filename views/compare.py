"""Compare: train MAML and FOMAML side by side, watch both curves grow, read the measured verdict."""

import os
from types import SimpleNamespace

import streamlit as st

from mamlviz import charts, presets, records, summary
from mamlviz.config import BY_NAME, FIELDS, RunConfig, validation_errors
from mamlviz.jobs import rate_and_eta
from views import common

DEFAULT = "Default for this machine"
# Redraw period of the live view while a job runs (MAMLVIZ_REFRESH_S overrides): once a second keeps the
# curves moving while costing training at most about 15 % on 2 cores with the tab open (bench/live_overhead.py).
LIVE_REFRESH_S = float(os.environ.get("MAMLVIZ_REFRESH_S", "1.0"))
# Live training on a hosted CPU stays small, so that one visitor cannot hold the server for long.
HOSTED_CPU_LIMITS = {"train_tasks": 4000, "eval_tasks": 400, "inner_steps": 5, "meta_batch": 16, "n_way": 20}
SIDEBAR_FIELDS = [f for f in FIELDS if f.group in ("basic", "advanced")]  # numbers, and choices (select boxes)


def devices(caps) -> list[str]:
    return ["auto", "cpu"] + (["cuda"] if caps.cuda else [])


def apply_config(cfg: RunConfig, caps) -> None:
    """Put ``cfg`` into the sidebar's widgets (a time budget of None shows as 0)."""
    for f in SIDEBAR_FIELDS:
        v = getattr(cfg, f.name)
        st.session_state[f.name] = 0.0 if v is None else v
    st.session_state["device"] = cfg.device if cfg.device in devices(caps) else "auto"


def apply_preset(caps) -> None:
    choice = st.session_state["preset"]
    apply_config(presets.default_for(caps.cuda) if choice == DEFAULT else presets.PRESETS[choice], caps)


def number_widget(container, f):
    """The input for config field ``f`` (a number, or a choice); returns the slot under it where its error goes."""
    if f.choices:
        container.selectbox(f.label, f.choices, key=f.name, help=f.help or None)
        return container.empty()
    lo = f.widget_min if f.widget_min is not None else f.lo
    container.number_input(
        f.label,
        key=f.name,
        help=f.help or None,
        min_value=f.type(lo),
        max_value=f.type(f.hi),
        step=f.type(f.step),
        **({"format": f.fmt} if f.fmt else {}),
    )
    return container.empty()


def settings_sidebar(caps) -> tuple[dict, dict]:
    """Presets and every config field; returns (values, error slot per field)."""
    with st.sidebar:
        st.header("Run settings")
        st.selectbox(
            "Preset",
            [DEFAULT, *presets.PRESETS],
            key="preset",
            on_change=apply_preset,
            args=(caps,),
            help="Fills in the settings below; you can change any of them afterwards.",
        )
        slots = {f.name: number_widget(st, f) for f in SIDEBAR_FIELDS if f.group == "basic"}
        with st.expander("Advanced"):
            slots.update({f.name: number_widget(st, f) for f in SIDEBAR_FIELDS if f.group == "advanced"})
            device = BY_NAME["device"]
            st.selectbox(device.label, devices(caps), key="device", help=device.help)
            slots["device"] = st.empty()
    values = {f.name: st.session_state[f.name] for f in SIDEBAR_FIELDS}
    values["time_budget_s"] = values["time_budget_s"] or None
    values["device"] = st.session_state["device"]
    return values, slots


def setting_errors(values: dict, caps) -> dict[str, str]:
    """Field -> what is wrong with it, from RunConfig's rules and, when hosted on CPU, the size limits."""
    errors = {e.field: str(e).split(": ", 1)[1] for e in validation_errors(SimpleNamespace(path="auto", **values))}
    if caps.live_training and not caps.cuda and caps.hosted:
        for name, limit in HOSTED_CPU_LIMITS.items():
            if values[name] > limit and name not in errors:
                errors[name] = f"at most {limit} for live training on this server's CPU, got {values[name]}"
    return errors


def start_button(values: dict, errors: dict, caps, registry) -> None:
    """Start submits the job (queued behind another session's run, if one is going) and redraws.

    The button keeps one key and one label whatever the server is doing, so a click made on a page
    drawn before another session started its run is still this button's click."""
    mine = registry.get(st.session_state.get("job_id"))
    running = registry.running()
    busy = running is not None and (mine is None or running.id != mine.id)
    unsaveable = registry.unwritable_reason() if caps.live_training else None
    with st.sidebar:
        if not caps.live_training:
            st.warning(caps.reason)
        start = st.button(
            "Start",
            key="start",
            type="primary",
            width="stretch",
            disabled=bool(errors) or not caps.live_training or bool(mine and mine.active) or bool(unsaveable),
            help="Trains MAML, then FOMAML, on the same tasks; then evaluates both.",
        )
        if errors:
            st.caption("Fix the settings marked in red to enable Start.")
        elif unsaveable:
            st.error(
                f"Run records cannot be saved, so Start is off: {unsaveable}. "
                "Set MAMLVIZ_RUNS_DIR to a folder this server can write."
            )
        elif busy:
            st.caption("Another run is in progress: Start queues yours behind it.")
    if start:
        cfg = RunConfig(**values)
        label = f"{cfg.n_way}-way {cfg.k_shot}-shot, {cfg.inner_steps} inner step(s), {cfg.train_tasks} tasks"
        st.session_state["job_id"] = registry.submit("compare", cfg, label=label, owner=common.owner()).id
        st.rerun()  # draw the page again with Start disabled and the live view


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
        + (
            f", {summary.NAMES.get(snap['algorithm'], '')} {prog.get('iteration', 0)}/{prog.get('total', '?')}"
            if prog
            else ""
        )
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
        return frac, f"{summary.NAMES[name]}: {done}{rate} · {r['status'].replace('_', ' ')}"
    p = snap["progress"].get(name)
    if p is None:
        return 0.0, f"{summary.NAMES[name]}: waiting"
    total = max(1, p["total"])
    frac = min(1.0, p["iteration"] / total)
    if p["phase"] == "analysis":
        return frac, f"{summary.NAMES[name]}: trained; measuring its memory and gradient alignment…"
    if p["phase"] == "eval":
        done, total = p.get("eval_done") or 0, p.get("eval_total") or snap["config"]["eval_tasks"]
        if done >= total or snap["algorithm"] != name:
            return 1.0, f"{summary.NAMES[name]}: evaluated on {total} test tasks"
        return done / total, f"{summary.NAMES[name]}: evaluating on the test tasks… {done}/{total}"
    budget = p.get("budget_s") or snap["config"].get("time_budget_s")
    rate, eta = rate_and_eta(p, {"time_budget_s": budget})
    if budget and snap["config"].get("fairness") == "time":  # trains to a time, not a task count
        text = f"{summary.NAMES[name]}: {p['iteration']} iterations · {p['elapsed_s']:.1f}/{budget:.1f} s of training"
    else:
        text = f"{summary.NAMES[name]}: {p['iteration']}/{total} iterations"
    if rate:
        text += f" · {rate:.1f} it/s"
    if eta is not None and p["iteration"] < total and snap["state"] == "running" and snap["algorithm"] == name:
        text += f" · ETA {eta:.0f} s"
    if budget:
        frac = max(frac, min(1.0, p["elapsed_s"] / budget))
    return frac, text


def live_progress(snap: dict, x: str) -> None:
    """Progress bars and the curves of a running (or just finished) comparison: what the timer redraws."""
    for name in records.ALGORITHMS:
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
        common.light_curves(snap["curves"], x)


def live_caption(snap: dict, caps) -> None:
    cfg = snap["config"]
    st.caption(
        charts.label(snap["record"])
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
        list(charts.X_AXES),
        format_func=charts.X_AXES.get,
        horizontal=True,
        key=f"x-{job_id}",
        help="Wall-clock seconds show the speed difference directly.",
    )
    common.job_panel(job_id, lambda snap: live_progress(snap, x), refresh_s=LIVE_REFRESH_S)
    snap = registry.get(job_id).snapshot()
    live_caption(snap, caps)
    if snap["record"]:
        st.subheader("Results")
        common.show_results(snap["record"], key=job_id)


def latest_record() -> None:
    """Before any run of one's own: the most recent complete comparison on record."""
    found, _ = common.all_records()
    compares = [(p, r) for p, r in found if r["kind"] == "compare" and r["status"] != "stopped"]
    if not compares:
        st.info("No runs yet. Press **Start** in the sidebar: both curves appear here as they train.")
        return
    path, record = compares[0]
    st.subheader(f"Latest run ({common.source_of(path)}): {common.run_title(record)}")
    st.caption("Press **Start** in the sidebar to train your own; this is the most recent run record.")
    x = st.radio(
        "x-axis",
        list(charts.X_AXES),
        format_func=charts.X_AXES.get,
        horizontal=True,
        key="x-latest",
        help="Wall-clock seconds show the speed difference directly.",
    )
    curves = {n: r["curve"] for n, r in record["results"].items()}
    common.light_curves(curves, x)  # drawn at once
    common.show_results(record, key="latest", defer_charts=True)


caps = common.capabilities()
registry = common.registry()
if "inner_lr" not in st.session_state:
    apply_config(presets.default_for(caps.cuda), caps)
values, slots = settings_sidebar(caps)
errors = setting_errors(values, caps)
for name, message in errors.items():
    (slots.get(name) or st.sidebar).error(message)
start_button(values, errors, caps, registry)

st.title("MAML vs first-order MAML, side by side")
st.markdown(
    "Both variants meta-train on the **same Omniglot task stream** from the **same initialisation**; "
    "then both adapt to the same held-out test tasks. Training time, peak memory and accuracy are "
    "measured on this machine. The [theory](/theory) explains where the difference comes from."
)
if not caps.cuda and caps.live_training:
    st.caption(caps.reason)
other_session_notice(registry)
if st.session_state.get("job_id"):
    my_run(st.session_state["job_id"], caps, registry)
else:
    latest_record()
