"""Older records brought to this version on load, their measured values untouched.

``scripts/migrate_records.py`` writes the result back to disk. No torch.
"""

from __future__ import annotations

from ..config import BY_NAME
from .schema import SCHEMA, STUDY_STATISTICS


def _v1_to_v2(record: dict) -> dict:
    """Version 2 made every field required, typed from one declaration: fill what v1 could omit."""
    setup = record.setdefault("setup", {})
    setup.setdefault("launched_from", "unknown")
    setup.setdefault("data_load_s", None)
    setup.setdefault("path", record.get("protocol", {}).get("path", "unknown"))
    setup.setdefault("path_selection", {"chosen_by": "unknown"})
    if record.get("kind") == "compare":
        setup.setdefault("eval_time_s", None)
        setup.setdefault("params", None)
        setup.setdefault("evaluation", "complete")
        setup.setdefault("analysis_time_s", None)
        chance = record.get("chance")
        tests = [r.get("test") for r in record.get("results", {}).values()] + [record.get("baseline")]
        for t in tests:
            if isinstance(t, dict) and "over_chance" not in t and isinstance(chance, (int, float)):
                t["over_chance"] = t.get("accuracy", 0) - chance  # derived, not measured
    for result in record.get("results", {}).values():
        if isinstance(result, dict):
            for key in ("loss_growth", "unstable", "autograd_saved_bytes", "alignment"):
                result.setdefault(key, None)
    protocol = record.get("protocol")
    if isinstance(protocol, dict):
        protocol.setdefault("fairness", "same training tasks for both")
        protocol.setdefault("saved_memory", "not measured")
        protocol.setdefault("alignment", "not measured")
        if record.get("kind") == "sweep":
            protocol.setdefault("over", "inner_steps")
    if record.get("kind") == "compare":
        record.setdefault("params_file", None)
    for point in record.get("points", []) if isinstance(record.get("points"), list) else []:
        if isinstance(point, dict):
            point.setdefault("inner_lr", record.get("config", {}).get("inner_lr"))
            for key in ("autograd_saved_bytes", "cosine", "maml_norm", "fomaml_norm", "correction_norm"):
                point.setdefault(key, None)
    record["version"] = 2
    return record


def _alignment_v3(a: dict | None) -> dict | None:
    """MAML vs FOMAML curves -> the reference's norm and FOMAML's agreement with it (same numbers)."""
    if not isinstance(a, dict) or "maml_norm" not in a:
        return a
    return {
        "iteration": a.get("iteration"),
        "reference": "maml",
        "reference_norm": a.get("maml_norm"),
        "variants": {
            "fomaml": {
                "cosine": a.get("cosine"),
                "norm": a.get("fomaml_norm"),
                "difference_norm": a.get("correction_norm"),
                "per_layer": a.get("per_layer", {}),
            }
        },
    }


def _stat_negated(s):
    """The mean of (-d) from the mean of d: same interval, same count."""
    return {**s, "mean": -s["mean"]} if isinstance(s, dict) and isinstance(s.get("mean"), (int, float)) else s


