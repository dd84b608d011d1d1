"""The `sovits` tool end to end: `gbatch sovits songs.csv` against the So-VITS-SVC stand-in
served by gradio 3.41.2 (`.venvs/gradio3`), through the CLI.

The stand-in records every load, unload and conversion it receives (one JSON line each,
with its process id and how many conversions were running), so these tests check what
arrived on the server, and that nothing arrived when a task file is refused.
"""

from __future__ import annotations

import csv
import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

import gbatch
import gbatch_sovits
from gbatch.cli import build_app
from gbatch_sovits.tool import CONVERT_INPUTS, SovitsTool

from . import oldgradio
from .conftest import EXAMPLES, ROOT, CliResult

pytestmark = pytest.mark.slow

DEMO = ROOT / "plugins" / "gbatch_sovits" / "demo_server.py"
SOVITS = EXAMPLES / "sovits"
TRAINED = SOVITS / "trained"
SONGS = SOVITS / "songs"


# -- the stand-in ----------------------------------------------------------------------------


Standin = oldgradio.Recorded


def predict(standin: Standin, fn_index: int, data: list[Any]) -> dict[str, Any]:
    response = httpx.post(standin.url + "run/predict", json={"fn_index": fn_index, "session_hash": "test", "data": data}, timeout=30)
    body: dict[str, Any] = response.json()
    return body


def start_standin(folder: Path, *extra: str) -> Standin:
    return oldgradio.start_recorded(DEMO, 3, folder, "--trained", str(TRAINED), *extra)


def serving(folder: Path, *extra: str) -> Iterator[Standin]:
    standin = start_standin(folder, *extra)
    try:
        yield standin
    finally:
        standin.server.stop()


@pytest.fixture(scope="module")
def standin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Standin]:
    yield from serving(tmp_path_factory.mktemp("sovits"), "--delay", "0")


@pytest.fixture(scope="module")
def slow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Standin]:
    """A stand-in whose conversions take 0.8 s, for things that must happen during one."""
    yield from serving(tmp_path_factory.mktemp("sovits-slow"), "--delay", "0.8")


# -- helpers ----------------------------------------------------------------------------------


def run(*args: Any) -> CliResult:
    """`gbatch ARGS...` in this process, with the sovits plugin registered directly (it is not an
    installed entry point in the test environment)."""
    registry = gbatch.load_registry(entry_points=False, extra=[gbatch_sovits])
    result = CliRunner().invoke(build_app(registry), [str(a) for a in args], catch_exceptions=False)
    return CliResult(result.exit_code, result.stdout, result.stderr)


def sovits(standin: Standin, tasks: Path, out: Path, *args: Any) -> CliResult:
    return run("sovits", tasks, "-s", standin.url, "-o", out, "-q", *args)


def write_tasks(path: Path, rows: list[dict[str, Any]]) -> Path:
    headers = list(dict.fromkeys(key for row in rows for key in row))
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, headers)
        writer.writeheader()
        writer.writerows(rows)
    return path


def song(name: str) -> str:
    return str(SONGS / f"{name}.wav")


def journal(out: Path) -> dict[str, dict[str, Any]]:
    lines = (out / "gbatch-journal.jsonl").read_text(encoding="utf-8").splitlines()
    return {entry["id"]: entry for entry in map(json.loads, lines)}


def located(output: str, tasks: Path, line: int, column: str, message: str = "") -> bool:
    """`file:line:column: message` is in the output (a row id may follow the line)."""
    pattern = re.escape(str(tasks)) + f":{line}" + r"( \(id [^)]*\))?" + re.escape(f":{column}: {message}")
    return re.search(pattern, output) is not None


def wait_until(condition: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.05)


def model_files(folder: Path, speakers: dict[str, int]) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    model = folder / "G_100.pth"
    model.write_bytes(b"PK\x03\x04 not a real checkpoint")
    config = folder / "config.json"
    config.write_text(json.dumps({"data": {"sampling_rate": 22050}, "spk": speakers}), encoding="utf-8")
    return model, config


# -- the stand-in is upstream's UI ------------------------------------------------------------


