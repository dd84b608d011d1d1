"""The public API, one module per audience, pinned: a name added to or taken from `__all__` is a
deliberate change, made here too (and in the docs)."""

from __future__ import annotations

import importlib

import pytest

PUBLIC = {
    "gbatch": [
        "AppError",
        "BatchOptions",
        "BatchResult",
        "BookOptions",
        "Call",
        "CallCancelled",
        "CallError",
        "CallResult",
        "CallTimeout",
        "Column",
        "ComponentUpdate",
        "ConnectOptions",
        "ConnectionLost",
        "Endpoint",
        "ExitCode",
        "ExpectedApp",
        "Failure",
        "File",
        "GbatchError",
        "GenericTool",
        "NoServerError",
        "Option",
        "Outputs",
        "Param",
        "Pauses",
        "Plan",
        "PluginError",
        "PluginInfo",
        "QueueFull",
        "Registry",
        "RowFailed",
        "RowProblem",
        "Server",
        "ServerApi",
        "ServerError",
        "ServerFile",
        "ServerState",
        "StandIn",
        "StreamedFile",
        "TaskFile",
        "TaskFileProblem",
        "TaskRow",
        "Tool",
        "UsageError",
        "ValidationError",
        "atomic_write",
        "bind_column",
        "bind_columns",
        "choose_endpoint",
        "fetch_stream",
        "generated_value",
        "hookimpl",
        "is_file_value",
        "load_registry",
        "normalize_key",
        "not_the_app",
        "read_tasks",
        "run_batch",
        "sanitize",
        "save_file",
        "seed_column",
        "split_book",
        "suffix_of",
        "tool_hook",
    ],
    "gbatch.transports": [
        "AutoTransport",
        "CallResult",
        "ComponentUpdate",
        "ConnectOptions",
        "Job",
        "JobEvent",
        "ServerFile",
        "ServerSession",
        "Transport",
        "TransportRequest",
        "browser_values",
        "read_config",
    ],
    "gbatch.audio": [
        "AudioInfo",
        "BookAudio",
        "BookChapter",
        "BookInfo",
        "DEFAULT_KBPS",
        "DEFAULT_LUFS",
        "DEFAULT_PEAK_DB",
        "JOINED_DIR",
        "Joined",
        "PAUSE_COLUMN",
        "READABLE",
        "Samples",
        "adts_duration",
        "decode_wav_bytes",
        "encode_audio",
        "is_silent",
        "join",
        "join_book",
        "join_groups",
        "loudness",
        "normalize",
        "normalize_loudness",
        "probe",
        "rms_db",
        "srt",
        "true_peak_db",
        "write_audio",
        "write_book",
    ],
    "gbatch.executor": [
        "Attempt",
        "ErrorKind",
        "ExecutorReport",
        "ItemOutcome",
        "Listener",
        "RetryPolicy",
        "ServerSlots",
        "execute",
    ],
    "gbatch.checks": [
        "Finding",
        "Judgement",
        "Limits",
        "Score",
        "TakeScore",
        "Verdict",
        "audio_findings",
        "judge",
        "normalize",
        "score",
    ],
    "gbatch.testing": [
        "CliResult",
        "FakeServer",
        "FakeTransport",
        "Script",
        "free_port",
        "run_cli",
        "serve",
        "serving",
        "start_script",
    ],
}


@pytest.mark.parametrize("module", sorted(PUBLIC))
def test_each_public_module_exports_exactly_the_pinned_names(module: str) -> None:
    imported = importlib.import_module(module)
    assert sorted(imported.__all__) == sorted(PUBLIC[module])
    assert all(hasattr(imported, name) for name in imported.__all__)
    assert imported.__doc__, f"{module} says what it is for"


def test_importing_gbatch_leaves_the_environment_alone() -> None:
    import subprocess
    import sys

    code = (
        "import os; before = dict(os.environ); import gbatch, gbatch.transports.gradio_client; "
        "print(sorted(k for k in set(os.environ) | set(before) if os.environ.get(k) != before.get(k)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
