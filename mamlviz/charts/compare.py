"""The Compare page's figures: training curves, result bars, the gradient alignment, the race. No torch."""

from __future__ import annotations

from dataclasses import asdict

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .. import variants
from ..analysis.compare import PEAK, SAVED, memory_key
from ..curves import smoothed, span_for
from ..records import Curve, decimate
from .base import DRAWN_POINTS, X_AXES, figure

L = variants.label


def curves(series: dict[str, dict], x: str = "iteration", title: str = "") -> go.Figure:
    """Training loss and accuracy of every variant on the same axes; x is iterations or seconds."""
    data = []
    for name in variants.ordered(series):
        c = series.get(name)
        if not c or not c.get("loss"):
            continue
        c = asdict(decimate(Curve(**{k: c[k] for k in ("iteration", "time_s", "loss", "accuracy")}), DRAWN_POINTS))
        for axis, key in (("", "loss"), ("2", "accuracy")):
            common = {"x": list(c[x]), "legendgroup": name, "xaxis": f"x{axis}", "yaxis": f"y{axis}", "type": "scatter"}
            data.append(
                {
                    **common,
                    "y": list(c[key]),
                    "mode": "lines",
                    "name": f"{L(name)} raw",
                    "showlegend": False,
                    "line": {"color": variants.color(name), "width": 1},
                    "opacity": 0.25,
                    "hoverinfo": "skip",
                }
            )
            data.append(
                {
                    **common,
                    "y": smoothed(c[key], span_for(len(c[key]))),
                    "mode": "lines",
                    "showlegend": not axis,
                    "name": f"{L(name)} (EMA, span {span_for(len(c[key]))}; faint: raw)",
                    "line": {"color": variants.color(name), "dash": variants.dash(name)},
                }
            )
    titles = (
        ("query loss after adaptation (training tasks)", 0.23),
        ("query accuracy after adaptation (training tasks)", 0.77),
    )
    layout = {
        "xaxis": {"domain": [0, 0.46], "title": {"text": X_AXES[x]}},
        "xaxis2": {"domain": [0.54, 1], "anchor": "y2", "title": {"text": X_AXES[x]}},
        "yaxis2": {"anchor": "x2", "range": [0, 1.02]},
        "annotations": [
            {
                "text": t,
                "x": pos,
                "y": 1.0,
                "xref": "paper",
                "yref": "paper",
                "xanchor": "center",
                "yanchor": "bottom",
                "showarrow": False,
                "font": {"size": 14},
            }
            for t, pos in titles
        ],
        "height": 340,
        "margin": {"t": 80, "b": 40, "l": 40, "r": 10},
        "legend": {"orientation": "h", "yanchor": "bottom", "y": 1.12, "x": 0},
    }
    if title:
        layout["title"] = {"text": title}
    return figure({"data": data, "layout": layout})


VALIDATION_TITLE = "accuracy on held-out validation tasks against training time"


