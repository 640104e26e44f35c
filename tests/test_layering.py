"""The core's import graph: no cycle between modules nor between packages, and nothing from the framework glue.

Every ``import`` statement of every module under ``reward_judge/`` counts: at module level, inside a
function (a lazy import is still a dependency) and under ``if TYPE_CHECKING:`` (a cycle of type-only
imports is still two modules that each need the other). At the package level each subpackage and each
top-level module of ``reward_judge/`` is one unit.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[1]
CORE = ROOT / "reward_judge"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def core_modules() -> dict[str, Path]:
    return {module_name(p): p for p in CORE.rglob("*.py")}


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The modules ``name`` imports (absolute names), resolving relative imports and ``from pkg import module``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.add(target)
            for alias in node.names:  # `from . import backends` imports a module, not a name
                if f"{target}.{alias.name}" in modules:
                    found.add(f"{target}.{alias.name}")
    return found


def test_core_never_imports_the_framework_glue():
    modules = core_modules()
    offenders = {
        name: sorted(i for i in imports_of(name, path, modules)
                     if i == "integrations" or i.startswith(("integrations.", "reward_judge.integrations")))
        for name, path in modules.items()
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def unit_of(module: str) -> str:
    """The package-level unit of a core module: ``reward_judge.scoring.base`` -> ``scoring``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "reward_judge"


def unit_graph() -> dict[str, set[str]]:
    modules = core_modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        unit = unit_of(name)
        graph.setdefault(unit, set())
        for target in imports_of(name, path, modules):
            if target.startswith("reward_judge") and not target.startswith("reward_judge.integrations"):
                other = unit_of(target)
                if other != unit:
                    graph[unit].add(other)
    return graph


def cycles_of(graph: dict[str, list[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components: any component of more than one node is a cycle."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    return cycles


def test_core_import_graph_has_no_cycle():
    modules = core_modules()
    graph = {name: sorted(i for i in imports_of(name, path, modules) if i in modules and i != name)
             for name, path in modules.items()}
    assert cycles_of(graph) == [], f"import cycles in the core: {cycles_of(graph)}"


def test_core_packages_have_no_cycle():
    """Each subpackage and each top-level module is one unit; the units form no cycle."""
    graph = {unit: sorted(targets) for unit, targets in unit_graph().items()}
    assert cycles_of(graph) == [], f"package-level import cycles in the core: {cycles_of(graph)}"
    assert "reward_judge" not in {t for targets in graph.values() for t in targets}, \
        "a core module imports the package root (reward_judge/__init__.py), which imports everything"


def test_verdict_types_sit_below_their_users():
    """`Verdict`, `Judgment` and `Outcome` import nothing of the package; every stage that uses them imports them."""
    graph = unit_graph()
    assert graph["verdicts"] == set()
    users = {unit for unit, targets in graph.items() if "verdicts" in targets}
    assert {"protocols", "scoring", "runner", "isolation", "groups", "rewarding", "result"} <= users


def test_backends_get_a_narrow_context():
    """Backends import neither the configuration nor the presets, nor any stage above them."""
    graph = unit_graph()
    assert graph["backends"] <= {"judge_input", "special_tokens", "options", "verdicts", "textsafe", "extras"}, graph["backends"]


def test_groups_own_their_options():
    """The group layer never reads the whole `JudgeConfig`; its options class lives in it."""
    graph = unit_graph()
    assert "config" not in graph["groups"] and "groups" in graph["config"]
    assert "config" not in graph["scoring"] and "config" not in graph["runner"]


def test_the_walk_sees_real_edges():
    """The checker itself: it finds the edges a reader can see in the source (so an empty result means something)."""
    modules = core_modules()
    edges = imports_of("reward_judge.reward_model", modules["reward_judge.reward_model"], modules)
    assert {"reward_judge.runner", "reward_judge.rendering", "reward_judge.scoring"} <= edges
    lazy = imports_of("reward_judge.judges", modules["reward_judge.judges"], modules)
    assert "reward_judge.backends.transformers.backend" in lazy  # a function-level import counts too
    typed = imports_of("reward_judge.judges", modules["reward_judge.judges"], modules)
    assert "reward_judge.config" in typed  # and so does one under TYPE_CHECKING
