"""The database: one SQLite file in WAL mode (or a PostgreSQL database), one writer with
group commit, a few readers.

Storage functions are plain synchronous functions ``fn(conn, *args)`` in the ``db`` modules;
callers run them with ``await db.read(fn, ...)`` or ``await db.write(fn, ...)``. Each call is
one hop into a connection's thread, whatever the number of statements inside it.

Every connection lives in its own thread (the standard library's ``sqlite3``; no async
wrapper): one writer thread and a small pool of reader threads (``query_only``), each fed by a
``queue.Queue``. A thread answers the asyncio caller through ``loop.call_soon_threadsafe``.

Writes are serialised through the writer's queue. The writer takes every write waiting in the
queue and runs them in one ``BEGIN IMMEDIATE`` transaction, each inside its own savepoint, so
that a burst of ingests shares one commit (and one fsync) while a failing write rolls back
alone. ``close()`` queues a shutdown marker behind the writes already queued: they all run and
every caller gets its answer before the connections close.

On PostgreSQL (``url``, issue 19) the same threads hold psycopg connections
(``db.postgres.PgConnection``): the storage functions, the group commit and the savepoints
are the same; only connecting, the transaction's first statement and the migration runner
differ. A server can also go away and come back (restart, pg_terminate_backend, network
loss): the thread connects again before its next job (``_Link``), so the process recovers
without a restart, and while the server is unreachable calls fail fast with StorageError. The
call that met the lost connection runs once more on a new one when that is safe (a read; a
write batch whose COMMIT was not sent), else fails with StorageError. Likewise a write batch
the server rolled back for a reason a second run may not meet (serialization failure,
deadlock) runs once more before its writes fail.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any, Concatenate, NamedTuple, ParamSpec, TypeVar

from gethook_lite.constants import MAX_WRITE_BATCH, SQLITE_BUSY_TIMEOUT_MS
from gethook_lite.db.connection import (
    POSTGRESQL,
    SQLITE,
    Connection,
    Dialect,
    SqliteConnection,
    connect_sqlite,
)
from gethook_lite.db.postgres import connect_postgres, redact_url
from gethook_lite.errors import DomainError

__all__ = [
    "Database",
    "SchemaTooNew",
    "StorageError",
    "apply_postgres_migrations",
    "known_migrations",
    "pending_migrations",
]

log = logging.getLogger(__name__)
# pg_advisory_lock key held while migrating ("gethook" in ASCII, as a bigint).
MIGRATION_LOCK_KEY = 0x67_6574_686F_6F6B
P = ParamSpec("P")
T = TypeVar("T")
Item = TypeVar("Item")
Result = TypeVar("Result")


# The drivers' error classes a storage call may raise; psycopg's join when a PostgreSQL
# database is opened (psycopg is imported only then).
_DRIVER_ERRORS: tuple[type[Exception], ...] = (sqlite3.Error,)


def _register_postgres_errors() -> None:
    global _DRIVER_ERRORS
    import psycopg

    if psycopg.Error not in _DRIVER_ERRORS:
        _DRIVER_ERRORS = (*_DRIVER_ERRORS, psycopg.Error)


# SQLSTATEs after which the server has rolled the transaction back (or we must) and the same
# writes, run again, may well succeed: serialization_failure and deadlock_detected.
_RETRY_SQLSTATES = frozenset({"40001", "40P01"})
# The server ended the session: admin_shutdown (pg_terminate_backend, a fast shutdown),
# crash_shutdown, cannot_connect_now; class 08 is the connection exceptions. The error can
# arrive before the client sees the socket close, so the connection is not yet "broken".
_SESSION_ENDED_SQLSTATES = frozenset({"57P01", "57P02", "57P03"})
# A thread whose connection broke waits this long before trying again, doubling up to the
# maximum (the 503's Retry-After is 1 s); calls in between fail at once with StorageError.
RECONNECT_FIRST_WAIT_S = 0.05
RECONNECT_MAX_WAIT_S = 1.0
# PostgreSQL's database size (size_bytes) is asked of the server at most this often.
SIZE_REFRESH_S = 5.0


class UnstorableText(DomainError):
    """A text value PostgreSQL cannot hold (the NUL character): the caller's input, a 400 —
    not the database failing (SQLite stores it; no id or name of ours contains one)."""


def _caller_error(exc: Exception) -> DomainError | None:
    # psycopg refuses NUL in text while binding, before anything reaches the server.
    if "cannot contain NUL" in str(exc):
        return UnstorableText("text values must not contain the NUL character (\\u0000)")
    return None


class StorageError(Exception):
    """The database could not do what was asked (locked, read-only, full disk, closed)."""


class SchemaTooNew(StorageError):
    """The database holds migrations this build does not know: a newer gethook wrote it."""


class _Write(NamedTuple):
    """A write waiting for the writer thread."""

    fn: Callable[..., Any]
    args: tuple[Any, ...]
    future: asyncio.Future[Any]
    durable: bool  # False: the batch may commit without waiting for the disk
    many: bool  # fn(conn, items) -> results, called once for every such write in the batch


class _Call(NamedTuple):
    """``fn(conn, *args, **kwargs)`` run on a thread's connection as is: a read, or a
    migration on the writer (which manages its own transaction)."""

    fn: Callable[..., Any]
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    future: asyncio.Future[Any]


class _Stop:
    """The shutdown marker: the thread that takes it closes its connection and ends."""


_STOP = _Stop()
_Job = _Write | _Call | _Stop


class _RetryBatch(Exception):
    """The batch's transaction is rolled back as a whole; running it again may succeed."""


