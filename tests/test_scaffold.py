"""`gbatch new-plugin`: the package it writes passes its own tests and ruff, as written."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

import gbatch
from gbatch._scaffold import BUILTIN_COMMANDS, new_plugin, new_plugin_main
from gbatch.cli import build_app

from .test_example_plugins import install_plugin, listed_plugins, run_plugin_tests


@pytest.fixture(scope="module")
def scaffold(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return new_plugin("my-tts", tmp_path_factory.mktemp("scaffold"))


def test_it_writes_a_complete_package(scaffold: Path) -> None:
    assert scaffold.name == "gbatch-my-tts"
    files = sorted(str(p.relative_to(scaffold)) for p in scaffold.rglob("*") if p.is_file())
    assert files == ["README.md", "gbatch_my_tts/__init__.py", "pyproject.toml", "tests/test_my_tts.py"]
    pyproject = (scaffold / "pyproject.toml").read_text(encoding="utf-8")
    assert '[project.entry-points.gbatch]\nmy-tts = "gbatch_my_tts"\n' in pyproject
    assert 'filterwarnings = [\n    "error",' in pyproject  # warnings are errors in its tests, as in gbatch's
    for path in scaffold.rglob("*.*"):
        assert "{{" not in path.read_text(encoding="utf-8"), path


@pytest.mark.slow
def test_the_package_passes_its_own_tests(scaffold: Path, tmp_path: Path) -> None:
    done = run_plugin_tests(scaffold, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 passed" in done.stdout


def test_the_package_is_clean_for_ruff(scaffold: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "."], cwd=scaffold, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.slow
def test_installed_it_is_found_by_its_entry_point(scaffold: Path, tmp_path: Path) -> None:
    install_plugin(scaffold, tmp_path / "site")
    plugin = listed_plugins(tmp_path / "site", tmp_path)["my-tts"]
    assert (plugin["distribution"], plugin["tools"], plugin["error"]) == ("gbatch-my-tts", ["my-tts"], None)


def test_the_command_says_what_to_do_next(tmp_path: Path) -> None:
    shown = io.StringIO()
    assert new_plugin_main("tts", tmp_path, Console(file=shown, width=200)) == 0
    text = shown.getvalue()
    assert f"Created {tmp_path / 'gbatch-tts'}/, a plugin for `gbatch tts`:" in text
    assert "  tests/test_tts.py" in text and "pip install -e '.[test]'" in text and "gbatch tts --help" in text


@pytest.mark.parametrize("name", ["tts", "my-tts", "sd_xl", "v2", "a" * 40])
def test_good_names(name: str, tmp_path: Path) -> None:
    assert new_plugin(name, tmp_path) == tmp_path / f"gbatch-{name}"
    assert (tmp_path / f"gbatch-{name}" / f"gbatch_{name.replace('-', '_')}" / "__init__.py").is_file()


@pytest.mark.parametrize(
    "name, why",
    [
        ("", "use lower-case letters"),
        ("TTS", "use lower-case letters"),
        ("2tts", "starting with a letter"),
        ("my--tts", "words joined by"),
        ("tts-", "words joined by"),
        ("my tts", "use lower-case letters"),
        ("my.tts", "use lower-case letters"),
        ("../tts", "use lower-case letters"),
        ("a" * 41, "at most 40 characters"),
        ("run", "is a built-in command"),
        ("inspect", "is a built-in command"),
        ("plugins", "is a built-in command"),
        ("review", "is a built-in command"),
        ("new-plugin", "is a built-in command"),
        ("new_plugin", "is a built-in command"),
    ],
)
def test_bad_names_are_refused(name: str, why: str, tmp_path: Path) -> None:
    with pytest.raises(gbatch.UsageError, match=why):
        new_plugin(name, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_every_builtin_command_is_a_refused_name() -> None:
    registry = gbatch.load_registry(entry_points=False)
    commands = {command.name for command in build_app(registry).registered_commands}
    assert commands - set(registry.tools) <= BUILTIN_COMMANDS


def test_an_existing_folder_is_never_touched(tmp_path: Path) -> None:
    mine = tmp_path / "gbatch-tts"
    mine.mkdir()
    (mine / "notes.txt").write_text("mine\n", encoding="utf-8")
    with pytest.raises(gbatch.UsageError, match="already exists"):
        new_plugin("tts", tmp_path)
    assert [p.name for p in mine.iterdir()] == ["notes.txt"]
    (tmp_path / "gbatch-empty").mkdir()
    with pytest.raises(gbatch.UsageError, match="already exists"):
        new_plugin("empty", tmp_path)
    assert list((tmp_path / "gbatch-empty").iterdir()) == []


def test_a_missing_dir_is_created(tmp_path: Path) -> None:
    assert new_plugin("tts", tmp_path / "a" / "b").is_dir()


def test_a_dir_that_is_a_file_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("", encoding="utf-8")
    with pytest.raises(gbatch.UsageError, match="cannot create"):
        new_plugin("tts", tmp_path / "file")


def test_its_warning_filters_are_the_projects_and_the_docs(scaffold: Path) -> None:
    """What gradio's server stack (and pandas in its queue statistics) warns must not fail a new
    plugin's tests: the scaffold, docs/plugins.md and the gbatch.testing plugin let through what
    this project's own tests do."""
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+

    root = Path(__file__).resolve().parent.parent
    ours = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["pytest"]["ini_options"]["filterwarnings"]
    theirs = tomllib.loads((scaffold / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["pytest"]["ini_options"]["filterwarnings"]
    assert theirs == ours
    docs = (root / "docs" / "plugins.md").read_text(encoding="utf-8")
    assert all(f'"{line}"' in docs for line in ours)
