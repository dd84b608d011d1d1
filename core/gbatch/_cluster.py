"""Running a batch's rows on a Dask cluster (`--cluster tcp://scheduler:8786`).

The driver (the `gbatch` process) still does everything but send rows: it reads and
validates the task file, chooses the rows, claims output names, keeps the one journal
and writes results.csv. Only the requests themselves run on Dask workers, next to the
servers they reach.

- The shared executor (`gbatch._executor.execute`) still schedules the rows: its
  backends are (server, worker) pairs for `local:` servers and one backend per shared
  server, so retries, back-off, halting, Ctrl-C and "a row that failed somewhere goes
  elsewhere first" work as they do in one process. Each attempt is a Dask task, pinned
  (loosely) to its worker: when a worker dies, Dask runs its rows elsewhere.
- A `RowJob` (the plan, the row's calls, its output name, OUT, the connection settings
  and the server spec) is all a worker needs; `run_row` builds and keeps its own
  sessions (one per server, plan and login, per worker process) and runs the plan's
  setup on its server before the first row.
- `local:URL` is each worker's own server (`GBATCH_LOCAL_SERVERS` on a worker can map
  its name to another URL); a plain URL is one shared server whose slot count is a
  cluster-wide limit, held with a `distributed.Semaphore`.
- Outputs: a worker that sees OUT (the driver writes a marker with a random token there
  and the worker reads it back) writes the files itself, atomically; another sends the
  bytes back and the driver writes them. Either way the journal line is written by the
  driver after the files are complete. Input files a worker cannot see travel with the row.

This module imports `distributed`; gbatch imports it only when a cluster is named.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import secrets as secrets_module
import shutil
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, cast

import cloudpickle
import distributed

from ._api import Endpoint, ServerApi
from ._batch import PreparedRow
from ._call import cause_of, classify, describe
from ._columns import File
from ._errors import (
    TIMEOUT_ERRORS,
    CallCancelled,
    CallError,
    CallTimeout,
    ConnectionLost,
    Failure,
    NoServerError,
    ServerError,
)
from ._executor import (
    Attempt,
    AttemptFailed,
    ErrorKind,
    ExecutorReport,
    ItemOutcome,
    Listener,
    RetryPolicy,
    ServerSlots,
    execute,
)
from ._outputs import atomic_write
from ._row import BatchRun, Collected, attempt_row, failure_of
from ._servers import Server, redact, redact_url
from ._slots import Slots
from ._tool import Call, Plan
from .transports import AutoTransport
from .transports.base import (
    CallResult,
    ConnectOptions,
    Job,
    JobEvent,
    ServerFile,
    ServerSession,
    Transport,
    TransportRequest,
)

__all__ = ["ClusterRun", "ClusterTransport", "RowJob", "client_for", "probe_servers", "run_row", "servers_on_cluster"]

LOCAL = "local:"
#: on a worker: JSON, worker name (or address) -> URL of its local server, or -> {spec URL: URL}
LOCAL_SERVERS_ENV = "GBATCH_LOCAL_SERVERS"
#: on a worker: JSON, {driver path prefix: worker path prefix}, for a shared folder mounted elsewhere
PATH_MAP_ENV = "GBATCH_CLUSTER_PATH_MAP"
MARKER = ".gbatch-cluster"
#: worker-side sessions kept per process (least recently used are closed)
MAX_SESSIONS = 16
#: how often a worker asks whether the driver cancelled the batch
CANCEL_POLL = 1.0


def is_local(url: str) -> bool:
    return url.startswith(LOCAL)


# --- the driver's Dask client ---------------------------------------------------------------------

_clients: dict[str, distributed.Client] = {}
_clients_lock = threading.Lock()


def client_for(address: str, *, wait: float = 60.0) -> distributed.Client:
    """A Dask client for the scheduler at `address` (one per address and process), with at least one worker."""
    with _clients_lock:
        client = _clients.get(address)
        if client is not None and client.status not in ("running", "connecting"):
            client = None
        if client is None:
            try:
                client = distributed.Client(address, set_as_default=False, timeout=30)
            except OSError as exc:
                raise NoServerError(f"cannot reach the Dask scheduler at {address}: {exc}") from None
            except TIMEOUT_ERRORS as exc:
                raise NoServerError(f"cannot reach the Dask scheduler at {address}: {exc}") from None
            _clients[address] = client
    try:
        client.wait_for_workers(1, timeout=wait)
    except TIMEOUT_ERRORS:
        raise NoServerError(f"the Dask scheduler at {address} has no workers (waited {wait:.0f}s)") from None
    return client


def _workers(client: distributed.Client) -> dict[str, str]:
    """Worker address -> name, in a stable order."""
    info = client.scheduler_info(n_workers=-1)["workers"] if _takes_n_workers(client) else client.scheduler_info()["workers"]
    return {addr: str(w.get("name", addr)) for addr, w in sorted(info.items(), key=lambda kv: str(kv[1].get("name", kv[0])))}


def _takes_n_workers(client: distributed.Client) -> bool:
    import inspect

    return "n_workers" in inspect.signature(client.scheduler_info).parameters


def dashboard(client: distributed.Client) -> str | None:
    services = client.scheduler_info().get("services", {})
    return str(client.dashboard_link) if "dashboard" in services else None


def _result(future: distributed.Future, timeout: float | None) -> Any:
    """`future.result()`, waiting at most `timeout` s (raises `TimeoutError`).

    Not `future.result(timeout=...)`: its timeout races inside distributed (a cancelled
    wait can surface as an UnboundLocalError); a done-callback and a threading.Event cannot.
    """
    done = threading.Event()
    future.add_done_callback(lambda _: done.set())
    if not done.wait(timeout):
        raise TimeoutError(f"no answer within {timeout} s")
    return future.result()


# --- worker side: where am I, which server is mine, can I see OUT ----------------------------------


def _this_worker() -> tuple[str, str]:
    """(name, address) of the worker running this task, or ("driver", "") outside one."""
    try:
        worker = distributed.get_worker()
    except ValueError:
        return "driver", ""
    return str(worker.name), str(worker.address)


@functools.lru_cache(maxsize=8)
def _parse_json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return {}


def resolve(spec: str) -> str:
    """The URL this worker reaches a server spec by: a plain URL as it is; `local:URL`
    as `GBATCH_LOCAL_SERVERS` maps this worker (by name or address), else URL."""
    if not is_local(spec):
        return spec
    url = spec[len(LOCAL) :]
    mapping = _parse_json(os.environ.get(LOCAL_SERVERS_ENV, "") or "{}")
    if isinstance(mapping, dict) and mapping:
        name, address = _this_worker()
        entry = mapping.get(name, mapping.get(address))
        if isinstance(entry, dict):
            entry = entry.get(url, entry.get(spec))
        if isinstance(entry, str) and entry:
            url = entry
    return url.rstrip("/") + "/"


def _worker_path(path: str) -> Path:
    mapping = _parse_json(os.environ.get(PATH_MAP_ENV, "") or "{}")
    if isinstance(mapping, dict):
        for prefix, there in sorted(mapping.items(), key=lambda kv: -len(kv[0])):
            if path == prefix or path.startswith(prefix.rstrip("/") + "/"):
                return Path(str(there) + path[len(prefix) :])
    return Path(path)


def sees_folder(out_dir: str, token: str) -> bool:
    """Whether this process sees the driver's OUT: the marker there holds the driver's token."""
    try:
        return (_worker_path(out_dir) / MARKER).read_text().strip() == token
    except OSError:
        return False


# --- worker side: sessions, plans, slots -----------------------------------------------------------


class _WorkerServer:
    """One server session on one worker, for one plan and login."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self._free: list[int] = []
        self._next = 0
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def slot(self) -> Iterator[int]:
        with self._lock:
            if self._free:
                self._free.sort()
                number = self._free.pop(0)
            else:
                number = self._next
                self._next += 1
            if number >= self.server.session.slots:
                self.server.session.slots = number + 1
        try:
            yield number
        finally:
            with self._lock:
                self._free.append(number)


