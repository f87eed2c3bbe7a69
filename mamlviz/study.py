"""A study: a grid of comparisons over settings and seeds, and what they say together.

``plan`` expands "each field may be a list" into validated runs; ``aggregate`` turns their run
records into per-setting means with 95 % t-intervals across seeds and the paired MAML - FOMAML
differences (paired: a seed fixes the initialisation and the task stream for both variants).
Running a plan is ``mamlviz.study_runner``'s job. No torch: the dashboard reads this.
"""

from __future__ import annotations

import csv
import io
import itertools
import math
import statistics
from dataclasses import dataclass

from . import records
from .config import BY_NAME, ConfigError, Field, RunConfig
from .records import ALGORITHMS, Stat, StudySetting, VariantStats
from .summary import NAMES, SAVED_LABEL, memory_key

MAX_RUNS = 500
# Two-sided 95 % quantiles of Student's t for 1..30 degrees of freedom (standard tables).
_T975 = (
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
)  # fmt: skip
STATISTICS = (
    "per setting, the mean across seeds of each run's figure, with a 95 % Student-t interval (none from a "
    "single seed); MAML - FOMAML accuracy and the MAML/FOMAML time and memory ratios are paired by seed (the "
    "same initialisation and training tasks for both); only runs that completed with test results count"
)


@dataclass(frozen=True)
class PlannedRun:
    key: str  # the setting and seed in words: "inner_steps=3 seed=1"
    setting: dict  # varied field -> value (seed excluded)
    seed: int
    config: RunConfig


@dataclass
class Plan:
    base: RunConfig  # every field at its first value
    grid: dict[str, list]  # the fields with more than one value, seed excluded
    seeds: list[int]
    runs: list[PlannedRun]


def parse_values(f: Field, text: str) -> list:
    """A comma list of one field's values (``none`` for an optional limit), each checked by the table."""
    values = []
    for part in str(text).split(","):
        part = part.strip()
        if not part:
            continue
        if f.optional and part.lower() in ("none", "0"):
            value = None
        else:
            try:
                value = f.type(part)
            except ValueError:
                raise ConfigError(f.name, f"must be {f.range_text()}, got {part!r}") from None
        err = f.error(value)
        if err:
            raise err
        if value not in values:
            values.append(value)
    if not values:
        raise ConfigError(f.name, f"give one value or a comma list, each {f.range_text()}; got {text!r}")
    return values


def key_of(setting: dict, seed: int | None = None) -> str:
    """A setting (and seed) as a unique key: "inner_steps=3 seed=1" (floats in full)."""
    return " ".join([f"{k}={v}" for k, v in setting.items()] + ([] if seed is None else [f"seed={seed}"]))


def plan(values: dict[str, list], base: RunConfig | None = None) -> Plan:
    """The runs of a grid: ``values`` maps config fields to their values (one or more); ``seed`` to the seeds;
    fields it leaves out take ``base``'s value (or the table's default). Every run's config is validated; an
    error names the field, and the setting when it is a combination."""
    if base is not None:
        values = {**{k: [v] for k, v in base.to_dict().items()}, **values}
    unknown = sorted(set(values) - set(BY_NAME))
    if unknown:
        raise ConfigError(unknown[0], f"unknown config field (known: {', '.join(BY_NAME)})")
    values = {k: list(dict.fromkeys(v)) for k, v in values.items()}  # each value once
    seeds = values.get("seed") or [BY_NAME["seed"].default]
    grid = {k: values[k] for k in BY_NAME if k != "seed" and len(values.get(k, ())) > 1}  # the table's order
    base = RunConfig(**{k: v[0] for k, v in values.items() if k != "seed"}, seed=seeds[0])
    total = math.prod(len(v) for v in grid.values()) * len(seeds)
    if total > MAX_RUNS:
        sizes = " x ".join(f"{len(v)} {k}" for k, v in {**grid, "seed": seeds}.items())
        raise ConfigError(next(iter(grid), "seed"), f"a study has at most {MAX_RUNS} runs; {sizes} make {total}")
    runs = []
    for combo in itertools.product(*grid.values()):
        setting = dict(zip(grid, combo))
        for seed in seeds:
            try:
                cfg = base.replace(**setting, seed=seed)
            except ConfigError as e:
                message = str(e).removeprefix(f"{e.field}: ")
                raise ConfigError(e.field, f"{message} (in the setting {key_of(setting, seed)})") from None
            runs.append(PlannedRun(key_of(setting, seed), setting, seed, cfg))
    return Plan(base, grid, seeds, runs)


# ---- statistics ----------------------------------------------------------------------------------------


def t975(df: int) -> float:
    """Two-sided 95 % quantile of Student's t; beyond the table, the normal quantile with two
    Cornish-Fisher terms (within 0.0002 of the exact value from 31 degrees of freedom on)."""
    if df < 1:
        raise ValueError("df: at least 1")
    if df <= len(_T975):
        return _T975[df - 1]
    z = 1.959964
    return z + (z**3 + z) / (4 * df) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)


