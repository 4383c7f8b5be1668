"""Export jobs, and the pages of events an export reads.

A running job is leased (``leased_by``: the process, ``deliveries.lease_owner``;
``lease_expires_at``, renewed while the job writes), so that several processes sharing one
PostgreSQL database each run their own jobs: one that starts takes back only jobs whose lease
ran out, and a job's end is recorded only by the process that holds it."""

from __future__ import annotations

import heapq
from dataclasses import dataclass

from gethook_lite.db.connection import POSTGRESQL, Connection, Cursor
from gethook_lite.db.events import EventFilters, event_where
from gethook_lite.db.rows import Row, all_rows, insert, one_row

__all__ = [
    "ExportUsage",
    "account_usage",
    "claim_export",
    "complete_export",
    "due_for_expiry",
    "export_page",
    "fail_export",
    "forget_file",
    "get_export",
    "insert_export",
    "list_exports",
    "pending_heads",
    "renew_export_lease",
    "requeue_expired",
    "requeue_interrupted",
    "source_belongs_to",
]


def insert_export(conn: Connection, job: Row) -> Row:
    return insert(conn, "exports", job)


def get_export(conn: Connection, account_id: str, export_id: str) -> Row | None:
    return one_row(
        conn.execute(
            "SELECT * FROM exports WHERE account_id = ? AND id = ?", (account_id, export_id)
        )
    )


def list_exports(conn: Connection, account_id: str, limit: int) -> list[Row]:
    """The account's jobs, newest first (ids are time-ordered)."""
    return all_rows(
        conn.execute(
            "SELECT * FROM exports WHERE account_id = ? ORDER BY id DESC LIMIT ?",
            (account_id, limit),
        )
    )


def source_belongs_to(conn: Connection, account_id: str, source_id: str) -> bool:
    """Whether the source is the account's; a deleted one counts (its events stay readable)."""
    row = conn.execute(
        "SELECT 1 FROM sources WHERE id = ? AND account_id = ?", (source_id, account_id)
    ).fetchone()
    return row is not None


_REQUEUE = (
    "UPDATE exports SET status = 'pending', leased_by = NULL, lease_expires_at = NULL"
    " WHERE status = 'running'"
)


def requeue_interrupted(conn: Connection, now: float, owner: str | None = None) -> int:
    """At start: put jobs a previous process left running back in the queue; return how many.

    On SQLite every running job (one process per data directory: the one that ran them is
    gone); on PostgreSQL those whose lease ran out, the others being live in another process
    (``requeue_expired``), and those leased under ``owner``: this process's name, which only
    a killed predecessor on the same data directory can have held (data_dir.member_id)."""
    if conn.dialect == POSTGRESQL:
        mine = conn.execute(_REQUEUE + " AND leased_by = ?", (owner,)).rowcount if owner else 0
        return mine + requeue_expired(conn, now)
    return conn.execute(_REQUEUE).rowcount


def requeue_expired(conn: Connection, now: float) -> int:
    """Jobs whose lease ran out (their process died or hung), or that have none (left by a
    version before leases), go back in the queue; return how many."""
    return conn.execute(
        _REQUEUE + " AND (lease_expires_at IS NULL OR lease_expires_at <= ?)", (now,)
    ).rowcount


@dataclass(frozen=True, slots=True)
class ExportUsage:
    """What one account's exports hold now: jobs queued or running, finished files kept."""

    active: int
    stored: int
    stored_bytes: int


def account_usage(conn: Connection, account_id: str) -> ExportUsage:
    row = conn.execute(
        "SELECT count(CASE WHEN status IN ('pending', 'running') THEN 1 END),"
        " count(file_name),"
        " COALESCE(SUM(CASE WHEN file_name IS NOT NULL THEN size_bytes END), 0)"
        " FROM exports WHERE account_id = ?",
        (account_id,),
    ).fetchone()
    return ExportUsage(active=row[0], stored=row[1], stored_bytes=row[2])


def pending_heads(conn: Connection) -> list[Row]:
    """The oldest pending job of each account that has one (the worker picks among them)."""
    return all_rows(
        conn.execute(
            "SELECT * FROM exports WHERE id IN"
            " (SELECT MIN(id) FROM exports WHERE status = 'pending' GROUP BY account_id)"
            " ORDER BY id"
        )
    )


def claim_export(
    conn: Connection, export_id: str, owner: str, lease_expires_at: float
) -> Row | None:
    """Mark a pending job running, leased to ``owner``, and return it (None if it is no
    longer pending: another worker, maybe another process, took it)."""
    claimed = conn.execute(
        "UPDATE exports SET status = 'running', leased_by = ?, lease_expires_at = ?"
        " WHERE id = ? AND status = 'pending'",
        (owner, lease_expires_at, export_id),
    ).rowcount
    if not claimed:
        return None
    return one_row(conn.execute("SELECT * FROM exports WHERE id = ?", (export_id,)))


