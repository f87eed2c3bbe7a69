"""RunConfig: every knob of a comparison, declared once in ``FIELDS``.

The field table is the single source for the dataclass defaults, validation (each error names
its field and the valid range), the dashboard's sidebar widgets and the CLI flags. Kept free of
torch so the UI can validate sidebar input and explain it next to the control without loading
the engine.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, make_dataclass
from dataclasses import field as dc_field

from . import variants

DRAWINGS_PER_CLASS = 20
BATCH_NORM_MODES = ("transductive", "support")  # a task's queries normalised together, or by its support set
IMAGE_SIZES = (28, 105)  # Finn et al.'s 28x28 (shipped), and the original images (the seed tutorial's)
DEVICES = ("auto", "cpu", "cuda")
PATHS = ("auto", "loop", "threads", "tasks", "vmap", "graph")
FAIRNESS = ("tasks", "time")
FASTEST_RATIO = 20  # at equal time, a variant may run at most this many times the planned iterations (buffer size)
PATH_MARGIN = 1.2  # another exact path must be this many times faster than the usual one to be chosen


class ConfigError(ValueError):
    """A bad config value; ``field`` names the offending field for the UI."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field


def _n(v) -> str:
    """A bound as people write it: 10000000, 0.0001."""
    return str(int(v)) if float(v).is_integer() else f"{v:g}"


@dataclass(frozen=True)
class Field:
    """One knob: its type and valid range, and how the sidebar and the CLI present it.

    Numbers are valid in [lo, hi] for ints and in (lo, hi] for floats (a learning rate of 0 is no
    learning rate). ``optional`` floats also accept None ("no limit"). ``group`` places the
    widget: "basic" in the sidebar, "advanced" in its expander, "device" as a select box, "algorithms"
    as the multiselect at the top, "hidden" for knobs only the CLI offers.
    """

    name: str
    type: type
    default: object
    label: str
    help: str = ""
    lo: float | None = None
    hi: float | None = None
    choices: tuple = ()  # the allowed values (strings, or numbers such as the image sizes)
    optional: bool = False
    group: str = "advanced"
    flag: str = ""  # CLI flag; default --name-with-dashes
    step: float = 1
    fmt: str | None = None  # widget number format
    widget_min: float | None = None  # floats with an open lower bound need a smallest widget value
    menu: tuple = ()  # the values a study form offers (a field with a menu is a study axis)
    sweep: bool = False  # a sweep can vary it (the Scaling page, `sweep`)
    log: bool = False  # drawn on a log axis
    multi: bool = False  # a comma list of the variant table's names (the algorithms)

    @property
    def cli_flag(self) -> str:
        return self.flag or "--" + self.name.replace("_", "-")

    @property
    def options(self) -> tuple:
        """The allowed choices: fixed ones, or the variant table's names for a list of algorithms."""
        return tuple(variants.VARIANTS) if self.multi else self.choices

    def range_text(self) -> str:
        if self.multi:
            return "a comma list of " + ", ".join(self.options)
        if self.choices:
            return "one of " + ", ".join(map(str, self.choices))
        if self.type is int:
            return f"a whole number from {_n(self.lo)} to {_n(self.hi)}"
        return f"a number greater than {_n(self.lo)} and at most {_n(self.hi)}" + (
            " (or none)" if self.optional else ""
        )

    def error(self, value) -> ConfigError | None:
        """What is wrong with ``value`` for this field, or None."""
        if self.multi:
            try:
                variants.parse(value)
            except ValueError as e:
                return ConfigError(self.name, str(e))
            return None
        if self.choices:
            if isinstance(value, bool) or value not in self.choices:
                return ConfigError(self.name, f"must be one of {', '.join(map(str, self.choices))}, got {value!r}")
            return None
        if value is None and self.optional:
            return None
        if self.type is int:
            if isinstance(value, bool) or not isinstance(value, int):
                return ConfigError(
                    self.name, f"must be a whole number from {_n(self.lo)} to {_n(self.hi)}, got {value!r}"
                )
            if not self.lo <= value <= self.hi:
                return ConfigError(self.name, f"must be from {_n(self.lo)} to {_n(self.hi)}, got {value}")
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            return ConfigError(self.name, f"must be a finite number in ({_n(self.lo)}, {_n(self.hi)}], got {value!r}")
        if not self.lo < value <= self.hi:
            return ConfigError(self.name, f"must be greater than {_n(self.lo)} and at most {_n(self.hi)}, got {value}")
        return None


