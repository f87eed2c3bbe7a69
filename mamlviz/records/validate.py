"""Is a record well formed? The derived JSON Schema, finite numbers everywhere, a valid config, known
variants and curves of one length. Every failure is a ``RecordError`` naming the field. No torch."""

from __future__ import annotations

import jsonschema

from .. import variants
from ..config import ConfigError, RunConfig
from .schema import KINDS, SCHEMA, VALIDATORS, VERSION, RecordError, _where, finite


def _check_finite(value, where="record"):
    """Reject NaN, infinities and numbers beyond a float's range anywhere."""
    stack = [(value, where)]
    while stack:
        v, w = stack.pop()
        if isinstance(v, (int, float)) and not isinstance(v, bool) and not finite(v):
            raise RecordError(f"{w}: expected a finite number, got {v if isinstance(v, float) else 'a huge integer'}")
        if isinstance(v, dict):
            stack.extend((x, f"{w}.{k}") for k, x in v.items())
        elif isinstance(v, list) and v and not isinstance(v[0], (int, float)):
            stack.extend((x, f"{w}[{i}]") for i, x in enumerate(v))


def _known(name, where: str) -> None:
    if name not in variants.VARIANTS:
        raise RecordError(f"{where}: unknown algorithm {name!r} (this app knows {', '.join(variants.VARIANTS)})")


def _check_variants(record: dict) -> None:
    """Results keyed by known variant names, each naming itself; alignment series of one length."""
    if record["kind"] == "compare":
        if not record["results"]:
            raise RecordError("results: no algorithm's result")
        for name, result in record["results"].items():
            _known(name, f"results.{name}")
            if result["algorithm"] != name:
                raise RecordError(f"results.{name}.algorithm: is {result['algorithm']!r}, expected {name!r}")
            curve = result["curve"]
            lengths = sorted({len(v) for v in curve.values()})
            if len(lengths) > 1:
                raise RecordError(f"results.{name}.curve: series have different lengths {lengths}")
            a = result.get("alignment")
            if a:
                n = len(a["iteration"])
                series = [a["reference_norm"]] + [s for g in a["variants"].values() for s in (g["cosine"], g["norm"])]
                if any(len(s) != n for s in series):
                    raise RecordError(f"results.{name}.alignment: series have different lengths")
    elif record["kind"] == "sweep":
        for i, p in enumerate(record["points"]):
            _known(p["algorithm"], f"points[{i}].algorithm")
    else:
        for i, s in enumerate(record["settings"]):
            for name in (*s["variants"], *s["versus"]):
                _known(name, f"settings[{i}].variants.{name}")


def validate(record) -> dict:
    """Return ``record`` if it is a well-formed run record of this version, else raise RecordError."""
    if not isinstance(record, dict):
        raise RecordError("record: expected a JSON object")
    if record.get("schema") != SCHEMA:
        raise RecordError(f"schema: expected {SCHEMA!r}, got {record.get('schema')!r}")
    if record.get("version") != VERSION:
        raise RecordError(f"version: this app reads version {VERSION}, the record is version {record.get('version')!r}")
    if record.get("kind") not in KINDS:
        raise RecordError(f"kind: must be one of {KINDS}, got {record.get('kind')!r}")
    error = jsonschema.exceptions.best_match(VALIDATORS[record["kind"]].iter_errors(record))
    if error is not None:
        message = error.message if len(error.message) <= 300 else error.message[:300] + "…"
        raise RecordError(f"{_where(error)}: {message}")
    _check_finite(record)
    try:
        RunConfig.from_dict(record["config"])
    except (ConfigError, TypeError) as e:
        raise RecordError(f"config.{e}") from None
    _check_variants(record)
    return record