_sessions: OrderedDict[tuple[str, str, str], _WorkerServer] = OrderedDict()
_sessions_lock = threading.Lock()
_connect_locks: dict[tuple[str, str, str], threading.Lock] = {}
_plans: dict[str, Plan] = {}


def _connection_key(connection: ConnectOptions) -> str:
    return hashlib.sha256(repr(connection).encode()).hexdigest()


def _worker_server(url: str, connection: ConnectOptions, slots: int, plan_key: str) -> _WorkerServer:
    key = (url, _connection_key(connection), plan_key)
    with _sessions_lock:
        found = _sessions.get(key)
        if found is not None:
            _sessions.move_to_end(key)
            return found
        lock = _connect_locks.setdefault(key, threading.Lock())
    with lock:  # one connection per key, however many threads ask at once
        with _sessions_lock:
            found = _sessions.get(key)
        if found is not None:
            return found
        session = AutoTransport().connect(url, connection, max(1, slots))
        session.slots = max(1, slots)
        made = _WorkerServer(Server(ServerSlots(url, max(1, slots), redact_url(url)), session, connection))
        with _sessions_lock:
            _sessions[key] = made
            while len(_sessions) > MAX_SESSIONS:
                _, old = _sessions.popitem(last=False)
                old.server.close()
        return made


