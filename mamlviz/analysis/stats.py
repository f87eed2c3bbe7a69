"""The statistics every figure uses: one 95 % interval, one ratio. No torch."""

from __future__ import annotations

import math
import statistics

# Two-sided 95 % quantiles of Student's t for 1..30 degrees of freedom (standard tables).
_T975 = (
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
)  # fmt: skip


def t975(df: int) -> float:
    """Two-sided 95 % quantile of Student's t; beyond the table, the normal quantile with two
    Cornish-Fisher terms (within 0.0002 of the exact value from 31 degrees of freedom on)."""
    if df < 1:
        raise ValueError("df: at least 1")
    if df <= len(_T975):
        return _T975[df - 1]
    z = 1.959964
    return z + (z**3 + z) / (4 * df) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)


def interval(values) -> tuple[float, float | None, int]:
    """(mean, 95 % half-width, n) of independent measurements: the Student-t interval of the mean, the
    same rule for test tasks, seeds and paired differences. The half-width is None from one value."""
    values = [float(v) for v in values]
    if not values:
        raise ValueError("values: at least one")
    n = len(values)
    mean = statistics.fmean(values)
    return mean, (t975(n - 1) * statistics.stdev(values) / math.sqrt(n) if n > 1 else None), n


def ratio(a, b) -> float | None:
    """a / b, or None when either is missing or b is zero."""
    return a / b if a is not None and b else None
