"""Batch behaviour through the CLI against real servers: several servers, timeouts, halting, secrets."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from .apps import echo_app
from .conftest import CliResult, free_port

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def records(folder: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in (folder / "gbatch-journal.jsonl").read_text(encoding="utf-8").splitlines()]


def write_tasks(folder: Path, count: int, prefix: str = "t") -> Path:
    path = folder / "tasks.csv"
    path.write_text("text\n" + "".join(f"{prefix}{i}\n" for i in range(count)), encoding="utf-8")
    return path


def test_rows_spread_over_several_servers(serve: Callable[..., str], cli: Callable[..., CliResult], tmp_path: Path) -> None:
    first: list[str] = []
    second: list[str] = []
    url1, url2 = serve(echo_app(first, 0.2)), serve(echo_app(second, 0.2))
    tasks = write_tasks(tmp_path, 8)
    result = cli("run", url1, tasks, "--server", f"{url2}=2", "-j", "4", "--out", tmp_path / "out", "-q")
    assert result.exit_code == 0, result.output
    assert sorted(first + second) == sorted(f"t{i}" for i in range(8))
    assert first and second, "both servers should have received rows"
    backends = {r["backend"] for r in records(tmp_path / "out")}
    assert backends == {url1 if url1.endswith("/") else url1 + "/", url2 if url2.endswith("/") else url2 + "/"}


def test_unreachable_server_is_skipped_with_a_warning(serve: Callable[..., str], cli: Callable[..., CliResult], tmp_path: Path) -> None:
    calls: list[str] = []
    url = serve(echo_app(calls))
    dead = f"http://127.0.0.1:{free_port()}"
    result = cli("run", dead, write_tasks(tmp_path, 3), "--server", url, "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert "skipping unreachable server" in result.stderr
    assert len(calls) == 3


def test_no_server_reachable_exits_3(cli: Callable[..., CliResult], tmp_path: Path) -> None:
    result = cli("run", f"http://127.0.0.1:{free_port()}", write_tasks(tmp_path, 2), "--out", tmp_path / "out")
    assert result.exit_code == 3
    assert "No server could be reached" in result.stderr
    assert "Traceback" not in result.output


def test_timeout_cancels_and_fails_after_retries(serve: Callable[..., str], cli: Callable[..., CliResult], tmp_path: Path) -> None:
    calls: list[str] = []
    url = serve(echo_app(calls, seconds=3.0))
    result = cli("run", url, write_tasks(tmp_path, 1), "--timeout", "0.5", "--retries", "1", "--out", tmp_path / "out", "-q")
    assert result.exit_code == 1
    (record,) = records(tmp_path / "out")
    assert record["status"] == "failed"
    assert record["attempts"] == 2
    assert "timed out" in str(record["error"])


def test_halt_on_failures_stops_starting_rows(serve: Callable[..., str], cli: Callable[..., CliResult], tmp_path: Path) -> None:
    calls: list[str] = []
    url = serve(echo_app(calls, fail_on="bad"))
    path = tmp_path / "tasks.csv"
    path.write_text("text\nbad1\nbad2\n" + "".join(f"ok{i}\n" for i in range(10)), encoding="utf-8")
    result = cli("run", url, path, "-j", "1", "--halt-on-failures", "2", "--out", tmp_path / "out", "--json")
    assert result.exit_code == 1
    summary = json.loads(result.stdout)
    assert summary["failed"] == 2 and summary["halted"] is True and summary["not_run"] == 10
    assert calls == ["bad1", "bad2"]
    failed = [r for r in records(tmp_path / "out") if r["status"] == "failed"]
    assert [r["error"] for r in failed] == ["the app raised an error: cannot echo bad1", "the app raised an error: cannot echo bad2"]
    assert all(r["attempts"] == 1 for r in failed)


def test_secrets_never_leave_the_process(serve: Callable[..., str], cli: Callable[..., CliResult], tmp_path: Path) -> None:
    calls: list[str] = []
    url = serve(echo_app(calls))
    token, header_value = "hf_SeCrEtToKeN123", "Bearer pr0xy-s3cret"
    out = tmp_path / "out"
    result = cli("run", url, write_tasks(tmp_path, 2), "--token", token, "--header", f"Authorization: {header_value}", "--out", out)
    assert result.exit_code == 0, result.output
    files = "".join(p.read_text(encoding="utf-8", errors="replace") for p in out.iterdir() if p.is_file())
    for secret in (token, header_value, "pr0xy-s3cret"):
        assert secret not in result.output and secret not in files


def test_password_in_url_is_redacted_in_errors(cli: Callable[..., CliResult], tmp_path: Path) -> None:
    port = free_port()
    result = cli("run", f"http://user:pw-S3CRET@127.0.0.1:{port}", write_tasks(tmp_path, 1), "--token", "hf_ToK3N", "--out", tmp_path / "out")
    assert result.exit_code == 3
    assert "pw-S3CRET" not in result.output and "hf_ToK3N" not in result.output
    assert f"http://***@127.0.0.1:{port}/" in result.stderr


def test_foreign_files_are_never_overwritten(serve: Callable[..., str], cli: Callable[..., CliResult], tmp_path: Path) -> None:
    calls: list[str] = []
    url = serve(echo_app(calls))
    out = tmp_path / "out"
    out.mkdir()
    (out / "2.txt").write_text("mine", encoding="utf-8")
    tasks = write_tasks(tmp_path, 2)
    refused = cli("run", url, tasks, "--out", out)
    assert refused.exit_code == 2
    assert f"{tasks}:3: {out / '2.txt'} exists and is not from an earlier gbatch run; use --overwrite or another --out" in refused.stderr
    assert calls == [] and (out / "2.txt").read_text(encoding="utf-8") == "mine"
    assert cli("run", url, tasks, "--out", out, "--overwrite").exit_code == 0


def test_a_file_left_by_a_crash_is_known_as_ours(serve: Callable[..., str], cli: Callable[..., CliResult], tmp_path: Path) -> None:
    """A row killed between writing its file and its journal line claimed the name first: no --overwrite needed."""
    calls: list[str] = []
    url = serve(echo_app(calls))
    out = tmp_path / "out"
    out.mkdir()
    (out / "2.txt").write_text("written just before a crash", encoding="utf-8")
    (out / ".gbatch-claims").write_text("1\n2\n", encoding="utf-8")
    result = cli("run", url, write_tasks(tmp_path, 2), "--out", out)
    assert result.exit_code == 0, result.output
    assert sorted(calls) == ["t0", "t1"]


def test_app_errors_are_retried_only_when_asked(serve: Callable[..., str], cli: Callable[..., CliResult], tmp_path: Path) -> None:
    calls: list[str] = []
    url = serve(echo_app(calls, fail_on="bad"))
    path = tmp_path / "tasks.csv"
    path.write_text("text\nbad\n", encoding="utf-8")
    assert cli("run", url, path, "--out", tmp_path / "a", "-q").exit_code == 1
    assert calls == ["bad"]
    calls.clear()
    result = cli("run", url, path, "--out", tmp_path / "b", "--retry-app-errors", "--retries", "2", "-q")
    assert result.exit_code == 1
    assert calls == ["bad", "bad", "bad"]
    (record,) = records(tmp_path / "b")
    assert record["attempts"] == 3 and record["error"] == "the app raised an error: cannot echo bad"
