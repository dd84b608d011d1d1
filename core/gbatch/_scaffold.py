"""`gbatch new-plugin NAME`: write a plugin package to start from.

The package is complete as written: an entry point, a Tool and a Plan over the public
API only, a test that serves a stand-in of the app with `gbatch.testing`, and a README.
gbatch's own tests run the written package's tests and ruff, so the scaffold cannot rot.

`new_plugin_main` is the command's body as a plain function, for `cli.py` to register.
"""

from __future__ import annotations

import functools
import json
import re
import shutil
from pathlib import Path

from rich.console import Console

from ._errors import UsageError

__all__ = ["BUILTIN_COMMANDS", "NEW_PLUGIN_HELP", "check_name", "new_plugin", "new_plugin_main"]

#: gbatch's own commands (and `help`, which reads as one): a tool of the same name would be shadowed
# What a test suite with `filterwarnings = error` must let through when it serves a gradio app
# in its own process: warnings from gradio's server stack, not from the code under test. Used
# by the `gbatch.testing` pytest plugin and written into a new plugin's pyproject.toml.
GRADIO_WARNING_FILTERS = (
    "ignore::DeprecationWarning:websockets.*",
    "ignore::DeprecationWarning:uvicorn.*",
    "ignore:.*unclosed.*:ResourceWarning",
    # pandas 3 deprecations inside gradio's queue statistics (server side)
    "ignore:'future.no_silent_downcasting' is deprecated",
    "ignore:The copy keyword is deprecated",
)

BUILTIN_COMMANDS = frozenset({"run", "inspect", "plugins", "review", "new-plugin", "servers", "split", "help"})

NEW_PLUGIN_HELP = """Write gbatch-NAME/: a plugin package for `gbatch NAME`, ready to edit.

It holds pyproject.toml (with the entry point), gbatch_NAME/__init__.py (a Tool and
a Plan), tests/test_NAME.py (serves a stand-in of the app with gbatch.testing) and a
README. Its tests pass as written: `cd gbatch-NAME && python -m pytest tests`."""

# Lower-case words joined by single '-' or '_': a command, an entry point and (with '_')
# a Python package name all at once.
_NAME = re.compile(r"[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*")
_MAX_NAME = 40


def check_name(name: str) -> None:
    """Raise `UsageError` unless `name` can be a tool, a command and a package name."""
    if not _NAME.fullmatch(name) or len(name) > _MAX_NAME:
        raise UsageError(
            f"plugin name {name!r}: use lower-case letters and digits, words joined by '-' or '_', "
            f"starting with a letter, at most {_MAX_NAME} characters (e.g. 'my-tts')"
        )
    if name in BUILTIN_COMMANDS or name.replace("_", "-") in BUILTIN_COMMANDS:
        raise UsageError(f"plugin name {name!r}: `gbatch {name}` is a built-in command; choose another name")


def new_plugin(name: str, folder: Path) -> Path:
    """Write `folder/gbatch-<name>/` and return it; never touches an existing folder."""
    check_name(name)
    root = Path(folder) / f"gbatch-{name}"
    if root.exists():
        raise UsageError(f"{root} already exists; choose another name or --dir (nothing was written)")
    try:
        root.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create {root.parent}: {exc.strerror or exc}") from None
    try:
        root.mkdir()  # not exist_ok: a folder made meanwhile is not ours to fill
    except FileExistsError:
        raise UsageError(f"{root} already exists; choose another name or --dir (nothing was written)") from None
    except OSError as exc:
        raise UsageError(f"cannot create {root}: {exc.strerror or exc}") from None
    try:
        for relative, text in _files(name).items():
            path = root / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    except OSError as exc:
        shutil.rmtree(root, ignore_errors=True)  # half a package would only mislead
        raise UsageError(f"cannot write {root}: {exc.strerror or exc}") from None
    return root


