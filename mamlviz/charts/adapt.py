"""The Adaptation page's figures: networks adapting to held-out tasks step by step. No torch."""

from __future__ import annotations

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .. import variants
from .base import INIT_COLOR


def model_name(name: str) -> str:
    """A network of a run: the initialisation or a variant's."""
    return "initialisation" if name == "init" else variants.label(name)


def model_color(name: str) -> str:
    return INIT_COLOR if name == "init" else variants.color(name)


def model_dash(name: str) -> str:
    return "dot" if name == "init" else variants.dash(name)


def adaptation(trace: dict, test_steps: int) -> go.Figure:
    """One task: query accuracy and loss of each network after 0..K inner steps."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=("query accuracy (this task)", "query loss (this task)"))
    for name, t in trace.items():
        steps = list(range(len(t["accuracy"])))
        common = dict(mode="lines+markers", line=dict(color=model_color(name), dash=model_dash(name)), legendgroup=name)
        fig.add_trace(go.Scatter(x=steps, y=t["accuracy"], name=model_name(name), **common), row=1, col=1)
        fig.add_trace(go.Scatter(x=steps, y=t["loss"], showlegend=False, name=model_name(name), **common), row=1, col=2)
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
                name=model_name(name),
                line=dict(color=model_color(name), dash=model_dash(name)),
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
