"""`gethook doctor` with storage.url on a real PostgreSQL database: connectivity and version,
collation, schema, the key, clock skew and max_connections are checked; the file-based checks
say why they are skipped; a wrong key, an unreachable server or a newer schema are one line
each and exit 1."""

from __future__ import annotations

import time

import pytest
from cryptography.fernet import Fernet

from gethook_lite.config import load_settings
from gethook_lite.db.postgres import connect_postgres
from gethook_lite.ops.doctor import ERROR, OK, WARNING, diagnose
from tests.support.cli import gethook
from tests.support.server import GethookServer

PG_CHECKS = {"postgres", "collation", "schema", "key", "clock", "conns", "disk", "wal", "backup"}


def lines_of(stdout: str) -> dict[str, str]:
    """check name -> its line (the last line is the summary)."""
    return {line.split()[1]: line for line in stdout.splitlines()[:-1]}


@pytest.fixture
def served(tmp_path, pg_url, monkeypatch):
    """A data dir whose server ran once on ``pg_url`` (the key check is stored there)."""
    monkeypatch.setenv("GETHOOK_STORAGE_URL", pg_url)
    server = GethookServer(tmp_path / "data").start(timeout=60)
    try:
        with server.client() as client:
            assert client.post("/v1/accounts", json={"name": "a"}).status_code == 201
    finally:
        server.stop()
    return server.data_dir


def test_a_healthy_postgresql_setup_is_all_ok(served, pg_url):
    result = gethook("doctor", "--data-dir", str(served))
    assert result.returncode == 0, result.stdout + result.stderr
    found = lines_of(result.stdout)
    assert set(found) >= PG_CHECKS
    assert all(line.startswith("OK ") for line in found.values()), result.stdout
    assert "PostgreSQL 1" in found["postgres"]
    assert "C collation" in found["collation"]
    assert "up to date" in found["schema"]
    assert "opens the stored secrets" in found["key"]
    assert "ms" in found["clock"] and "max_connections" in found["conns"]
    assert "skipped" in found["disk"] and "skipped" in found["wal"]
    assert "pg_dump" in found["backup"]


def test_the_wrong_key_is_an_error(served, monkeypatch):
    monkeypatch.setenv("GETHOOK_STORAGE_ENCRYPTION_KEY", Fernet.generate_key().decode())
    result = gethook("doctor", "--data-dir", str(served))
    assert result.returncode == 1
    assert lines_of(result.stdout)["key"].startswith("ERROR")


def test_an_unreachable_server_is_one_line_and_exit_1(tmp_path, monkeypatch):
    monkeypatch.setenv("GETHOOK_STORAGE_URL", "postgresql://gethook:hunter2@127.0.0.1:1/x")
    result = gethook("doctor", "--data-dir", str(tmp_path / "data"))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and "hunter2" not in result.stdout
    line = lines_of(result.stdout)["postgres"]
    assert line.startswith("ERROR") and "cannot connect to" in line


def test_a_newer_schema_is_an_error(pg_url, tmp_path, monkeypatch):
    conn = connect_postgres(pg_url)
    try:
        conn.execute("INSERT INTO schema_migrations VALUES (9999, 0)")
    finally:
        conn.close()
    monkeypatch.setenv("GETHOOK_STORAGE_URL", pg_url)
    result = gethook("doctor", "--data-dir", str(tmp_path / "data"))
    assert result.returncode == 1
    assert "newer GetHook Lite" in lines_of(result.stdout)["schema"]


def test_clock_skew_and_ignored_scheduled_backups_warn(pg_url, tmp_path):
    overrides = {"storage.url": pg_url, "storage.data_dir": str(tmp_path), "backup.every_hours": 24}
    settings = load_settings(None, env={}, overrides=overrides)
    slow = diagnose(settings, time.time(), clock=lambda: time.time() - 1.0)
    found = {finding.check: finding for finding in slow}
    assert found["clock"].severity == WARNING and "behind" in found["clock"].message
    assert found["backup"].severity == WARNING and "ignored" in found["backup"].message
    in_step = {f.check: f for f in diagnose(settings, time.time())}
    assert in_step["clock"].severity == OK
    assert not [f for f in in_step.values() if f.severity == ERROR]