def test_stand_in_has_upstream_events_and_inputs(standin: Standin) -> None:
    config = httpx.get(standin.url + "config", timeout=10).json()
    components = {c["id"]: c for c in config["components"]}
    assert config["version"] == "3.41.2"
    assert not config["enable_queue"]
    assert "NOT So-VITS-SVC" in config["title"]

    def target(dep: dict[str, Any]) -> str:
        props = components[dep["targets"][0]]["props"]
        return str(props.get("label") if components[dep["targets"][0]]["type"] not in ("button", "uploadbutton") else props.get("value") or props.get("label"))

    events = [(dep["trigger"], target(dep), len(dep["inputs"]), [components[o]["type"] for o in dep["outputs"]]) for dep in config["dependencies"]]
    assert events == [
        ("change", "选择需要混合模型文件", 1, ["textbox"]),
        ("upload", "选择/追加需要混合模型文件", 2, ["file", "textbox"]),
        ("click", "声线融合启动", 2, ["textbox"]),
        ("click", "压缩模型", 1, ["textbox"]),
        ("click", "刷新本地模型列表", 0, ["dropdown"]),
        ("select", "上传", 0, ["checkbox"]),
        ("select", "本地", 0, ["checkbox"]),
        ("click", "音频转换", 19, ["textbox", "audio"]),
        ("click", "文字转换", 23, ["textbox", "audio"]),
        ("change", "Debug模式，如果向社区反馈BUG需要打开，打开后控制台可以显示具体错误提示", 0, []),
        ("click", "加载模型", 11, ["dropdown", "textbox"]),
        ("click", "卸载模型", 0, ["dropdown", "textbox"]),
    ]
    assert all(dep["api_name"] is None for dep in config["dependencies"])
    convert = [components[i] for i in config["dependencies"][7]["inputs"]]
    assert [(c["type"], c["props"].get("label")) for c in convert] == [(i.component, i.label) for i in CONVERT_INPUTS]
    assert [c["props"].get("value") for c in convert] == [None, None, "wav", 0, False, 0, -40, 0.4, 0.5, 0, 0, 0.75, "pm", 0, 0.05, 100, False, False, 0]
    load = [components[i] for i in config["dependencies"][10]["inputs"]]
    assert [c["props"].get("label") for c in load] == [
        "选择模型文件",
        "选择配置文件",
        "选择聚类模型或特征检索文件（没有可以不选）",
        "推理设备，默认为自动选择CPU和GPU",
        "是否使用NSF_HIFIGAN增强,该选项对部分训练集少的模型有一定的音质增强效果，但是对训练好的模型有反面效果，默认关闭",
        "选择扩散模型文件",
        "选择扩散模型配置文件",
        "是否使用全扩散推理，开启后将不使用So-VITS模型，仅使用扩散模型进行完整扩散推理，默认关闭",
        "动态声线融合",
        None,
        "选择模型文件夹",
    ]
    assert load[9]["props"]["visible"] is False
    assert load[3]["props"]["choices"] == ["Auto", "cpu"]
    # The local-folder refresh lists ./trained/<name> like upstream.
    listed = predict(standin, 4, [])["data"][0]
    assert listed["choices"] in (["./trained/demo", "./trained/duet"], [["./trained/demo", "./trained/demo"], ["./trained/duet", "./trained/duet"]])


# -- runs -------------------------------------------------------------------------------------


