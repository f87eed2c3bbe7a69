"""The parts of a run record, declared once as dataclasses, and the JSON Schema derived from them.

The engine builds records from these parts and every load is checked against the schema derived
here, so the two cannot drift. Results are keyed by variant name (``mamlviz.variants``). No torch.
"""

from __future__ import annotations

import math
import statistics
import types
import typing
from dataclasses import MISSING, dataclass, field, fields, is_dataclass

import jsonschema

from .. import variants
from ..config import FIELDS

SCHEMA = "mamlviz.run"
VERSION = 5
KINDS = ("compare", "sweep", "study")
STATUSES = ("complete", "stopped", "diverged", "not_run")
# running: rewritten as each of its runs ends; incomplete: it ended, but some runs failed
STUDY_STATUSES = ("running", "complete", "incomplete", "stopped")
RUN_STATES = ("pending", "running", "done", "stopped", "diverged", "failed", "cancelled")  # one run of a study
EXECUTORS = ("local", "ray")
LAUNCHERS = ("python", "cli", "dashboard", "unknown")
MAX_BYTES = 50 * 1024 * 1024
STUDY_STATISTICS = (  # how a study record's aggregates are made: its protocol says so
    "per setting, the mean across seeds of each run's figure, with a 95 % Student-t interval (none from a "
    "single seed); each variant's accuracy difference from MAML (the variant's minus MAML's) and MAML's time "
    "and memory as multiples of the variant's are paired by seed (the same initialisation and training tasks "
    "for all); only runs that completed with test results count"
)


class RecordError(ValueError):
    """A record that cannot be used: ``reason`` names the field (or what else is wrong), ``source``
    the file it came from, if any; ``str()`` says both."""

    def __init__(self, reason: str, source: str | None = None):
        super().__init__(f"{source}: {reason}" if source else reason)
        self.reason, self.source = reason, source


def _(default=MISSING, **schema):
    """A dataclass field with extra JSON Schema keywords (minimum, enum, ...)."""
    return field(default=default, metadata={"schema": schema})


# ---- the parts of a record -------------------------------------------------------------------------


@dataclass
class Curve:
    """Training curve, one point per (decimated) meta-iteration."""

    iteration: list[int]
    time_s: list[float]
    loss: list[float]
    accuracy: list[float]

    @classmethod
    def empty(cls) -> Curve:
        return cls([], [], [], [])


def decimate(curve: Curve, points: int) -> Curve:
    """At most ``points`` points: each is the mean over a block of iterations, at the block's end.
    The engine stores curves this way; the charts draw any curve, however long, this way."""
    n = len(curve.iteration)
    if n <= points:
        return curve
    size = math.ceil(n / points)
    blocks = [(s, min(n, s + size)) for s in range(0, n, size)]
    return Curve(
        [curve.iteration[e - 1] for _, e in blocks],
        [curve.time_s[e - 1] for _, e in blocks],
        [statistics.fmean(curve.loss[s:e]) for s, e in blocks],
        [statistics.fmean(curve.accuracy[s:e]) for s, e in blocks],
    )


@dataclass
class ValidationCurve:
    """Accuracy after adaptation on a fixed set of held-out validation tasks at evenly spaced points of one
    variant's training (the first at the initialisation), against its training seconds (v5)."""

    iteration: list[int]
    time_s: list[float]
    accuracy: list[float]
    tasks: int = _(minimum=0)


@dataclass
class Evaluation:
    """Accuracy on held-out tasks after adaptation, with its 95 % interval."""

    accuracy: float = _(minimum=0, maximum=1)
    ci95: float = _(minimum=0)
    tasks: int = _(minimum=1)
    over_chance: float = _()
    per_task: list[float] = _()


@dataclass
class Agreement:
    """One variant's meta-gradient against the reference's exact one, at each point of a curve."""

    cosine: list[float]  # cosine(reference meta-gradient, this variant's)
    norm: list[float]  # this variant's meta-gradient norm
    difference_norm: list[float]  # |reference - this variant|: for FOMAML, what the Hessian term contributes
    per_layer: dict[str, list[float]] = _()  # layer ("block 1".."block 4", "head") -> cosine at each point


