"""What a sweep record measured, in sentences: slopes against inner steps, the trend of the gradient
alignment against the inner learning rate. No torch."""

from __future__ import annotations

from .summary import NAMES


def slope(points: list[dict], algorithm: str, key: str, over: str = "inner_steps") -> float | None:
    """Least-squares slope of ``key`` against ``over`` for one algorithm (None under two points)."""
    pts = [(p[over], p[key]) for p in points if p["algorithm"] == algorithm and p.get(key) is not None]
    if len({s for s, _ in pts}) < 2:
        return None
    n = len(pts)
    mx, my = sum(s for s, _ in pts) / n, sum(v for _, v in pts) / n
    return sum((s - mx) * (v - my) for s, v in pts) / sum((s - mx) ** 2 for s, _ in pts)


def describe(points: list[dict], over: str = "inner_steps") -> list[str]:
    """Sentences about the measured trends, e.g. 'MAML: +12.3 MiB held for backprop per extra inner step'."""
    out = []
    if over == "inner_steps":
        for alg, name in NAMES.items():
            ms, saved = slope(points, alg, "per_iteration_ms"), slope(points, alg, "autograd_saved_bytes")
            peak = slope(points, alg, "peak_memory_bytes")
            parts = [f"{ms:+,.1f} ms per iteration"] if ms is not None else []
            if saved is not None:
                parts.append(f"{saved / 2**20:+,.1f} MiB held for backprop (exact)")
            if peak is not None:
                parts.append(f"{peak / 2**20:+,.1f} MiB device peak")
            if parts:
                out.append(f"{name}: {', '.join(parts)} per extra inner step (least-squares slopes over the points)")
    aligned = sorted(
        (p[over], p["cosine"], p["correction_norm"])
        for p in points
        if p["algorithm"] == "maml" and p.get("cosine") is not None
    )
    if len(aligned) >= 2:
        (x0, c0, n0), (x1, c1, n1) = aligned[0], aligned[-1]
        what = "inner steps" if over == "inner_steps" else "inner learning rate"
        out.append(
            f"Gradient alignment at the initialisation: from {what} {x0:g} to {x1:g} the cosine between the MAML "
            f"and FOMAML meta-gradients goes from {c0:+.3f} to {c1:+.3f} and the Hessian term's part from "
            f"{n0:.3g} to {n1:.3g} in norm."
        )
    return out
