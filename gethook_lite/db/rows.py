"""Small helpers shared by the storage modules."""

from __future__ import annotations

import sqlite3
from typing import Any

__all__ = ["Row", "all_rows", "insert", "one_row"]

Row = dict[str, Any]


def one_row(cursor: sqlite3.Cursor) -> Row | None:
    row = cursor.fetchone()
    return dict(row) if row is not None else None


def all_rows(cursor: sqlite3.Cursor) -> list[Row]:
    return [dict(row) for row in cursor]


def insert(conn: sqlite3.Connection, table: str, row: Row) -> Row:
    """INSERT one row given as a dict (table and column names come from our code, not input)."""
    columns = ", ".join(row)
    placeholders = ", ".join(f":{name}" for name in row)
    conn.execute(f"INSERT INTO {table} ({columns}) VALUES ({placeholders})", row)
    return row