def stat(values: list[float]) -> Stat | None:
    """Mean and 95 % t-interval of values measured once per seed; None without values."""
    values = [v for v in values if v is not None]
    if not values:
        return None
    n = len(values)
    ci = t975(n - 1) * statistics.stdev(values) / math.sqrt(n) if n > 1 else None
    return Stat(statistics.fmean(values), ci, n)


def memory_field(run_records: list[dict]) -> tuple[str, str]:
    """Which memory figure a study compares, and its words: the one ``summary.memory_key`` judges each
    run by, when all agree (exact saved bytes on CPU), else the device peak."""
    if run_records and {memory_key(r) for r in run_records} == {"autograd_saved_bytes"}:
        return "autograd_saved_bytes", SAVED_LABEL
    memories = sorted({r["protocol"]["memory"] for r in run_records}) or ["the device's peak memory"]
    return "peak_memory_bytes", "; ".join(memories)


def _complete(record: dict) -> bool:
    return record["status"] == "complete" and all(record["results"][n].get("test") for n in ALGORITHMS)


def _ratio(a, b):
    return a / b if a is not None and b else None


def run_state(status: str) -> str:
    """A finished comparison's state in its study, from its record's status."""
    return {"complete": "done", "diverged": "diverged"}.get(status, "stopped")


def complete_runs(done: dict[str, dict]) -> list[dict]:
    """The runs a study's figures count: complete, with test results for both variants."""
    return [r for r in done.values() if _complete(r)]


def _left_out(seed: int, record: dict | None) -> str:
    if record is None:
        return f"seed {seed} (failed or not run)"
    if record["status"] != "complete":
        return f"seed {seed} ({record['status']})"
    return f"seed {seed} (no test results)"


def aggregate(plan_: Plan, done: dict[str, dict]) -> list[StudySetting]:
    """Per setting of the grid, in grid order: the stats of the complete runs among ``done`` (key -> record),
    and which seeds were left out and why (a diverged seed is a result too: the verdict names it)."""
    memory, _ = memory_field(complete_runs(done))
    out = []
    for combo in itertools.product(*plan_.grid.values()):
        setting = dict(zip(plan_.grid, combo))
        mine = {s: done.get(key_of(setting, s)) for s in plan_.seeds}
        by_seed = {s: r for s, r in mine.items() if r is not None and _complete(r)}
        m_f = [(r["results"]["maml"], r["results"]["fomaml"]) for r in by_seed.values()]
        out.append(
            StudySetting(
                setting,
                sorted(by_seed),
                _variant([m for m, _ in m_f], memory),
                _variant([f for _, f in m_f], memory),
                stat([m["test"]["accuracy"] - f["test"]["accuracy"] for m, f in m_f]),
                stat([_ratio(m["train_time_s"], f["train_time_s"]) for m, f in m_f]),
                stat([_ratio(m.get(memory), f.get(memory)) for m, f in m_f]),
                sorted({r["setup"]["path"] for r in by_seed.values()}),
                [_left_out(s, r) for s, r in mine.items() if s not in by_seed],
            )
        )
    return out


def _variant(results: list[dict], memory: str) -> VariantStats:
    return VariantStats(
        stat([r["test"]["accuracy"] for r in results]),
        stat([r["train_time_s"] for r in results]),
        stat([r["per_iteration_ms"] for r in results]),
        stat([r.get(memory) for r in results]),
    )


# ---- in words and tables ----------------------------------------------------------------------------------


def setting_words(setting: dict) -> str:
    """E.g. 'inner steps 3, inner learning rate α 0.1', for captions."""
    words = [f"{BY_NAME[k].label.split(' (')[0].lower()} {v:g}" for k, v in setting.items() if isinstance(v, float)]
    words += [f"{BY_NAME[k].label.split(' (')[0].lower()} {v}" for k, v in setting.items() if not isinstance(v, float)]
    return ", ".join(words) or "one setting"


def pm(s: dict | None, scale: float = 1.0, spec: str = ".1f", unit: str = "") -> str:
    """A Stat as '76.3 ± 4.0 %' (or without the interval from one seed); a dash when there is none."""
    if not s:
        return "–"
    ci = "" if not s["ci95"] else f" ± {s['ci95'] * scale:{spec}}"  # none from one seed; none when exact
    return f"{s['mean'] * scale:{spec}}{ci}{unit}"


def verdict(setting: dict) -> str:
    """Where second order pays off, for one setting, from the paired accuracy difference and time ratio."""
    d, t = setting["accuracy_diff"], setting["time_ratio"]
    if not d:
        return "no complete pair of runs" + (
            f" (left out: {', '.join(setting['left_out'])})" if setting["left_out"] else ""
        )
    cost = f", at {t['mean']:.1f}× FOMAML's training time" if t else ""
    if setting["left_out"]:
        cost += f"; left out: {', '.join(setting['left_out'])}"
    if d["ci95"] is None:
        return f"MAML {d['mean'] * 100:+.1f} points (one seed: no interval){cost}"
    if d["mean"] - d["ci95"] > 0:
        return f"second order pays off: MAML {pm(d, 100)} points more accurate{cost}"
    if d["mean"] + d["ci95"] < 0:
        return f"first order wins: FOMAML {pm({**d, 'mean': -d['mean']}, 100)} points more accurate{cost}"
    return f"no clear difference ({pm(d, 100)} points, the interval spans 0){cost}"


