"""Plotly figures for the dashboard, drawn from run records and live job snapshots. No torch."""

from __future__ import annotations

from dataclasses import asdict

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .config import BY_NAME
from .curves import smoothed, span_for
from .records import ALGORITHMS, Curve, decimate
from .study import key_of
from .summary import COLORS, NAMES, memory_key

DRAWN_POINTS = 1000  # per curve: a browser redrawing more only slows the page, not the picture

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
            common = {"x": list(c[x]), "legendgroup": name, "xaxis": f"x{axis}", "yaxis": f"y{axis}", "type": "scatter"}
            data.append(
                {
                    **common,
                    "y": list(c[key]),
                    "mode": "lines",
                    "name": f"{NAMES[name]} raw",
                    "showlegend": False,
                    "line": {"color": COLORS[name], "width": 1},
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
                    "name": f"{NAMES[name]} (EMA, span {span_for(len(c[key]))}; faint: raw)",
                    "line": {"color": COLORS[name]},
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
    mem_key = memory_key(record)
    both = mem_key == "peak_memory_bytes" and all(res[n].get("autograd_saved_bytes") is not None for n in names)
    mem_title = {"autograd_saved_bytes": "held for backprop (MiB, exact)", "peak_memory_bytes": "peak memory (MiB)"}[
        mem_key
    ] + (": device peak / held for backprop" if both else "")
    fig = make_subplots(rows=1, cols=3, subplot_titles=("training time (s)", mem_title, "test accuracy (%)"))
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
    mem = [(res[n][mem_key] or 0) / 2**20 for n in names]
    fig.add_trace(
        go.Bar(x=labels, y=mem, marker_color=colors, text=[f"{m:,.1f}" for m in mem], textposition="auto"), row=1, col=2
    )
    if both:  # on a GPU: the device's peak and, beside it, the exact part held for backpropagation
        saved = [res[n]["autograd_saved_bytes"] / 2**20 for n in names]
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


SWEEP_PANELS = (  # key, title, unit scale, (row, column)
    ("per_iteration_ms", "time per meta-iteration (ms)", 1, (1, 1)),
    ("autograd_saved_bytes", "held for backprop (MiB, exact)", 2**20, (1, 2)),
    ("peak_memory_bytes", "device peak memory (MiB)", 2**20, (1, 3)),
    ("cosine", "cosine(MAML grad, FOMAML grad)", 1, (2, 1)),
    ("correction_norm", "norm of the Hessian term's part", 1, (2, 2)),
)


def scaling(points: list[dict], over: str = "inner_steps", title: str = "") -> go.Figure:
    """Cost (top row) and gradient alignment at the initialisation (bottom row) against the swept
    setting, inner steps or inner lr; cost per variant, alignment as one grey line (it is the same)."""
    fig = make_subplots(rows=2, cols=3, subplot_titles=[t for _, t, _, _ in SWEEP_PANELS], vertical_spacing=0.22)
    for key, _, scale, (row, col) in SWEEP_PANELS:
        shared = row == 2
        for name in ALGORITHMS[:1] if shared else ALGORITHMS:
            pts = sorted(
                (p for p in points if p["algorithm"] == name and p.get(key) is not None), key=lambda p: p[over]
            )
            if pts:
                fig.add_trace(
                    go.Scatter(
                        x=[p[over] for p in pts],
                        y=[p[key] / scale for p in pts],
                        mode="lines+markers",
                        name="both (alignment)" if shared else NAMES[name],
                        line=dict(color="#555" if shared else COLORS[name]),
                        legendgroup="both" if shared else name,
                        showlegend=(row, col) in ((1, 1), (2, 1)),
                    ),
                    row=row,
                    col=col,
                )
    if over == "inner_lr":
        fig.update_xaxes(title_text="inner learning rate α", type="log")
    else:
        fig.update_xaxes(title_text="inner steps", dtick=1)
    fig.update_yaxes(rangemode="tozero")
    fig.update_layout(
        height=620,
        title=title or None,
        margin=dict(t=80, b=40, l=40, r=10),
        legend=dict(orientation="h", yanchor="bottom", y=1.08, x=0),
    )
    return fig


def alignment(record: dict) -> go.Figure | None:
    """Cosine of the two meta-gradients and the size of the Hessian term's part, over each variant's
    training; and, per layer, the cosine at the end of training."""
    res = {n: record["results"][n].get("alignment") for n in ALGORITHMS}
    if not any(res.values()):
        return None
    fig = make_subplots(
        rows=1,
        cols=3,
        subplot_titles=(
            "cosine(MAML grad, FOMAML grad)",
            "Hessian term's part / MAML grad norm",
            "cosine per layer, end of training",
        ),
    )
    for name, a in res.items():
        if not a:
            continue
        common = dict(line=dict(color=COLORS[name]), legendgroup=name, mode="lines+markers")
        fig.add_trace(
            go.Scatter(x=a["iteration"], y=a["cosine"], name=f"during {NAMES[name]} training", **common), row=1, col=1
        )
        share = [c / m if m else None for c, m in zip(a["correction_norm"], a["maml_norm"])]
        fig.add_trace(go.Scatter(x=a["iteration"], y=share, showlegend=False, name=NAMES[name], **common), row=1, col=2)
        layers = list(a["per_layer"])
        fig.add_trace(
            go.Bar(
                x=layers,
                y=[a["per_layer"][k][-1] for k in layers],
                marker_color=COLORS[name],
                name=NAMES[name],
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


def history(entries: list[tuple[str, dict]]) -> go.Figure:
    """Several compare records side by side: accuracy (CI), time and memory per variant (the exact
    figure held for backpropagation when every record has it, else the device peak)."""
    exact = all(r["results"][n].get("autograd_saved_bytes") is not None for _, r in entries for n in ALGORITHMS)
    mem_key = "autograd_saved_bytes" if exact else "peak_memory_bytes"
    fig = make_subplots(
        rows=1,
        cols=3,
        subplot_titles=(
            "test accuracy (%)",
            "training time (s)",
            "held for backprop (MiB, exact)" if exact else "peak memory (MiB)",
        ),
    )
    for name in ALGORITHMS:
        xs, acc, ci, t, mem = [], [], [], [], []
        for run_label, r in entries:
            res = r["results"][name]
            xs.append(run_label)
            acc.append(res["test"]["accuracy"] * 100 if res.get("test") else None)
            ci.append(res["test"]["ci95"] * 100 if res.get("test") else 0)
            t.append(res["train_time_s"])
            mem.append(res[mem_key] / 2**20 if res[mem_key] is not None else None)
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


ADAPT_COLORS = {"init": "#7f7f7f", **COLORS}
ADAPT_NAMES = {"init": "initialisation", **NAMES}


def adaptation(trace: dict, test_steps: int) -> go.Figure:
    """One task: query accuracy and loss of each network after 0..K inner steps."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=("query accuracy (this task)", "query loss (this task)"))
    for name, t in trace.items():
        steps = list(range(len(t["accuracy"])))
        common = dict(mode="lines+markers", line=dict(color=ADAPT_COLORS[name]), legendgroup=name)
        fig.add_trace(go.Scatter(x=steps, y=t["accuracy"], name=ADAPT_NAMES[name], **common), row=1, col=1)
        fig.add_trace(
            go.Scatter(x=steps, y=t["loss"], showlegend=False, name=ADAPT_NAMES[name], **common), row=1, col=2
        )
    fig.add_vline(x=test_steps, line_dash="dot", line_color="black", annotation_text="steps used at test")
    fig.update_xaxes(title_text="inner steps of adaptation", dtick=1)
    fig.update_yaxes(range=[0, 1.02], row=1, col=1)
    fig.update_yaxes(rangemode="tozero", row=1, col=2)
    fig.update_layout(
        height=330, margin=dict(t=80, b=40, l=40, r=10), legend=dict(orientation="h", yanchor="bottom", y=1.15, x=0)
    )
    return fig


def adaptation_average(many: dict, chance: float, test_steps: int) -> go.Figure:
    """Mean query accuracy after 0..K inner steps over many tasks, with 95 % intervals."""
    fig = go.Figure()
    for name, m in many.items():
        steps = list(range(len(m["accuracy"])))
        fig.add_trace(
            go.Scatter(
                x=steps,
                y=[a * 100 for a in m["accuracy"]],
                mode="lines+markers",
                name=ADAPT_NAMES[name],
                line=dict(color=ADAPT_COLORS[name]),
                error_y=dict(type="data", array=[c * 100 for c in m["ci95"]], visible=True),
            )
        )
    fig.add_hline(y=chance * 100, line_dash="dot", line_color="black", annotation_text=f"chance {chance:.0%}")
    fig.add_vline(x=test_steps, line_dash="dot", line_color="black", annotation_text="steps used at test")
    fig.update_layout(
        height=360,
        xaxis_title="inner steps of adaptation",
        yaxis_title=f"query accuracy (%), mean of {next(iter(many.values()))['tasks']} tasks, 95 % CI",
        yaxis_range=[0, 100],
        xaxis_dtick=1,
        margin=dict(t=40, b=40, l=40, r=10),
        legend=dict(orientation="h", yanchor="bottom", y=1.02, x=0),
    )
    return fig


RACE_FRAMES = 60


def race_facts(record: dict) -> dict:
    """When FOMAML finished and from when MAML's smoothed training accuracy stays ahead of FOMAML's
    at the same wall-clock second (None if it never does), from the recorded curves."""
    res = record["results"]
    ends = {n: res[n]["curve"]["time_s"][-1] if res[n]["curve"]["time_s"] else None for n in ALGORITHMS}
    m, f = res["maml"]["curve"], res["fomaml"]["curve"]
    overtakes = None
    if m["time_s"] and f["time_s"]:
        fa = smoothed(f["accuracy"])
        j, ahead_since = 0, None
        for t, a in zip(m["time_s"], smoothed(m["accuracy"])):
            while j + 1 < len(f["time_s"]) and f["time_s"][j + 1] <= t:
                j += 1
            if f["time_s"][j] > t:
                continue
            ahead_since = (ahead_since if ahead_since is not None else t) if a > fa[j] else None
        overtakes = ahead_since
    return {"ends": ends, "maml_ahead_from": overtakes}


def race(record: dict) -> go.Figure:
    """Both recorded training-accuracy curves (EMA) replayed on the wall-clock axis, as Plotly frames that
    the browser animates by itself: at real speed or five times faster."""
    res = record["results"]
    curves = {n: asdict(decimate(Curve(**res[n]["curve"]), 150)) for n in ALGORITHMS if res[n]["curve"]["time_s"]}
    smooth = {n: smoothed(c["accuracy"]) for n, c in curves.items()}
    end = max(c["time_s"][-1] for c in curves.values())
    times = [end * (k + 1) / RACE_FRAMES for k in range(RACE_FRAMES)]

    def upto(name, t):
        c = curves[name]
        k = sum(1 for v in c["time_s"] if v <= t)
        return {"x": c["time_s"][:k], "y": smooth[name][:k]}

    def traces(t):
        return [
            {
                "type": "scatter",
                "mode": "lines",
                "name": f"{NAMES[n]} (EMA)",
                "line": {"color": COLORS[n], "width": 3},
                **upto(n, t),
            }
            for n in curves
        ]

    facts = race_facts(record)
    shapes, notes = [], []
    for n, t_end in facts["ends"].items():
        if t_end is not None and n in curves:
            shapes.append(
                {
                    "type": "line",
                    "x0": t_end,
                    "x1": t_end,
                    "y0": 0,
                    "y1": 1,
                    "yref": "paper",
                    "line": {"color": COLORS[n], "dash": "dot"},
                }
            )
            notes.append(
                {
                    "x": t_end,
                    "y": 1.02,
                    "yref": "paper",
                    "text": f"{NAMES[n]} done",
                    "showarrow": False,
                    "font": {"color": COLORS[n]},
                }
            )
    if facts["maml_ahead_from"] is not None:
        notes.append(
            {
                "x": facts["maml_ahead_from"],
                "y": 0.05,
                "yref": "paper",
                "text": "MAML ahead from here",
                "showarrow": True,
                "arrowhead": 2,
                "ay": -30,
            }
        )
    step_ms = end / RACE_FRAMES * 1000

    def play(label, speed):
        return {
            "label": label,
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
    return _figure({"data": traces(0.0), "layout": layout, "frames": frames})


def _none_last(v):
    """Sort key for a setting's values: an optional limit's None ("none") after the numbers."""
    return (v is None, v if v is not None else 0)


def _error_bars(stats: list[dict | None], scale: float) -> dict:
    return dict(type="data", array=[(s["ci95"] or 0) * scale if s else None for s in stats], visible=True)


def study_payoff(study: dict, x: str) -> go.Figure:
    """Where second order pays for itself: per setting of the grid, against the field ``x``, the paired
    MAML - FOMAML accuracy difference (left, with its 95 % interval and the zero line) and what MAML
    costs for it, its training time and memory as multiples of FOMAML's (right). One line per value of
    the other varied fields."""
    others = [k for k in study["protocol"]["grid"] if k != x]
    groups: dict[str, list[dict]] = {}
    for s in study["settings"]:
        groups.setdefault(key_of({k: s["setting"][k] for k in others}) or "", []).append(s)
    fig = make_subplots(
        rows=1,
        cols=2,
        subplot_titles=["MAML − FOMAML test accuracy (points, paired by seed)", "MAML's cost (× FOMAML's)"],
        horizontal_spacing=0.1,
    )
    for i, (group, settings) in enumerate(groups.items()):
        settings = sorted((s for s in settings if s["accuracy_diff"]), key=lambda s: _none_last(s["setting"][x]))
        xs = [s["setting"][x] for s in settings]
        dash = ("solid", "dot", "dash", "dashdot")[i % 4]
        suffix = f" ({group})" if group else ""
        diffs = [s["accuracy_diff"] for s in settings]
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=[d["mean"] * 100 for d in diffs],
                error_y=_error_bars(diffs, 100),
                mode="lines+markers",
                name="MAML − FOMAML accuracy" + suffix,
                line=dict(color="#6a3d9a", dash=dash),
            ),
            row=1,
            col=1,
        )
        for key, what, color in (
            ("time_ratio", "MAML's training time ÷ FOMAML's", "#d62728"),
            ("memory_ratio", "MAML's memory ÷ FOMAML's", "#ff7f0e"),
        ):
            ratios = [s[key] for s in settings]
            fig.add_trace(
                go.Scatter(
                    x=xs,
                    y=[r["mean"] if r else None for r in ratios],
                    error_y=_error_bars(ratios, 1),
                    mode="lines+markers",
                    name=what + suffix,
                    line=dict(color=color, dash=dash),
                ),
                row=1,
                col=2,
            )
    fig.add_hline(y=0, line=dict(color="#888", width=1), row=1, col=1)
    fig.add_hline(y=1, line=dict(color="#888", width=1), row=1, col=2)
    title = BY_NAME[x].label if x in BY_NAME else x
    fig.update_xaxes(title_text=title, type="log" if x in ("inner_lr", "outer_lr") else None)
    if BY_NAME.get(x) and BY_NAME[x].type is int:
        fig.update_xaxes(
            tickmode="array", tickvals=sorted({s["setting"][x] for s in study["settings"]}, key=_none_last)
        )
    fig.update_yaxes(title_text="points (above 0: MAML more accurate)", row=1, col=1)
    fig.update_yaxes(title_text="× FOMAML", rangemode="tozero", row=1, col=2)
    fig.update_layout(
        height=430, margin=dict(t=60, b=40, l=40, r=10), legend=dict(orientation="h", yanchor="top", y=-0.18, x=0)
    )
    return fig
