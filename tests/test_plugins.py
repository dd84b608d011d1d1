"""Plugin discovery: a real third-party package installed from examples/, broken plugins, the registry."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import gradio as gr
import pytest

import gbatch
from gbatch import hookspecs

from .conftest import EXAMPLES, ROOT

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def gbatch_subprocess(*args: str, pythonpath: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(pythonpath)}
    return subprocess.run([sys.executable, "-m", "gbatch", *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=120)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example plugin, pip-installed into a folder of its own, plus a plugin that cannot import."""
    target = tmp_path_factory.mktemp("site")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--target", str(target), str(EXAMPLES / "gbatch-shout")],
        check=True,
        capture_output=True,
    )
    (target / "gbatch_broken.py").write_text("raise ImportError('this plugin needs torch, which is not installed')\n")
    dist = target / "gbatch_broken-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: gbatch-broken\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[gbatch]\nbroken = gbatch_broken\n")
    return target


def shout_app(calls: list[str]) -> gr.Blocks:
    def shout(text: str, times: float) -> str:
        calls.append(text)
        return " ".join([text.upper()] * int(times))

    with gr.Blocks() as demo:
        text, times, result = gr.Textbox(label="Text"), gr.Number(label="Times", value=1, precision=0), gr.Textbox()
        gr.Button().click(shout, [text, times], result, api_name="shout")
    return demo


def test_third_party_plugin_is_discovered_and_runs(site: Path, serve: Callable[..., str], tmp_path: Path) -> None:
    """The example package registers `gbatch shout` through its entry point alone."""
    listing = gbatch_subprocess("plugins", "--json", pythonpath=site, cwd=tmp_path)
    assert listing.returncode == 0, listing.stderr
    plugins = {p["name"]: p for p in json.loads(listing.stdout)}
    assert plugins["shout"] == {
        "name": "shout",
        "module": "gbatch_shout",
        "distribution": "gbatch-shout",
        "version": "0.2.0",
        "tools": ["shout"],
        "error": None,
    }
    assert plugins["broken"]["error"] == "ImportError: this plugin needs torch, which is not installed"
    assert plugins["cosyvoice"]["tools"] == ["cosyvoice"] and plugins["cosyvoice"]["error"] is None

    calls: list[str] = []
    url = serve(shout_app(calls))
    (tmp_path / "lines.csv").write_text("id,text,times\na,hello,\nb,bye,3\n", encoding="utf-8")
    run = gbatch_subprocess("shout", "lines.csv", "--server", url, "--times", "2", "--suffix", "?", "-q", pythonpath=site, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "shout-out" / "a.txt").read_text() == "HELLO HELLO?\n"
    assert (tmp_path / "shout-out" / "b.txt").read_text() == "BYE BYE BYE?\n"
    assert sorted(calls) == ["bye", "hello"]


def test_broken_plugin_does_not_break_the_cli(site: Path, tmp_path: Path) -> None:
    result = gbatch_subprocess("--help", pythonpath=site, cwd=tmp_path)
    assert result.returncode == 0
    assert "Commands" in result.stdout and "shout" in result.stdout and "cosyvoice" in result.stdout
    assert "plugin 'broken' failed to load" in result.stderr


def test_load_plugins_allowlist(site: Path, tmp_path: Path) -> None:
    env_run = subprocess.run(
        [sys.executable, "-m", "gbatch", "plugins"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(site), "GBATCH_LOAD_PLUGINS": "shout"},
        cwd=tmp_path,
        timeout=60,
    )
    assert "shout" in env_run.stdout
    assert "cosyvoice" not in env_run.stdout and "broken" not in env_run.stdout


class InlinePlugin:
    __name__ = "inline"

    @gbatch.hookimpl
    def register_tools(self, register: Callable[[gbatch.Tool], None]) -> None:
        register(gbatch.GenericTool("/x"))


def test_hook_register_tools() -> None:
    registry = gbatch.load_registry(entry_points=False, extra=[InlinePlugin()])
    assert list(registry.tools) == ["run"]
    assert registry.plugins[0].tools == ["run"]
    with pytest.raises(gbatch.PluginError, match="Unknown tool 'nope'. Installed tools: run"):
        registry.tool("nope")


