"""Migration 0006: custom domains become claims (unique only once verified), sources keep
their links through the table rebuild."""

from __future__ import annotations

import sqlite3

import pytest

from gethook_lite.db.connection import SqliteConnection
from gethook_lite.db.database import _apply_migrations, _migration_files


def _database_before_0006(path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, factory=SqliteConnection)
    conn.execute("PRAGMA foreign_keys = ON")  # as the app's writer runs migrations
    conn.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at REAL)")
    for version, sql in _migration_files():
        if version < 6:
            conn.executescript(
                f"BEGIN;\n{sql}\n;INSERT INTO schema_migrations VALUES ({version}, 0);COMMIT;"
            )
    conn.executescript(
        """
        INSERT INTO accounts VALUES ('acct_a', 'a', NULL, NULL, 30, 0);
        INSERT INTO accounts VALUES ('acct_b', 'b', NULL, NULL, 30, 0);
        INSERT INTO custom_domains VALUES
            ('dom_1', 'acct_a', 'hooks.a.example', 'ingest', 'verified', 'ready', 't1', 1, 2),
            ('dom_2', 'acct_a', 'pending.example', 'ingest', 'pending_verification', 'pending',
             't2', 3, NULL);
        INSERT INTO sources (id, account_id, name, path_token, custom_domain_id, created_at)
        VALUES ('src_1', 'acct_a', 's', 'tok1', 'dom_1', 5),
               ('src_2', 'acct_a', 's', 'tok2', NULL, 6);
        """
    )
    return conn


def test_claims_migration_keeps_rows_and_links(tmp_path):
    conn = _database_before_0006(tmp_path / "g.db")
    with pytest.raises(sqlite3.IntegrityError):  # before: one row per name, whoever's
        conn.execute(
            "INSERT INTO custom_domains VALUES"
            " ('dom_3', 'acct_b', 'pending.example', 'ingest', 'pending_verification',"
            " 'pending', 't3', 7, NULL)"
        )
    assert 6 in _apply_migrations(conn)
    links = dict(conn.execute("SELECT id, custom_domain_id FROM sources ORDER BY id"))
    assert links == {"src_1": "dom_1", "src_2": None}
    rows = conn.execute("SELECT id, domain, status, verified_at FROM custom_domains ORDER BY id")
    assert rows.fetchall() == [
        ("dom_1", "hooks.a.example", "verified", 2),
        ("dom_2", "pending.example", "pending_verification", None),
    ]
    assert conn.execute("PRAGMA foreign_key_check").fetchall() == []

    # Another account's pending claim on the same name is fine now...
    conn.execute(
        "INSERT INTO custom_domains VALUES ('dom_3', 'acct_b', 'pending.example', 'ingest',"
        " 'pending_verification', 'pending', 't3', 7, NULL)"
    )
    # ...but one account claims a name once, and a name is verified for one account only.
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute(
            "INSERT INTO custom_domains VALUES ('dom_4', 'acct_b', 'pending.example', 'ingest',"
            " 'pending_verification', 'pending', 't4', 8, NULL)"
        )
    conn.execute("UPDATE custom_domains SET status = 'verified' WHERE id = 'dom_3'")
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute("UPDATE custom_domains SET status = 'verified' WHERE id = 'dom_2'")
    # The foreign key still points at the rebuilt table: deleting a domain detaches sources.
    conn.execute("DELETE FROM custom_domains WHERE id = 'dom_1'")
    assert conn.execute("SELECT custom_domain_id FROM sources WHERE id = 'src_1'").fetchone() == (
        None,
    )
    conn.close()