def _plan(digest: str, data: bytes) -> Plan:
    plan = _plans.get(digest)
    if plan is None:
        plan = cast(Plan, cloudpickle.loads(data))
        _plans[digest] = plan
    return plan


@functools.lru_cache(maxsize=64)
def _semaphore(name: str, limit: int) -> distributed.Semaphore:
    return distributed.Semaphore(max_leases=limit, name=name)


def semaphore_name(url: str) -> str:
    return "gbatch-server-" + hashlib.sha256(url.encode()).hexdigest()[:16]


class _Cancelled:
    """`Attempt.cancelled` on a worker: set when the driver sets the batch's `distributed.Event`."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._checked = 0.0
        self._set = False

    def is_set(self) -> bool:
        now = time.monotonic()
        if not self._set and now - self._checked >= CANCEL_POLL:
            self._checked = now
            with contextlib.suppress(Exception):  # a scheduler hiccup is not a cancellation
                self._set = distributed.Event(self._name).is_set()
        return self._set


class _Forward(Listener):
    """Sends a row's server status (queue rank, progress) to the driver as a Dask event."""

    def __init__(self, topic: str, worker: str) -> None:
        self._topic = topic
        self._worker = worker
        self._last: Any = None

    def row_status(self, item_id: str, status: dict[str, Any]) -> None:
        shown = (status.get("code"), status.get("rank"))
        if shown == self._last:
            return
        self._last = shown
        with contextlib.suppress(Exception):
            distributed.get_worker().log_event(self._topic, {"id": item_id, "status": {**status, "worker": self._worker}})


def _inline_dir() -> Path:
    folder = Path(tempfile.gettempdir()) / f"gbatch-inputs-{os.getuid() if hasattr(os, 'getuid') else 0}"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _localize(call: Call, inline: Mapping[str, bytes]) -> Call:
    """`call` with each input file the driver sent along replaced by a copy on this worker."""
    if not inline:
        return call
    places: dict[str, str] = {}
    for source, data in inline.items():
        digest = hashlib.sha256(data).hexdigest()[:24]
        path = _inline_dir() / digest / Path(source).name
        if not path.exists():
            atomic_write(path, data)
        places[source] = str(path)

    def swap(value: Any) -> Any:
        if isinstance(value, File) and value.source in places:
            return File(places[value.source])
        if isinstance(value, list):
            return [swap(v) for v in value]
        return value

    return replace(
        call,
        kwargs={k: swap(v) for k, v in call.kwargs.items()},
        before=tuple(replace(step, kwargs={k: swap(v) for k, v in step.kwargs.items()}) for step in call.before),
    )


@dataclass(frozen=True)
class RowJob:
    """Everything a worker needs to run one attempt of one row (picklable)."""

    batch: str  # the batch's random token: Dask keys, event topic, cancel flag
    item_id: str
    attempt: int
    plan_key: str
    plan: bytes  # the plan, cloudpickled once per batch
    call: Call
    name: str  # the output base name
    out_dir: str
    marker: str  # the token the driver wrote into OUT/.gbatch-cluster
    connection: ConnectOptions
    server: str  # spec: `local:URL` or a shared URL
    slots: int
    shared_limit: int | None  # a shared server's cluster-wide limit (a distributed.Semaphore)
    timeout: float | None
    strict: bool
    retry_app_errors: bool
    #: local input file -> its bytes, for a worker that cannot see the driver's files
    inline: Mapping[str, bytes] = field(default_factory=dict)


def run_row(job: RowJob) -> dict[str, Any]:
    """One attempt of one row, on a worker, through the same `attempt_row` the local runner
    uses. Never raises: a failure comes back as its `Failure` and the scheduler's `ErrorKind`."""
    name, address = _this_worker()
    url = resolve(job.server)
    answer: dict[str, Any] = {"worker": name, "address": address, "server": url}
    try:
        collected, files = _attempt_here(job, url, name)
    except AttemptFailed as exc:
        return {**answer, "ok": False, "failure": exc.failure, "kind": exc.kind.value}
    except Exception as exc:  # noqa: BLE001 - no session, a plan that cannot be read: sent back as data
        kind = classify(exc, retry_app_errors=job.retry_app_errors)
        return {**answer, "ok": False, "failure": failure_of(exc, [], job.connection.secrets()), "kind": kind.value}
    return {**answer, "ok": True, "body": collected, "files": files}


