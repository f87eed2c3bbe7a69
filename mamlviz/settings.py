"""The environment settings, each checked like a config field: a bad value is named with what it may be,
and its default is used instead (the sidebar says so), so that a typo never breaks a page. No torch."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

FLAGS = {"1": True, "true": True, "yes": True, "on": True, "0": False, "false": False, "no": False, "off": False}


@dataclass(frozen=True)
class Setting:
    name: str
    kind: str  # "number" (in [lo, hi]), "flag" (yes/no), "text"
    default: object
    help: str
    lo: float = 0.0
    hi: float = 0.0

    def parse(self, raw: str | None) -> tuple[object, str | None]:
        """(value, problem): the default and what is wrong when ``raw`` is not a valid value."""
        raw = (raw or "").strip()
        if not raw:
            return self.default, None
        if self.kind == "flag":
            if raw.lower() in FLAGS:
                return FLAGS[raw.lower()], None
            return self.default, f"{self.name}: must be 1 or 0 (or true/false, yes/no, on/off), got {raw!r}"
        if self.kind == "number":
            try:
                value = float(raw) if raw.isascii() else math.nan
            except ValueError:
                value = math.nan
            if math.isfinite(value) and self.lo <= value <= self.hi:
                return value, None
            return self.default, f"{self.name}: must be a number from {self.lo:g} to {self.hi:g}, got {raw!r}"
        return raw, None


SETTINGS = {
    s.name: s
    for s in (
        Setting("MAMLVIZ_REFRESH_S", "number", 1.0, "the live view's redraw period in seconds", 0.2, 60.0),
        Setting("MAMLVIZ_HOSTED", "flag", None, "1: a hosted copy (cached runs first, small live runs)"),
        Setting("MAMLVIZ_LIVE_TRAINING", "flag", None, "0: no live training on this server"),
        Setting("MAMLVIZ_RUNS_DIR", "text", None, "where run records are kept"),
        Setting("MAMLVIZ_RAY_ADDRESS", "text", None, "the Ray cluster runs go to (host:port)"),
    )
}


def get(name: str):
    """The setting's value from the environment, or its default when unset or invalid."""
    return SETTINGS[name].parse(os.environ.get(name))[0]


def problems() -> list[str]:
    """What is wrong with the environment settings, one line each, naming the setting and its default."""
    out = []
    for s in SETTINGS.values():
        _, problem = s.parse(os.environ.get(s.name))
        if problem:
            out.append(f"{problem}; using the default ({s.default if s.default is not None else 'unset'}): {s.help}")
    return out