def new_plugin_main(name: str, folder: Path, console: Console) -> int:
    """The body of `gbatch new-plugin NAME [--dir DIR]`: write the package, say what is next."""
    root = new_plugin(name, folder)
    # markup=False: paths and `.[test]` are text, not rich markup.
    say = functools.partial(console.print, markup=False, highlight=False, soft_wrap=True)
    say(f"Created {root}/, a plugin for `gbatch {name}`:")
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        say(f"  {path.relative_to(root)}")
    say(f"Next:\n  cd {root}\n  pip install -e '.[test]'\n  python -m pytest tests\n  gbatch {name} --help")
    return 0


def _files(name: str) -> dict[str, str]:
    module = "gbatch_" + name.replace("-", "_")
    words = {
        "{{name}}": name,
        "{{module}}": module,
        "{{test}}": "test_" + module.removeprefix("gbatch_"),
        "{{Class}}": "".join(part.capitalize() for part in re.split(r"[-_]", name)),
        "{{warning_filters}}": "".join(f"    {json.dumps(line)},\n" for line in GRADIO_WARNING_FILTERS),
    }

    def fill(template: str) -> str:
        for key, value in words.items():
            template = template.replace(key, value)
        return template

    return {
        "pyproject.toml": fill(_PYPROJECT),
        "README.md": fill(_README),
        f"{module}/__init__.py": fill(_PLUGIN),
        fill("tests/{{test}}.py"): fill(_TEST),
    }


_PYPROJECT = """\
[build-system]
requires = ["hatchling>=1.25"]
build-backend = "hatchling.build"

[project]
name = "gbatch-{{name}}"
version = "0.1.0"
description = "A gbatch plugin: `gbatch {{name}}` batch-drives a Gradio app."
readme = "README.md"
requires-python = ">=3.10"
dependencies = ["gbatch"]

[project.optional-dependencies]
test = ["pytest>=8", "gradio>=5,<7"]  # the tests serve a stand-in of the app with gbatch.testing

# Plugin discovery: gbatch loads every module named in the `gbatch` entry-point group.
[project.entry-points.gbatch]
{{name}} = "{{module}}"

[tool.hatch.build.targets.wheel]
packages = ["{{module}}"]

[tool.pytest.ini_options]
# "." imports this checkout's {{module}} first, so the tests run with or without `pip install`.
pythonpath = ["."]
addopts = ["-ra", "--strict-markers"]
filterwarnings = [
    "error",
    # gradio's own server stack (and pandas inside its queue statistics), not this plugin's
{{warning_filters}}]

[tool.ruff]
line-length = 120
target-version = "py310"
src = [".", "tests"]

[tool.ruff.lint]
select = ["E", "F", "W", "I", "B", "UP", "PIE", "SIM"]
"""

