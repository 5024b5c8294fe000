"""The packages' shape: no import cycle inside mnistlib (function-level imports included); mnistfiles imports nothing
of mnistlib or mnistreport."""

from __future__ import annotations

import ast
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "mnistlib"


def import_graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    """Module -> the package modules it imports anywhere in its body (`from mnistlib import x` counts as x)."""
    modules = {}
    for path in package.rglob("*.py"):
        parts = path.relative_to(package.parent).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "mnistlib":
                submodules = {f"{node.module}.{alias.name}" for alias in node.names} & modules.keys()
                graph[name] |= submodules
                if len(submodules) < len(node.names):
                    graph[name].add(node.module)
            elif isinstance(node, ast.Import):
                graph[name] |= {alias.name for alias in node.names} & modules.keys()
    return graph


def cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import cycle of the graph, or [] when there is none."""
    try:
        list(TopologicalSorter(graph).static_order())
    except CycleError as exc:
        return list(exc.args[1])
    return []


def test_the_package_has_no_import_cycle():
    graph = import_graph()
    assert {"mnistlib.training", "mnistlib.data.batches", "mnistlib.experiments"} <= graph.keys()
    assert "mnistlib.data" in graph["mnistlib.training"]
    assert cycle(graph) == []


def test_a_function_level_import_that_closes_a_cycle_is_found(tmp_path: Path):
    package = tmp_path / "mnistlib"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from mnistlib.b import thing\n")
    (package / "b.py").write_text("def thing():\n    from mnistlib import a\n    return a\n")
    assert sorted(set(cycle(import_graph(package)))) == ["mnistlib.a", "mnistlib.b"]


def test_the_file_layer_imports_nothing_of_the_study_or_the_publisher():
    """mnistfiles sits below mnistlib (which reads the data through it): an import back would make a package cycle."""
    for path in (PACKAGE.parent / "mnistfiles").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([node.module or ""] if isinstance(node, ast.ImportFrom)
                     else [alias.name for alias in node.names] if isinstance(node, ast.Import) else [])
            assert not [name for name in names if name.split(".")[0] in ("mnistlib", "mnistreport")], path
