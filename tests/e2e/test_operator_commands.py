"""Operators' commands through the real command line, beside a running server on the same
data directory: accounts list, keys list / revoke (effective at once), set-retention, and
scheduled backups written by the server itself."""

from __future__ import annotations

import sqlite3
import time

from tests.support.cli import gethook
from tests.support.server import GethookServer


def test_accounts_and_keys_commands_work_beside_a_running_server(tmp_path):
    server = GethookServer(tmp_path / "data").start()
    try:
        with server.client() as client:
            created = client.post("/v1/accounts", json={"name": "Acme"}).json()["data"]
        account_id = created["account"]["id"]
        admin_key = created["api_key"]["key"]
        with server.client(admin_key) as api:
            extra = api.post("/v1/api-keys", json={"name": "ci", "role": "viewer"}).json()["data"]
        data_dir = str(server.data_dir)

        listed = gethook("accounts", "list", "--data-dir", data_dir)
        assert listed.returncode == 0, listed.stderr
        assert f"{account_id}\tAcme\t-\t30\t2\t" in listed.stdout

        keys = gethook("keys", "list", "--account", account_id, "--data-dir", data_dir)
        assert keys.returncode == 0, keys.stderr
        assert extra["id"] in keys.stdout and extra["key_prefix"] in keys.stdout
        assert extra["key"] not in keys.stdout

        with server.client(extra["key"]) as viewer:
            assert viewer.get("/v1/sources").status_code == 200
            revoked = gethook("keys", "revoke", extra["id"], "--data-dir", data_dir)
            assert revoked.returncode == 0, revoked.stderr
            # The running server looks keys up at every request: refused at once.
            assert viewer.get("/v1/sources").status_code == 401
        with server.client(admin_key) as api:
            assert api.get("/v1/sources").status_code == 200
        twice = gethook("keys", "revoke", extra["id"], "--data-dir", data_dir)
        assert twice.returncode == 0 and "already revoked" in twice.stdout

        again = gethook("keys", "list", "--account", account_id, "--data-dir", data_dir)
        line = next(row for row in again.stdout.splitlines() if row.startswith(extra["id"]))
        assert not line.endswith("\t-")  # revoked_at is shown

        kept = gethook("accounts", "set-retention", account_id, "7", "--data-dir", data_dir)
        assert kept.returncode == 0, kept.stderr
        assert (
            f"{account_id}\tAcme\t-\t7\t1\t"
            in gethook("accounts", "list", "--data-dir", data_dir).stdout
        )
    finally:
        server.stop()


def test_operator_commands_explain_what_is_wrong(tmp_path):
    data_dir = str(tmp_path / "data")
    assert gethook("migrate", "--data-dir", data_dir).returncode == 0
    for args, message in [
        (("keys", "revoke", "key_nope"), "no API key key_nope"),
        (("keys", "list", "--account", "acct_nope"), "no account acct_nope"),
        (("accounts", "set-retention", "acct_nope", "7"), "no account acct_nope"),
    ]:
        answer = gethook(*args, "--data-dir", data_dir)
        assert answer.returncode == 1 and message in answer.stderr, (args, answer.stderr)
    bad_days = gethook("accounts", "set-retention", "acct_x", "0", "--data-dir", data_dir)
    assert bad_days.returncode == 2 and "DAYS" in bad_days.stderr
    missing = gethook("accounts", "list", "--data-dir", str(tmp_path / "nowhere"))
    assert missing.returncode == 1 and "no database at" in missing.stderr
    assert not (tmp_path / "nowhere" / "gethook.db").exists()


def test_server_writes_scheduled_backups_and_keeps_the_newest(tmp_path):
    backups = tmp_path / "backups"
    server = GethookServer(
        tmp_path / "data",
        env={
            # About every 1.1 s, keeping 2.
            "GETHOOK_BACKUP_EVERY_HOURS": "0.0003",
            "GETHOOK_BACKUP_DIRECTORY": str(backups),
            "GETHOOK_BACKUP_KEEP": "2",
        },
    ).start()
    try:
        with server.client() as client:
            assert client.post("/v1/accounts", json={"name": "nightly"}).status_code == 201
        deadline = time.monotonic() + 15
        while server.log().count("backup written") < 3 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        server.stop()
    assert server.log().count("backup written") >= 3, server.log()
    archives = sorted(backups.glob("gethook-backup-*.tar.gz"))
    assert len(archives) == 2
    assert not list(backups.glob("*.part"))
    restored = gethook("restore", str(archives[-1]), "--data-dir", str(tmp_path / "r"))
    assert restored.returncode == 0, restored.stderr
    with sqlite3.connect(tmp_path / "r" / "gethook.db") as conn:
        assert conn.execute("SELECT name FROM accounts").fetchall() == [("nightly",)]
