"""The change log (migration 0010): reading it in cursor order, and what its rows refer to.

The order a reader follows must be the order rows become visible, or a reader that moved past
a row before it committed would never see it. On SQLite one writer commits at a time, so
``seq`` order is commit order and the cursor is the seq. On PostgreSQL several processes
write at once: a transaction can take seq 101, another 102 and commit first. There the log is
read in (txid, seq) order and only below the oldest transaction still running
(``pg_snapshot_xmin``): every transaction below it has ended, so nothing can appear behind
the cursor later (docs/design/postgresql.md §6.6). The cursor is then the pair.
"""

from __future__ import annotations

import functools
import itertools
import operator
from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple

from gethook_lite.db.connection import SQLITE, Connection
from gethook_lite.db.rows import Row, all_rows

__all__ = [
    "CHANGE_COLUMNS",
    "VALUES",
    "ChangeCursor",
    "account_changes_after",
    "changes_after",
    "changes_held_back",
    "delete_expired_changes",
    "insert_rows",
    "latest_cursor",
    "load_subjects",
    "log_received",
    "read_position",
    "values_chunks",
]


class ChangeCursor(NamedTuple):
    """A place in the change log: after the row (txid, seq). ``txid`` is 0 on SQLite, where
    the seq alone orders the log; tuples compare in log order on both backends."""

    txid: int
    seq: int

    def __str__(self) -> str:
        """The cursor as a reader sees it (SSE ``id:``): the seq on SQLite, "txid.seq" on
        PostgreSQL (where a transaction id is never 0)."""
        return str(self.seq) if self.txid == 0 else f"{self.txid}.{self.seq}"


CHANGE_COLUMNS = (
    "seq, account_id, kind, subject_id, source_id, direction, event_type, status, attempt_id,"
    " destination_id"
)
# PostgreSQL adds the transaction id (xid8, read as a number).
_PG_CHANGE_COLUMNS = f"{CHANGE_COLUMNS}, txid::text::bigint"
# Rows whose transaction ended, as seen by the statement that reads them.
_BELOW_HORIZON = "txid < pg_snapshot_xmin(pg_current_snapshot())"

# What an event.received message shows: the columns of a GET /v1/events item.
_EVENT_COLUMNS = (
    "id, account_id, direction, source_id, event_type, external_event_id, payload_hash,"
    " content_type, headers, body, status, attempts_count, next_attempt_at, final_state,"
    " created_by, replay_of, bulk_retry_id, received_at, created_at, request_method,"
    " request_path, request_query"
)


_LOG_RECEIVED_HEAD = (
    "INSERT INTO changes (account_id, kind, subject_id, source_id, direction, event_type,"
    " status, created_at)"
)
_LOG_RECEIVED = (
    f"{_LOG_RECEIVED_HEAD} VALUES (:account_id, 'event.received', :id, :source_id, :direction,"
    " :event_type, :status, :created_at)"
)
_LOG_RECEIVED_MARKS = "(?, 'event.received', ?, ?, ?, ?, ?, ?)"
_received_values = operator.itemgetter(
    "account_id", "id", "source_id", "direction", "event_type", "status", "created_at"
)


def log_received(conn: Connection, events: list[Row]) -> None:
    """Append an ``event.received`` change for each just-inserted event, in insert order.

    The write that inserts events calls this in its transaction (migration 0017 dropped the
    per-row trigger that did it): one statement for a whole batch of ingests on SQLite
    (``insert_rows``).
    """
    if conn.dialect != SQLITE:
        conn.executemany(_LOG_RECEIVED, events)
        return
    insert_rows(conn, _LOG_RECEIVED_HEAD, _LOG_RECEIVED_MARKS, list(map(_received_values, events)))


# SQLite's smallest limit on the parameters of one statement (SQLITE_MAX_VARIABLE_NUMBER
# before 3.32; newer builds allow 32766).
_MAX_PARAMETERS = 999


