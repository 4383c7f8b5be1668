"""Dashboard sessions (migrations/0009_web_sessions.sql) and reads only the dashboard makes."""

from __future__ import annotations

from gethook_lite.db.connection import Connection
from gethook_lite.db.rows import Row, insert, one_row

__all__ = [
    "delete_session",
    "end_expired_sessions",
    "find_session",
    "insert_session",
    "open_deliveries_by_destination",
]


def insert_session(conn: Connection, session: Row, now: float) -> Row:
    """Store a new session; expired ones are ended on the way (sign-ins are rare)."""
    end_expired_sessions(conn, now)
    return insert(conn, "web_sessions", session)


def end_expired_sessions(conn: Connection, now: float) -> int:
    """Forget expired sessions and revoke the keys made for them; return how many ended.

    A password sign-in makes an admin key for its session (``owns_key``); sign-out revokes it,
    and so must expiry, or every session never signed out of leaves a live admin key behind.
    """
    conn.execute(
        "UPDATE api_keys SET revoked_at = ? WHERE revoked_at IS NULL AND id IN"
        " (SELECT key_id FROM web_sessions WHERE expires_at <= ? AND owns_key = 1)",
        (now, now),
    )
    return conn.execute("DELETE FROM web_sessions WHERE expires_at <= ?", (now,)).rowcount


def find_session(conn: Connection, token_hash: str, now: float) -> Row | None:
    """A live session and its key's current role; None when expired or its key was revoked."""
    return one_row(
        conn.execute(
            "SELECT s.account_id, s.key_id, s.owns_key, s.csrf_token, s.expires_at, k.role"
            " FROM web_sessions s JOIN api_keys k ON k.id = s.key_id"
            " WHERE s.token_hash = ? AND s.expires_at > ? AND k.revoked_at IS NULL",
            (token_hash, now),
        )
    )


def delete_session(conn: Connection, token_hash: str) -> None:
    conn.execute("DELETE FROM web_sessions WHERE token_hash = ?", (token_hash,))


def open_deliveries_by_destination(conn: Connection, account_id: str) -> dict[str, int]:
    """Pending or in-flight deliveries per destination of the account (an index covers it)."""
    rows = conn.execute(
        "SELECT d.destination_id, count(*) FROM deliveries d"
        " JOIN destinations t ON t.id = d.destination_id"
        " WHERE t.account_id = ? AND t.deleted_at IS NULL"
        " AND d.status IN ('pending', 'in_flight') GROUP BY d.destination_id",
        (account_id,),
    ).fetchall()
    return {row[0]: row[1] for row in rows}
