"""The package's shape: every module imports on its own, and the import graph has no cycle."""

import ast
import concurrent.futures
import os
import subprocess
import sys

from conftest import ROOT

PACKAGE = ROOT / "mamlviz"


def modules() -> list[str]:
    """Every module of the package, dotted (not __main__, which runs the CLI)."""
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "__main__.py":
            continue
        parts = path.relative_to(ROOT).with_suffix("").parts
        out.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return out


def _resolve(module: str, is_package: bool, node: ast.ImportFrom | ast.Import) -> list[str]:
    """The package modules an import statement names (``from . import x`` names module x when it is one)."""
    known = set(modules())
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name in known]
    base = module.split(".") if is_package else module.split(".")[:-1]
    if node.level:
        base = base[: len(base) - (node.level - 1)]
        target = ".".join(base + ([node.module] if node.module else []))
    else:
        target = node.module or ""
    names = [f"{target}.{a.name}" for a in node.names if f"{target}.{a.name}" in known]
    return names or ([target] if target in known else [])


def import_graph() -> dict[str, set[str]]:
    """module -> the package modules it imports, anywhere in it (at the top or inside a function)."""
    graph = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        is_package = parts[-1] == "__init__"
        module = ".".join(parts[:-1] if is_package else parts)
        edges = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                edges.update(_resolve(module, is_package, node))
        graph[module] = edges - {module}
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state, stack = {}, []

    def visit(m):
        state[m] = "open"
        stack.append(m)
        for n in sorted(graph.get(m, ())):
            if state.get(n) == "open":
                return stack[stack.index(n) :] + [n]
            if n not in state and (found := visit(n)):
                return found
        state[m] = "done"
        stack.pop()
        return None

    for m in sorted(graph):
        if m not in state and (found := visit(m)):
            return found
    return None


def test_the_package_import_graph_has_no_cycle():
    graph = import_graph()
    assert "mamlviz.report" in graph["mamlviz.cli"] or any("report" in e for e in graph["mamlviz.cli"])
    assert {"mamlviz.variants", "mamlviz.records", "mamlviz.analysis.compare"} <= set(graph)
    cycle = _cycle(graph)
    assert cycle is None, " -> ".join(cycle)


def test_the_cycle_finder_finds_a_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_every_module_imports_on_its_own_in_a_fresh_interpreter():
    code = (
        "import importlib, sys\n"
        "failed = []\n"
        "for name in sys.argv[1:]:\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "    except Exception as e:\n"
        "        failed.append(f'{name}: {type(e).__name__}: {e}')\n"
        "print('\\n'.join(failed) or 'ok')\n"
    )

    def fresh(name):  # one interpreter each: nothing imported before it can hide a missing import
        return subprocess.run([sys.executable, "-c", code, name], cwd=ROOT, capture_output=True, text=True, timeout=120)

    with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:  # as many as cores
        for r in pool.map(fresh, modules()):
            assert r.stdout.strip() == "ok", r.stdout + r.stderr


def test_the_ui_modules_name_no_streamlit():
    graph = import_graph()
    for path in PACKAGE.rglob("*.py"):
        assert "import streamlit" not in path.read_text(), path
    assert graph  # views/ is the only UI code
