"""How long a comparison will take, before it starts: from a recorded run of the same shape, named with the
machine it was measured on. Never a guess: without such a record there is no estimate, and the words say so.
No torch.
"""

from __future__ import annotations

from dataclasses import dataclass

from .config import RunConfig

# what one meta-iteration's cost depends on; the rest scales by counting (iterations, tasks, points)
SHAPE = ("image_size", "n_way", "k_shot", "k_query", "inner_steps", "meta_batch")


@dataclass
class Estimate:
    total_s: float
    parts: dict[str, float]  # training, evaluation, validation, analysis, set-up: seconds each
    source: str  # the record(s) it comes from, and their machine
    machine: str  # the machine it was measured on (device name, threads)


def _machine(rec: dict) -> str:
    return rec["environment"]["device_name"]


def _device(cfg: RunConfig, has_cuda: bool) -> str:
    return "cuda" if cfg.device == "cuda" or (cfg.device == "auto" and has_cuda) else "cpu"


def estimate(cfg: RunConfig, found: list[tuple[str, dict]], has_cuda: bool = False) -> Estimate | None:
    """The wall time of ``cfg`` from the newest complete comparison in ``found`` ((name, record) pairs) with the
    same shape of meta-iteration on the same kind of device that trained every algorithm of ``cfg``; None
    without one."""
    device = _device(cfg, has_cuda)
    names = cfg.variants
    for name, rec in sorted(found, key=lambda nr: nr[1].get("created", ""), reverse=True):
        rc = rec.get("config", {})
        if rec.get("kind") != "compare" or rec["environment"]["device"] != device:
            continue
        if any(rc.get(k, 28 if k == "image_size" else None) != getattr(cfg, k) for k in SHAPE):
            continue
        results = rec["results"]
        if not all((results.get(n) or {}).get("per_iteration_ms_median") for n in names):
            continue
        return _from(cfg, name, rec)
    return None


def _from(cfg: RunConfig, name: str, rec: dict) -> Estimate:
    rc, setup, results = rec["config"], rec["setup"], rec["results"]
    per_iteration = {n: results[n]["per_iteration_ms_median"] / 1000 for n in cfg.variants}
    if cfg.fairness == "time":
        ref = cfg.variants[0]
        each = cfg.time_budget_s or per_iteration[ref] * cfg.iterations
        training = each * len(cfg.variants)
    else:
        training = sum(s * cfg.iterations for s in per_iteration.values())
        if cfg.time_budget_s:
            training = sum(min(s * cfg.iterations, cfg.time_budget_s) for s in per_iteration.values())
    models = sum(1 for r in results.values() if r.get("test")) + (1 if rec.get("baseline") else 0)
    per_task = (setup.get("eval_time_s") or 0) / max(1, models * rc["eval_tasks"]) * cfg.eval_inner_steps
    per_task /= max(1, rc.get("eval_inner_steps", cfg.eval_inner_steps))
    parts = {
        "training": training,
        "evaluation": per_task * cfg.eval_tasks * (len(cfg.variants) + 1),
        "validation": per_task * cfg.validation_tasks * cfg.validation_points * len(cfg.variants),
        "analysis": (setup.get("analysis_time_s") or 0)
        * (cfg.alignment_points + 1)
        / (rc.get("alignment_points", 0) + 1)
        * len(cfg.variants)
        / max(1, len(results)),
        "set-up": (setup.get("data_load_s") or 0) + (setup.get("path_selection", {}).get("probe_s") or 0),
    }
    machine = _machine(rec)
    return Estimate(sum(parts.values()), parts, f"{name} ({machine}, {rec['environment']['date'][:10]})", machine)


def minutes(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"


def words(cfg: RunConfig, est: Estimate | None, here: str | None = None) -> str:
    """One sentence for the sidebar and the CLI: the estimate and where it comes from, or why there is none."""
    if est is None:
        return (
            "No time estimate: no run of this shape (image size, task, inner steps, meta-batch) has been recorded on "
            "this kind of device; this one will be the first."
        )
    big = sorted(((v, k) for k, v in est.parts.items() if v >= 0.1 * est.total_s), reverse=True)
    detail = ", ".join(f"{k} {minutes(v)}" for v, k in big)
    other = "" if here is None or here == est.machine else f" (this machine is {here}: it may take more or less)"
    return f"About {minutes(est.total_s)} ({detail}), from the recorded run {est.source}{other}."
