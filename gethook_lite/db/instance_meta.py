"""Facts about the instance (instance_meta), such as the encryption key check."""

from __future__ import annotations

from gethook_lite.db.connection import Connection

__all__ = ["KEY_CHECK", "any_encrypted_secret", "get_meta", "key_sample", "set_meta_once"]

KEY_CHECK = "key_check"  # the row holding a known value encrypted with the instance's key


def get_meta(conn: Connection, name: str) -> str | None:
    row = conn.execute("SELECT value FROM instance_meta WHERE name = ?", (name,)).fetchone()
    return row[0] if row is not None else None


def set_meta_once(conn: Connection, name: str, value: str) -> None:
    """Store ``value`` unless the name already has one (a concurrent first start wins)."""
    conn.execute(
        "INSERT INTO instance_meta (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING",
        (name, value),
    )


def any_encrypted_secret(conn: Connection) -> str | None:
    """One stored encrypted secret, if any: a database from before the key check has no check
    row, but its secrets prove which key it was written with."""
    row = conn.execute(
        "SELECT signing_secret_enc FROM destinations"
        " UNION ALL SELECT verification_config_enc FROM sources"
        " WHERE verification_config_enc IS NOT NULL LIMIT 1"
    ).fetchone()
    return row[0] if row is not None else None


def key_sample(conn: Connection) -> str | None:
    """The stored value that tells whether a key is this database's: the key check, else (a
    database from before it) any encrypted secret; None while nothing is encrypted."""
    return get_meta(conn, KEY_CHECK) or any_encrypted_secret(conn)
