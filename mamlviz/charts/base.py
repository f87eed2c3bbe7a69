"""What every figure shares: its caption, the x axes of curves, a fast Figure. No torch."""

from __future__ import annotations

import plotly.graph_objects as go

DRAWN_POINTS = 1000  # per curve: a browser redrawing more only slows the page, not the picture
X_AXES = {"iteration": "meta-iteration", "time_s": "training wall-clock (s)"}
INIT_COLOR = "#7f7f7f"  # the un-meta-trained initialisation


def label(record: dict) -> str:
    """Device and protocol, for every figure's caption."""
    env, proto = record["environment"], record.get("protocol", {})
    cfg = record.get("config", {})
    size = cfg.get("image_size", 28)
    parts = [
        env["device_name"],
        f"torch {env['torch']}",
        f"{size}×{size} images",
        proto.get("task", ""),
        f"{proto.get('train_inner_steps', '?')} inner step(s) in training, {proto.get('test_inner_steps', '?')} at test"
        if record["kind"] == "compare"
        else proto.get("sweep", ""),
        f"{proto.get('test_tasks')} test tasks" if record["kind"] == "compare" else "",
        "queries normalised with the support set's statistics" if cfg.get("batch_norm") == "support" else "",
        f"path {proto.get('path')}",
        env["date"][:10],
    ]
    return " · ".join(p for p in parts if p)


def figure(spec: dict) -> go.Figure:
    """A Figure from a plain spec without plotly's per-property validation (5x cheaper); the live
    view redraws often and validation would steal the GIL from training."""
    try:
        return go.Figure(spec, _validate=False)
    except TypeError:  # a plotly without the private switch: validate
        return go.Figure(spec)


def none_last(v):
    """Sort key for a setting's values: an optional limit's None ("none") after the numbers."""
    return (v is None, v if v is not None else 0)
