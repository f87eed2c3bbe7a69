"""The History page's figure: several comparisons side by side. No torch."""

from __future__ import annotations

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .. import variants
from ..analysis.compare import memory_key
from .compare import MEMORY_TITLES


def history(entries: list[tuple[str, dict]]) -> go.Figure:
    """Several compare records side by side (``entries``: (a unique run label, record)): accuracy (CI), time
    and memory per variant, by the one memory rule (the exact figure held for backpropagation when every
    record is a CPU run that has it, else the device peak)."""
    mem_key = memory_key([r for _, r in entries])
    names = variants.ordered(n for _, r in entries for n in r["results"])
    fig = make_subplots(
        rows=1, cols=3, subplot_titles=("test accuracy (%)", "training time (s)", MEMORY_TITLES[mem_key])
    )
    for name in names:
        xs, acc, ci, t, mem = [], [], [], [], []
        for run_label, r in entries:
            res = r["results"].get(name, {})
            test = res.get("test")
            xs.append(run_label)
            acc.append(test["accuracy"] * 100 if test else None)
            ci.append(test["ci95"] * 100 if test else 0)
            t.append(res.get("train_time_s"))
            mem.append(res[mem_key] / 2**20 if res.get(mem_key) is not None else None)
        common = dict(name=variants.label(name), marker_color=variants.color(name), legendgroup=name)
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
