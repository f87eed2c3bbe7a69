"""Training-curve arithmetic shared by the charts: the smoothing stated in every legend. No torch."""

from __future__ import annotations

EMA_SPAN = 20  # points; alpha = 2 / (span + 1), as pandas' ewm(span=...)


def span_for(points: int) -> int:
    """The EMA span for a curve of ``points`` points: 20, or a tenth of a short curve (at least 2),
    so that a live curve of a few dozen points is smoothed without lagging far behind its points."""
    return max(2, min(EMA_SPAN, points // 10))


def smoothed(values: list[float], span: int = EMA_SPAN) -> list[float]:
    """Exponential moving average with pandas' ``span`` convention (adjust=False), first point as is."""
    alpha = 2 / (span + 1)
    out, avg = [], None
    for v in values:
        avg = v if avg is None else alpha * v + (1 - alpha) * avg
        out.append(avg)
    return out