def _attempt_here(job: RowJob, url: str, worker: str) -> tuple[Collected, list[tuple[str, bytes]] | None]:
    """The attempt, and the bytes of its files when this worker cannot see OUT (they travel back)."""
    plan = _plan(job.plan_key, job.plan)
    row_call = _localize(job.call, job.inline)
    shared = sees_folder(job.out_dir, job.marker)
    folder = _worker_path(job.out_dir) if shared else Path(tempfile.mkdtemp(prefix="gbatch-row-"))
    try:
        limit = _semaphore(semaphore_name(job.server), job.shared_limit) if job.shared_limit else contextlib.nullcontext()
        with limit:
            held = _worker_server(url, job.connection, job.slots, job.plan_key)
            with held.slot() as slot:
                cancelled = cast(threading.Event, _Cancelled(f"gbatch-cancel-{job.batch}"))
                attempt = Attempt(job.item_id, None, job.attempt, held.server.backend, slot, cancelled, job.timeout, _Forward(f"gbatch-{job.batch}", worker), time.monotonic)
                collected = attempt_row(
                    held.server,
                    plan,
                    row_call,
                    name=job.name,
                    folder=folder,
                    attempt=attempt,
                    strict=job.strict,
                    retry_app_errors=job.retry_app_errors,
                    secrets=job.connection.secrets(),
                )
        return collected, None if shared else [(rel, (folder / rel).read_bytes()) for rel in collected.outputs]
    finally:
        if not shared:
            shutil.rmtree(folder, ignore_errors=True)


def _read_api(spec: str, connection: ConnectOptions) -> dict[str, Any]:
    """On a worker: the API (and each endpoint's concurrency) of the server `spec` names there."""
    name, _ = _this_worker()
    url = resolve(spec)
    try:
        session = AutoTransport().connect(url, connection, 1)
    except ServerError as exc:
        return {"ok": False, "fatal": True, "message": str(exc), "worker": name, "server": url}
    except CallError as exc:
        return {"ok": False, "fatal": False, "message": str(exc), "worker": name, "server": url}
    try:
        endpoints = [*session.api.endpoints.values(), *session.api.unnamed.values()]
        limits = {e.key: session.concurrency(e) for e in endpoints}
        return {"ok": True, "api": session.api, "limits": limits, "worker": name, "server": url}
    finally:
        session.close()


def _remote_call(spec: str, connection: ConnectOptions, request: TransportRequest) -> dict[str, Any]:
    """On a worker: one request outside the rows (a plan's setup run by the driver)."""
    url = resolve(spec)
    try:
        ws = _worker_server(url, connection, 1, "setup")
        result = ws.server.session.submit(request).result(timeout=connection.http_timeout)
        return {"ok": True, "result": result}
    except Exception as exc:  # noqa: BLE001
        return {"ok": False, "message": describe(exc), "transport": cause_of(exc) in ("transport", "timeout")}


def _remote_fetch(spec: str, connection: ConnectOptions, file: ServerFile | str) -> dict[str, Any]:
    url = resolve(spec)
    try:
        return {"ok": True, "data": _worker_server(url, connection, 1, "setup").server.session.fetch(file)}
    except Exception as exc:  # noqa: BLE001
        return {"ok": False, "message": describe(exc)}


def probe_servers(specs: Sequence[str], connection: ConnectOptions) -> list[dict[str, Any]]:
    """On a worker (or here): for each server spec, the URL reached, its Gradio version and slots."""
    name, address = _this_worker()
    if not specs:
        mapping = _parse_json(os.environ.get(LOCAL_SERVERS_ENV, "") or "{}")
        entry = mapping.get(name, mapping.get(address)) if isinstance(mapping, dict) else None
        specs = [LOCAL + u for u in (entry.values() if isinstance(entry, dict) else [entry] if isinstance(entry, str) else [])]
    rows: list[dict[str, Any]] = []
    for spec in specs:
        text, _, slots = spec.rpartition("=") if "=" in spec.split("://", 1)[-1] else (spec, "", "")
        url = resolve(text.rstrip("/") + "/")
        row: dict[str, Any] = {"worker": name, "address": address, "spec": text, "server": redact_url(url), "version": None, "slots": None, "error": None}
        try:
            session = AutoTransport().connect(url, connection, 1)
        except CallError as exc:
            row["error"] = redact(str(exc), connection.secrets())
        except ServerError as exc:
            row["error"] = redact(str(exc), connection.secrets())
        else:
            try:
                row["version"] = session.api.version or "?"
                limits = {c for c in (session.concurrency(e) for e in session.api.endpoints.values()) if c}
                given = f"{slots} {'per worker' if is_local(text) else 'in all'}" if slots else None
                row["slots"] = given or (f"server runs {max(limits)} at once" if limits else "default")
            finally:
                session.close()
        rows.append(row)
    return rows