class _Link:
    """A thread's connection. One that broke (PostgreSQL: the server restarted, killed our
    backend, or the network went) is replaced before the thread's next job; while the server
    cannot be reached, attempts back off and the jobs in between fail fast with StorageError
    rather than each waiting for a connect timeout. (A SQLite connection never breaks.)"""

    def __init__(self, connect: Callable[[], Any], conn: Any) -> None:
        self._connect = connect
        self._conn: Any | None = conn
        self._next_attempt = 0.0
        self._wait = RECONNECT_FIRST_WAIT_S

    @property
    def broken(self) -> bool:
        return self._conn is None or bool(getattr(self._conn, "broken", False))

    def failed(self, exc: BaseException) -> None:
        """A call on the connection raised ``exc``: drop the connection if it is gone."""
        if self._conn is not None and _connection_lost(self._conn, exc):
            self.close()

    def get(self) -> Any:
        """The live connection, made again if it broke (raises StorageError if it cannot)."""
        if not self.broken:
            return self._conn
        self.close()
        now = time.monotonic()
        if now < self._next_attempt:
            raise StorageError("the database connection was lost; reconnecting")
        try:
            self._conn = self._connect()
        except _DRIVER_ERRORS as exc:
            # Said once per outage and thread; the attempts after it, at debug level.
            first = self._wait == RECONNECT_FIRST_WAIT_S
            log.log(logging.WARNING if first else logging.DEBUG, "cannot reconnect: %s", exc)
            self._next_attempt = now + self._wait
            self._wait = min(self._wait * 2, RECONNECT_MAX_WAIT_S)
            raise StorageError(f"cannot reconnect to the database: {exc}") from exc
        self._wait = RECONNECT_FIRST_WAIT_S
        log.warning("reconnected to the database (%s)", threading.current_thread().name)
        return self._conn

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):  # a broken connection may refuse to close
                conn.close()


class _Worker(NamedTuple):
    """One of our threads, the queue it serves and the future it resolves when it ends."""

    thread: threading.Thread
    jobs: queue.SimpleQueue[_Job]
    ended: asyncio.Future[None]


