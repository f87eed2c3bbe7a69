"""RunConfig: every knob of a comparison, validated once at construction.

Kept free of torch so the UI can validate sidebar input (and explain it next to the
control) without loading the engine.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

TRAIN_CLASSES = 1200 * 4  # meta-training characters x four 90-degree rotations
TEST_CLASSES = 423 * 4
DRAWINGS_PER_CLASS = 20
DEVICES = ("auto", "cpu", "cuda")
PATHS = ("auto", "loop", "vmap", "graph")


class ConfigError(ValueError):
    """A bad config value; ``field`` names the offending field for the UI."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field


@dataclass(frozen=True)
class RunConfig:
    """One MAML-vs-FOMAML comparison. ``train_tasks`` counts tasks seen (iterations x meta_batch)."""

    n_way: int = 5
    k_shot: int = 1
    k_query: int = 15
    inner_lr: float = 0.4
    outer_lr: float = 0.001
    inner_steps: int = 1
    eval_inner_steps: int = 3
    meta_batch: int = 32
    train_tasks: int = 3200
    eval_tasks: int = 600
    seed: int = 0
    device: str = "auto"
    path: str = "auto"  # implementation: auto = fastest correct one, measured on the device
    time_budget_s: float | None = None  # optional wall-clock cap per algorithm

    def __post_init__(self):
        for err in validation_errors(self):
            raise err

    @property
    def iterations(self) -> int:
        return self.train_tasks // self.meta_batch

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "RunConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ConfigError(unknown[0], f"unknown config field (known: {', '.join(sorted(known))})")
        return cls(**d)


def _int(cfg, name, lo, hi):
    v = getattr(cfg, name)
    if isinstance(v, bool) or not isinstance(v, int):
        return ConfigError(name, f"must be a whole number from {lo} to {hi}, got {v!r}")
    if not lo <= v <= hi:
        return ConfigError(name, f"must be from {lo} to {hi}, got {v}")
    return None


def _float(cfg, name, lo, hi, allow_none=False):
    v = getattr(cfg, name)
    if v is None and allow_none:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        return ConfigError(name, f"must be a finite number in ({lo}, {hi}], got {v!r}")
    if not lo < v <= hi:
        return ConfigError(name, f"must be greater than {lo} and at most {hi}, got {v}")
    return None


def validation_errors(cfg) -> list[ConfigError]:
    """All problems with ``cfg`` (any object with RunConfig's attributes), each naming its field."""
    errs = [
        _int(cfg, "n_way", 2, 100),
        _int(cfg, "k_shot", 1, 10),
        _int(cfg, "k_query", 1, 19),
        _float(cfg, "inner_lr", 0.0, 10.0),
        _float(cfg, "outer_lr", 0.0, 1.0),
        _int(cfg, "inner_steps", 1, 20),
        _int(cfg, "eval_inner_steps", 1, 50),
        _int(cfg, "meta_batch", 1, 256),
        _int(cfg, "train_tasks", 1, 10_000_000),
        _int(cfg, "eval_tasks", 10, 100_000),
        _int(cfg, "seed", 0, 2**31 - 1),
        _float(cfg, "time_budget_s", 0.0, 86_400.0, allow_none=True),
    ]
    errs = [e for e in errs if e is not None]
    bad = {e.field for e in errs}
    if cfg.device not in DEVICES:
        errs.append(ConfigError("device", f"must be one of {', '.join(DEVICES)}, got {cfg.device!r}"))
    if cfg.path not in PATHS:
        errs.append(ConfigError("path", f"must be one of {', '.join(PATHS)}, got {cfg.path!r}"))
    if not bad & {"n_way"} and cfg.n_way > TEST_CLASSES:
        errs.append(ConfigError("n_way", f"must be at most {TEST_CLASSES} (test classes), got {cfg.n_way}"))
    if not bad & {"k_shot", "k_query"} and cfg.k_shot + cfg.k_query > DRAWINGS_PER_CLASS:
        errs.append(ConfigError(
            "k_query", f"k_shot + k_query must be at most {DRAWINGS_PER_CLASS} (drawings per character); "
            f"with k_shot={cfg.k_shot}, k_query must be from 1 to {DRAWINGS_PER_CLASS - cfg.k_shot}, "
            f"got {cfg.k_query}"))
    if not bad & {"train_tasks", "meta_batch"} and cfg.train_tasks < cfg.meta_batch:
        errs.append(ConfigError(
            "train_tasks", f"must be at least meta_batch ({cfg.meta_batch}) so that one meta-iteration "
            f"runs, got {cfg.train_tasks}"))
    return errs
