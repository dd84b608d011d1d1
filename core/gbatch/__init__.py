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

The names here serve two audiences: tool authors (plugins implement the hooks in
`gbatch.hookspecs` with `@gbatch.hookimpl` and import only these names) and library
callers (`run_batch`, `read_tasks`, `load_registry`). The rest have modules of their own:

- `gbatch.transports`: the seam to servers, for transport authors (`Transport`,
  `ServerSession`, `Job`, `TransportRequest`, `JobEvent`, `AutoTransport`);
- `gbatch.executor`: the threaded executor on its own (`execute`, `ServerSlots`, `Listener`);
- `gbatch.testing`: real Gradio servers on 127.0.0.1 and the CLI in-process, for tests.
"""

import importlib as _importlib
import typing as _typing

from ._api import Endpoint, Param, ServerApi
from ._batch import BatchOptions, BatchResult
from ._binding import bind_column, bind_columns
from ._book import BookOptions, Pauses
from ._columns import Column, File, normalize_key, seed_column
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
    QueueFull,
    RowFailed,
    ServerError,
    TaskFileProblem,
    UsageError,
    ValidationError,
)
from ._outputs import atomic_write, sanitize
from ._plugin_kit import ExpectedApp, StandIn, not_the_app, tool_hook
from ._plugins import PluginInfo, Registry, load_registry
from ._tool import Call, Option, Outputs, Plan, RowProblem, ServerState, Tool, generated_value
from .hookspecs import hookimpl
from .transports.base import CallResult, ComponentUpdate, ConnectOptions, ServerFile

# The rooms a batch needs but `gbatch --help` does not: imported on first use of one of
# their names (`gbatch.run_batch`, `from gbatch import read_tasks`), as ordinary attributes after.
if _typing.TYPE_CHECKING:
    from ._book import split_book
    from ._files import StreamedFile, fetch_stream, is_file_value, save_file, suffix_of
    from ._generic import GenericTool, choose_endpoint
    from ._runner import run_batch
    from ._servers import Server
    from ._tasks import TaskFile, TaskRow, read_tasks

_LAZY = {
    "._book": ("split_book",),  # a lazy name of gbatch._book itself: its readers load with it
    "._files": ("StreamedFile", "fetch_stream", "is_file_value", "save_file", "suffix_of"),
    "._generic": ("GenericTool", "choose_endpoint"),
    "._runner": ("run_batch",),
    "._servers": ("Server",),
    "._tasks": ("TaskFile", "TaskRow", "read_tasks"),
}
_LAZY_HOME = {name: module for module, names in _LAZY.items() for name in names}

__version__ = "0.1.0"

__all__ = [
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
