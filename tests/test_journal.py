from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest

from gbatch._columns import File
from gbatch._journal import CLAIMS_NAME, JOURNAL_NAME, RESULTS_NAME, Journal, input_hash, write_results

from .conftest import ServeFn, journal_by_id, run_cli, write_csv

# read / append


def test_round_trip_last_record_per_id_wins(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "out")
    journal.append({"id": "a", "status": "failed", "error": "boom"})
    journal.append({"id": "b", "status": "ok", "text": "你好"})
    journal.append({"id": "a", "status": "ok"})
    journal.close()
    assert journal.path == tmp_path / "out" / JOURNAL_NAME
    assert Journal(tmp_path / "out").read() == {
        "a": {"id": "a", "status": "ok"},
        "b": {"id": "b", "status": "ok", "text": "你好"},
    }


def test_append_writes_one_line_per_record_and_reopens_after_close(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    journal.append({"id": 1, "path": Path("x")})  # non-JSON values are written with str()
    journal.close()
    journal.close()  # closing twice is harmless
    journal.append({"id": "2"})
    journal.close()
    assert journal.path.read_text(encoding="utf-8") == '{"id": 1, "path": "x"}\n{"id": "2"}\n'
    assert Journal(tmp_path).read() == {"1": {"id": 1, "path": "x"}, "2": {"id": "2"}}


def test_read_without_a_journal(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "missing")
    assert journal.read() == {}
    assert journal.claimed == set()


def test_read_skips_garbage_and_a_truncated_last_line(tmp_path: Path) -> None:
    (tmp_path / JOURNAL_NAME).write_text(
        '{"id": "a", "status": "ok"}\n'
        "not json\n"
        "\n"
        "[1, 2]\n"
        '{"no_id": true}\n'
        '"just a string"\n'
        '{"id": "b", "status": "ok"}\n'
        '{"id": "a", "status": "fai',
        encoding="utf-8",
    )
    assert Journal(tmp_path).read() == {"a": {"id": "a", "status": "ok"}, "b": {"id": "b", "status": "ok"}}


def test_read_skips_a_last_line_cut_inside_a_utf8_character(tmp_path: Path) -> None:
    """A crash (or a full disk) can cut a multi-byte character; that line is skipped, not fatal."""
    whole = b'{"id": "a", "status": "ok"}\n'
    cut = '{"id": "b", "error": "语音'.encode()[:-1]
    (tmp_path / JOURNAL_NAME).write_bytes(whole + cut)
    assert Journal(tmp_path).read() == {"a": {"id": "a", "status": "ok"}}


def test_append_after_a_truncated_line_starts_a_new_line(tmp_path: Path) -> None:
    """The next run's first record must not be glued onto a line a crash cut short."""
    (tmp_path / JOURNAL_NAME).write_text('{"id": "a", "status": "ok"}\n{"id": "b", "sta', encoding="utf-8")
    journal = Journal(tmp_path)
    journal.append({"id": "c", "status": "ok"})
    journal.close()
    assert Journal(tmp_path).read() == {"a": {"id": "a", "status": "ok"}, "c": {"id": "c", "status": "ok"}}


# claims


def test_claims_are_read_back_by_a_fresh_journal(tmp_path: Path) -> None:
    folder = tmp_path / "new"
    journal = Journal(folder)
    journal.claim("row_1")
    journal.claim("名字")
    assert (folder / CLAIMS_NAME).read_text(encoding="utf-8") == "row_1\n名字\n"
    assert journal.claimed == set()  # only `read` fills it

    fresh = Journal(folder)
    assert fresh.read() == {}
    assert fresh.claimed == {"row_1", "名字"}


def test_claim_after_a_truncated_name_starts_a_new_line(tmp_path: Path) -> None:
    (tmp_path / CLAIMS_NAME).write_text("row_1\nro", encoding="utf-8")
    Journal(tmp_path).claim("row_3")
    fresh = Journal(tmp_path)
    fresh.read()
    assert fresh.claimed == {"row_1", "ro", "row_3"}


# owned_files


def test_owned_files(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    records = [
        {"id": "a", "outputs": ["a.wav", "a.vocals.wav"]},
        {"id": "b", "outputs": []},
        {"id": "c", "outputs": None},
        {"id": "d"},
        {"id": "e", "outputs": ["sub/../e.txt"]},
    ]
    assert journal.owned_files(records) == {
        (tmp_path / "a.wav").resolve(),
        (tmp_path / "a.vocals.wav").resolve(),
        (tmp_path / "e.txt").resolve(),
    }


# input_hash


def test_input_hash_is_stable_across_key_order() -> None:
    one = input_hash({"text": "hi", "speed": 1.0, "opts": {"x": 1, "y": 2}}, {}, "fp")
    two = input_hash({"opts": {"y": 2, "x": 1}, "speed": 1.0, "text": "hi"}, {}, "fp")
    assert one == two
    assert len(one) == 16
    assert int(one, 16) >= 0


def test_input_hash_changes_with_values_and_fingerprint() -> None:
    base = input_hash({"text": "hi"}, {}, "fp")
    assert input_hash({"text": "ho"}, {}, "fp") != base
    assert input_hash({"text": "hi"}, {}, "fp2") != base
    assert input_hash({"text": "hi", "extra": None}, {}, "fp") != base


def test_input_hash_ignores_generated_values() -> None:
    base = input_hash({"text": "hi"}, {}, "fp")
    assert input_hash({"text": "hi", "seed": 123}, {"seed": 123}, "fp") == base
    assert input_hash({"text": "hi", "seed": 456}, {"seed": 123}, "fp") == base


def test_input_hash_lists_and_tuples_hash_alike() -> None:
    assert input_hash({"x": [1, 2]}, {}, "fp") == input_hash({"x": (1, 2)}, {}, "fp")


def test_input_hash_keys_local_files_by_content(tmp_path: Path) -> None:
    first, second = tmp_path / "a.wav", tmp_path / "b.wav"
    first.write_bytes(b"same bytes")
    second.write_bytes(b"same bytes")
    by_first = input_hash({"audio": File(str(first))}, {}, "fp")
    assert input_hash({"audio": File(str(second))}, {}, "fp") == by_first
    assert input_hash({"audio": [File(str(second))]}, {}, "fp") != by_first


def test_input_hash_changes_with_file_bytes(tmp_path: Path) -> None:
    path = tmp_path / "a.wav"
    path.write_bytes(b"one")
    before = input_hash({"audio": File(str(path))}, {}, "fp")
    path.write_bytes(b"other bytes")
    assert input_hash({"audio": File(str(path))}, {}, "fp") != before


def test_input_hash_changes_with_same_size_bytes_and_new_mtime(tmp_path: Path) -> None:
    """The digest cache is keyed by (path, size, mtime): a same-size edit is seen once mtime moves."""
    path = tmp_path / "a.wav"
    path.write_bytes(b"aaaa")
    os.utime(path, ns=(1_000_000_000, 1_000_000_000))
    before = input_hash({"audio": File(str(path))}, {}, "fp")
    path.write_bytes(b"bbbb")
    os.utime(path, ns=(2_000_000_000, 2_000_000_000))
    assert input_hash({"audio": File(str(path))}, {}, "fp") != before


def test_input_hash_of_url_files_is_by_url() -> None:
    one = input_hash({"audio": File("https://host/a.wav")}, {}, "fp")
    assert input_hash({"audio": File("https://host/a.wav")}, {}, "fp") == one
    assert input_hash({"audio": File("https://host/b.wav")}, {}, "fp") != one
    assert input_hash({"audio": "https://host/a.wav"}, {}, "fp") != one  # a file is not its text


def test_input_hash_of_a_missing_local_file_raises(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        input_hash({"audio": File(str(tmp_path / "gone.wav"))}, {}, "fp")


# write_results


def read_results(folder: Path) -> list[list[str]]:
    with (folder / RESULTS_NAME).open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.reader(handle))


HEADER = ["id", "status", "attempts", "server", "seconds", "outputs", "error", "warnings"]


def test_write_results(tmp_path: Path) -> None:
    rows = [
        {
            "id": "a",
            "status": "ok",
            "attempts": 1,
            "backend": "http://h/",
            "duration": 1.5,
            "outputs": ["a.wav", "a.txt"],
            "warnings": ["w1", "w2"],
            "values": {"score": 0.5, "label": "好"},
        },
        {"id": "b", "status": "failed", "error": "boom", "values": {"tags": ["x"], "score": None, "extra": {"k": 1}}},
        {"id": "c", "line": 4, "status": "not run"},
    ]
    path = write_results(tmp_path, rows)
    assert path == tmp_path / RESULTS_NAME
    assert path.read_bytes().startswith(b"\xef\xbb\xbfid,status,")
    assert read_results(tmp_path) == [
        [*HEADER, "out.score", "out.label", "out.tags", "out.extra"],
        ["a", "ok", "1", "http://h/", "1.5", "a.wav;a.txt", "", "w1 | w2", "0.5", "好", "", ""],
        ["b", "failed", "", "", "", "", "boom", "", "", "", '["x"]', '{"k": 1}'],
        ["c", "not run", "", "", "", "", "", "", "", "", "", ""],
    ]
    assert os.listdir(tmp_path) == [RESULTS_NAME]


def test_write_results_without_rows(tmp_path: Path) -> None:
    write_results(tmp_path, [])
    assert read_results(tmp_path) == [HEADER]


def test_write_results_json_for_non_strings(tmp_path: Path) -> None:
    write_results(tmp_path, [{"id": "a", "status": "ok", "values": {"t": True, "n": 3, "s": "3", "u": "é"}}])
    assert read_results(tmp_path)[1][len(HEADER) :] == ["true", "3", "3", "é"]


def test_results_carry_the_inputs_and_seed_under_names_that_cannot_collide(tmp_path: Path) -> None:
    rows = [
        {
            "id": "a",
            "status": "ok",
            "row": {"id": "a", "text": "hello", "status": "draft", "duration": "long"},
            "generated": {"seed": 7},
            "values": {"duration": 1.25},
            "duration": 3.5,
        }
    ]
    write_results(tmp_path, rows, ["id", "text", "status", "duration"])
    header, line = read_results(tmp_path)
    assert header == ["id", "text", "in.status", "duration", *HEADER[1:], "gen.seed", "out.duration"]
    assert dict(zip(header, line, strict=True)) == {
        "id": "a", "text": "hello", "in.status": "draft", "duration": "long", "status": "ok", "attempts": "",
        "server": "", "seconds": "3.5", "outputs": "", "error": "", "warnings": "", "gen.seed": "7", "out.duration": "1.25",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("cell", "shown"),
    [("=1+1", "'=1+1"), ("+SUM(A1)", "'+SUM(A1)"), ("-2+3", "'-2+3"), ("@cmd", "'@cmd"), ("\tx", "'\tx"), ("\rx", "'\rx"), ("-3", "-3"), ("+1.5", "+1.5"), ("a=b", "a=b")],
)
def test_cells_a_spreadsheet_would_run_are_neutralised(tmp_path: Path, cell: str, shown: str) -> None:
    write_results(tmp_path, [{"id": "x", "status": "ok", "row": {"text": cell}}], ["text"])
    assert read_results(tmp_path)[1][1] == shown


def test_a_retry_that_succeeds_keeps_its_own_logs_not_the_failed_attempts(serve: ServeFn, tmp_path: Path) -> None:
    """The first attempt warns, logs and fails; the retry succeeds quietly: its record has no
    warning or log of the attempt that failed."""
    import gradio as gr

    attempts: list[str] = []

    def flaky(text: str) -> str:
        attempts.append(text)
        if len(attempts) == 1:
            gr.Warning("first attempt: the model is cold")
            gr.Info("first attempt: loading")
            raise gr.Error("not ready yet")
        return text.upper()

    with gr.Blocks() as demo:
        box, out = gr.Textbox(label="Text"), gr.Textbox()
        gr.Button().click(flaky, box, out, api_name="flaky")
    url = serve(demo, show_error=True)
    tasks = write_csv(tmp_path / "t.csv", [["id", "text"], ["a", "hi"]])
    result = run_cli("run", url, tasks, "--out", tmp_path / "out", "--retry-app-errors", "--retries", "1")
    assert result.exit_code == 0, result.output
    record = journal_by_id(tmp_path / "out")["a"]
    assert (record["status"], record["attempts"], record["values"]) == ("ok", 2, {"output_0": "HI"})
    assert record["warnings"] == [] and record["logs"] == []
