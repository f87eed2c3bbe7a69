"""Plotly figures for the dashboard, drawn from run records and live job snapshots. No torch."""

from __future__ import annotations

from dataclasses import asdict

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .records import ALGORITHMS, Curve, decimate
from .summary import NAMES

DRAWN_POINTS = 1000  # per curve: a browser redrawing more only slows the page, not the picture

COLORS = {"maml": "#d62728", "fomaml": "#1f77b4"}
X_AXES = {"iteration": "meta-iteration", "time_s": "training wall-clock (s)"}


def label(record: dict) -> str:
    """Device and protocol, for every figure's caption."""
    env, proto = record["environment"], record.get("protocol", {})
    parts = [
        env["device_name"],
        f"torch {env['torch']}",
        proto.get("task", ""),
        f"{proto.get('train_inner_steps', '?')} inner step(s) in training, {proto.get('test_inner_steps', '?')} at test"
        if record["kind"] == "compare"
        else proto.get("sweep", ""),
        f"{proto.get('test_tasks')} test tasks" if record["kind"] == "compare" else "",
        f"path {proto.get('path')}",
        env["date"][:10],
    ]
    return " · ".join(p for p in parts if p)


def _figure(spec: dict) -> go.Figure:
    """A Figure from a plain spec without plotly's per-property validation (5x cheaper); the live
    view redraws twice a second and validation would steal the GIL from training."""
    try:
        return go.Figure(spec, _validate=False)
    except TypeError:  # a plotly without the private switch: validate
        return go.Figure(spec)


