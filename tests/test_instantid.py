"""The `instantid` tool end to end: `gbatch instantid faces.csv --server URL` against the
InstantID stand-in served by real gradio 4.44.1 (InstantID's version), under `.venvs/gradio4`.

The stand-in appends every `/generate_image` call it receives to a JSON-lines file, so
what went over the wire (or that nothing did) is checked on the server side.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

import gbatch
import gbatch.transports
import gbatch_instantid
from gbatch.testing import run_cli
from gbatch_instantid import demo_server
from gbatch_instantid.tool import APP_PARAMS, InstantIDPlan

from . import oldgradio
from .conftest import EXAMPLES, CliResult, journal_by_id, write_csv

pytestmark = pytest.mark.slow

SCRIPT = Path(demo_server.__file__).resolve()
FACES = EXAMPLES / "instantid"
DELAY = "0.3"  # simulated GPU seconds per image: long enough to see progress, short enough to test


class StandIn:
    """A running stand-in and the calls it has received."""

    def __init__(self, server: oldgradio.OldServer, record: Path) -> None:
        self.server = server
        self.url = server.url
        self.record = record

    def received(self) -> list[dict[str, Any]]:
        if not self.record.exists():
            return []
        return [json.loads(line) for line in self.record.read_text(encoding="utf-8").splitlines()]

    def reset(self) -> None:
        self.record.unlink(missing_ok=True)


def _start(folder: Path, *args: str) -> StandIn:
    record = folder / "received.jsonl"
    server = oldgradio.start(SCRIPT, 4, "--delay", DELAY, *args, log_dir=folder, env={"GBATCH_INSTANTID_RECORD": str(record)})
    return StandIn(server, record)


@pytest.fixture(scope="module")
def stand_in(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StandIn]:
    started = _start(tmp_path_factory.mktemp("instantid"))
    yield started
    started.server.stop()


@pytest.fixture
def fresh(stand_in: StandIn) -> StandIn:
    stand_in.reset()
    return stand_in


def gbatch_cli(*args: Any) -> CliResult:
    """`gbatch ARGS...` in this process, with the plugin registered even before its entry point is installed."""
    return run_cli(*args, plugins=[gbatch_instantid])




journal = journal_by_id


def face(path: Path, colour: tuple[int, int, int] | None = None) -> Path:
    """A copy of an example face, or (with `colour`) a one-colour image: the stand-in's "no face"."""
    if colour is None:
        shutil.copy(FACES / "faces" / "ada.png", path)
    else:
        Image.new("RGB", (64, 80), colour).save(path)
    return path


def decoded(path: Path) -> Image.Image:
    with Image.open(path) as image:
        image.load()
        return image


# --- the stand-in itself ----------------------------------------------------------------


def test_stand_in_has_the_upstream_api(stand_in: StandIn) -> None:
    session = gbatch.transports.AutoTransport().connect(stand_in.url, gbatch.ConnectOptions(), 1)
    try:
        api = session.api
    finally:
        session.close()
    assert api.version == "4.44.1"
    assert "NOT InstantID" in api.title
    assert list(api.endpoints) == ["/remove_tips", "/generate_image", "/toggle_lcm_ui"]
    endpoint = api.endpoint("/generate_image")
    assert endpoint is not None
    params = {p.name: p for p in endpoint.parameters}
    assert tuple(params) == APP_PARAMS
    assert params["face_image_path"].label == "Upload a photo of your face"
    assert not params["pose_image_path"].has_default  # why gbatch sends it explicitly as None
    assert params["style_name"].default == "Watercolor"
    assert params["style_name"].choices == tuple(demo_server.STYLE_NAMES)
    assert (params["num_steps"].minimum, params["num_steps"].maximum, params["num_steps"].default) == (20, 100, 30)
    assert params["seed"].maximum == 2147483647
    assert [r.component.lower() for r in endpoint.returns] == ["image", "markdown"]


