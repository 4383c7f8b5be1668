"""Claiming ahead (delivery/scheduler.py, SQLite): a destination whose slots are all in use
leases as many deliveries again, which go out as answers free the slots. Measured at a real
receiver: never more requests at once than the cap, and nothing claimed ahead gets past a
pause."""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Callable, Iterator

import httpx

from tests.support.delivery import wait_for_event
from tests.support.receiver import Receiver, Reply
from tests.support.server import GethookServer

CAP = 2


@contextlib.contextmanager
def _serving(tmp_path, **env: str) -> Iterator[tuple[GethookServer, httpx.Client]]:
    """A server whose destinations take CAP requests at once (and ``env``), and a client of
    a new account on it."""
    env = {"GETHOOK_DELIVERY_PER_DESTINATION_CONCURRENCY": str(CAP), **env}
    server = GethookServer(tmp_path / "data", env=env).start()
    try:
        with server.client(_account(server)) as api:
            yield server, api
    finally:
        server.stop()


def _wire(api: httpx.Client, url: str) -> tuple[str, str]:
    source = api.post("/v1/sources", json={"name": "src"}).json()["data"]
    destination = api.post("/v1/destinations", json={"name": "dst", "url": url}).json()["data"]
    answer = api.post(
        "/v1/routes", json={"source_id": source["id"], "destination_id": destination["id"]}
    )
    assert answer.status_code == 201, answer.text
    return source["ingest_url"], destination["id"]


def _ingest(ingest_url: str, count: int) -> list[str]:
    with httpx.Client() as client:
        return [client.post(ingest_url, json={"n": n}).json()["data"]["id"] for n in range(count)]


def _deliveries_by_status(server: GethookServer) -> dict[str, int]:
    uri = f"{(server.data_dir / 'gethook.db').as_uri()}?mode=ro"
    with contextlib.closing(sqlite3.connect(uri, uri=True)) as conn:
        return dict(conn.execute("SELECT status, count(*) FROM deliveries GROUP BY status"))


def _until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def _account(server: GethookServer) -> str:
    with server.client() as client:
        answer = client.post("/v1/accounts", json={"name": "ahead"})
        return answer.json()["data"]["api_key"]["key"]


def test_claims_made_ahead_wait_for_a_free_slot(tmp_path):
    with (
        _serving(tmp_path) as (server, api),
        Receiver(lambda n: Reply(delay=0.4)) as receiver,
    ):
        ingest_url, _ = _wire(api, receiver.url)
        ids = _ingest(ingest_url, 8)
        _until(lambda: receiver.in_flight == CAP)
        # Two on the wire and two more leased, waiting for their slots.
        _until(lambda: _deliveries_by_status(server).get("in_flight") == 2 * CAP)
        for event_id in ids:
            wait_for_event(api, event_id, {"delivered"})
        assert len(receiver.requests) == 8
        assert receiver.peak_in_flight == CAP


def test_a_pause_holds_what_was_claimed_ahead(tmp_path):
    with (
        _serving(tmp_path) as (server, api),
        Receiver(lambda n: Reply(delay=0.6)) as receiver,
    ):
        ingest_url, destination_id = _wire(api, receiver.url)
        ids = _ingest(ingest_url, 6)
        _until(lambda: _deliveries_by_status(server).get("in_flight") == 2 * CAP)
        answer = api.post(f"/v1/destinations/{destination_id}/pause")
        assert answer.status_code < 300, answer.text
        # The two on the wire finish; the two claimed ahead are held with the rest.
        _until(lambda: _deliveries_by_status(server).get("succeeded") == CAP)
        time.sleep(0.8)
        assert len(receiver.requests) == CAP
        assert _deliveries_by_status(server) == {"succeeded": CAP, "held": 6 - CAP}
        api.post(f"/v1/destinations/{destination_id}/resume").raise_for_status()
        for event_id in ids:
            wait_for_event(api, event_id, {"delivered"})
        assert len(receiver.requests) == 6
        assert receiver.peak_in_flight == CAP


def test_what_one_destination_has_waiting_never_takes_its_accounts_slots(tmp_path):
    # An account of four slots, two destinations of two: the slow one's claims made ahead
    # must leave the account's other two slots to the other destination at once, not after
    # the slow one's next answer.
    per_account = {"GETHOOK_DELIVERY_PER_ACCOUNT_CONCURRENCY": str(2 * CAP)}
    with (
        _serving(tmp_path, **per_account) as (server, api),
        Receiver(lambda n: Reply(delay=3.0)) as slow,
        Receiver() as quick,
    ):
        busy_url, _ = _wire(api, slow.url)
        _ingest(busy_url, 6)
        _until(lambda: _deliveries_by_status(server).get("in_flight") == 2 * CAP)
        other_url, _ = _wire(api, quick.url)
        started = time.monotonic()
        [event_id] = _ingest(other_url, 1)
        wait_for_event(api, event_id, {"delivered"}, timeout=5)
        assert time.monotonic() - started < 1.5
        assert len(slow.requests) == CAP  # the slow one's first answers are still due