@dataclass
class AlignmentCurve:
    """Every variant's meta-gradient against the reference's (MAML's exact one) at evenly spaced points of
    one variant's training, on a fixed probe batch of training tasks (``mamlviz.engine.geometry``)."""

    iteration: list[int]  # iterations done when measured (0: the initialisation)
    reference: str = _(minLength=1)  # the variant whose meta-gradient the others are measured against
    reference_norm: list[float] = _()
    variants: dict[str, Agreement] = _()  # every other variant -> its agreement with the reference


@dataclass
class ParamsFile:
    """The initialisation and every trained network, as safetensors beside the record."""

    file: str = _(pattern=r"^[A-Za-z0-9_.-]+\.safetensors$")  # a name in the record's folder, nothing else
    sha256: str = _(pattern="^[0-9a-f]{64}$")
    bytes: int = _(minimum=1)
    models: list[str] = _()  # "init" and the variants' names: tensor names are "<model>/<parameter>"


@dataclass
class AlgorithmResult:
    """What one algorithm's meta-training measured."""

    algorithm: str = _(minLength=1)  # a name of the variant table (checked on load)
    first_order: bool = _()
    path: str = _()
    status: str = _(enum=STATUSES)
    stop_reason: str = _()
    iterations_planned: int = _(minimum=0)
    iterations_done: int = _(0, minimum=0)
    tasks_seen: int = _(0, minimum=0)
    diverged_at: int | None = _(None, minimum=1)
    train_time_s: float | None = _(None, minimum=0)
    setup_time_s: float | None = _(None, minimum=0)
    per_iteration_ms: float | None = _(None, minimum=0)
    per_iteration_ms_median: float | None = _(None, minimum=0)
    peak_memory_bytes: int | None = _(None, minimum=0)
    peak_memory_total_bytes: int | None = _(None, minimum=0)
    memory_metric: str | None = None
    final_train_loss: float | None = None
    # The highest training loss over the first one: a run whose loss grows by an order of magnitude
    # while staying finite is flagged unstable. None: not measured (records made before version 2).
    loss_growth: float | None = _(None, minimum=0)
    unstable: bool | None = None
    # Peak bytes held for the backward pass in one meta-iteration (saved-tensor hooks): exact and
    # the same on every run of a config, unlike sampled process memory. None: not measured.
    autograd_saved_bytes: int | None = _(None, minimum=0)
    alignment: AlignmentCurve | None = None
    curve: Curve = field(default_factory=Curve.empty)
    test: Evaluation | None = None
    validation: ValidationCurve | None = None  # accuracy against training time; None: not measured

    @classmethod
    def not_run(cls, algorithm: str, path: str, iterations_planned: int) -> AlgorithmResult:
        """A variant that never started (the user stopped the run before it)."""
        return cls(algorithm, variants.get(algorithm).first_order, path, "not_run", "user", iterations_planned)


@dataclass
class Environment:
    """Which device, which software, when: the label of every figure."""

    device: str = _(enum=("cpu", "cuda"))
    device_name: str = _()
    gpu: str | None = _()
    cpu: str = _()
    cpu_threads: int = _(minimum=1)
    torch: str = _()
    cuda: str | None = _()
    python: str = _()
    platform: str = _()
    date: str = _()


@dataclass
class Protocol:
    """How the numbers were produced, in words and values, for captions."""

    dataset: str
    split: str
    split_seed: int
    rotations: str
    task: str
    batch_norm: str
    train_inner_steps: int
    test_inner_steps: int
    test_tasks: int
    outer_optimizer: str
    timing: str
    memory: str
    path: str
    time_budget_s: float | None
    fairness: str = "same training tasks for both"  # or the same training time
    saved_memory: str = "not measured"  # how autograd_saved_bytes was measured
    alignment: str = "not measured"  # how the alignment curves were measured
    algorithms: dict[str, dict[str, str]] | None = None  # each algorithm's parts, on or off, in words (v4)
    validation: str = "not measured"  # how the validation curves were measured (v5)


