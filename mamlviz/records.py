"""The run record: the one contract between engine, CLI, cached runs and UI.

A record is plain JSON (never pickle). Its parts are declared once, as the dataclasses below: the
engine builds records from them and the JSON Schema that every load is checked against is derived
from them, so the two cannot drift. Writes are atomic (temp file + rename); loads validate and
raise ``RecordError`` naming the file and the offending field, so a caller can list a bad file as
skipped instead of crashing. Records of an older version are migrated on load (``migrate``). No
torch here: the hosted UI imports this.
"""

from __future__ import annotations

import json
import math
import os
import stat
import statistics
import tempfile
import threading
import time
import types
import typing
import uuid
from dataclasses import MISSING, asdict, dataclass, field, fields, is_dataclass
from pathlib import Path

import jsonschema

from .config import ConfigError, RunConfig

SCHEMA = "mamlviz.run"
VERSION = 2
KINDS = ("compare", "sweep", "study")
STATUSES = ("complete", "stopped", "diverged", "not_run")
STUDY_STATUSES = ("running", "complete", "stopped")  # running: rewritten as each of its runs ends
RUN_STATES = ("pending", "running", "done", "stopped", "diverged", "failed", "cancelled")  # one run of a study
EXECUTORS = ("local", "ray")
ALGORITHMS = ("maml", "fomaml")  # the order they train in and are shown in
FIRST_ORDER = {"maml": False, "fomaml": True}
LAUNCHERS = ("python", "cli", "dashboard", "unknown")
MAX_BYTES = 50 * 1024 * 1024


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
class Evaluation:
    """Accuracy on held-out tasks after adaptation, with its 95 % interval."""

    accuracy: float = _(minimum=0, maximum=1)
    ci95: float = _(minimum=0)
    tasks: int = _(minimum=1)
    over_chance: float = _()
    per_task: list[float] = _()


@dataclass
class AlignmentCurve:
    """Second- vs first-order meta-gradient at evenly spaced points of one variant's training,
    on a fixed probe batch of training tasks (``mamlviz.engine.geometry``)."""

    iteration: list[int]  # iterations done when measured (0: the initialisation)
    cosine: list[float]  # cosine(MAML meta-gradient, FOMAML meta-gradient)
    maml_norm: list[float]
    fomaml_norm: list[float]
    correction_norm: list[float]  # |MAML - FOMAML|: what the Hessian term contributes
    per_layer: dict[str, list[float]] = _()  # layer ("block 1".."block 4", "head") -> cosine at each point


@dataclass
class ParamsFile:
    """The initialisation and both trained networks, as safetensors beside the record."""

    file: str = _(pattern=r"^[A-Za-z0-9_.-]+\.safetensors$")  # a name in the record's folder, nothing else
    sha256: str = _(pattern="^[0-9a-f]{64}$")
    bytes: int = _(minimum=1)
    models: list[str] = _()  # "init", "maml", "fomaml": tensor names are "<model>/<parameter>"


@dataclass
class AlgorithmResult:
    """What one algorithm's meta-training measured."""

    algorithm: str = _(enum=ALGORITHMS)
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

    @classmethod
    def not_run(cls, algorithm: str, path: str, iterations_planned: int) -> AlgorithmResult:
        """A variant that never started (the user stopped the run before it)."""
        return cls(algorithm, FIRST_ORDER[algorithm], path, "not_run", "user", iterations_planned)


@dataclass
class Results:
    maml: AlgorithmResult
    fomaml: AlgorithmResult


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


@dataclass
class SweepProtocol(Protocol):
    sweep: str = ""
    over: str = _("inner_steps", enum=("inner_steps", "inner_lr"))  # the setting the sweep varies


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
    algorithm: str = _(enum=ALGORITHMS)
    inner_steps: int = _(minimum=1)
    iterations: int = _(minimum=0)
    per_iteration_ms: float | None = _(minimum=0)
    peak_memory_bytes: int | None = _(minimum=0)
    status: str = _(enum=STATUSES)
    inner_lr: float | None = _(None, exclusiveMinimum=0)
    autograd_saved_bytes: int | None = _(None, minimum=0)
    # at the initialisation, for this point's setting: the same for both algorithms' points
    cosine: float | None = None
    maml_norm: float | None = _(None, minimum=0)
    fomaml_norm: float | None = _(None, minimum=0)
    correction_norm: float | None = _(None, minimum=0)


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
    results: Results = _()
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
class StudySetting:
    """The aggregates of one setting of the grid, over the seeds whose runs completed."""

    setting: dict = _()
    seeds: list[int] = _()
    maml: VariantStats = _()
    fomaml: VariantStats = _()
    accuracy_diff: Stat | None = _()  # MAML - FOMAML, paired by seed (same tasks, same initialisation)
    time_ratio: Stat | None = _()  # MAML / FOMAML training time, paired by seed
    memory_ratio: Stat | None = _()
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


