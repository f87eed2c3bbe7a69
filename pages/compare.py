"""Compare: train MAML and FOMAML side by side, watch both curves grow, read the measured verdict."""
import os
from types import SimpleNamespace

import streamlit as st

from mamlviz import charts, presets, summary
from mamlviz.config import RunConfig, validation_errors
from mamlviz.jobs import rate_and_eta
from pages import common

caps = common.capabilities()
registry = common.registry()

# label, kind, widget limits, help. Limits mirror RunConfig's; combinations are checked below.
BASIC = {
    "inner_lr": ("Inner learning rate α", float, dict(min_value=0.0001, max_value=10.0, step=0.01, format="%.4f"),
                 "Step size of the per-task adaptation (inner loop)."),
    "outer_lr": ("Outer learning rate β (Adam)", float, dict(min_value=0.00001, max_value=1.0, step=0.0005,
                                                             format="%.5f"), "Meta-update step size."),
    "inner_steps": ("Inner steps (training)", int, dict(min_value=1, max_value=20, step=1),
                    "Gradient steps per task during meta-training. MAML differentiates through all of them."),
    "train_tasks": ("Training tasks", int, dict(min_value=1, max_value=10_000_000, step=32),
                    "Tasks seen in all = meta-iterations × meta-batch."),
}
ADVANCED = {
    "n_way": ("N-way (classes per task)", int, dict(min_value=2, max_value=100, step=1), None),
    "k_shot": ("K-shot (support images per class)", int, dict(min_value=1, max_value=10, step=1), None),
    "k_query": ("Query images per class", int, dict(min_value=1, max_value=19, step=1), None),
    "meta_batch": ("Meta-batch (tasks per iteration)", int, dict(min_value=1, max_value=256, step=1), None),
    "eval_tasks": ("Evaluation tasks", int, dict(min_value=10, max_value=100_000, step=10),
                   "Held-out test tasks; the same ones for both variants and the baseline."),
    "eval_inner_steps": ("Inner steps at test", int, dict(min_value=1, max_value=50, step=1), None),
    "seed": ("Seed", int, dict(min_value=0, max_value=2**31 - 1, step=1), None),
    "time_budget_s": ("Time budget per variant (s, 0 = none)", float, dict(min_value=0.0, max_value=86_400.0,
                                                                        step=5.0), None),
}
FIELDS = {**BASIC, **ADVANCED}
DEVICES = ["auto", "cpu"] + (["cuda"] if caps.cuda else [])
# Live training on a hosted CPU stays small, so that one visitor cannot hold the server for long.
# Redraw period of the live view while a job runs (MAMLVIZ_REFRESH_S overrides).
LIVE_REFRESH_S = float(os.environ.get("MAMLVIZ_REFRESH_S", "0.5"))
HOSTED_CPU_LIMITS = {"train_tasks": 4000, "eval_tasks": 400, "inner_steps": 5, "meta_batch": 16, "n_way": 20}


def _apply(cfg: RunConfig):
    for name in FIELDS:
        v = getattr(cfg, name)
        st.session_state[name] = (v or 0.0) if name == "time_budget_s" else v
    st.session_state["device"] = cfg.device if cfg.device in DEVICES else "auto"


def _on_preset():
    choice = st.session_state["preset"]
    _apply(presets.default_for(caps.cuda) if choice == DEFAULT else presets.PRESETS[choice])


DEFAULT = "Default for this machine"
if "inner_lr" not in st.session_state:
    _apply(presets.default_for(caps.cuda))


def _widget(container, name):
    label, typ, limits, help_ = FIELDS[name]
    container.number_input(label, key=name, help=help_, **limits)
    return container.empty()  # where this control's error goes


