"""The engine's own source, read from its files (no import, so no torch): the theory page shows
exactly the code that runs, so it can never drift from it."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent


def function_source(module: str, name: str) -> str:
    """Source text of top-level function ``name`` in module ``module`` of this package, e.g. "engine.meta"."""
    text = (PACKAGE / (module.replace(".", "/") + ".py")).read_text(encoding="utf-8")
    for node in ast.parse(text).body:
        if isinstance(node, ast.FunctionDef) and node.name == name:
            return ast.get_source_segment(text, node)
    raise KeyError(f"{module}.{name}: no such function")
