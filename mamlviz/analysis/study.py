"""A study: a grid of comparisons over settings and seeds, and what they say together.

``plan`` expands "each field may be a list" into validated runs; ``aggregate`` turns their run
records into per-setting means with 95 % t-intervals across seeds and each variant against the
reference (MAML), paired by seed (a seed fixes the initialisation and the task stream for every
variant). Running a plan is ``mamlviz.run.study_runner``'s job. No torch: the dashboard reads this.
"""

from __future__ import annotations

import csv
import io
import itertools
import math
import re
from dataclasses import dataclass

from .. import variants
from ..config import BY_NAME, ConfigError, Field, RunConfig
from ..records import Stat, StudySetting, VariantStats, Versus
from .compare import memory_key, memory_label
from .stats import interval, ratio

MAX_RUNS = 500


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


NUMBER = {int: re.compile(r"^[+-]?[0-9]+$"), float: re.compile(r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$")}


def parse_values(f: Field, text: str, notes: list[str] | None = None) -> list:
    """A comma list of one field's values (``none`` for an optional limit), each checked by the table; plain
    ASCII numbers only (no ``1_000``, no other scripts' digits). A value given twice runs once, and ``notes``
    hears so. The algorithms are one value: the comma list names the variants every comparison trains."""
    if f.multi:
        err = f.error(text)
        if err:
            raise err
        return [",".join(variants.ordered(variants.parse(text)))]
    values = []
    for part in str(text).split(","):
        part = part.strip()
        if not part:
            continue
        if f.optional and part.lower() in ("none", "0"):
            value = None
        elif f.type is str:  # a choice: checked against the table's choices below
            value = part
        else:
            if not NUMBER[f.type].match(part):
                raise ConfigError(f.name, f"must be {f.range_text()}, written as a plain number, got {part!r}")
            value = f.type(part)
        err = f.error(value)
        if err:
            raise err
        if value in values:
            if notes is not None:
                notes.append(f"{f.name}: {part} is given more than once; it runs once")
        else:
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


def stat(values: list[float]) -> Stat | None:
    """Mean and 95 % t-interval of values measured once per seed; None without values."""
    values = [v for v in values if v is not None]
    return Stat(*interval(values)) if values else None


def memory_field(run_records: list[dict]) -> tuple[str, str]:
    """Which memory figure a study compares, and its words: the one rule of ``analysis.compare``."""
    return memory_key(run_records), memory_label(run_records)


def _complete(record: dict) -> bool:
    return record["status"] == "complete" and all(r.get("test") for r in record["results"].values())


def run_state(status: str) -> str:
    """A finished comparison's state in its study, from its record's status."""
    return {"complete": "done", "diverged": "diverged"}.get(status, "stopped")


def complete_runs(done: dict[str, dict]) -> list[dict]:
    """The runs a study's figures count: complete, with test results for every variant."""
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
    names = plan_.base.variants
    ref = variants.reference_of(names)
    out = []
    for combo in itertools.product(*plan_.grid.values()):
        setting = dict(zip(plan_.grid, combo))
        mine = {s: done.get(key_of(setting, s)) for s in plan_.seeds}
        by_seed = {s: r for s, r in mine.items() if r is not None and _complete(r)}
        results = [r["results"] for r in by_seed.values()]
        out.append(
            StudySetting(
                setting,
                sorted(by_seed),
                ref,
                {n: _variant([res[n] for res in results], memory) for n in names},
                {n: _versus([(res[n], res[ref]) for res in results], memory) for n in names if n != ref},
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


def _versus(pairs: list[tuple[dict, dict]], memory: str) -> Versus:
    """A variant against the reference, paired by seed: (variant's result, reference's result) per seed."""
    return Versus(
        stat([v["test"]["accuracy"] - r["test"]["accuracy"] for v, r in pairs]),
        stat([ratio(r["train_time_s"], v["train_time_s"]) for v, r in pairs]),
        stat([ratio(r.get(memory), v.get(memory)) for v, r in pairs]),
    )


# ---- tables ----------------------------------------------------------------------------------------------


def _mean_ci(row: dict, title: str, st: dict | None, scale: float) -> None:
    row[title] = None if not st else round(st["mean"] * scale, 3)
    row[f"{title} ±95%"] = None if not st or st["ci95"] is None else round(st["ci95"] * scale, 3)


def study_variants(study: dict) -> list[str]:
    """The variants a study's comparisons trained, in the table's order."""
    return variants.ordered(study["config"]["algorithms"].split(","))


def settings_rows(study: dict) -> list[dict]:
    """One flat row per setting: every variant's figures, then each against the reference (the CSV download)."""
    rows = []
    for s in study["settings"]:
        row = {**s["setting"], "seeds": len(s["seeds"])}
        ref = variants.label(s["reference"])
        for name, v in s["variants"].items():
            n = variants.label(name)
            _mean_ci(row, f"{n} acc %", v["accuracy"], 100)
            _mean_ci(row, f"{n} time s", v["train_time_s"], 1)
            _mean_ci(row, f"{n} ms/it", v["per_iteration_ms"], 1)
            _mean_ci(row, f"{n} memory MiB", v["memory_bytes"], 1 / 2**20)
        for name, vs in s["versus"].items():
            n = variants.label(name)
            _mean_ci(row, f"{n}−{ref} points", vs["accuracy_diff"], 100)
            _mean_ci(row, f"{ref}÷{n} time", vs["speedup"], 1)
            _mean_ci(row, f"{ref}÷{n} memory", vs["memory_ratio"], 1)
        rows.append(row)
    return rows


def runs_rows(study: dict, run_records: dict[str, dict]) -> list[dict]:
    """One row per run of the study (``run_records``: record file name -> record, for those on disk)."""
    rows = []
    for run in study["runs"]:
        row = {**run["setting"], "seed": run["seed"], "state": run["state"], "attempts": run["attempts"]}
        rec = run_records.get(run["record_file"] or "")
        for name in study_variants(study):
            res = rec["results"].get(name, {}) if rec else {}
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
