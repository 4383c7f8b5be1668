"""Backups with storage.url on a real PostgreSQL database: `gethook backup` writes pg_dump -Fc's
archive with the key and a manifest saying "postgresql"; `gethook restore` puts it into the
empty database storage.url names (and refuses one that is not empty, or a PostgreSQL archive
without storage.url), and a server then serves it with the archived key; without pg_dump the
command says so; the server's scheduled backups are off."""

from __future__ import annotations

import json
import os
import stat
import tarfile

import pytest

from tests.support import postgres
from tests.support.cli import gethook
from tests.support.server import GethookServer


@pytest.fixture
def account(tmp_path, pg_url, monkeypatch):
    """A server on ``pg_url`` ran once (scheduled backups asked for): (data dir, key, log)."""
    monkeypatch.setenv("GETHOOK_STORAGE_URL", pg_url)
    server = GethookServer(tmp_path / "data", env={"GETHOOK_BACKUP_EVERY_HOURS": "1"}).start(
        timeout=60
    )
    try:
        with server.client() as client:
            created = client.post("/v1/accounts", json={"name": "dumped"}).json()["data"]
        with server.client(created["api_key"]["key"]) as api:
            answer = api.post("/v1/destinations", json={"name": "d", "url": "http://x.test/"})
            assert answer.status_code == 201, answer.text
    finally:
        server.stop()
    return server.data_dir, created["api_key"]["key"], server.log()


def test_scheduled_backups_are_off_on_postgresql_and_say_so(account):
    _, _, log = account
    assert "scheduled backups are off on PostgreSQL (backup.every_hours is ignored)" in log
    assert "pg_dump" in log


def test_backup_is_a_pg_dump_that_restores_into_a_new_database(account, tmp_path, monkeypatch):
    data_dir, api_key, _ = account
    archive = tmp_path / "pg.tar.gz"
    made = gethook("backup", str(archive), "--data-dir", str(data_dir))
    assert made.returncode == 0, made.stderr
    assert "pg_restore reads the dump" in made.stdout
    assert "1 accounts" in made.stdout and "key opens the stored secrets" in made.stdout
    assert stat.S_IMODE(archive.stat().st_mode) == 0o600
    with tarfile.open(archive) as tar:
        assert sorted(tar.getnames()) == ["gethook.pgdump", "manifest.json", "secret.key"]
        manifest = json.load(tar.extractfile("manifest.json"))
        key = tar.extractfile("secret.key").read().decode().strip()
    assert manifest["backend"] == "postgresql" and manifest["accounts"] == 1

    # Into the database it came from (storage.url still names it): not empty, refused.
    busy = gethook("restore", str(archive), "--data-dir", str(tmp_path / "elsewhere"))
    assert busy.returncode == 1 and "is not empty" in busy.stderr
    # Without storage.url: a data directory cannot take it; the message says what to do.
    monkeypatch.delenv("GETHOOK_STORAGE_URL")
    refused = gethook("restore", str(archive), "--data-dir", str(tmp_path / "elsewhere"))
    assert refused.returncode == 1
    assert "set storage.url to a new, empty database" in refused.stderr
    assert "Traceback" not in refused.stderr

    # With storage.url naming a new, empty database, gethook restore runs pg_restore into it.
    server_url = postgres.require_server()
    name = postgres.create_database(server_url, migrated=False)
    try:
        target = postgres.database_url(server_url, name)
        monkeypatch.setenv("GETHOOK_STORAGE_URL", target)
        restored_dir = tmp_path / "restored"
        done = gethook("restore", str(archive), "--data-dir", str(restored_dir))
        assert done.returncode == 0, done.stderr
        assert "1 accounts" in done.stdout and "storage.encryption_key" in done.stdout
        assert (restored_dir / "secret.key").read_text().strip() == key
        restored = GethookServer(restored_dir).start(timeout=60)
        try:
            with restored.client(api_key) as api:
                destinations = api.get("/v1/destinations").json()["data"]
            assert [d["name"] for d in destinations] == ["d"]
        finally:
            restored.stop()
    finally:
        postgres.drop_database(server_url, name)


def test_without_pg_dump_the_backup_names_it(account, tmp_path, monkeypatch):
    data_dir, _, _ = account
    monkeypatch.setenv("PATH", str(tmp_path / "no-tools"))
    refused = gethook("backup", str(tmp_path / "b.tar.gz"), "--data-dir", str(data_dir))
    assert refused.returncode == 1
    assert "runs pg_dump, which is not on PATH" in refused.stderr
    assert not [p for p in os.listdir(tmp_path) if p.startswith("b.tar.gz")]


def test_a_sqlite_backup_is_not_restored_under_storage_url(tmp_path, pg_url, monkeypatch):
    server = GethookServer(tmp_path / "sqlite").start(timeout=60)
    server.stop()
    archive = tmp_path / "sqlite.tar.gz"
    assert gethook("backup", str(archive), "--data-dir", str(server.data_dir)).returncode == 0
    monkeypatch.setenv("GETHOOK_STORAGE_URL", pg_url)
    refused = gethook("restore", str(archive), "--data-dir", str(tmp_path / "new"))
    assert refused.returncode == 1
    assert "is a SQLite backup and storage.url is set" in refused.stderr
