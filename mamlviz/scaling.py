"""How cost grows with inner steps, summarised from a sweep record's measured points. No torch."""

from __future__ import annotations


def slope(points: list[dict], algorithm: str, key: str) -> float | None:
    """Least-squares slope of ``key`` against inner steps for one algorithm (None under two points)."""
    pts = [(p["inner_steps"], p[key]) for p in points if p["algorithm"] == algorithm and p.get(key) is not None]
    if len({s for s, _ in pts}) < 2:
        return None
    n = len(pts)
    mx, my = sum(s for s, _ in pts) / n, sum(v for _, v in pts) / n
    return sum((s - mx) * (v - my) for s, v in pts) / sum((s - mx) ** 2 for s, _ in pts)


def describe(points: list[dict]) -> list[str]:
    """Sentences about the measured growth, e.g. 'MAML: +12.3 MiB and +4.1 ms per extra inner step'."""
    out = []
    for alg, name in (("maml", "MAML"), ("fomaml", "FOMAML")):
        mem, ms = slope(points, alg, "peak_memory_bytes"), slope(points, alg, "per_iteration_ms")
        if mem is None or ms is None:
            continue
        out.append(
            f"{name}: {mem / 2**20:+,.1f} MiB and {ms:+,.1f} ms per extra inner step (least-squares slope "
            "over the measured points)"
        )
    return out