def settings_rows(study: dict) -> list[dict]:
    """One flat row per setting: the table and the CSV download."""
    rows = []
    for s in study["settings"]:
        row = {**s["setting"], "seeds": len(s["seeds"])}
        for name in ALGORITHMS:
            v, n = s[name], NAMES[name]
            for what, key, scale in (
                ("acc %", "accuracy", 100),
                ("time s", "train_time_s", 1),
                ("ms/it", "per_iteration_ms", 1),
                ("memory MiB", "memory_bytes", 1 / 2**20),
            ):
                st = v[key]
                row[f"{n} {what}"] = None if not st else round(st["mean"] * scale, 3)
                row[f"{n} {what} ±95%"] = None if not st or st["ci95"] is None else round(st["ci95"] * scale, 3)
        for what, key, scale in (
            ("MAML−FOMAML points", "accuracy_diff", 100),
            ("time ratio", "time_ratio", 1),
            ("memory ratio", "memory_ratio", 1),
        ):
            st = s[key]
            row[what] = None if not st else round(st["mean"] * scale, 3)
            row[f"{what} ±95%"] = None if not st or st["ci95"] is None else round(st["ci95"] * scale, 3)
        rows.append(row)
    return rows


def runs_rows(study: dict, run_records: dict[str, dict]) -> list[dict]:
    """One row per run of the study (``run_records``: record file name -> record, for those on disk)."""
    rows = []
    for run in study["runs"]:
        row = {**run["setting"], "seed": run["seed"], "state": run["state"], "attempts": run["attempts"]}
        rec = run_records.get(run["record_file"] or "")
        for name in ALGORITHMS:
            res = rec["results"][name] if rec else {}
            test = res.get("test")
            row[f"{name} acc %"] = round(test["accuracy"] * 100, 2) if test else None
            row[f"{name} time s"] = round(res["train_time_s"], 3) if res.get("train_time_s") else None
            for key in ("autograd_saved_bytes", "peak_memory_bytes"):
                row[f"{name} {key}"] = res.get(key)
        row.update(where=run["where"], record=run["record_file"], error=run["error"])
        rows.append(row)
    return rows


def to_csv(rows: list[dict]) -> str:
    if not rows:
        return ""
    out = io.StringIO()
    names = list(dict.fromkeys(k for row in rows for k in row))
    w = csv.DictWriter(out, names, lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    return out.getvalue()


def study_report(study: dict) -> str:
    """The CLI summary of a study: per setting, both variants, the paired difference and the verdict."""
    runs = study["runs"]
    states = {s: sum(r["state"] == s for r in runs) for s in records.RUN_STATES}
    lines = [
        f"study {study['label'] or study['id']}: {study['status']}; "
        + ", ".join(f"{n} {s}" for s, n in states.items() if n)
        + f" of {len(runs)} runs",
    ]
    for s in study["settings"]:
        lines.append("")
        paths = f"; paths {' and '.join(s['paths'])}: time and memory vary with the path" if len(s["paths"]) > 1 else ""
        lines.append(f"{key_of(s['setting']) or 'all runs'} ({len(s['seeds'])} seeds{paths})")
        lines.append(
            f"  accuracy  MAML {pm(s['maml']['accuracy'], 100, unit=' %'):>16}   "
            f"FOMAML {pm(s['fomaml']['accuracy'], 100, unit=' %'):>16}"
        )
        lines.append(
            f"  training  MAML {pm(s['maml']['train_time_s'], unit=' s'):>16}   "
            f"FOMAML {pm(s['fomaml']['train_time_s'], unit=' s'):>16}"
        )
        lines.append(
            f"  memory    MAML {pm(s['maml']['memory_bytes'], 1 / 2**20, unit=' MiB'):>16}   "
            f"FOMAML {pm(s['fomaml']['memory_bytes'], 1 / 2**20, unit=' MiB'):>16}"
        )
        lines.append(f"  {verdict(s)}")
    failed = [r for r in runs if r["state"] == "failed"]
    lines += [""] + [f"failed: {r['key']} after {r['attempts']} attempts: {r['error']}" for r in failed]
    env = study["environment"]
    lines += [
        f"statistics: {study['protocol']['statistics']}",
        f"memory: {study['protocol']['memory']}",
        f"runs: {study['protocol']['parallel']}",
        f"device: {env['device_name'] if env else '–'} | executor {study['setup']['executor']}"
        + (f" at {study['setup']['address']}" if study["setup"]["address"] else ""),
    ]
    return "\n".join(lines)