class Database:
    """Owns the connections and their threads; opened and closed by the app's lifespan.

    ``url``: a ``postgresql://`` URL puts the data in that PostgreSQL database instead of the
    SQLite file at ``path`` (``path`` then only names it in messages)."""

    def __init__(
        self,
        path: Path,
        *,
        synchronous: str = "FULL",
        readers: int = 2,
        busy_timeout_ms: int = SQLITE_BUSY_TIMEOUT_MS,
        url: str = "",
    ) -> None:
        if readers < 1:
            raise ValueError("a Database needs at least one reader thread")
        self.path = path
        self.url = url
        self.dialect: Dialect = POSTGRESQL if url else SQLITE
        if url:
            _register_postgres_errors()
        self._synchronous = synchronous
        self._reader_count = readers
        self._busy_timeout_ms = busy_timeout_ms
        # None while closed. Several reader threads share one queue: a free one takes a read.
        self._writes: queue.SimpleQueue[_Job] | None = None
        self._reads: queue.SimpleQueue[_Job] | None = None
        self._workers: list[_Worker] = []
        # Held to check "open" and queue a job as one step, so that no job lands behind the
        # shutdown marker (it would never be answered).
        self._lock = threading.Lock()
        # PostgreSQL: pg_database_size as last read, when, and whether a read is queued.
        self._size = 0
        self._size_read_at = -SIZE_REFRESH_S
        self._size_reading = False

    @property
    def where(self) -> str:
        """The database, for messages: the file, or the URL without its password."""
        return redact_url(self.url) if self.url else str(self.path)

    async def open(self) -> None:
        if self.dialect == SQLITE:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        writes: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        reads: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        try:
            await self._start("gethook-db-writer", self._serve_writes, writes, self._prepare_writer)
            with self._lock:
                self._writes = writes
            await self.migrate()
            for number in range(self._reader_count):
                await self._start(
                    f"gethook-db-reader-{number}", _serve_reads, reads, self._prepare_reader
                )
            with self._lock:
                self._reads = reads
            if self.dialect == POSTGRESQL:  # the first /metrics answer has the size
                self._size_read(await self.read(_database_size))
        except BaseException as exc:
            await self.close()
            if isinstance(exc, _DRIVER_ERRORS):
                raise StorageError(f"cannot open database {self.where}: {exc}") from exc
            raise

    async def _start(
        self,
        name: str,
        serve: Callable[[_Link, queue.SimpleQueue[_Job]], None],
        jobs: queue.SimpleQueue[_Job],
        prepare: Callable[[Any], None],
    ) -> None:
        """Start a thread that connects, prepares its connection, then serves ``jobs``."""
        loop = asyncio.get_running_loop()
        ready: asyncio.Future[None] = loop.create_future()
        ended: asyncio.Future[None] = loop.create_future()
        # Daemon: a process that exits without close() is not held by an idle thread (WAL
        # rolls a cut-off transaction back at the next open).
        thread = threading.Thread(
            target=self._thread_main,
            args=(serve, jobs, prepare, ready, ended),
            name=name,
            daemon=True,
        )
        self._workers.append(_Worker(thread, jobs, ended))
        thread.start()
        await ready

    def _thread_main(
        self,
        serve: Callable[[_Link, queue.SimpleQueue[_Job]], None],
        jobs: queue.SimpleQueue[_Job],
        prepare: Callable[[Any], None],
        ready: asyncio.Future[None],
        ended: asyncio.Future[None],
    ) -> None:
        # The connection is made, used and closed in this thread only (check_same_thread on).
        try:
            connect = functools.partial(self._connect_prepared, prepare)
            try:
                link = _Link(connect, connect())
            except BaseException as exc:
                _answer(ready, False, exc)
                return
            _answer(ready, True, None)
            try:
                serve(link, jobs)
            finally:
                link.close()
        finally:
            _answer(ended, True, None)

    def _connect_prepared(self, prepare: Callable[[Any], None]) -> Any:
        conn = self._connect()
        try:
            prepare(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    def _connect(self) -> Any:
        if self.dialect == POSTGRESQL:
            name = f"gethook {threading.current_thread().name.removeprefix('gethook-')}"
            return connect_postgres(self.url, application_name=name)
        # isolation_level=None: we issue BEGIN/COMMIT ourselves, explicitly.
        conn = connect_sqlite(self.path, isolation_level=None)
        conn.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout_ms)}")
        conn.execute("PRAGMA foreign_keys = ON")
        return conn

    def _prepare_reader(self, conn: Any) -> None:
        if self.dialect == POSTGRESQL:
            conn.execute("SET default_transaction_read_only = on")
        else:
            conn.execute("PRAGMA query_only = ON")

    def _prepare_writer(self, conn: Any) -> None:
        if self.dialect == POSTGRESQL:
            return  # the server's own durability settings (synchronous_commit = on) hold
        # auto_vacuum only takes effect on an empty database; retention relies on it.
        conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
        conn.execute("PRAGMA journal_mode = WAL")
        # FULL: a commit is on disk before the 202 is sent, also across a power loss.
        conn.execute(f"PRAGMA synchronous = {self._synchronous}")
        # A write that changes several rows inside a transaction (a batch of events, a delete
        # that cascades, an update firing triggers) keeps a statement journal to undo it alone;
        # past 64 KiB SQLite spills it to a temp file, so every such write paid for file
        # writes in system time (half the writer's CPU on ingest). In memory it is a few pages
        # per write. Migrations switch back to files (_apply_migrations): an index built over
        # a big table sorts through temp storage, which must not all sit in memory.
        conn.execute("PRAGMA temp_store = MEMORY")

    async def migrate(self) -> list[int]:
        """Apply the numbered migrations not yet applied; return the versions applied."""
        runner = apply_postgres_migrations if self.dialect == POSTGRESQL else _apply_migrations
        return await self._call(self._writes, runner, (), {})

    async def close(self) -> None:
        """Run every write already queued, answer every caller, then close the connections.

        Reads and writes asked for once this has begun raise ``StorageError``."""
        with self._lock:
            self._writes = self._reads = None
            workers, self._workers = self._workers, []
        for worker in workers:
            # Behind everything already queued; one marker per thread (a reader that takes
            # one ends, so each reader takes exactly one; extra ones are harmless).
            worker.jobs.put(_STOP)
        # A thread resolves its future once its queue before the marker is answered and its
        # connection closed; it ends right after, so the joins below do not block the loop.
        await asyncio.gather(*(worker.ended for worker in workers))
        for worker in workers:
            worker.thread.join()

    async def read(
        self,
        fn: Callable[Concatenate[Connection, P], T],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """Run ``fn(conn, *args)`` on a read-only connection."""
        try:
            return await self._call(self._reads, fn, args, kwargs)
        except _DRIVER_ERRORS as exc:
            raise _caller_error(exc) or StorageError(f"database read failed: {exc}") from exc

    async def _call(
        self,
        jobs: queue.SimpleQueue[_Job] | None,
        fn: Callable[..., T],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> T:
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._put(jobs, _Call(fn, args, kwargs, future))
        return await future

    async def write(
        self,
        fn: Callable[Concatenate[Connection, P], T],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """Run ``fn(conn, *args)`` in a write transaction, committed before this returns."""
        result: T = await self._enqueue(_bind(fn, kwargs), args, durable=True)
        return result

    async def write_many(
        self, fn: Callable[[Connection, list[Item]], list[Result]], item: Item
    ) -> Result:
        """Like ``write`` for one ``item`` of ``fn(conn, items) -> results``: items queued at
        the same time are handed to one call (ingest's hot path: one INSERT for many)."""
        result: Result = await self._enqueue(fn, (item,), durable=True, many=True)
        return result

    async def write_ephemeral(
        self,
        fn: Callable[Concatenate[Connection, P], T],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """Like ``write``, for state a crash may lose (delivery leases, which every start
        releases anyway): a batch of only such writes commits without waiting for the disk."""
        result: T = await self._enqueue(_bind(fn, kwargs), args, durable=False)
        return result

    def _enqueue(
        self, fn: Callable[..., Any], args: tuple[Any, ...], durable: bool, many: bool = False
    ) -> asyncio.Future[Any]:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._put(self._writes, _Write(fn, args, future, durable, many))
        return future

    def _put(self, jobs: queue.SimpleQueue[_Job] | None, job: _Job) -> None:
        with self._lock:
            # Read again under the lock: close() may have begun since the caller looked.
            if jobs is None or (jobs is not self._writes and jobs is not self._reads):
                raise StorageError("the database is closed")
            jobs.put(job)

    def size_bytes(self) -> int:
        """The database file plus its WAL, in bytes; on PostgreSQL, pg_database_size as read
        at most SIZE_REFRESH_S ago (a stale value starts a read on a reader thread and is
        answered meanwhile: the caller, /metrics on the event loop, never waits for it)."""
        if self.dialect == POSTGRESQL:
            self._refresh_size()
            return self._size
        total = 0
        for suffix in ("", "-wal"):
            with contextlib.suppress(FileNotFoundError):
                total += self.path.with_name(self.path.name + suffix).stat().st_size
        return total

    def _refresh_size(self) -> None:
        if self._size_reading or time.monotonic() - self._size_read_at < SIZE_REFRESH_S:
            return
        try:
            future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
            self._put(self._reads, _Call(_database_size, (), {}, future))
        except (RuntimeError, StorageError):  # no event loop here, or closed: keep the last
            return
        self._size_reading = True
        future.add_done_callback(self._size_answered)

    def _size_answered(self, future: asyncio.Future[int]) -> None:
        self._size_reading = False
        if not future.cancelled() and future.exception() is None:
            self._size_read(future.result())
        else:  # the server is unreachable: try again after the same pause
            self._size_read_at = time.monotonic()

    def _size_read(self, size: int) -> None:
        self._size, self._size_read_at = size, time.monotonic()

    async def ping(self) -> bool:
        try:
            return await self.read(_select_one) == 1
        except StorageError:
            return False

    def _serve_writes(self, link: _Link, jobs: queue.SimpleQueue[_Job]) -> None:
        """The writer thread's loop: group-commit the writes waiting, until the _Stop."""
        pending: _Job | None = None
        while True:
            job = pending if pending is not None else jobs.get()
            pending = None
            if isinstance(job, _Stop):
                return
            if isinstance(job, _Call):
                _answer_call(link, job)
                continue
            batch = [job]
            while len(batch) < MAX_WRITE_BATCH:
                try:
                    waiting = jobs.get_nowait()
                except queue.Empty:
                    break
                if not isinstance(waiting, _Write):
                    pending = waiting  # a _Stop or a migration runs after this batch
                    break
                batch.append(waiting)
            _answer_batch(batch, self._write_batch(link, batch))

    def _write_batch(self, link: _Link, batch: list[_Write]) -> list[tuple[bool, Any]]:
        """Run ``batch``, once more if its first run was rolled back as a whole."""
        for attempt in (1, 2):
            try:
                return _run_batch(link.get(), batch, self._synchronous, may_retry=attempt == 1)
            except _RetryBatch as retry:
                link.failed(retry.__cause__ or retry)
                log.warning("database write batch rolled back, running it again: %s", retry)
            except StorageError as exc:  # no connection
                return [(False, exc)] * len(batch)
            except _DRIVER_ERRORS as exc:
                link.failed(exc)
                # BEGIN or COMMIT failed (locked, read-only, disk full, connection lost):
                # nothing was committed (or, if the connection broke during COMMIT, nothing
                # can say; the callers are told it failed).
                log.error("database write failed: %s", exc)
                error = StorageError(f"database write failed: {exc}")
                return [(False, error)] * len(batch)
            except BaseException as exc:  # the connection itself is broken
                # (BaseException: this thread must live on and answer every later write.)
                log.exception("database writer failed")
                return [(False, StorageError(f"database write failed: {exc}"))] * len(batch)
        raise AssertionError("unreachable: the second run does not ask for a third")


def _serve_reads(link: _Link, jobs: queue.SimpleQueue[_Job]) -> None:
    """A reader thread's loop: run reads (several readers share the queue) until a _Stop."""
    while True:
        job = jobs.get()
        if isinstance(job, _Stop):
            return  # the other readers each take their own marker
        assert isinstance(job, _Call)
        _answer_call(link, job, retry_on_new_connection=True)


def _bind(fn: Callable[..., T], kwargs: dict[str, Any]) -> Callable[..., T]:
    # Writes keep fn itself when they can (no keyword arguments): the batch groups by it.
    return functools.partial(fn, **kwargs) if kwargs else fn


def _answer_call(link: _Link, job: _Call, *, retry_on_new_connection: bool = False) -> None:
    # Exceptions go back to the caller as they are (read() maps sqlite3.Error there).
    outcome = _call(link, job)
    if retry_on_new_connection and not outcome[0] and link.broken:
        # A read whose connection broke (while idle: the server restarted since; or during
        # the read) runs once more on a new one: reads change nothing, so running one twice
        # is harmless, and the caller need not see a failure the server's restart caused.
        outcome = _call(link, job)
    _answer(job.future, *outcome)


def _call(link: _Link, job: _Call) -> tuple[bool, Any]:
    try:
        return (True, job.fn(link.get(), *job.args, **job.kwargs))
    except BaseException as exc:
        link.failed(exc)
        return (False, exc)


def _answer(future: asyncio.Future[Any], ok: bool, value: Any) -> None:
    """Resolve ``future`` from any thread (nothing to do if its loop is gone)."""
    with contextlib.suppress(RuntimeError):  # the loop was closed: nobody waits any more
        future.get_loop().call_soon_threadsafe(_settle, [(future, ok, value)])


def _answer_batch(batch: list[_Write], outcomes: list[tuple[bool, Any]]) -> None:
    # One hand-over per event loop for the whole batch (not one per write): each wakes the
    # loop through its self-pipe.
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], bool, Any]]] = {}
    for job, (ok, value) in zip(batch, outcomes, strict=True):
        by_loop.setdefault(job.future.get_loop(), []).append((job.future, ok, value))
    for loop, answers in by_loop.items():
        with contextlib.suppress(RuntimeError):  # the loop was closed: nobody waits any more
            loop.call_soon_threadsafe(_settle, answers)


