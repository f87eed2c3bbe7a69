"""How far each variant's meta-gradient points from the exact one: the meta-gradients compared, exactly.

At the same parameters and tasks, MAML's (second-order) meta-gradient and FOMAML's (first-order)
differ by exactly the contribution of the Hessian term that the shortcut drops; any other variant's
differs by what its own shortcut changes. ``alignment`` computes every variant's meta-gradient with the
engine's own ``meta.meta_gradient`` and reports, against the reference (MAML): the cosine, the norms,
the norm of the difference, and the cosine per layer (which layers a shortcut bends most).
"""

from __future__ import annotations

import math

import torch

from .. import variants
from ..records import Agreement, AlignmentCurve
from . import algorithms, meta


def layer_of(param_name: str) -> str:
    """conv0.weight, bn0.bias -> "block 1"; head.* -> "head"."""
    owner = param_name.split(".")[0]
    return "head" if owner == "head" else f"block {int(owner[-1]) + 1}"


def _cos(a: torch.Tensor, b: torch.Tensor) -> float:
    """Cosine of two flat vectors; 0 when either is zero (no direction to agree on)."""
    na, nb = a.norm(), b.norm()
    return float(a @ b / (na * nb)) if na > 0 and nb > 0 else 0.0


def _flat(g: dict, keys) -> torch.Tensor:
    return torch.cat([g[k].detach().flatten() for k in keys]).double()


def alignment(
    params,
    xs,
    ys,
    xq,
    yq,
    *,
    inner_lr: float,
    inner_steps: int,
    names=variants.DEFAULT,
    path: str = "auto",
    forward=None,
    owner: str | None = None,
) -> dict:
    """Every variant of ``names`` against the reference's mean meta-gradient at ``params`` on the stacked tasks.

    ``params`` are ``owner``'s (the variant whose training they come from; default a plain network): every
    other variant's meta-gradient is taken at the plain network inside them, with its own learned entries at
    their starting values. The comparison is over the entries both have, with the same shape: every weight for
    most, the conv and head weights for MAML++ (its batch-norm weights are per step).

    Returns ``reference``, ``reference_norm`` and ``variants``: each other name -> ``cosine``, ``norm``,
    ``difference_norm`` (|reference - it|: for FOMAML, what the Hessian term contributes) and ``per_layer``:
    layer -> {cosine, norm, reference_norm}.
    """
    kw = dict(inner_lr=inner_lr, inner_steps=inner_steps, path=path)
    if forward is not None:
        kw["forward"] = forward
    ref = variants.reference_of(names)
    net = algorithms.network(params)

    def own(n):
        return params if n == owner else algorithms.get(n).complete(net, inner_lr, inner_steps)

    grads = {}
    trains_as = {n: algorithms.get(n).name for n in names}  # a variant with no algorithm of its own: MAML's or FOMAML's
    if {"maml", "fomaml"} <= set(trains_as.values()) and path in ("auto", "loop") and xs.device.type == "cpu":
        both = meta.maml_and_fomaml(  # one pass gives both exactly (MAML's and FOMAML's entries are the network's)
            net, xs, ys, xq, yq, inner_lr=inner_lr, inner_steps=inner_steps, **({"forward": forward} if forward else {})
        )
        grads = {n: both[0] if a == "maml" else both[1] for n, a in trains_as.items() if a in ("maml", "fomaml")}
    for n in variants.ordered(names):
        if n not in grads:
            grads[n] = meta.meta_gradient(own(n), xs, ys, xq, yq, algorithm=n, **kw)[0]
    out = {}
    for name in variants.others(names):
        keys = [  # the network's entries both have, with one shape: never the learned step sizes
            k
            for k, v in grads[ref].items()
            if not k.startswith(algorithms.LEARNED) and k in grads[name] and grads[name][k].shape == v.shape
        ]
        layers = {layer: [k for k in keys if layer_of(k) == layer] for layer in dict.fromkeys(map(layer_of, keys))}
        a = _flat(grads[ref], keys)
        b = _flat(grads[name], keys)
        per_layer = {}
        for layer, ks in layers.items():
            la, lb = _flat(grads[ref], ks), _flat(grads[name], ks)
            per_layer[layer] = {"cosine": _cos(la, lb), "norm": float(lb.norm()), "reference_norm": float(la.norm())}
        out[name] = {
            "cosine": _cos(a, b),
            "norm": float(b.norm()),
            "difference_norm": float((a - b).norm()),
            "per_layer": per_layer,
        }
    own = [k for k in grads[ref] if not k.startswith(algorithms.LEARNED)]
    return {"reference": ref, "reference_norm": float(_flat(grads[ref], own).norm()), "variants": out}


def alignment_curve(
    snapshots: list[tuple[int, dict]],
    probe,
    *,
    inner_lr: float,
    inner_steps: int,
    names=variants.DEFAULT,
    path: str = "auto",
    owner: str | None = None,
    forward=None,
) -> AlignmentCurve | None:
    """``alignment`` at each (iteration, parameters) snapshot on the fixed ``probe`` batch; snapshots
    whose parameters are no longer finite (a diverged run's last) are left out. None with fewer than two
    variants (nothing to compare) or no usable snapshot."""
    if len(names) < 2:
        return None
    others = variants.others(names)
    curve = AlignmentCurve([], variants.reference_of(names), [], {n: Agreement([], [], [], {}) for n in others})
    for iteration, params in snapshots:
        if not all(bool(torch.isfinite(v).all()) for v in params.values()):
            continue
        a = alignment(
            params,
            probe.xs,
            probe.ys,
            probe.xq,
            probe.yq,
            inner_lr=inner_lr,
            inner_steps=inner_steps,
            names=names,
            path=path,
            owner=owner,
            forward=forward,
        )
        numbers = [a["reference_norm"]] + [g[k] for g in a["variants"].values() for k in ("cosine", "norm")]
        if not all(math.isfinite(v) for v in numbers):
            continue
        curve.iteration.append(iteration)
        curve.reference_norm.append(a["reference_norm"])
        for name, g in a["variants"].items():
            mine = curve.variants[name]
            mine.cosine.append(g["cosine"])
            mine.norm.append(g["norm"])
            mine.difference_norm.append(g["difference_norm"])
            for layer, values in g["per_layer"].items():
                mine.per_layer.setdefault(layer, []).append(values["cosine"])
    return curve if curve.iteration else None
