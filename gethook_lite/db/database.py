"""The database: one SQLite file in WAL mode, one writer with group commit, a few readers.

Storage functions are plain synchronous functions ``fn(conn, *args)`` in the ``db`` modules;
callers run them with ``await db.read(fn, ...)`` or ``await db.write(fn, ...)``. Each call is
one hop into the connection's thread, whatever the number of statements inside it.

Writes are serialised through one queue. The writer takes every write waiting in the queue
and runs them in one ``BEGIN IMMEDIATE`` transaction, each inside its own savepoint, so that a
burst of ingests shares one commit (and one fsync) while a failing write rolls back alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import sqlite3
import time
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

from gethook_lite.constants import MAX_WRITE_BATCH, SQLITE_BUSY_TIMEOUT_MS

__all__ = ["Database", "StorageError"]

log = logging.getLogger(__name__)
T = TypeVar("T")


class StorageError(Exception):
    """The database could not do what was asked (locked, read-only, full disk, closed)."""


async def _in_thread(conn: aiosqlite.Connection, fn: Callable[..., T], *args: Any) -> T:
    # aiosqlite runs everything in the connection's own thread; handing it a whole function
    # (rather than one statement at a time) turns a transaction into a single thread hop.
    # Connection._execute is the primitive its public methods are built on (version pinned).
    return await conn._execute(fn, *args)


def _raw(conn: aiosqlite.Connection) -> sqlite3.Connection:
    return conn._conn  # only called inside the connection's thread (see _in_thread)


class Database:
    """Owns the SQLite connections; opened and closed by the app's lifespan."""

    def __init__(self, path: Path, *, synchronous: str = "FULL", readers: int = 2) -> None:
        self.path = path
        self._synchronous = synchronous
        self._reader_count = readers
        self._writer: aiosqlite.Connection | None = None
        self._readers: list[aiosqlite.Connection] = []
        self._next_reader = itertools.cycle(range(readers))
        # (function, arguments, future, durable, many) of each write waiting for the writer.
        self._queue: asyncio.Queue[tuple[Callable, tuple, asyncio.Future, bool, bool]] | None
        self._queue = None
        self._writer_task: asyncio.Task | None = None

    async def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._writer = await self._connect()
            await _in_thread(self._writer, self._prepare_writer)
            await self.migrate()
            for _ in range(self._reader_count):
                reader = await self._connect()
                await reader.execute("PRAGMA query_only = ON")
                self._readers.append(reader)
        except sqlite3.Error as exc:
            await self.close()
            raise StorageError(f"cannot open database {self.path}: {exc}") from exc
        self._queue = asyncio.Queue()
        self._writer_task = asyncio.create_task(self._write_loop(), name="gethook-db-writer")

    async def _connect(self) -> aiosqlite.Connection:
        # isolation_level=None: we issue BEGIN/COMMIT ourselves, explicitly.
        conn = await aiosqlite.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        await conn.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        await conn.execute("PRAGMA foreign_keys = ON")
        return conn

    def _prepare_writer(self) -> None:
        conn = _raw(self._writer)
        # auto_vacuum only takes effect on an empty database; retention relies on it.
        conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
        conn.execute("PRAGMA journal_mode = WAL")
        # FULL: a commit is on disk before the 202 is sent, also across a power loss.
        conn.execute(f"PRAGMA synchronous = {self._synchronous}")

    async def migrate(self) -> list[int]:
        """Apply the numbered migrations not yet applied; return the versions applied."""
        return await _in_thread(self._writer, _apply_migrations, _raw(self._writer))

    async def close(self) -> None:
        if self._writer_task is not None:
            self._writer_task.cancel()
            await asyncio.gather(self._writer_task, return_exceptions=True)
            self._writer_task = None
        queue, self._queue = self._queue, None
        while queue is not None and not queue.empty():
            future = queue.get_nowait()[2]
            if not future.done():
                future.set_exception(StorageError("the database was closed"))
        for conn in [*self._readers, self._writer]:
            if conn is not None:
                await conn.close()
        self._readers = []
        self._writer = None

    async def read(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(conn, *args)`` on a read-only connection."""
        if not self._readers:
            raise StorageError("the database is closed")
        reader = self._readers[next(self._next_reader) % len(self._readers)]
        try:
            return await _in_thread(reader, _call_with_raw, reader, fn, args)
        except sqlite3.Error as exc:
            raise StorageError(f"database read failed: {exc}") from exc

    async def write(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(conn, *args)`` in a write transaction, committed before this returns."""
        return await self._enqueue(fn, args, durable=True)

    async def write_many(self, fn: Callable[[sqlite3.Connection, list], list], item: Any) -> Any:
        """Like ``write`` for one ``item`` of ``fn(conn, items) -> results``: items queued at
        the same time are handed to one call (ingest's hot path: one INSERT for many)."""
        return await self._enqueue(fn, (item,), durable=True, many=True)

    async def write_ephemeral(self, fn: Callable[..., T], *args: Any) -> T:
        """Like ``write``, for state a crash may lose (delivery leases, which every start
        releases anyway): a batch of only such writes commits without waiting for the disk."""
        return await self._enqueue(fn, args, durable=False)

    async def _enqueue(self, fn: Callable, args: tuple, durable: bool, many: bool = False) -> Any:
        if self._queue is None:
            raise StorageError("the database is closed")
        future: asyncio.Future = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((fn, args, future, durable, many))
        return await future

    def size_bytes(self) -> int:
        """The database file plus its WAL, in bytes."""
        total = 0
        for suffix in ("", "-wal"):
            with contextlib.suppress(FileNotFoundError):
                total += self.path.with_name(self.path.name + suffix).stat().st_size
        return total

    async def ping(self) -> bool:
        try:
            return await self.read(_select_one) == 1
        except StorageError:
            return False

    async def _write_loop(self) -> None:
        assert self._queue is not None
        while True:
            batch = [await self._queue.get()]
            while len(batch) < MAX_WRITE_BATCH and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                outcomes = await _in_thread(
                    self._writer, _run_batch, _raw(self._writer), batch, self._synchronous
                )
            except sqlite3.Error as exc:
                # BEGIN or COMMIT failed (locked, read-only, disk full): nothing was committed.
                log.error("database write failed: %s", exc)
                error = StorageError(f"database write failed: {exc}")
                outcomes = [(False, error)] * len(batch)
            except Exception as exc:  # the connection itself is broken
                log.exception("database writer failed")
                outcomes = [(False, StorageError(f"database write failed: {exc}"))] * len(batch)
            for (_, _, future, _, _), (ok, value) in zip(batch, outcomes, strict=True):
                if future.done():
                    continue
                if ok:
                    future.set_result(value)
                else:
                    future.set_exception(value)


def _call_with_raw(conn: aiosqlite.Connection, fn: Callable[..., T], args: tuple) -> T:
    return fn(_raw(conn), *args)


def _select_one(conn: sqlite3.Connection) -> int:
    return conn.execute("SELECT 1").fetchone()[0]


def _run_batch(conn: sqlite3.Connection, batch: list, synchronous: str) -> list[tuple[bool, Any]]:
    """Run the batch's writes in one transaction, each in a savepoint; commit once.

    Writes queued with ``write_many`` that share a function run as one call over all their
    items (one savepoint); if that call fails, each item is retried alone so that only the
    bad one fails.
    """
    outcomes: list[tuple[bool, Any] | None] = [None] * len(batch)
    steps: list[tuple[Callable, list[int]]] = []
    grouped: dict[Callable, list[int]] = {}
    for index, (fn, _args, _future, _durable, many) in enumerate(batch):
        if many and fn in grouped:
            grouped[fn].append(index)
        elif many:
            grouped[fn] = [index]
            steps.append((fn, grouped[fn]))
        else:
            steps.append((fn, [index]))
    # Only a batch holding a durable write waits for the disk; a later durable commit still
    # syncs everything written before it (the WAL is written in order).
    durable = any(job[3] for job in batch)
    if not durable:
        conn.execute("PRAGMA synchronous = OFF")
    conn.execute("BEGIN IMMEDIATE")
    try:
        for fn, indices in steps:
            if batch[indices[0]][4]:
                _run_many(conn, fn, batch, indices, outcomes)
            else:
                outcomes[indices[0]] = _run_one(conn, fn, batch[indices[0]][1])
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    finally:
        if not durable:
            conn.execute(f"PRAGMA synchronous = {synchronous}")
    return outcomes  # type: ignore[return-value]


def _run_one(conn: sqlite3.Connection, fn: Callable, args: tuple) -> tuple[bool, Any]:
    conn.execute("SAVEPOINT job")
    try:
        outcome = (True, fn(conn, *args))
    except Exception as exc:
        conn.execute("ROLLBACK TO job")
        if isinstance(exc, sqlite3.Error):
            exc = StorageError(f"database write failed: {exc}")
        outcome = (False, exc)
    conn.execute("RELEASE job")
    return outcome


def _run_many(
    conn: sqlite3.Connection, fn: Callable, batch: list, indices: list[int], outcomes: list
) -> None:
    items = [batch[index][1][0] for index in indices]
    ok, results = _run_one(conn, fn, (items,))
    if ok:
        for index, result in zip(indices, results, strict=True):
            outcomes[index] = (True, result)
        return
    for index, item in zip(indices, items, strict=True):
        ok, result = _run_one(conn, fn, ([item],))
        outcomes[index] = (True, result[0]) if ok else (False, result)


def _apply_migrations(conn: sqlite3.Connection) -> list[int]:
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations"
        " (version INTEGER PRIMARY KEY, applied_at REAL)"
    )
    applied = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
    done = []
    for version, sql in _migration_files():
        if version in applied:
            continue
        conn.executescript(
            f"BEGIN IMMEDIATE;\n{sql}\n;"
            f"INSERT INTO schema_migrations VALUES ({version}, {time.time()});\nCOMMIT;"
        )
        log.info("applied database migration %04d", version)
        done.append(version)
    return done


def _migration_files() -> list[tuple[int, str]]:
    folder = resources.files("gethook_lite.db") / "migrations"
    files = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            files.append((int(entry.name.split("_", 1)[0]), entry.read_text()))
    versions = [version for version, _ in files]
    if len(versions) != len(set(versions)):
        # Versions are the key in schema_migrations: a duplicate would be skipped silently.
        raise RuntimeError(f"two migration files share a number: {sorted(versions)}")
    return sorted(files)
