"""Destinations' custom headers written before they were encrypted at rest."""

from __future__ import annotations

from gethook_lite.db.connection import Connection

__all__ = ["plaintext_custom_headers", "replace_custom_headers"]


def plaintext_custom_headers(conn: Connection) -> list[tuple[str, str]]:
    """(destination id, stored JSON) of every row still holding its headers unencrypted."""
    return [
        (row[0], row[1])
        for row in conn.execute(
            "SELECT id, custom_headers FROM destinations WHERE custom_headers LIKE '{%'"
        )
    ]


def replace_custom_headers(conn: Connection, rows: list[tuple[str, str, str | None]]) -> int:
    """Store each (id, old value, new value) unless the row changed meanwhile; how many did."""
    changed = 0
    for destination_id, old, new in rows:
        cursor = conn.execute(
            "UPDATE destinations SET custom_headers = ? WHERE id = ? AND custom_headers = ?",
            (new, destination_id, old),
        )
        changed += cursor.rowcount
    return changed