def _settle(answers: list[tuple[asyncio.Future[Any], bool, Any]]) -> None:
    # Runs on the future's loop. A caller that gave up (cancelled) has its future done.
    for future, ok, value in answers:
        if future.done():
            continue
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)


def _database_size(conn: Connection) -> int:
    size: int = conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]
    return size


def _select_one(conn: Connection) -> int:
    one: int = conn.execute("SELECT 1").fetchone()[0]
    return one


def _run_batch(
    conn: Any, batch: list[_Write], synchronous: str, *, may_retry: bool = False
) -> list[tuple[bool, Any]]:
    """Run the batch's writes in one transaction, each in a savepoint; commit once.

    Writes queued with ``write_many`` that share a function run as one call over all their
    items (one savepoint); if that call fails, each item is retried alone so that only the
    bad one fails.

    ``may_retry``: a failure that rolls back the whole transaction and that a second run may
    not meet (``_aborts_batch``) raises ``_RetryBatch`` instead of failing the writes.
    """
    outcomes: list[tuple[bool, Any] | None] = [None] * len(batch)
    steps: list[tuple[Callable[..., Any], list[int]]] = []
    grouped: dict[Callable[..., Any], list[int]] = {}
    for index, job in enumerate(batch):
        if job.many and job.fn in grouped:
            grouped[job.fn].append(index)
        elif job.many:
            grouped[job.fn] = [index]
            steps.append((job.fn, grouped[job.fn]))
        else:
            steps.append((job.fn, [index]))
    # Only a batch holding a durable write waits for the disk; a later durable commit still
    # syncs everything written before it (the WAL is written in order).
    durable = any(job.durable for job in batch)
    sqlite = conn.dialect == SQLITE
    if not durable and sqlite:
        conn.execute("PRAGMA synchronous = OFF")
    # SQLite: take the write lock now, not at the first write (no deadlock with a reader
    # upgrading). PostgreSQL locks rows as the statements touch them.
    commit_sent = False
    try:
        # (In the try: a BEGIN that fails still restores the synchronous pragma, and on
        # PostgreSQL a BEGIN on a connection that died while idle runs the batch again.)
        conn.execute("BEGIN IMMEDIATE" if sqlite else "BEGIN")
        if not durable and not sqlite:
            conn.execute("SET LOCAL synchronous_commit = off")
        for fn, indices in steps:
            if batch[indices[0]].many:
                _run_many(conn, fn, batch, indices, outcomes, may_retry)
            else:
                outcomes[indices[0]] = _run_one(conn, fn, batch[indices[0]].args, may_retry)
        commit_sent = True
        conn.execute("COMMIT")
    except BaseException as exc:
        if conn.in_transaction and not _connection_lost(conn, exc):
            conn.execute("ROLLBACK")
        if may_retry and _aborts_batch(conn, exc, commit_sent):
            raise _RetryBatch(str(exc)) from exc
        raise
    finally:
        if not durable and sqlite:
            conn.execute(f"PRAGMA synchronous = {synchronous}")
    return outcomes  # type: ignore[return-value]