def servers_on_cluster(address: str, specs: Sequence[str], connection: ConnectOptions) -> list[dict[str, Any]]:
    """`gbatch servers --cluster`: `probe_servers` on every worker."""
    client = client_for(address)
    rows: list[dict[str, Any]] = []
    for addr, name in _workers(client).items():
        future = client.submit(probe_servers, list(specs), connection, workers=[addr], allow_other_workers=False, pure=False)
        try:
            rows.extend(_result(future, max(60.0, connection.http_timeout)))
        except Exception as exc:  # noqa: BLE001 - the worker went away
            rows.append({"worker": name, "address": addr, "spec": "", "server": "-", "version": None, "slots": None, "error": f"worker failed: {exc}"})
        finally:
            future.release()
    return rows


# --- driver side: reading the API through a worker ------------------------------------------------


class _RemoteJob(Job):
    def __init__(self, future: distributed.Future, label: str) -> None:
        self._future = future
        self._label = label

    def result(self, timeout: float) -> CallResult:
        try:
            answer = _result(self._future, timeout)
        except TIMEOUT_ERRORS:
            raise
        except Exception as exc:  # noqa: BLE001 - a worker lost on the way
            raise ConnectionLost(f"{self._label}: the worker running this request failed: {exc}") from None
        if not answer["ok"]:
            if answer["transport"]:
                raise ConnectionLost(answer["message"])
            raise CallError(answer["message"])
        return cast(CallResult, answer["result"])

    def cancel(self) -> None:
        with contextlib.suppress(Exception):
            self._future.cancel()

    def updates(self) -> list[JobEvent]:
        return []


class RemoteSession(ServerSession):
    """The driver's handle on a server it may not reach itself: the API a worker read,
    and requests (a plan's setup) run on a worker."""

    def __init__(self, client: distributed.Client, spec: str, api: ServerApi, limits: Mapping[str, int | None], connection: ConnectOptions) -> None:
        self.url = spec
        self.api = api
        self.slots = 1
        self._client = client
        self._limits = dict(limits)
        self._connection = connection

    def submit(self, request: TransportRequest, slot: int = 0) -> Job:
        future = self._client.submit(_remote_call, self.url, self._connection, request, pure=False)
        return _RemoteJob(future, redact_url(self.url))

    def fetch(self, file: ServerFile | str) -> bytes:
        answer = _result(self._client.submit(_remote_fetch, self.url, self._connection, file, pure=False), None)
        if not answer["ok"]:
            raise ConnectionLost(answer["message"])
        return cast(bytes, answer["data"])

    def concurrency(self, endpoint: Endpoint) -> int | None:
        return self._limits.get(endpoint.key)

    def close(self) -> None:
        pass


class ClusterTransport(Transport):
    """Connects to servers through the cluster's workers: the driver may reach none of them."""

    name = "dask"

    def __init__(self, client: distributed.Client) -> None:
        self.client = client

    def connect(self, url: str, connection: ConnectOptions, slots: int, config: Mapping[str, Any] | None = None) -> ServerSession:
        problems: list[str] = []
        # A local server is read through the first worker whose server answers.
        for address, name in _workers(self.client).items():
            future = self.client.submit(_read_api, url, connection, workers=[address], allow_other_workers=False, pure=False)
            try:
                answer = _result(future, max(60.0, connection.http_timeout))
            except Exception as exc:  # noqa: BLE001 - that worker went away
                problems.append(f"worker {name}: {exc}")
                continue
            finally:
                future.release()
            if answer["ok"]:
                return RemoteSession(self.client, url, answer["api"], answer["limits"], connection)
            if answer["fatal"]:
                raise ServerError(f"{redact_url(url)} (as worker {name} reaches it): {answer['message']}")
            problems.append(f"worker {name} ({redact_url(answer['server'])}): {answer['message']}")
            if not is_local(url):
                break  # a shared server is the same from every worker
        raise ConnectionLost("; ".join(problems) or "no worker answered")


def cluster_transport(address: str) -> ClusterTransport:
    return ClusterTransport(client_for(address))


# --- driver side: running the rows ------------------------------------------------------------------


def _is_dask_failure(exc: BaseException) -> bool:
    """A worker died, a comm dropped, a task was lost: worth running again elsewhere."""
    from distributed.comm.core import CommClosedError

    return isinstance(exc, (distributed.scheduler.KilledWorker, CommClosedError)) or type(exc).__name__ in {"FutureCancelledError", "CancelledError"}


@dataclass
class _Target:
    spec: str  # the server spec (group key lookup, journal)
    label: str
    worker: str | None  # pinned worker address, for local servers
    worker_name: str | None
    slots: int
    shared_limit: int | None


