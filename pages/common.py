"""What the pages share: the server-wide job registry, the machine's capabilities, run records."""
from __future__ import annotations

import json
import uuid

import streamlit as st

from mamlviz import charts, hosting, records, summary
from mamlviz.jobs import JobRegistry


@st.cache_resource
def registry() -> JobRegistry:
    """One registry (and one worker thread) per server, shared by every session."""
    return JobRegistry(hosting.runs_dir())


@st.cache_resource
def capabilities() -> hosting.Capabilities:
    return hosting.detect()


def owner() -> str:
    return st.session_state.setdefault("owner", uuid.uuid4().hex[:8])


def all_records():
    """Cached runs shipped with the app, then the user's; plus the files skipped and why."""
    return records.scan(hosting.CACHED_RUNS, hosting.runs_dir())


def cached_index() -> dict[str, str]:
    """cached_runs/index.json: file name -> what that record is."""
    try:
        return {e["file"]: e["what"] for e in json.loads((hosting.CACHED_RUNS / "index.json").read_text())}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def source_of(path) -> str:
    return "cached" if hosting.CACHED_RUNS in path.parents else "yours"


def run_title(record: dict) -> str:
    return record.get("label") or record["id"]


def show_results(record: dict, key: str) -> None:
    """The comparison: bars, ratios in words, baseline and chance, recommendation, downloads."""
    res = record["results"]
    if record["status"] == "stopped":
        done = ", ".join(f"{summary.NAMES[n]} {r['iterations_done']}/{r['iterations_planned']} iterations ({r['status']})"
                         for n, r in res.items())
        st.warning(f"Stopped early: partial results. {done}. Accuracies are for the partially trained models.")
    elif record["status"] == "diverged":
        bad = [f"{summary.NAMES[n]} at iteration {r['diverged_at']}" for n, r in res.items() if r["status"] == "diverged"]
        st.error(f"Diverged (non-finite loss): {', '.join(bad)}. The other variant's results stand.")
    cols = st.columns(3)
    for col, (title, key_, fmt) in zip(cols, (
            ("Training time", "train_time_s", lambda v: f"{v:.1f} s"),
            ("Peak memory", "peak_memory_bytes", summary.fmt_bytes),
            ("Test accuracy", "test", summary.fmt_accuracy))):
        with col:
            st.markdown(f"**{title}**")
            for n in ("maml", "fomaml"):
                v = res[n].get(key_)
                st.markdown(f"{summary.NAMES[n]}: {fmt(v) if v is not None else '–'}")
    st.plotly_chart(charts.result_bars(record), key=f"bars-{key}")
    c = summary.compare_numbers(record)
    st.markdown(f"#### {summary.ratio_words(c)}")
    base = record.get("baseline")
    st.markdown(
        (f"Un-meta-trained initialisation, adapted the same way: **{summary.fmt_accuracy(base)}**; "
         if base else "") + f"chance: **{record['chance'] * 100:.0f} %**.")
    st.info("**Recommendation.** " + summary.recommendation(record))
    st.caption(f"{charts.label(record)}. Memory: {record['protocol'].get('memory')}. "
               f"Timing: {record['protocol'].get('timing')}."
               + (" Trained by the dashboard while it redrew the live curves: on a machine with few cores the "
                  "browser's drawing competes with training, so for benchmark figures use the CLI."
                  if record.get("setup", {}).get("launched_from") == "dashboard" else ""))
    d1, d2 = st.columns(2)
    d1.download_button("Download run record (JSON)", records.dumps(record), file_name=f"{record['id']}.json",
                       mime="application/json", key=f"json-{key}")
    d2.download_button("Download curves (CSV)", records.curves_csv(record), file_name=f"{record['id']}-curves.csv",
                       mime="text/csv", key=f"csv-{key}")
