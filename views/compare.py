"""Compare: train the chosen algorithms side by side, watch the curves grow, read the measured verdict."""

import streamlit as st

from mamlviz import RunConfig, presets, variants
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


def _finished_line(name: str, r: dict) -> tuple[float, str]:
    """How a variant's training ended, from the record."""
    rate = f" · {1000 / r['per_iteration_ms']:.1f} it/s" if r["per_iteration_ms"] else ""
    if r["stop_reason"] == "time budget":
        done = f"{r['iterations_done']} iterations in {r['train_time_s']:.1f} s (the time budget)"
        frac = 1.0
    else:
        done = f"{r['iterations_done']}/{r['iterations_planned']} iterations"
        frac = r["iterations_done"] / max(1, r["iterations_planned"])
    return frac, f"{L(name)}: {done}{rate} · {r['status'].replace('_', ' ')}"


def _round_seconds(snap: dict) -> float:
    """Seconds one round of the interleaved training takes: one meta-iteration of every variant still training."""
    return sum(
        p["elapsed_s"] / p["iteration"]
        for p in snap["progress"].values()
        if p.get("phase") == "train" and p.get("algorithm") and p.get("iteration") and p["iteration"] < p["total"]
    )


def progress_line(name: str, snap: dict) -> tuple[float, str]:
    """(fraction done, words) for one variant's progress bar."""
    if snap["record"]:
        return _finished_line(name, snap["record"]["results"][name])
    p = snap["progress"].get(name)
    if p is None:
        return 0.0, f"{L(name)}: waiting for the set-up"
    total = max(1, p["total"])
    frac = min(1.0, p["iteration"] / total)
    if p["phase"] == "analysis":
        return frac, f"{L(name)}: trained; measuring its memory and gradient alignment…"
    if p["phase"] == "eval":
        done, total = p.get("eval_done") or 0, p.get("eval_total") or snap["config"]["eval_tasks"]
        if done >= total or snap["algorithm"] != name:
            return 1.0, f"{L(name)}: evaluated on {total} test tasks"
        return done / total, f"{L(name)}: evaluating on the test tasks… {done}/{total}"
    cfg = snap["config"]
    budget = p.get("budget_s") or cfg.get("time_budget_s")
    ref = variants.reference_of(cfg["algorithms"].split(","))
    rate, _ = rate_and_eta(p, {"time_budget_s": budget})
    if budget and cfg.get("fairness") == "time":  # trains to a time, not a task count
        text = f"{L(name)}: {p['iteration']} iterations · {p['elapsed_s']:.1f}/{budget:.1f} s of training"
        frac = min(1.0, p["elapsed_s"] / budget)
    elif cfg.get("fairness") == "time" and name != ref:  # the reference's time, once it has finished
        text = f"{L(name)}: {p['iteration']} iterations · {p['elapsed_s']:.1f} s; trains as long as {L(ref)} does"
        ref_p = snap["progress"].get(ref) or {}
        frac = min(1.0, ref_p.get("iteration", 0) / max(1, ref_p.get("total", 1)))
    else:
        text = f"{L(name)}: {p['iteration']}/{total} iterations"
    if rate:
        text += f" · {rate:.1f} it/s"
    if snap["state"] == "running" and p["iteration"] < total and (per_round := _round_seconds(snap)):
        left = (total - p["iteration"]) * per_round  # the variants take turns: a round is one iteration of each
        if budget:
            left = min(left, max(0.0, budget - p["elapsed_s"]) / max(1e-9, p["elapsed_s"] / p["iteration"]) * per_round)
        text += f" · ETA {left:.0f} s"
    return frac, text


def setup_line(snap: dict) -> None:
    """What the set-up is doing, with its progress: before the first iteration, a run is not stuck."""
    run = snap["progress"].get("run", {})
    if snap["record"] or snap["phase"] != "setup" or run.get("phase") != "setup":
        return
    done, total = run.get("iteration", 0), max(1, run.get("total", 1))
    st.progress(min(1.0, done / total), text=f"Setting up ({done + 1} of {total}): {run.get('detail') or '…'}")


