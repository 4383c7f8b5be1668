"""One account's hanging receivers do not take delivery away from another account.

A real server with few delivery slots (so the tests are fast) and real local receivers that
accept a request and never answer within the attempt's timeout.
"""

from __future__ import annotations

import time

import httpx
import pytest

from tests.support.delivery import FAST_RETRIES, wait_for_event
from tests.support.receiver import Receiver, Reply
from tests.support.server import GethookServer

SLOTS = {
    "GETHOOK_DELIVERY_CONCURRENCY": "8",
    "GETHOOK_DELIVERY_PER_ACCOUNT_CONCURRENCY": "4",
    "GETHOOK_DELIVERY_PER_DESTINATION_CONCURRENCY": "2",
}
HANG = Reply(200, delay=30)  # released when the receiver closes at the end of the test
ONE_ATTEMPT = {"max_attempts": 1}


@pytest.fixture
def server(tmp_path):
    running = GethookServer(tmp_path / "data", env=SLOTS).start()
    yield running
    running.stop()


def new_api(server: GethookServer, name: str) -> httpx.Client:
    with server.client() as client:
        answer = client.post("/v1/accounts", json={"name": name})
        assert answer.status_code == 201, answer.text
        key = answer.json()["data"]["api_key"]["key"]
    return server.client(key)


def source_to(api: httpx.Client, urls: list[str], timeout_seconds: int, policy: dict) -> str:
    """A source routed to one new destination per URL; returns its ingest URL."""
    source = api.post("/v1/sources", json={"name": "src"}).json()["data"]
    for url in urls:
        destination = api.post(
            "/v1/destinations", json={"name": "d", "url": url, "timeout_seconds": timeout_seconds}
        ).json()["data"]
        api.post(
            "/v1/routes",
            json={
                "source_id": source["id"],
                "destination_id": destination["id"],
                "retry_policy": policy,
            },
        ).raise_for_status()
    return source["ingest_url"]


def test_hanging_destinations_of_one_account_leave_slots_for_another(server):
    with (
        Receiver(lambda n: HANG) as stuck_1,
        Receiver(lambda n: HANG) as stuck_2,
        Receiver(lambda n: HANG) as stuck_3,
        Receiver(lambda n: HANG) as stuck_4,
        Receiver() as healthy,
        new_api(server, "noisy") as noisy,
        new_api(server, "victim") as victim,
    ):
        stuck = (stuck_1, stuck_2, stuck_3, stuck_4)

        def hanging_requests() -> int:
            return sum(len(receiver.requests) for receiver in stuck)

        # Four hanging destinations (on four hosts) at two slots each could hold all eight.
        noisy_ingest = source_to(
            noisy, [receiver.url for receiver in stuck], timeout_seconds=5, policy=ONE_ATTEMPT
        )
        victim_ingest = source_to(victim, [healthy.url], timeout_seconds=5, policy=ONE_ATTEMPT)
        for n in range(6):
            httpx.post(noisy_ingest, json={"n": n}).raise_for_status()
        deadline = time.monotonic() + 5
        while hanging_requests() < 4 and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.3)  # long enough for more to start, were the account not capped

        sent = time.monotonic()
        httpx.post(victim_ingest, json={"hello": 1}).raise_for_status()
        healthy.wait_for(1, timeout=1.5)
        assert time.monotonic() - sent < 1.0
        assert hanging_requests() == 4, "the account holds more than its 4 slots"


def test_hanging_path_does_not_time_out_another_account_on_the_same_host(server):
    with (
        Receiver(paths={"/hang": HANG}) as shared,
        new_api(server, "noisy") as noisy,
        new_api(server, "victim") as victim,
    ):
        noisy_ingest = source_to(
            noisy, [shared.url_for("/hang")], timeout_seconds=10, policy=ONE_ATTEMPT
        )
        victim_ingest = source_to(
            victim, [shared.url_for("/ok")], timeout_seconds=1, policy=FAST_RETRIES
        )
        for n in range(4):
            httpx.post(noisy_ingest, json={"n": n}).raise_for_status()
        deadline = time.monotonic() + 5
        while len(shared.received("/hang")) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(shared.received("/hang")) == 2  # its destination's two slots, held

        events = [httpx.post(victim_ingest, json={"n": n}).json()["data"]["id"] for n in range(5)]
        for event_id in events:
            detail = wait_for_event(victim, event_id, {"delivered", "dead_letter"})
            outcomes = [attempt["outcome"] for attempt in detail["attempts"]]
            assert outcomes == ["success"], outcomes
        assert len(shared.received("/ok")) == 5
