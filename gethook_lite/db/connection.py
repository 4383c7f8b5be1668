"""The connection seam: what a storage function may use, whichever database runs it.

Storage functions are written once, ``fn(conn, *args)``, in sqlite3's shape (``?`` and
``:name`` placeholders, rows readable by index and by name). On SQLite ``conn`` is a
``SqliteConnection``; on PostgreSQL it is ``db.postgres.PgConnection``, which translates the
placeholders and shapes its rows the same way. Where the SQL must differ (the claim's row
locks, ingest's duplicate check, sharded counters) the storage module asks ``conn.dialect``:
per-dialect SQL lives in the storage modules and nowhere above them.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Final, Literal, Protocol, cast

__all__ = [
    "POSTGRESQL",
    "SQLITE",
    "Connection",
    "Cursor",
    "DbRow",
    "Dialect",
    "SqliteConnection",
    "connect_sqlite",
]

Dialect = Literal["sqlite", "postgresql"]
SQLITE: Final = "sqlite"
POSTGRESQL: Final = "postgresql"

# A row as a storage function reads it: by position (``row[0]``) and by column name
# (``row["id"]``), with ``keys()`` so that ``dict(row)`` works. sqlite3.Row on SQLite, a
# tuple subclass on PostgreSQL; typed loosely because the two share no class.
DbRow = Any


class Cursor(Protocol):
    """The part of a DB-API cursor the storage functions use."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...

    def close(self) -> None: ...


class Connection(Protocol):
    """The part of a connection the storage functions use, on both backends."""

    @property
    def dialect(self) -> Dialect: ...

    def execute(self, sql: str, parameters: Any = ..., /) -> Cursor: ...

    def executemany(self, sql: str, parameters: Iterable[Any], /) -> Cursor: ...

    # A cursor of its own, with ``execute`` and a settable ``row_factory`` (None: plain
    # tuples, which sort; the claim's merge relies on it).
    def cursor(self) -> Any: ...


class SqliteConnection(sqlite3.Connection):
    """sqlite3's connection, marked with its dialect (``sqlite3.connect(factory=...)``)."""

    # A file connection does not break the way a server's does (db.database._Link asks).
    broken: Final = False

    @property
    def dialect(self) -> Dialect:
        return SQLITE


# sqlite3 (CPython 3.11 to 3.13) binds a None or a bytes value only after looking for an
# adapter, and with none registered the look-up fails through an AttributeError it formats
# and drops: about 0.5 µs a value, and an event's rows carry six to eight of them (its body,
# a delivery's held_at, the columns an ingest leaves empty). These adapters are found at the
# first look and bind the very same value: {}.get(None) is None (a NULL), and a memoryview
# binds as a BLOB of the same bytes (the view copies nothing). Process-wide: every SQLite
# statement gains (set where every SQLite connection is made).
sqlite3.register_adapter(type(None), cast("Callable[[None], None]", {}.get))
sqlite3.register_adapter(bytes, memoryview)


def connect_sqlite(database: Any, **kwargs: Any) -> SqliteConnection:
    """``sqlite3.connect`` giving a ``SqliteConnection`` with rows readable by name."""
    conn = sqlite3.connect(database, factory=SqliteConnection, **kwargs)
    conn.row_factory = sqlite3.Row
    assert isinstance(conn, SqliteConnection)
    return conn
