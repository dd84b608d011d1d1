"""One request through any transport, within an attempt's deadline, and what its failure means.

- `call` submits a request, waits for it in short steps so that a Ctrl-C or the
  per-row timeout can cancel it on the server, and keeps every log line
  (gr.Info / gr.Warning) and queue position the server sends;
- `classify` turns a failure into the executor's decision (retry, wait, fail);
- `describe` is the one-line message a user reads in the journal.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from typing import Any

from ._errors import TIMEOUT_ERRORS, AppError, CallCancelled, CallError, CallTimeout, QueueFull, RowFailed
from ._executor import Attempt, ErrorKind
from .transports.base import CallResult, Job, ServerSession, TransportRequest

__all__ = ["call", "classify", "describe"]

# Text of app errors that are worth retrying: quota and memory trouble pass with time.
TRANSIENT_APP_ERRORS = ("exceeded your gpu quota", "out of memory", "cuda error", "try again", "retry in")


def call(
    session: ServerSession, request: TransportRequest, attempt: Attempt, poll: float = 0.2, progress: Callable[[tuple[Any, ...]], float | None] | None = None
) -> CallResult:
    """Submit `request` and wait for it, honouring the attempt's deadline and cancellation.

    :param progress: reads 0..1 from a generator's intermediate outputs (`Plan.progress`).

    Runs in a worker thread. Raises a `CallError` (with the logs received so far).
    """
    logs: list[tuple[str, str]] = []
    try:
        job = _submit(session, request, attempt, poll)
    except CallError as exc:
        exc.logs = exc.logs or logs
        raise
    while True:
        _drain(job, logs, attempt, progress)
        if attempt.cancelled.is_set():
            job.cancel()
            raise CallCancelled("cancelled", logs=logs)
        left = attempt.time_left()
        if left is not None and left <= 0:
            # Waiting longer does not stop a job: cancel removes it from the queue,
            # or stops it between iterations where the server can.
            job.cancel()
            raise CallTimeout("timed out; the job was cancelled on the server", logs=logs)
        try:
            step = poll if left is None else max(0.01, min(poll, left))
            # A job that can wake on its events waits here, so its queue events go on at once.
            result = job.result(timeout=0.0 if job.wait(step) else step)
        except TIMEOUT_ERRORS:
            continue
        except CallError as exc:
            _drain(job, logs, attempt, progress)
            exc.logs = logs + [entry for entry in exc.logs if entry not in logs]
            raise
        _drain(job, logs, attempt, progress)
        return dataclasses.replace(result, logs=tuple(logs))


def _submit(session: ServerSession, request: TransportRequest, attempt: Attempt, poll: float) -> Job:
    """`session.submit`, within the attempt's deadline and cancellation: sending (uploads, a
    server that accepts the connection and never answers) must not outlast --timeout or Ctrl-C."""
    box: dict[str, Any] = {}

    def send() -> None:
        try:
            box["job"] = session.submit(request, attempt.slot)
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread
            box["error"] = exc

    sender = threading.Thread(target=send, name="gbatch-submit", daemon=True)
    sender.start()
    while sender.is_alive():
        sender.join(poll)
        if not sender.is_alive():
            break
        if attempt.cancelled.is_set():
            raise CallCancelled("cancelled while sending")
        left = attempt.time_left()
        if left is not None and left <= 0:
            # The request is abandoned to its daemon thread; if it ever lands, its job is cancelled.
            threading.Thread(target=_cancel_when_sent, args=(sender, box), daemon=True).start()
            raise CallTimeout("timed out while sending the request")
    if "error" in box:
        raise box["error"]
    job: Job = box["job"]
    return job


def _cancel_when_sent(sender: threading.Thread, box: dict[str, Any]) -> None:
    sender.join()
    late = box.get("job")
    if late is not None:
        late.cancel()


def _drain(job: Job, logs: list[tuple[str, str]], attempt: Attempt, progress: Callable[[tuple[Any, ...]], float | None] | None) -> None:
    for update in job.updates():
        if update.log is not None:
            logs.append(update.log)
            continue
        if update.outputs is not None:
            fraction = progress(update.outputs) if progress is not None else None
            if fraction is not None:
                attempt.report(code="progress", progress=fraction)
            continue
        status: dict[str, object] = {"code": update.code, "rank": update.rank, "queue_size": update.queue_size}
        if update.progress is not None:
            status["progress"] = update.progress
        attempt.report(**status, eta=update.eta)


def classify(exc: BaseException, *, retry_app_errors: bool = False) -> ErrorKind:
    """Retry, wait or fail: a full queue is waited out, network trouble and timeouts are
    retried, and an error of the app itself fails the row unless its text says it will
    pass (GPU quota, out of memory) or `retry_app_errors` is set."""
    if isinstance(exc, QueueFull):
        return ErrorKind.BACKPRESSURE
    if isinstance(exc, CallCancelled):
        return ErrorKind.CANCELLED
    if isinstance(exc, RowFailed):
        return ErrorKind.TRANSIENT if exc.retryable else ErrorKind.PERMANENT
    if isinstance(exc, AppError):
        text = exc.message.lower()
        passing = retry_app_errors or any(p in text for p in TRANSIENT_APP_ERRORS)
        return ErrorKind.TRANSIENT if passing else ErrorKind.PERMANENT
    if isinstance(exc, CallError):
        return ErrorKind.TRANSIENT if exc.cause in ("transport", "timeout") else ErrorKind.PERMANENT
    # A plugin's own network code may raise these; other OSErrors (a full disk) would fail again.
    if isinstance(exc, (ConnectionError, *TIMEOUT_ERRORS)):
        return ErrorKind.TRANSIENT
    return ErrorKind.PERMANENT


def describe(exc: BaseException) -> str:
    """A one-line message for an attempt's exception, as the user should read it."""
    if isinstance(exc, QueueFull):
        return "the server's queue is full"
    if isinstance(exc, AppError):
        if exc.hidden:
            return "the app raised an error (the server hides the details: no show_error=True; see its log)" + _last_messages(exc.logs)
        return f"the app raised an error: {exc.message}"
    if isinstance(exc, (CallError, RowFailed)):
        return str(exc)  # our own messages, written for the user: no class name in front
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


# What a hidden error's line quotes of the app's own messages for that job: the last few, cut short.
LAST_MESSAGES = 3
MESSAGE_CHARS = 200


def _last_messages(logs: list[tuple[str, str]]) -> str:
    """The app's last log and warning messages for the job: all gbatch sees of a hidden error."""
    if not logs:
        return ""
    shown = [f"{level.lower()}: {text if len(text) <= MESSAGE_CHARS else text[: MESSAGE_CHARS - 1] + '…'}" for level, text in logs[-LAST_MESSAGES:]]
    return "; the app's last messages for it: " + " | ".join(shown)


def cause_of(exc: BaseException) -> str:
    """What kind of failure an attempt's exception was: app, queue, transport, timeout,
    cancelled, request or output (a plugin's own failure)."""
    cause = getattr(exc, "cause", None)
    return cause if isinstance(cause, str) else "output"
