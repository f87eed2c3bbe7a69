"""Records on disk: atomic writes, bounded reads, validated loads, the scan of a runs folder.

A reader sees the old file or the new one, never half of one; a load never reads a FIFO or a device,
never past 50 MiB, and raises ``RecordError`` naming the file and the field. No torch.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from .migrate import migrate
from .schema import MAX_BYTES, RecordError
from .validate import validate


@contextlib.contextmanager
def atomic_writer(path: str | os.PathLike):
    """A binary file to write ``path`` through: it replaces ``path`` only once closed without an error
    (written to a temporary file in the same folder, synced, renamed). The one atomic write of the package."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_atomic(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` so that a reader sees the old file or the new one, never half of it."""
    with atomic_writer(path) as f:
        f.write(data)
    return Path(path)


def dumps(record: dict) -> str:
    return json.dumps(validate(record), indent=1, allow_nan=False)


def save(record: dict, path: str | os.PathLike) -> Path:
    """Validate and write atomically."""
    return write_atomic(path, dumps(record).encode("utf-8"))


def save_run(record: dict, files: dict[str, bytes], path: str | os.PathLike) -> Path:
    """A run record and the files it names (its networks), written beside each other as one unit: the files
    first, then the record. If any write fails, the files already written are removed and the error raised:
    no record ever names a missing file, and no file is left without its record."""
    path = Path(path)
    written = []
    try:
        for name, data in files.items():
            written.append(write_atomic(path.parent / name, data))
        save(record, path)
    except BaseException:
        for f in written:
            f.unlink(missing_ok=True)
        raise
    return path


FALLBACK = "mamlviz-unsaved"  # the folder under the system's temporary folder where unsaveable runs go


def fallback_path(path: str | os.PathLike) -> Path:
    return Path(tempfile.gettempdir()) / FALLBACK / Path(path).name


def save_run_somewhere(
    record: dict, files: dict[str, bytes], path: str | os.PathLike
) -> tuple[Path | None, str | None]:
    """``save_run`` at ``path``, else (a full disk, a folder gone) in the system's temporary folder.
    Returns where the run went (None: nowhere, keep it in memory) and why not at ``path`` (None: it is there)."""
    path = Path(path)
    try:
        return save_run(record, files, path), None
    except OSError as e:
        why = f"could not write {path.name} in {path.parent} ({e.strerror or e})"
    fallback = fallback_path(path)
    try:
        return save_run(record, files, fallback), f"{why}; saved in {fallback.parent} instead"
    except OSError as e:
        return None, f"{why}, nor in {fallback.parent} ({e.strerror or e}): it is not saved anywhere"


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
