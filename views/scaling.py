"""Scaling: time, memory and gradient alignment against inner steps or the inner learning rate, measured."""

import streamlit as st

from mamlviz import presets, report
from mamlviz.charts import label
from mamlviz.charts.scaling import scaling
from mamlviz.config import BY_NAME, FIELDS
from views import _live, _state

SWEEPABLE = [f.name for f in FIELDS if f.sweep]  # what a sweep can vary, from the field table


def recorded_sweeps() -> None:
    """Pick a sweep record; its two charts and the fitted slopes."""
    sweeps = [(p, r) for p, r in _state.of_kind("sweep") if r["points"]]
    if not sweeps:
        st.info("No sweep recorded yet: start one below.")
        return
    titles = [
        f"{_state.run_title(r)} · {r['environment']['device_name']} · {r['created'][:16]} ({_state.source_of(p)})"
        for p, r in sweeps
    ]
    # your newest sweep; else the cached one over inner steps, the page's first question
    yours = [i for i, (p, _) in enumerate(sweeps) if _state.source_of(p) == "yours"]
    steps = [i for i, (_, r) in enumerate(sweeps) if r["protocol"]["over"] == "inner_steps"]
    first = (yours or steps or [0])[0]
    idx = st.selectbox("Sweep record", range(len(sweeps)), index=first, format_func=titles.__getitem__)
    record = sweeps[idx][1]
    over = record["protocol"]["over"]
    st.plotly_chart(scaling(record["points"], over=over), key="scaling")
    for line in report.sweep_words(record["points"], over=over):
        st.markdown(f"- {line}")
    st.caption(
        label(record) + f". Device memory: {record['protocol']['memory']}. Held for backprop: "
        f"{record['protocol']['saved_memory']}. Alignment: {record['protocol']['sweep']}."
    )


def sweep_form(caps, registry) -> None:
    """What to vary (inner steps or inner lr) and its values, iterations per point and meta-batch."""
    st.subheader("Measure a sweep here")
    base = presets.default_for(caps.cuda)
    over = st.radio(
        "Vary",
        SWEEPABLE,
        index=SWEEPABLE.index("inner_steps"),
        horizontal=True,
        key="sweep-over",
        format_func=lambda k: BY_NAME[k].label.split(" (")[0],
    )
    c1, c2, c3 = st.columns(3)
    field, mb = BY_NAME[over], BY_NAME["meta_batch"]
    defaults = {
        "inner_steps": [1, 2, 3, 5] if not caps.cuda else [1, 2, 3, 5, 7, 10],
        "inner_lr": [0.001, 0.01, 0.1, 0.4],
    }
    steps = c1.multiselect(field.label, list(field.menu), default=defaults.get(over, list(field.menu[:3])))
    iterations = c2.number_input("Iterations per point", min_value=2, max_value=500, value=3 if not caps.cuda else 30)
    meta_batch = c3.number_input(mb.label, min_value=int(mb.lo), max_value=int(mb.hi), value=base.meta_batch)
    problems = []
    if not steps:
        problems.append("Choose at least one value to measure.")
    problems += _state.cannot_start(caps, registry)
    for p in problems:
        st.error(p)
    job = registry.get(st.session_state.get("sweep_job_id"))
    if st.button("Start sweep", key="start-sweep", type="primary", disabled=bool(problems) or bool(job and job.active)):
        cfg = base.replace(meta_batch=int(meta_batch), train_tasks=int(meta_batch), time_budget_s=None)
        job = registry.submit(
            "sweep",
            cfg,
            label=f"sweep {over.replace('_', ' ')} {','.join(map(str, sorted(steps)))}",
            owner=_state.owner(),
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
    p = snap["progress"].get("run", {})
    if p.get("phase") == "setup":
        st.progress(0.0, text=f"Setting up: {p.get('detail') or '…'}")
        return
    done = p.get("iteration", 0)
    st.progress(
        min(1.0, done / max(1, p.get("total", 1))),
        text=f"{done} of {p.get('total', '?')} points measured; now {p.get('inner_steps', '?')} inner step(s), "
        "every algorithm in turn",
    )


caps = _state.capabilities()
registry = _state.registry()
st.title("Scaling: cost and alignment against inner steps or the inner learning rate")
st.markdown(
    "MAML keeps every inner step's activations to differentiate through them, so its memory should "
    "grow about linearly with the number of inner steps while FOMAML's stays flat; its time per "
    "iteration grows faster too. The charts below show what was **measured**."
)
recorded_sweeps()
sweep_form(caps, registry)
if registry.get(st.session_state.get("sweep_job_id")) is not None:
    _live.job_panel(st.session_state["sweep_job_id"], sweep_progress, refresh_s=0.5, stop_label="Stop sweep")