def test_hook_register_commands(cli: Callable[..., object]) -> None:
    import typer
    from typer.testing import CliRunner

    from gbatch.cli import build_app

    class Commands:
        __name__ = "commands"

        @gbatch.hookimpl
        def register_commands(self, app: typer.Typer) -> None:
            @app.command("hello")
            def hello() -> None:
                """Say hello."""
                typer.echo("hello from a plugin")

    app = build_app(gbatch.load_registry(entry_points=False, extra=[Commands()]))
    result = CliRunner().invoke(app, ["hello"])
    assert result.exit_code == 0 and result.stdout == "hello from a plugin\n"


def test_duplicate_tool_names_are_reported_not_fatal() -> None:
    class Twice:
        __name__ = "twice"

        @gbatch.hookimpl
        def register_tools(self, register: Callable[[gbatch.Tool], None]) -> None:
            register(gbatch.GenericTool())
            register(gbatch.GenericTool())

    registry = gbatch.load_registry(entry_points=False, extra=[Twice()])
    assert list(registry.tools) == ["run"]


def test_every_hook_is_documented_and_tested() -> None:
    """Each hookspec appears in the plugin reference with its signature, and has a test_hook_<name> here."""
    readme = (ROOT / "docs" / "plugin-reference.md").read_text(encoding="utf-8")
    names = [n for n in dir(hookspecs) if n.startswith("register_")]
    assert names == ["register_commands", "register_tools"]
    for name in names:
        spec = getattr(hookspecs, name)
        args = ", ".join(spec.__code__.co_varnames[: spec.__code__.co_argcount])
        assert f"{name}({args})" in readme
        assert f"test_hook_{name}" in globals()


def test_public_api_is_exactly_all() -> None:
    modules = {"hookspecs", "cli", "transports", "testing", "executor", "audio"}
    # (pytest rewrites the modules of its plugins, gbatch.testing among them, adding "@py_…" names)
    public = sorted(n for n in dir(gbatch) if not n.startswith(("_", "@")) and n not in modules)
    assert public == sorted(gbatch.__all__)


def test_trace_plugins_shows_each_hook_call(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "gbatch", "plugins"],
        capture_output=True,
        text=True,
        env={**os.environ, "GBATCH_TRACE_PLUGINS": "1", "GBATCH_LOAD_PLUGINS": "cosyvoice"},
        cwd=tmp_path,
        timeout=60,
    )
    assert result.returncode == 0
    assert "gbatch: register_tools(register) in plugin 'cosyvoice'" in result.stderr.splitlines()


def test_a_plugin_failing_in_its_hook_is_reported() -> None:
    class Failing:
        __name__ = "failing"

        @gbatch.hookimpl
        def register_tools(self, register: Callable[[gbatch.Tool], None]) -> None:
            raise RuntimeError("no GPU here")

    registry = gbatch.load_registry(entry_points=False, extra=[Failing(), InlinePlugin()])
    assert list(registry.tools) == ["run"]
    errors = {p.name: p.error for p in registry.plugins}
    assert errors == {"failing": "RuntimeError in register_tools: no GPU here", "inline": None}


def test_the_testing_kit_is_a_pytest_plugin(gbatch_serve: Callable[..., str], gbatch_cli: Callable[..., gbatch.testing.CliResult], tmp_path: Path) -> None:
    """`pip install gbatch` gives plugin authors fixtures that serve a real app and run the CLI."""
    with gr.Blocks() as demo:
        text = gr.Textbox(label="Text")
        out = gr.Textbox(label="Out")
        gr.Button("Go").click(lambda t: t[::-1], text, out, api_name="reverse")
    url = gbatch_serve(demo)
    (tmp_path / "t.csv").write_text("text\nabc\n", encoding="utf-8")
    result = gbatch_cli("run", url, tmp_path / "t.csv", "--out", tmp_path / "out", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["succeeded"] == 1


def test_every_misspelt_name_in_load_plugins_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GBATCH_LOAD_PLUGINS", "cosyvoce, cosyvoice, sovitz")
    registry = gbatch.load_registry()
    assert "cosyvoice" in registry.tools
    errors = {p.name: p.error for p in registry.plugins if p.error}
    assert set(errors) == {"cosyvoce", "sovitz"}
    assert all("no installed plugin is called that" in (e or "") for e in errors.values())