def insert_rows(conn: Connection, head: str, marks: str, rows: Sequence[Sequence[Any]]) -> None:
    """Run ``head VALUES marks`` for each of ``rows`` (SQLite), in order, in as few statements
    as the parameter limit allows (``values_chunks``).

    On the ingest hot path (ingest.accept_events) each statement step costs more than the rows
    it writes: executemany steps once per row, each step re-opening the table's indexes (and,
    for the change log, its AUTOINCREMENT counter), and releasing and taking back the GIL, a
    hand-off with the busy event loop each time. A multi-row VALUES steps once for many rows.
    """
    for statement, values in values_chunks(f"{head} {VALUES}", marks, rows):
        conn.execute(statement, values)


# Where ``values_chunks`` writes a chunk's VALUES list in its statement.
VALUES = "{values}"


def values_chunks(
    template: str, marks: str, rows: Sequence[Sequence[Any]]
) -> Iterator[tuple[str, list[Any]]]:
    """(statement, parameters) for each chunk of ``rows``, in order: ``template`` with its
    ``VALUES`` mark replaced by "VALUES marks, marks, ..." (a row of ``marks`` per row).

    Chunk sizes are powers of two under SQLite's parameter limit (a batch of 37 rows: 32, 4
    and 1), so that a handful of statement texts serve every batch size and stay in the
    connection's statement cache.
    """
    largest = _largest_chunk(marks)
    start = 0
    while start < len(rows):
        size = largest
        while size > len(rows) - start:
            size //= 2
        values = list(itertools.chain.from_iterable(rows[start : start + size]))
        yield _multi_row(template, marks, size), values
        start += size


@functools.cache
def _largest_chunk(marks: str) -> int:
    """The most rows of ``marks`` one statement takes: a power of two under the limit."""
    per_row = marks.count("?")
    size = 1
    while size * 2 * per_row <= _MAX_PARAMETERS:
        size *= 2
    return size


@functools.cache
def _multi_row(template: str, marks: str, rows: int) -> str:
    return template.replace(VALUES, f"VALUES {', '.join([marks] * rows)}")


def read_position(conn: Connection, cursor: ChangeCursor) -> ChangeCursor:
    """``cursor`` as this backend orders the log: SQLite ignores a transaction id."""
    return ChangeCursor(0, cursor.seq) if conn.dialect == SQLITE else cursor


def latest_cursor(conn: Connection) -> ChangeCursor:
    """The newest cursor (at 0 on an empty log): live readers start after it."""
    if conn.dialect == SQLITE:
        row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'changes'").fetchone()
        return ChangeCursor(0, row[0] if row else 0)
    row = conn.execute(
        f"SELECT txid::text::bigint, seq FROM changes WHERE {_BELOW_HORIZON}"
        " ORDER BY txid DESC, seq DESC LIMIT 1"
    ).fetchone()
    return ChangeCursor(row[0], row[1]) if row else ChangeCursor(0, 0)


def changes_after(conn: Connection, after: ChangeCursor, limit: int) -> list[tuple]:
    """Up to ``limit`` changes of every account after ``after``, in order (the live feed)."""
    if conn.dialect == SQLITE:
        return conn.execute(
            f"SELECT {CHANGE_COLUMNS} FROM changes WHERE seq > ? ORDER BY seq LIMIT ?",
            (after.seq, limit),
        ).fetchall()
    return conn.execute(
        f"SELECT {_PG_CHANGE_COLUMNS} FROM changes WHERE (txid, seq) > (?::text::xid8, ?)"
        f" AND {_BELOW_HORIZON} ORDER BY txid, seq LIMIT ?",
        (str(after.txid), after.seq, limit),
    ).fetchall()


def changes_held_back(conn: Connection, after: ChangeCursor) -> bool:
    """Whether rows after ``after`` already committed but wait behind a transaction still
    running (PostgreSQL): the feed then reads again soon, since that transaction's end may
    notify nobody. Never on SQLite."""
    if conn.dialect == SQLITE:
        return False
    row = conn.execute(
        "SELECT EXISTS (SELECT 1 FROM changes WHERE (txid, seq) > (?::text::xid8, ?)"
        " AND txid >= pg_snapshot_xmin(pg_current_snapshot()))",
        (str(after.txid), after.seq),
    ).fetchone()
    return bool(row[0])


