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

from ._api import Endpoint, Param, ServerApi
from ._columns import Column, File, normalize_key
from ._errors import (
    ExitCode,
    GbatchError,
    NoServerError,
    PluginError,
    Problem,
    RowFailed,
    ServerError,
    UsageError,
    ValidationError,
)
from ._executor import Attempt, Backend, ErrorKind, ExecutionReport, Listener, Outcome, RetryPolicy, execute
from ._files import StreamedFile, fetch_stream, is_file_value, save_file, suffix_of
from ._generic import GenericTool, choose_endpoint
from ._gradio import ClientPool, Connection, make_client, quiet_telemetry
from ._outputs import atomic_write, sanitize
from ._plugins import PluginInfo, Registry, load_registry
from ._runner import BatchOptions, BatchResult, parse_server, run_batch
from ._tasks import TaskFile, TaskRow, read_tasks
from ._tool import Call, Option, Outputs, Plan, RowProblem, Tool
from .hookspecs import hookimpl

__version__ = "0.1.0"

__all__ = [
    "Attempt",
    "Backend",
    "BatchOptions",
    "BatchResult",
    "Call",
    "ClientPool",
    "Column",
    "Connection",
    "Endpoint",
    "ErrorKind",
    "ExecutionReport",
    "ExitCode",
    "File",
    "GbatchError",
    "GenericTool",
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
    "Registry",
    "RetryPolicy",
    "RowFailed",
    "RowProblem",
    "ServerApi",
    "ServerError",
    "StreamedFile",
    "TaskFile",
    "TaskRow",
    "Tool",
    "UsageError",
    "ValidationError",
    "atomic_write",
    "choose_endpoint",
    "execute",
    "fetch_stream",
    "hookimpl",
    "is_file_value",
    "load_registry",
    "make_client",
    "normalize_key",
    "parse_server",
    "quiet_telemetry",
    "read_tasks",
    "run_batch",
    "sanitize",
    "save_file",
    "suffix_of",
]
