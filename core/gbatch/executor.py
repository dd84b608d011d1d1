"""The shared threaded executor, for callers who run their own work (not task-file rows).

`execute(items, work, backends, ...)` runs `work(attempt)` for every item with bounded
concurrency over several servers (`ServerSlots`: a URL and how many items it takes at
once), retries with backoff and jitter, back-pressure, halting and a clean Ctrl-C, and
reports through a `Listener`. It returns an `ExecutorReport` of one `ItemOutcome` per
item. It imports neither rich nor any plugin nor any transport; every decision is made
by the pure scheduler in `gbatch._scheduler`.
"""

from ._executor import Attempt, ErrorKind, ExecutorReport, ItemOutcome, Listener, RetryPolicy, ServerSlots, execute

__all__ = [
    "Attempt",
    "ErrorKind",
    "ExecutorReport",
    "ItemOutcome",
    "Listener",
    "RetryPolicy",
    "ServerSlots",
    "execute",
]