def test_example_from_a_server_folder(standin: Standin, tmp_path: Path) -> None:
    """The README's command: examples/sovits/songs.csv with --model-folder ./trained/demo."""
    out = tmp_path / "out"
    before = len(standin.calls("vc_fn"))
    result = sovits(standin, SOVITS / "songs.csv", out, "--model-folder", "./trained/demo")
    assert result.exit_code == 0, result.output
    loads = standin.calls("modelAnalysis")
    assert loads[-1]["local_model_enabled"] is True
    assert loads[-1]["local_model_selection"] == "./trained/demo"
    assert loads[-1]["model_path"] is None and loads[-1]["device"] == "Auto"
    sent = standin.calls("vc_fn")[before:]
    assert [(c["sid"], c["vc_transform"], c["output_format"]) for c in sent] == [("alice", 0, "wav"), ("bob", 5, "flac"), ("alice", -3, "mp3"), ("bob", 12, "wav")]
    assert all(c["in_flight"] == 1 for c in sent)  # one conversion at a time
    assert sent[0]["input_audio"]["basename"] == "twinkle-0-100.wav"  # gradio's temp name, as upstream sees it
    assert sent[0]["types"] == {"vc_transform": "float", "cluster_ratio": "float", "k_step": "int"}
    assert [sent[0][k] for k in ("slice_db", "noise_scale", "pad_seconds", "cl_num", "lg_num", "lgr_num", "f0_predictor", "cr_threshold", "k_step")] == [-40, 0.4, 0.5, 0, 0, 0.75, "pm", 0.05, 100]
    assert not any(c["use_spk_mix"] for c in sent)
    expected = {"twinkle.wav": "WAV", "scale.flac": "FLAC", "lullaby.mp3": "MP3", "call.wav": "WAV"}
    for name, fmt in expected.items():
        info = sf.info(str(out / name))
        assert (info.format, info.samplerate) == (fmt, 44100), name
        assert info.frames > 0
    rows = journal(out)
    assert rows["call"]["values"]["server_file"].endswith("/result_call_bob_12key_sovits.wav")  # the server's own name
    assert rows["scale"]["outputs"] == ["scale.flac"]
    # +12 semitones by resampling: half as long (8 kHz in, 44.1 kHz out)
    assert sf.info(str(out / "call.wav")).frames == pytest.approx(sf.info(song("call")).frames / 2 * 44100 / 8000, rel=0.01)
    # Again: nothing left to convert (the model is loaded again to learn its speakers).
    again = sovits(standin, SOVITS / "songs.csv", out, "--model-folder", "./trained/demo")
    assert again.exit_code == 0, again.output
    assert len(standin.calls("vc_fn")) == before + 4


def test_uploaded_model_and_its_speakers(standin: Standin, tmp_path: Path) -> None:
    model, config = model_files(tmp_path / "upload", {"carol": 0, "dave": 1})
    tasks = write_tasks(tmp_path / "t.csv", [{"id": "a", "audio": song("scale")}, {"id": "b", "audio": song("call"), "speaker": "DAVE", "音频输出格式": "flac"}])
    out = tmp_path / "out"
    before = len(standin.calls("vc_fn"))
    result = sovits(standin, tasks, out, "--model", model, "--config", config, "--transpose", "2")
    assert result.exit_code == 0, result.output
    load = standin.calls("modelAnalysis")[-1]
    assert load["local_model_enabled"] is False
    assert (load["model_path"]["basename"], load["model_path"]["size"]) == ("G_100.pth", model.stat().st_size)
    assert load["config_path"]["basename"] == "config.json"
    sent = standin.calls("vc_fn")[before:]
    assert [(c["sid"], c["vc_transform"], c["output_format"]) for c in sent] == [("carol", 2, "wav"), ("dave", 2, "flac")]
    assert sf.info(str(out / "a.wav")).samplerate == 22050  # the config's sampling rate
    assert (out / "b.flac").exists()


def test_unknown_speaker_is_refused_before_any_conversion(standin: Standin, tmp_path: Path) -> None:
    model, config = model_files(tmp_path / "upload", {"carol": 0, "dave": 1})
    tasks = write_tasks(tmp_path / "t.csv", [{"id": "a", "audio": song("scale"), "speaker": "carol"}, {"id": "b", "audio": song("call"), "speaker": "alice"}])
    before = len(standin.calls("vc_fn"))
    result = sovits(standin, tasks, tmp_path / "out", "--model", model, "--config", config)
    assert result.exit_code == 2, result.output
    assert located(result.output, tasks, 3, "speaker", "'alice' is not a speaker of the loaded model; it has: carol, dave"), result.output
    assert "nothing was sent" in result.output
    assert len(standin.calls("vc_fn")) == before
    # The dry run checks the same way and sends nothing either.
    dry = sovits(standin, tasks, tmp_path / "out", "--model", model, "--config", config, "--dry-run")
    assert dry.exit_code == 2 and "'alice' is not a speaker" in dry.output
    assert len(standin.calls("vc_fn")) == before


