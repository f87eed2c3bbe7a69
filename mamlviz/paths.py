"""Where run records live, the same for the CLI and the dashboard. No torch."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CACHED_RUNS = ROOT / "cached_runs"  # records shipped with the app


def runs_dir() -> Path:
    """The user's own run records: $MAMLVIZ_RUNS_DIR, else <repository>/runs, wherever a command starts."""
    env = os.environ.get("MAMLVIZ_RUNS_DIR", "").strip()
    return Path(env).expanduser() if env else ROOT / "runs"
