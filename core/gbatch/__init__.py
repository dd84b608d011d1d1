"""gbatch: batch-drive Gradio AI apps from a task file.

The library is the product; the `gbatch` command is a thin client of it::

    import gbatch

    registry = gbatch.load_registry()
    result = gbatch.run_batch(
        registry.tool("cosyvoice"),
        "lines.csv",
        gbatch.BatchOptions(servers=["http://gpu-box:8000"], out=Path("out")),
    )
    print(result.summary())

Plugins implement the hooks in `gbatch.hookspecs` with `@gbatch.hookimpl` and
import only the names below.
"""

import importlib as _importlib
import typing as _typing

from ._api import Endpoint, Param, ServerApi
from ._batch import BatchOptions, BatchResult
from ._columns import Column, File, normalize_key
from ._errors import (
    AppError,
    CallCancelled,
    CallError,
    CallTimeout,
    ConnectionLost,
    ExitCode,
    Failure,
    GbatchError,
    NoServerError,
    PluginError,
    Problem,
    QueueFull,
    RowFailed,
    ServerError,
    UsageError,
    ValidationError,
)
from ._outputs import atomic_write, sanitize
from ._plugins import PluginInfo, Registry, load_registry
from ._tool import Call, Option, Outputs, Plan, RowProblem, Tool, generated_value
from .hookspecs import hookimpl
from .transports import AutoTransport
from .transports._telemetry import quiet_telemetry
from .transports.base import Connection, Job, Request, Result, ServerFile, Session, Transport, Update, Updated

# The rooms a batch needs but `gbatch --help` does not: imported on first use of one of
# their names (`gbatch.run_batch`, `from gbatch import read_tasks`), as ordinary attributes after.
if _typing.TYPE_CHECKING:
    from ._executor import Attempt, Backend, ErrorKind, ExecutionReport, Listener, Outcome, RetryPolicy, execute
    from ._files import StreamedFile, fetch_stream, is_file_value, save_file, suffix_of
    from ._generic import GenericTool, choose_endpoint
    from ._runner import run_batch
    from ._servers import Server, parse_server
    from ._tasks import TaskFile, TaskRow, read_tasks

_LAZY = {
    "._executor": ("Attempt", "Backend", "ErrorKind", "ExecutionReport", "Listener", "Outcome", "RetryPolicy", "execute"),
    "._files": ("StreamedFile", "fetch_stream", "is_file_value", "save_file", "suffix_of"),
    "._generic": ("GenericTool", "choose_endpoint"),
    "._runner": ("run_batch",),
    "._servers": ("Server", "parse_server"),
    "._tasks": ("TaskFile", "TaskRow", "read_tasks"),
}
_LAZY_HOME = {name: module for module, names in _LAZY.items() for name in names}

__version__ = "0.1.0"

__all__ = [
    "AppError",
    "Attempt",
    "AutoTransport",
    "Backend",
    "BatchOptions",
    "BatchResult",
    "Call",
    "CallCancelled",
    "CallError",
    "CallTimeout",
    "Column",
    "Connection",
    "ConnectionLost",
    "Endpoint",
    "ErrorKind",
    "ExecutionReport",
    "ExitCode",
    "Failure",
    "File",
    "GbatchError",
    "GenericTool",
    "Job",
    "Listener",
    "NoServerError",
    "Option",
    "Outcome",
    "Outputs",
    "Param",
    "Plan",
    "PluginError",
    "PluginInfo",
    "Problem",
    "QueueFull",
    "Registry",
    "Request",
    "Result",
    "RetryPolicy",
    "RowFailed",
    "RowProblem",
    "Server",
    "ServerApi",
    "ServerError",
    "ServerFile",
    "Session",
    "StreamedFile",
    "TaskFile",
    "TaskRow",
    "Tool",
    "Transport",
    "Update",
    "Updated",
    "UsageError",
    "ValidationError",
    "atomic_write",
    "choose_endpoint",
    "execute",
    "fetch_stream",
    "generated_value",
    "hookimpl",
    "is_file_value",
    "load_registry",
    "normalize_key",
    "parse_server",
    "quiet_telemetry",
    "read_tasks",
    "run_batch",
    "sanitize",
    "save_file",
    "suffix_of",
]


def __getattr__(name: str) -> object:
    module = _LAZY_HOME.get(name)
    if module is None:
        raise AttributeError(f"module 'gbatch' has no attribute {name!r}")
    value = getattr(_importlib.import_module(module, __name__), name)
    globals()[name] = value  # once imported, an ordinary attribute
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY_HOME})
