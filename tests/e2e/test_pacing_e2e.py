"""Destination pacing end to end: a real server, real local receivers, rates and order
measured where they matter, at the receiver."""

from __future__ import annotations

import time

import httpx

from tests.support.delivery import wait_for_event
from tests.support.receiver import Receiver, Reply

QUICK_RETRIES = {"max_attempts": 5, "backoff": "fixed", "initial_interval_seconds": 0.2}


def wire(api: httpx.Client, url: str, **fields) -> tuple[str, dict]:
    """A new source routed to a new destination with ``fields``; (ingest URL, destination)."""
    source = api.post("/v1/sources", json={"name": "src"}).json()["data"]
    answer = api.post("/v1/destinations", json={"name": "dst", "url": url, **fields})
    assert answer.status_code == 201, answer.text
    destination = answer.json()["data"]
    api.post(
        "/v1/routes",
        json={
            "source_id": source["id"],
            "destination_id": destination["id"],
            "retry_policy": QUICK_RETRIES,
        },
    ).raise_for_status()
    return source["ingest_url"], destination


def send(ingest_url: str, count: int, start: int = 0) -> list[str]:
    with httpx.Client() as client:
        return [
            client.post(ingest_url, json={"n": n}).json()["data"]["id"]
            for n in range(start, start + count)
        ]


def test_rate_limit_is_never_exceeded_at_the_receiver(server, account_key):
    rate, count = 20, 60
    with Receiver() as receiver, server.client(account_key) as api:
        ingest_url, _ = wire(api, receiver.url, rate_limit={"per_second": rate})
        send(ingest_url, count)
        arrivals = [request.at for request in receiver.wait_for(count, timeout=9)]
    burst = 2  # a tenth of a second's worth (delivery/pacing.py BURST_SECONDS)
    busiest = max(sum(1 for t in arrivals if start <= t < start + 1.0) for start in arrivals)
    # One more for the arrival jitter of a loaded machine (a request delayed on its way lets
    # the window starting at it reach one token further).
    assert busiest <= rate + burst + 1, busiest
    assert arrivals[-1] - arrivals[0] >= (count - burst) / rate - 0.15


def test_max_concurrency_is_never_exceeded_at_the_receiver(server, account_key):
    with Receiver(lambda n: Reply(delay=0.2)) as receiver, server.client(account_key) as api:
        ingest_url, _ = wire(api, receiver.url, max_concurrency=2)
        send(ingest_url, 10)
        receiver.wait_for(10, timeout=8)
    assert receiver.peak_in_flight == 2


def test_retry_after_pauses_the_destination_while_another_keeps_flowing(server, account_key):
    wait = Reply(429, headers={"Retry-After": "2"})
    with (
        Receiver(lambda n: wait if n == 1 else Reply()) as asked,
        Receiver() as other,
        server.client(account_key) as api,
    ):
        asked_ingest, _ = wire(api, asked.url)
        other_ingest, _ = wire(api, other.url)
        send(asked_ingest, 1)
        asked.wait_for(1)
        send(asked_ingest, 4, start=1)
        started = time.monotonic()
        send(other_ingest, 5)
        other.wait_for(5, timeout=1.5)
        assert time.monotonic() - started < 1.5
        assert len(asked.requests) == 1  # the destination waits out its Retry-After
        later = asked.wait_for(6, timeout=5)
    assert later[1].at - later[0].at >= 1.9


def test_fifo_delivers_in_event_order_behind_a_failing_first(server, account_key):
    with (
        Receiver(lambda n: Reply(500) if n <= 2 else Reply()) as receiver,
        server.client(account_key) as api,
    ):
        ingest_url, _ = wire(api, receiver.url, ordering="fifo")
        events = send(ingest_url, 6)
        for event_id in events:
            wait_for_event(api, event_id, {"delivered"}, timeout=8)
    order = [request.body for request in receiver.requests]
    assert order == [b'{"n":0}'] * 3 + [b'{"n":%d}' % n for n in range(1, 6)]


def test_a_waiting_paced_backlog_does_not_delay_another_destinations_retry(server, account_key):
    with (
        Receiver() as held,
        Receiver(lambda n: Reply(500) if n == 1 else Reply()) as flaky,
        server.client(account_key) as api,
    ):
        held_ingest, _ = wire(api, held.url, rate_limit={"per_minute": 1})
        flaky_ingest, _ = wire(api, flaky.url)
        send(held_ingest, 5)  # one goes; four stay due for a minute, waiting for a token
        held.wait_for(1)
        send(flaky_ingest, 1)
        first, retry = flaky.wait_for(2, timeout=5)[:2]
    # The retry is due 0.16 to 0.24 s later: the scheduler wakes for it, not at its 1 s poll.
    assert retry.at - first.at < 0.7
    assert len(held.requests) == 1
