"""Which code determines a run's result, as digests of its syntax tree, so a stored run knows when its code changed.

A run records one digest per function, class or constant it went through (model, loop, batching, augmentation and
the constants they read), each of its syntax tree without docstrings, comments or type hints. A stored run whose
digests differ from today's code is stale: the sweep names the code that changed and trains the run again.
"""

from __future__ import annotations

import ast
import hashlib
import inspect
import sys
import textwrap
from collections.abc import Iterable
from typing import Any

# Names that are followed no further: they move files, pick devices or print, and never change a number.
NOT_RESULTS = frozenset({"select_device", "load_checkpoint", "save_checkpoint", "format_epoch", "_use_bar",
                         "TrainingDiverged", "MnistArrays", "RandomAffine"})  # RandomAffine: only for augmented runs


def _tree(obj: Any) -> ast.AST:
    """The syntax tree of `obj` without docstrings and annotations (neither changes what the code computes)."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(obj)))
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Module):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                    and isinstance(body[0].value.value, str):
                node.body = body[1:] or [ast.Pass()]
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            node.returns = None
        elif isinstance(node, ast.arg):
            node.annotation = None
        elif isinstance(node, ast.AnnAssign):
            node.annotation = ast.Constant(None)
    return tree


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def code_digests(roots: Iterable[Any]) -> dict[str, str]:
    """{qualified name: digest} for `roots` and every mnistlib function, class or UPPER_CASE constant they name."""
    digests: dict[str, str] = {}
    todo = list(roots)
    while todo:
        obj = todo.pop()
        name = f"{obj.__module__}.{obj.__qualname__}"
        if name in digests:
            continue
        tree = _tree(obj)
        digests[name] = _digest(ast.dump(tree))
        scope = vars(sys.modules[obj.__module__])
        if inspect.isclass(obj):
            todo += [base for base in obj.__mro__[1:] if base.__module__.startswith("mnistlib.")]
        for node in ast.walk(tree):
            if not isinstance(node, ast.Name) or node.id in NOT_RESULTS or node.id not in scope:
                continue
            found = scope[node.id]
            if (inspect.isfunction(found) or inspect.isclass(found)) and found.__module__.startswith("mnistlib."):
                todo.append(found)
            elif node.id.isupper() and isinstance(found, int | float | str | tuple | frozenset):
                digests[f"{obj.__module__}.{node.id}"] = _digest(repr(found))
    return dict(sorted(digests.items()))


def changed(recorded: dict[str, str] | None, current: dict[str, str]) -> list[str]:
    """The short names whose code differs between a run's record and today ([] when the run is current)."""
    if not recorded:
        return ["(no code record)"]
    names = sorted(set(recorded) | set(current))
    return [name.removeprefix("mnistlib.") for name in names if recorded.get(name) != current.get(name)]