def validation(series: dict[str, dict | None], test: dict[str, float] | None = None) -> go.Figure | None:
    """Each variant's accuracy after adaptation on the same held-out validation tasks, at points of its training,
    against its training seconds (``series``: name -> {"time_s", "accuracy", "iteration"}); ``test``: each one's
    final test accuracy, marked at its last point. None when no variant has a point."""
    data = []
    for name in variants.ordered(series):
        c = series.get(name)
        if not c or not c.get("accuracy"):
            continue
        data.append(
            {
                "type": "scatter",
                "x": list(c["time_s"]),
                "y": list(c["accuracy"]),
                "mode": "lines+markers",
                "name": L(name),
                "line": {"color": variants.color(name), "dash": variants.dash(name)},
                "customdata": list(c["iteration"]),
                "hovertemplate": f"{L(name)}: %{{y:.1%}} after %{{x:.1f}} s (iteration %{{customdata}})<extra></extra>",
            }
        )
        if test and test.get(name) is not None:
            data.append(
                {
                    "type": "scatter",
                    "x": [c["time_s"][-1]],
                    "y": [test[name]],
                    "mode": "markers",
                    "name": f"{L(name)}: test accuracy",
                    "showlegend": False,
                    "marker": {"color": variants.color(name), "symbol": "star", "size": 12},
                    "hovertemplate": f"{L(name)}: test accuracy %{{y:.1%}}<extra></extra>",
                }
            )
    if not data:
        return None
    layout = {
        "title": {"text": VALIDATION_TITLE, "font": {"size": 14}},
        "xaxis": {"title": {"text": X_AXES["time_s"]}, "rangemode": "tozero"},
        "yaxis": {"title": {"text": "accuracy after adaptation"}, "tickformat": ".0%"},
        "height": 340,
        "margin": {"t": 70, "b": 40, "l": 50, "r": 10},
        "legend": {"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0},
    }
    return figure({"data": data, "layout": layout})


def validation_of(record: dict) -> go.Figure | None:
    """``validation`` of a comparison record: its variants' validation curves, their test accuracies as stars."""
    results = record["results"]
    return validation(
        {n: r.get("validation") for n, r in results.items()},
        {n: (r.get("test") or {}).get("accuracy") for n, r in results.items()},
    )


MEMORY_TITLES = {SAVED: "held for backprop (MiB, exact)", PEAK: "peak memory (MiB)"}


def result_bars(record: dict) -> go.Figure:
    """Training time, memory and test accuracy (95 % CI) of every variant, baseline and chance drawn in."""
    res = record["results"]
    names = [n for n in variants.in_record(record) if res[n]["status"] != "not_run"]
    mem_key = memory_key([record])
    both = mem_key == PEAK and all(res[n].get(SAVED) is not None for n in names)
    peak = "device peak (MiB)" if record["environment"]["device"] == "cuda" else "peak RSS increase (MiB)"
    mem_title = (MEMORY_TITLES[SAVED] if mem_key == SAVED else peak) + (
        ": device peak / held for backprop" if both else ""
    )
    fig = make_subplots(rows=1, cols=3, subplot_titles=("training time (s)", mem_title, "test accuracy (%)"))
    labels = [L(n) for n in names]
    colors = [variants.color(n) for n in names]
    times = [res[n]["train_time_s"] or 0 for n in names]
    fig.add_trace(
        go.Bar(x=labels, y=times, marker_color=colors, text=[f"{t:.1f}" for t in times], textposition="auto"),
        row=1,
        col=1,
    )
    mem = [(res[n][mem_key] or 0) / 2**20 for n in names]
    fig.add_trace(
        go.Bar(x=labels, y=mem, marker_color=colors, text=[f"{m:,.1f}" for m in mem], textposition="auto"), row=1, col=2
    )
    if both:  # on a GPU: the device's peak and, beside it, the exact part held for backpropagation
        saved = [res[n][SAVED] / 2**20 for n in names]
        fig.add_trace(
            go.Bar(
                x=labels,
                y=saved,
                marker_color=colors,
                marker_pattern_shape="/",
                text=[f"{m:,.1f}" for m in saved],
                textposition="auto",
            ),
            row=1,
            col=2,
        )
        fig.update_layout(barmode="group")
    tested = [n for n in names if res[n].get("test")]
    fig.add_trace(
        go.Bar(
            x=[L(n) for n in tested],
            y=[res[n]["test"]["accuracy"] * 100 for n in tested],
            error_y=dict(type="data", array=[res[n]["test"]["ci95"] * 100 for n in tested], visible=True),
            marker_color=[variants.color(n) for n in tested],
            text=[f"{res[n]['test']['accuracy'] * 100:.1f}" for n in tested],
            textposition="inside",
            insidetextanchor="start",  # at the bar's foot, clear of the error bar at its top
        ),
        row=1,
        col=3,
    )
    base = record.get("baseline")
    lines = (
        [(base["accuracy"], "dash", "gray", f"init, adapted {base['accuracy'] * 100:.1f}", "top left")] if base else []
    )
    lines.append((record["chance"], "dot", "black", f"chance {record['chance'] * 100:.0f}", "bottom left"))
    for y, dash, color, text, where in lines:  # the baseline and chance, for the bars to be read against
        fig.add_hline(
            y=y * 100, line_dash=dash, line_color=color, row=1, col=3, annotation_text=text, annotation_position=where
        )
    fig.update_yaxes(range=[0, 100], row=1, col=3)
    fig.update_layout(height=340, showlegend=False, margin=dict(t=50, b=30, l=40, r=10))
    return fig


ALIGNMENT_TRACES = 4  # more (owner, variant) pairs than this: each variant during its own training only


def alignment_pairs(record: dict, every: bool | None = None) -> list[tuple[str, str]]:
    """The (whose training, which variant) curves to draw: all of them (each variant during its own training
    and the reference's) when ``every`` or when they are few; else each variant during its own training, the
    one a reader asks about first."""
    curves_ = {n: record["results"][n].get("alignment") for n in variants.in_record(record)}
    pairs = [(during, other) for during, a in curves_.items() if a for other in a["variants"]]
    if every or (every is None and len(pairs) <= ALIGNMENT_TRACES):
        return pairs
    return [(during, other) for during, other in pairs if during == other]


def alignment(record: dict, every: bool | None = None) -> go.Figure | None:
    """Each variant's meta-gradient against the reference's over each variant's training: the cosine, the
    size of the difference, and per layer the cosine at the end of training. Colour: the variant compared
    with the reference; line style: whose training it was measured during. With many variants, only each
    one during its own training unless ``every`` (``alignment_pairs``)."""
    curves_ = {n: record["results"][n].get("alignment") for n in variants.in_record(record)}
    if not any(curves_.values()):
        return None
    pairs = alignment_pairs(record, every)
    ref = next(a["reference"] for a in curves_.values() if a)
    fig = make_subplots(
        rows=1,
        cols=3,
        subplot_titles=(
            f"cosine with {L(ref)}'s meta-gradient",
            f"size of the difference / {L(ref)} grad norm",
            "cosine per layer, end of training",
        ),
    )
    for during, a in curves_.items():
        if not a:
            continue
        for other, g in a["variants"].items():
            if (during, other) not in pairs:
                continue
            name = f"{L(other)}, during {L(during)}'s training"
            common = dict(
                line=dict(color=variants.color(other), dash=variants.dash(during)),
                legendgroup=name,
                mode="lines+markers",
            )
            fig.add_trace(go.Scatter(x=a["iteration"], y=g["cosine"], name=name, **common), row=1, col=1)
            share = [d / m if m else None for d, m in zip(g["difference_norm"], a["reference_norm"])]
            fig.add_trace(go.Scatter(x=a["iteration"], y=share, showlegend=False, name=name, **common), row=1, col=2)
            layers = list(g["per_layer"])
            fig.add_trace(
                go.Bar(
                    x=layers,
                    y=[g["per_layer"][k][-1] for k in layers],
                    marker_color=variants.color(other),
                    marker_pattern_shape="" if during == ref else "/",
                    name=name,
                    legendgroup=name,
                    showlegend=False,
                ),
                row=1,
                col=3,
            )
    fig.update_xaxes(title_text="meta-iteration", row=1, col=1)
    fig.update_xaxes(title_text="meta-iteration", row=1, col=2)
    fig.update_yaxes(range=[-1.05, 1.05], row=1, col=1)
    fig.update_yaxes(range=[-1.05, 1.05], row=1, col=3)
    fig.update_yaxes(rangemode="tozero", row=1, col=2)
    fig.update_layout(
        height=360,
        barmode="group",
        margin=dict(t=80, b=40, l=40, r=10),
        legend=dict(orientation="h", yanchor="bottom", y=1.15, x=0),
    )
    return fig


RACE_FRAMES = 60


def race_facts(record: dict) -> dict:
    """When each variant finished, and from when the reference's smoothed training accuracy stays ahead of
    each other variant's at the same wall-clock second (None if it never does), from the recorded curves."""
    res = record["results"]
    names = variants.in_record(record)
    ref = variants.reference_of(names)
    ends = {n: res[n]["curve"]["time_s"][-1] if res[n]["curve"]["time_s"] else None for n in names}
    m = res[ref]["curve"]
    ahead_from = {}
    for name in variants.others(names):
        f = res[name]["curve"]
        ahead_from[name] = None
        if not (m["time_s"] and f["time_s"]):
            continue
        fa = smoothed(f["accuracy"])
        j, ahead_since = 0, None
        for t, a in zip(m["time_s"], smoothed(m["accuracy"])):
            while j + 1 < len(f["time_s"]) and f["time_s"][j + 1] <= t:
                j += 1
            if f["time_s"][j] > t:
                continue
            ahead_since = (ahead_since if ahead_since is not None else t) if a > fa[j] else None
        ahead_from[name] = ahead_since
    return {"reference": ref, "ends": ends, "ahead_from": ahead_from}


def race(record: dict) -> go.Figure:
    """Every recorded training-accuracy curve (EMA) replayed on the wall-clock axis, as Plotly frames that
    the browser animates by itself: at real speed or five times faster."""
    res = record["results"]
    names = variants.in_record(record)
    curves_ = {n: asdict(decimate(Curve(**res[n]["curve"]), 150)) for n in names if res[n]["curve"]["time_s"]}
    smooth = {n: smoothed(c["accuracy"]) for n, c in curves_.items()}
    end = max(c["time_s"][-1] for c in curves_.values())
    times = [end * (k + 1) / RACE_FRAMES for k in range(RACE_FRAMES)]

    def upto(name, t):
        c = curves_[name]
        k = sum(1 for v in c["time_s"] if v <= t)
        return {"x": c["time_s"][:k], "y": smooth[name][:k]}

    def traces(t):
        return [
            {
                "type": "scatter",
                "mode": "lines",
                "name": f"{L(n)} (EMA)",
                "line": {"color": variants.color(n), "width": 3, "dash": variants.dash(n)},
                **upto(n, t),
            }
            for n in curves_
        ]

    facts = race_facts(record)
    shapes, notes = [], []
    for n, t_end in facts["ends"].items():
        if t_end is not None and n in curves_:
            shapes.append(
                {
                    "type": "line",
                    "x0": t_end,
                    "x1": t_end,
                    "y0": 0,
                    "y1": 1,
                    "yref": "paper",
                    "line": {"color": variants.color(n), "dash": "dot"},
                }
            )
            notes.append(
                {
                    "x": t_end,
                    "y": 1.02,
                    "yref": "paper",
                    "text": f"{L(n)} done",
                    "showarrow": False,
                    "font": {"color": variants.color(n)},
                }
            )
    for other, t in facts["ahead_from"].items():
        if t is not None:
            notes.append(
                {
                    "x": t,
                    "y": 0.05,
                    "yref": "paper",
                    "text": f"{L(facts['reference'])} ahead of {L(other)} from here",
                    "showarrow": True,
                    "arrowhead": 2,
                    "ay": -30,
                }
            )
    step_ms = end / RACE_FRAMES * 1000

    def play(text, speed):
        return {
            "label": text,
            "method": "animate",
            "args": [
                None,
                {
                    "frame": {"duration": step_ms / speed, "redraw": False},
                    "transition": {"duration": 0},
                    "fromcurrent": True,
                    "mode": "immediate",
                },
            ],
        }

    layout = {
        "xaxis": {"range": [0, end * 1.02], "title": {"text": X_AXES["time_s"]}},
        "yaxis": {"range": [0, 1.02], "title": {"text": "training query accuracy (EMA)"}},
        "height": 380,
        "margin": {"t": 70, "b": 40, "l": 50, "r": 10},
        "shapes": shapes,
        "annotations": notes,
        "legend": {"orientation": "h", "yanchor": "bottom", "y": 1.08, "x": 0.35},
        "updatemenus": [
            {
                "type": "buttons",
                "direction": "left",
                "x": 0,
                "y": 1.2,
                "xanchor": "left",
                "buttons": [
                    play("▶ real speed", 1),
                    play("▶ 5× faster", 5),
                    {
                        "label": "⏸",
                        "method": "animate",
                        "args": [[None], {"mode": "immediate", "frame": {"duration": 0, "redraw": False}}],
                    },
                ],
            }
        ],
    }
    frames = [{"name": f"{t:.2f}", "data": traces(t)} for t in times]
    return figure({"data": traces(0.0), "layout": layout, "frames": frames})
