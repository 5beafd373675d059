"""The layout's rules, read from the code itself: no import cycles, and the core runs without Dagster."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "eur_pipeline"
# The Dagster layer: the definitions, their folder, and the in-process runner behind `eur-pipeline run`.
DAGSTER_LAYER = ("eur_pipeline.defs", "eur_pipeline.definitions", "eur_pipeline.runner")
# The applications on top, which may run the pipeline through Dagster: the command line and the demo.
ENTRY_POINTS = ("eur_pipeline.cli", "eur_pipeline.demo.run")


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def _imports(path: Path, name: str, is_package: bool) -> set[str]:
    """Every module this one imports, at the top or inside a function (a lazy import still couples);
    imports under ``if TYPE_CHECKING:`` are for type checkers only and never run."""
    out: set[str] = set()
    tree = ast.parse(path.read_text(encoding="utf-8"))
    typing_only = {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"
        for inner in ast.walk(node)
    }
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            out |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            out.add(module)
            out |= {f"{module}.{alias.name}" for alias in node.names}
    return out


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {
        name: {m for m in _imports(path, name, path.name == "__init__.py") if m in modules and m != name}
        for name, path in modules.items()
    }


def test_the_package_has_no_import_cycles() -> None:
    graph = _graph()
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append([*stack[stack.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt, [*stack, nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_only_the_dagster_layer_imports_dagster() -> None:
    modules = _modules()
    offenders = sorted(
        name
        for name, path in modules.items()
        if not name.startswith(DAGSTER_LAYER)
        and any(m == "dagster" or m.startswith("dagster.") for m in _imports(path, name, path.name == "__init__.py"))
    )
    assert offenders == [], f"core modules importing dagster: {offenders}"


def test_the_core_never_reaches_up_into_the_dagster_layer() -> None:
    graph = _graph()
    offenders = sorted(
        f"{name} -> {dep}"
        for name, deps in graph.items()
        if not name.startswith(DAGSTER_LAYER)
        for dep in deps
        if dep.startswith(DAGSTER_LAYER) and name not in ENTRY_POINTS
    )
    assert offenders == [], offenders