with st.sidebar:
    st.header("Run settings")
    st.selectbox("Preset", [DEFAULT, *presets.PRESETS], key="preset", on_change=_on_preset,
                 help="Fills in the settings below; you can change any of them afterwards.")
    slots = {name: _widget(st, name) for name in BASIC}
    with st.expander("Advanced"):
        slots.update({name: _widget(st, name) for name in ADVANCED})
        st.selectbox("Device", DEVICES, key="device",
                     help="auto = the GPU when there is one. Times and memory are only comparable on one device.")
        slots["device"] = st.empty()

values = {name: st.session_state[name] for name in FIELDS}
values["time_budget_s"] = values["time_budget_s"] or None
values["device"] = st.session_state["device"]
errors = {e.field: str(e).split(": ", 1)[1] for e in validation_errors(SimpleNamespace(path="auto", **values))}
if caps.live_training and not caps.cuda and caps.hosted:
    for name, limit in HOSTED_CPU_LIMITS.items():
        if values[name] > limit and name not in errors:
            errors[name] = f"at most {limit} for live training on this server's CPU, got {values[name]}"
for name, msg in errors.items():
    (slots.get(name) or st.sidebar).error(msg)

mine = registry.get(st.session_state.get("job_id"))
running = registry.running()
busy = running is not None and (mine is None or running.id != mine.id)
with st.sidebar:
    if not caps.live_training:
        st.warning(caps.reason)
    start = st.button("Queue run" if busy else "Start", type="primary", width="stretch",
                      disabled=bool(errors) or not caps.live_training or bool(mine and mine.active),
                      help="Trains MAML, then FOMAML, on the same tasks; then evaluates both.")
    if errors:
        st.caption("Fix the settings marked in red to enable Start.")
if start:
    cfg = RunConfig(**values)
    label = f"{cfg.n_way}-way {cfg.k_shot}-shot, {cfg.inner_steps} inner step(s), {cfg.train_tasks} tasks"
    mine = registry.submit("compare", cfg, label=label, owner=common.owner())
    st.session_state["job_id"] = mine.id
    st.rerun()  # draw the page again with Start disabled and the live view

st.title("MAML vs first-order MAML, side by side")
st.markdown("Both variants meta-train on the **same Omniglot task stream** from the **same initialisation**; "
            "then both adapt to the same held-out test tasks. Training time, peak memory and accuracy are "
            "measured on this machine. The [theory](/theory) explains where the difference comes from.")
if caps.hosted and not caps.cuda and caps.live_training:
    st.caption(caps.reason)

if busy and (mine is None or not mine.active):
    snap = running.snapshot()
    prog = snap["progress"].get(snap["algorithm"] or "", {})
    st.info(f"Another session's run is in progress: **{snap['label']}** ({snap['phase']}"
            + (f", {summary.NAMES.get(snap['algorithm'], '')} {prog.get('iteration', 0)}/{prog.get('total', '?')}"
               if prog else "") + "). You can watch it, or queue your own run: it starts when this one ends.")
    if st.button("Watch it"):
        st.session_state["job_id"] = running.id
        st.rerun()


def _progress_line(name, snap):
    if snap["record"]:  # finished: say how it ended, from the record
        r = snap["record"]["results"][name]
        rate = f" · {1000 / r['per_iteration_ms']:.1f} it/s" if r["per_iteration_ms"] else ""
        return (r["iterations_done"] / max(1, r["iterations_planned"]),
                f"{summary.NAMES[name]}: {r['iterations_done']}/{r['iterations_planned']} iterations{rate} · "
                f"{r['status'].replace('_', ' ')}")
    p = snap["progress"].get(name)
    if p is None:
        return 0.0, f"{summary.NAMES[name]}: waiting"
    total = max(1, p["total"])
    frac = min(1.0, p["iteration"] / total)
    if p["phase"] == "eval":
        if snap["algorithm"] != name:
            return frac, f"{summary.NAMES[name]}: evaluated"
        return frac, f"{summary.NAMES[name]}: evaluating on {snap['config']['eval_tasks']} test tasks…"
    rate, eta = rate_and_eta(p, snap["config"])
    text = f"{summary.NAMES[name]}: {p['iteration']}/{total} iterations"
    if rate:
        text += f" · {rate:.1f} it/s"
    if eta is not None and p["iteration"] < total and snap["state"] == "running" and snap["algorithm"] == name:
        text += f" · ETA {eta:.0f} s"
    if snap["config"].get("time_budget_s"):
        frac = max(frac, min(1.0, p["elapsed_s"] / snap["config"]["time_budget_s"]))
    return frac, text


