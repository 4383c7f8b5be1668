"""Storage functions run as the database writer runs them, for tests that drive a connection
themselves."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


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
