"""The import graph of the package is a DAG that follows the declared layers.

Every ``import`` in ``src/epochal`` counts — at module level, inside functions and under
``TYPE_CHECKING`` — because each of them is a dependency someone has to reason about. A
module may import modules of its own layer or of a lower one, never of a higher one, and
the graph of modules has no cycle. docs/ARCHITECTURE.md explains the layers.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "epochal"

# Lowest first. A module belongs to the first entry that is its name or a prefix of it.
LAYERS: list[tuple[str, ...]] = [
    ("epochal._devices", "epochal._io", "epochal._naming", "epochal._modes", "epochal._rng",
     "epochal._validation", "epochal._version", "epochal.logs"),
    ("epochal.activations", "epochal.initializers", "epochal.regularizers",
     "epochal.constraints", "epochal.layers", "epochal.losses", "epochal.metrics",
     "epochal.optimizers", "epochal.backend",
     "epochal.utils", "epochal.datasets", "epochal.plotting"),
    ("epochal.data",),
    ("epochal.distributed",),
    ("epochal.saving",),
    ("epochal.callbacks",),
    ("epochal.engine",),
    ("epochal.models",),
    ("epochal.cli", "epochal.__main__", "epochal"),
]  # fmt: skip


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}


def layer_of(module: str) -> int:
    best: tuple[int, int] | None = None  # (prefix length, layer)
    for index, names in enumerate(LAYERS):
        for name in names:
            matches = module == name or module.startswith(name + ".")
            if matches and (best is None or len(name) > best[0]):
                best = (len(name), index)
    if best is None:
        raise AssertionError(f"{module} is in no layer: add it to LAYERS and ARCHITECTURE.md")
    return best[1]


def resolve(importer: str, node: ast.ImportFrom) -> list[str]:
    base = node.module or ""
    if node.level:
        package = importer.split(".")
        if MODULES[importer].name != "__init__.py":
            package = package[:-1]
        package = package[: len(package) - node.level + 1]
        base = ".".join([*package, base] if base else package)
    targets = []
    for alias in node.names:
        candidate = f"{base}.{alias.name}"
        targets.append(candidate if candidate in MODULES else base)
    return targets


def imports_of(module: str) -> set[str]:
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            found.update(resolve(module, node))
    return {name for name in found if name == "epochal" or name.startswith("epochal.")}


GRAPH = {module: imports_of(module) - {module} for module in MODULES}


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    return sorted(
        f"{module} (layer {layer_of(module)}) imports {target} (layer {layer_of(target)})"
        for module, targets in graph.items()
        for target in targets
        if layer_of(target) > layer_of(module)
    )


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    visiting: list[str] = []
    done: set[str] = set()

    def visit(node: str) -> list[str] | None:
        if node in visiting:
            return [*visiting[visiting.index(node) :], node]
        if node in done:
            return None
        visiting.append(node)
        for target in sorted(graph.get(node, ())):
            cycle = visit(target)
            if cycle:
                return cycle
        visiting.pop()
        done.add(node)
        return None

    for start in sorted(graph):
        cycle = visit(start)
        if cycle:
            return cycle
    return None


def test_every_module_has_a_layer():
    for module in MODULES:
        layer_of(module)


def test_no_module_imports_a_higher_layer():
    assert upward_imports(GRAPH) == []


def test_the_import_graph_has_no_cycle():
    assert find_cycle(GRAPH) is None


def test_the_checks_catch_an_upward_import_and_a_cycle():
    # The same functions, on a graph with one planted violation each.
    planted = {**GRAPH, "epochal.callbacks.callback": {"epochal.models.model"}}
    assert upward_imports(planted) == [
        "epochal.callbacks.callback (layer 5) imports epochal.models.model (layer 7)"
    ]
    looped = {**GRAPH, "epochal.data.order": {"epochal.data.sources"}}
    assert find_cycle(looped) is not None


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [
        ("epochal.saving", "epochal.models"),  # saving sees models through `Saveable`
        ("epochal.callbacks", "epochal.models"),  # callbacks see `CallbackHost`
        ("epochal.callbacks", "epochal.engine"),
        ("epochal.engine", "epochal.models"),  # the loop reads a `Run`, not the facade
    ],
)
def test_the_declared_seams_hold(package, forbidden):
    offenders = sorted(
        f"{module} -> {target}"
        for module, targets in GRAPH.items()
        if module.startswith(package)
        for target in targets
        if target.startswith(forbidden)
    )
    assert offenders == []