def test_cluster_ratio_needs_a_cluster_model(standin: Standin, tmp_path: Path) -> None:
    tasks = write_tasks(tmp_path / "t.csv", [{"id": "a", "audio": song("scale"), "cluster_ratio": "0.5"}])
    before = len(standin.calls("vc_fn"))
    refused = sovits(standin, tasks, tmp_path / "out", "--model-folder", "./trained/demo")
    assert refused.exit_code == 2, refused.output
    assert located(refused.output, tasks, 2, "cluster_ratio", "cluster_ratio 0.5 needs a cluster model or feature-retrieval index"), refused.output
    assert len(standin.calls("vc_fn")) == before
    cluster = tmp_path / "kmeans_10000.pt"
    cluster.write_bytes(b"fake cluster model")
    result = sovits(standin, tasks, tmp_path / "out", "--model-folder", "./trained/demo", "--cluster-model", cluster)
    assert result.exit_code == 0, result.output
    assert standin.calls("modelAnalysis")[-1]["cluster_model_path"]["basename"] == "kmeans_10000.pt"
    assert standin.calls("vc_fn")[-1]["cluster_ratio"] == 0.5
    assert journal(tmp_path / "out")["a"]["values"]["server_file"].endswith("result_scale_alice_0key_0.5_sovits.wav")


def test_soft_failure_fails_the_row_with_the_servers_message(standin: Standin, tmp_path: Path) -> None:
    silent = tmp_path / "silent.wav"
    sf.write(str(silent), np.zeros(4000, dtype=np.float32), 8000, subtype="PCM_16")
    tasks = write_tasks(tmp_path / "t.csv", [{"id": "quiet", "audio": str(silent)}, {"id": "song", "audio": song("twinkle")}])
    out = tmp_path / "out"
    result = sovits(standin, tasks, out, "--model-folder", "./trained/demo")
    assert result.exit_code == 1, result.output
    rows = journal(out)
    assert rows["quiet"]["status"] == "failed"
    assert rows["quiet"]["error"] == "You need to upload an audio"
    assert rows["quiet"]["attempts"] == 1  # the app said no: not retried
    assert rows["song"]["status"] == "ok"
    assert not (out / "quiet.wav").exists()


def test_bad_cells_are_located_and_nothing_is_sent(standin: Standin, tmp_path: Path) -> None:
    empty = tmp_path / "empty.wav"
    sf.write(str(empty), np.zeros(0, dtype=np.float32), 8000, subtype="PCM_16")
    tasks = write_tasks(
        tmp_path / "t.csv",
        [
            {"id": "1", "audio": song("scale"), "transpose": "1.5"},
            {"id": "2", "audio": song("scale"), "f0_predictor": "yin"},
            {"id": "3", "audio": song("scale"), "format": "ogg"},
            {"id": "4", "audio": "songs/missing.wav"},
            {"id": "5", "audio": song("scale"), "cluster_ratio": "2"},
            {"id": "6", "audio": song("scale"), "keep_ratio": "0"},
            {"id": "7", "audio": song("scale"), "diffusion_steps": "0"},
            {"id": "8", "audio": str(empty)},
            {"id": "9", "audio": ""},
        ],
    )
    before = len(standin.calls("vc_fn"))
    result = sovits(standin, tasks, tmp_path / "out", "--model-folder", "./trained/demo")
    assert result.exit_code == 2, result.output
    for line, column in ((2, "transpose"), (3, "f0_predictor"), (4, "format"), (5, "audio"), (6, "cluster_ratio"), (7, "keep_ratio"), (8, "diffusion_steps"), (9, "audio"), (10, "audio")):
        assert located(result.output, tasks, line, column), (line, column, result.output)
    assert "'yin' is not one of: 'pm', 'dio', 'harvest', 'crepe', 'rmvpe'" in result.output
    assert "2.0 is above the maximum 1" in result.output
    assert "9 problems in the task file; nothing was sent." in result.output
    assert len(standin.calls("vc_fn")) == before


def test_columns_by_upstream_names_and_labels(standin: Standin, tmp_path: Path) -> None:
    tasks = write_tasks(tmp_path / "t.csv", [{"id": "x", "input_audio": song("lullaby"), "sid": "bob", "变调（整数，可以正负，半音数量，升高八度就是12）": "-2", "lgr_num": "0.5", "k_step": "50", "output_format": "flac"}])
    result = sovits(standin, tasks, tmp_path / "out", "--model-folder", "./trained/demo", "--f0-predictor", "rmvpe")
    assert result.exit_code == 0, result.output
    got = standin.calls("vc_fn")[-1]
    assert (got["sid"], got["vc_transform"], got["lgr_num"], got["k_step"], got["output_format"], got["f0_predictor"]) == ("bob", -2, 0.5, 50, "flac", "rmvpe")


