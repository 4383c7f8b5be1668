"""Sink sources' response plans and the long-poll wait's reads (domain/sink.py)."""

from __future__ import annotations

from gethook_lite.db.connection import Connection
from gethook_lite.db.events import EVENT_READ_COLUMNS
from gethook_lite.db.rows import Row, one_row

__all__ = [
    "delete_response_plan",
    "events_by_id",
    "get_response_plan",
    "put_response_plan",
    "take_plan_answer",
    "types_after",
]


def get_response_plan(conn: Connection, source_id: str) -> Row | None:
    return one_row(
        conn.execute("SELECT * FROM sink_response_plans WHERE source_id = ?", (source_id,))
    )


def put_response_plan(conn: Connection, plan: Row) -> None:
    """Set a source's plan, starting again from its first status (position 0)."""
    conn.execute(
        "INSERT INTO sink_response_plans"
        " (source_id, account_id, statuses, delay_ms, body, position, updated_at)"
        " VALUES (:source_id, :account_id, :statuses, :delay_ms, :body, 0, :updated_at)"
        " ON CONFLICT (source_id) DO UPDATE SET statuses = excluded.statuses,"
        " delay_ms = excluded.delay_ms, body = excluded.body, position = 0,"
        " updated_at = excluded.updated_at",
        plan,
    )


def take_plan_answer(conn: Connection, source_id: str) -> Row | None:
    """Move the source's plan on by one and return it with the number of the answer taken
    (``position``, from 1); None without a plan. The row lock numbers captures consecutively
    whichever process takes them, and the database holds the only copy of the position."""
    return one_row(
        conn.execute(
            "UPDATE sink_response_plans SET position = position + 1 WHERE source_id = ?"
            " RETURNING statuses, delay_ms, body, position",
            (source_id,),
        )
    )


def delete_response_plan(conn: Connection, source_id: str) -> None:
    conn.execute("DELETE FROM sink_response_plans WHERE source_id = ?", (source_id,))


def types_after(
    conn: Connection,
    account_id: str,
    source_id: str | None,
    after: str | None,
    limit: int,
) -> list[tuple[str, str | None]]:
    """(id, event_type) of up to ``limit`` of an account's inbound events after the ``after``
    id, oldest first: what a wait matches its glob against, without reading bodies."""
    clauses = ["account_id = ?", "direction = 'inbound'"]
    params: list[str | int] = [account_id]
    if source_id is not None:
        clauses.append("source_id = ?")
        params.append(source_id)
    if after is not None:
        clauses.append("id > ?")
        params.append(after)
    cursor = conn.execute(
        f"SELECT id, event_type FROM events WHERE {' AND '.join(clauses)} ORDER BY id LIMIT ?",
        [*params, limit],
    )
    return [(row[0], row[1]) for row in cursor]


def events_by_id(conn: Connection, account_id: str, event_ids: list[str]) -> list[Row]:
    """The events with these ids (as GET /v1/events reads them), oldest first."""
    if not event_ids:
        return []
    marks = ", ".join("?" for _ in event_ids)
    cursor = conn.execute(
        f"SELECT {EVENT_READ_COLUMNS} FROM events WHERE account_id = ? AND id IN ({marks})"
        " ORDER BY id",
        [account_id, *event_ids],
    )
    return [dict(row) for row in cursor]
