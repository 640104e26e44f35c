"""The core's import graph: no cycle, and nothing imported from the framework glue (`integrations/`).

Every ``import`` statement of every module under ``reward_judge/`` counts: at module level, inside a
function (a lazy import is still a dependency) and under ``if TYPE_CHECKING:`` (a cycle of type-only
imports is still two modules that each need the other).
"""

from __future__ import annotations

import ast
from pathlib import Path

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


def test_core_import_graph_has_no_cycle():
    modules = core_modules()
    graph = {name: sorted(i for i in imports_of(name, path, modules) if i in modules and i != name)
             for name, path in modules.items()}
    # Tarjan's strongly connected components: any component of more than one module is a cycle
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
    assert cycles == [], f"import cycles in the core: {cycles}"


def test_the_walk_sees_real_edges():
    """The checker itself: it finds the edges a reader can see in the source (so an empty result means something)."""
    modules = core_modules()
    edges = imports_of("reward_judge.reward_model", modules["reward_judge.reward_model"], modules)
    assert {"reward_judge.pipeline", "reward_judge.requests", "reward_judge.scoring"} <= edges
    lazy = imports_of("reward_judge.reward_model", modules["reward_judge.reward_model"], modules)
    assert "reward_judge.backends.openai.backend" in lazy  # a function-level import counts too