# fmt: off
FIELDS: tuple[Field, ...] = (
    Field("algorithms", str, ",".join(variants.DEFAULT), "Algorithms",
          "Which algorithms train side by side on the same tasks; each is compared with MAML.",
          group="algorithms", multi=True),
    Field("inner_lr", float, 0.4, "Inner learning rate α", "Step size of the per-task adaptation (inner loop).",
          lo=0.0, hi=10.0, group="basic", step=0.01, fmt="%.4f", widget_min=0.0001,
          menu=(0.0001, 0.001, 0.01, 0.05, 0.1, 0.2, 0.4, 0.8), sweep=True, log=True),
    Field("outer_lr", float, 0.001, "Outer learning rate β (Adam)", "Meta-update step size.",
          lo=0.0, hi=1.0, group="basic", step=0.0005, fmt="%.5f", widget_min=0.00001, log=True),
    Field("inner_steps", int, 1, "Inner steps (training)",
          "Gradient steps per task during meta-training. MAML differentiates through all of them.",
          lo=1, hi=20, group="basic", menu=tuple(range(1, 11)), sweep=True),
    Field("train_tasks", int, 3200, "Training tasks", "Tasks seen in all = meta-iterations × meta-batch.",
          lo=1, hi=10_000_000, group="basic", flag="--tasks", step=32),
    Field("n_way", int, 5, "N-way (classes per task)", lo=2, hi=100, menu=(2, 3, 5, 10, 20)),
    Field("k_shot", int, 1, "K-shot (support images per class)", lo=1, hi=10, menu=(1, 2, 5)),
    Field("k_query", int, 15, "Query images per class", "Query images per class in every task.", lo=1, hi=19),
    Field("meta_batch", int, 32, "Meta-batch (tasks per iteration)", lo=1, hi=256),
    Field("eval_tasks", int, 600, "Evaluation tasks",
          "Held-out test tasks; the same ones for every variant and the baseline.", lo=10, hi=100_000, step=10),
    Field("eval_inner_steps", int, 3, "Inner steps at test", lo=1, hi=50),
    Field("seed", int, 0, "Seed", lo=0, hi=2**31 - 1),
    Field("image_size", int, 28, "Image size (pixels a side)",
          "28: the images shrunk to 28x28, as Finn et al. (shipped with the app). 105: the original images, as the "
          "seed tutorial (built once from the original Omniglot files; about 14 times the computation per image).",
          choices=IMAGE_SIZES),
    Field("batch_norm", str, "transductive", "Batch-norm statistics of the queries",
          "transductive: the queries of a task are normalised together with their own batch statistics, as Finn et "
          "al. and the seed tutorial do (one query's prediction depends on the others). support: each query is "
          "normalised with its task's support-set statistics, at training and test, and classified on its own.",
          choices=BATCH_NORM_MODES),
    Field("validation_points", int, 10, "Validation-accuracy points per variant",
          "How often (evenly spaced over training) each variant's accuracy after adaptation is measured on a fixed "
          "set of held-out validation tasks, for the accuracy-against-training-time chart; 0 = never. Measured "
          "outside the timed training.", lo=0, hi=100),
    Field("validation_tasks", int, 32, "Validation tasks",
          "Held-out tasks of the validation curve (the same ones at every point, for every variant; not the test "
          "tasks, and nothing is chosen by them).", lo=1, hi=10_000),
    Field("alignment_points", int, 20, "Gradient-alignment points per variant",
          "How often (evenly spaced over training) every variant's meta-gradient is compared with MAML's on a fixed "
          "probe batch; 0 = never. Measured outside the timed training.", lo=0, hi=200),
    Field("time_budget_s", float, None, "Time budget per variant (s, 0 = none)",
          "Wall-clock cap on each variant's training, in seconds.", lo=0.0, hi=86_400.0, optional=True,
          flag="--time-budget", step=5.0, widget_min=0.0),
    Field("fairness", str, "tasks", "Fair by",
          "tasks: every variant sees the same training tasks. time: all get the same training time (MAML's, or "
          "the time budget), so a faster variant sees more tasks.", choices=FAIRNESS),
    Field("device", str, "auto", "Device",
          "auto = the GPU when there is one. Times and memory are only comparable on one device.",
          choices=DEVICES, group="device"),
    Field("path", str, "auto", "Implementation path",
          "auto = the fastest exact path, measured on the device; loop (per task), threads (per task, the tasks "
          "split among threads), tasks (all tasks as groups of channels), vmap or graph (CUDA) to force one.",
          choices=PATHS, group="hidden"),
)
# fmt: on
BY_NAME = {f.name: f for f in FIELDS}


