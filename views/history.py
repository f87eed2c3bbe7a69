"""History: every run record, cached and yours, filterable, comparable side by side, downloadable."""

import pandas as pd
import streamlit as st

from mamlviz import charts, records, study, summary
from views import common


def _row(path, r, index):
    """One line of the run table."""
    row = {
        "run": common.run_title(r),
        "source": common.source_of(path),
        "kind": r["kind"],
        "status": r["status"],
        "device": common.device_of(r),
        "date": r["created"][:16].replace("T", " "),
        "task": r["protocol"].get("task", ""),
        "inner steps": r["config"].get("inner_steps"),
        "file": path.name,
        "what": index.get(path.name, "") if common.source_of(path) == "cached" else "",
    }
    if r["kind"] == "compare":
        for n in records.ALGORITHMS:
            res = r["results"][n]
            row[f"{summary.NAMES[n]} acc %"] = round(res["test"]["accuracy"] * 100, 1) if res.get("test") else None
            row[f"{summary.NAMES[n]} time s"] = round(res["train_time_s"], 1) if res["train_time_s"] else None
    return row


def filtered(found: list) -> list:
    """Kind, device and free-text filters over the run table; returns the runs shown."""
    c1, c2, c3 = st.columns(3)
    kinds = c1.multiselect("Kind", list(records.KINDS), default=list(records.KINDS))
    devices = sorted({common.device_of(r) for _, r in found})
    device_pick = c2.multiselect("Device", devices, default=devices)
    text = c3.text_input("Search", placeholder="label, task, file…")
    shown = [(p, r) for p, r in found if r["kind"] in kinds and common.device_of(r) in device_pick]
    index = common.cached_index()
    rows = {p: _row(p, r, index) for p, r in shown}
    if text:
        shown = [(p, r) for p, r in shown if text.lower() in " ".join(map(str, rows[p].values())).lower()]
    st.dataframe(pd.DataFrame([rows[p] for p, _ in shown]), hide_index=True)
    return shown


def side_by_side(shown: list) -> None:
    """Two or more comparisons' accuracy, time and memory in one chart."""
    compares = [(p, r) for p, r in shown if r["kind"] == "compare"]
    names = {p.name: f"{common.run_title(r)} ({p.name})" for p, r in compares}
    picked = st.multiselect(
        "Compare side by side", list(names), format_func=names.get, default=list(names)[:2] if len(names) >= 2 else []
    )
    chosen = [(p, r) for p, r in compares if p.name in picked]
    if len(chosen) >= 2:
        st.plotly_chart(charts.history([(common.run_title(r)[:40], r) for _, r in chosen]), key="history")
        for _, r in chosen:
            st.caption(f"{common.run_title(r)}: {summary.ratio_words(summary.compare_numbers(r))} — {charts.label(r)}")
    elif picked:
        st.caption("Pick two or more runs to compare them.")


def details(shown: list) -> None:
    """One expander per run: its full results (or sweep chart) and its download."""
    st.subheader("Details")
    for p, r in shown:
        with st.expander(f"{common.run_title(r)} · {r['kind']} · {common.device_of(r)} · {r['created'][:16]}"):
            if r["kind"] == "compare":
                common.show_results(r, key=f"h-{p.name}")
                continue
            if r["kind"] == "sweep":
                st.plotly_chart(charts.scaling(r["points"], over=r["protocol"]["over"]), key=f"sc-{p.name}")
            else:
                st.caption("A study: its table, chart and CSV downloads are on the Studies page.")
                st.code(study.study_report(r), language=None)
            common.record_download(r, p.name, key=f"dl-{p.name}")


def skipped_files(skipped: list) -> None:
    if skipped:
        with st.expander(f"Skipped files ({len(skipped)})", expanded=True):
            for s in skipped:
                st.markdown(f"- `{common.shown_path(s.path)}`: {s.reason}")


st.title("Run history")
found, skipped = common.all_records()
if found:
    shown = filtered(found)
    side_by_side(shown)
    details(shown)
else:
    st.info("No run records yet.")
skipped_files(skipped)
