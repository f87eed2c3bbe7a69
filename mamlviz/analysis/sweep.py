"""What a sweep record measured, in numbers: least-squares slopes against the swept setting. No torch."""

from __future__ import annotations

from .. import variants


def slope(points: list[dict], algorithm: str, key: str, over: str = "inner_steps") -> float | None:
    """Least-squares slope of ``key`` against ``over`` for one algorithm (None under two points)."""
    pts = [(p[over], p[key]) for p in points if p["algorithm"] == algorithm and p.get(key) is not None]
    if len({s for s, _ in pts}) < 2:
        return None
    n = len(pts)
    mx, my = sum(s for s, _ in pts) / n, sum(v for _, v in pts) / n
    return sum((s - mx) * (v - my) for s, v in pts) / sum((s - mx) ** 2 for s, _ in pts)


def sweep_variants(record: dict) -> list[str]:
    """The variants a sweep measured, in the table's order."""
    return variants.ordered(p["algorithm"] for p in record["points"])
