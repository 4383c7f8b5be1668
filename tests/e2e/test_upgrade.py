"""Upgrades: a database made by the first release's schema (migration 0001 alone) keeps its
data under the current code, which delivers what was left pending; a database written by a
newer build is refused, unchanged, by `serve` and `migrate`; `migrate --check` reports."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import sys
import time
from importlib import resources
from pathlib import Path

from cryptography.fernet import Fernet

from gethook_lite.db.database import known_migrations
from gethook_lite.delivery.signing import generate_signing_secret
from gethook_lite.ids import new_id
from gethook_lite.secrets_box import generate_api_key, hash_api_key, key_prefix
from tests.support.delivery import wait_for_event
from tests.support.receiver import Receiver
from tests.support.server import GethookServer

FAST = {"max_attempts": 5, "backoff": "fixed", "initial_interval_seconds": 0.2}


def gethook(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "gethook_lite", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ},
    )


def first_release_database(path: Path) -> None:
    """The schema as the first release created it: migration 0001 and its bookkeeping."""
    folder = resources.files("gethook_lite.db") / "migrations" / "sqlite"
    sql = (folder / "0001_initial.sql").read_text()
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.executescript(sql)
        conn.execute(
            "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at REAL)"
        )
        conn.execute("INSERT INTO schema_migrations VALUES (1, ?)", (time.time() - 86400,))
    conn.close()


class OldData:
    """What a first-release instance held, inserted with the SQL of that schema."""

    def __init__(self, data_dir: Path, receiver_url: str) -> None:
        self.key = generate_api_key()
        self.account = new_id("acct")
        self.source = new_id("src")
        self.path_token = "tok" + hashlib.sha256(self.source.encode()).hexdigest()[:29]
        self.destination = new_id("dest")
        self.route = new_id("route")
        self.delivered_event = new_id("evt")
        self.pending_event = new_id("evt")
        self.attempt = new_id("att")
        self.receiver_url = receiver_url
        fernet_key = Fernet.generate_key()
        (data_dir / "secret.key").write_bytes(fernet_key)
        self.signing_secret_enc = Fernet(fernet_key).encrypt(generate_signing_secret().encode())

    def insert(self, database: Path) -> None:
        now = time.time()
        then = now - 3600
        headers = json.dumps({"content-type": "application/json"})
        with sqlite3.connect(database) as conn:
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute(
                "INSERT INTO accounts VALUES (?, 'Old Co', NULL, NULL, 30, ?)",
                (self.account, then),
            )
            conn.execute(
                "INSERT INTO api_keys VALUES (?, ?, NULL, 'bootstrap', 'admin', ?, ?, ?, NULL)",
                (new_id("key"), self.account, key_prefix(self.key), hash_api_key(self.key), then),
            )
            conn.execute(
                "INSERT INTO sources VALUES (?, ?, 'shop', ?, 'active', 'none', NULL, NULL,"
                " NULL, ?, NULL)",
                (self.source, self.account, self.path_token, then),
            )
            conn.execute(
                "INSERT INTO destinations VALUES (?, ?, 'app', ?, 1, 5, NULL, NULL, NULL, ?,"
                " NULL, NULL, ?, ?, NULL)",
                (
                    self.destination,
                    self.account,
                    self.receiver_url,
                    self.signing_secret_enc.decode(),
                    then,
                    then,
                ),
            )
            conn.execute(
                "INSERT INTO routes VALUES (?, ?, ?, ?, NULL, ?, 1, ?, NULL)",
                (
                    self.route,
                    self.account,
                    self.source,
                    self.destination,
                    json.dumps(
                        {
                            "max_attempts": 5,
                            "backoff": "fixed",
                            "initial_interval_seconds": 0.2,
                            "max_interval_seconds": 36000.0,
                        }
                    ),
                    then,
                ),
            )
            for event_id, status, final, body in (
                (self.delivered_event, "delivered", "delivered", b'{"n": 1}'),
                (self.pending_event, "queued", None, b'{"n": 2}'),
            ):
                conn.execute(
                    "INSERT INTO events (id, account_id, direction, source_id, event_type,"
                    " external_event_id, payload_hash, content_type, headers, body, status,"
                    " attempts_count, next_attempt_at, final_state, created_by, received_at,"
                    " created_at) VALUES (?, ?, 'inbound', ?, 'order.paid', ?, ?,"
                    " 'application/json', ?, ?, ?, ?, ?, ?, 'ingest', ?, ?)",
                    (
                        event_id,
                        self.account,
                        self.source,
                        "ext-" + event_id,
                        hashlib.sha256(body).hexdigest(),
                        headers,
                        body,
                        status,
                        1 if final else 0,
                        None if final else then,
                        final,
                        then,
                        then,
                    ),
                )
            delivered = conn.execute(
                "INSERT INTO deliveries (event_id, account_id, destination_id, route_id, status,"
                " attempts_count, next_attempt_at, last_outcome, created_at, finished_at)"
                " VALUES (?, ?, ?, ?, 'succeeded', 1, NULL, 'success', ?, ?)",
                (self.delivered_event, self.account, self.destination, self.route, then, then),
            ).lastrowid
            conn.execute(
                "INSERT INTO deliveries (event_id, account_id, destination_id, route_id, status,"
                " attempts_count, next_attempt_at, created_at) VALUES (?, ?, ?, ?, 'pending', 0,"
                " ?, ?)",
                (self.pending_event, self.account, self.destination, self.route, then, then),
            )
            conn.execute(
                "INSERT INTO attempts VALUES (?, ?, ?, ?, 1, ?, ?, 200, 'ok', NULL, 12.5,"
                " 'success')",
                (self.attempt, self.delivered_event, delivered, self.destination, then, then),
            )
        conn.close()


def test_first_release_database_keeps_its_data_and_delivers(tmp_path):
    data_dir = tmp_path / "data"
    data_dir.mkdir(mode=0o700)
    database = data_dir / "gethook.db"
    first_release_database(database)
    with Receiver() as receiver:
        old = OldData(data_dir, receiver.url + "/hook")
        old.insert(database)

        check = gethook("migrate", "--check", "--data-dir", str(data_dir))
        assert check.returncode == 1, check.stderr
        assert "0002" in check.stdout and "0001" not in check.stdout

        server = GethookServer(data_dir).start()
        try:
            with server.client(old.key) as api:
                # The pending delivery left by the old release goes out after the upgrade.
                detail = wait_for_event(api, old.pending_event, {"delivered"})
                assert detail["attempts"][0]["response_status"] == 200
                assert [r.body for r in receiver.requests] == [b'{"n": 2}']
                # What was delivered before is all there: event, body, attempt.
                done = api.get(f"/v1/events/{old.delivered_event}").json()["data"]
                assert done["event"]["status"] == "delivered"
                assert [a["id"] for a in done["attempts"]] == [old.attempt]
                listed = api.get("/v1/events").json()
                assert {e["id"] for e in listed["data"]["items"]} == {
                    old.delivered_event,
                    old.pending_event,
                }
                assert api.get(f"/v1/destinations/{old.destination}").status_code == 200
                # New ingest through the old source's URL is delivered too.
                accepted = server_ingest(server, old.path_token, b'{"n": 3}')
                wait_for_event(api, accepted, {"delivered"})
                assert receiver.requests[-1].body == b'{"n": 3}'
        finally:
            server.stop()

    check = gethook("migrate", "--check", "--data-dir", str(data_dir))
    assert check.returncode == 0 and "up to date" in check.stdout, check
    with sqlite3.connect(database) as conn:
        versions = [row[0] for row in conn.execute("SELECT version FROM schema_migrations")]
    conn.close()
    assert versions == known_migrations()


def server_ingest(server: GethookServer, path_token: str, body: bytes) -> str:
    with server.client() as client:
        answer = client.post(
            f"/ingest/{path_token}", content=body, headers={"content-type": "application/json"}
        )
    assert answer.status_code == 202, answer.text
    return answer.json()["data"]["id"]


def _dump(database: Path) -> list[str]:
    with sqlite3.connect(database) as conn:
        lines = list(conn.iterdump())
    conn.close()
    return lines


def test_database_from_a_newer_build_is_refused_unchanged(tmp_path):
    data_dir = tmp_path / "data"
    assert gethook("migrate", "--data-dir", str(data_dir)).returncode == 0
    database = data_dir / "gethook.db"
    newer = max(known_migrations()) + 1
    with sqlite3.connect(database) as conn:
        conn.execute("CREATE TABLE from_the_future (x)")
        conn.execute("INSERT INTO schema_migrations VALUES (?, ?)", (newer, time.time()))
    conn.close()
    before = _dump(database)

    for command in (("serve", "--port", "1"), ("migrate",), ("migrate", "--check")):
        result = gethook(*command, "--data-dir", str(data_dir))
        assert result.returncode == (3 if "--check" in command else 1), result
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert f"schema version {newer}" in lines[0] and "newer GetHook Lite" in lines[0]
    assert _dump(database) == before


def test_migrate_check_on_a_fresh_and_a_current_data_dir(tmp_path):
    data_dir = tmp_path / "data"
    fresh = gethook("migrate", "--check", "--data-dir", str(data_dir))
    assert fresh.returncode == 1 and "no database" in fresh.stdout, fresh
    assert not data_dir.exists()  # a check creates nothing
    assert gethook("migrate", "--data-dir", str(data_dir)).returncode == 0
    current = gethook("migrate", "--check", "--data-dir", str(data_dir))
    assert current.returncode == 0 and "up to date" in current.stdout, current


def test_migrate_waits_for_a_stopped_server_but_check_works_beside_it(tmp_path):
    server = GethookServer(tmp_path / "data").start()
    try:
        applied = gethook("migrate", "--data-dir", str(server.data_dir))
        assert applied.returncode == 1 and "another gethook process" in applied.stderr
        check = gethook("migrate", "--check", "--data-dir", str(server.data_dir))
        assert check.returncode == 0 and "up to date" in check.stdout, check
    finally:
        server.stop()
