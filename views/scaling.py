"""Scaling: time, memory and gradient alignment against inner steps or the inner learning rate, measured."""

import streamlit as st

from mamlviz import charts, presets, scaling
from views import common

LEARNING_RATES = [0.0001, 0.001, 0.01, 0.05, 0.1, 0.2, 0.4, 0.8]


def recorded_sweeps() -> None:
    """Pick a sweep record; its two charts and the fitted slopes."""
    found, _ = common.all_records()
    sweeps = [(p, r) for p, r in found if r["kind"] == "sweep" and r["points"]]
    if not sweeps:
        st.info("No sweep recorded yet: start one below.")
        return
    titles = [
        f"{common.run_title(r)} · {r['environment']['device_name']} · {r['created'][:16]} ({common.source_of(p)})"
        for p, r in sweeps
    ]
    idx = st.selectbox("Sweep record", range(len(sweeps)), format_func=titles.__getitem__)
    record = sweeps[idx][1]
    over = record["protocol"]["over"]
    st.plotly_chart(charts.scaling(record["points"], over=over), key="scaling")
    for line in scaling.describe(record["points"], over=over):
        st.markdown(f"- {line}")
    st.caption(
        charts.label(record) + f". Device memory: {record['protocol']['memory']}. Held for backprop: "
        f"{record['protocol']['saved_memory']}. Alignment: {record['protocol']['sweep']}."
    )


def sweep_form(caps, registry) -> None:
    """What to vary (inner steps or inner lr) and its values, iterations per point and meta-batch."""
    st.subheader("Measure a sweep here")
    base = presets.default_for(caps.cuda)
    over = st.radio(
        "Vary",
        ["inner_steps", "inner_lr"],
        horizontal=True,
        key="sweep-over",
        format_func={"inner_steps": "inner steps", "inner_lr": "inner learning rate"}.get,
    )
    c1, c2, c3 = st.columns(3)
    if over == "inner_steps":
        steps = c1.multiselect(
            "Inner steps", list(range(1, 11)), default=[1, 2, 3, 5] if not caps.cuda else [1, 2, 3, 5, 7, 10]
        )
    else:
        steps = c1.multiselect("Inner learning rates", LEARNING_RATES, default=[0.001, 0.01, 0.1, 0.4])
    iterations = c2.number_input("Iterations per point", min_value=2, max_value=500, value=3 if not caps.cuda else 30)
    meta_batch = c3.number_input("Meta-batch", min_value=1, max_value=256, value=base.meta_batch)
    problems = []
    if not steps:
        problems.append("Choose at least one value to measure.")
    problems += common.cannot_start(caps, registry)
    for p in problems:
        st.error(p)
    job = registry.get(st.session_state.get("sweep_job_id"))
    if st.button("Start sweep", key="start-sweep", type="primary", disabled=bool(problems) or bool(job and job.active)):
        cfg = base.replace(meta_batch=int(meta_batch), train_tasks=int(meta_batch), time_budget_s=None)
        job = registry.submit(
            "sweep",
            cfg,
            label=f"sweep {over.replace('_', ' ')} {','.join(map(str, sorted(steps)))}",
            owner=common.owner(),
            over=over,
            values=tuple(sorted(steps)),
            iterations=int(iterations),
        )
        st.session_state["sweep_job_id"] = job.id
        st.rerun()


def sweep_progress(snap: dict) -> None:
    """Which point of the sweep is being measured."""
    if snap["state"] != "running":
        return
    p = snap["progress"].get(snap["algorithm"] or "", {})
    done = p.get("iteration", 0)
    st.progress(
        min(1.0, done / max(1, p.get("total", 1))),
        text=f"point {done + 1} of {p.get('total', '?')}: {snap['algorithm'] or 'setup'}, "
        f"{p.get('inner_steps', '?')} inner step(s)",
    )


caps = common.capabilities()
registry = common.registry()
st.title("Scaling with inner steps")
st.markdown(
    "MAML keeps every inner step's activations to differentiate through them, so its memory should "
    "grow about linearly with the number of inner steps while FOMAML's stays flat; its time per "
    "iteration grows faster too. The charts below show what was **measured**."
)
recorded_sweeps()
sweep_form(caps, registry)
if registry.get(st.session_state.get("sweep_job_id")) is not None:
    common.job_panel(st.session_state["sweep_job_id"], sweep_progress, refresh_s=0.5, stop_label="Stop sweep")
