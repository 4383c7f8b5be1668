"""Small helpers shared by the storage modules."""

from __future__ import annotations

from typing import Any

from gethook_lite.db.connection import Connection, Cursor

__all__ = ["Row", "all_rows", "insert", "one_row"]

Row = dict[str, Any]


def one_row(cursor: Cursor) -> Row | None:
    row = cursor.fetchone()
    return dict(row) if row is not None else None


def all_rows(cursor: Cursor) -> list[Row]:
    return [dict(row) for row in cursor]


def insert(conn: Connection, table: str, row: Row) -> Row:
    """INSERT one row given as a dict (table and column names come from our code, not input)."""
    columns = ", ".join(row)
    placeholders = ", ".join(f":{name}" for name in row)
    conn.execute(f"INSERT INTO {table} ({columns}) VALUES ({placeholders})", row)
    return row