_PLUGIN = '''\
"""gbatch-{{name}}: `gbatch {{name}}` runs a task file through a Gradio app's /generate endpoint.

The app it expects is the stand-in in tests/{{test}}.py:
`/generate(prompt, style, seed) -> (file, caption)`. Change `api_name`, the columns,
`prepare` and `collect` to fit your app; `gbatch inspect URL` lists its endpoints
and parameters. docs/plugins.md in gbatch's repository is the guide.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import gbatch

__version__ = "0.1.0"

MAX_SEED = 2**31 - 1
MAX_PROMPT = 1000
# "This is the app": the endpoint and its exact inputs. Another server gets a clear error.
EXPECTED = gbatch.ExpectedApp("the app gbatch-{{name}} drives", "/generate", {"app": ("prompt", "style", "seed")})


class {{Class}}Plan(gbatch.Plan):
    """One batch against one kind of server. `api_name` and `columns` come from the tool,
    the columns bound to the endpoint's parameters (`param=`)."""

    def __init__(self, save_caption: bool) -> None:
        self.save_caption = save_caption

    def prepare(self, values: Mapping[str, Any], previous: Mapping[str, Any]) -> gbatch.Call:
        """Main thread, every row, before anything is sent: refuse a row with `RowProblem`."""
        if len(values["prompt"]) > MAX_PROMPT:
            raise gbatch.RowProblem(f"{len(values['prompt'])} characters; at most {MAX_PROMPT}", "prompt")
        # values["seed"]: the row's, or one gbatch chose (journaled, sent again on a re-run).
        return gbatch.Call({"prompt": values["prompt"], "style": values["style"], "seed": values["seed"]})

    def collect(self, result: gbatch.CallResult, out: gbatch.Outputs) -> None:
        """Worker thread, once per successful request: save what the app returned."""
        file, caption = result.outputs
        if not isinstance(file, gbatch.ServerFile):
            raise gbatch.RowFailed(f"the app returned no file ({caption})")
        gbatch.save_file(out, file)  # <name><suffix>, written atomically
        out.value("caption", caption)  # results.csv and the journal
        if self.save_caption:
            out.write(f"{caption}\\n".encode(), ".txt", label="caption")

    def fingerprint(self) -> str:
        # Options that change a row's output but not its call: a re-run then redoes the row.
        return f"caption={self.save_caption}"

    def explain(self, failure: gbatch.Failure, call: gbatch.Call) -> str:
        if failure.cause == "timeout":
            return f"{failure.message} (a long prompt takes longer: raise --timeout)"
        return failure.message


class {{Class}}Tool(gbatch.Tool):
    name = "{{name}}"
    help = "Run every row's prompt through the app's /generate endpoint: one file per row."
    api_name = "/generate"
    columns = (
        # The alias lets a .txt task file (one row per line, read as `text`) feed the prompt.
        gbatch.Column("prompt", required=True, aliases=("text",), help="What to generate."),
        gbatch.Column("style", param="style", help="One of the styles the server offers."),
        # Random when absent, kept for re-runs; never the app's default seed, which would make every row alike.
        gbatch.seed_column(maximum=MAX_SEED, param="seed"),
    )
    options = (gbatch.Option("save_caption", flag=True, help="Also write each caption to <name>.caption.txt."),)
    default_out = "{{name}}-out"
    slots_per_server = 2

    def plan(self, api: gbatch.ServerApi, options: Mapping[str, Any]) -> gbatch.Plan:
        EXPECTED.find(api)
        return {{Class}}Plan(save_caption=bool(options["save_caption"]))


# Registers the tool when gbatch loads its plugins (main thread, once): no network, no heavy imports.
register_tools = gbatch.tool_hook({{Class}}Tool)
'''

