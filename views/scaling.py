"""Scaling: time per iteration and peak memory against inner steps, measured."""

import streamlit as st

from mamlviz import charts, presets, scaling
from views import common


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
    st.plotly_chart(charts.scaling(record["points"]), key="scaling")
    for line in scaling.describe(record["points"]):
        st.markdown(f"- {line}")
    st.caption(charts.label(record) + f". Memory: {record['protocol']['memory']}.")


def sweep_form(caps, registry) -> None:
    """Inner-step counts, iterations per point and meta-batch; Start sweep queues the job."""
    st.subheader("Measure a sweep here")
    base = presets.default_for(caps.cuda)
    c1, c2, c3 = st.columns(3)
    steps = c1.multiselect(
        "Inner steps", list(range(1, 11)), default=[1, 2, 3, 5] if not caps.cuda else [1, 2, 3, 5, 7, 10]
    )
    iterations = c2.number_input("Iterations per point", min_value=2, max_value=500, value=3 if not caps.cuda else 30)
    meta_batch = c3.number_input("Meta-batch", min_value=1, max_value=256, value=base.meta_batch)
    problems = []
    if not steps:
        problems.append("Inner steps: choose at least one count from 1 to 10.")
    if not caps.live_training:
        problems.append(caps.reason)
    elif unsaveable := registry.unwritable_reason():
        problems.append(f"Run records cannot be saved: {unsaveable}. Set MAMLVIZ_RUNS_DIR to a writable folder.")
    for p in problems:
        st.error(p)
    job = registry.get(st.session_state.get("sweep_job_id"))
    if st.button("Start sweep", key="start-sweep", type="primary", disabled=bool(problems) or bool(job and job.active)):
        cfg = base.replace(meta_batch=int(meta_batch), train_tasks=int(meta_batch), time_budget_s=None)
        job = registry.submit(
            "sweep",
            cfg,
            label=f"sweep inner steps {','.join(map(str, sorted(steps)))}",
            owner=common.owner(),
            inner_steps=tuple(sorted(steps)),
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