def account_changes_after(
    conn: Connection,
    account_id: str,
    after: ChangeCursor,
    upto: ChangeCursor | None,
    limit: int,
) -> list[tuple]:
    """Up to ``limit`` of one account's changes in (after, upto], in order (a replay)."""
    if conn.dialect == SQLITE:
        return conn.execute(
            f"SELECT {CHANGE_COLUMNS} FROM changes WHERE account_id = ? AND seq > ?"
            " AND seq <= ? ORDER BY seq LIMIT ?",
            (account_id, after.seq, upto.seq if upto is not None else 2**62, limit),
        ).fetchall()
    upto_clause = " AND (txid, seq) <= (?::text::xid8, ?)" if upto is not None else ""
    upto_values = (str(upto.txid), upto.seq) if upto is not None else ()
    return conn.execute(
        f"SELECT {_PG_CHANGE_COLUMNS} FROM changes WHERE account_id = ?"
        f" AND (txid, seq) > (?::text::xid8, ?){upto_clause} AND {_BELOW_HORIZON}"
        " ORDER BY txid, seq LIMIT ?",
        (account_id, str(after.txid), after.seq, *upto_values, limit),
    ).fetchall()


def load_subjects(
    conn: Connection, event_ids: list[str], attempt_ids: list[str], rejected_ids: list[str]
) -> tuple[dict[str, Row], dict[str, Row], dict[str, Row], dict[str, frozenset[str]]]:
    """The events, attempts and rejected requests some changes refer to, by id, and the
    destinations each event is delivered to (for the destination filter). One read."""
    events = {
        row["id"]: row
        for row in _rows_in(conn, f"SELECT {_EVENT_COLUMNS} FROM events", "id", event_ids)
    }
    attempts = {
        row["id"]: row for row in _rows_in(conn, "SELECT * FROM attempts", "id", attempt_ids)
    }
    rejected = {
        row["id"]: row
        for row in _rows_in(conn, "SELECT * FROM rejected_requests", "id", rejected_ids)
    }
    destinations: dict[str, set[str]] = {}
    for row in _rows_in(
        conn, "SELECT event_id, destination_id FROM deliveries", "event_id", event_ids
    ):
        destinations.setdefault(row["event_id"], set()).add(row["destination_id"])
    return events, attempts, rejected, {k: frozenset(v) for k, v in destinations.items()}


def _rows_in(conn: Connection, select: str, column: str, ids: list[str]) -> list[Row]:
    rows: list[Row] = []
    # SQLite caps the number of bound parameters; a page of changes stays well under it.
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        marks = ", ".join("?" * len(chunk))
        rows.extend(all_rows(conn.execute(f"{select} WHERE {column} IN ({marks})", chunk)))
    return rows


def delete_expired_changes(conn: Connection, account_id: str, cutoff: float, limit: int) -> int:
    """Delete up to ``limit`` of the account's oldest changes made before ``cutoff``.

    The log is in time order, so only its head can be old: reading the head by the account's
    index and stopping at the first young row keeps each call constant work. (PostgreSQL's
    index orders an account's rows by (txid, seq), and its seqs are not in that order.)
    """
    order = "seq" if conn.dialect == SQLITE else "txid, seq"
    head = conn.execute(
        f"SELECT seq, created_at FROM changes WHERE account_id = ? ORDER BY {order} LIMIT ?",
        (account_id, limit),
    ).fetchall()
    old = []
    for seq, created_at in head:
        if created_at >= cutoff:
            break
        old.append(seq)
    if not old:
        return 0
    if conn.dialect == SQLITE:
        conn.execute("DELETE FROM changes WHERE account_id = ? AND seq <= ?", (account_id, old[-1]))
    else:
        conn.execute("DELETE FROM changes WHERE seq = ANY(?)", (old,))
    return len(old)
