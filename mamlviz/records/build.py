"""Building a record: its header filled in, its parts as plain JSON, validated. No torch."""

from __future__ import annotations

import time
import uuid
from dataclasses import asdict, is_dataclass

from ..config import RunConfig
from .schema import SCHEMA, VERSION
from .validate import validate


def new_id() -> str:
    """A record id: when it was made, and six random hex digits."""
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"


def plain(value):
    """Dataclasses (also inside lists and dicts) as the plain values that JSON stores."""
    if is_dataclass(value):
        return asdict(value)
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value


def new_record(
    kind: str,
    config: RunConfig,
    environment: dict | None,
    label: str | None,
    record_id: str | None = None,
    created: str | None = None,
    **parts,
) -> dict:
    """A validated record of ``kind`` with its header filled in; ``parts`` are dataclasses or plain values.
    ``created`` defaults to the environment's date (when the measurement was made)."""
    record = {
        "schema": SCHEMA,
        "version": VERSION,
        "kind": kind,
        "id": record_id or new_id(),
        "label": label or "",
        "created": created or environment["date"],
        "config": config.to_dict(),
        "environment": environment,
    }
    record.update({k: plain(v) for k, v in parts.items()})
    return validate(record)