def _aborts_batch(conn: Any, exc: BaseException, commit_sent: bool) -> bool:
    """Whether ``exc`` undid the whole transaction for a reason a second run may not meet:
    a serialization failure or a deadlock (the server chose this transaction to roll back),
    or a connection lost before COMMIT was sent (nothing was committed). A connection lost
    during COMMIT is not: the commit may have happened. Never true on SQLite."""
    if getattr(exc, "sqlstate", None) in _RETRY_SQLSTATES:
        return True
    return not commit_sent and _connection_lost(conn, exc)


def _connection_lost(conn: Any, exc: BaseException) -> bool:
    """Whether ``exc`` means ``conn``'s session is gone (never on SQLite)."""
    if not isinstance(exc, _DRIVER_ERRORS):
        return False
    if getattr(conn, "broken", False):
        return True
    state = getattr(exc, "sqlstate", None) or ""
    return state.startswith("08") or state in _SESSION_ENDED_SQLSTATES


def _run_one(
    conn: Connection, fn: Callable[..., Any], args: tuple[Any, ...], may_retry: bool = False
) -> tuple[bool, Any]:
    conn.execute("SAVEPOINT job")
    try:
        outcome: tuple[bool, Any] = (True, fn(conn, *args))
    except Exception as exc:
        if may_retry and _aborts_batch(conn, exc, commit_sent=False):
            raise  # the whole batch runs again (_run_batch)
        conn.execute("ROLLBACK TO job")
        if isinstance(exc, _DRIVER_ERRORS):
            exc = _caller_error(exc) or StorageError(f"database write failed: {exc}")
        outcome = (False, exc)
    conn.execute("RELEASE job")
    return outcome


