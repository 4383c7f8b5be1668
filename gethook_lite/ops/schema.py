"""What ``gethook migrate`` would do to a data directory's database, without changing it."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from gethook_lite.constants import SQLITE_BUSY_TIMEOUT_MS
from gethook_lite.db.connection import POSTGRESQL, connect_sqlite
from gethook_lite.db.database import SchemaTooNew, known_migrations, pending_migrations
from gethook_lite.db.postgres import connect_postgres, is_postgres_url, redact_url

__all__ = ["MigrationPlan", "migration_plan"]


@dataclass(frozen=True, slots=True)
class MigrationPlan:
    """The migrations that would run; ``refused`` says why none may (a newer database)."""

    database_exists: bool
    pending: tuple[int, ...]
    newest_known: int
    refused: str | None = None


def migration_plan(database: Path | str) -> MigrationPlan:
    """Read ``database`` (read only, beside a running server too) and plan its migrations.
    ``database``: a SQLite file, or a postgresql:// URL (``storage.url``)."""
    if isinstance(database, str) and is_postgres_url(database):
        return _postgres_plan(database)
    database = Path(database)
    newest = max(known_migrations())
    if not database.exists():
        return MigrationPlan(False, tuple(known_migrations()), newest)
    conn = connect_sqlite(
        f"{database.as_uri()}?mode=ro", uri=True, timeout=SQLITE_BUSY_TIMEOUT_MS / 1000
    )
    try:
        return MigrationPlan(True, tuple(pending_migrations(conn)), newest)
    except SchemaTooNew as exc:
        return MigrationPlan(True, (), newest, refused=str(exc))
    except sqlite3.Error as exc:
        return MigrationPlan(True, (), newest, refused=f"cannot read {database}: {exc}")
    finally:
        conn.close()


def _postgres_plan(url: str) -> MigrationPlan:
    import psycopg

    newest = max(known_migrations(POSTGRESQL))
    try:
        conn = connect_postgres(url, application_name="gethook-operator")
    except psycopg.Error as exc:
        return MigrationPlan(
            False, (), newest, refused=f"cannot connect to {redact_url(url)}: {exc}"
        )
    try:
        conn.execute("SET default_transaction_read_only = on")
        return MigrationPlan(True, tuple(pending_migrations(conn)), newest)
    except SchemaTooNew as exc:
        return MigrationPlan(True, (), newest, refused=str(exc))
    except psycopg.Error as exc:
        return MigrationPlan(True, (), newest, refused=f"cannot read {redact_url(url)}: {exc}")
    finally:
        conn.close()
