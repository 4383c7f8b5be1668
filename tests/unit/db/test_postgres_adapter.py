"""The PostgreSQL adapter: sqlite3-shaped SQL and rows over psycopg (db/postgres.py)."""

from __future__ import annotations

import pytest

from gethook_lite.db.database import known_migrations, pending_migrations
from gethook_lite.db.postgres import redact_url, to_pyformat


@pytest.mark.parametrize(
    ("sqlite", "psycopg"),
    [
        ("SELECT * FROM t WHERE a = ? AND b = ?", "SELECT * FROM t WHERE a = %s AND b = %s"),
        ("INSERT INTO t (a) VALUES (:a)", "INSERT INTO t (a) VALUES (%(a)s)"),
        ("UPDATE t SET a = :_account_id", "UPDATE t SET a = %(_account_id)s"),
        ("SELECT x::bigint FROM t WHERE y = ?", "SELECT x::bigint FROM t WHERE y = %s"),
        ("SELECT '?' , ':no' FROM t WHERE a = ?", "SELECT '?' , ':no' FROM t WHERE a = %s"),
        ("SELECT 1 WHERE a LIKE '{%' AND b = ?", "SELECT 1 WHERE a LIKE '{%%' AND b = %s"),
        ("SELECT 5 % 2, ?", "SELECT 5 %% 2, %s"),
        ('SELECT "a?b" FROM t -- why?\nWHERE c = ?', 'SELECT "a?b" FROM t -- why?\nWHERE c = %s'),
    ],
)
def test_placeholders_become_psycopgs(sqlite, psycopg):
    assert to_pyformat(sqlite) == psycopg


def test_a_numbered_placeholder_is_refused():
    with pytest.raises(ValueError, match="numbered placeholder"):
        to_pyformat("SELECT ?1, ?2")


def test_the_password_is_not_shown():
    assert redact_url("postgresql://gh:s3cret@db:5432/x") == "postgresql://gh:***@db:5432/x"
    assert redact_url("postgresql://gh@db/x") == "postgresql://gh@db/x"


def test_rows_read_by_index_by_name_and_as_dicts(pg_conn):
    row = pg_conn.execute("SELECT 1 AS a, ?::text AS b", ("x",)).fetchone()
    assert (row[0], row["b"], dict(row)) == (1, "x", {"a": 1, "b": "x"})
    named = pg_conn.execute("SELECT :n::int + 1 AS m", {"n": 41}).fetchone()
    assert named["m"] == 42


def test_a_bool_is_stored_as_the_integer_flag(pg_conn):
    pg_conn.execute("CREATE TEMP TABLE flags (f integer NOT NULL)")
    pg_conn.execute("INSERT INTO flags VALUES (?)", (True,))
    assert pg_conn.execute("SELECT f FROM flags").fetchone()[0] == 1


def test_a_tuple_cursor_gives_plain_sortable_tuples(pg_conn):
    cursor = pg_conn.cursor()
    cursor.row_factory = None
    rows = cursor.execute("SELECT ?::int, 'b' UNION ALL SELECT 1, 'a'", (2,)).fetchall()
    assert sorted(rows) == [(1, "a"), (2, "b")]


def test_a_fresh_database_is_migrated_to_the_newest_version(pg_conn):
    assert pending_migrations(pg_conn) == []
    versions = [r[0] for r in pg_conn.execute("SELECT version FROM schema_migrations ORDER BY 1")]
    assert versions == known_migrations("postgresql") == known_migrations("sqlite")


def connection_options(conn) -> dict[str, str]:
    return {
        option.keyword.decode(): (option.val or b"").decode() for option in conn.raw.pgconn.info
    }


def test_a_lost_server_is_noticed_in_seconds_unless_the_url_says_otherwise(pg_url):
    from gethook_lite.db.postgres import connect_postgres

    conn = connect_postgres(pg_url)
    try:
        options = connection_options(conn)
        assert options["connect_timeout"] == "5"
        assert options["keepalives_idle"] == "10"
        assert options["tcp_user_timeout"] == "15000"
    finally:
        conn.close()
    conn = connect_postgres(f"{pg_url}?connect_timeout=7&tcp_user_timeout=1000")
    try:
        options = connection_options(conn)
        assert options["connect_timeout"] == "7"
        assert options["tcp_user_timeout"] == "1000"
        assert options["keepalives_idle"] == "10"
    finally:
        conn.close()


def test_a_statement_without_rows_reads_as_no_rows_with_its_count(pg_conn):
    pg_conn.execute("CREATE TEMP TABLE t (n integer)")
    pg_conn.execute("INSERT INTO t VALUES (?), (?)", (1, 2))
    deleted = pg_conn.execute("DELETE FROM t WHERE n > ?", (0,))
    assert (deleted.rowcount, deleted.fetchall(), deleted.fetchone(), list(deleted)) == (
        2,
        [],
        None,
        [],
    )
