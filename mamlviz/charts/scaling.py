"""The Scaling page's figure: cost and gradient alignment against the swept setting. No torch."""

from __future__ import annotations

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .. import variants
from ..config import BY_NAME

L = variants.label


def panels(ref: str) -> tuple:
    """key, title, unit scale, (row, column), whether the reference is drawn too."""
    return (
        ("per_iteration_ms", "time per meta-iteration (ms)", 1, (1, 1), True),
        ("autograd_saved_bytes", "held for backprop (MiB, exact)", 2**20, (1, 2), True),
        ("peak_memory_bytes", "device peak memory (MiB)", 2**20, (1, 3), True),
        ("cosine", f"cosine with {L(ref)}'s meta-gradient", 1, (2, 1), False),
        ("difference_norm", f"norm of the difference from {L(ref)}'s", 1, (2, 2), False),
    )


def scaling(points: list[dict], over: str = "inner_steps", title: str = "") -> go.Figure:
    """Cost per variant (top row) and each variant's agreement with the reference at the initialisation
    (bottom row) against the swept setting, inner steps or inner lr."""
    names = variants.ordered(p["algorithm"] for p in points)
    ref = variants.reference_of(names)
    spec = panels(ref)
    fig = make_subplots(rows=2, cols=3, subplot_titles=[t for _, t, _, _, _ in spec], vertical_spacing=0.22)
    for key, _, scale, (row, col), with_ref in spec:
        for name in names if with_ref else variants.others(names):
            pts = sorted(
                (p for p in points if p["algorithm"] == name and p.get(key) is not None), key=lambda p: p[over]
            )
            if pts:
                fig.add_trace(
                    go.Scatter(
                        x=[p[over] for p in pts],
                        y=[p[key] / scale for p in pts],
                        mode="lines+markers",
                        name=L(name),
                        line=dict(color=variants.color(name), dash=variants.dash(name)),
                        legendgroup=name,
                        showlegend=(row, col) == (1, 1),
                    ),
                    row=row,
                    col=col,
                )
    field = BY_NAME[over]
    fig.update_xaxes(
        title_text=field.label.split(" (")[0].lower(), type="log" if field.log else None, dtick=None if field.log else 1
    )
    fig.update_yaxes(rangemode="tozero")
    fig.update_layout(
        height=620,
        title=title or None,
        margin=dict(t=80, b=40, l=40, r=10),
        legend=dict(orientation="h", yanchor="bottom", y=1.08, x=0),
    )
    return fig
