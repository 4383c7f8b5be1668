"""Operators' access to the database beside a running server.

A WAL database lets another process read while the server writes; writes here are one short
``BEGIN IMMEDIATE`` transaction each, waiting (busy timeout) for the server's writer rather
than failing. The server reads keys and retention periods from the database every time, so
a change made here takes effect at once.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

from gethook_lite.constants import SQLITE_BUSY_TIMEOUT_MS
from gethook_lite.db.connection import Connection, connect_sqlite

__all__ = ["OperatorError", "operator_connection", "read", "write"]

T = TypeVar("T")


class OperatorError(Exception):
    """An operator's command cannot be done; the message says why."""


@contextlib.contextmanager
def operator_connection(database: Path) -> Iterator[Connection]:
    """A short-lived connection to an existing database (never creates one)."""
    if not database.exists():
        raise OperatorError(f"no database at {database} (wrong --data-dir?)")
    conn = connect_sqlite(database, timeout=SQLITE_BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    try:
        conn.execute("PRAGMA foreign_keys = ON")
        yield conn
    finally:
        conn.close()


def read(database: Path, fn: Callable[..., T], *args) -> T:
    """Run the storage function ``fn(conn, *args)`` on a short read connection."""
    with operator_connection(database) as conn:
        try:
            return fn(conn, *args)
        except sqlite3.Error as exc:
            raise OperatorError(f"database read failed: {exc}") from None


def write(database: Path, fn: Callable[..., T], *args) -> T:
    """Run ``fn(conn, *args)`` in one write transaction, committed before this returns."""
    with operator_connection(database) as conn:
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = fn(conn, *args)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            raise OperatorError(f"database write failed: {exc}") from None
        return result