def test_stand_in_refuses_a_float_seed_like_torch(fresh: StandIn, tmp_path: Path) -> None:
    # `gbatch run` sends a non-integral seed as it is (the page would too): the stand-in fails it
    # without saying why, exactly as InstantID's torch.manual_seed does.
    tasks = write_csv(tmp_path / "raw.csv", [["face_image_path", "seed"], [face(tmp_path / "f.png"), "42.5"]])
    result = gbatch_cli("run", fresh.url, tasks, "--api", "/generate_image", "-o", tmp_path / "out", "-q")
    assert result.exit_code == 1, result.output
    assert "hides the details" in journal(tmp_path / "out")["1"]["error"]
    assert [(c["seed"], c["seed_type"]) for c in fresh.received()] == [(42.5, "float")]
    assert "must be int, not float" in fresh.server.output()


def test_progress_is_reported(fresh: StandIn, tmp_path: Path) -> None:
    session = gbatch.transports.AutoTransport().connect(fresh.url, gbatch.ConnectOptions(), 1)
    try:
        endpoint = session.api.endpoint("/generate_image")
        assert endpoint is not None
        values = {p.name: p.default for p in endpoint.parameters} | {"face_image_path": gbatch.File(str(face(tmp_path / "f.png"))), "pose_image_path": None}
        job = session.submit(gbatch.transports.TransportRequest(endpoint, values))
        updates: list[gbatch.transports.JobEvent] = []
        while True:
            try:
                result = job.result(0.05)
                break
            except TimeoutError:
                updates += job.updates()
        updates += job.updates()
    finally:
        session.close()
    assert any(u.code == "progress" and u.progress for u in updates), updates
    assert isinstance(result.outputs[0], gbatch.ServerFile) and result.outputs[0].suffix == ".webp"


# --- the tool ----------------------------------------------------------------------------