@dataclass
class SweepProtocol(Protocol):
    sweep: str = ""
    over: str = _("inner_steps", enum=tuple(f.name for f in FIELDS if f.sweep))  # the setting the sweep varies


@dataclass
class Setup:
    """What happened before training: who launched it, data loading, which path and why."""

    launched_from: str = _(enum=LAUNCHERS)
    data_load_s: float | None = _(minimum=0)
    path: str = _()
    path_selection: dict = _()


@dataclass
class CompareSetup(Setup):
    eval_time_s: float | None = _(None, minimum=0)
    params: int | None = _(None, minimum=1)
    evaluation: str = _("complete", enum=("complete", "skipped"))  # skipped: stopped before test results
    analysis_time_s: float | None = _(None, minimum=0)  # saved-bytes probe and alignment curves


@dataclass
class SweepPoint:
    algorithm: str = _(minLength=1)
    inner_steps: int = _(minimum=1)
    iterations: int = _(minimum=0)
    per_iteration_ms: float | None = _(minimum=0)
    peak_memory_bytes: int | None = _(minimum=0)
    status: str = _(enum=STATUSES)
    inner_lr: float | None = _(None, exclusiveMinimum=0)
    autograd_saved_bytes: int | None = _(None, minimum=0)
    # at the initialisation, for this point's setting, against the reference variant's meta-gradient
    # (None for the reference itself, and where not measured)
    cosine: float | None = None
    gradient_norm: float | None = _(None, minimum=0)  # this variant's meta-gradient norm
    reference_norm: float | None = _(None, minimum=0)
    difference_norm: float | None = _(None, minimum=0)  # |reference - this variant|


@dataclass
class _Header:
    schema: str = _(const=SCHEMA)
    version: int = _(const=VERSION)
    kind: str = _(enum=KINDS)
    id: str = _(minLength=1)
    label: str = _()
    created: str = _()
    config: dict = _()
    environment: Environment = _()
    status: str = _(enum=STATUSES)


@dataclass
class CompareRecord(_Header):
    protocol: Protocol = _()
    setup: CompareSetup = _()
    results: dict[str, AlgorithmResult] = _()  # variant name -> its result, in the variant table's order
    baseline: Evaluation | None = _()
    chance: float = _(exclusiveMinimum=0, maximum=1)
    params_file: ParamsFile | None = None


@dataclass
class SweepRecord(_Header):
    protocol: SweepProtocol = _()
    setup: Setup = _()
    points: list[SweepPoint] = _()


@dataclass
class StudyRun:
    """One comparison of a study: its setting and seed, where it ran, and what became of it."""

    key: str = _(minLength=1)  # "inner_steps=3 seed=1": the setting and the seed, in words
    setting: dict = _()  # the varied fields (seed excluded) -> this run's values
    seed: int = _(minimum=0)
    state: str = _(enum=RUN_STATES)
    attempts: int = _(minimum=0)  # 2: it failed or was lost once and was retried
    record_file: str | None = _(pattern=r"^[A-Za-z0-9_.-]+\.json$")  # a name in the study record's folder
    where: str | None = _()  # the machine (and GPU) it ran on
    error: str | None = _()  # why its last attempt failed (earlier attempts: in ``errors``)
    errors: list[str] = _()


@dataclass
class Stat:
    """A mean across seeds with its 95 % t-interval half-width (None with a single seed)."""

    mean: float = _()
    ci95: float | None = _(minimum=0)
    n: int = _(minimum=1)


@dataclass
class VariantStats:
    accuracy: Stat | None = _()  # test accuracy after adaptation, 0..1
    train_time_s: Stat | None = _()
    per_iteration_ms: Stat | None = _()
    memory_bytes: Stat | None = _()  # the figure named by StudyProtocol.memory


@dataclass
class Versus:
    """One variant against the reference, paired by seed (same tasks, same initialisation)."""

    accuracy_diff: Stat | None = _()  # this variant's test accuracy - the reference's (0..1 units)
    speedup: Stat | None = _()  # the reference's training time / this variant's
    memory_ratio: Stat | None = _()  # the reference's memory / this variant's


