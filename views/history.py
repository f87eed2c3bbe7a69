"""History: every run record, cached and yours, filterable, comparable side by side, downloadable."""

import pandas as pd
import streamlit as st

from mamlviz import records, report, variants
from mamlviz.analysis.compare import compare_numbers
from mamlviz.charts import label
from mamlviz.charts.history import history
from mamlviz.charts.scaling import scaling
from views import _results, _state


def _row(path, r, index):
    """One line of the run table."""
    row = {
        "run": _state.run_title(r),
        "source": _state.source_of(path),
        "kind": r["kind"],
        "status": r["status"],
        "device": _state.device_of(r),
        "date": r["created"][:16].replace("T", " "),
        "task": r["protocol"].get("task", ""),
        "inner steps": r["config"].get("inner_steps"),
        "file": path.name,
        "what": index.get(path.name, "") if _state.source_of(path) == "cached" else "",
    }
    if r["kind"] == "compare":
        for n in variants.in_record(r):
            res = r["results"][n]
            row[f"{variants.label(n)} acc %"] = round(res["test"]["accuracy"] * 100, 1) if res.get("test") else None
            row[f"{variants.label(n)} time s"] = round(res["train_time_s"], 1) if res["train_time_s"] else None
    return row


def filtered(found: list) -> list:
    """Kind, device and free-text filters over the run table; returns the runs shown."""
    c1, c2, c3 = st.columns(3)
    kinds = c1.multiselect("Kind", list(records.KINDS), default=list(records.KINDS))
    devices = sorted({_state.device_of(r) for _, r in found})
    device_pick = c2.multiselect("Device", devices, default=devices)
    text = c3.text_input("Search", placeholder="label, task, file…")
    shown = [(p, r) for p, r in found if r["kind"] in kinds and _state.device_of(r) in device_pick]
    index = _state.cached_index()
    rows = {p: _row(p, r, index) for p, r in shown}
    if text:
        shown = [(p, r) for p, r in shown if text.lower() in " ".join(map(str, rows[p].values())).lower()]
    st.dataframe(pd.DataFrame([rows[p] for p, _ in shown]), hide_index=True)
    return shown


def unique_names(runs: list[tuple]) -> dict[str, str]:
    """File name -> a short, readable name no other run of ``runs`` has: its title (cut), then when it was
    made, then its id if two still agree."""
    names = {p.name: f"{_state.run_title(r)[:32]} · {r['created'][5:16].replace('T', ' ')}" for p, r in runs}
    seen: dict[str, int] = {}
    for n in names.values():
        seen[n] = seen.get(n, 0) + 1
    return {f: n if seen[n] == 1 else f"{n} · {r['id'][-6:]}" for (p, r), (f, n) in zip(runs, names.items())}


def default_pair(compares: list) -> list[str]:
    """Two runs to set side by side on first open: the cached reference runs the index names, else the newest."""
    index = _state.cached_index()
    named = [p.name for p, _ in compares if p.name in index and _state.source_of(p) == "cached"]
    return (named if len(named) >= 2 else [p.name for p, _ in compares])[:2] if len(compares) >= 2 else []


def side_by_side(shown: list) -> None:
    """Two or more comparisons' accuracy, time and memory in one chart, each under a name of its own."""
    compares = [(p, r) for p, r in shown if r["kind"] == "compare"]
    short = unique_names(compares)
    names = {p.name: f"{short[p.name]} ({p.name})" for p, r in compares}
    picked = st.multiselect("Compare side by side", list(names), format_func=names.get, default=default_pair(compares))
    chosen = [(p, r) for p, r in compares if p.name in picked]
    if len(chosen) >= 2:
        st.plotly_chart(history([(short[p.name], r) for p, r in chosen]), key="history")
        for p, r in chosen:
            st.caption(f"{short[p.name]}: {'; '.join(report.ratio_words(compare_numbers(r)))} — {label(r)}")
    elif picked:
        st.caption("Pick two or more runs to compare them.")


def details(shown: list) -> None:
    """One run's full results (or sweep chart, or study summary) and its download: only the run picked is
    drawn, so that a folder of hundreds of records costs one run's charts, not hundreds."""
    st.subheader("Details")
    if not shown:
        return
    titles = [f"{_state.run_title(r)} · {r['kind']} · {_state.device_of(r)} · {r['created'][:16]}" for _, r in shown]
    idx = st.selectbox(
        f"Details of ({len(shown)} runs shown)", range(len(shown)), format_func=titles.__getitem__, key="h-run"
    )
    p, r = shown[idx]
    if r["kind"] == "compare":
        _results.show_results(r, key=f"h-{p.name}")
        return
    if r["kind"] == "sweep":
        st.plotly_chart(scaling(r["points"], over=r["protocol"]["over"]), key=f"sc-{p.name}")
    else:
        st.caption("A study: its table, chart and CSV downloads are on the Studies page.")
        st.code(report.study_report(r), language=None)
    _results.record_download(r, p.name, key=f"dl-{p.name}")


def skipped_files(skipped: list) -> None:
    if skipped:
        with st.expander(f"Skipped files ({len(skipped)})", expanded=True):
            for s in skipped:
                st.markdown(f"- `{_state.shown_path(s.path)}`: {s.reason}")


st.title("Run history")
found, skipped = _state.all_records()
if found:
    shown = filtered(found)
    side_by_side(shown)
    details(shown)
else:
    st.info("No run records yet.")
skipped_files(skipped)