def test_example_batch(fresh: StandIn, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = gbatch_cli("instantid", FACES / "faces.csv", "-s", fresh.url, "-o", out)
    assert result.exit_code == 0, result.output
    assert "stand-in" in result.output
    names = ["ada_astronaut", "bo_detective", "cy_explorer", "dee_neon"]
    for name in names:
        image = decoded(out / f"{name}.png")
        assert image.format == "PNG" and image.size == (512, 640)
    calls = {c["face_image_path"]["name"]: c for c in fresh.received()}
    assert sorted(calls) == ["ada.png", "bo.png", "cy.png", "dee.png"]
    assert all(c["seed_type"] == "int" and c["pose_image_path"] is None for c in calls.values())
    assert (calls["ada.png"]["seed"], calls["ada.png"]["style_name"]) == (1234, "Watercolor")
    assert (calls["cy.png"]["seed"], calls["cy.png"]["style_name"]) == (77, "Jungle")
    assert calls["bo.png"]["num_steps"] == 30 and calls["bo.png"]["negative_prompt"] == demo_server.NEGATIVE_DEFAULT
    records = journal(out)
    # Rows without a seed got a random one, journaled; rows with one keep it out of `generated`.
    assert records["ada_astronaut"]["generated"] == {}
    assert records["bo_detective"]["generated"] == {"seed": calls["bo.png"]["seed"]}
    assert records["dee_neon"]["generated"] == {"seed": calls["dee.png"]["seed"]}
    assert records["ada_astronaut"]["values"] == {"width": 512, "height": 640}


def test_rerun_sends_nothing_and_a_redo_keeps_its_seed(fresh: StandIn, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert gbatch_cli("instantid", FACES / "faces.csv", "-s", fresh.url, "-o", out, "-q").exit_code == 0
    seed = journal(out)["bo_detective"]["generated"]["seed"]
    first = (out / "bo_detective.png").read_bytes()
    fresh.reset()
    again = gbatch_cli("instantid", FACES / "faces.csv", "-s", fresh.url, "-o", out)
    assert again.exit_code == 0, again.output
    assert fresh.received() == []
    # A lost output is made again, with the journaled seed: the same image.
    (out / "bo_detective.png").unlink()
    redo = gbatch_cli("instantid", FACES / "faces.csv", "-s", fresh.url, "-o", out, "-q")
    assert redo.exit_code == 0, redo.output
    assert [(c["face_image_path"]["name"], c["seed"]) for c in fresh.received()] == [("bo.png", seed)]
    assert (out / "bo_detective.png").read_bytes() == first


def test_float_like_seed_cell_is_sent_as_an_int(fresh: StandIn, tmp_path: Path) -> None:
    image = face(tmp_path / "f.png")
    tasks = write_csv(tmp_path / "t.csv", [["id", "face", "Prompt", "Seed"], ["a", image.name, "x", "42.0"], ["b", image.name, "x", "42"]])
    result = gbatch_cli("instantid", tasks, "-s", fresh.url, "-o", tmp_path / "out", "-q")
    assert result.exit_code == 0, result.output
    assert [(c["seed"], c["seed_type"]) for c in fresh.received()] == [(42, "int"), (42, "int")]
    assert (tmp_path / "out" / "a.png").read_bytes() == (tmp_path / "out" / "b.png").read_bytes()


def test_no_face_fails_the_row_with_the_apps_message(fresh: StandIn, tmp_path: Path) -> None:
    face(tmp_path / "ok.png")
    face(tmp_path / "blank.png", (128, 128, 128))
    face(tmp_path / "blank_pose.png", (10, 200, 10))
    tasks = write_csv(
        tmp_path / "t.csv",
        [["id", "face_image", "pose_image"], ["good", "ok.png", "ok.png"], ["noface", "blank.png", ""], ["nopose", "ok.png", "blank_pose.png"]],
    )
    result = gbatch_cli("instantid", tasks, "-s", fresh.url, "-o", tmp_path / "out")
    assert result.exit_code == 1, result.output
    records = journal(tmp_path / "out")
    assert records["good"]["status"] == "ok"
    assert "Cannot find any face in the image! Please upload another person image" in records["noface"]["error"]
    assert "largest" in records["noface"]["error"]  # the tool's hint
    assert "Cannot find any face in the reference image" in records["nopose"]["error"]
    assert "leave pose_image empty" in records["nopose"]["error"]
    assert records["noface"]["attempts"] == 1  # an app error is not retried
    with (tmp_path / "out" / "results.csv").open(encoding="utf-8-sig") as handle:
        rows = {r["id"]: r for r in csv.DictReader(handle)}
    assert rows["noface"]["status"] == "failed" and "Cannot find any face" in rows["noface"]["error"]
    received = {c["face_image_path"]["name"] + "/" + str((c["pose_image_path"] or {}).get("name")) for c in fresh.received()}
    assert received == {"ok.png/ok.png", "blank.png/None", "ok.png/blank_pose.png"}


def test_bad_inputs_are_refused_before_anything_is_sent(fresh: StandIn, tmp_path: Path) -> None:
    face(tmp_path / "ok.png")
    (tmp_path / "text.png").write_text("not an image", encoding="utf-8")
    tasks = write_csv(
        tmp_path / "bad.csv",
        [
            ["id", "face_image_path", "style_name", "num_steps", "seed", "enable_LCM", "scheduler"],
            ["missing", "nowhere.png", "", "", "", "", ""],
            ["style", "ok.png", "Watercolour", "", "", "", ""],
            ["many", "ok.png", "", "500", "", "", ""],
            ["few", "ok.png", "", "10", "", "", ""],
            ["lcm", "ok.png", "", "5", "", "true", ""],  # fine: with LCM the UI allows few steps
            ["notimage", "text.png", "", "", "", "", ""],
            ["seed", "ok.png", "", "", "2147483648", "", ""],
            ["sched", "ok.png", "", "", "", "", "EulerDiscreteScheduler"],
        ],
    )
    result = gbatch_cli("instantid", tasks, "-s", fresh.url, "-o", tmp_path / "out")
    assert result.exit_code == 2, result.output
    text = " ".join(result.output.split())  # rich wraps long lines
    assert "bad.csv:2 (id missing):face_image_path: file not found" in text
    assert "bad.csv:3 (id style):style_name: 'Watercolour' is not one of: '(No style)', 'Watercolor'" in text
    assert "bad.csv:4 (id many):num_steps: 500 is above the maximum 100" in text
    assert "bad.csv:5 (id few):num_steps: 10 is below the minimum 20" in text
    assert "bad.csv:6 (id lcm):" not in text
    assert "bad.csv:7 (id notimage):face_image_path: not an image file" in text
    assert "bad.csv:8 (id seed):seed: 2147483648 is above the maximum 2147483647" in text
    assert "bad.csv:9 (id sched):scheduler: this server's /generate_image has no scheduler input" in text
    assert "7 problems in the task file; nothing was sent" in text
    assert fresh.received() == []


@pytest.mark.parametrize(("fmt", "magic"), [("webp", b"RIFF"), ("jpg", b"\xff\xd8\xff"), ("png", b"\x89PNG")])
def test_formats(fresh: StandIn, tmp_path: Path, fmt: str, magic: bytes) -> None:
    tasks = write_csv(tmp_path / "t.csv", [["id", "face_image", "seed"], ["one", face(tmp_path / "f.png").name, "5"]])
    result = gbatch_cli("instantid", tasks, "-s", fresh.url, "-o", tmp_path / "out", "--format", fmt, "-q")
    assert result.exit_code == 0, result.output
    data = (tmp_path / "out" / f"one.{fmt}").read_bytes()
    assert data.startswith(magic)
    with Image.open(io.BytesIO(data)) as image:
        assert image.size == (512, 640)
    assert sorted(p.suffix for p in (tmp_path / "out").glob("one.*")) == [f".{fmt}"]


def test_unknown_format_is_a_usage_error(fresh: StandIn, tmp_path: Path) -> None:
    tasks = write_csv(tmp_path / "t.csv", [["face_image"], [face(tmp_path / "f.png").name]])
    result = gbatch_cli("instantid", tasks, "-s", fresh.url, "-o", tmp_path / "out", "--format", "gif")
    assert result.exit_code == 2 and "choose one of png, webp, jpg" in result.output
    assert fresh.received() == []


def test_a_server_that_is_not_instantid(stand_in: StandIn) -> None:
    session = gbatch.transports.AutoTransport().connect(stand_in.url, gbatch.ConnectOptions(), 1)
    session.close()
    api = session.api
    endpoint = api.endpoint("/generate_image")
    assert endpoint is not None
    # the same app without its seed input
    changed = replace(endpoint, parameters=tuple(p for p in endpoint.parameters if p.name != "seed"))
    other = replace(api, endpoints={**api.endpoints, "/generate_image": changed})
    with pytest.raises(gbatch.ServerError, match=r"(?s)does not look like the InstantID.*missing: seed"):
        InstantIDPlan(other, "png")
    plan = InstantIDPlan(api, "png")
    hidden = "the app raised an error (the server hides the details: no show_error=True; see its log)"
    assert "show_error" in plan.explain(gbatch.Failure(hidden, "app", hidden=True), gbatch.Call({}))
    assert plan.explain(gbatch.Failure("timed out", "timeout"), gbatch.Call({})) == "timed out"


def test_multicontrolnet_variant(tmp_path: Path) -> None:
    multi = _start(tmp_path, "--variant", "multicontrolnet")
    try:
        image = face(tmp_path / "f.png")
        tasks = write_csv(
            tmp_path / "t.csv",
            [["id", "face_image", "scheduler", "controlnet", "canny_strength", "steps"],
             ["a", image.name, "DPMSolverMultistepScheduler-Karras", "pose;canny", "0.6", "8"],
             ["b", image.name, "", "", "", ""]],
        )  # fmt: skip
        result = gbatch_cli("instantid", tasks, "-s", multi.url, "-o", tmp_path / "out", "-q")
        assert result.exit_code == 0, result.output
        calls = multi.received()
    finally:
        multi.server.stop()
    by_steps = {c["num_steps"]: c for c in calls}
    assert by_steps[8]["scheduler"] == "DPMSolverMultistepScheduler-Karras"
    assert by_steps[8]["controlnet_selection"] == ["pose", "canny"] and by_steps[8]["canny_strength"] == 0.6
    assert by_steps[30]["scheduler"] == "EulerDiscreteScheduler" and by_steps[30]["controlnet_selection"] == ["pose"]
    assert decoded(tmp_path / "out" / "a.png").size == (384, 512)
