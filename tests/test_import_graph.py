"""The core's modules import each other one way only: no cycle, not even through a
function-level import or one under `if TYPE_CHECKING:`.

The imports are read from the source with `ast` (nothing is imported), so a cycle that
a lazy import hides from Python is still one here.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

CORE = Path(__file__).resolve().parent.parent / "core"
PACKAGE = CORE / "gbatch"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(CORE).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def imported(path: Path, name: str, known: set[str]) -> set[str]:
    """The gbatch modules `path` imports anywhere in its body (at the top, in a function, under a condition)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            # `from . import hookspecs` imports a module; `from ._tool import Plan` a name of one
            submodules = {f"{base}.{alias.name}" for alias in node.names} & known
            found.update(submodules or {base})
    return {m for m in found if m in known and m != name}


def graph() -> dict[str, set[str]]:
    found = modules()
    return {name: imported(path, name, set(found)) for name, path in found.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(edges.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return groups


def core_graph() -> dict[str, set[str]]:
    # The package's own __init__ is the public face: it imports every room (and Python runs it
    # before any of them), so it is left out; the rooms themselves must not go round in circles.
    edges = graph()
    return {name: targets - {"gbatch"} for name, targets in edges.items() if name != "gbatch"}


def test_no_import_cycle_among_core_modules() -> None:
    assert cycles(core_graph()) == []


def test_the_cluster_and_the_runner_share_the_row_one_floor_down() -> None:
    edges = core_graph()
    assert "gbatch._row" in edges["gbatch._cluster"] and "gbatch._row" in edges["gbatch._runner"]
    assert "gbatch._runner" not in edges["gbatch._cluster"]


@pytest.mark.parametrize(
    ("edges", "expected"),
    [
        ({"a": {"b"}, "b": {"a"}}, [["a", "b"]]),
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}, [["a", "b", "c"]]),
        ({"a": {"b"}, "b": set()}, []),
    ],
)
def test_the_cycle_finder_finds_cycles(edges: dict[str, set[str]], expected: list[list[str]]) -> None:
    assert cycles(edges) == expected


def test_imports_are_read_from_functions_and_type_checking_blocks(tmp_path: Path) -> None:
    source = tmp_path / "gbatch" / "_x.py"
    source.parent.mkdir()
    source.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ._a import A\n\ndef f():\n    from . import _b\n    import gbatch._c\n")
    known = {"gbatch._a", "gbatch._b", "gbatch._c", "gbatch._x"}
    assert imported(source, "gbatch._x", known) == {"gbatch._a", "gbatch._b", "gbatch._c"}
