"""The package tree is the architecture: no import cycles, and the layers import downwards.

Modules import each other only at the top of a file or inside functions; both count here (a
function-level import is still a dependency). The graph is read from the source with ``ast``,
so the test needs nothing imported.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("twin", "services", "benchmarks")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for pkg in PACKAGES for p in sorted((REPO / pkg).rglob("*.py"))}
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*up, base] if base else up)
                targets = [f"{base}.{a.name}" for a in node.names] + [base]
            for target in targets:
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target and target != name and not name.startswith(target + "."):
                    graph[name].add(target)
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_no_import_cycles() -> None:
    cycle = _cycle(_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def _imports(importer: str, forbidden: Callable[[str], bool]) -> list[str]:
    """``name -> dep`` edges from modules under ``importer`` to modules ``forbidden`` names."""
    return sorted(
        f"{name} -> {dep}"
        for name, deps in _graph().items()
        if name.startswith(importer)
        for dep in deps
        if forbidden(dep)
    )


def test_the_core_never_imports_the_services() -> None:
    assert _imports("twin", lambda dep: not dep.startswith("twin")) == []


def test_physics_knows_nothing_of_events_or_the_simulation() -> None:
    forbidden = ("twin.sim", "twin.projections", "twin.events")
    assert _imports("twin.physics", lambda dep: dep.startswith(forbidden)) == []
