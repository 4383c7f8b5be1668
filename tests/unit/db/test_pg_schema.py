"""The two schemas in step: migrating a SQLite database and a PostgreSQL one gives the same
tables with the same columns in the same order, and every SQLite index exists on PostgreSQL.

PostgreSQL may add columns of its own where its design differs (design §6.6): the change
log's transaction id, and the shards that spread hot counter rows."""

from __future__ import annotations

from gethook_lite.db.connection import connect_sqlite
from gethook_lite.db.database import _apply_migrations

# Columns only PostgreSQL has, by table.
POSTGRESQL_ONLY = {"changes": {"txid"}, "counters": {"shard"}, "event_tallies": {"shard"}}


def sqlite_tables(conn) -> dict[str, list[str]]:
    tables = [
        row[0]
        for row in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        )
    ]
    return {
        table: [row["name"] for row in conn.execute(f'PRAGMA table_info("{table}")')]
        for table in tables
    }


def postgres_tables(conn) -> dict[str, list[str]]:
    tables: dict[str, list[str]] = {}
    for table, column in conn.execute(
        "SELECT table_name, column_name FROM information_schema.columns"
        " WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position"
    ):
        tables.setdefault(table, []).append(column)
    return tables


def sqlite_indexes(conn) -> set[str]:
    return {
        row[0]
        for row in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND name NOT LIKE 'sqlite_%'"
        )
    }


def postgres_indexes(conn) -> set[str]:
    return {
        row[0]
        for row in conn.execute(
            "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()"
        )
    }


def migrated_sqlite(tmp_path):
    conn = connect_sqlite(tmp_path / "schema.db", isolation_level=None)
    _apply_migrations(conn)
    return conn


def test_both_dialects_have_the_same_tables_and_columns_in_order(tmp_path, pg_conn):
    sqlite = sqlite_tables(migrated_sqlite(tmp_path))
    postgres = postgres_tables(pg_conn)
    assert sorted(postgres) == sorted(sqlite)
    for table, columns in sqlite.items():
        extras = POSTGRESQL_ONLY.get(table, set())
        assert [c for c in postgres[table] if c not in extras] == columns, table
        assert extras <= set(postgres[table]), table


def test_every_sqlite_index_exists_on_postgresql(tmp_path, pg_conn):
    sqlite = sqlite_indexes(migrated_sqlite(tmp_path))
    assert sqlite, "the SQLite schema has indexes"
    assert sqlite - postgres_indexes(pg_conn) == set()