def _run_many(
    conn: Connection,
    fn: Callable[..., Any],
    batch: list[_Write],
    indices: list[int],
    outcomes: list[tuple[bool, Any] | None],
    may_retry: bool = False,
) -> None:
    items = [batch[index].args[0] for index in indices]
    ok, results = _run_one(conn, fn, (items,), may_retry)
    if ok:
        for index, result in zip(indices, results, strict=True):
            outcomes[index] = (True, result)
        return
    for index, item in zip(indices, items, strict=True):
        ok, result = _run_one(conn, fn, ([item],), may_retry)
        outcomes[index] = (True, result[0]) if ok else (False, result)


def _apply_migrations(conn: SqliteConnection) -> list[int]:
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations"
        " (version INTEGER PRIMARY KEY, applied_at REAL)"
    )
    files = _migration_files()
    pending = set(pending_migrations(conn))
    todo = [(version, sql) for version, sql in files if version in pending]
    # A new database takes every migration in one transaction: one commit, so one sync to
    # disk instead of one per file (start-up, issue 13). An existing one takes them one
    # commit each, so that if one fails on a big table the ones before it are kept.
    batches = [todo] if todo and len(todo) == len(files) else [[item] for item in todo]
    done = []
    temp_store = conn.execute("PRAGMA temp_store").fetchone()[0]
    conn.execute("PRAGMA temp_store = FILE")  # see Database._prepare_writer
    try:
        for batch in batches:
            steps = "".join(
                f"{sql}\n;INSERT INTO schema_migrations VALUES ({version}, {time.time()});\n"
                for version, sql in batch
            )
            conn.executescript(f"BEGIN IMMEDIATE;\n{steps}COMMIT;")
            for version, _ in batch:
                log.info("applied database migration %04d", version)
                done.append(version)
    finally:
        if conn.in_transaction:  # a migration failed: undo it, and say why (not the pragma)
            conn.execute("ROLLBACK")
        conn.execute(f"PRAGMA temp_store = {int(temp_store)}")
    return done