# Only the holder of a running job's lease may move it on.
_HELD = " WHERE id = ? AND status = 'running' AND leased_by = ?"


def renew_export_lease(
    conn: Connection, export_id: str, owner: str, lease_expires_at: float
) -> bool:
    """Extend a running job's lease; False when ``owner`` no longer holds it (it ran out and
    the job went back in the queue, or was taken by another process)."""
    return (
        conn.execute(
            "UPDATE exports SET lease_expires_at = ?" + _HELD,
            (lease_expires_at, export_id, owner),
        ).rowcount
        > 0
    )


def complete_export(
    conn: Connection,
    export_id: str,
    *,
    file_name: str,
    row_count: int,
    size_bytes: int,
    completed_at: float,
    expires_at: float,
    owner: str,
) -> bool:
    """Record a job's file; False (nothing written) when ``owner`` no longer holds it."""
    return (
        conn.execute(
            "UPDATE exports SET status = 'completed', file_name = ?, row_count = ?,"
            " size_bytes = ?, error = NULL, completed_at = ?, expires_at = ?,"
            " leased_by = NULL, lease_expires_at = NULL" + _HELD,
            (file_name, row_count, size_bytes, completed_at, expires_at, export_id, owner),
        ).rowcount
        > 0
    )


def fail_export(conn: Connection, export_id: str, error: str, now: float, owner: str) -> bool:
    """Record a job's failure; False (nothing written) when ``owner`` no longer holds it."""
    return (
        conn.execute(
            "UPDATE exports SET status = 'failed', error = ?, completed_at = ?, file_name = NULL,"
            " leased_by = NULL, lease_expires_at = NULL" + _HELD,
            (error, now, export_id, owner),
        ).rowcount
        > 0
    )


def due_for_expiry(conn: Connection, now: float) -> list[Row]:
    """Completed jobs whose file outlived its time to live (id and file name)."""
    return all_rows(
        conn.execute(
            "SELECT id, file_name FROM exports WHERE file_name IS NOT NULL AND expires_at <= ?",
            (now,),
        )
    )


def forget_file(conn: Connection, export_id: str) -> None:
    """Record that the job's file was deleted (the job itself stays, for the history)."""
    conn.execute("UPDATE exports SET file_name = NULL WHERE id = ?", (export_id,))


def export_page(
    conn: Connection,
    account_id: str,
    directions: tuple[str, ...],
    filters: EventFilters,
    after_id: str,
    limit: int,
    max_body_bytes: int,
    include_attempts: bool,
) -> tuple[list[Row], dict[str, list[Row]]]:
    """The next events after ``after_id`` in id order, and their attempts when asked.

    Keyset pagination: each page starts where the last one ended, through the same indexes the
    event listing uses, so a page costs the same on the first and the millionth event. With
    both directions, one cursor per direction (each on its own index) is merged lazily, which
    avoids sorting the account's events. A page stops at ``limit`` events or once its bodies
    reach ``max_body_bytes`` (at least one event), so memory stays bounded with large bodies.
    """
    cursors = [_events_after(conn, account_id, d, filters, after_id, limit) for d in directions]
    merged = heapq.merge(*cursors, key=lambda row: row["id"]) if len(cursors) > 1 else cursors[0]
    events: list[Row] = []
    body_bytes = 0
    for row in merged:
        events.append(dict(row))
        body_bytes += len(row["body"])
        if len(events) >= limit or body_bytes >= max_body_bytes:
            break
    for cursor in cursors:
        cursor.close()
    attempts = _attempts_of(conn, [e["id"] for e in events]) if include_attempts else {}
    return events, attempts


def _events_after(
    conn: Connection,
    account_id: str,
    direction: str,
    filters: EventFilters,
    after_id: str,
    limit: int,
) -> Cursor:
    # The same filter semantics as GET /v1/events (status, source_id, since, until).
    where, params = event_where(account_id, direction, filters)
    return conn.execute(
        f"SELECT * FROM events WHERE {where} AND id > ? ORDER BY id LIMIT ?",
        [*params, after_id, limit],
    )


def _attempts_of(conn: Connection, event_ids: list[str]) -> dict[str, list[Row]]:
    if not event_ids:
        return {}
    placeholders = ", ".join("?" for _ in event_ids)
    by_event: dict[str, list[Row]] = {}
    for row in conn.execute(
        f"SELECT * FROM attempts WHERE event_id IN ({placeholders}) ORDER BY event_id, id",
        event_ids,
    ):
        by_event.setdefault(row["event_id"], []).append(dict(row))
    return by_event
