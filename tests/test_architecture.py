"""The layout cannot erode: imports run one way through the stages, and no module imports itself
back through others. Read with the stdlib ``ast``; nothing is imported or run.

Every import counts: module level, inside functions (the lazy imports that keep ``--help`` fast)
and under ``TYPE_CHECKING``, since a type-only import still ties two modules together.
"""

from __future__ import annotations

import ast
from collections.abc import Collection, Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "maa_guard"

LEAVES = frozenset({"errors", "model"})
FOUNDATION = LEAVES | {"storage", "snapshot", "workloads", "catalogue", "config"}
EVALUATION = FOUNDATION | {"exclusions", "evaluate", "checks"}
PIPELINE = EVALUATION | {"collect", "gate", "reporters", "scan"}

# What each stage may import besides itself (docs/architecture.md explains the order).
ALLOWED: dict[str, frozenset[str]] = {
    "errors": frozenset(),
    "model": frozenset(),
    "storage": frozenset({"errors"}),
    "snapshot": LEAVES,
    "workloads": frozenset({"snapshot"}),
    "catalogue": LEAVES | {"storage", "snapshot"},
    "config": LEAVES | {"storage", "catalogue", "workloads"},
    "exclusions": FOUNDATION,
    "emulator": LEAVES | {"snapshot"},
    "collect": FOUNDATION | {"exclusions"},
    "checks": EVALUATION,
    "evaluate": EVALUATION,
    "gate": LEAVES | {"evaluate"},
    "reporters": EVALUATION | {"gate"},
    "scan": PIPELINE | {"emulator"},
    "approval": PIPELINE - {"scan"},
    "history": PIPELINE - {"scan"},
    "impact": PIPELINE - {"scan"},
    "review": PIPELINE,
    "exclusion-workflows": PIPELINE | {"review"},
    "fleet": PIPELINE,
    "watch": PIPELINE,
    "probe": FOUNDATION | {"collect", "reporters"},
    "cli": frozenset(),  # may import everything: it is the top
    "maa_guard": frozenset({"cli"}),  # the package itself and __main__
}
EXCLUSION_WORKFLOWS = frozenset({"export", "draft", "draft_build", "draft_render"})
MAX_TOP_LEVEL_ENTRIES = 26


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def stage_of(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1 or parts[1] == "__main__":
        return "maa_guard"
    if parts[1] == "exclusions" and len(parts) > 2 and parts[2] in EXCLUSION_WORKFLOWS:
        return "exclusion-workflows"
    return parts[1]


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def imported(path: Path, module: str, known: Collection[str]) -> Iterator[tuple[int, str]]:
    """(line, module) for every maa_guard module the file imports, wherever the import stands.

    ``from maa_guard.x import y`` imports the submodule ``maa_guard.x.y`` when there is one, and
    otherwise a name of ``maa_guard.x``."""
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from ((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node, module, is_package)
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                yield node.lineno, submodule if submodule in known else base


def _absolute(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    parts = module.split(".")
    base = parts if is_package else parts[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def import_graph() -> dict[str, dict[str, int]]:
    """module -> {imported maa_guard module: first line}. The package's own ``__init__`` holds only
    the version, so importing it ties nothing together."""
    known = modules()
    graph: dict[str, dict[str, int]] = {}
    for module, path in known.items():
        edges: dict[str, int] = {}
        for line, target in imported(path, module, known):
            if target in known and target not in (module, "maa_guard"):
                edges.setdefault(target, line)
        graph[module] = edges
    return graph


def cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(graph[root]))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
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
            elif child not in index:
                index[child] = low[child] = len(index)
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(graph[child])))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return found


def violations(graph: dict[str, dict[str, int]]) -> list[str]:
    found = []
    for module, edges in graph.items():
        stage = stage_of(module)
        allowed = ALLOWED[stage]
        for target, line in edges.items():
            target_stage = stage_of(target)
            if target_stage == stage or stage == "cli":
                continue
            if target_stage not in allowed:
                found.append(f"{module}:{line} ({stage}) imports {target} ({target_stage})")
    return sorted(found)


def test_every_stage_has_a_rule() -> None:
    stages = {stage_of(module) for module in modules()}
    assert stages - set(ALLOWED) == set()


def test_imports_run_one_way_through_the_stages() -> None:
    assert violations(import_graph()) == []


def test_no_module_imports_itself_back() -> None:
    assert cycles(import_graph()) == []


def test_only_the_command_line_and_the_demo_start_the_emulator() -> None:
    graph = import_graph()
    importers = {
        module
        for module, edges in graph.items()
        if stage_of(module) != "emulator" and any(stage_of(t) == "emulator" for t in edges)
    }
    assert importers <= {"maa_guard.scan.served"} | {m for m in graph if stage_of(m) == "cli"}


def test_nothing_imports_the_command_line() -> None:
    graph = import_graph()
    importers = {
        module
        for module, edges in graph.items()
        if stage_of(module) not in ("cli", "maa_guard")
        and any(stage_of(target) == "cli" for target in edges)
    }
    assert importers == set()


def test_the_top_of_the_package_stays_small() -> None:
    entries = [p.name for p in PACKAGE.iterdir() if p.name != "__pycache__"]
    assert len(entries) <= MAX_TOP_LEVEL_ENTRIES, sorted(entries)


def test_every_package_says_what_it_does() -> None:
    undocumented = [
        module_name(init)
        for init in PACKAGE.rglob("__init__.py")
        if not ast.get_docstring(ast.parse(init.read_text(encoding="utf-8")))
    ]
    assert undocumented == []


# The checker itself must catch what it is for.


def test_the_checker_sees_an_import_against_the_direction() -> None:
    graph = {
        "maa_guard.reporters.table": {"maa_guard.collect.graph": 7},
        "maa_guard.snapshot.model": {"maa_guard.cli.options": 3},
        "maa_guard.checks.requests": {"maa_guard.evaluate.context": 1},
    }
    assert violations(graph) == [
        "maa_guard.reporters.table:7 (reporters) imports maa_guard.collect.graph (collect)",
        "maa_guard.snapshot.model:3 (snapshot) imports maa_guard.cli.options (cli)",
    ]


def test_the_checker_sees_a_circle_through_a_type_only_import(tmp_path: Path) -> None:
    source = tmp_path / "maa_guard" / "approval"
    source.mkdir(parents=True)
    (source / "errors.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from maa_guard.approval.classify import Classification\n"
    )
    known = {"maa_guard.approval.errors", "maa_guard.approval.classify"}
    edges = list(imported(source / "errors.py", "maa_guard.approval.errors", known))
    assert (3, "maa_guard.approval.classify") in edges
    graph = {
        "maa_guard.approval.errors": {"maa_guard.approval.classify": 3},
        "maa_guard.approval.classify": {"maa_guard.approval.justification": 1},
        "maa_guard.approval.justification": {"maa_guard.approval.errors": 1},
        "maa_guard.approval.model": {},
    }
    assert cycles(graph) == [
        [
            "maa_guard.approval.classify",
            "maa_guard.approval.errors",
            "maa_guard.approval.justification",
        ]
    ]


@pytest.mark.parametrize(
    ("module", "stage"),
    [
        ("maa_guard", "maa_guard"),
        ("maa_guard.__main__", "maa_guard"),
        ("maa_guard.exclusions", "exclusions"),
        ("maa_guard.exclusions.provenance", "exclusions"),
        ("maa_guard.exclusions.draft_build", "exclusion-workflows"),
        ("maa_guard.cli.scan", "cli"),
        ("maa_guard.config", "config"),
    ],
)
def test_stage_of(module: str, stage: str) -> None:
    assert stage_of(module) == stage