def live_progress(snap: dict, x: str) -> None:
    """Progress bars and the curves of a running (or just finished) comparison: what the timer redraws."""
    setup_line(snap)
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
        _live.light_validation(snap["validation"])


def live_caption(snap: dict, caps) -> None:
    cfg = snap["config"]
    st.caption(
        label(snap["record"])
        if snap["record"]
        else f"Live, on {caps.device_name if cfg['device'] != 'cpu' else 'CPU'}: {cfg['n_way']}-way "
        f"{cfg['k_shot']}-shot, {cfg['k_query']} queries per class, {cfg['inner_steps']} inner step(s), "
        f"meta-batch {cfg['meta_batch']}. Raw points are means over the iterations between two redraws."
    )


def x_axis(key: str) -> str:
    """The curves' x axis, chosen under them (read here from the last choice, so the curves come first)."""
    return st.session_state.get(key, "iteration")


def x_axis_choice(key: str) -> None:
    st.radio(
        "x-axis",
        list(X_AXES),
        format_func=X_AXES.get,
        horizontal=True,
        key=key,
        help="Wall-clock seconds show the speed difference directly.",
    )


def my_run(job_id: str, caps, registry) -> None:
    """The session's own (or watched) run: live panel (progress and curves at the top, in view on a
    projector), the x-axis under it, then the results."""
    if registry.get(job_id) is None:
        st.session_state.pop("job_id", None)
        return
    x = x_axis(f"x-{job_id}")
    _live.job_panel(job_id, lambda snap: live_progress(snap, x), refresh_s=form.refresh_period())
    x_axis_choice(f"x-{job_id}")
    snap = registry.get(job_id).snapshot()
    live_caption(snap, caps)
    if snap["record"]:
        st.subheader("Results")
        _results.show_results(snap["record"], key=job_id)


def other_algorithm_runs(shown: dict, caps) -> None:
    """A button for each cached comparison of another set of algorithms: it puts that run's settings in the
    sidebar, and the page opens on it (a visitor of the hosted copy sees the six-algorithm run in one click)."""
    index = _state.cached_index()
    seen = {shown["config"]["algorithms"]}
    for path, record in _state.of_kind("compare"):
        algos = record["config"]["algorithms"]
        if path.name not in index or algos in seen or record["status"] != "complete":
            continue
        seen.add(algos)
        names = ", ".join(variants.label(n) for n in variants.in_record(record))
        st.button(
            f"Show the recorded run of {names}",
            key=f"show-{path.name}",
            on_click=form.apply_config,
            args=(RunConfig.from_dict(record["config"]), caps),
            help=f"{index[path.name]}. Puts its settings in the sidebar.",
        )


def opening_record(values: dict) -> None:
    """Before any run of one's own: the comparison that matches the sidebar, or the cached reference run,
    saying which and why."""
    picked = _state.pick_compare(values)
    if picked is None:
        st.info("No runs yet. Press **Start** in the sidebar: the curves appear here as they train.")
        return
    path, record, why = picked
    st.subheader(f"A recorded run ({_state.source_of(path)}): {_state.run_title(record)}")
    env = record["environment"]
    st.caption(
        f"Shown because {why}. Measured on {env['device_name']}, {env['date'][:10]}: its figures are that "
        "machine's. Press **Start** in the sidebar to train your own here."
    )
    other_algorithm_runs(record, caps)
    x = x_axis("x-latest")
    _live.light_curves({n: r["curve"] for n, r in record["results"].items()}, x)  # drawn at once
    x_axis_choice("x-latest")
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

st.title("MAML and its shortcuts, side by side")
own = registry.get(st.session_state.get("job_id"))
if own is None:  # while a run of one's own goes on, its progress and curves come first
    st.markdown(
        "The chosen algorithms meta-train on the **same Omniglot task stream** from the **same initialisation**, "
        "one meta-iteration of each in turn; then each adapts to the same held-out test tasks. A run started here "
        "is measured on this machine; a recorded run names the machine it was measured on. The "
        "[theory](/theory) explains where the difference comes from."
    )
    if not caps.cuda and caps.live_training:
        st.caption(caps.reason)
other_session_notice(registry)
if own is not None:
    my_run(st.session_state["job_id"], caps, registry)
else:
    opening_record(values)
