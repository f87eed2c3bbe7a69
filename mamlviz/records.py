"""The run record: the one contract between engine, CLI, cached runs and UI.

A record is plain JSON (never pickle). Writes are atomic (temp file + rename); loads validate
the schema and raise ``RecordError`` with the file and the offending field, so a caller can
list a bad file as skipped instead of crashing. No torch here: the hosted UI imports this.
"""
from __future__ import annotations

import json
import math
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

SCHEMA = "mamlviz.run"
VERSION = 1
KINDS = ("compare", "sweep")
STATUSES = ("complete", "stopped", "diverged", "not_run")
ALGORITHMS = ("maml", "fomaml")
MAX_BYTES = 50 * 1024 * 1024


class RecordError(ValueError):
    """A record that cannot be used; the message says which file and which field."""


@dataclass
class Skipped:
    path: str
    reason: str


def _num(v, where, *, allow_none=False, lo=None):
    if v is None and allow_none:
        return
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise RecordError(f"{where}: expected a finite number, got {v!r}")
    if lo is not None and v < lo:
        raise RecordError(f"{where}: expected at least {lo}, got {v!r}")


def _get(d, key, typ, where):
    if not isinstance(d, dict) or key not in d:
        raise RecordError(f"{where}.{key}: missing")
    v = d[key]
    if not isinstance(v, typ):
        raise RecordError(f"{where}.{key}: expected {getattr(typ, '__name__', typ)}, got {type(v).__name__}")
    return v


def _numbers(values, where):
    if not isinstance(values, list):
        raise RecordError(f"{where}: expected a list")
    for i, v in enumerate(values):
        _num(v, f"{where}[{i}]")


def _validate_test(t, where):
    if t is None:
        return
    _num(_get(t, "accuracy", (int, float), where), f"{where}.accuracy", lo=0)
    _num(_get(t, "ci95", (int, float), where), f"{where}.ci95", lo=0)
    _num(_get(t, "tasks", int, where), f"{where}.tasks", lo=1)
    if "per_task" in t:
        _numbers(t["per_task"], f"{where}.per_task")


def _validate_algorithm(a, where):
    if _get(a, "status", str, where) not in STATUSES:
        raise RecordError(f"{where}.status: must be one of {STATUSES}, got {a['status']!r}")
    _get(a, "first_order", bool, where)
    for key in ("iterations_done", "iterations_planned"):
        _num(_get(a, key, int, where), f"{where}.{key}", lo=0)
    for key in ("train_time_s", "per_iteration_ms", "peak_memory_bytes", "final_train_loss"):
        _num(a.get(key), f"{where}.{key}", allow_none=True, lo=0 if key != "final_train_loss" else None)
    curve = _get(a, "curve", dict, where)
    lengths = set()
    for key in ("iteration", "time_s", "loss", "accuracy"):
        _numbers(_get(curve, key, list, f"{where}.curve"), f"{where}.curve.{key}")
        lengths.add(len(curve[key]))
    if len(lengths) > 1:
        raise RecordError(f"{where}.curve: series have different lengths {sorted(lengths)}")
    _validate_test(a.get("test"), f"{where}.test")


def validate(record) -> dict:
    """Return ``record`` if it is a well-formed run record, else raise RecordError."""
    if not isinstance(record, dict):
        raise RecordError("record: expected a JSON object")
    if record.get("schema") != SCHEMA:
        raise RecordError(f"schema: expected {SCHEMA!r}, got {record.get('schema')!r}")
    version = record.get("version")
    if version != VERSION:
        raise RecordError(f"version: this app reads version {VERSION}, the file is version {version!r}")
    kind = _get(record, "kind", str, "record")
    if kind not in KINDS:
        raise RecordError(f"kind: must be one of {KINDS}, got {kind!r}")
    _get(record, "id", str, "record")
    _get(record, "created", str, "record")
    _get(record, "config", dict, "record")
    env = _get(record, "environment", dict, "record")
    for key in ("device", "device_name", "torch", "date"):
        _get(env, key, str, "environment")
    _get(record, "protocol", dict, "record")
    if kind == "compare":
        if _get(record, "status", str, "record") not in STATUSES:
            raise RecordError(f"status: must be one of {STATUSES}, got {record['status']!r}")
        results = _get(record, "results", dict, "record")
        for alg in ALGORITHMS:
            _validate_algorithm(_get(results, alg, dict, "results"), f"results.{alg}")
        _validate_test(record.get("baseline"), "baseline")
        _num(_get(record, "chance", (int, float), "record"), "chance", lo=0)
    else:
        points = _get(record, "points", list, "record")
        for i, p in enumerate(points):
            where = f"points[{i}]"
            if _get(p, "algorithm", str, where) not in ALGORITHMS:
                raise RecordError(f"{where}.algorithm: must be one of {ALGORITHMS}")
            _num(_get(p, "inner_steps", int, where), f"{where}.inner_steps", lo=1)
            _num(p.get("per_iteration_ms"), f"{where}.per_iteration_ms", allow_none=True, lo=0)
            _num(p.get("peak_memory_bytes"), f"{where}.peak_memory_bytes", allow_none=True, lo=0)
    return record


def dumps(record: dict) -> str:
    return json.dumps(validate(record), indent=1, allow_nan=False)


def save(record: dict, path: str | os.PathLike) -> Path:
    """Validate and write atomically: a reader sees the old file or the new one, never half."""
    path = Path(path)
    text = dumps(record)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _reject_constant(name):
    raise ValueError(f"{name} is not allowed in a run record")


def loads(text: str, source: str = "record") -> dict:
    try:
        record = json.loads(text, parse_constant=_reject_constant)
    except ValueError as e:
        raise RecordError(f"{source}: not valid JSON ({e})") from None
    try:
        return validate(record)
    except RecordError as e:
        raise RecordError(f"{source}: {e}") from None


def load(path: str | os.PathLike) -> dict:
    path = Path(path)
    try:
        if path.stat().st_size > MAX_BYTES:
            raise RecordError(f"{path}: larger than {MAX_BYTES // 2**20} MiB, not a run record")
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise RecordError(f"{path}: cannot read ({e})") from None
    return loads(text, str(path))


def scan(*folders: str | os.PathLike) -> tuple[list[tuple[Path, dict]], list[Skipped]]:
    """Every ``*.json`` run record in ``folders``, newest first, and the files skipped with why."""
    found, skipped = [], []
    for folder in folders:
        folder = Path(folder)
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.json")):
            if path.name == "index.json":
                continue
            try:
                found.append((path, load(path)))
            except RecordError as e:
                skipped.append(Skipped(str(path), str(e)))
    found.sort(key=lambda pr: pr[1]["created"], reverse=True)
    return found, skipped


def curves_csv(record: dict) -> str:
    """The training curves of a compare record as CSV (one row per stored point)."""
    lines = ["algorithm,iteration,time_s,loss,accuracy"]
    for name in ALGORITHMS:
        c = record["results"][name]["curve"]
        for row in zip(c["iteration"], c["time_s"], c["loss"], c["accuracy"]):
            lines.append(f"{name},{row[0]},{row[1]:.6g},{row[2]:.6g},{row[3]:.6g}")
    return "\n".join(lines) + "\n"
