"""How many live routes an account and a source have (their limits are checked on create)."""

from __future__ import annotations

from gethook_lite.db.connection import Connection

__all__ = ["live_routes_of_account", "live_routes_of_source"]


def live_routes_of_account(conn: Connection, account_id: str) -> int:
    row = conn.execute(
        "SELECT COUNT(*) FROM routes WHERE account_id = ? AND deleted_at IS NULL", (account_id,)
    ).fetchone()
    return row[0]


def live_routes_of_source(conn: Connection, account_id: str, source_id: str | None) -> int:
    """Routes from the source, or the account's outbound routes (no source) when None."""
    source_clause = "source_id = ?" if source_id is not None else "source_id IS NULL"
    params = (account_id, source_id) if source_id is not None else (account_id,)
    row = conn.execute(
        "SELECT COUNT(*) FROM routes WHERE account_id = ? AND deleted_at IS NULL AND "
        + source_clause,
        params,
    ).fetchone()
    return row[0]
