"""Events (inbound and outbound) and the attempts made to deliver them."""

from __future__ import annotations

import sqlite3
from typing import Any

from gethook_lite.db.rows import Row, all_rows, insert, one_row

__all__ = [
    "EVENT_COLUMNS",
    "EventFilters",
    "find_duplicate",
    "get_event",
    "insert_event",
    "list_attempts",
    "list_events",
    "mark_replayed",
    "refresh_event_status",
]

# The listing never returns bodies; they can be large and the list is polled every 2 s.
_LIST_COLUMNS = (
    "id, account_id, direction, source_id, event_type, external_event_id, payload_hash,"
    " content_type, headers, body, status, attempts_count, next_attempt_at, final_state,"
    " created_by, replay_of, received_at, created_at"
)

# Every column an event is inserted with (the rest take their defaults).
EVENT_COLUMNS = (
    "id", "account_id", "direction", "source_id", "event_type", "external_event_id",
    "payload_hash", "content_type", "headers", "body", "status", "final_state", "created_by",
    "replay_of", "received_at", "created_at",
)  # fmt: skip

# status (one, or a tuple of several), source_id, event_type, since, until, destination_id
# (events with a delivery to it) and before (ids older than this one: a page cursor); all optional.
EventFilters = dict[str, Any]


def insert_event(conn: sqlite3.Connection, event: Row) -> Row:
    return insert(conn, "events", event)


def find_duplicate(
    conn: sqlite3.Connection,
    direction: str,
    account_id: str,
    source_id: str | None,
    external_event_id: str,
) -> str | None:
    """The id of the original event with this external id (conditions match the indexes)."""
    if direction == "inbound":
        row = conn.execute(
            "SELECT id FROM events WHERE source_id = ? AND external_event_id = ?"
            " AND direction = 'inbound' AND created_by <> 'replay'",
            (source_id, external_event_id),
        ).fetchone()
    else:
        row = conn.execute(
            "SELECT id FROM events WHERE account_id = ? AND external_event_id = ?"
            " AND direction = 'outbound' AND created_by <> 'replay'",
            (account_id, external_event_id),
        ).fetchone()
    return row[0] if row else None


def _where(account_id: str, direction: str, filters: EventFilters) -> tuple[str, list]:
    clauses, params = ["account_id = ?", "direction = ?"], [account_id, direction]
    status_clause, status_params = _status_clause(filters.get("status"))
    if status_clause:
        clauses.append(status_clause)
        params.extend(status_params)
    for column in ("source_id", "event_type"):
        if filters.get(column) is not None:
            clauses.append(f"{column} = ?")
            params.append(filters[column])
    if filters.get("since") is not None:
        clauses.append("received_at >= ?")
        params.append(filters["since"])
    if filters.get("until") is not None:
        clauses.append("received_at <= ?")
        params.append(filters["until"])
    if filters.get("destination_id") is not None:
        clauses.append(
            "EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = events.id"
            " AND d.destination_id = ?)"
        )
        params.append(filters["destination_id"])
    if filters.get("before") is not None:
        clauses.append("id < ?")
        params.append(filters["before"])
    return " AND ".join(clauses), params


def _status_clause(status: str | tuple[str, ...] | None) -> tuple[str, list]:
    if status is None:
        return "", []
    if isinstance(status, tuple):
        return f"status IN ({', '.join('?' for _ in status)})", list(status)
    return "status = ?", [status]


def list_events(
    conn: sqlite3.Connection,
    account_id: str,
    direction: str,
    filters: EventFilters,
    limit: int,
    offset: int,
    count: bool = True,
) -> tuple[list[Row], int | None]:
    """A newest-first page of events and the number of all that match (None unless ``count``:
    with narrowing filters counting walks every match, far slower than the page itself)."""
    where, params = _where(account_id, direction, filters)
    items = all_rows(
        conn.execute(
            f"SELECT {_LIST_COLUMNS} FROM events WHERE {where} ORDER BY id DESC LIMIT ? OFFSET ?",
            [*params, limit, offset],
        )
    )
    if not count:
        return items, None
    return items, _count(conn, account_id, direction, filters, where, params)


def _count(
    conn: sqlite3.Connection,
    account_id: str,
    direction: str,
    filters: EventFilters,
    where: str,
    params: list,
) -> int:
    """How many events match: from the per-day tallies when only status filters (they hold
    per-status counts), else counted through the best index."""
    narrowing = ("source_id", "event_type", "since", "until", "destination_id", "before")
    if all(filters.get(name) is None for name in narrowing):
        sql = "SELECT coalesce(sum(n), 0) FROM event_tallies WHERE account_id = ? AND direction = ?"
        tally_params = [account_id, direction]
        status_clause, status_params = _status_clause(filters.get("status"))
        if status_clause:
            sql += f" AND {status_clause}"
            tally_params.extend(status_params)
        return conn.execute(sql, tally_params).fetchone()[0]
    return conn.execute(f"SELECT count(*) FROM events WHERE {where}", params).fetchone()[0]


def get_event(
    conn: sqlite3.Connection, account_id: str, direction: str, event_id: str
) -> Row | None:
    return one_row(
        conn.execute(
            "SELECT * FROM events WHERE account_id = ? AND direction = ? AND id = ?",
            (account_id, direction, event_id),
        )
    )


def list_attempts(conn: sqlite3.Connection, event_id: str) -> list[Row]:
    return all_rows(
        conn.execute("SELECT * FROM attempts WHERE event_id = ? ORDER BY id", (event_id,))
    )


def mark_replayed(conn: sqlite3.Connection, event_id: str, now: float) -> None:
    conn.execute(
        "UPDATE events SET replayed_at = coalesce(replayed_at, ?), status = 'replayed'"
        " WHERE id = ?",
        (now, event_id),
    )


def refresh_event_status(conn: sqlite3.Connection, event_id: str) -> None:
    """Recompute an event's status, counters and final state from its deliveries."""
    deliveries = conn.execute(
        "SELECT status, attempts_count, next_attempt_at FROM deliveries WHERE event_id = ?",
        (event_id,),
    ).fetchall()
    status = aggregate_status([(row[0], row[1]) for row in deliveries])
    pending_times = [row[2] for row in deliveries if row[0] == "pending" and row[2] is not None]
    final_state = status if status in ("delivered", "dead_letter", "accepted") else None
    conn.execute(
        "UPDATE events SET"
        " status = CASE WHEN replayed_at IS NOT NULL THEN 'replayed' ELSE ? END,"
        " attempts_count = ?, next_attempt_at = ?, final_state = ? WHERE id = ?",
        (
            status,
            sum(row[1] for row in deliveries),
            min(pending_times) if pending_times else None,
            final_state if deliveries else None,
            event_id,
        ),
    )


def aggregate_status(deliveries: list[tuple[str, int]]) -> str:
    """An event's status from its deliveries' (status, attempts made) pairs (API.md lifecycle).

    Open deliveries decide first (delivering > retry_scheduled > queued); once all are
    finished, one dead letter makes the event dead-lettered, else any success makes it
    delivered. An event whose deliveries were all cancelled has nothing left to deliver.
    """
    if not deliveries:
        return "accepted"
    statuses = {status for status, _ in deliveries}
    if "in_flight" in statuses:
        return "delivering"
    if "pending" in statuses:
        retrying = any(s == "pending" and attempts > 0 for s, attempts in deliveries)
        return "retry_scheduled" if retrying else "queued"
    if "dead_letter" in statuses:
        return "dead_letter"
    if "succeeded" in statuses:
        return "delivered"
    return "accepted"
