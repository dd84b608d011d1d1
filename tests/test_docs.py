"""The documentation stays true: every example on a page is either run by a test or says why it is not,
and the Python examples marked as run by this module run here."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from .conftest import ROOT

PAGES = sorted((ROOT / "docs").glob("*.md"))
FENCE = re.compile(r"^```")
MARK = re.compile(r"^<!-- (?:(?P<include>include \S+)|run: (?P<run>\S+)|not run: (?P<why>.+\S)) -->$")


def examples(page: Path) -> list[tuple[int, str, str]]:
    """(line, marker, code) of each fenced block; marker is the nearest non-blank line above it."""
    lines = page.read_text(encoding="utf-8").split("\n")
    found, start = [], None
    for number, line in enumerate(lines, 1):
        if not FENCE.match(line):
            continue
        if start is None:
            start = number
            continue
        above = next((lines[i].strip() for i in range(start - 2, -1, -1) if lines[i].strip()), "")
        found.append((start, above, "\n".join(lines[start:number - 1])))
        start = None
    return found


def test_there_are_pages_with_examples() -> None:
    assert len(PAGES) > 10
    assert sum(len(examples(page)) for page in PAGES) > 20


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_example_is_run_or_says_why_not(page: Path) -> None:
    unmarked = [f"{page.name}:{line}" for line, above, _ in examples(page) if not MARK.match(above)]
    assert not unmarked, "examples without <!-- run: TEST --> or <!-- not run: why -->: " + ", ".join(unmarked)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_the_tests_that_run_examples_exist(page: Path) -> None:
    for line, above, _ in examples(page):
        match = MARK.match(above)
        if not match or not match["run"]:
            continue
        path, _, name = match["run"].partition("::")
        source = ROOT / path
        assert source.is_file(), f"{page.name}:{line}: {path} does not exist"
        if name:
            defined = {n.name for n in ast.walk(ast.parse(source.read_text(encoding="utf-8"))) if isinstance(n, ast.FunctionDef)}
            assert name in defined, f"{page.name}:{line}: {path} has no {name}"


def runnable() -> list[tuple[str, str]]:
    return [
        (f"{page.name}:{line}", code)
        for page in PAGES
        for line, above, code in examples(page)
        if (m := MARK.match(above)) and m["run"] == "tests/test_docs.py"
    ]


@pytest.mark.parametrize(("where", "code"), runnable(), ids=[w for w, _ in runnable()])
def test_python_examples_run(where: str, code: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    exec(compile(code, where, "exec"), {"__name__": "docs_example"})  # the page's own example, with its own asserts
