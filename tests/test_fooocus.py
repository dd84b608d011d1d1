"""The `fooocus` tool end to end: `gbatch fooocus prompts.csv --server URL` against the Fooocus
stand-in served by real gradio 3.41.2 (Fooocus's version), under `.venvs/gradio3`.

The stand-in appends every call it receives (fn_index, session hash and the raw values,
`null` where the page sends a gr.State) to a JSON-lines file, so what went over the wire
(or that nothing did) is checked on the server side.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

import gbatch
import gbatch.executor
import gbatch.transports
import gbatch_fooocus
from gbatch.testing import run_cli
from gbatch_fooocus import demo_server
from gbatch_fooocus.tool import FooocusPlan, find_chain, parse_loras, progress_percent, ratio_size

from . import oldgradio
from .conftest import EXAMPLES, CliResult, journal_by_id, write_csv

pytestmark = pytest.mark.slow

SCRIPT = Path(demo_server.__file__).resolve()
DELAY = "0.05"  # simulated GPU seconds per image
DEFAULT_MODEL = "juggernautXL_v8Rundiffusion.safetensors"
OFFSET_LORA = "sd_xl_offset_example-lora_1.0.safetensors"
# The component of each of the 152 client-visible get_task inputs, in order, as Fooocus 2.5.5's
# appendix lists them (c checkbox, t textbox, g checkboxgroup, r radio, s slider, d dropdown,
# i image, k image with tool="sketch").
APPENDIX_KINDS = (
    "cttgrrsrtcssddscdscdscdscdscdsctrigktkccccsssssdddssssssccccssdscssssccdssccsccrissrissrissrissrcscicrrrc"
    "tttdddssscdssscctttdddssscdssscctttdddssscdsssc"
)
KIND_CODES = {"checkbox": "c", "textbox": "t", "checkboxgroup": "g", "radio": "r", "slider": "s", "dropdown": "d", "image": "i"}
# get_task's data index (the State is 0) of the controls the tool sets
PROMPT, NEGATIVE, STYLES, PERFORMANCE, RATIO, IMAGES, FORMAT, SEED = 2, 3, 4, 5, 6, 7, 8, 9
BASE_MODEL, LORA_1 = 13, 16


class StandIn:
    """A running stand-in and the calls it has received."""

    def __init__(self, server: oldgradio.OldServer, record: Path) -> None:
        self.server = server
        self.url = server.url
        self.record = record

    def received(self, fn: str | None = None) -> list[dict[str, Any]]:
        if not self.record.exists():
            return []
        calls = [json.loads(line) for line in self.record.read_text(encoding="utf-8").splitlines()]
        return [c for c in calls if fn is None or c["fn"] == fn]

    def tasks(self) -> list[list[Any]]:
        """The data of every get_task call, in order."""
        return [c["data"] for c in self.received("get_task")]

    def reset(self) -> None:
        self.record.unlink(missing_ok=True)

    def config(self) -> dict[str, Any]:
        config: dict[str, Any] = httpx.get(self.url + "config", timeout=10).json()
        return config


def _start(folder: Path, *args: str) -> StandIn:
    record = folder / "received.jsonl"
    server = oldgradio.start(SCRIPT, 3, "--delay", DELAY, "--record", str(record), *args, log_dir=folder)
    return StandIn(server, record)


@pytest.fixture(scope="module")
def stand_in(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StandIn]:
    started = _start(tmp_path_factory.mktemp("fooocus"))
    yield started
    started.server.stop()


@pytest.fixture(scope="module")
def shifted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StandIn]:
    """Another configuration: more events before the chain, upstream's --disable-image-log and
    --disable-metadata (150 controls), and the default checkpoint missing from the server."""
    started = _start(
        tmp_path_factory.mktemp("fooocus-shifted"),
        "--extra-events", "6", "--disable-image-log", "--disable-metadata",
        "--checkpoints", "realisticStockPhoto_v20.safetensors",
    )  # fmt: skip
    yield started
    started.server.stop()


@pytest.fixture
def fresh(stand_in: StandIn) -> StandIn:
    stand_in.reset()
    return stand_in


def gbatch_cli(*args: Any) -> CliResult:
    """`gbatch ARGS...` in this process, with the plugin registered even before its entry point is installed."""
    return run_cli(*args, plugins=[gbatch_fooocus])




journal = journal_by_id


def size_of(path: Path) -> tuple[int, int]:
    with Image.open(path) as image:
        image.load()
        return image.size


def chain_indices(config: dict[str, Any]) -> tuple[int, int]:
    """(get_task, generate_clicked) fn_indexes, found in /config by their shape, as the tool does."""
    deps = config["dependencies"]
    get_task = max(range(len(deps)), key=lambda i: len(deps[i]["inputs"]))
    generate = next(i for i, d in enumerate(deps) if d.get("trigger_after") == get_task)
    return get_task, generate


# --- the stand-in itself ----------------------------------------------------------------------


def test_stand_in_has_fooocus_config(stand_in: StandIn) -> None:
    config = stand_in.config()
    assert config["version"] == "3.41.2" and config["enable_queue"] is True
    assert "NOT Fooocus" in config["title"]
    components = {c["id"]: c for c in config["components"]}
    deps = config["dependencies"]
    assert all(d.get("api_name") in (None, False) for d in deps)  # Fooocus names no event
    # Stop and Skip at 0 and 1, not queued; the chain comes later
    assert [components[d["targets"][0]]["props"]["value"] for d in deps[:2]] == ["Stop", "Skip"]
    assert deps[0]["queue"] is False and deps[1]["queue"] is False
    get_task, generate = chain_indices(config)
    assert get_task > 5 and generate == get_task + 1
    inputs = [components[i] for i in deps[get_task]["inputs"]]
    assert len(inputs) == 153 and inputs[0]["type"] == "state"
    kinds = "".join("k" if c["props"].get("tool") == "sketch" else KIND_CODES[c["type"]] for c in inputs[1:])
    assert kinds == APPENDIX_KINDS
    props = [c["props"] for c in inputs]
    assert props[PROMPT].get("label") is None and props[PROMPT]["show_label"] is False
    assert props[STYLES]["label"] == "Selected Styles" and len(props[STYLES]["choices"]) == 279
    assert props[STYLES]["value"] == ["Fooocus V2", "Fooocus Enhance", "Fooocus Sharp"]
    assert props[RATIO]["value"] == '1152×896 <span style="color: grey;"> ∣ 9:7</span>'
    assert len(props[RATIO]["choices"]) == 26
    assert props[SEED]["value"] == "0" and props[SEED]["label"] == "Seed"
    assert (props[IMAGES]["minimum"], props[IMAGES]["maximum"], props[IMAGES]["value"]) == (1, 32, 2)
    assert props[BASE_MODEL]["label"] == "Base Model (SDXL only)" and props[BASE_MODEL]["value"] == DEFAULT_MODEL
    assert [props[i]["label"] for i in (48, 49, 80)] == ["Sampler", "Scheduler", "Metadata Scheme"]
    # refresh_seed and the button lambda come first in the chain; get_task's only output is the State
    assert deps[get_task]["trigger_after"] == get_task - 1 and deps[get_task - 1]["trigger_after"] == get_task - 2
    assert [components[i]["type"] for i in deps[get_task]["outputs"]] == ["state"]
    assert [components[i]["type"] for i in deps[generate]["outputs"]] == ["html", "image", "gallery", "gallery"]


def test_stand_in_swallows_what_fooocus_swallows(stand_in: StandIn) -> None:
    """Sent raw, `1152*896` makes the worker fail; the client sees an empty gallery, no error."""
    session = gbatch.transports.AutoTransport().connect(stand_in.url, gbatch.ConnectOptions(), 1)
    try:
        get_task, generate = find_chain(session.api)
        ratio = next(p for p in get_task.parameters if p.label == "Aspect Ratios")
        prompt = next(p for p in get_task.parameters if p.component == "textbox" and not p.label)
        values = {prompt.name: "a cat", ratio.name: "1152*896", "image_number": 1}
        session.submit(gbatch.transports.TransportRequest(get_task, values, session="raw"), 0).result(30)
        result = session.submit(gbatch.transports.TransportRequest(generate, {}, session="raw"), 0).result(30)
        assert result.outputs[3] == gbatch.ComponentUpdate(value=[], props={"visible": True}, has_value=True)
        # without get_task first, the session has no task: nothing at all comes back
        empty = session.submit(gbatch.transports.TransportRequest(generate, {}, session="other"), 0).result(30)
        assert empty.outputs == (None, None, None, None)
    finally:
        session.close()
    assert "ValueError" in stand_in.server.output()  # the traceback stays in the server's console


# --- the example, images and names -------------------------------------------------------------


def test_example_runs_and_saves_every_image(fresh: StandIn, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = gbatch_cli("fooocus", EXAMPLES / "fooocus" / "prompts.csv", "--server", fresh.url, "--out", out)
    assert result.exit_code == 0, result.output
    assert "stand-in" in result.output and "not Fooocus" in result.output
    expected = {"fox": (2, (288, 224)), "lighthouse": (1, (224, 288)), "teapot": (2, (256, 256)), "city": (3, (336, 192))}
    records = journal(out)
    for name, (count, size) in expected.items():
        files = [f"{name}.png"] + [f"{name}.{n}.png" for n in range(2, count + 1)]
        assert records[name]["status"] == "ok" and records[name]["outputs"] == files
        assert all(size_of(out / f) == size for f in files)
        assert records[name]["values"] == {"images": count}
    assert sorted(p.name for p in out.glob("*.png")) == sorted(f for r in records.values() for f in r["outputs"])
    # rows without a seed got one, journaled; rows with one did not
    assert records["fox"]["generated"] == {} and records["teapot"]["generated"] == {}
    seeds = {name: records[name]["generated"]["seed"] for name in ("lighthouse", "city")}
    assert all(isinstance(s, int) and 0 <= s <= 2**63 - 1 for s in seeds.values())

    tasks = {data[PROMPT]: data for data in fresh.tasks()}
    assert len(tasks) == 4 and all(len(data) == 153 and data[0] is None for data in tasks.values())
    fox = tasks["a red fox in fresh snow, morning light"]
    assert fox[STYLES] == ["Fooocus V2", "Fooocus Photograph"]
    assert fox[RATIO] == '1152×896 <span style="color: grey;"> ∣ 9:7</span>'
    assert (fox[IMAGES], fox[SEED]) == (2, "12345")  # the seed goes as the Seed textbox's text
    assert fox[LORA_1 : LORA_1 + 15] == [True, OFFSET_LORA, 0.3] + [True, "None", 1] * 4
    assert (fox[NEGATIVE], fox[BASE_MODEL], fox[FORMAT]) == ("", DEFAULT_MODEL, "png")  # untouched: /config's defaults
    lighthouse = tasks["a lighthouse on a cliff at dusk, dramatic clouds"]
    assert lighthouse[RATIO].startswith("896×1152 ") and lighthouse[SEED] == str(seeds["lighthouse"])
    assert lighthouse[LORA_1 : LORA_1 + 3] == [True, OFFSET_LORA, 0.1]  # no loras cell: the server's default
    teapot = tasks["a porcelain teapot on a wooden table, studio photo"]
    assert teapot[RATIO].startswith("1024×1024 ") and teapot[STYLES] == ["Fooocus V2", "Fooocus Enhance", "Fooocus Sharp"]
    assert teapot[LORA_1 : LORA_1 + 15] == [True, "None", 1] * 5  # "none"
    assert tasks["a neon city street in the rain"][RATIO].startswith("1344×768 ")
    # each get_task is followed by generate_clicked ([null]: only the State) in the same session
    sessions: dict[str, list[str]] = {}
    for call in fresh.received():
        sessions.setdefault(call["session_hash"], []).append(call["fn"])
    assert list(sessions.values()) == [["get_task", "generate_clicked"]] * 4
    assert all(c["data"] == [None] for c in fresh.received("generate_clicked"))

    # the same command again: nothing to do, nothing sent
    fresh.reset()
    again = gbatch_cli("fooocus", EXAMPLES / "fooocus" / "prompts.csv", "--server", fresh.url, "--out", out)
    assert again.exit_code == 0, again.output
    assert fresh.received() == []


def test_seed_is_journaled_and_reused(fresh: StandIn, tmp_path: Path) -> None:
    tasks = write_csv(tmp_path / "one.csv", [["id", "prompt", "image_number"], ["owl", "an owl at night", "1"]])
    out = tmp_path / "out"
    first = gbatch_cli("fooocus", tasks, "-s", fresh.url, "-o", out, "-q")
    assert first.exit_code == 0, first.output
    seed = journal(out)["owl"]["generated"]["seed"]
    assert [t[SEED] for t in fresh.tasks()] == [str(seed)]
    picture = (out / "owl.png").read_bytes()

    fresh.reset()
    assert gbatch_cli("fooocus", tasks, "-s", fresh.url, "-o", out, "-q").exit_code == 0
    assert fresh.received() == []  # done, with the same inputs: nothing sent

    restarted = gbatch_cli("fooocus", tasks, "-s", fresh.url, "-o", out, "-q", "--restart")
    assert restarted.exit_code == 0, restarted.output
    assert [t[SEED] for t in fresh.tasks()] == [str(seed)]  # the journaled seed, sent again
    assert journal(out)["owl"]["generated"]["seed"] == seed
    assert (out / "owl.png").read_bytes() == picture  # same prompt and seed: the same image


def test_a_changed_prompt_runs_again(fresh: StandIn, tmp_path: Path) -> None:
    out = tmp_path / "out"
    tasks = write_csv(tmp_path / "t.csv", [["id", "prompt", "image_number"], ["a", "a blue door", "1"]])
    assert gbatch_cli("fooocus", tasks, "-s", fresh.url, "-o", out, "-q").exit_code == 0
    write_csv(tasks, [["id", "prompt", "image_number"], ["a", "a green door", "1"]])
    assert gbatch_cli("fooocus", tasks, "-s", fresh.url, "-o", out, "-q").exit_code == 0
    assert [t[PROMPT] for t in fresh.tasks()] == ["a blue door", "a green door"]


def test_aspect_ratio_spellings_and_ui_labels_as_headers(fresh: StandIn, tmp_path: Path) -> None:
    label = '1152×896 <span style="color: grey;"> ∣ 9:7</span>'
    spellings = ["1152×896", "1152x896", "1152*896", "1152×896 | 9:7", "1152 X 896", "1152×896 ∣ 9:7", label]
    # headers as the web UI labels them, or as gradio names the parameters
    header = ["text", "Aspect Ratios", "Image Number", "Selected Styles", "Guidance Scale", "base_model_sdxl_only", "Output Format"]
    rows = [[f"ratio {i}", spelling, "1", "SAI Anime; fooocus v2", "7", "realisticStockPhoto_v20", "webp"] for i, spelling in enumerate(spellings)]
    out = tmp_path / "out"
    result = gbatch_cli("fooocus", write_csv(tmp_path / "ratios.csv", [header, *rows]), "-s", fresh.url, "-o", out, "-q")
    assert result.exit_code == 0, result.output
    tasks = fresh.tasks()
    assert sorted(t[PROMPT] for t in tasks) == [f"ratio {i}" for i in range(len(spellings))]
    assert {t[RATIO] for t in tasks} == {label}
    assert {(t[IMAGES], t[FORMAT]) for t in tasks} == {(1, "webp")}
    assert {json.dumps(t[STYLES]) for t in tasks} == {json.dumps(["SAI Anime", "Fooocus V2"])}  # the server's spelling
    assert {(t[12], t[BASE_MODEL]) for t in tasks} == {(7, "realisticStockPhoto_v20.safetensors")}
    assert sorted(p.name for p in out.glob("*.webp")) == [f"{i + 1}.webp" for i in range(len(spellings))]


def test_bad_rows_are_refused_before_anything_is_sent(fresh: StandIn, tmp_path: Path) -> None:
    rows = [
        ["id", "prompt", "aspect_ratio", "styles", "loras", "seed", "base_model", "performance"],
        ["square", "x", "1000x1000", "", "", "", "", ""],
        ["wrong ratio", "x", "1152×896 | 1:1", "", "", "", "", ""],
        ["not a ratio", "x", "wide", "", "", "", "", ""],
        ["style", "x", "", "Fooocus Sharpp", "", "", "", ""],
        ["lora", "x", "", "", "no_such_lora.safetensors:0.5", "", "", ""],
        ["weight", "x", "", "", f"{OFFSET_LORA}:2.5", "", "", ""],
        ["six loras", "x", "", "", ";".join([OFFSET_LORA] * 6), "", "", ""],
        ["seed", "x", "", "", "", "-1", "", ""],
        ["model", "x", "", "", "", "", "juggernautXL_v9", ""],
        ["performance", "x", "", "", "", "", "", "Turbo"],
        ["empty", "", "", "", "", "", "", ""],
    ]
    tasks = write_csv(tmp_path / "bad.csv", rows)
    result = gbatch_cli("fooocus", tasks, "-s", fresh.url, "-o", tmp_path / "out")
    assert result.exit_code == 2, result.output
    text = result.output.replace("\n", " ")
    for line, column, message in [
        (2, "aspect_ratio", "1000×1000 is not an aspect ratio this server offers: 704×1408, 704×1344"),
        (3, "aspect_ratio", "1152×896 is 9:7, not 1:1"),
        (4, "aspect_ratio", "'wide' is not an aspect ratio"),
        (5, "styles", "style 'Fooocus Sharpp' is not on this server (did you mean 'Fooocus Sharp'"),
        (6, "loras", "LoRA 'no_such_lora.safetensors' is not on this server"),
        (7, "loras", f"LoRA '{OFFSET_LORA}': weight 2.5 is outside -2 … 2"),
        (8, "loras", "6 LoRAs, but this server has 5 LoRA slots"),
        (9, "seed", "-1 is below the minimum 0"),
        (10, "base_model", "base model 'juggernautXL_v9' is not on this server"),
        (11, "performance", "'Turbo' is not one of: 'Quality', 'Speed'"),
        (12, "prompt", "a value is required"),
    ]:
        # file:line:column (the core may show the row's id after the line)
        where = re.escape(f"{tasks}:{line}") + r"(?: \(id [^)]*\))?:" + re.escape(f"{column}: {message}")
        assert re.search(where, text), (line, result.output)
    assert "nothing was sent" in result.output
    assert fresh.received() == []


def test_every_image_has_its_own_name_even_beside_a_row_named_name_2(fresh: StandIn, tmp_path: Path) -> None:
    tasks = write_csv(tmp_path / "cats.csv", [["id", "prompt"], ["cat", "a cat"], ["cat_2", "another cat"]])
    out = tmp_path / "out"
    result = gbatch_cli("fooocus", tasks, "-s", fresh.url, "-o", out, "-q")  # two images per row: the server's default
    assert result.exit_code == 0, result.output
    records = journal(out)
    assert records["cat"]["outputs"] == ["cat.png", "cat.2.png"]
    assert records["cat_2"]["outputs"] == ["cat_2.png", "cat_2.2.png"]
    assert len({(out / f).read_bytes() for f in ["cat.png", "cat.2.png", "cat_2.png", "cat_2.2.png"]}) == 4


def test_a_txt_of_prompts_with_command_line_defaults(fresh: StandIn, tmp_path: Path) -> None:
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("a quiet harbour\na busy market\n", encoding="utf-8")
    out = tmp_path / "out"
    result = gbatch_cli(
        "fooocus", prompts, "-s", fresh.url, "-o", out, "-q",
        "--image-number", "1", "--aspect-ratio", "1024x1024", "--styles", "[]", "--seed", "99", "--loras", f"{OFFSET_LORA}",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.glob("*.png")) == ["1.png", "2.png"]
    tasks = fresh.tasks()
    assert sorted(t[PROMPT] for t in tasks) == ["a busy market", "a quiet harbour"]
    assert {(t[RATIO][:9], json.dumps(t[STYLES]), t[SEED], t[IMAGES]) for t in tasks} == {("1024×1024", "[]", "99", 1)}
    assert {json.dumps(t[LORA_1 : LORA_1 + 3]) for t in tasks} == {json.dumps([True, OFFSET_LORA, 1])}


# --- another configuration ----------------------------------------------------------------------


def test_the_chain_is_found_where_it_moved(stand_in: StandIn, shifted: StandIn, tmp_path: Path) -> None:
    moved, usual = chain_indices(shifted.config()), chain_indices(stand_in.config())
    assert moved != usual and moved[0] > usual[0]
    shifted.reset()
    tasks = write_csv(tmp_path / "t.csv", [["prompt", "base_model", "image_number"], ["a red bicycle", "realisticStockPhoto_v20.safetensors", "1"]])
    result = gbatch_cli("fooocus", tasks, "-s", shifted.url, "-o", tmp_path / "out", "-q")
    assert result.exit_code == 0, result.output
    calls = shifted.received()
    assert [(c["fn"], c["fn_index"]) for c in calls] == [("get_task", moved[0]), ("generate_clicked", moved[1])]
    data = calls[0]["data"]
    assert len(data) == 150 and data[0] is None  # --disable-image-log --disable-metadata: 149 controls
    assert data[PROMPT] == "a red bicycle" and data[BASE_MODEL] == "realisticStockPhoto_v20.safetensors"


def test_an_empty_gallery_is_a_failed_row_that_says_why(shifted: StandIn, tmp_path: Path) -> None:
    tasks = write_csv(tmp_path / "t.csv", [["id", "prompt", "image_number"], ["lost", "a lighthouse", "1"]])
    out = tmp_path / "out"
    result = gbatch_cli("fooocus", tasks, "-s", shifted.url, "-o", out, "--retries", "2")
    assert result.exit_code == 1, result.output
    assert f"its default base model '{DEFAULT_MODEL}' is not among the checkpoints it lists" in result.output
    record = journal(out)["lost"]
    assert record["status"] == "failed" and record["attempts"] == 1 and record["outputs"] == []
    assert "Fooocus finished without an image and without an error" in record["error"]
    assert "swallows its worker's exceptions" in record["error"]
    assert f"the base model '{DEFAULT_MODEL}' (the server's default) is not among its checkpoints" in record["error"]
    assert not list(out.glob("*.png"))
    assert f"Base model not found: models/checkpoints/{DEFAULT_MODEL}" in shifted.server.output()


# --- pieces -------------------------------------------------------------------------------------


def test_lora_cells() -> None:
    assert parse_loras("a.safetensors:0.5; b.safetensors") == [("a.safetensors", 0.5), ("b.safetensors", None)]
    assert parse_loras("none") == [] and parse_loras("[]") == [] and parse_loras("  ") == []
    assert parse_loras('[["a", 0.5], {"name": "b", "weight": -1}, "c:2"]') == [("a", 0.5), ("b", -1.0), ("c", 2.0)]
    assert parse_loras([["a", 1]]) == [("a", 1.0)]
    assert parse_loras("sub:dir.safetensors") == [("sub:dir.safetensors", None)]  # no number after the colon
    with pytest.raises(ValueError, match="a LoRA weight must be a number"):
        parse_loras('[["a", "heavy"]]')


def test_ratio_spellings() -> None:
    assert ratio_size("1152×896") == (1152, 896, None)
    assert ratio_size(" 1152 x 896 ") == (1152, 896, None)
    assert ratio_size("1152*896 | 9:7") == (1152, 896, (9, 7))
    assert ratio_size(demo_server.add_ratio("896*1152")) == (896, 1152, (7, 9))
    assert ratio_size("9:7") is None and ratio_size("wide") is None


def test_progress_from_the_progress_bar_html() -> None:
    html = demo_server.make_progress_html(42, "Sampling step 3/5, image 1/2 ...")
    assert progress_percent((gbatch.ComponentUpdate(value=html, has_value=True), None, None, None)) == 0.42
    assert progress_percent((html,)) == 0.42
    assert progress_percent((gbatch.ComponentUpdate(props={"visible": False}), None)) is None
    assert progress_percent(()) is None


def test_plan_finds_the_controls_by_their_labels(stand_in: StandIn) -> None:
    session = gbatch.transports.AutoTransport().connect(stand_in.url, gbatch.ConnectOptions(), 1)
    try:
        plan = FooocusPlan(session.api)
    finally:
        session.close()
    get_task, generate = chain_indices(stand_in.config())
    assert (plan.get_task.key, plan.api_name) == (f"#{get_task}", f"#{generate}")
    assert len(plan.lora_slots) == 5
    columns = {c.name: c for c in plan.columns}
    assert "Negative Prompt" in columns["negative_prompt"].aliases
    assert "Base Model (SDXL only)" in columns["base_model"].aliases
    assert (columns["image_number"].minimum, columns["image_number"].maximum) == (1, 32)
    assert columns["performance"].choices == ("Quality", "Speed", "Extreme Speed", "Lightning", "Hyper-SD")
    # gbatch fills the seed column (a new seed, or the one journaled for the row) before prepare
    assert columns["seed"].seed and columns["seed"].default is None
    call = plan.prepare({"prompt": "a cat", "aspect_ratio": "1344x768", "seed": 5}, {"seed": 5})
    assert call.kwargs == {} and call.endpoint == f"#{generate}"
    assert call.before[0].endpoint == f"#{get_task}"
    assert call.before[0].kwargs == {"input_1": "a cat", "aspect_ratios": demo_server.add_ratio("1344*768"), "seed": "5"}


def test_not_fooocus_is_a_clear_error() -> None:
    api = gbatch.ServerApi(url="http://x/", version="3.41.2", endpoints={})
    with pytest.raises(gbatch.ServerError, match="does not look like the Fooocus web UI"):
        find_chain(api)


def test_the_percentage_fooocus_reports_reaches_the_progress_display(fresh: StandIn, tmp_path: Path) -> None:
    """Fooocus reports progress only in its yields' HTML; the plan reads it and the listener gets it."""
    seen: list[float] = []

    class Watch(gbatch.executor.Listener):
        def row_status(self, item_id: str, status: dict[str, Any]) -> None:
            if status.get("code") == "progress":
                seen.append(float(status["progress"]))

    registry = gbatch.load_registry(extra=[gbatch_fooocus])
    tasks = write_csv(tmp_path / "t.csv", [["id", "prompt", "image_number"], ["a", "a red kite", "2"]])
    options = gbatch.BatchOptions(servers=[fresh.url], out=tmp_path / "out")
    result = gbatch.run_batch(registry.tool("fooocus"), tasks, options, listener=Watch(), say=lambda _: None)
    assert result.succeeded == 1
    assert seen and all(0.0 <= p <= 1.0 for p in seen)
    assert len(set(seen)) >= 2  # it moved
