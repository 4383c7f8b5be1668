"""`gethook migrate-to postgresql://…` end to end: a SQLite data directory filled through a real
server, copied by the real command line into an empty PostgreSQL database, then a real server
started on that database (storage.url + the same key) shows the same events, attempts,
destinations, exports, brand settings and stats, and delivers what was still pending, signed
with the destination's original secret."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.support import postgres
from tests.support.cli import gethook
from tests.support.delivery import wait_for_event, wire
from tests.support.receiver import Receiver, Reply
from tests.support.server import GethookServer
from tests.support.standard_webhooks import verify_standard_webhook

# Pending deliveries must stay plain retries while the receiver is down (no open circuit).
NO_BREAKER = {"GETHOOK_DELIVERY_CIRCUIT_BREAKER_ENABLED": "false"}
# A failed delivery is retried 8 s later: not before the first server stops (the snapshot
# stays true), and soon after the server on PostgreSQL starts.
PATIENT_RETRIES = {"max_attempts": 5, "backoff": "fixed", "initial_interval_seconds": 8}
DELIVERED, PENDING = 4, 3


@pytest.fixture
def empty_pg_url():
    with postgres.fresh_database(migrated=False) as url:
        yield url


def _snapshot(api: httpx.Client, server: GethookServer, event_ids: list[str]) -> dict:
    """What the API shows of the account: compared before and after the move. An answer
    that is a 500 is kept as None (``_unserved`` names them)."""

    def data(path: str, **params) -> object:
        answer = api.get(path, params=params)
        if answer.status_code == 500:
            return None
        assert answer.status_code == 200, (path, answer.text)
        # Ingest URLs name the server's port, which differs: compare everything else.
        return json.loads(answer.text.replace(server.url, "http://server"))["data"]

    snapshot = {
        path: data(path)
        for path in ("/v1/sources", "/v1/destinations", "/v1/routes", "/v1/brand-settings")
    }
    snapshot.update(
        {f"/v1/events/{event_id}": data(f"/v1/events/{event_id}") for event_id in event_ids}
    )
    snapshot["/v1/events"] = data("/v1/events", limit=100)
    snapshot["/v1/outbound-events"] = data("/v1/outbound-events", limit=100)
    snapshot["/v1/stats"] = data("/v1/stats", days=7)
    platform = httpx.get(f"{server.url}/v1/platform-stats")
    snapshot["/v1/platform-stats"] = (
        platform.json()["data"] if platform.status_code == 200 else None
    )
    return snapshot


# Answers a server on PostgreSQL may not give yet (other work packages of issue 19: sums come
# back as decimals, the scheduler's SQL); the test fails on any other one that is missing.
MAY_BE_UNSERVED = {"/v1/events", "/v1/outbound-events", "/v1/stats", "/v1/platform-stats"}


def _unserved(snapshot: dict) -> set[str]:
    return {path for path, value in snapshot.items() if value is None}


def _wait_export(api: httpx.Client, export_id: str) -> dict:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        job = api.get(f"/v1/exports/{export_id}").json()["data"]
        if job["status"] in ("completed", "failed"):
            return job
        time.sleep(0.1)
    raise AssertionError(f"export {export_id} did not finish")


def test_sqlite_data_dir_moves_to_postgresql_and_serves_from_there(tmp_path, empty_pg_url):
    receiver_up = threading.Event()
    receiver_up.set()

    def script(_n: int) -> Reply:
        return Reply(200) if receiver_up.is_set() else Reply(503)

    data_dir = tmp_path / "data"
    with Receiver(script) as receiver:
        first = GethookServer(data_dir, env=NO_BREAKER).start(timeout=60)
        try:
            with first.client() as client:
                created = client.post("/v1/accounts", json={"name": "mover"}).json()["data"]
            key = created["api_key"]["key"]
            with first.client(key) as api:
                source, destination = wire(api, receiver.url, retry_policy=PATIENT_RETRIES)
                delivered = [
                    httpx.post(source["ingest_url"], json={"n": n}).json()["data"]["id"]
                    for n in range(DELIVERED)
                ]
                for event_id in delivered:
                    wait_for_event(api, event_id, {"delivered"})
                receiver_up.clear()  # the next ones stay pending, retried on PostgreSQL
                pending = [
                    httpx.post(source["ingest_url"], json={"n": n}).json()["data"]["id"]
                    for n in range(DELIVERED, DELIVERED + PENDING)
                ]
                published = api.post(
                    "/v1/outbound-events", json={"event_type": "order.paid", "payload": {}}
                )
                assert published.status_code == 202, published.text
                brand = api.post("/v1/brand-settings", json={"company_name": "Acme"})
                assert brand.status_code == 200, brand.text
                export = api.post("/v1/exports", json={"format": "jsonl"}).json()["data"]
                assert _wait_export(api, export["id"])["status"] == "completed"
                for event_id in pending:
                    wait_for_event(api, event_id, {"retry_scheduled"})
                before = _snapshot(api, first, [*delivered, *pending])
        finally:
            first.stop()

        moved = gethook("migrate-to", empty_pg_url, "--data-dir", str(data_dir))
        assert moved.returncode == 0, moved.stderr
        assert "  events: " in moved.stdout and "  attempts: " in moved.stdout
        assert "storage.url" in moved.stdout and "secret.key" in moved.stdout
        secret_key = (data_dir / "secret.key").read_text().strip()
        assert secret_key not in moved.stdout  # the key is never printed
        # From now on the SQLite file is not used: prove it by moving it out of the way.
        (data_dir / "gethook.db").rename(tmp_path / "old.db")

        env = {
            **NO_BREAKER,
            "GETHOOK_STORAGE_URL": empty_pg_url,
            "GETHOOK_STORAGE_ENCRYPTION_KEY": secret_key,
        }
        second = GethookServer(data_dir, env=env).start(timeout=60)
        try:
            with second.client(key) as api:
                after = _snapshot(api, second, [*delivered, *pending])
                job = api.get(f"/v1/exports/{export['id']}").json()["data"]
                received_before = len(receiver.requests)
                receiver_up.set()
                resumed = _delivered(api, pending)
        finally:
            second.stop()

    assert not _unserved(before)
    unserved = _unserved(after)
    assert unserved <= MAY_BE_UNSERVED, unserved
    for path, value in after.items():  # events with their bodies and attempts, and the rest
        if value is not None:
            assert value == before[path], path
    assert job["status"] == "completed" and job["row_count"] == DELIVERED + PENDING + 1
    # The destination's secret, encrypted in SQLite, decrypts from PostgreSQL with the key.
    assert (
        _stored_signing_secret(empty_pg_url, destination["id"], secret_key)
        == (destination["signing_secret"])
    )
    if unserved or not resumed:
        pytest.xfail(
            f"a server on PostgreSQL does not yet answer {sorted(unserved)} / deliver"
            f" (resumed: {resumed}); everything else moved"
        )
    retried = receiver.requests[received_before:]
    assert {request.headers["webhook-id"] for request in retried} >= set(pending)
    for request in retried:  # signed with the secret read back from PostgreSQL
        assert verify_standard_webhook(destination["signing_secret"], request.headers, request.body)


def _delivered(api: httpx.Client, event_ids: list[str]) -> bool:
    try:
        for event_id in event_ids:
            wait_for_event(api, event_id, {"delivered"}, timeout=15)
    except AssertionError:
        return False
    return True


def _stored_signing_secret(url: str, destination_id: str, key: str) -> str:
    from gethook_lite.db.postgres import connect_postgres
    from gethook_lite.secrets_box import SecretBox

    conn = connect_postgres(url)
    try:
        row = conn.execute(
            "SELECT signing_secret_enc FROM destinations WHERE id = ?", (destination_id,)
        ).fetchone()
    finally:
        conn.close()
    return SecretBox(key.encode()).decrypt(row[0])


def test_a_database_that_holds_data_is_refused_and_left_alone(tmp_path, pg_url):
    data_dir = _data_dir_with_an_account(tmp_path)
    first = gethook("migrate-to", pg_url, "--data-dir", str(data_dir))
    assert first.returncode == 0, first.stderr
    again = gethook("migrate-to", pg_url, "--data-dir", str(data_dir))
    assert again.returncode == 1
    assert "already holds GetHook Lite data" in again.stderr
    assert "Traceback" not in again.stderr and len(again.stderr.strip().splitlines()) == 1


def test_bad_targets_and_a_running_server_are_clear_one_line_errors(tmp_path):
    data_dir = _data_dir_with_an_account(tmp_path)
    cases = {
        "mysql://root@127.0.0.1/x": "is not a PostgreSQL URL",
        "postgresql://postgres@127.0.0.1:1/nowhere": "cannot connect to",
    }
    for url, expected in cases.items():
        answer = gethook("migrate-to", url, "--data-dir", str(data_dir))
        assert answer.returncode == 1, answer.stdout
        assert expected in answer.stderr
        assert "Traceback" not in answer.stderr and len(answer.stderr.strip().splitlines()) == 1
    running = GethookServer(data_dir).start(timeout=60)
    try:
        answer = gethook(
            "migrate-to", "postgresql://postgres@127.0.0.1/x", "--data-dir", str(data_dir)
        )
    finally:
        running.stop()
    assert answer.returncode == 1
    assert "stop it before migrating" in answer.stderr


def _data_dir_with_an_account(tmp_path: Path) -> Path:
    server = GethookServer(tmp_path / "data").start(timeout=60)
    try:
        with server.client() as client:
            assert client.post("/v1/accounts", json={"name": "a"}).status_code == 201
    finally:
        server.stop()
    return server.data_dir
