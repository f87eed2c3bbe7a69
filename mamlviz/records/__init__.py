"""The run record: the one contract between engine, CLI, cached runs and UI.

A record is plain JSON (never pickle). ``schema`` declares its parts once, as dataclasses, and derives
the JSON Schema every load is checked against; ``validate`` checks it; ``migrate`` brings older
versions up; ``store`` writes atomically and reads with bounds; ``build`` makes new ones. No torch.
"""

from .build import new_id, new_record, plain
from .migrate import MIGRATIONS, migrate
from .schema import (
    EXECUTORS,
    KINDS,
    LAUNCHERS,
    MAX_BYTES,
    RUN_STATES,
    SCHEMA,
    STATUSES,
    STUDY_STATISTICS,
    STUDY_STATUSES,
    VERSION,
    Agreement,
    AlgorithmResult,
    AlignmentCurve,
    CompareRecord,
    CompareSetup,
    Curve,
    Environment,
    Evaluation,
    ParamsFile,
    Protocol,
    RecordError,
    Setup,
    Stat,
    StudyProtocol,
    StudyRecord,
    StudyRun,
    StudySetting,
    StudySetup,
    SweepPoint,
    SweepProtocol,
    SweepRecord,
    ValidationCurve,
    VariantStats,
    Versus,
    decimate,
    finite,
    schema_of,
)
from .store import (
    Skipped,
    atomic_writer,
    dumps,
    fallback_path,
    load,
    loads,
    read_limited,
    save,
    save_run,
    save_run_somewhere,
    scan,
    unwritable_reason,
    write_atomic,
)
from .validate import validate

__all__ = [
    "EXECUTORS", "KINDS", "LAUNCHERS", "MAX_BYTES", "MIGRATIONS", "RUN_STATES", "SCHEMA", "STATUSES",
    "STUDY_STATISTICS", "STUDY_STATUSES", "VERSION", "Agreement", "AlgorithmResult", "AlignmentCurve",
    "CompareRecord", "CompareSetup",
    "Curve", "Environment", "Evaluation", "ParamsFile", "Protocol", "RecordError", "Setup", "Skipped", "Stat",
    "StudyProtocol", "StudyRecord", "StudyRun", "StudySetting", "StudySetup", "SweepPoint", "SweepProtocol",
    "SweepRecord", "ValidationCurve",
    "VariantStats", "Versus", "atomic_writer", "decimate", "dumps", "finite", "load", "loads",
    "migrate", "new_id", "new_record", "plain", "read_limited", "save", "save_run", "save_run_somewhere",
    "fallback_path", "scan", "schema_of", "unwritable_reason",
    "validate", "write_atomic",
]  # fmt: skip
