"""migrate_to_postgres on small databases written directly: what is copied as is (counters into
shard 0, change rows below every horizon, identity sequences past the copied ids) and what is
refused before anything is committed. A real SQLite file and a real PostgreSQL database."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from cryptography.fernet import Fernet

from gethook_lite.db.connection import connect_sqlite
from gethook_lite.db.database import Database, known_migrations
from gethook_lite.db.instance_meta import KEY_CHECK
from gethook_lite.db.postgres import connect_postgres
from gethook_lite.ops.migrate_to import MigrateToError, _topological, migrate_to_postgres
from gethook_lite.secrets_box import KEY_CHECK_PLAINTEXT, SecretBox
from tests.support import postgres

KEY = Fernet.generate_key()


@pytest.fixture
def sqlite_db(tmp_path):
    """A migrated SQLite database holding an account, its change rows, counters and the key
    check, written with KEY."""
    path = tmp_path / "gethook.db"

    async def create() -> None:
        db = Database(path)
        await db.open()
        await db.close()

    asyncio.run(create())
    with contextlib.closing(connect_sqlite(path)) as conn, conn:
        conn.execute(
            "INSERT INTO accounts (id, name, retention_days, created_at)"
            " VALUES ('acct_1', 'a', 7, 1.5)"
        )
        conn.execute(
            "INSERT INTO changes (seq, account_id, kind, subject_id, direction, created_at)"
            " VALUES (41, 'acct_1', 'event.received', 'evt_1', 'inbound', 2.0)"
        )
        conn.execute("UPDATE counters SET value = 7 WHERE name = 'events_processed'")
        conn.execute(
            "INSERT INTO instance_meta (name, value) VALUES (?, ?)",
            (KEY_CHECK, SecretBox(KEY).encrypt(KEY_CHECK_PLAINTEXT)),
        )
    return path


@pytest.fixture
def empty_url():
    with postgres.fresh_database(migrated=False) as url:
        yield url


def test_tables_come_after_the_tables_they_reference():
    order = _topological(
        {"events": {"accounts", "sources"}, "sources": {"accounts"}, "accounts": set()}
    )
    assert order == ["accounts", "sources", "events"]


def test_copy_keeps_counters_change_rows_and_moves_the_sequences_on(sqlite_db, empty_url):
    result = migrate_to_postgres(sqlite_db, empty_url, KEY)
    copied = {table.name: table.rows for table in result.tables}
    assert copied["accounts"] == 1 and copied["changes"] == 1 and copied["counters"] == 4
    with contextlib.closing(connect_postgres(empty_url)) as conn:
        counters = dict(conn.execute("SELECT name, value FROM counters WHERE shard = 0"))
        assert counters["events_processed"] == 7
        assert conn.execute("SELECT count(*) FROM counters").fetchone()[0] == 4
        row = conn.execute("SELECT seq, txid::text FROM changes").fetchone()
        assert (row[0], row[1]) == (41, "0")
        next_seq = conn.execute(
            "INSERT INTO changes (account_id, kind, subject_id, direction, created_at)"
            " VALUES ('acct_1', 'event.received', 'evt_2', 'inbound', 3.0) RETURNING seq"
        ).fetchone()[0]
        assert next_seq == 42
        # Every trigger disabled for the copy is enabled again.
        triggers = conn.execute(
            "SELECT count(*) FROM pg_trigger WHERE NOT tgisinternal AND tgenabled = 'D'"
        ).fetchone()[0]
        assert triggers == 0


def test_a_migrated_target_is_accepted_while_empty(sqlite_db, pg_url):
    assert migrate_to_postgres(sqlite_db, pg_url, KEY).rows > 0


def test_the_wrong_key_is_refused_and_nothing_is_written(sqlite_db, empty_url):
    with pytest.raises(MigrateToError, match="encryption key does not open"):
        migrate_to_postgres(sqlite_db, empty_url, Fernet.generate_key())
    with contextlib.closing(connect_postgres(empty_url)) as conn:
        tables = conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchone()[0]
    assert tables == 0


def test_a_database_with_other_tables_is_refused(sqlite_db, empty_url):
    with contextlib.closing(connect_postgres(empty_url)) as conn:
        conn.execute("CREATE TABLE invoices (id integer)")
    with pytest.raises(MigrateToError, match="not GetHook Lite's \\(invoices\\)"):
        migrate_to_postgres(sqlite_db, empty_url, KEY)


def test_a_failing_copy_commits_nothing(sqlite_db, pg_url):
    # An orphan row SQLite let in (foreign keys off for this connection): PostgreSQL refuses it.
    with contextlib.closing(connect_sqlite(sqlite_db)) as conn, conn:
        conn.execute(
            "INSERT INTO exports (id, account_id, status, format, filters, created_at)"
            " VALUES ('exp_1', 'acct_gone', 'pending', 'jsonl', '{}', 1.0)"
        )
    with pytest.raises(MigrateToError, match="the copy failed, nothing was committed"):
        migrate_to_postgres(sqlite_db, pg_url, KEY)
    with contextlib.closing(connect_postgres(pg_url)) as conn:
        assert conn.execute("SELECT count(*) FROM accounts").fetchone()[0] == 0


def test_a_sqlite_file_behind_this_build_is_migrated_first(sqlite_db, empty_url):
    # Back one schema version: the newest migration not applied yet.
    newest = max(known_migrations())
    with contextlib.closing(connect_sqlite(sqlite_db)) as conn, conn:
        conn.execute("DELETE FROM schema_migrations WHERE version = ?", (newest,))
    said: list[str] = []
    result = migrate_to_postgres(sqlite_db, empty_url, KEY, progress=said.append)
    assert result.sqlite_migrated_from is not None
    assert result.schema_version == newest
    assert said[0].startswith(f"migrating {sqlite_db} from schema")
    with contextlib.closing(connect_sqlite(sqlite_db)) as conn:
        versions = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
    assert newest in versions
