"""Storage functions run as the database writer runs them, for tests that drive a connection
themselves."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gethook_lite.db.connection import POSTGRESQL
from gethook_lite.db.deliveries import Claim, record_attempts


def in_transaction(conn: Any, fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(conn, *args)`` in one transaction (rolled back if it raises), as the writer runs
    a write; returns what ``fn`` returned."""
    conn.execute("BEGIN")
    try:
        result = fn(conn, *args)
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return result


def record_attempt(
    conn: Any, claim: Claim, attempt: dict, next_status: str, next_attempt_at: float | None
) -> bool:
    """``record_attempts`` for one outcome; whether its delivery was still under the claim's
    lease (True: it moved on; False: only its attempt was recorded and counted)."""
    lock = " FOR NO KEY UPDATE" if conn.dialect == POSTGRESQL else ""
    under_lease = conn.execute(
        "SELECT 1 FROM deliveries WHERE id = ? AND status = 'in_flight' AND leased_by = ?"
        f" AND lease_expires_at = ?{lock}",
        (claim.delivery_id, claim.leased_by, claim.lease_expires_at),
    ).fetchone()
    record_attempts(conn, [(claim, attempt, next_status, next_attempt_at)])
    return under_lease is not None
