"""Takes that check themselves, end to end: the CosyVoice stand-in makes takes (garbling the
first take of chosen lines), the SenseVoice stand-in "hears" them through the demo side
channel, and gbatch scores, regenerates and keeps the best — all real Gradio servers.
"""

from __future__ import annotations

import csv
import json
import re
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import gbatch
from gbatch.executor import ItemOutcome, Listener
from gbatch_asr_demo import demo_server as asr_demo
from gbatch_asr_demo.said import SaidLog
from gbatch_cosyvoice.demo_server import build_demo

from .conftest import EXAMPLES, PANDAS4, CliResult, ServeFn, journal_by_id, write_csv

pytestmark = [
    pytest.mark.skipif(not (shutil.which("ffmpeg") and shutil.which("ffprobe")), reason="streaming audio needs ffmpeg + ffprobe"),
    *PANDAS4,
]

Cli = Callable[..., CliResult]
VOICE = EXAMPLES / "voices" / "narrator.wav"
VOICE_TEXT = (EXAMPLES / "voices" / "narrator.txt").read_text(encoding="utf-8").strip()
GARBLED = "GARBLE"  # lines with this word get a garbled first take

# Twenty lines of different lengths (the demo side channel tells takes apart by their sound).
ENGLISH = [
    "The lighthouse stood alone at the end of a long narrow cape.",
    "Every evening the keeper climbed the stairs.",
    "He counted them, one hundred and twelve, and lit the lamp.",
    "Ships passed far out at sea.",
    "Nobody wrote to him for 23 years.",
    "The gulls knew him better than any person did.",
    "In winter the waves reached the windows of the lower room.",
    "He kept a diary of the weather, the ships and his own small thoughts.",
    "One morning a boat came ashore.",
    "It was empty except for a red scarf and an old compass.",
    "I don't know whose it was, he said to the gulls.",
    "The compass pointed steadily to the south.",
]
CHINESE = [
    "灯塔孤零零地立在海角的尽头。",
    "每天傍晚，守塔人都会爬上楼梯。",
    "海鸥比任何人都更了解他。",
    "冬天，海浪会打到下层房间的窗户。",
    "一天早上，一条小船漂上了岸。",
    "船上除了一条红围巾和一个旧罗盘，什么都没有。",
    "罗盘一直指向南方。",
    "他把这件事写进了日记。",
]


def cosy_and_asr(serve: ServeFn, said: Path, **asr: Any) -> tuple[str, str]:
    tts = serve(build_demo("upstream", model_version=3, voice="tones", said_dir=str(said), garble=GARBLED))
    return tts, serve(asr_demo.build_demo(str(said), **asr))


def mixed_tasks(path: Path) -> Path:
    rows = [["id", "text"]]
    for n, text in enumerate(ENGLISH + CHINESE, start=1):
        garble = n in (2, 9, 14)  # two English lines and one Chinese line
        rows.append([f"r{n:02d}", f"{text} {GARBLED}" if garble and n < 13 else (f"{GARBLED}{text}" if garble else text)])
    return write_csv(path, rows)


def run(cli: Cli, tts: str, asr: str | list[str], tasks: Path, out: Path, *args: Any) -> CliResult:
    checks = [asr] if isinstance(asr, str) else asr
    flags = [x for url in checks for x in ("--check-server", url)]
    return cli("cosyvoice", tasks, "--server", tts, *flags, "--out", out, "--prompt-audio", VOICE, "--prompt-text", VOICE_TEXT, *args)