@dataclass
class StudySetting:
    """The aggregates of one setting of the grid, over the seeds whose runs completed."""

    setting: dict = _()
    seeds: list[int] = _()
    reference: str = _(minLength=1)
    variants: dict[str, VariantStats] = _()  # every variant of the study
    versus: dict[str, Versus] = _()  # every variant but the reference
    paths: list[str] = _()  # the meta-gradient paths its runs took: more than one makes time and memory vary
    left_out: list[str] = _()  # the seeds that do not count, and why ("seed 2 (diverged)")


@dataclass
class StudyProtocol:
    grid: dict = _()  # field -> its values, for the fields the study varies (seed excluded)
    seeds: list[int] = _()
    runs: int = _(minimum=1)
    statistics: str = _()
    memory: str = _()
    executor: str = _(enum=EXECUTORS)
    parallel: str = _()  # how runs shared the machines: what their times can be compared with
    retries: str = _()


@dataclass
class StudySetup:
    launched_from: str = _(enum=LAUNCHERS)
    executor: str = _(enum=EXECUTORS)
    address: str | None = _()  # the Ray cluster, when there is one
    resources: dict = _()  # the cluster's resources when the study started (CPU, GPU counts)
    per_run: dict = _()  # what each run asked for: {"GPU": 1} or {"CPU": 2}
    devices: list[str] = _()  # the devices its runs reported (more than one: times are not comparable)
    started: str = _()
    updated: str = _()
    wall_time_s: float = _(minimum=0)


@dataclass
class StudyRecord(_Header):
    status: str = _(enum=STUDY_STATUSES)
    environment: Environment | None = _()  # the first finished run's; None until one finishes
    protocol: StudyProtocol = _()
    setup: StudySetup = _()
    runs: list[StudyRun] = _()
    settings: list[StudySetting] = _()


# ---- the JSON Schema, derived from the dataclasses ----------------------------------------------------

_JSON_TYPES = {int: "integer", float: "number", str: "string", bool: "boolean", dict: "object"}


def _type_schema(tp) -> dict:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        return {"anyOf": [_type_schema(inner[0]), {"type": "null"}]}
    if origin is list:
        (item,) = args
        if item in (int, float):  # long numeric series: one fast check instead of a schema per item
            return {"type": "array", "finiteNumbers": True}
        return {"type": "array", "items": _type_schema(item)}
    if origin is dict:
        key, value = args
        return {"type": "object", "additionalProperties": _type_schema(value)}
    if is_dataclass(tp):
        return schema_of(tp)
    return {"type": _JSON_TYPES[tp]}


def schema_of(cls) -> dict:
    """JSON Schema of a record dataclass: every field required, types and ranges from the declaration."""
    hints = typing.get_type_hints(cls)
    props = {}
    for f in fields(cls):
        s = _type_schema(hints[f.name])
        extra = f.metadata.get("schema", {})
        if extra and "anyOf" in s:  # ranges apply to the non-null branch
            s["anyOf"][0].update(extra)
        else:
            s.update(extra)
        props[f.name] = s
    return {"type": "object", "properties": props, "required": [f.name for f in fields(cls)]}


def finite(v) -> bool:
    """A JSON number a float can hold: not NaN, not infinite, not an integer too large to convert."""
    return isinstance(v, (int, float)) and not isinstance(v, bool) and -1e300 <= v <= 1e300


def _finite_numbers(validator, value, instance, schema):
    if value and isinstance(instance, list):
        for i, v in enumerate(instance):
            if not finite(v):
                yield jsonschema.ValidationError(f"[{i}]: expected a finite number, got {v!r}")
                return


_Validator = jsonschema.validators.extend(jsonschema.Draft202012Validator, {"finiteNumbers": _finite_numbers})
VALIDATORS = {
    "compare": _Validator(schema_of(CompareRecord)),
    "sweep": _Validator(schema_of(SweepRecord)),
    "study": _Validator(schema_of(StudyRecord)),
}


def _where(error: jsonschema.ValidationError) -> str:
    parts = ""
    for p in error.absolute_path:
        parts += f"[{p}]" if isinstance(p, int) else f".{p}" if parts else str(p)
    return parts or "record"
