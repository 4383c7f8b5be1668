"""The data directory is 0700 and the database, its WAL/SHM and export files 0600 (issue 20).

The default umask made them 0644 in a 0755 directory: event bodies readable by every local
user. Checked on a real server: a fresh directory, and one left readable by an older version.
"""

from __future__ import annotations

import sqlite3
import stat
import time
from pathlib import Path

from tests.support.server import GethookServer


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def make_export(server: GethookServer) -> Path:
    with server.client() as client:
        answer = client.post("/v1/accounts", json={"name": "modes"})
        key = answer.json()["data"]["api_key"]["key"]
    with server.client(key) as api:
        assert api.post("/v1/outbound-events", json={"payload": {"n": 1}}).status_code == 202
        job = api.post("/v1/exports", json={"format": "jsonl"}).json()["data"]
        deadline = time.monotonic() + 10
        while job["status"] not in ("completed", "failed") and time.monotonic() < deadline:
            time.sleep(0.05)
            job = api.get(f"/v1/exports/{job['id']}").json()["data"]
        assert job["status"] == "completed", job
    return server.data_dir / "exports" / f"{job['id']}.jsonl"


def test_a_fresh_data_directory_is_private(tmp_path):
    server = GethookServer(tmp_path / "data").start()
    try:
        export_file = make_export(server)
        data = server.data_dir
        assert mode(data) == 0o700
        assert mode(data / "exports") == 0o700
        for name in ("gethook.db", "gethook.db-wal", "gethook.db-shm", "secret.key"):
            assert mode(data / name) == 0o600, name
        assert mode(export_file) == 0o600
    finally:
        server.stop()


def test_files_left_readable_are_tightened_at_start(tmp_path):
    data = tmp_path / "data"
    (data / "exports").mkdir(parents=True)
    sqlite3.connect(data / "gethook.db").close()  # an empty database, as an old version left
    (data / "exports" / "exp_old.csv").write_text("id\n")
    for path, old in (
        (data, 0o755),
        (data / "exports", 0o755),
        (data / "gethook.db", 0o644),
        (data / "exports" / "exp_old.csv", 0o644),
    ):
        path.chmod(old)
    server = GethookServer(data).start()
    try:
        assert mode(data) == 0o700 and mode(data / "exports") == 0o700
        assert mode(data / "gethook.db") == 0o600
        assert mode(data / "exports" / "exp_old.csv") == 0o600
        assert mode(data / "gethook.db-wal") == 0o600
    finally:
        server.stop()