_TEST = '''\
"""gbatch-{{name}} against a stand-in of its app, served on 127.0.0.1 by gbatch.testing.

`gbatch_serve` and `gbatch_cli` are pytest fixtures that come with gbatch.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gradio as gr
import pytest
from gbatch.testing import CliResult

import {{module}}

Cli = Callable[..., CliResult]


def stand_in_app() -> gr.Blocks:
    """The endpoint the tool calls, with the same parameters, choices and outputs as the real app."""

    def generate(prompt: str, style: str, seed: float) -> tuple[str, str]:
        text = prompt.upper() if style == "loud" else prompt
        path = Path(tempfile.mkdtemp()) / "result.txt"
        path.write_text(f"{text} #{int(seed)}\\n", encoding="utf-8")
        return str(path), f"{style}, seed {int(seed)}"

    demo = gr.Blocks()
    with demo:
        prompt = gr.Textbox(label="Prompt")
        style = gr.Dropdown(["plain", "loud"], value="plain", label="Style")
        seed = gr.Number(value=0, precision=0, label="Seed")
        result, caption = gr.File(label="Result"), gr.Textbox(label="Caption")
        gr.Button("Generate").click(generate, [prompt, style, seed], [result, caption], api_name="generate")
    return demo


@pytest.fixture
def url(gbatch_serve: Callable[..., str]) -> str:
    return gbatch_serve(stand_in_app())


@pytest.fixture
def {{module}}_cli(gbatch_cli: Cli, monkeypatch: pytest.MonkeyPatch) -> Cli:
    """`gbatch {{name}} ARGS…` in this process, with this checkout's plugin, installed or not."""
    # Entry points off, so an installed copy is not registered next to the module passed in.
    monkeypatch.setenv("GBATCH_LOAD_PLUGINS", "")
    return lambda *args: gbatch_cli("{{name}}", *args, plugins=[{{module}}])


def journal(out: Path) -> dict[str, dict[str, Any]]:
    lines = (out / "gbatch-journal.jsonl").read_text(encoding="utf-8").splitlines()
    return {record["id"]: record for record in map(json.loads, lines)}


def test_every_row_is_saved(url: str, {{module}}_cli: Cli, tmp_path: Path) -> None:
    tasks = tmp_path / "tasks.csv"
    tasks.write_text("id,prompt,style,seed\\na,hello,loud,7\\nb,bye,,\\n", encoding="utf-8")
    result = {{module}}_cli(tasks, "--server", url, "--out", tmp_path / "out", "--save-caption", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["succeeded"] == 2
    assert (tmp_path / "out" / "a.txt").read_text(encoding="utf-8") == "HELLO #7\\n"
    assert (tmp_path / "out" / "a.caption.txt").read_text(encoding="utf-8") == "loud, seed 7\\n"
    # An empty style takes the server's default, and a missing seed is generated.
    assert journal(tmp_path / "out")["b"]["values"]["caption"].startswith("plain, seed ")


def test_rows_are_checked_against_the_server_before_sending(url: str, {{module}}_cli: Cli, tmp_path: Path) -> None:
    tasks = tmp_path / "tasks.csv"
    tasks.write_text("prompt,style\\nhello,whisper\\n", encoding="utf-8")
    result = {{module}}_cli(tasks, "--server", url, "--out", tmp_path / "out")
    assert result.exit_code == 2
    assert "tasks.csv:2 (id 1):style: 'whisper' is not one of: 'plain', 'loud'" in result.output
    assert not (tmp_path / "out").exists()


def test_a_generated_seed_is_used_again(url: str, {{module}}_cli: Cli, tmp_path: Path) -> None:
    tasks, out = tmp_path / "tasks.txt", tmp_path / "out"
    tasks.write_text("hello\\n", encoding="utf-8")
    assert {{module}}_cli(tasks, "--server", url, "--out", out).exit_code == 0
    seed = journal(out)["1"]["generated"]["seed"]
    assert {{module}}_cli(tasks, "--server", url, "--out", out, "--restart").exit_code == 0
    assert journal(out)["1"]["generated"]["seed"] == seed
    assert (out / "1.txt").read_text(encoding="utf-8") == f"hello #{seed}\\n"
'''

_README = """\
# gbatch-{{name}}

A gbatch plugin: `gbatch {{name}}` runs every row of a
task file (CSV, TSV, JSONL, TXT, XLSX) through a Gradio app's `/generate` endpoint,
checked before anything is sent, concurrent, retried and resumable.

```
pip install .
gbatch plugins                                    # lists "{{name}}"
gbatch {{name}} tasks.csv --server http://127.0.0.1:7860 --save-caption
```

| column | meaning |
|---|---|
| `prompt` (required; also `text`, so a .txt file works) | what to generate |
| `style` | one of the styles the server offers (read from the server) |
| `seed` | random when absent, kept in the journal and used again on re-runs |

Each row's file goes to `{{name}}-out/<id>.<ext>`, its caption to `results.csv`.

## Layout

- `pyproject.toml`: the `gbatch` entry point that makes gbatch find the plugin.
- `{{module}}/__init__.py`: the `register_tools` hook (`gbatch.tool_hook`), the Tool (name, columns,
  options, endpoint) and the Plan (`prepare` a row into a call, `collect` the result).
- `tests/{{test}}.py`: serves a stand-in of the app with the same endpoint
  (`gbatch_serve`) and runs the command in-process (`gbatch_cli`); both fixtures
  come with gbatch (`gbatch.testing`). Make the stand-in match your real app
  (`gbatch inspect URL` shows its parameters).

## Tests

```
pip install -e '.[test]'
python -m pytest tests
```

The tests pass the plugin module to the CLI themselves and switch entry points
off (`GBATCH_LOAD_PLUGINS=""`), so they test this checkout whether or not it is
installed; `pythonpath = ["."]` in `pyproject.toml` makes it the copy imported.
"""
