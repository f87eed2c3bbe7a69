"""The engine's own source, read from its files (no import, so no torch): the theory page shows
exactly the code that runs, so it can never drift from it."""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent


def function_source(module: str, name: str) -> str:
    """Source text of function ``name`` in module ``module`` of this package, e.g. "engine.meta"; a method as
    "Class.method" (a module may be a package's ``__init__``)."""
    path = PACKAGE / module.replace(".", "/")
    path = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
    text = path.read_text(encoding="utf-8")
    body = ast.parse(text).body
    *owners, last = name.split(".")
    for owner in owners:
        body = next((n.body for n in body if isinstance(n, ast.ClassDef) and n.name == owner), [])
    for node in body:
        if isinstance(node, ast.FunctionDef) and node.name == last:
            return textwrap.dedent(ast.get_source_segment(text, node, padded=True))
    raise KeyError(f"{module}.{name}: no such function")
