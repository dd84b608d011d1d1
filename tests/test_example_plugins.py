"""The example plugins' own test suites pass, run as their authors run them (and CI proves it).

Each suite runs in a subprocess from the plugin's folder, so the plugin's own
pyproject.toml configures pytest (warnings are errors there too) and ruff.
`run_plugin_tests` and `install_plugin` are shared with tests/test_scaffold.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import EXAMPLES, ROOT

pytestmark = pytest.mark.slow

TINYTTS = EXAMPLES / "gbatch-tinytts"


def run_plugin_tests(folder: Path, scratch: Path, *extra_path: Path) -> subprocess.CompletedProcess[str]:
    """`python -m pytest tests` in a plugin's folder, with gbatch from this checkout.

    `--basetemp` keeps the inner session's temporary folders inside this test's own:
    pytest prunes old numbered folders, and must not prune the outer session's.
    """
    path = [folder, *extra_path, ROOT / "core", ROOT / "plugins"]
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}
    env["PYTHONPATH"] = os.pathsep.join(str(p) for p in path)
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # leave the example's folder as the checkout has it
    command = [sys.executable, "-m", "pytest", "tests", "-q", "-p", "no:cacheprovider", f"--basetemp={scratch / 'pytest'}"]
    return subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True, timeout=300)


def install_plugin(folder: Path, target: Path) -> None:
    """pip-install a plugin package into a folder of its own, as a user would (no index needed)."""
    command = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--target", str(target), str(folder)]
    subprocess.run(command, check=True, capture_output=True, timeout=300)


def listed_plugins(site: Path, cwd: Path) -> dict[str, dict[str, object]]:
    """`gbatch plugins --json` with `site` on the path, by plugin name."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(ROOT / "core"), str(ROOT / "plugins")])}
    done = subprocess.run([sys.executable, "-m", "gbatch", "plugins", "--json"], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return {plugin["name"]: plugin for plugin in json.loads(done.stdout)}


def test_tinytts_passes_its_own_tests(tmp_path: Path) -> None:
    done = run_plugin_tests(TINYTTS, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 passed" in done.stdout


def test_tinytts_installed_is_found_by_its_entry_point_and_still_passes(tmp_path: Path) -> None:
    site = tmp_path / "site"
    install_plugin(TINYTTS, site)
    plugins = listed_plugins(site, tmp_path)
    assert plugins["tinytts"]["distribution"] == "gbatch-tinytts"
    assert plugins["tinytts"]["tools"] == ["tinytts"] and plugins["tinytts"]["error"] is None
    # Installed and passed to the CLI by the tests: registered once, not twice.
    done = run_plugin_tests(TINYTTS, tmp_path, site)
    assert done.returncode == 0, done.stdout + done.stderr


def test_tinytts_is_clean_for_ruff() -> None:
    done = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "."], cwd=TINYTTS, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def test_tinytts_tool_and_plan_stay_small() -> None:
    """The point of the example: a real TTS tool is about 50 lines with the plugin kit."""
    source = (TINYTTS / "gbatch_tinytts" / "__init__.py").read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(source) if line.startswith("class "))
    end = next(i for i, line in enumerate(source) if line.startswith("register_tools = "))
    code = [line for line in source[start:end] if line.strip() and not line.strip().startswith("#")]
    assert len(code) <= 50, "\n".join(code)