@dataclass
class _WorkerStats:
    done: int = 0
    failed_in_row: int = 0
    healthy: bool = True
    error: str | None = None


class _Health:
    """Per-worker throughput and health, told to the listener as `row_status` with code "worker"."""

    def __init__(self, listener: Listener, say: Callable[[str], None]) -> None:
        self._listener = listener
        self._say = say
        self._stats: dict[str, _WorkerStats] = {}
        self._lock = threading.Lock()
        self.started = time.monotonic()

    def names(self) -> list[str]:
        return list(self._stats)

    def stats(self, worker: str) -> _WorkerStats:
        return self._stats.setdefault(worker, _WorkerStats())

    def note(self, item_id: str, worker: str, ok: bool, error: str | None = None, transient: bool = False) -> None:
        with self._lock:
            stats = self.stats(worker)
            if ok:
                stats.done += 1
                stats.failed_in_row = 0
                stats.healthy, stats.error = True, None
            elif transient:
                stats.failed_in_row += 1
                stats.healthy, stats.error = False, error
            status = {"code": "worker", "worker": worker, "healthy": stats.healthy, "done": stats.done, "error": stats.error, "rate": self.rate(stats)}
        self._listener.row_status(item_id, status)

    def rate(self, stats: _WorkerStats) -> float:
        minutes = (time.monotonic() - self.started) / 60
        return stats.done / minutes if minutes > 0 else 0.0

    def summary(self) -> str:
        with self._lock:
            return "; ".join(
                f"worker {name}: {s.done} rows, {self.rate(s):.1f}/min" + ("" if s.healthy else f", UNHEALTHY ({s.error})") for name, s in sorted(self._stats.items())
            )


class _Once(Listener):
    """Forwards to `inner`, with each row finished once at most (first completion wins) and the
    journal's backend naming the worker and the server it reached."""

    def __init__(self, inner: Listener, where: dict[str, str], spec_of: dict[str, str]) -> None:
        self._inner = inner
        self._where = where
        self._spec_of = spec_of
        self._finished: set[str] = set()

    def batch_started(self, total: int) -> None:
        self._inner.batch_started(total)

    def row_started(self, item_id: str, backend: str, attempt: int) -> None:
        self._inner.row_started(item_id, backend, attempt)

    def row_status(self, item_id: str, status: dict[str, Any]) -> None:
        self._inner.row_status(item_id, status)

    def row_retrying(self, item_id: str, attempt: int, error: str, delay: float, kind: ErrorKind) -> None:
        self._inner.row_retrying(item_id, attempt, error, delay, kind)

    def row_finished(self, outcome: ItemOutcome[Any]) -> None:
        if outcome.id in self._finished:
            return
        self._finished.add(outcome.id)
        if outcome.backend_url in self._spec_of:
            outcome.backend_url = self._spec_of[outcome.backend_url]
        if outcome.id in self._where:
            outcome.backend = self._where[outcome.id]
        self._inner.row_finished(outcome)

    def batch_finished(self, report: ExecutorReport[Any]) -> None:
        self._inner.batch_finished(report)


@functools.lru_cache(maxsize=256)
def _file_bytes(path: str, mtime: float, size: int) -> bytes:
    return Path(path).read_bytes()


def _inline_files(call: Call) -> dict[str, bytes]:
    found: dict[str, bytes] = {}

    def visit(value: Any) -> None:
        if isinstance(value, File) and not value.is_url and value.source not in found:
            stat = os.stat(value.source)
            found[value.source] = _file_bytes(value.source, stat.st_mtime, stat.st_size)
        elif isinstance(value, list):
            for v in value:
                visit(v)

    for step in (*call.before, call):
        for v in step.kwargs.values():
            visit(v)
    return found


