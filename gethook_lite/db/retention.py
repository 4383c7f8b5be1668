"""Retention: deleting what has outlived its account's retention period, and giving pages back."""

from __future__ import annotations

from gethook_lite.db.connection import POSTGRESQL, Connection

__all__ = [
    "account_retention",
    "delete_expired_events",
    "delete_expired_exports",
    "export_ids",
    "release_free_pages",
    "set_retention_days",
]

# Deliveries in these states still have work to do: their events are never purged.
_OPEN_DELIVERY = "('pending', 'in_flight', 'held')"
# Export jobs the exporter may still be writing a file for.
_UNFINISHED_EXPORT = "('pending', 'running')"
# PRAGMA auto_vacuum's value for INCREMENTAL.
_AUTO_VACUUM_INCREMENTAL = 2


def account_retention(conn: Connection) -> list[tuple[str, int]]:
    """(account id, retention days) of every account."""
    return [
        (row[0], row[1])
        for row in conn.execute("SELECT id, retention_days FROM accounts ORDER BY id")
    ]


def set_retention_days(conn: Connection, account_id: str, days: int) -> bool:
    """Change an account's retention period; False when there is no such account."""
    cursor = conn.execute("UPDATE accounts SET retention_days = ? WHERE id = ?", (days, account_id))
    return cursor.rowcount > 0


def delete_expired_events(conn: Connection, account_id: str, cutoff: float, limit: int) -> int:
    """Delete up to ``limit`` of the account's events received before ``cutoff``; the count.

    Events with a delivery still pending or in flight are kept whatever their age: purging
    them would silently drop work the delivery guarantee promises. Their deliveries and
    attempts go with them (ON DELETE CASCADE).
    """
    cursor = conn.execute(
        "DELETE FROM events WHERE id IN ("
        " SELECT e.id FROM events e WHERE e.account_id = ? AND e.received_at < ?"
        " AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = e.id"
        f" AND d.status IN {_OPEN_DELIVERY})"
        " ORDER BY e.received_at LIMIT ?)",
        (account_id, cutoff, limit),
    )
    return cursor.rowcount


def delete_expired_exports(
    conn: Connection, account_id: str, cutoff: float, now: float, limit: int
) -> list[str | None]:
    """Delete up to ``limit`` finished export jobs created before ``cutoff`` or past their
    ``expires_at``; return their file names, for the caller to remove from disk."""
    rows = conn.execute(
        "DELETE FROM exports WHERE id IN ("
        " SELECT id FROM exports WHERE account_id = ?"
        f" AND status NOT IN {_UNFINISHED_EXPORT}"
        " AND (created_at < ? OR (expires_at IS NOT NULL AND expires_at <= ?))"
        " ORDER BY id LIMIT ?) RETURNING file_name",
        (account_id, cutoff, now, limit),
    ).fetchall()
    return [row[0] for row in rows]


def export_ids(conn: Connection) -> set[str]:
    """The id of every export job that still exists, whatever its account."""
    return {row[0] for row in conn.execute("SELECT id FROM exports")}


def release_free_pages(conn: Connection, max_pages: int) -> int:
    """Give up to ``max_pages`` free pages back to the file system; return how many went.

    ``PRAGMA incremental_vacuum`` works inside the writer's transaction (the file is truncated
    at commit). Python's sqlite3 steps a statement that returns no rows only once, and each
    step moves one page, so the pragma is run with a count of 1, once per page: the loop is
    exact whatever the driver does.

    PostgreSQL: always 0; autovacuum reuses the space, and nothing else is needed here.
    """
    if conn.dialect == POSTGRESQL:
        return 0
    if conn.execute("PRAGMA auto_vacuum").fetchone()[0] != _AUTO_VACUUM_INCREMENTAL:
        return 0  # a file created before auto_vacuum was set: nothing to give back this way
    before = _free_page_count(conn)
    for _ in range(min(before, max_pages)):
        conn.execute("PRAGMA incremental_vacuum(1)")
    return before - _free_page_count(conn)


def _free_page_count(conn: Connection) -> int:
    return conn.execute("PRAGMA freelist_count").fetchone()[0]
