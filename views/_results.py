"""A comparison's results block: every variant's figures, the charts, each against MAML in words, the
recommendation, the mechanism measured on the run, and the downloads."""

from __future__ import annotations

import streamlit as st

from mamlviz import records, report, variants
from mamlviz.analysis import compare as cmp
from mamlviz.charts import compare as charts
from mamlviz.charts import label
from views._live import after_first_paint

L = variants.label


def status_notes(record: dict) -> None:
    """Stopped, diverged or unstable: what a reader must know before the numbers."""
    res = record["results"]
    names = variants.in_record(record)
    if record["status"] == "stopped":
        done = ", ".join(
            f"{L(n)} {res[n]['iterations_done']}/{res[n]['iterations_planned']} iterations ({res[n]['status']})"
            for n in names
        )
        st.warning(f"Stopped early: partial results. {done}. Accuracies are for the partially trained models.")
    elif record["status"] == "diverged":
        bad = [f"{L(n)} at iteration {res[n]['diverged_at']}" for n in names if res[n]["status"] == "diverged"]
        st.error(f"Diverged (non-finite loss): {', '.join(bad)}. The other variants' results stand.")
    for warning in report.warnings(record):
        st.warning(warning)


def figures_table(record: dict) -> None:
    """Training time, memory and test accuracy, one line per variant."""
    res = record["results"]
    key = cmp.memory_key([record])
    columns = (
        ("Training time", "train_time_s", lambda v: f"{v:.1f} s"),
        (
            "Held for backprop (exact)" if key == cmp.SAVED else report.sentence(report.peak_words(record)),
            key,
            report.fmt_bytes,
        ),
        ("Test accuracy", "test", report.fmt_accuracy),
    )
    for col, (title, field, fmt) in zip(st.columns(3), columns):
        with col:
            st.markdown(f"**{title}**")
            for n in variants.in_record(record):
                v = res[n].get(field)
                st.markdown(f"{L(n)}: {fmt(v) if v is not None else '–'}")


def show_results(record: dict, key: str, defer_charts: bool = False) -> None:
    """The comparison: bars, each variant against the reference in words, baseline and chance,
    recommendation, downloads."""
    status_notes(record)
    figures_table(record)

    def result_charts():
        st.plotly_chart(charts.result_bars(record), key=f"bars-{key}")
        accuracy_against_time(record, key)
        race(record, key)
        why_they_differ(record, key)

    if defer_charts:
        after_first_paint(key, result_charts, "Drawing the charts…")
    else:
        result_charts()
    for line in report.ratio_words(cmp.compare_numbers(record)):
        st.markdown(f"#### {line}")
    base = record.get("baseline")
    st.markdown(
        (f"Un-meta-trained initialisation, adapted the same way: **{report.fmt_accuracy(base)}**; " if base else "")
        + f"chance: **{record['chance'] * 100:.0f} %**."
    )
    st.info("**Recommendation.** " + report.recommendation(record))
    st.caption(
        f"{label(record)}. Memory: {record['protocol']['memory']}. "
        f"Timing: {record['protocol']['timing']}."
        + (
            " Trained by the dashboard while it redrew the live curves: on a machine with few cores the "
            "browser's drawing competes with training, so for benchmark figures use the CLI."
            if record["setup"]["launched_from"] == "dashboard"
            else ""
        )
    )
    d1, d2 = st.columns(2)
    with d1:
        record_download(record, f"{record['id']}.json", key=f"json-{key}")
    d2.download_button(
        "Download curves (CSV)",
        lambda: report.curves_csv(record),  # built when clicked, not at every redraw
        file_name=f"{record['id']}-curves.csv",
        mime="text/csv",
        key=f"csv-{key}",
        on_click="ignore",
    )


def accuracy_against_time(record: dict, key: str) -> None:
    """Would the faster one catch up if it trained longer? Each variant's held-out accuracy as it trained."""
    fig = charts.validation_of(record)
    if fig is None:
        return
    st.plotly_chart(fig, key=f"validation-{key}")
    st.caption(
        "Would a faster algorithm catch up if it trained longer? Each point is one algorithm's accuracy, after "
        "adapting, on the same held-out validation tasks, measured as it trained (outside its training time); the "
        "star is its final test accuracy. Validation: " + record["protocol"]["validation"] + "."
    )


def race(record: dict, key: str) -> None:
    """The recorded training curves replayed on the wall-clock axis, animated by the browser."""
    names = variants.in_record(record)
    if not all(record["results"][n]["curve"]["time_s"] for n in names):
        return
    if st.toggle(
        "Replay as a race",
        key=f"race-{key}",
        help="Every variant's recorded training accuracy against wall-clock seconds, played back in your "
        "browser at real speed or five times faster: watch which finishes first and where MAML pulls ahead.",
    ):
        st.plotly_chart(charts.race(record), key=f"race-chart-{key}")
        facts = charts.race_facts(record)
        ends = {n: t for n, t in facts["ends"].items() if t is not None}
        first = min(ends, key=ends.get)
        words = f"{L(first)} finished first, after {ends[first]:.1f} s of training" + (
            "; then " + ", ".join(f"{L(n)} after {t:.1f} s" for n, t in sorted(ends.items(), key=lambda e: e[1])[1:])
            if len(ends) > 1
            else ""
        )
        ref = L(facts["reference"])
        for other, ahead in facts["ahead_from"].items():
            words += (
                f". {ref}'s smoothed training accuracy stays ahead of {L(other)}'s from {ahead:.1f} s on"
                if ahead is not None
                else f". {ref}'s smoothed training accuracy never stays ahead of {L(other)}'s"
            )
        st.caption(words + f". {report.fairness_words(record)}.")


def why_they_differ(record: dict, key: str) -> None:
    """The mechanism, measured on this run: what each variant holds for backprop, and how far each
    shortcut's gradient points from the exact one, over training and per layer."""
    fig = charts.alignment(record)
    memory = report.memory_words(record)
    if fig is None and memory is None:
        return
    st.markdown("#### Why they differ, measured on this run")
    if memory:
        st.markdown(memory)
    if fig is not None:
        first = [L(n) for n in variants.in_record(record) if n in variants.VARIANTS and variants.get(n).first_order]
        st.markdown(
            "Below, every variant's meta-gradient and MAML's exact one are computed at the same parameters and "
            "tasks: a cosine of 1 means the variant's step goes where MAML's does, 0 that it points in an unrelated "
            "direction."
            + (f" {' and '.join(first)} drop{'s' if len(first) == 1 else ''} the Hessian term." if first else "")
            + " A second-order variant keeps it but changes what is optimised, so its cosine shows how far that "
            "change turns the step."
        )
        pairs = charts.alignment_pairs(record, every=True)
        every = None
        if len(pairs) > charts.ALIGNMENT_TRACES:
            every = st.toggle(
                "Every variant during every training",
                key=f"align-every-{key}",
                help="Off: each variant measured during its own training. On: each variant also measured at "
                "MAML's parameters along MAML's training (line style: whose training).",
            )
            fig = charts.alignment(record, every=every)
        st.plotly_chart(fig, key=f"align-{key}")
        for line in report.alignment_words(record):
            st.markdown(f"- {line}")
    st.caption(
        f"Alignment: {record['protocol']['alignment']}. Held for backprop: {record['protocol']['saved_memory']}."
    )


def record_download(record: dict, file_name: str, key: str) -> None:
    """The run record as a JSON download, built only when clicked (records can be large)."""
    st.download_button(
        "Download run record (JSON)",
        lambda: records.dumps(record),
        file_name=file_name,
        mime="application/json",
        key=key,
        on_click="ignore",
    )
