"""Snapshots of the database file for backups: the online copy and the checks made on it.

SQLite only: every function here works on a SQLite file or a connection to one (the online
backup API, ``PRAGMA integrity_check``, ``sqlite_master``, ``PRAGMA table_info``). A
PostgreSQL database is backed up by ``pg_dump`` or the operator's own regime
(docs/design/postgresql.md §6.7, ops/backup.py), never through this module.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from gethook_lite.constants import SQLITE_BUSY_TIMEOUT_MS
from gethook_lite.db.connection import Connection

__all__ = [
    "ENCRYPTED_COLUMNS",
    "copy_database",
    "encrypted_sample",
    "integrity_problems",
    "row_counts",
    "schema_version",
]

# Columns holding Fernet tokens besides the ``*_enc`` ones (found by name in every table, so
# a table added later is covered too); custom headers stored before encryption are JSON.
ENCRYPTED_COLUMNS = (("destinations", "custom_headers"),)


def copy_database(source: Path, target: Path) -> None:
    """Copy ``source`` (live, in WAL mode) into a new single file ``target``.

    SQLite's online backup in one step copies every page under one read transaction: the copy
    is the database as of the last transaction committed before it began, WAL frames included,
    while the server keeps writing (a WAL reader never blocks the writer).
    """
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=SQLITE_BUSY_TIMEOUT_MS / 1000)
    try:
        dst = sqlite3.connect(target)
        try:
            src.backup(dst)
            # One self-contained file: no -wal beside it in the archive.
            dst.execute("PRAGMA journal_mode = DELETE")
        finally:
            dst.close()
    finally:
        src.close()


def integrity_problems(conn: Connection) -> list[str]:
    """What PRAGMA integrity_check finds wrong (empty when the file is sound)."""
    rows = [row[0] for row in conn.execute("PRAGMA integrity_check")]
    return [] if rows == ["ok"] else rows


def encrypted_sample(conn: Connection) -> str | None:
    """One stored encrypted value, to check a key against; None when nothing is encrypted."""
    for table, column in _encrypted_columns(conn):
        row = conn.execute(
            f'SELECT "{column}" FROM "{table}" WHERE "{column}" IS NOT NULL'
            f" AND \"{column}\" NOT LIKE '{{%' LIMIT 1"
        ).fetchone()
        if row is not None:
            return row[0]
    return None


def _encrypted_columns(conn: Connection) -> list[tuple[str, str]]:
    tables = [
        row[0]
        for row in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            " ORDER BY name"
        )
    ]
    found = []
    for table in tables:
        for column in (row[1] for row in conn.execute(f'PRAGMA table_info("{table}")')):
            if column.endswith("_enc") or (table, column) in ENCRYPTED_COLUMNS:
                found.append((table, column))
    return found


def schema_version(conn: Connection) -> int:
    """The highest migration applied (0 for a file without the migrations table)."""
    try:
        row = conn.execute("SELECT max(version) FROM schema_migrations").fetchone()
    except sqlite3.OperationalError:
        return 0
    return row[0] or 0


def row_counts(conn: Connection) -> dict[str, int]:
    """Rows in the tables an operator recognises, for the backup's summary line."""
    counts = {}
    for table in ("accounts", "events", "deliveries"):
        try:
            counts[table] = conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        except sqlite3.OperationalError:
            counts[table] = 0
    return counts
