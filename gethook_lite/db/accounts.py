"""Accounts and API keys."""

from __future__ import annotations

from gethook_lite.db.connection import Connection
from gethook_lite.db.rows import Row, all_rows, insert, one_row

__all__ = [
    "email_taken",
    "find_account_by_email",
    "find_api_key",
    "find_key_by_hash",
    "get_account",
    "insert_account",
    "insert_api_key",
    "list_accounts",
    "list_api_keys",
    "revoke_api_key",
]

_KEY_COLUMNS = "id, account_id, user_id, name, role, key_prefix, created_at, revoked_at"


def insert_account(conn: Connection, account: Row) -> Row:
    return insert(conn, "accounts", account)


def get_account(conn: Connection, account_id: str) -> Row | None:
    return one_row(conn.execute("SELECT * FROM accounts WHERE id = ?", (account_id,)))


def find_account_by_email(conn: Connection, email: str) -> Row | None:
    return one_row(conn.execute("SELECT * FROM accounts WHERE email = ?", (email,)))


def email_taken(conn: Connection, email: str) -> bool:
    return conn.execute("SELECT 1 FROM accounts WHERE email = ?", (email,)).fetchone() is not None


def insert_api_key(conn: Connection, key: Row) -> Row:
    return insert(conn, "api_keys", key)


def find_key_by_hash(conn: Connection, key_hash: str) -> Row | None:
    """The key (with its hash, for a constant-time re-check) whose hash is ``key_hash``."""
    return one_row(
        conn.execute(
            f"SELECT {_KEY_COLUMNS}, key_hash FROM api_keys WHERE key_hash = ?", (key_hash,)
        )
    )


def list_api_keys(conn: Connection, account_id: str) -> list[Row]:
    return all_rows(
        conn.execute(
            f"SELECT {_KEY_COLUMNS} FROM api_keys WHERE account_id = ? ORDER BY id", (account_id,)
        )
    )


def revoke_api_key(conn: Connection, account_id: str, key_id: str, now: float) -> bool:
    """Revoke a key of the account; False when there is no such key (or another account's)."""
    cursor = conn.execute(
        "UPDATE api_keys SET revoked_at = coalesce(revoked_at, ?) WHERE account_id = ? AND id = ?",
        (now, account_id, key_id),
    )
    return cursor.rowcount > 0


def list_accounts(conn: Connection) -> list[Row]:
    """Every account with its count of active keys, oldest first (for operators)."""
    return all_rows(
        conn.execute(
            "SELECT a.id, a.name, a.email, a.retention_days, a.created_at,"
            " (SELECT count(*) FROM api_keys k WHERE k.account_id = a.id"
            "  AND k.revoked_at IS NULL) AS active_keys"
            " FROM accounts a ORDER BY a.created_at, a.id"
        )
    )


def find_api_key(conn: Connection, key_id: str) -> Row | None:
    """A key by its id, whatever its account (for operators)."""
    return one_row(conn.execute(f"SELECT {_KEY_COLUMNS} FROM api_keys WHERE id = ?", (key_id,)))