def pending_migrations(conn: Connection) -> list[int]:
    """The migration versions this build would apply to ``conn``'s database (read only).

    Raises SchemaTooNew when the database has a version this build lacks: running older code
    on it (or "completing" it with older migrations) could damage what the newer one wrote.
    """
    if conn.dialect == SQLITE:
        found = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"
    else:
        found = "SELECT 1 WHERE to_regclass('schema_migrations') IS NOT NULL"
    has_table = conn.execute(found).fetchone()
    applied = (
        {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
        if has_table
        else set()
    )
    known = known_migrations(conn.dialect)
    unknown = applied - set(known)
    if unknown:
        raise SchemaTooNew(
            f"the database was written by a newer GetHook Lite (schema version {max(unknown)};"
            f" this build knows up to {max(known)}): run that version or newer, or restore a"
            " backup made before the upgrade"
        )
    return [version for version in known if version not in applied]


def apply_postgres_migrations(conn: Connection) -> list[int]:
    """PostgreSQL's migration runner: the pending files in one transaction, under an advisory
    lock so that N processes starting together migrate once (the others wait, then find
    nothing to do). Transactional DDL: a failing file leaves the database as it was."""
    conn.execute("SELECT pg_advisory_lock(?)", (MIGRATION_LOCK_KEY,))
    try:
        _require_byte_order(conn)
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations"
            " (version integer PRIMARY KEY, applied_at double precision)"
        )
        pending = set(pending_migrations(conn))
        todo = [(v, sql) for v, sql in _migration_files(conn.dialect) if v in pending]
        if not todo:
            return []
        conn.execute("BEGIN")
        try:
            for version, sql in todo:
                conn.execute(sql)
                conn.execute("INSERT INTO schema_migrations VALUES (?, ?)", (version, time.time()))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        for version, _ in todo:
            log.info("applied database migration %04d", version)
        return [version for version, _ in todo]
    finally:
        conn.execute("SELECT pg_advisory_unlock(?)", (MIGRATION_LOCK_KEY,))


