"""docs/plugins.md stays true: its worked example runs against a real app, its code blocks
are the files they quote, and every hook is documented with its exact signature."""

from __future__ import annotations

import importlib.util
import inspect
import json
import re
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import gradio as gr
import pytest
from PIL import Image

import gbatch
from gbatch import hookspecs
from gbatch.testing import CliResult

from .conftest import ROOT

GUIDE = ROOT / "docs" / "plugins.md"
# <!-- include PATH[#REGION] --> then one fenced block, then <!-- end include -->
INCLUDE = re.compile(r"<!-- include (?P<path>[^#\s]+)(?:#(?P<region>[\w-]+))? -->\n```\w*\n(?P<code>.*?)```\n<!-- end include -->", re.S)


def load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("plugins_example", ROOT / "docs" / "plugins_example.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def quoted(path: str, region: str | None) -> str:
    text = (ROOT / path).read_text(encoding="utf-8")
    if region is None:
        return text
    start, end = f"# [{region}]\n", f"# [/{region}]\n"
    assert start in text and end in text, f"{path} has no region {region!r}"
    return text.split(start, 1)[1].split(end, 1)[0]


def test_the_guides_code_blocks_are_the_files_they_quote() -> None:
    includes = list(INCLUDE.finditer(GUIDE.read_text(encoding="utf-8")))
    assert [(m["path"], m["region"]) for m in includes] == [("docs/plugins_example.py", None), ("tests/test_docs_plugins.py", "served"), ("tests/test_docs_plugins.py", "fake")]
    for match in includes:
        assert match["code"] == quoted(match["path"], match["region"]), f"docs/plugins.md quotes {match['path']} out of date: copy the file in again"


def hook_signatures() -> list[str]:
    specs = [f for name, f in inspect.getmembers(hookspecs, inspect.isfunction) if hasattr(f, "gbatch_spec")]
    assert specs, "no hook specs found"
    return [f"{f.__name__}({', '.join(inspect.signature(f).parameters)})" for f in specs]


def documented_hooks() -> list[str]:
    """The `### `name(args)`` headings of the guide's "Hooks" section."""
    section = GUIDE.read_text(encoding="utf-8").split("\n## Hooks\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^### `(\w+\(.*?\))`$", section, re.M)


@pytest.mark.parametrize("signature", hook_signatures())
def test_every_hook_is_documented_with_its_signature(signature: str) -> None:
    assert signature in documented_hooks()


def test_the_guide_documents_no_hook_that_does_not_exist() -> None:
    assert sorted(documented_hooks()) == sorted(hook_signatures())


# The worked example, run through gbatch.testing against a real app ------------------------

# [served]
def painter_app(calls: list[str]) -> gr.Blocks:
    """The app the example drives: a model loaded server-wide, then paint with it."""
    loaded: dict[str, str] = {}

    def load_model(name: str) -> str:
        calls.append(f"load {name}")
        loaded["model"] = name
        return f"loaded {name}"

    def paint(prompt: str, size: str, count: float, seed: float) -> tuple[list[tuple[Image.Image, str]], dict[str, object]]:
        calls.append(f"paint {prompt}")
        if size == "1024x1024":
            raise gr.Error("size 1024x1024 is too large for this GPU")
        side = int(size.split("x")[0]) // 8
        colour = (int(seed) % 256, len(prompt) % 256, 128)
        images = [(Image.new("RGB", (side, side), colour), f"{prompt} {n}") for n in range(int(count))]
        return images, {"model": loaded.get("model"), "seed": int(seed)}

    demo = gr.Blocks()
    with demo:
        model, status = gr.Dropdown(["sketch", "oil"], value="sketch", label="Model"), gr.Textbox(label="Status")
        gr.Button("Load").click(load_model, model, status, api_name="load_model")
        prompt = gr.Textbox(label="Prompt")
        size = gr.Dropdown(["256x256", "512x512", "1024x1024"], value="256x256", label="Size")
        count = gr.Slider(1, 4, value=1, step=1, label="Count")
        seed = gr.Number(value=0, precision=0, label="Seed")
        gallery, info = gr.Gallery(label="Images", format="png"), gr.JSON(label="Info")
        gr.Button("Paint").click(paint, [prompt, size, count, seed], [gallery, info], api_name="paint")
    return demo


def test_painter_loads_its_model_then_paints_every_row(gbatch_serve: Callable[..., str], gbatch_cli: Callable[..., CliResult], tmp_path: Path) -> None:
    calls: list[str] = []
    url = gbatch_serve(painter_app(calls))
    (tmp_path / "prompts.csv").write_text("id,prompt,count\nfox,a red fox,2\nowl,an owl,\n", encoding="utf-8")
    example = load_example()  # docs/plugins_example.py; a plugin's own tests `import gbatch_painter`
    result = gbatch_cli("painter", tmp_path / "prompts.csv", "-s", url, "-o", tmp_path / "out", "--model", "oil", "--json", plugins=[example])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["succeeded"] == 2
    assert calls[0] == "load oil"
    assert sorted(p.name for p in (tmp_path / "out").glob("*.png")) == ["fox.1.png", "fox.2.png", "owl.png"]
    assert Image.open(tmp_path / "out" / "owl.png").size == (32, 32)
# [/served]


@pytest.fixture
def painter(gbatch_serve: Callable[..., str], gbatch_cli: Callable[..., CliResult]) -> tuple[list[str], Callable[..., CliResult]]:
    """The app's calls, and `gbatch painter ARGS…` against it."""
    calls: list[str] = []
    url, example = gbatch_serve(painter_app(calls)), load_example()
    return calls, lambda *args: gbatch_cli("painter", *args, "-s", url, plugins=[example])


def test_another_model_redoes_the_rows_and_the_same_one_does_not(painter: tuple[list[str], Callable[..., CliResult]], tmp_path: Path) -> None:
    calls, run = painter
    (tmp_path / "p.txt").write_text("a fox\n", encoding="utf-8")
    assert run(tmp_path / "p.txt", "-o", tmp_path / "out").exit_code == 0
    assert run(tmp_path / "p.txt", "-o", tmp_path / "out").exit_code == 0
    assert calls.count("paint a fox") == 1  # same model, same seed (journaled): nothing to do
    assert run(tmp_path / "p.txt", "-o", tmp_path / "out", "--model", "oil").exit_code == 0
    assert calls.count("paint a fox") == 2
    journal = [json.loads(line) for line in (tmp_path / "out" / "gbatch-journal.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [r["values"]["model"] for r in journal] == ["sketch", "oil"]
    assert journal[0]["generated"]["seed"] == journal[1]["generated"]["seed"]


def test_bad_rows_and_options_are_refused_before_painting(painter: tuple[list[str], Callable[..., CliResult]], tmp_path: Path) -> None:
    calls, run = painter
    (tmp_path / "p.csv").write_text(f"prompt,size,count\nfox,300x300,1\nowl,256x256,9\n{'word ' * 80}\n", encoding="utf-8")
    result = run(tmp_path / "p.csv", "-o", tmp_path / "out")
    assert result.exit_code == 2
    assert "p.csv:2 (id 1):size: '300x300' is not one of: '256x256', '512x512', '1024x1024'" in result.output
    assert "p.csv:3 (id 2):count: 9 is above the maximum 4" in result.output
    assert "p.csv:4 (id 3):prompt: 80 words; the model reads at most 75" in result.output
    assert not any(c.startswith("paint") for c in calls)
    result = run(tmp_path / "p.csv", "-o", tmp_path / "out", "--model", "pastel")
    assert result.exit_code == 2 and "--model 'pastel': this server has sketch, oil" in result.output


def test_an_app_error_is_explained(painter: tuple[list[str], Callable[..., CliResult]], tmp_path: Path) -> None:
    _, run = painter
    (tmp_path / "p.csv").write_text("prompt,size\nfox,1024x1024\n", encoding="utf-8")
    result = run(tmp_path / "p.csv", "-o", tmp_path / "out", "--json")
    assert result.exit_code == 1
    [record] = [json.loads(line) for line in (tmp_path / "out" / "gbatch-journal.jsonl").read_text(encoding="utf-8").splitlines()]
    assert record["error"] == "the app raised an error: size 1024x1024 is too large for this GPU (try a smaller --size, or fewer images with --count)"


# [fake]
def test_painter_without_a_server(tmp_path: Path) -> None:
    """The fake transport runs a plan in memory: endpoints are plain functions, calls are recorded."""
    from gbatch.testing import FakeServer, FakeTransport

    def load_model(name: str) -> str:
        return f"loaded {name}"

    def paint(prompt: str, size: str = "256x256", count: int = 1, seed: int = 0) -> tuple[list[gbatch.ServerFile], dict[str, str]]:
        return [server.file(f"{n}.png", b"png %d" % n) for n in range(count)], {"model": "sketch"}

    server = FakeServer({"/load_model": load_model, "/paint": paint})
    (tmp_path / "prompts.txt").write_text("a fox\n", encoding="utf-8")
    options = gbatch.BatchOptions(servers=[server.url], out=tmp_path / "out", defaults={"count": "2"})
    result = gbatch.run_batch(load_example().PainterTool(), tmp_path / "prompts.txt", options, transport=FakeTransport([server]), say=lambda text: None)
    assert (result.succeeded, result.failed) == (1, 0)
    assert [call.endpoint for call in server.calls] == ["/load_model", "/paint"]
    assert server.calls[1].values["count"] == 2
    assert (tmp_path / "out" / "1.2.png").read_bytes() == b"png 1"
# [/fake]