def _v2_to_v3(record: dict) -> dict:
    """Version 3 keys everything by variant name (``mamlviz.variants``) instead of MAML/FOMAML pairs.

    Compare: the config names its algorithms; alignment curves hold the reference (MAML) norm and each
    other variant's agreement with it. Sweep points: MAML's and FOMAML's norms become the point's own
    ``gradient_norm`` and the ``reference_norm``; the pair's cosine and correction stay on FOMAML's point
    (MAML's point held the same numbers). Study settings: per-variant stats by name, and FOMAML against
    MAML as ``versus.fomaml``: its accuracy difference is FOMAML - MAML (the v2 field was MAML - FOMAML,
    the same numbers with the sign turned), the time and memory ratios as they were (MAML / FOMAML)."""
    config = record.get("config")
    if isinstance(config, dict):
        config.setdefault("algorithms", "maml,fomaml")
    for result in record.get("results", {}).values() if isinstance(record.get("results"), dict) else []:
        if isinstance(result, dict):
            result["alignment"] = _alignment_v3(result.get("alignment"))
    for point in record.get("points", []) if isinstance(record.get("points"), list) else []:
        if not isinstance(point, dict) or "maml_norm" not in point:
            continue
        maml_norm, fomaml_norm = point.pop("maml_norm"), point.pop("fomaml_norm", None)
        correction = point.pop("correction_norm", None)
        point["reference_norm"] = maml_norm
        if point.get("algorithm") == "maml":
            point["gradient_norm"], point["cosine"], point["difference_norm"] = maml_norm, None, None
        else:
            point["gradient_norm"], point["difference_norm"] = fomaml_norm, correction
    for s in record.get("settings", []) if isinstance(record.get("settings"), list) else []:
        if not isinstance(s, dict) or "maml" not in s:
            continue
        s["reference"] = "maml"
        s["variants"] = {"maml": s.pop("maml"), "fomaml": s.pop("fomaml")}
        s["versus"] = {
            "fomaml": {
                "accuracy_diff": _stat_negated(s.pop("accuracy_diff", None)),
                "speedup": s.pop("time_ratio", None),
                "memory_ratio": s.pop("memory_ratio", None),
            }
        }
    if record.get("kind") == "study" and isinstance(record.get("protocol"), dict):
        record["protocol"]["statistics"] = STUDY_STATISTICS  # the words for what the aggregates now hold
    record["version"] = 3
    return record


FIRST_ORDER_PARTS = {  # what MAML and FOMAML were in every record before version 4
    "maml": {"second-order meta-gradient": "on"},
    "fomaml": {"second-order meta-gradient": "off (first order)"},
}


def _v3_to_v4(record: dict) -> dict:
    """Version 4 says in the protocol which parts of each algorithm were on; before it, only MAML and FOMAML
    existed, so a compare or sweep record gets their one part. Nothing measured changes."""
    protocol = record.get("protocol")
    if isinstance(protocol, dict) and record.get("kind") in ("compare", "sweep"):
        names = record.get("results") or {
            p.get("algorithm"): 1 for p in record.get("points", []) if isinstance(p, dict)
        }
        protocol.setdefault("algorithms", {n: FIRST_ORDER_PARTS[n] for n in names if n in FIRST_ORDER_PARTS})
    record["version"] = 4
    return record


# every record before version 5: 28x28 images, transductive batch norm, no validation curve
V4_CONFIG = {"image_size": 28, "batch_norm": "transductive", "validation_points": 0}


def _v4_to_v5(record: dict) -> dict:
    """Version 5 names the image size (28 or 105) and the batch-norm mode in the config and may hold a validation
    curve (accuracy against training time) per algorithm; before it, every run was at 28x28, transductive, and
    measured none. The
    validation-task count takes its default (nothing was drawn with it). Nothing measured changes."""
    config = record.get("config")
    if isinstance(config, dict):
        for key, value in V4_CONFIG.items():
            config.setdefault(key, value)
        config.setdefault("validation_tasks", BY_NAME["validation_tasks"].default)
    for result in record.get("results", {}).values() if isinstance(record.get("results"), dict) else []:
        if isinstance(result, dict):
            result.setdefault("validation", None)
    protocol = record.get("protocol")
    if isinstance(protocol, dict) and record.get("kind") in ("compare", "sweep"):
        protocol.setdefault("validation", "not measured")
    record["version"] = 5
    return record


MIGRATIONS = {
    1: _v1_to_v2,
    2: _v2_to_v3,
    3: _v3_to_v4,
    4: _v4_to_v5,
}  # version -> function taking that version to the next


def migrate(record) -> dict:
    """Bring an older record to this version (measured values untouched); unknown versions pass through."""
    while isinstance(record, dict) and record.get("schema") == SCHEMA and record.get("version") in MIGRATIONS:
        record = MIGRATIONS[record["version"]](record)
    return record
