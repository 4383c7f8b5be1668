"""The change log (migration 0010): reading it in cursor order, and what its rows refer to."""

from __future__ import annotations

from gethook_lite.db.connection import Connection
from gethook_lite.db.rows import Row, all_rows

__all__ = [
    "CHANGE_COLUMNS",
    "account_changes_after",
    "changes_after",
    "delete_expired_changes",
    "latest_seq",
    "load_subjects",
    "log_received",
]

CHANGE_COLUMNS = (
    "seq, account_id, kind, subject_id, source_id, direction, event_type, status, attempt_id,"
    " destination_id"
)

# What an event.received message shows: the columns of a GET /v1/events item.
_EVENT_COLUMNS = (
    "id, account_id, direction, source_id, event_type, external_event_id, payload_hash,"
    " content_type, headers, body, status, attempts_count, next_attempt_at, final_state,"
    " created_by, replay_of, bulk_retry_id, received_at, created_at, request_method,"
    " request_path, request_query"
)


_LOG_RECEIVED = (
    "INSERT INTO changes (account_id, kind, subject_id, source_id, direction, event_type,"
    " status, created_at) VALUES (:account_id, 'event.received', :id, :source_id, :direction,"
    " :event_type, :status, :created_at)"
)


def log_received(conn: Connection, events: list[Row]) -> None:
    """Append an ``event.received`` change for each just-inserted event, in insert order.

    The write that inserts events calls this in its transaction (migration 0017 dropped the
    per-row trigger that did it): one statement for a whole batch of ingests.
    """
    conn.executemany(_LOG_RECEIVED, events)


def latest_seq(conn: Connection) -> int:
    """The newest cursor (0 on an empty log): live readers start after it."""
    row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'changes'").fetchone()
    return row[0] if row else 0


def changes_after(conn: Connection, seq: int, limit: int) -> list[tuple]:
    """Up to ``limit`` changes of every account after ``seq``, in order (the live feed)."""
    return conn.execute(
        f"SELECT {CHANGE_COLUMNS} FROM changes WHERE seq > ? ORDER BY seq LIMIT ?", (seq, limit)
    ).fetchall()


def account_changes_after(
    conn: Connection, account_id: str, seq: int, upto: int | None, limit: int
) -> list[tuple]:
    """Up to ``limit`` of one account's changes in (seq, upto], in order (a replay)."""
    return conn.execute(
        f"SELECT {CHANGE_COLUMNS} FROM changes WHERE account_id = ? AND seq > ? AND seq <= ?"
        " ORDER BY seq LIMIT ?",
        (account_id, seq, upto if upto is not None else 2**62, limit),
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
    index and stopping at the first young row keeps each call constant work.
    """
    head = conn.execute(
        "SELECT seq, created_at FROM changes WHERE account_id = ? ORDER BY seq LIMIT ?",
        (account_id, limit),
    ).fetchall()
    old = []
    for seq, created_at in head:
        if created_at >= cutoff:
            break
        old.append(seq)
    if old:
        conn.execute("DELETE FROM changes WHERE account_id = ? AND seq <= ?", (account_id, old[-1]))
    return len(old)