class ClusterRun:
    """Runs a batch's rows on the Dask cluster `run.options.cluster` names, through the shared
    executor; the driver journals them (the listener it is given) as the executor reports them."""

    def __init__(self, run: BatchRun, to_run: Sequence[PreparedRow]) -> None:
        assert run.options.cluster
        self.run = run
        self.to_run = to_run
        self.client = client_for(str(run.options.cluster))
        self.token = secrets_module.token_hex(12)
        self.workers = _workers(self.client)
        self.marker = run.out_dir / MARKER
        self.seen: dict[str, bool] = {}
        self.everyone_sees = False
        self.targets: dict[str, _Target] = {}
        self.backends: list[ServerSlots] = []
        self.plans = {key: _pickled(group.plan) for key, group in run.groups.items()}
        self.where: dict[str, str] = {}  # row id -> "server (worker name)", for the journal
        self.timeout: float | None = None
        self.health = _Health(Listener(), run.say)
        self.cancel_event = distributed.Event(f"gbatch-cancel-{self.token}", client=self.client)
        self.cancelling = threading.Event()
        self.futures: set[distributed.Future] = set()
        self.futures_lock = threading.Lock()
        self.learning: dict[str, Slots] = {}  # backend key -> its slots learner
        # The attempt each row is in: a worker's queue event reaches the scheduler through it.
        self.live: dict[str, Attempt] = {}

    def execute(
        self,
        *,
        jobs: int | None,
        policy: RetryPolicy,
        classify: Callable[[BaseException], ErrorKind],
        describe: Callable[[BaseException], str],
        timeout: float | None,
        halt_on_failures: int | None,
        listener: Listener,
        slots: Mapping[str, Slots] | None = None,
        keep_values: bool = True,
    ) -> ExecutorReport[Collected]:
        """`gbatch._executor.execute` over the cluster's backends; the same knobs.

        :param slots: per server URL, its slots learner: the driver's executor learns each
            backend's slots from the queue events workers send back, as in one process (a
            shared server's semaphore holds only the cap; each worker's own server learns apart)."""
        self._share_outputs()
        self._make_targets(slots or {})
        self.timeout = timeout
        self.health = _Health(listener, self.run.say)
        topic = f"gbatch-{self.token}"
        self.client.subscribe_topic(topic, functools.partial(self._forward, listener))
        once = _Once(listener, self.where, {key: t.spec for key, t in self.targets.items()})
        items = [(item.row.id, item) for item in self.to_run]
        try:
            report = execute(items, self.attempt, self.backends, jobs=jobs, policy=policy, classify=classify, describe=describe, timeout=timeout, halt_on_failures=halt_on_failures, listener=once, slots=self.learning, keep_values=keep_values)
        except KeyboardInterrupt:
            self.cancel_all()
            raise
        finally:
            with contextlib.suppress(Exception):
                self.client.unsubscribe_topic(topic)
            self.marker.unlink(missing_ok=True)
        self._wind_down(report)
        return report

    def _share_outputs(self) -> None:
        """Can each worker see OUT? The driver writes the marker, each worker reads it back."""
        run, workers = self.run, self.workers
        run.out_dir.mkdir(parents=True, exist_ok=True)
        self.marker.write_text(self.token)
        self.seen = self.client.run(sees_folder, str(run.out_dir), self.token)
        sharing = sum(1 for addr in workers if self.seen.get(addr))
        self.everyone_sees = sharing == len(workers)
        run.say(f"cluster {redact_url(str(run.options.cluster))}: {len(workers)} worker{'s' if len(workers) != 1 else ''} ({', '.join(workers.values())})")
        link = dashboard(self.client)
        if link:
            run.say(f"Dask dashboard: {link}")
        if sharing == len(workers):
            run.say(f"outputs: the workers write into {run.out_dir} (shared)")
        else:
            run.say(f"outputs: {len(workers) - sharing} of {len(workers)} workers cannot see {run.out_dir}; they send results back to be written here")

    def _make_targets(self, slots: Mapping[str, Slots]) -> None:
        """Backends: each worker's own server for `local:` specs (each learning its slots apart),
        one cluster-wide backend per shared server."""
        for server in self.run.servers.values():
            backend = server.backend
            learner = slots.get(server.url)
            if not is_local(server.url):
                self.targets[server.url] = _Target(server.url, str(backend), None, None, backend.slots, backend.slots)
                self.backends.append(backend)
                if learner is not None:
                    self.learning[server.url] = learner
                continue
            for address, name in self.workers.items():
                key = f"{server.url}@{address}"
                self.targets[key] = _Target(server.url, str(backend), address, name, backend.slots, None)
                self.backends.append(ServerSlots(key, backend.slots, f"{backend} on worker {name}"))
                if learner is not None:
                    self.learning[key] = learner.fresh()

    def attempt(self, attempt: Attempt) -> Collected:
        """The executor's work: one attempt of a row, sent to a worker and waited for (executor thread)."""
        item: PreparedRow = attempt.payload
        target = self.targets[attempt.backend.url]
        self.run.claim(item, attempt)
        self.live[item.row.id] = attempt
        try:
            answer = self._wait(self._submit(item, attempt, target), attempt)
        except Exception as exc:  # noqa: BLE001 - the driver's side of the attempt failed
            raise self._failed(exc) from exc
        finally:
            self.live.pop(item.row.id, None)
        return self._accept(item, answer)

    def _submit(self, item: PreparedRow, attempt: Attempt, target: _Target) -> distributed.Future:
        key = self.run.group(target.spec).key
        plan_key, plan_data = self.plans[key]
        row_call = item.calls.get(key, item.call)
        options = self.run.options
        sees = self.seen.get(target.worker, False) if target.worker else self.everyone_sees
        job = RowJob(
            batch=self.token,
            item_id=item.row.id,
            attempt=attempt.number,
            plan_key=plan_key,
            plan=plan_data,
            call=row_call,
            name=item.name,
            out_dir=str(self.run.out_dir),
            marker=self.token,
            connection=options.connection,
            server=target.spec,
            slots=target.slots,
            shared_limit=target.shared_limit,
            timeout=options.timeout,
            strict=options.strict,
            retry_app_errors=options.retry_app_errors,
            inline={} if sees else _inline_files(row_call),
        )
        placement: dict[str, Any] = {"workers": [target.worker], "allow_other_workers": True} if target.worker else {}
        future = self.client.submit(run_row, job, key=f"gbatch-row-{item.row.id}-{attempt.number}-{self.token}", pure=False, **placement)
        with self.futures_lock:
            self.futures.add(future)
        return future

    def _wait(self, future: distributed.Future, attempt: Attempt) -> dict[str, Any]:
        # The worker enforces the timeout; this only guards against a worker that hangs.
        deadline = time.monotonic() + self.timeout + 120 if self.timeout else None
        done = threading.Event()
        future.add_done_callback(lambda _: done.set())
        try:
            while not done.wait(0.25):
                if attempt.cancelled.is_set():
                    self.cancel_all()
                    raise CallCancelled("cancelled")
                if deadline is not None and time.monotonic() > deadline:
                    future.cancel()
                    raise CallTimeout("timed out; the worker did not answer")
            return cast(dict[str, Any], future.result())
        finally:
            with self.futures_lock:
                self.futures.discard(future)
            future.release()

    def _failed(self, exc: Exception) -> AttemptFailed:
        """What the driver saw go wrong (a lost worker, a timeout, Ctrl-C) as the attempt's failure."""
        if _is_dask_failure(exc):
            # A worker died, a comm dropped, a task was lost: worth running again elsewhere.
            exc = ConnectionLost(f"the Dask worker running this row was lost ({type(exc).__name__}: {exc})")
        kind = classify(exc, retry_app_errors=self.run.options.retry_app_errors)
        return AttemptFailed(failure_of(exc, [], self.run.secrets), kind)

    def _accept(self, item: PreparedRow, answer: dict[str, Any]) -> Collected:
        """A worker's answer: its failure raised here, or its files (when they travelled) written."""
        worker = answer["worker"]
        self.where[item.row.id] = f"{answer['server']} (worker {worker})"
        if not answer["ok"]:
            failure: Failure = answer["failure"]
            kind = ErrorKind(answer["kind"])
            self.health.note(item.row.id, worker, False, failure.message, transient=kind is ErrorKind.TRANSIENT)
            raise AttemptFailed(failure, kind)
        for rel, data in answer["files"] or []:
            name = Path(rel)
            if name.is_absolute() or ".." in name.parts:
                failure = Failure(f"a worker sent back an output outside the folder: {rel!r}", "output")
                raise AttemptFailed(failure, ErrorKind.PERMANENT)
            atomic_write(self.run.out_dir / name, data)
        self.health.note(item.row.id, worker, True)
        return cast(Collected, answer["body"])

    def cancel_all(self) -> None:
        """Tell every worker to stop (the batch's cancel flag) and cancel every pending future."""
        if self.cancelling.is_set():
            return
        self.cancelling.set()
        with contextlib.suppress(Exception):
            self.cancel_event.set()
        with self.futures_lock:
            pending = list(self.futures)
        with contextlib.suppress(Exception):
            self.client.cancel(pending, force=True)

    def _wind_down(self, report: ExecutorReport[Collected]) -> None:
        if report.interrupted:
            self.cancel_all()
        with contextlib.suppress(Exception):
            self.cancel_event.clear()
        summary = self.health.summary()
        if summary:
            self.run.say(summary)

    def _forward(self, listener: Listener, event: Any) -> None:
        """A worker's `row_status` (queue rank, progress): through the row's attempt, so the
        scheduler learns slots from it before the listener hears it; else to the listener."""
        _, message = event
        attempt = self.live.get(message["id"])
        with contextlib.suppress(Exception):
            if attempt is not None:
                attempt.report(**message["status"])
            else:
                listener.row_status(message["id"], message["status"])


def _pickled(plan: Plan) -> tuple[str, bytes]:
    """The plan, cloudpickled once per batch, and its digest (a worker keeps one copy per digest)."""
    data = cloudpickle.dumps(plan)
    return hashlib.sha256(data).hexdigest()[:24], data
