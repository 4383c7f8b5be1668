"""Requests to a valid ingest URL that failed verification, kept per source and bounded."""

from __future__ import annotations

from gethook_lite.db.connection import Connection
from gethook_lite.db.rows import Row, all_rows, insert

__all__ = ["delete_expired_rejected", "insert_rejected", "list_rejected"]


def insert_rejected(conn: Connection, row: Row, keep_per_source: int) -> None:
    """Store one rejected request and drop the source's older ones beyond ``keep_per_source``.

    The bound is kept at every insert (one index range), so a sender hammering a URL with
    bad signatures holds a fixed amount of space per source, never more.
    """
    insert(conn, "rejected_requests", row)
    conn.execute(
        "DELETE FROM rejected_requests WHERE source_id = ? AND id <= ("
        " SELECT id FROM rejected_requests WHERE source_id = ?"
        " ORDER BY id DESC LIMIT 1 OFFSET ?)",
        (row["source_id"], row["source_id"], keep_per_source),
    )


def list_rejected(conn: Connection, account_id: str, source_id: str, limit: int) -> list[Row]:
    """The source's most recent rejected requests, newest first."""
    return all_rows(
        conn.execute(
            "SELECT * FROM rejected_requests WHERE account_id = ? AND source_id = ?"
            " ORDER BY id DESC LIMIT ?",
            (account_id, source_id, limit),
        )
    )


def delete_expired_rejected(conn: Connection, account_id: str, cutoff: float, limit: int) -> int:
    """Delete up to ``limit`` of the account's rejected requests received before ``cutoff``."""
    return conn.execute(
        "DELETE FROM rejected_requests WHERE id IN (SELECT id FROM rejected_requests"
        " WHERE account_id = ? AND received_at < ? ORDER BY received_at LIMIT ?)",
        (account_id, cutoff, limit),
    ).rowcount
