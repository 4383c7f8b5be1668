"""Customer portal sessions (migrations/0012_portal_sessions.sql)."""

from __future__ import annotations

from gethook_lite.db.connection import Connection
from gethook_lite.db.rows import Row, all_rows, insert, one_row

__all__ = [
    "event_deliveries",
    "event_destination_ids",
    "find_by_token_hash",
    "insert_portal_session",
    "revoke_portal_session",
]


def insert_portal_session(conn: Connection, session: Row) -> Row:
    return insert(conn, "portal_sessions", session)


def find_by_token_hash(conn: Connection, token_hash: str) -> Row | None:
    """The session whatever its state (the caller tells expired and revoked apart)."""
    return one_row(
        conn.execute("SELECT * FROM portal_sessions WHERE token_hash = ?", (token_hash,))
    )


def revoke_portal_session(conn: Connection, account_id: str, session_id: str, now: float) -> bool:
    """Revoke the account's session; False when there is no such session of the account."""
    found = conn.execute(
        "SELECT revoked_at FROM portal_sessions WHERE id = ? AND account_id = ?",
        (session_id, account_id),
    ).fetchone()
    if found is None:
        return False
    if found[0] is None:
        conn.execute("UPDATE portal_sessions SET revoked_at = ? WHERE id = ?", (now, session_id))
    return True


def event_destination_ids(conn: Connection, event_id: str) -> set[str]:
    """Where an event is (or was) delivered: what decides whether a portal may show it."""
    rows = conn.execute(
        "SELECT DISTINCT destination_id FROM deliveries WHERE event_id = ?", (event_id,)
    ).fetchall()
    return {row[0] for row in rows}


def event_deliveries(
    conn: Connection, event_ids: list[str], destination_ids: list[str]
) -> list[Row]:
    """The deliveries of these events to these destinations (by the deliveries_by_event index)."""
    if not event_ids or not destination_ids:
        return []
    events = ", ".join("?" * len(event_ids))
    destinations = ", ".join("?" * len(destination_ids))
    return all_rows(
        conn.execute(
            "SELECT event_id, destination_id, status, attempts_count, next_attempt_at"
            f" FROM deliveries WHERE event_id IN ({events})"
            f" AND destination_id IN ({destinations})",
            (*event_ids, *destination_ids),
        )
    )
