"""Operators' access to the database beside a running server.

A WAL database lets another process read while the server writes; writes here are one short
``BEGIN IMMEDIATE`` transaction each, waiting (busy timeout) for the server's writer rather
than failing. The server reads keys and retention periods from the database every time, so
a change made here takes effect at once.

With PostgreSQL (``storage.url``), the same functions run on a connection to that database:
pass the URL where a SQLite file's path goes.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

from gethook_lite.constants import SQLITE_BUSY_TIMEOUT_MS
from gethook_lite.db.connection import POSTGRESQL, Connection, connect_sqlite
from gethook_lite.db.postgres import connect_postgres, is_postgres_url, redact_url

__all__ = ["Database", "OperatorError", "operator_connection", "read", "write"]

T = TypeVar("T")


class OperatorError(Exception):
    """An operator's command cannot be done; the message says why."""


# Where the data is: a SQLite file, or a postgresql:// URL (the ``storage.url`` setting).
Database = Path | str


@contextlib.contextmanager
def operator_connection(database: Database) -> Iterator[Connection]:
    """A short-lived connection to an existing database (never creates one)."""
    if isinstance(database, str) and is_postgres_url(database):
        with _postgres_connection(database) as conn:
            yield conn
        return
    database = Path(database)
    if not database.exists():
        raise OperatorError(f"no database at {database} (wrong --data-dir?)")
    conn = connect_sqlite(database, timeout=SQLITE_BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    try:
        conn.execute("PRAGMA foreign_keys = ON")
        yield conn
    finally:
        conn.close()


@contextlib.contextmanager
def _postgres_connection(url: str) -> Iterator[Connection]:
    import psycopg

    try:
        conn = connect_postgres(url, application_name="gethook-operator")
    except psycopg.Error as exc:
        raise OperatorError(f"cannot connect to {redact_url(url)}: {exc}") from None
    try:
        yield conn
    finally:
        conn.close()


def read(database: Database, fn: Callable[..., T], *args) -> T:
    """Run the storage function ``fn(conn, *args)`` on a short read connection."""
    with operator_connection(database) as conn:
        try:
            return fn(conn, *args)
        except _database_errors(conn) as exc:
            raise OperatorError(f"database read failed: {exc}") from None


def write(database: Database, fn: Callable[..., T], *args) -> T:
    """Run ``fn(conn, *args)`` in one write transaction, committed before this returns.

    SQLite: ``BEGIN IMMEDIATE`` waits (busy timeout) for the server's writer. PostgreSQL: a
    plain ``BEGIN``; the statements take their row locks, waiting for the servers' writes."""
    with operator_connection(database) as conn:
        begin = "BEGIN" if conn.dialect == POSTGRESQL else "BEGIN IMMEDIATE"
        try:
            conn.execute(begin)
            try:
                result = fn(conn, *args)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        except _database_errors(conn) as exc:
            raise OperatorError(f"database write failed: {exc}") from None
        return result


def _database_errors(conn: Connection) -> tuple[type[Exception], ...]:
    if conn.dialect == POSTGRESQL:
        import psycopg

        return (psycopg.Error,)
    return (sqlite3.Error,)
