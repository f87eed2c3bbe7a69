"""Studies: a grid of comparisons over settings and seeds; where second order pays for itself."""

import pandas as pd
import streamlit as st

from mamlviz import presets, records, report, variants
from mamlviz.analysis import study
from mamlviz.charts.study import study_payoff
from mamlviz.config import BY_NAME, FIELDS
from views import _live, _state

SEED_CHOICES = list(range(10))
AXES = {f.name: list(f.menu) for f in FIELDS if f.menu}  # what a study made here can vary: the field table's menus


def run_records() -> dict[str, dict]:
    """Record file name -> compare record, for the runs a study lists."""
    return {p.name: r for p, r in _state.of_kind("compare")}


def study_status(rec: dict) -> None:
    """How far the study got, where it ran, and what failed."""
    runs = rec["runs"]
    counts = {s: sum(r["state"] == s for r in runs) for s in records.RUN_STATES}
    done = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    setup = rec["setup"]
    where = (
        "one at a time on one machine" if setup["executor"] == "local" else f"on Ray ({setup['address'] or 'local'})"
    )
    words = f"{len(runs)} comparisons ({done}), {where}, {setup['wall_time_s'] / 60:.1f} min."
    if rec["status"] == "running":
        st.info(
            f"Running, or interrupted: last written at {setup['updated'][11:19]} UTC. {words} The figures grow as "
            "runs end; if no study is running any more, the process that ran it stopped and these are final."
        )
    elif rec["status"] == "stopped":
        st.warning(f"Stopped: {words} Only the runs that completed count.")
    elif rec["status"] == "incomplete":
        st.warning(f"Ended with failed runs: {words} Only the runs that completed count; the failures are below.")
    else:
        st.success(f"Complete: {words}")
    for r in runs:
        if r["state"] == "failed":
            st.error(f"{r['key']} failed after {r['attempts']} tries: {r['error']}")
        elif r["attempts"] > 1 and r["errors"]:
            st.caption(f"{r['key']} was tried again after: {r['errors'][0]}")
    if len(setup["devices"]) > 1:
        st.warning(f"Its runs ran on different devices ({', '.join(setup['devices'])}): times do not compare.")


def settings_table(rec: dict) -> None:
    """Per setting: every variant's mean ± 95 % interval, each against the reference (paired), the verdicts."""
    rows = []
    for s in rec["settings"]:
        row = {"setting": report.setting_words(s["setting"]), "seeds": len(s["seeds"])}
        ref = variants.label(s["reference"])
        for name, vs in s["versus"].items():  # the question first: each shortcut against MAML, paired by seed
            row[f"{variants.label(name)} − {ref}"] = report.pm(vs["accuracy_diff"], 100, signed=True, unit=" points")
        for name, v in s["variants"].items():
            title = variants.label(name)
            row[f"{title} accuracy"] = report.pm(v["accuracy"], 100, unit=" %")
            row[f"{title} time"] = report.pm(v["train_time_s"], unit=" s")
            row[f"{title} memory"] = report.pm(v["memory_bytes"], 1 / 2**20, unit=" MiB")
        rows.append(row)
    st.dataframe(pd.DataFrame(rows), hide_index=True)
    st.markdown(
        "\n".join(
            f"- **{report.setting_words(s['setting'])}**: {line}."
            for s in rec["settings"]
            for line in report.verdicts(s)
        )
    )
    mixed = [report.setting_words(s["setting"]) for s in rec["settings"] if len(s["paths"]) > 1]
    if mixed:
        st.caption(
            f"Runs of {', '.join(mixed)} took different meta-gradient paths (chosen by timing on each machine): "
            "their time and memory vary with the path. Give --path loop (or vmap) to hold it fixed."
        )


def payoff_chart(rec: dict) -> None:
    grid = rec["protocol"]["grid"]
    if not grid:
        st.caption("This study varies only the seed: there is no setting to draw the difference against.")
        return
    x = next(iter(grid))
    if len(grid) > 1:
        x = st.radio("Against", list(grid), horizontal=True, format_func=lambda k: BY_NAME[k].label, key="study-x")
    st.plotly_chart(study_payoff(rec, x), key="study-payoff")


def downloads(rec: dict) -> None:
    runs = run_records()
    c1, c2 = st.columns(2)
    c1.download_button(
        "Download per-setting figures (CSV)",
        lambda: study.to_csv(study.settings_rows(rec)),
        file_name=f"{rec['id']}-settings.csv",
        mime="text/csv",
        on_click="ignore",
    )
    c2.download_button(
        "Download every run (CSV)",
        lambda: study.to_csv(study.runs_rows(rec, runs)),
        file_name=f"{rec['id']}-runs.csv",
        mime="text/csv",
        on_click="ignore",
    )


def recorded_studies() -> None:
    studies = _state.of_kind("study")
    if not studies:
        st.info("No study recorded yet: run one below, or with `python -m mamlviz study` (see the README).")
        return
    titles = [
        f"{_state.run_title(r)} · {len(r['runs'])} runs · {r['status']} · {r['created'][:16].replace('T', ' ')} "
        f"({_state.source_of(p)})"
        for p, r in studies
    ]
    idx = st.selectbox("Study record", range(len(studies)), format_func=titles.__getitem__)
    rec = studies[idx][1]
    study_status(rec)
    settings_table(rec)
    payoff_chart(rec)
    env = rec["environment"]
    cfg = rec["config"]
    tested = (
        f"every run tested with {cfg['eval_inner_steps']} inner step(s) of adaptation, whatever it trained with"
        if "inner_steps" in rec["protocol"]["grid"] or "eval_inner_steps" not in rec["protocol"]["grid"]
        else "tested with the inner steps of its setting"
    )
    st.caption(
        f"{env['device_name'] if env else 'no run finished yet'} · torch {env['torch'] if env else '–'} · "
        f"{cfg['n_way']}-way {cfg['k_shot']}-shot, {cfg['train_tasks']} training tasks, {cfg['eval_tasks']} test "
        f"tasks per run, {tested}. Statistics: {rec['protocol']['statistics']}. "
        f"Memory: {rec['protocol']['memory']}. Runs: {rec['protocol']['parallel']}."
    )
    downloads(rec)


