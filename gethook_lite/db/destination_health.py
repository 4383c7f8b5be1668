"""The newest delivery attempts of an account, for destination health at a glance."""

from __future__ import annotations

from gethook_lite.db.connection import Connection
from gethook_lite.db.rows import Row, all_rows

__all__ = ["recent_attempts"]


def recent_attempts(
    conn: Connection, account_id: str, id_floor: str, since: float, limit: int
) -> list[Row]:
    """Attempts of the account's destinations started since ``since``, newest first.

    Attempt ids are time-ordered, so ``id_floor`` (the id of the window's start) turns the
    window into a range of the primary key: the walk stops at the window or at ``limit``.
    """
    return all_rows(
        conn.execute(
            "SELECT a.destination_id, a.outcome, a.response_status, a.error_message,"
            " a.latency_ms, a.started_at FROM attempts a"
            " JOIN destinations d ON d.id = a.destination_id"
            " WHERE a.id >= ? AND a.started_at >= ? AND d.account_id = ?"
            " ORDER BY a.id DESC LIMIT ?",
            (id_floor, since, account_id, limit),
        )
    )