# ---- validation, migration, files -----------------------------------------------------------------


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
    if record["kind"] == "compare":
        for name in ALGORITHMS:
            curve = record["results"][name]["curve"]
            lengths = sorted({len(v) for v in curve.values()})
            if len(lengths) > 1:
                raise RecordError(f"results.{name}.curve: series have different lengths {lengths}")
    return record


def _v1_to_v2(record: dict) -> dict:
    """Version 2 made every field required, typed from one declaration: fill what v1 could omit."""
    setup = record.setdefault("setup", {})
    setup.setdefault("launched_from", "unknown")
    setup.setdefault("data_load_s", None)
    setup.setdefault("path", record.get("protocol", {}).get("path", "unknown"))
    setup.setdefault("path_selection", {"chosen_by": "unknown"})
    if record.get("kind") == "compare":
        setup.setdefault("eval_time_s", None)
        setup.setdefault("params", None)
        setup.setdefault("evaluation", "complete")
        setup.setdefault("analysis_time_s", None)
        chance = record.get("chance")
        tests = [r.get("test") for r in record.get("results", {}).values()] + [record.get("baseline")]
        for t in tests:
            if isinstance(t, dict) and "over_chance" not in t and isinstance(chance, (int, float)):
                t["over_chance"] = t.get("accuracy", 0) - chance  # derived, not measured
    for result in record.get("results", {}).values():
        if isinstance(result, dict):
            for key in ("loss_growth", "unstable", "autograd_saved_bytes", "alignment"):
                result.setdefault(key, None)
    protocol = record.get("protocol")
    if isinstance(protocol, dict):
        protocol.setdefault("fairness", "same training tasks for both")
        protocol.setdefault("saved_memory", "not measured")
        protocol.setdefault("alignment", "not measured")
        if record.get("kind") == "sweep":
            protocol.setdefault("over", "inner_steps")
    if record.get("kind") == "compare":
        record.setdefault("params_file", None)
    for point in record.get("points", []) if isinstance(record.get("points"), list) else []:
        if isinstance(point, dict):
            point.setdefault("inner_lr", record.get("config", {}).get("inner_lr"))
            for key in ("autograd_saved_bytes", "cosine", "maml_norm", "fomaml_norm", "correction_norm"):
                point.setdefault(key, None)
    record["version"] = 2
    return record


MIGRATIONS = {1: _v1_to_v2}  # version -> function taking that version to the next


def migrate(record) -> dict:
    """Bring an older record to this version (measured values untouched); unknown versions pass through."""
    while isinstance(record, dict) and record.get("schema") == SCHEMA and record.get("version") in MIGRATIONS:
        record = MIGRATIONS[record["version"]](record)
    return record


def dumps(record: dict) -> str:
    return json.dumps(validate(record), indent=1, allow_nan=False)