def study_form(caps, registry) -> None:
    """The grid (one or two varied settings), the seeds and the size of each run."""
    st.subheader("Run a study here")
    st.caption(_live.where_runs_go(registry) + ". " + where_hint(registry))
    base = presets.default_for(caps.cuda)
    c1, c2 = st.columns(2)
    axes = c1.multiselect(
        "Vary",
        list(AXES),
        default=["inner_steps"],
        max_selections=2,
        format_func=lambda k: BY_NAME[k].label,
        key="study-axes",
    )
    seeds = c2.multiselect("Seeds", SEED_CHOICES, default=[0, 1, 2], key="study-seeds")
    algos = st.multiselect(
        BY_NAME["algorithms"].label,
        list(variants.VARIANTS),
        default=list(variants.DEFAULT),
        format_func=variants.label,
        key="study-algorithms",
        help="Every run of the study trains these side by side on the same tasks; each is compared with MAML.",
    )
    values = {}
    cols = st.columns(max(1, len(axes)))
    for col, axis in zip(cols, axes):
        default = [1, 3, 5] if axis == "inner_steps" else AXES[axis][:2]
        values[axis] = sorted(col.multiselect(BY_NAME[axis].label, AXES[axis], default=default, key=f"study-{axis}"))
    c3, c4 = st.columns(2)
    train, test = BY_NAME["train_tasks"], BY_NAME["eval_tasks"]
    tasks = c3.number_input(
        "Training tasks per run", min_value=1, max_value=int(train.hi), value=base.train_tasks, step=int(train.step)
    )
    evals = c4.number_input(
        "Test tasks per run", min_value=int(test.lo), max_value=int(test.hi), value=base.eval_tasks, step=int(test.step)
    )
    problems = [f"Choose at least one value of {BY_NAME[a].label.lower()}." for a in axes if not values.get(a)]
    problems += ["Choose at least one seed."] if not seeds else []
    problems += ["Choose at least one algorithm."] if not algos else []
    plan = None
    if not problems:
        try:
            cfg = base.replace(train_tasks=int(tasks), eval_tasks=int(evals), algorithms=",".join(algos))
            plan = study.plan({**values, "seed": seeds}, base=cfg)
        except ValueError as e:
            problems.append(str(e))
    problems += _state.cannot_start(caps, registry)
    for p in problems:
        st.error(p)
    job = registry.get(st.session_state.get("study_job_id"))
    if plan is not None:
        st.caption(f"{len(plan.runs)} comparisons: {len(plan.runs) // len(seeds)} settings × {len(seeds)} seeds.")
    if st.button("Start study", key="start-study", type="primary", disabled=bool(problems) or bool(job and job.active)):
        label = "study " + " × ".join(f"{k} {','.join(map(str, v))}" for k, v in values.items())
        job = registry.submit("study", label=label, owner=_state.owner(), plan=plan)
        st.session_state["study_job_id"] = job.id
        st.rerun()


def where_hint(registry) -> str:
    if registry.parallel:
        return "Each comparison asks for one GPU (or a CPU share); the cluster runs as many at once as it has room for."
    return (
        "To run several at once, start a Ray cluster and this app with MAMLVIZ_RAY_ADDRESS=host:port "
        "(pip install -r requirements-cluster.txt)."
    )


def study_progress(snap: dict) -> None:
    """One line per comparison of the running study: its state, where it runs, how far it got."""
    rows = []
    for key, run in snap["runs"].items():
        p = run.get("progress") or {}
        step = ""
        if run["state"] == "running" and p:
            who = variants.label(p["algorithm"]) if p.get("algorithm") else "setup"
            step = f"{who} {p.get('phase')} {p.get('iteration', 0)}/{p.get('total')}"
        rows.append(
            {
                "run": key,
                "state": run["state"],
                "progress": step,
                "where": run.get("where") or "",
                "note": run.get("error") or "",
            }
        )
    finished = sum(r["state"] in ("done", "stopped", "failed", "cancelled") for r in rows)
    st.progress(finished / max(1, len(rows)), text=f"{finished} of {len(rows)} comparisons ended")
    st.dataframe(pd.DataFrame(rows), hide_index=True)


caps = _state.capabilities()
registry = _state.registry()
st.title("Studies: when does second order pay off?")
st.markdown(
    "One comparison is one seed, and one seed can mislead. A **study** runs the comparison for every "
    "combination of the settings you choose and for several seeds, then reports each setting's mean with "
    "its 95 % interval across seeds, and each variant's accuracy difference from MAML **paired by seed**: all "
    "variants of one seed start from the same initialisation and see the same training tasks, so their "
    "difference is measured more precisely than either accuracy. Where the interval of a shortcut's "
    "difference lies below zero, MAML's exact gradient paid off against it; the chart sets it beside what MAML "
    "costs in time and memory."
)
recorded_studies()
study_form(caps, registry)
if registry.get(st.session_state.get("study_job_id")) is not None:
    _live.job_panel(st.session_state["study_job_id"], study_progress, refresh_s=1.0, stop_label="Stop study")