# -- options and servers that do not fit --------------------------------------------------------------


def test_model_options(standin: Standin, tmp_path: Path) -> None:
    tasks = write_tasks(tmp_path / "t.csv", [{"id": "a", "audio": song("scale")}])
    model, config = model_files(tmp_path / "m", {"x": 0})
    loads = len(standin.calls("modelAnalysis"))
    cases = [
        ((), "choose the model: --model-folder"),
        (("--model-folder", "./trained/demo", "--model", model, "--config", config), "not both"),
        (("--model", model), "--model and --config go together"),
        (("--model", tmp_path / "nope.pth", "--config", config), "--model " + str(tmp_path / "nope.pth") + ": no such file"),
        (("--model-folder", "./trained/demo", "--device", "cuda:7"), "--device 'cuda:7': the server offers 'Auto', 'cpu'"),
        (("--model-folder", "./trained/demo", "--only-diffusion"), "--only-diffusion needs --diffusion-model"),
    ]
    for args, message in cases:
        result = sovits(standin, tasks, tmp_path / "out", *args)
        assert result.exit_code == 2, (args, result.output)
        assert message in result.output, (args, result.output)
    assert len(standin.calls("modelAnalysis")) == loads


def test_a_failed_load_stops_the_batch_with_the_servers_message(standin: Standin, tmp_path: Path) -> None:
    tasks = write_tasks(tmp_path / "t.csv", [{"id": "a", "audio": song("scale")}])
    before = len(standin.calls("vc_fn"))
    result = sovits(standin, tasks, tmp_path / "out", "--model-folder", "./trained/nope")
    assert result.exit_code == 2, result.output
    assert "loading the model failed: IndexError('list index out of range')" in result.output
    assert "no *.pth or no *.json in './trained/nope'" in result.output
    bad_config = tmp_path / "config.json"
    bad_config.write_text('{"data": {}}', encoding="utf-8")
    result = sovits(standin, tasks, tmp_path / "out", "--model", TRAINED / "demo" / "G_0.pth", "--config", bad_config)
    assert result.exit_code == 2, result.output
    assert "'HParams' object has no attribute 'spk'" in result.output
    assert len(standin.calls("vc_fn")) == before


def test_a_server_that_is_not_sovits() -> None:
    param = gbatch.Param(name="text", label="Text", component="textbox", python_type="str", schema={"type": "string"}, has_default=True, default="")
    ret = gbatch.Param(name="output", label="Output", component="textbox", python_type="str", schema={"type": "string"})
    api = gbatch.ServerApi(url="http://x/", version="3.41.2", endpoints={}, unnamed={0: gbatch.Endpoint(name="", parameters=(param,), returns=(ret,), fn_index=0, trigger='button "Go" click', queued=False)})
    with pytest.raises(gbatch.ServerError) as error:
        SovitsTool().plan(api, {"model_folder": "./trained/demo"})
    text = str(error.value)
    assert 'it lacks the "加载模型" event' in text and 'the "音频转换" event' in text
    assert '#0 button "Go" click: 1 inputs (textbox) -> textbox' in text


# -- the model goes away mid-batch --------------------------------------------------------------------


def test_unloaded_model_is_loaded_again(slow: Standin, tmp_path: Path) -> None:
    """Someone presses 卸载模型 during row 1: row 2 hears `You need to upload an model`, and gbatch
    loads the model again and sends row 2 again."""
    tasks = write_tasks(tmp_path / "t.csv", [{"id": str(i), "audio": song(name)} for i, name in enumerate(("scale", "call", "twinkle"), 1)])
    converted = len(slow.calls("vc_fn"))
    loads = len(slow.calls("modelAnalysis"))

    def unload_during_row_1() -> None:
        wait_until(lambda: len(slow.calls("vc_fn")) > converted)
        predict(slow, 11, [])

    helper = threading.Thread(target=unload_during_row_1, daemon=True)
    helper.start()
    result = sovits(slow, tasks, tmp_path / "out", "--model-folder", "./trained/demo")
    helper.join(10)
    assert result.exit_code == 0, result.output
    rows = journal(tmp_path / "out")
    assert [rows[i]["attempts"] for i in ("1", "2", "3")] == [1, 2, 1]
    assert len(slow.calls("modelAnalysis")) == loads + 2  # before the batch, and again for row 2
    assert len(slow.calls("modelUnload")) >= 1