class _RunConfigBase:
    """RunConfig's behaviour; its fields come from ``FIELDS`` (see below)."""

    def __post_init__(self):
        for err in validation_errors(self):
            raise err
        # one spelling of a set of algorithms: the table's order, no spaces ("maml,fomaml")
        object.__setattr__(self, "algorithms", ",".join(variants.ordered(variants.parse(self.algorithms))))

    @property
    def variants(self) -> list[str]:
        """The algorithms this comparison trains, in the variant table's order."""
        return self.algorithms.split(",")

    @property
    def iterations(self) -> int:
        return self.train_tasks // self.meta_batch

    def to_dict(self) -> dict:
        return asdict(self)

    def replace(self, **changes) -> RunConfig:
        """A copy with ``changes``, validated again."""
        return RunConfig(**{**self.to_dict(), **changes})

    @classmethod
    def from_dict(cls, d: dict) -> RunConfig:
        if not isinstance(d, dict):
            raise ConfigError("config", f"expected an object of settings, got {type(d).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ConfigError(unknown[0], f"unknown config field (known: {', '.join(sorted(known))})")
        return cls(**d)


# One comparison of the chosen algorithms, frozen and validated at construction: a dataclass with one field per
# row of FIELDS. ``train_tasks`` counts tasks seen (iterations x meta_batch).
RunConfig = make_dataclass(
    "RunConfig",
    [(f.name, f.type | None if f.optional else f.type, dc_field(default=f.default)) for f in FIELDS],
    bases=(_RunConfigBase,),
    frozen=True,
)
RunConfig.__module__ = __name__
RunConfig.__doc__ = "One comparison of the chosen algorithms; fields and ranges in ``mamlviz.config.FIELDS``."


def validation_errors(cfg) -> list[ConfigError]:
    """All problems with ``cfg`` (any object with RunConfig's attributes), each naming its field."""
    errs = [e for f in FIELDS if (e := f.error(getattr(cfg, f.name))) is not None]
    bad = {e.field for e in errs}
    if not bad & {"k_shot", "k_query"} and cfg.k_shot + cfg.k_query > DRAWINGS_PER_CLASS:
        errs.append(
            ConfigError(
                "k_query",
                f"k_shot + k_query must be at most {DRAWINGS_PER_CLASS} (drawings per character); "
                f"with k_shot={cfg.k_shot}, k_query must be from 1 to {DRAWINGS_PER_CLASS - cfg.k_shot}, "
                f"got {cfg.k_query}",
            )
        )
    if not bad & {"train_tasks", "meta_batch"} and cfg.train_tasks < cfg.meta_batch:
        errs.append(
            ConfigError(
                "train_tasks",
                f"must be at least meta_batch ({cfg.meta_batch}) so that one meta-iteration runs, "
                f"got {cfg.train_tasks}",
            )
        )
    return errs