def curves(series: dict[str, dict], x: str = "iteration", title: str = "") -> go.Figure:
    """Training loss and accuracy of both variants on the same axes; x is iterations or seconds."""
    data = []
    for name in ALGORITHMS:
        c = series.get(name)
        if not c or not c.get("loss"):
            continue
        c = asdict(decimate(Curve(**{k: c[k] for k in ("iteration", "time_s", "loss", "accuracy")}), DRAWN_POINTS))
        for axis, key in (("", "loss"), ("2", "accuracy")):
            data.append(
                {
                    "type": "scatter",
                    "mode": "lines",
                    "x": list(c[x]),
                    "y": list(c[key]),
                    "name": NAMES[name],
                    "legendgroup": name,
                    "showlegend": not axis,
                    "line": {"color": COLORS[name]},
                    "xaxis": f"x{axis}",
                    "yaxis": f"y{axis}",
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
    return _figure({"data": data, "layout": layout})


def result_bars(record: dict) -> go.Figure:
    """Training time, peak memory and test accuracy (95 % CI) side by side, baseline and chance drawn in."""
    res = record["results"]
    names = [n for n in ALGORITHMS if res[n]["status"] != "not_run"]
    metric = res[names[0]]["memory_metric"] if names else ""
    fig = make_subplots(
        rows=1,
        cols=3,
        subplot_titles=("training time (s)", "peak memory (MiB)" + ("*" if metric else ""), "test accuracy (%)"),
    )
    labels = [NAMES[n] for n in names]
    colors = [COLORS[n] for n in names]
    fig.add_trace(
        go.Bar(
            x=labels,
            y=[res[n]["train_time_s"] for n in names],
            marker_color=colors,
            text=[f"{res[n]['train_time_s']:.1f}" for n in names],
            textposition="auto",
        ),
        row=1,
        col=1,
    )
    mem = [(res[n]["peak_memory_bytes"] or 0) / 2**20 for n in names]
    fig.add_trace(
        go.Bar(x=labels, y=mem, marker_color=colors, text=[f"{m:,.0f}" for m in mem], textposition="auto"), row=1, col=2
    )
    tested = [n for n in names if res[n].get("test")]
    fig.add_trace(
        go.Bar(
            x=[NAMES[n] for n in tested],
            y=[res[n]["test"]["accuracy"] * 100 for n in tested],
            error_y=dict(type="data", array=[res[n]["test"]["ci95"] * 100 for n in tested], visible=True),
            marker_color=[COLORS[n] for n in tested],
            text=[f"{res[n]['test']['accuracy'] * 100:.1f}" for n in tested],
            textposition="inside",
        ),
        row=1,
        col=3,
    )
    base = record.get("baseline")
    if base:
        fig.add_hline(
            y=base["accuracy"] * 100,
            line_dash="dash",
            line_color="gray",
            row=1,
            col=3,
            annotation_text=f"init, adapted {base['accuracy'] * 100:.1f}",
            annotation_position="top left",
        )
    fig.add_hline(
        y=record["chance"] * 100,
        line_dash="dot",
        line_color="black",
        row=1,
        col=3,
        annotation_text=f"chance {record['chance'] * 100:.0f}",
        annotation_position="bottom left",
    )
    fig.update_yaxes(range=[0, 100], row=1, col=3)
    fig.update_layout(height=340, showlegend=False, margin=dict(t=50, b=30, l=40, r=10))
    return fig


def scaling(points: list[dict], title: str = "") -> go.Figure:
    """Time per iteration and peak memory against inner steps, one line per variant."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=("time per meta-iteration (ms)", "peak memory (MiB)"))
    for name in ALGORITHMS:
        pts = sorted(
            (p for p in points if p["algorithm"] == name and p.get("per_iteration_ms") is not None),
            key=lambda p: p["inner_steps"],
        )
        if not pts:
            continue
        steps = [p["inner_steps"] for p in pts]
        fig.add_trace(
            go.Scatter(
                x=steps,
                y=[p["per_iteration_ms"] for p in pts],
                mode="lines+markers",
                name=NAMES[name],
                line=dict(color=COLORS[name]),
                legendgroup=name,
            ),
            row=1,
            col=1,
        )
        fig.add_trace(
            go.Scatter(
                x=steps,
                y=[(p["peak_memory_bytes"] or 0) / 2**20 for p in pts],
                mode="lines+markers",
                name=NAMES[name],
                line=dict(color=COLORS[name]),
                legendgroup=name,
                showlegend=False,
            ),
            row=1,
            col=2,
        )
    fig.update_xaxes(title_text="inner steps", dtick=1)
    fig.update_yaxes(rangemode="tozero")
    fig.update_layout(
        height=360,
        title=title or None,
        margin=dict(t=80, b=40, l=40, r=10),
        legend=dict(orientation="h", yanchor="bottom", y=1.12, x=0),
    )
    return fig


def history(entries: list[tuple[str, dict]]) -> go.Figure:
    """Several compare records side by side: accuracy (CI), time and memory per variant."""
    fig = make_subplots(rows=1, cols=3, subplot_titles=("test accuracy (%)", "training time (s)", "peak memory (MiB)"))
    for name in ALGORITHMS:
        xs, acc, ci, t, mem = [], [], [], [], []
        for run_label, r in entries:
            res = r["results"][name]
            xs.append(run_label)
            acc.append(res["test"]["accuracy"] * 100 if res.get("test") else None)
            ci.append(res["test"]["ci95"] * 100 if res.get("test") else 0)
            t.append(res["train_time_s"])
            mem.append((res["peak_memory_bytes"] or 0) / 2**20 if res["peak_memory_bytes"] is not None else None)
        common = dict(name=NAMES[name], marker_color=COLORS[name], legendgroup=name)
        fig.add_trace(go.Bar(x=xs, y=acc, error_y=dict(type="data", array=ci), **common), row=1, col=1)
        fig.add_trace(go.Bar(x=xs, y=t, showlegend=False, **common), row=1, col=2)
        fig.add_trace(go.Bar(x=xs, y=mem, showlegend=False, **common), row=1, col=3)
    fig.update_layout(
        barmode="group",
        height=380,
        margin=dict(t=80, b=40, l=40, r=10),
        legend=dict(orientation="h", yanchor="bottom", y=1.12, x=0),
    )
    return fig