def test_restarted_server_gets_the_model_again(slow: Standin, tmp_path: Path) -> None:
    """The server is killed during row 2 and comes back: the model is loaded again, every row finishes."""
    tasks = write_tasks(tmp_path / "t.csv", [{"id": str(i), "audio": song(name)} for i, name in enumerate(("scale", "call", "twinkle", "lullaby"), 1)])
    converted = len(slow.calls("vc_fn"))
    old_pid = slow.server.process.pid

    def crash_during_row_2() -> None:
        wait_until(lambda: len(slow.calls("vc_fn")) >= converted + 2)
        slow.restart()

    helper = threading.Thread(target=crash_during_row_2, daemon=True)
    helper.start()
    result = sovits(slow, tasks, tmp_path / "out", "--model-folder", "./trained/demo", "--retries", "6")
    helper.join(60)
    assert result.exit_code == 0, result.output
    new_pid = slow.server.process.pid
    assert new_pid != old_pid
    after = [c for c in slow.calls() if c["pid"] == new_pid]
    assert after[0]["handler"] == "modelAnalysis" and after[0]["local_model_selection"] == "./trained/demo"
    assert [c["handler"] for c in after].count("vc_fn") == 3  # rows 2 (again), 3 and 4
    rows = journal(tmp_path / "out")
    assert all(rows[i]["status"] == "ok" for i in ("1", "2", "3", "4"))
    assert rows["2"]["attempts"] >= 2
    assert sorted(p.name for p in (tmp_path / "out").glob("*.wav")) == ["1.wav", "2.wav", "3.wav", "4.wav"]


def test_one_batch_with_two_models(standin: Standin, tmp_path: Path) -> None:
    """Rows name their model folder: each is loaded only for its rows, and every conversion ran with its row's model."""
    rows = [{"id": f"{i}", "audio": song(name), "model": model, "speaker": speaker} for i, (name, model, speaker) in enumerate(
        [("scale", "./trained/demo", "alice"), ("call", "./trained/duet", "dave"), ("twinkle", "./trained/demo", "bob"), ("lullaby", "./trained/duet", "carol"), ("scale", "./trained/duet", "")],
    )]  # fmt: skip
    tasks = write_tasks(tmp_path / "t.csv", rows)
    seen = len(standin.calls())
    result = sovits(standin, tasks, tmp_path / "out", "--json")
    assert result.exit_code == 0, result.output
    calls = standin.calls()[seen:]
    # Each model is loaded once to learn its speakers, then once more at most for its rows.
    loads = [c for c in calls if c["handler"] == "modelAnalysis"]
    assert [c["local_model_selection"] for c in loads[:2]] == ["./trained/demo", "./trained/duet"]
    assert len(loads) <= 3
    wanted = {r["id"]: r["model"] for r in rows}
    converted = [c for c in calls if c["handler"] == "vc_fn"]
    assert len(converted) == 5
    by_speaker = {"alice": "./trained/demo", "bob": "./trained/demo", "carol": "./trained/duet", "dave": "./trained/duet"}
    for call in converted:
        assert call["loaded"] == by_speaker[call["sid"]], call
    assert sorted(wanted.values()).count("./trained/duet") == sum(1 for c in converted if c["loaded"] == "./trained/duet")
    assert json.loads(result.stdout)["succeeded"] == 5


def test_a_speaker_of_another_model_is_refused(standin: Standin, tmp_path: Path) -> None:
    tasks = write_tasks(tmp_path / "t.csv", [{"id": "a", "audio": song("scale"), "model": "./trained/duet", "speaker": "alice"}])
    converted = len(standin.calls("vc_fn"))
    result = sovits(standin, tasks, tmp_path / "out")
    assert result.exit_code == 2, result.output
    assert "'alice' is not a speaker of the model ./trained/duet; it has: carol, dave" in result.output
    assert len(standin.calls("vc_fn")) == converted