def _require_byte_order(conn: Connection) -> None:
    # Ids are compared and sorted as text (cursors, "id > ?"): they must sort byte by byte,
    # as on SQLite. C, POSIX and C.UTF-8 do; a language collation (en_US) does not.
    collation = conn.execute(
        "SELECT datcollate FROM pg_database WHERE datname = current_database()"
    ).fetchone()[0]
    if collation not in ("C", "POSIX", "C.UTF-8", "C.utf8"):
        raise StorageError(
            f"the database's collation is {collation}; GetHook Lite needs C (byte order):"
            " CREATE DATABASE ... LC_COLLATE 'C' TEMPLATE template0"
        )


def known_migrations(dialect: Dialect = SQLITE) -> list[int]:
    """The versions of the numbered migration files this build ships, in order (the same
    numbers for both dialects: tests/unit/test_migrations_in_step.py)."""
    return [version for version, _ in _migration_files(dialect)]


def _migration_files(dialect: Dialect = SQLITE) -> list[tuple[int, str]]:
    folder = resources.files("gethook_lite.db") / "migrations" / dialect
    files = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            files.append((int(entry.name.split("_", 1)[0]), entry.read_text()))
    versions = [version for version, _ in files]
    if len(versions) != len(set(versions)):
        # Versions are the key in schema_migrations: a duplicate would be skipped silently.
        raise RuntimeError(f"two migration files share a number: {sorted(versions)}")
    return sorted(files)