def live_view(job_id: str):
    job = registry.get(job_id)
    if job is None:
        st.session_state.pop("job_id", None)
        return

    @st.fragment(run_every=LIVE_REFRESH_S if job.active else None)
    def live():
        snap = registry.get(job_id).snapshot()
        state = snap["state"]
        head, stop_col = st.columns([4, 1])
        if state == "queued":
            head.info(f"Queued (position {registry.position(job_id)}): starts when the current run ends.")
        elif state == "running":
            head.markdown(f"**Running:** {snap['label']} · phase: {snap['phase']}")
        elif state == "failed":
            head.error(f"The run failed: {snap['error'].splitlines()[0]}")
            with head.expander("Details"):
                st.code(snap["error"])
        elif state == "cancelled":
            head.warning("Taken off the queue.")
        else:
            head.success(f"Finished: {snap['label']}" + (" (stopped early)" if state == "stopped" else ""))
        if state in ("queued", "running") and stop_col.button("Stop", key=f"stop-{job_id}", width="stretch"):
            registry.stop(job_id)
        for name in ("maml", "fomaml"):
            frac, text = _progress_line(name, snap)
            st.progress(frac, text=text)
        x = st.radio("x-axis", list(charts.X_AXES), format_func=charts.X_AXES.get, horizontal=True,
                     key=f"x-{job_id}", help="Wall-clock seconds show the speed difference directly.")
        series = {n: r["curve"] for n, r in snap["record"]["results"].items()} if snap["record"] else snap["curves"]
        st.plotly_chart(charts.curves(series, x=x), key=f"curves-{job_id}")
        cfg = snap["config"]
        st.caption(charts.label(snap["record"]) if snap["record"] else
                   f"Live, on {caps.device_name if cfg['device'] != 'cpu' else 'CPU'}: {cfg['n_way']}-way "
                   f"{cfg['k_shot']}-shot, {cfg['k_query']} queries per class, {cfg['inner_steps']} inner step(s), "
                   f"meta-batch {cfg['meta_batch']}. Points are means over the iterations since the last redraw.")
        if state not in ("queued", "running") and st.session_state.get("final_drawn") != job_id:
            st.session_state["final_drawn"] = job_id
            st.rerun()  # the whole page: the timer stops and the results appear

    live()
    snap = job.snapshot()
    if snap["record"]:
        st.subheader("Results")
        common.show_results(snap["record"], key=job_id)
        st.caption(f"Saved as {snap['record_path']}")


job_id = st.session_state.get("job_id")
if job_id:
    live_view(job_id)
else:
    found, _ = common.all_records()
    compares = [(p, r) for p, r in found if r["kind"] == "compare" and r["status"] != "stopped"]
    if compares:
        path, record = compares[0]
        st.subheader(f"Latest run ({common.source_of(path)}): {common.run_title(record)}")
        st.caption("Press **Start** in the sidebar to train your own; this is the most recent run record.")
        series = {n: r["curve"] for n, r in record["results"].items()}
        x = st.radio("x-axis", list(charts.X_AXES), format_func=charts.X_AXES.get, horizontal=True, key="x-latest")
        st.plotly_chart(charts.curves(series, x=x), key="curves-latest")
        common.show_results(record, key="latest")
    else:
        st.info("No runs yet. Press **Start** in the sidebar: both curves appear here as they train.")