def write_atomic(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` so that a reader sees the old file or the new one, never half of it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def save(record: dict, path: str | os.PathLike) -> Path:
    """Validate and write atomically."""
    return write_atomic(path, dumps(record).encode("utf-8"))


def _reject_constant(name):
    raise ValueError(f"{name} is not allowed in a run record")


def loads(text: str | bytes, source: str | None = None) -> dict:
    """Parse and validate (migrating an older version first); any failure is a RecordError."""
    try:
        record = json.loads(text, parse_constant=_reject_constant)
    except RecursionError:
        raise RecordError("not a run record (JSON nested too deeply)", source) from None
    except ValueError as e:  # also bad UTF-8
        raise RecordError(f"not valid JSON ({e})", source) from None
    try:
        return validate(migrate(record))
    except RecordError as e:
        raise RecordError(e.reason, source) from None
    except Exception as e:  # a shape no check foresaw must still not escape as a crash
        raise RecordError(f"not a usable run record ({type(e).__name__}: {e})", source) from None


def read_limited(path: Path, limit: int = MAX_BYTES) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes. Never blocks on a FIFO, never reads
    a device (a link to /dev/zero is not a record), never reads past the limit."""
    try:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode):
            raise RecordError("not a regular file", str(path))
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(fd, "rb") as f:
            if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):  # swapped since the check
                raise RecordError("not a regular file", str(path))
            data = f.read(limit + 1)
    except OSError as e:
        raise RecordError(f"cannot read ({e.strerror or e})", str(path)) from None
    if len(data) > limit:
        raise RecordError(f"larger than {limit // 2**20} MiB, not a run record", str(path))
    return data


def load(path: str | os.PathLike) -> dict:
    return loads(read_limited(Path(path)), str(path))


@dataclass
class Skipped:
    path: str  # the file; show only its name to visitors of a hosted copy
    reason: str  # what is wrong, without the path


_scan_cache: dict[Path, tuple[tuple, dict | RecordError]] = {}
_scan_lock = threading.Lock()


def _load_cached(path: Path) -> dict:
    """``load``, remembered by file identity, size and modification time: an unchanged file is
    read and validated once, however often the pages redraw. Callers must not modify the record."""
    try:
        st = os.stat(path)
        key = (st.st_ino, st.st_size, st.st_mtime_ns)
    except OSError:
        key = None
    with _scan_lock:
        hit = _scan_cache.get(path)
    if key is not None and hit is not None and hit[0] == key:
        outcome = hit[1]
    else:
        try:
            outcome = load(path)
        except RecordError as e:
            outcome = e
        if key is not None:
            with _scan_lock:
                _scan_cache[path] = (key, outcome)
    if isinstance(outcome, RecordError):
        raise outcome
    return outcome


def scan(*folders: str | os.PathLike) -> tuple[list[tuple[Path, dict]], list[Skipped]]:
    """Every ``*.json`` run record in ``folders``, newest first, and the files skipped with why.

    Nothing in one file can stop the others from being listed."""
    found, skipped = [], []
    for folder in folders:
        folder = Path(folder)
        try:
            paths = sorted(p for p in folder.glob("*.json") if p.name != "index.json") if folder.is_dir() else []
        except OSError as e:
            skipped.append(Skipped(str(folder), f"cannot list the folder ({e.strerror or e})"))
            continue
        for path in paths:
            try:
                found.append((path, _load_cached(path)))
            except RecordError as e:
                skipped.append(Skipped(str(path), e.reason))
            except Exception as e:  # never let one file break a page
                skipped.append(Skipped(str(path), f"{type(e).__name__}: {e}"))
    found.sort(key=lambda pr: pr[1]["created"], reverse=True)
    return found, skipped


def unwritable_reason(path: str | os.PathLike) -> str | None:
    """Why a record could not be saved at ``path`` (None: it can), found by trying, as saving would:
    create the folder, create a temporary file in it, remove it."""
    path = Path(path)
    if path.is_dir():
        return f"{path} is a folder; give a file name such as {path / 'run.json'}"
    existing = next((p for p in path.parents if p.exists()), None)
    if existing is not None and not existing.is_dir():
        return f"{existing} is a file, not a folder"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.close(fd)
        os.unlink(tmp)
    except OSError as e:
        return f"cannot write in {path.parent} ({e.strerror or e})"
    return None


# ---- building records (the engine fills in the measurements) -------------------------------------------


def new_id() -> str:
    """A record id: when it was made, and six random hex digits."""
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"


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
    record.update({k: _plain(v) for k, v in parts.items()})
    return validate(record)


def _plain(value):
    """Dataclasses (also inside lists) as the plain dicts that JSON stores."""
    if is_dataclass(value):
        return asdict(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def curves_csv(record: dict) -> str:
    """The training curves of a compare record as CSV (one row per stored point)."""
    lines = ["algorithm,iteration,time_s,loss,accuracy"]
    for name in ALGORITHMS:
        c = record["results"][name]["curve"]
        for row in zip(c["iteration"], c["time_s"], c["loss"], c["accuracy"]):
            lines.append(f"{name},{row[0]},{row[1]:.6g},{row[2]:.6g},{row[3]:.6g}")
    return "\n".join(lines) + "\n"