def test_a_mixed_batch_regenerates_garbled_takes_and_keeps_the_best(cli: Cli, serve: ServeFn, tmp_path: Path) -> None:
    said = tmp_path / "said"
    tts, asr = cosy_and_asr(serve, said)
    tasks = mixed_tasks(tmp_path / "lines.csv")
    out = tmp_path / "out"
    result = run(cli, tts, asr, tasks, out, "--json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    records = journal_by_id(out)
    assert len(records) == 20 and all(r["status"] == "ok" for r in records.values())

    garbled = {"r02", "r09", "r14"}
    takes = {row_id: r["takes"] for row_id, r in records.items()}
    for row_id, row_takes in takes.items():
        best = records[row_id]["best_take"]
        assert records[row_id]["score"] <= 0.15
        if row_id in garbled:
            # the first take skipped a phrase: caught, regenerated with a new seed, the retake kept
            assert len(row_takes) == 2, row_id
            first, second = row_takes
            assert first["score"]["error"] > 0.15 and second["score"]["error"] <= 0.15
            assert first["generated"]["seed"] != second["generated"]["seed"]
            assert best == 2 and first["outputs"] == [f"{row_id}.take1.wav"] and second["outputs"] == [f"{row_id}.wav"]
            assert first["score"]["differences"] and all(d.startswith("-") for d in first["score"]["differences"])
        else:
            assert len(row_takes) == 1 and best == 1 and row_takes[0]["outputs"] == [f"{row_id}.wav"], row_id
        for take in row_takes:
            assert (out / take["outputs"][0]).exists()
    # one recognition request per take, no more
    assert SaidLog(said).heard_count() == sum(len(t) for t in takes.values()) == 23

    # --json, results.csv and the journal agree on every take's score
    by_json = {r["id"]: r for r in document["checked_rows"]}
    with (out / "results.csv").open(encoding="utf-8-sig") as handle:
        by_csv = {r["id"]: r for r in csv.DictReader(handle)}
    for row_id, record in records.items():
        assert [t["score"] for t in by_json[row_id]["takes"]] == [t["score"]["error"] for t in record["takes"]]
        assert by_json[row_id]["best_take"] == record["best_take"]
        assert float(by_csv[row_id]["check.score"]) == record["score"]
        assert by_csv[row_id]["check.takes"] == str(len(record["takes"]))
        assert by_csv[row_id]["status"] == record["status"]
    assert document["check_failed"] == 0 and document["unchecked"] == 0 and document["exit_code"] == 0

    # ...and so does the review page: each take's score, transcript and edits, the kept take starred
    page = (out / "review.html").read_text(encoding="utf-8")
    blob = re.search(r'<script type="application/json" id="gbatch-data">(.*?)</script>', page, re.S)
    assert blob is not None
    shown = {r["id"]: r for r in json.loads(blob.group(1))["rows"]}
    for row_id, record in records.items():
        assert [t["error"] for t in shown[row_id]["checked"]] == [t["score"]["error"] for t in record["takes"]]
        assert [t["best"] for t in shown[row_id]["checked"]] == [t["take"] == record["best_take"] for t in record["takes"]]
        assert shown[row_id]["score"] == record["score"]
    # the bad take is still there to hear, beside the kept one
    assert [f["path"] for f in shown["r02"]["takes"]] == ["r02.take1.wav"] and shown["r02"]["checked"][0]["differences"]


# --- faults --------------------------------------------------------------------------------


def small_tasks(path: Path, count: int = 8, garble: tuple[int, ...] = ()) -> Path:
    rows = [["id", "text"]]
    for n, text in enumerate(ENGLISH[:count], start=1):
        rows.append([f"r{n:02d}", f"{text} {GARBLED}" if n in garble else text])
    return write_csv(path, rows)


def takes_made(said: Path) -> int:
    return len(list(said.glob("said-*.json")))


def test_a_recogniser_killed_mid_batch_leaves_takes_unchecked_and_a_rerun_checks_them(cli: Cli, serve: ServeFn, tmp_path: Path) -> None:
    said = tmp_path / "said"
    tts = serve(build_demo("upstream", model_version=3, voice="tones", said_dir=str(said)))
    asr_app = asr_demo.build_demo(str(said))
    asr = serve(asr_app)
    log = SaidLog(said)

    def kill_after_three() -> None:
        while log.heard_count() < 3:
            time.sleep(0.02)
        asr_app.close()

    killer = threading.Thread(target=kill_after_three, daemon=True)
    killer.start()
    tasks = small_tasks(tmp_path / "t.csv")
    out = tmp_path / "out"
    result = run(cli, tts, f"{asr}=1", tasks, out, "--json")
    killer.join(10)
    document = json.loads(result.stdout.splitlines()[-1])  # gradio prints a line as it closes
    records = journal_by_id(out)
    unchecked = {i for i, r in records.items() if r["status"] == "unchecked"}
    # the batch finished: every row has its take; those the recogniser did not hear are unchecked, not remade
    assert result.exit_code == 1 and takes_made(said) == 8
    assert unchecked and document["unchecked"] == len(unchecked) and document["check_failed"] == 0
    assert all(len(r["takes"]) == 1 and (out / f"{i}.wav").exists() for i, r in records.items())
    assert all(records[i]["error"].startswith("not checked: ") for i in unchecked)

    # the recogniser is back: a re-run checks those takes and generates nothing
    heard = log.heard_count()
    again = run(cli, tts, serve(asr_demo.build_demo(str(said))), tasks, out, "--json")
    assert again.exit_code == 0, again.output
    records = journal_by_id(out)
    assert all(r["status"] == "ok" and len(r["takes"]) == 1 for r in records.values())
    assert takes_made(said) == 8 and log.heard_count() - heard == len(unchecked)


def test_a_recogniser_error_for_one_take_leaves_that_take_unchecked(cli: Cli, serve: ServeFn, tmp_path: Path) -> None:
    said = tmp_path / "said"
    tts, asr = cosy_and_asr(serve, said, fail_on="red scarf")
    out = tmp_path / "out"
    result = run(cli, tts, asr, small_tasks(tmp_path / "t.csv", count=10), out, "--json")
    assert result.exit_code == 1
    records = journal_by_id(out)
    assert records["r10"]["status"] == "unchecked" and len(records["r10"]["takes"]) == 1  # not regenerated
    assert "error" in records["r10"]["takes"][0]["unchecked"]
    assert all(r["status"] == "ok" for i, r in records.items() if i != "r10")
    assert json.loads(result.stdout)["unchecked"] == 1 and takes_made(said) == 10


def test_a_failing_row_with_a_fixed_seed_is_flagged_not_retried(cli: Cli, serve: ServeFn, tmp_path: Path) -> None:
    said = tmp_path / "said"
    tts, asr = cosy_and_asr(serve, said)
    tasks = write_csv(tmp_path / "t.csv", [["id", "text", "seed"], ["fixed", f"{ENGLISH[0]} {GARBLED}", "42"], ["free", f"{ENGLISH[1]} {GARBLED}", ""]])
    out = tmp_path / "out"
    result = run(cli, tts, asr, tasks, out, "--json")
    assert result.exit_code == 1
    records = journal_by_id(out)
    fixed, free = records["fixed"], records["free"]
    assert fixed["status"] == "check failed" and fixed["flag"] == "fixed seed: not regenerated" and len(fixed["takes"]) == 1
    assert fixed["error"].startswith("best of 1 take scores ")
    assert free["status"] == "ok" and len(free["takes"]) == 2
    document = json.loads(result.stdout)
    assert document["check_failed"] == 1 and document["exit_code"] == 1
    # a re-run leaves the flagged row alone; --redo takes it (with the same fixed seed, so the same take)
    assert run(cli, tts, asr, tasks, out).exit_code == 1 and takes_made(said) == 3
    (tmp_path / "redo.txt").write_text("fixed\n", encoding="utf-8")
    redone = run(cli, tts, asr, tasks, out, "--redo", tmp_path / "redo.txt", "--json")
    assert redone.exit_code == 1 and takes_made(said) == 4
    fixed = journal_by_id(out)["fixed"]
    assert fixed["status"] == "check failed" and [t["take"] for t in fixed["takes"]] == [1, 2]
    assert (out / f"fixed.take{3 - fixed['best_take']}.wav").exists() and (out / "fixed.wav").exists()


def test_ctrl_c_between_a_take_and_its_check_loses_nothing(serve: ServeFn, tmp_path: Path) -> None:
    said = tmp_path / "said"
    tts, asr = cosy_and_asr(serve, said, delay=1.0)
    tool = _cosyvoice_tool()
    tasks = small_tasks(tmp_path / "t.csv", count=4, garble=(2,))
    out = tmp_path / "out"
    options = gbatch.BatchOptions(
        servers=[tts], out=out, check_servers=[asr],
        defaults={"prompt_audio": str(VOICE), "prompt_text": VOICE_TEXT},
    )  # fmt: skip

    class CtrlC(Listener):
        def row_finished(self, outcome: ItemOutcome[Any]) -> None:
            if outcome.id == "r02":  # the garbled line's first take is journaled; its check has not come back
                raise KeyboardInterrupt

    stopped = gbatch.run_batch(tool, tasks, options, listener=CtrlC(), say=lambda _: None)
    assert stopped.interrupted
    records = journal_by_id(out)
    # r02's check had not come back; a row whose check had is journaled as checked
    assert records["r02"]["status"] == "unchecked" and all(r["status"] in ("unchecked", "ok") for r in records.values())
    assert all((out / r["outputs"][0]).exists() for r in records.values())
    seeds = {i: r["takes"][0]["generated"]["seed"] for i, r in records.items()}

    finished = gbatch.run_batch(tool, tasks, options, say=lambda _: None)
    assert finished.exit_code == 0 and finished.succeeded == 4
    records = journal_by_id(out)
    # the interrupted takes were checked, not made again; only the garbled line got a second take
    assert all(records[i]["takes"][0]["generated"]["seed"] == seed for i, seed in seeds.items())
    assert [len(records[i]["takes"]) for i in ("r01", "r02", "r03", "r04")] == [1, 2, 1, 1]


def _cosyvoice_tool() -> gbatch.Tool:
    from gbatch_cosyvoice.tool import CosyVoiceTool

    return CosyVoiceTool()


def test_gbatch_run_checks_takes_of_any_app_through_text_param(cli: Cli, serve: ServeFn, tmp_path: Path) -> None:
    """The generic tool: --text-param names the parameter with the text; --check-api names the
    recogniser's endpoint. gbatch run chooses no seed, so a wrong take is flagged, not remade."""
    said = tmp_path / "said"
    tts = serve(build_demo("upstream", model_version=1, voice="tones", said_dir=str(said), garble=GARBLED))
    asr = serve(asr_demo.build_demo(str(said)))
    tasks = write_csv(tmp_path / "t.csv", [["id", "tts_text"], ["a", ENGLISH[3]], ["b", f"{ENGLISH[5]} {GARBLED}"]])
    out = tmp_path / "out"
    result = cli("run", tts, tasks, "--api", "/generate_audio", "--text-param", "tts_text", "--check-server", asr, "--check-api", "/model_inference", "--out", out, "--json")
    assert result.exit_code == 1, result.output
    records = journal_by_id(out)
    assert records["a"]["status"] == "ok" and records["a"]["score"] == 0.0
    assert records["b"]["status"] == "check failed" and len(records["b"]["takes"]) == 1
    assert records["b"]["flag"] == "fixed seed: not regenerated"
    unknown = cli("run", tts, tasks, "--api", "/generate_audio", "--text-param", "nope", "--check-server", asr, "--out", out)
    assert unknown.exit_code != 0 and "--text-param 'nope'" in unknown.output
