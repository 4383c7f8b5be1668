"""PostgreSQL under the same storage functions: a psycopg 3 connection in sqlite3's shape.

``PgConnection`` gives the storage functions the surface they use on SQLite (``execute``,
``executemany``, rows by index and by name, ``rowcount``), translating sqlite3's placeholders
to psycopg's as it goes, so that every function in ``db/`` is written once. psycopg is
imported here only: an install without the ``postgresql`` extra runs SQLite as before.

The connection is in autocommit mode and ``Database`` issues ``BEGIN``/``COMMIT`` itself,
exactly as it does with sqlite3's ``isolation_level=None``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from gethook_lite.db.connection import POSTGRESQL, Dialect

if TYPE_CHECKING:
    import psycopg

__all__ = [
    "PgConnection",
    "Row",
    "connect_postgres",
    "is_postgres_url",
    "redact_url",
    "to_pyformat",
]

_SCHEMES = ("postgresql://", "postgres://")


def is_postgres_url(url: str) -> bool:
    return url.startswith(_SCHEMES)


def redact_url(url: str) -> str:
    """``url`` without its password, for logs and error messages."""
    return re.sub(r"(://[^:/@]*):[^@/]*@", r"\1:***@", url)


class Row(tuple[Any, ...]):
    """A result row read by index, by column name, or turned into a dict (like sqlite3.Row)."""

    __slots__ = ()
    _index: dict[str, int] = {}

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            return tuple.__getitem__(self, self._index[key])
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        return list(self._index)


@functools.lru_cache(maxsize=256)
def _row_class(names: tuple[str, ...]) -> type[Row]:
    # One class per column list (cached), so a row costs one tuple, not a tuple and a dict.
    index = {name: position for position, name in enumerate(names)}
    return type("Row", (Row,), {"__slots__": (), "_index": index})


def _sqlite_shaped_rows(cursor: Any) -> Any:
    """psycopg row factory: rows shaped like sqlite3.Row."""
    if cursor.description is None:
        return tuple
    cls = _row_class(tuple(column.name for column in cursor.description))
    return functools.partial(tuple.__new__, cls)


def _tuple_rows(cursor: Any) -> Any:
    return tuple


# A quoted string, a quoted identifier, a comment, a ``?``, a ``%``, or a ``:name`` that is
# not a ``::type`` cast.
_TOKEN = re.compile(r"'(?:[^']|'')*'|\"[^\"]*\"|--[^\n]*|\?\d*|%|(?<![:\w]):([A-Za-z_]\w*)")


@functools.lru_cache(maxsize=2048)
def to_pyformat(sql: str) -> str:
    """sqlite3 placeholders to psycopg's: ``?`` -> ``%s``, ``:name`` -> ``%(name)s``; a literal
    ``%`` (``LIKE '{%'``) is doubled. Quoted text and comments keep their ``?`` and ``:``
    (a ``%`` inside quotes is still doubled: psycopg reads the whole string).

    Numbered ``?NNN`` marks are refused: psycopg has no positional reuse; write the value twice.
    """

    def swap(match: re.Match[str]) -> str:
        token = match.group(0)
        if token == "?":
            return "%s"
        if token.startswith("?"):
            raise ValueError(f"numbered placeholder {token} is SQLite-only: {sql[:80]!r}")
        if token == "%":
            return "%%"
        if match.group(1):
            return f"%({match.group(1)})s"
        return token.replace("%", "%%")

    return _TOKEN.sub(swap, sql)


class _TupleCursor:
    """``conn.cursor()`` for the claim's merge: placeholders translated; ``row_factory = None``
    gives plain tuples (which sort), as on sqlite3."""

    def __init__(self, raw: psycopg.Connection[Any]) -> None:
        self._cursor = raw.cursor(row_factory=_sqlite_shaped_rows)

    @property
    def row_factory(self) -> Any:
        return self._cursor.row_factory

    @row_factory.setter
    def row_factory(self, factory: Any) -> None:
        self._cursor.row_factory = _tuple_rows if factory is None else factory

    def execute(self, sql: str, parameters: Any = ()) -> Any:
        if not parameters:
            return self._cursor.execute(sql)
        return self._cursor.execute(to_pyformat(sql), parameters)

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    def fetchone(self) -> Any:
        return self._cursor.fetchone()

    def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    def __iter__(self) -> Iterator[Any]:
        return iter(self._cursor)

    def close(self) -> None:
        self._cursor.close()


class _NoRows:
    """The result of a statement that returns no rows: its row count, and nothing to fetch."""

    __slots__ = ("rowcount",)

    def __init__(self, rowcount: int) -> None:
        self.rowcount = rowcount

    def fetchone(self) -> None:
        return None

    def fetchall(self) -> list[Any]:
        return []

    def __iter__(self) -> Iterator[Any]:
        return iter(())

    def close(self) -> None:
        pass


class PgConnection:
    """The slice of sqlite3.Connection our storage functions use, over psycopg."""

    def __init__(self, raw: psycopg.Connection[Any]) -> None:
        self.raw = raw

    @property
    def dialect(self) -> Dialect:
        return POSTGRESQL

    def execute(self, sql: str, parameters: Any = (), /) -> Any:
        if not parameters:  # sent as written: psycopg reads no placeholders then
            cursor = self.raw.execute(sql)
        else:
            cursor = self.raw.execute(to_pyformat(sql), parameters)
        # sqlite3 reads a statement without a result (UPDATE, DELETE) as no rows; psycopg
        # raises on fetching from it. Same answer on both backends.
        return cursor if cursor.description is not None else _NoRows(cursor.rowcount)

    def executemany(self, sql: str, parameters: Iterable[Any], /) -> Any:
        cursor = self.raw.cursor()
        cursor.executemany(to_pyformat(sql), parameters)  # pipelined: one round trip
        return cursor

    def cursor(self) -> _TupleCursor:
        return _TupleCursor(self.raw)

    @property
    def in_transaction(self) -> bool:
        """A transaction is open on the server (False once the connection broke: the server
        rolled it back, and there is nothing to send a ROLLBACK over)."""
        from psycopg.pq import TransactionStatus

        return not self.broken and self.raw.info.transaction_status != TransactionStatus.IDLE

    @property
    def broken(self) -> bool:
        return self.raw.broken or self.raw.closed

    def close(self) -> None:
        self.raw.close()


# How long a connection may take to notice that the server is gone, unless the URL says
# otherwise: connecting gives up after connect_timeout seconds (psycopg's own default is over
# two minutes); an idle or waiting connection probes the server with TCP keepalives; data sent
# and never acknowledged (the network dropped, the host died) fails the call after
# tcp_user_timeout milliseconds. Without these a lost network holds a thread, and every call
# queued behind it, for the kernel's TCP timeouts (minutes), where a StorageError (503 + Retry-
# After) is what callers need.
CONNECTION_DEFAULTS: dict[str, Any] = {
    "connect_timeout": 5,
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 5,
    "keepalives_count": 3,
    "tcp_user_timeout": 15_000,
}


def connect_postgres(url: str, *, application_name: str = "gethook", **kwargs: Any) -> PgConnection:
    """A new autocommit connection to ``url`` with rows shaped like sqlite3's."""
    import psycopg
    from psycopg.conninfo import conninfo_to_dict
    from psycopg.types.numeric import IntDumper

    given = conninfo_to_dict(url)
    defaults = {key: value for key, value in CONNECTION_DEFAULTS.items() if key not in given}
    raw = psycopg.connect(
        url,
        autocommit=True,
        row_factory=_sqlite_shaped_rows,
        application_name=application_name,
        **{**defaults, **kwargs},
    )
    # 0/1 flag columns are integers on both backends: a Python bool bound to one stays 0/1.
    raw.adapters.register_dumper(bool, IntDumper)
    return PgConnection(raw)
