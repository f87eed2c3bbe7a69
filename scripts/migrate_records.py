"""Rewrite run records in the current schema version, measured values untouched.

    python scripts/migrate_records.py [FOLDER_OR_FILE ...]      (default: cached_runs/)

Loading already migrates in memory (``mamlviz.records.migrate``); this writes the result back,
atomically, so shipped records need no migration at every start. Files already current are left
alone; a file that cannot be migrated is reported and left as it was.
"""

import json
import sys
from pathlib import Path

from mamlviz import paths, records


def migrate_file(path: Path) -> str:
    raw = json.loads(path.read_text(encoding="utf-8"))
    if raw.get("version") == records.VERSION:
        return "current"
    before = raw.get("version")
    records.save(records.validate(records.migrate(raw)), path)
    return f"version {before} -> {records.VERSION}"


def main(args: list[str]) -> int:
    targets = [Path(a) for a in args] or [paths.CACHED_RUNS]
    files = [f for t in targets for f in (sorted(t.glob("*.json")) if t.is_dir() else [t]) if f.name != "index.json"]
    failed = 0
    for f in files:
        try:
            print(f"{f}: {migrate_file(f)}")
        except (OSError, ValueError) as e:
            failed += 1
            print(f"{f}: not migrated ({e})", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
