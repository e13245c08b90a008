"""The house: floors only point down, and no two modules import each other.

Data flows one way (sources -> canonical frame -> features and labels -> model -> registry ->
service), so a module under ``features/`` or ``models/`` never imports ``training`` or
``serving``, and the project's modules form no import cycle. Both rules are read from the
source with ``ast``, every import counted (a function-level import is still a dependency: it
only hides the cycle until the function runs).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("features", "models", "training", "serving")
LOWER_FLOORS = ("features", "models")
HIGHER_FLOORS = ("training", "serving")


def module_name(path: Path) -> str:
    """``features/store.py`` -> ``features.store``; a package's ``__init__`` is the package."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_modules() -> dict[str, Path]:
    """Every module of the four packages, by dotted name."""
    return {
        module_name(path): path
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
    }


def imported_names(path: Path, name: str) -> Iterator[tuple[str, int]]:
    """``(dotted name, line)`` of every import in a module, relative imports resolved."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            yield base, node.lineno
            for alias in node.names:  # `from serving import radar_metrics` names a module
                yield f"{base}.{alias.name}", node.lineno


def project_imports(modules: dict[str, Path]) -> dict[str, dict[str, int]]:
    """For each module, the project modules it imports (resolved to a known module) and where."""
    graph: dict[str, dict[str, int]] = {}
    for name, path in modules.items():
        edges: dict[str, int] = {}
        for target, line in imported_names(path, name):
            if target.split(".")[0] not in PACKAGES:
                continue
            while target and target not in modules:  # `features.store.MarketStore` -> module
                target = target.rpartition(".")[0]
            if target and target != name:
                edges.setdefault(target, line)
        graph[name] = edges
    return graph


def cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, {}):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


# Package __init__ modules re-export their submodules; `features` importing
# `features.store` is the package exposing its own room, not a floor or a cycle.
def _without_package_reexports(graph: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
    return {
        name: {t: line for t, line in edges.items() if not t.startswith(name + ".")}
        for name, edges in graph.items()
    }


@pytest.fixture(scope="module")
def graph() -> dict[str, dict[str, int]]:
    return _without_package_reexports(project_imports(project_modules()))


def test_lower_floors_never_import_training_or_serving(graph) -> None:
    modules = project_modules()
    wrong = [
        f"{modules[name].relative_to(ROOT)}:{line} imports {target}"
        for name, edges in sorted(graph.items())
        if name.split(".")[0] in LOWER_FLOORS
        for target, line in sorted(edges.items())
        if target.split(".")[0] in HIGHER_FLOORS
    ]
    assert not wrong, "a lower floor imports a higher one:\n" + "\n".join(wrong)


def test_no_import_cycle_among_the_projects_modules(graph) -> None:
    found = cycles(graph)
    lines = []
    for component in found:
        members = set(component)
        lines.append(
            " <-> ".join(component)
            + ": "
            + "; ".join(
                f"{a} imports {b} (line {graph[a][b]})"
                for a in component
                for b in sorted(graph[a])
                if b in members
            )
        )
    assert not found, "import cycles:\n" + "\n".join(lines)


def test_the_checker_sees_a_floor_violation_and_a_cycle(tmp_path) -> None:
    """The rules above can fail: a hand-made upward import and a two-module cycle are found."""
    graph = {
        "features.a": {"serving.b": 3},
        "serving.b": {"serving.c": 1},
        "serving.c": {"serving.b": 7},
    }
    assert cycles(graph) == [["serving.b", "serving.c"]]
    source = tmp_path / "m.py"
    source.write_text("def f():\n    from serving import radar_metrics\n")
    assert ("serving.radar_metrics", 2) in list(imported_names(source, "features.m"))
