"""Start-up and operation errors: one line naming the setting or path, exit code 1; the wrong
encryption key refuses to start; no log line ever holds a full ingest token."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys

import pytest
from cryptography.fernet import Fernet

from tests.support.server import GethookServer


def _gethook(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "gethook_lite", *args],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=30,
    )


def _one_line(result: subprocess.CompletedProcess, *expected: str) -> str:
    assert result.returncode == 1, (result.returncode, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for text in expected:
        assert text in lines[0], lines[0]
    return lines[0]


def test_bad_encryption_key_is_one_line(tmp_path):
    env = {"GETHOOK_STORAGE_ENCRYPTION_KEY": "not-a-key"}
    for command in (["serve", "--port", "1"], ["accounts", "create", "x"], ["migrate"]):
        result = _gethook(*command, "--data-dir", str(tmp_path / "data"), env=env)
        _one_line(result, "storage.encryption_key", "Fernet.generate_key")


def test_empty_account_name_is_one_line(tmp_path):
    result = _gethook("accounts", "create", "", "--data-dir", str(tmp_path / "data"))
    _one_line(result, "name: must not be empty")


def test_data_dir_that_cannot_be_created_is_one_line(tmp_path):
    (tmp_path / "file").write_text("")
    data_dir = str(tmp_path / "file" / "data")
    for command in (["serve"], ["accounts", "create", "x"]):
        result = _gethook(*command, "--data-dir", data_dir)
        _one_line(result, "storage.data_dir", data_dir, "--data-dir")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes to read-only directories")
def test_read_only_data_dir_is_one_line(tmp_path):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    data_dir.chmod(0o500)
    try:
        result = _gethook("serve", "--data-dir", str(data_dir))
    finally:
        data_dir.chmod(0o700)
    _one_line(result, "storage.data_dir", str(data_dir))


def test_data_dir_locked_by_a_running_server_is_one_line(server):
    result = _gethook("serve", "--port", "1", "--data-dir", str(server.data_dir))
    _one_line(result, "another gethook process", str(server.data_dir))


def _source_with_secret(server, key: str) -> dict:
    with server.client(key) as client:
        answer = client.post(
            "/v1/sources",
            json={
                "name": "s",
                "auth_mode": "hmac",
                "verification_config": {"secret": "s3cret", "header": "x-signature"},
            },
        )
        assert answer.status_code == 201, answer.text
        return answer.json()["data"]


def test_restored_database_without_its_key_refuses_to_start(tmp_path, server, account_key):
    _source_with_secret(server, account_key)
    server.stop()
    restored = tmp_path / "restored"
    restored.mkdir()
    shutil.copy(server.data_dir / "gethook.db", restored / "gethook.db")
    # Without secret.key, and with another key: refused, saying which key and what to do.
    result = _gethook("serve", "--data-dir", str(restored))
    _one_line(result, "secret.key is missing", "restore")
    assert not (restored / "secret.key").exists()
    other = {"GETHOOK_STORAGE_ENCRYPTION_KEY": Fernet.generate_key().decode()}
    result = _gethook("serve", "--data-dir", str(restored), env=other)
    _one_line(result, "storage.encryption_key", "does not open")
    # With its key it starts.
    shutil.copy(server.data_dir / "secret.key", restored / "secret.key")
    GethookServer(restored).start().stop()


def test_database_from_before_the_key_check_is_checked_by_its_secrets(server, account_key):
    _source_with_secret(server, account_key)
    server.stop()
    with sqlite3.connect(server.data_dir / "gethook.db") as conn:
        conn.execute("DELETE FROM instance_meta")
    other = {"GETHOOK_STORAGE_ENCRYPTION_KEY": Fernet.generate_key().decode()}
    result = _gethook("migrate", "--data-dir", str(server.data_dir), env=other)
    _one_line(result, "does not open")


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_no_log_line_holds_a_full_ingest_token(tmp_path, log_format):
    env = {"GETHOOK_SERVER_ACCESS_LOG": "true", "GETHOOK_SERVER_LOG_FORMAT": log_format}
    server = GethookServer(tmp_path / "data", env=env).start()
    try:
        with server.client() as client:
            key = client.post("/v1/accounts", json={"name": "t"}).json()["data"]["api_key"]["key"]
        broken = _source_with_secret(server, key)
        signed = _source_with_secret(server, key)
        # A stored secret that no longer decrypts: ingest fails inside, with a traceback.
        with sqlite3.connect(server.data_dir / "gethook.db") as conn:
            conn.execute(
                "UPDATE sources SET verification_config_enc = 'garbage' WHERE id = ?",
                (broken["id"],),
            )
        with server.client() as client:
            assert client.post(f"/ingest/{broken['path_token']}", content=b"{}").status_code == 500
            assert client.post(f"/ingest/{signed['path_token']}", content=b"{}").status_code == 401
            assert client.get(f"/ingest/{signed['path_token']}").status_code == 405
            assert client.post(f"/ingest/{signed['path_token']}/x", content=b"").status_code == 404
    finally:
        server.stop()
    log = server.log()
    assert "Traceback" in log or "traceback" in log  # the failure was logged...
    for token in (broken["path_token"], signed["path_token"]):
        assert token not in log  # ...without the token
        assert token[:4] in log  # while the shortened form still identifies the source
