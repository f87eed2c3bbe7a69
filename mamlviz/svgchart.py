"""The live training curves as a small inline SVG: what the browser redraws while a run trains.

A Plotly figure costs a 2-core machine's browser far more per redraw than the training it shows
can spare (measured by bench/live_overhead.py); an SVG of a few polylines costs next to nothing and
is built in microseconds. The interactive Plotly chart takes over once the run has ended. No torch.
"""

from __future__ import annotations

from html import escape

from . import variants
from .curves import smoothed, span_for

PANEL_W, PANEL_H, PAD_L, PAD_B, PAD_T = 460, 230, 44, 34, 26


def _ticks(lo: float, hi: float, n: int = 4) -> list[float]:
    if hi <= lo:
        return [lo]
    return [lo + (hi - lo) * i / n for i in range(n + 1)]


def _panel(series: dict, x: str, key: str, title: str, x_title: str, y_range, ox: int, ema_span: int) -> list[str]:
    xs = [v for c in series.values() for v in c[x]]
    x_lo, x_hi = (min(xs), max(xs)) if xs else (0, 1)
    if x_hi <= x_lo:
        x_hi = x_lo + 1
    ys = [v for c in series.values() for v in c[key]]
    y_lo, y_hi = y_range or ((0, max(ys) * 1.05) if ys else (0, 1))
    w, h = PANEL_W - PAD_L - 10, PANEL_H - PAD_B - PAD_T

    def px(v):
        return ox + PAD_L + (v - x_lo) / (x_hi - x_lo) * w

    def py(v):
        return PAD_T + h - (min(max(v, y_lo), y_hi) - y_lo) / (y_hi - y_lo) * h

    out = [
        f'<text x="{ox + PAD_L + w / 2:.0f}" y="14" text-anchor="middle" font-size="13" fill="#555">'
        f"{escape(title)}</text>"
    ]
    for t in _ticks(y_lo, y_hi):
        out.append(
            f'<line x1="{ox + PAD_L}" x2="{ox + PAD_L + w}" y1="{py(t):.1f}" y2="{py(t):.1f}" stroke="#eee"/>'
            f'<text x="{ox + PAD_L - 6}" y="{py(t) + 4:.1f}" text-anchor="end" font-size="11" fill="#777">'
            f"{t:.2g}</text>"
        )
    x_fmt = ".0f" if x_hi - x_lo >= 8 else ".2g"  # whole iterations or seconds once the axis is long enough
    for t in _ticks(x_lo, x_hi):
        out.append(
            f'<text x="{px(t):.1f}" y="{PAD_T + h + 16}" text-anchor="middle" font-size="11" fill="#777">'
            f"{t:{x_fmt}}</text>"
        )
    out.append(
        f'<text x="{ox + PAD_L + w / 2:.0f}" y="{PANEL_H - 2}" text-anchor="middle" font-size="12" fill="#555">'
        f"{escape(x_title)}</text>"
    )
    for name in variants.ordered(series):
        c = series.get(name)
        if not c or not c[key]:
            continue
        color = variants.color(name)
        raw = " ".join(f"{px(a):.1f},{py(b):.1f}" for a, b in zip(c[x], c[key]))
        ema = " ".join(f"{px(a):.1f},{py(b):.1f}" for a, b in zip(c[x], smoothed(c[key], ema_span)))
        out.append(f'<polyline points="{raw}" fill="none" stroke="{color}" stroke-opacity="0.25" stroke-width="1"/>')
        out.append(
            f'<polyline points="{ema}" fill="none" stroke="{color}" stroke-width="2.2"{_dash(variants.dash(name))}/>'
        )
    return out


DASH_ARRAYS = {"solid": "", "dash": "7 4", "dot": "2 3", "dashdot": "7 3 2 3", "longdash": "12 4"}


def _dash(name: str) -> str:
    """A Plotly dash name as an SVG stroke-dasharray attribute (none for solid lines)."""
    pattern = DASH_ARRAYS.get(name, "")
    return f' stroke-dasharray="{pattern}"' if pattern else ""


def validation_svg(series: dict) -> str:
    """Every variant's held-out validation accuracy against its training seconds, as it trains: one panel."""
    parts = _panel(
        series, "time_s", "accuracy", "accuracy on held-out validation tasks", "training wall-clock (s)", (0, 1), 0, 1
    )
    names = [n for n in variants.ordered(series) if series.get(n)]
    legend = "".join(
        f'<text x="{PAD_L + 20 + i * 110:.0f}" y="{PANEL_H + 13}" font-size="12" fill="{variants.color(n)}">'
        f"{escape(variants.label(n))}</text>"
        for i, n in enumerate(names)
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {PANEL_W} {PANEL_H + 20}" width="100%" '
        f'style="max-width:{PANEL_W * 1.3:.0f}px" font-family="sans-serif" role="img" '
        f'aria-label="validation accuracy">{"".join(parts)}{legend}</svg>'
    )


def curves_svg(series: dict, x: str, x_title: str) -> str:
    """Loss and accuracy of every variant, raw (faint) and smoothed, as one SVG document."""
    ema_span = span_for(max((len(c["loss"]) for c in series.values() if c), default=0))
    parts = _panel(series, x, "loss", "query loss after adaptation (training tasks)", x_title, None, 0, ema_span)
    parts += _panel(
        series,
        x,
        "accuracy",
        "query accuracy after adaptation (training tasks)",
        x_title,
        (0, 1),
        PANEL_W + 20,
        ema_span,
    )
    names = [n for n in variants.ordered(series) if series.get(n)]
    width, height = 2 * PANEL_W + 20, PANEL_H + 36
    step = (width - PAD_L) / max(1, len(names))
    legend = "".join(
        f'<line x1="{PAD_L + i * step:.0f}" x2="{PAD_L + i * step + 18:.0f}" y1="{PANEL_H + 9}" y2="{PANEL_H + 9}" '
        f'stroke="{variants.color(n)}" stroke-width="3"{_dash(variants.dash(n))}/>'
        f'<text x="{PAD_L + i * step + 24:.0f}" y="{PANEL_H + 13}" font-size="12" fill="#333">'
        f"{escape(variants.label(n))}</text>"
        for i, n in enumerate(names)
    )
    legend += (
        f'<text x="{PAD_L}" y="{PANEL_H + 30}" font-size="11" fill="#777">faint: raw points; '
        f"bold: EMA (span {ema_span})</text>"
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="100%" '
        f'font-family="sans-serif" role="img" aria-label="training curves">{"".join(parts)}{legend}</svg>'
    )
