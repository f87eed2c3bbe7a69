"""The Studies page's figure: where the reference pays for itself, per setting of the grid. No torch."""

from __future__ import annotations

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .. import variants
from ..analysis.study import key_of
from ..config import BY_NAME
from .base import none_last

L = variants.label
DASHES = ("solid", "dot", "dash", "dashdot")


def _error_bars(stats: list[dict | None], scale: float) -> dict:
    return dict(type="data", array=[(s["ci95"] or 0) * scale if s else None for s in stats], visible=True)


def study_payoff(study: dict, x: str) -> go.Figure:
    """Per setting of the grid, against the field ``x``: each variant's accuracy difference from the reference,
    paired by seed (with its 95 % interval and the zero line), and what the reference costs for it, its
    training time and memory as multiples of the variant's. Colour: the variant; line style: the values of
    the other varied fields."""
    others = [k for k in study["protocol"]["grid"] if k != x]
    groups: dict[str, list[dict]] = {}
    for s in study["settings"]:
        groups.setdefault(key_of({k: s["setting"][k] for k in others}) or "", []).append(s)
    ref = study["settings"][0]["reference"] if study["settings"] else variants.REFERENCE
    fig = make_subplots(
        rows=1,
        cols=3,
        subplot_titles=[
            f"accuracy − {L(ref)}'s (points)",
            f"{L(ref)}'s training time ÷ variant's",
            f"{L(ref)}'s memory ÷ variant's",
        ],
        horizontal_spacing=0.08,
    )
    names = variants.ordered(n for s in study["settings"] for n in s["versus"])
    for i, (group, settings) in enumerate(groups.items()):
        settings = sorted(settings, key=lambda s: none_last(s["setting"][x]))
        suffix = f" ({group})" if group else ""
        for name in names:
            mine = [s for s in settings if s["versus"].get(name, {}).get("accuracy_diff")]
            xs = [s["setting"][x] for s in mine]
            for col, key, scale in ((1, "accuracy_diff", 100), (2, "speedup", 1), (3, "memory_ratio", 1)):
                stats = [s["versus"][name][key] for s in mine]
                fig.add_trace(
                    go.Scatter(
                        x=xs,
                        y=[st["mean"] * scale if st else None for st in stats],
                        error_y=_error_bars(stats, scale),
                        mode="lines+markers",
                        name=L(name) + suffix,
                        legendgroup=name + suffix,
                        showlegend=col == 1,
                        line=dict(color=variants.color(name), dash=DASHES[i % len(DASHES)]),
                    ),
                    row=1,
                    col=col,
                )
    fig.add_hline(y=0, line=dict(color="#888", width=1), row=1, col=1)
    for col in (2, 3):
        fig.add_hline(y=1, line=dict(color="#888", width=1), row=1, col=col)
    field = BY_NAME.get(x)
    fig.update_xaxes(title_text=field.label if field else x, type="log" if field and field.log else None)
    if field and field.type is int:
        fig.update_xaxes(tickmode="array", tickvals=sorted({s["setting"][x] for s in study["settings"]}, key=none_last))
    fig.update_yaxes(title_text=f"paired by seed; above 0: beats {L(ref)}", row=1, col=1)
    fig.update_yaxes(rangemode="tozero", row=1, col=2)
    fig.update_yaxes(rangemode="tozero", row=1, col=3)
    fig.update_layout(
        height=430, margin=dict(t=60, b=40, l=40, r=10), legend=dict(orientation="h", yanchor="top", y=-0.18, x=0)
    )
    return fig
