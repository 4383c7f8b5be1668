"""Storage faults: ingest answers 503 with a clear error, loses nothing, and recovers."""

from __future__ import annotations

import sqlite3
import time

import pytest

from gethook_lite.app import DATABASE_FILE
from tests.conftest import make_settings
from tests.support.api import ingest, make_source

# A short wait for another process's lock, so the locked-database test takes milliseconds.
BUSY_TIMEOUT_MS = 100


@pytest.fixture
def settings(tmp_path):
    return make_settings(tmp_path, **{"storage.busy_timeout_ms": BUSY_TIMEOUT_MS})


def run_write(client, fn, *args):
    ctx = client.app.state.ctx
    return client.blocking_portal.call(ctx.db.write, fn, *args)


def set_max_pages(conn: sqlite3.Connection, pages: int) -> int:
    return conn.execute(f"PRAGMA max_page_count = {int(pages)}").fetchone()[0]


def page_count(conn: sqlite3.Connection) -> int:
    return conn.execute("PRAGMA page_count").fetchone()[0]


@pytest.mark.sqlite_only(
    "a full disk under the SQLite file; PostgreSQL faults: tests/api/test_postgres_faults.py"
)
def test_full_disk_gives_503_then_recovers(client, auth):
    source = make_source(client, auth)
    kept = ingest(client, source, b'{"before": true}')["id"]
    # SQLite's max_page_count makes the file "full" exactly as a full disk does (SQLITE_FULL).
    pages = run_write(client, page_count)
    run_write(client, set_max_pages, pages)
    refused = client.post(f"/ingest/{source['path_token']}", content=b"x" * 50_000)
    assert refused.status_code == 503
    assert "database" in refused.json()["error"]
    assert refused.headers["retry-after"] == "1"
    run_write(client, set_max_pages, 1_000_000_000)
    assert ingest(client, source, b"x" * 50_000)["status"] == "accepted"
    assert client.get(f"/v1/events/{kept}", headers=auth).status_code == 200
    assert client.get("/v1/events", headers=auth).json()["data"]["total"] == 2


@pytest.mark.sqlite_only("SQLite's file lock; PostgreSQL faults: tests/api/test_postgres_faults.py")
def test_database_locked_by_another_process_gives_503_then_recovers(client, auth, settings):
    source = make_source(client, auth)
    other = sqlite3.connect(settings.data_dir / DATABASE_FILE, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")  # holds the write lock, as another program might
        began = time.monotonic()
        refused = client.post(f"/ingest/{source['path_token']}", content=b"{}")
        waited = time.monotonic() - began
        assert refused.status_code == 503
        # The write waited for the lock as long as storage.busy_timeout_ms says, not longer.
        assert BUSY_TIMEOUT_MS / 1000 <= waited < 3
        assert set(refused.json()) == {"error"}
        other.execute("ROLLBACK")
        assert ingest(client, source)["status"] == "accepted"
        assert client.get("/readyz").status_code == 200
    finally:
        other.close()
