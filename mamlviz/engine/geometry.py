"""How much of MAML's meta-gradient is the Hessian term: the two meta-gradients compared, exactly.

At the same parameters and tasks, the second-order (MAML) and first-order (FOMAML) meta-gradients
differ by exactly the contribution of the Hessian term that the shortcut drops. ``alignment``
computes both with the engine's own ``meta.meta_gradient`` and reports their cosine, their norms,
the norm of their difference, and the cosine per layer (which layers the shortcut bends most).
"""

from __future__ import annotations

import math

import torch

from ..records import AlignmentCurve
from . import meta


def layer_of(param_name: str) -> str:
    """conv0.weight, bn0.bias -> "block 1"; head.* -> "head"."""
    owner = param_name.split(".")[0]
    return "head" if owner == "head" else f"block {int(owner[-1]) + 1}"


def _cos(a: torch.Tensor, b: torch.Tensor) -> float:
    """Cosine of two flat vectors; 0 when either is zero (no direction to agree on)."""
    na, nb = a.norm(), b.norm()
    return float(a @ b / (na * nb)) if na > 0 and nb > 0 else 0.0


def alignment(params, xs, ys, xq, yq, *, inner_lr: float, inner_steps: int, path: str = "auto", forward=None) -> dict:
    """Second- vs first-order mean meta-gradient at ``params`` on the tasks stacked on dim 0.

    Returns ``cosine``, ``maml_norm``, ``fomaml_norm``, ``correction_norm`` (|MAML - FOMAML|: what
    the Hessian term contributes) and ``per_layer``: layer -> {cosine, maml_norm, fomaml_norm}.
    """
    kw = dict(inner_lr=inner_lr, inner_steps=inner_steps, path=path)
    if forward is not None:
        kw["forward"] = forward
    second = meta.meta_gradient(params, xs, ys, xq, yq, first_order=False, **kw)[0]
    first = meta.meta_gradient(params, xs, ys, xq, yq, first_order=True, **kw)[0]
    names = list(second)
    a = torch.cat([second[k].detach().flatten() for k in names]).double()
    b = torch.cat([first[k].detach().flatten() for k in names]).double()
    per_layer: dict[str, dict] = {}
    for layer in dict.fromkeys(layer_of(k) for k in names):
        keys = [k for k in names if layer_of(k) == layer]
        la = torch.cat([second[k].detach().flatten() for k in keys]).double()
        lb = torch.cat([first[k].detach().flatten() for k in keys]).double()
        per_layer[layer] = {"cosine": _cos(la, lb), "maml_norm": float(la.norm()), "fomaml_norm": float(lb.norm())}
    return {
        "cosine": _cos(a, b),
        "maml_norm": float(a.norm()),
        "fomaml_norm": float(b.norm()),
        "correction_norm": float((a - b).norm()),
        "per_layer": per_layer,
    }


def alignment_curve(
    snapshots: list[tuple[int, dict]], probe, *, inner_lr: float, inner_steps: int, path: str = "auto"
) -> AlignmentCurve | None:
    """``alignment`` at each (iteration, parameters) snapshot on the fixed ``probe`` batch; snapshots
    whose parameters are no longer finite (a diverged run's last) are left out."""
    curve = AlignmentCurve([], [], [], [], [], {})
    for iteration, params in snapshots:
        if not all(bool(torch.isfinite(v).all()) for v in params.values()):
            continue
        a = alignment(
            params, probe.xs, probe.ys, probe.xq, probe.yq, inner_lr=inner_lr, inner_steps=inner_steps, path=path
        )
        if not all(math.isfinite(a[k]) for k in ("cosine", "maml_norm", "fomaml_norm", "correction_norm")):
            continue
        curve.iteration.append(iteration)
        for key in ("cosine", "maml_norm", "fomaml_norm", "correction_norm"):
            getattr(curve, key).append(a[key])
        for layer, values in a["per_layer"].items():
            curve.per_layer.setdefault(layer, []).append(values["cosine"])
    return curve if curve.iteration else None
