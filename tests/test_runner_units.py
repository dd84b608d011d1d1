from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gbatch import ExitCode, UsageError
from gbatch._batch import BatchResult
from gbatch._servers import parse_server, redact, redact_url
from gbatch.executor import ServerSlots

# parse_server


def test_parse_server_url_gets_default_slots_and_a_trailing_slash() -> None:
    assert parse_server("http://127.0.0.1:7860", 2) == ServerSlots(
        url="http://127.0.0.1:7860/", slots=2, label="http://127.0.0.1:7860/"
    )


def test_parse_server_with_slots() -> None:
    assert parse_server(" https://gpu-box:8000/app/=4 ", 1) == ServerSlots(
        url="https://gpu-box:8000/app/", slots=4, label="https://gpu-box:8000/app/"
    )


def test_parse_server_trailing_slashes_fold_to_one() -> None:
    assert parse_server("http://h:1//", 1).url == "http://h:1/"


def test_parse_server_label_hides_credentials() -> None:
    backend = parse_server("http://user:pw@h:1=2", 1)
    assert backend == ServerSlots(url="http://user:pw@h:1/", slots=2, label="http://***@h:1/")
    assert str(backend) == "http://***@h:1/"


@pytest.mark.parametrize(
    "text", ["h:7860", "ftp://h", "http://", "http://h=x", "http://h=-1", "http://a b", "http://h=1=2", ""]
)
def test_parse_server_bad_forms(text: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_server(text, 1)
    assert str(info.value) == f"--server {text!r}: expected http(s)://host:port, optionally followed by =N (slots)"


def test_parse_server_refuses_zero_slots() -> None:
    with pytest.raises(UsageError) as info:
        parse_server("http://h=0", 1)
    assert str(info.value) == "--server 'http://h=0': the slot count must be at least 1"
    # Without =N, 0 means "not given": the batch decides from the server and the tool.
    assert parse_server("http://h", 0).slots == 0


# redact / redact_url


def test_redact_url() -> None:
    assert redact_url("http://user:pass@host:7860/x") == "http://***@host:7860/x"
    assert redact_url("https://token@host/") == "https://***@host/"
    assert redact_url("http://host:7860/path@x") == "http://host:7860/path@x"
    assert redact_url("http://host/") == "http://host/"


def test_redact_url_with_an_at_sign_in_the_password() -> None:
    """httpx takes the last '@' before the path as the end of the credentials: hide all of them."""
    assert redact_url("http://u:p@ss@host:1/x") == "http://***@host:1/x"


def test_redact_url_in_text() -> None:
    text = "ConnectError: http://a:b@h1:1/ and https://c:d@h2:2/ refused"
    assert redact_url(text) == "ConnectError: http://***@h1:1/ and https://***@h2:2/ refused"


def test_redact_replaces_secrets_and_credentials() -> None:
    text = "401 for token s3cr3t at http://bob:hunter2@h/ (s3cr3t)"
    assert redact(text, ["s3cr3t"]) == "401 for token *** at http://***@h/ (***)"
    assert redact("nothing here", []) == "nothing here"


def test_redact_longer_secret_first() -> None:
    """A secret that starts with another must not be left half visible."""
    assert redact("token abcdef", ["abc", "abcdef"]) == "token ***"


# BatchResult.exit_code


def result(**kwargs: Any) -> BatchResult:
    fields: dict[str, Any] = {
        "total": 3,
        "succeeded": 3,
        "failed": 0,
        "skipped": 0,
        "not_run": 0,
        "check_failed": 0,
        "unchecked": 0,
        "interrupted": False,
        "halted": False,
        "out_dir": Path("out"),
        "journal": Path("out/gbatch-journal.jsonl"),
        "results": None,
        "seconds": 0.0,
        "rows": [],
    }
    fields.update(kwargs)
    return BatchResult(**fields)


def test_exit_code_ok() -> None:
    assert result().exit_code is ExitCode.OK
    assert result(succeeded=1, skipped=2).exit_code is ExitCode.OK


def test_exit_code_failed() -> None:
    assert result(succeeded=2, failed=1).exit_code is ExitCode.ROWS_FAILED


def test_exit_code_not_run_after_halt() -> None:
    assert result(succeeded=1, failed=1, not_run=1, halted=True).exit_code is ExitCode.ROWS_FAILED
    assert result(succeeded=2, not_run=1, halted=True).exit_code is ExitCode.ROWS_FAILED


def test_exit_code_interrupted_wins() -> None:
    assert result(succeeded=1, failed=1, not_run=1, interrupted=True).exit_code is ExitCode.INTERRUPTED
    assert result(interrupted=True).exit_code == 130


def test_exit_code_dry_run_with_rows_not_run() -> None:
    assert result(succeeded=0, not_run=3, dry_run=True).exit_code is ExitCode.OK


def test_summary_carries_the_exit_code() -> None:
    summary = result(failed=1, seconds=1.23456, results=Path("out/results.csv")).summary()
    assert summary == {
        "total": 3,
        "succeeded": 3,
        "failed": 1,
        "skipped": 0,
        "not_run": 0,
        "check_failed": 0,
        "unchecked": 0,
        "interrupted": False,
        "halted": False,
        "seconds": 1.235,
        "out_dir": "out",
        "journal": str(Path("out/gbatch-journal.jsonl")),
        "results": str(Path("out/results.csv")),
        "review": None,
        "exit_code": 1,
        "servers": [],
        "slots": {},
    }
