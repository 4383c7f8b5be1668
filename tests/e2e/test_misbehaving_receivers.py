"""Receivers that misbehave: the gateway records what happened and keeps delivering."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.support.delivery import wait_for_event, wire
from tests.support.receiver import Receiver, Reply

ONE_ATTEMPT = {"max_attempts": 1}


@pytest.fixture
def api(server, account_key):
    with server.client(account_key) as client:
        yield client


FINISHED = frozenset({"dead_letter", "delivered"})


def deliver_once(api, reply: Reply, statuses=FINISHED, **wire_options):
    with Receiver(lambda n: reply) as receiver:
        source, _ = wire(api, receiver.url, retry_policy=ONE_ATTEMPT, **wire_options)
        event_id = httpx.post(source["ingest_url"], json={"type": "x"}).json()["data"]["id"]
        detail = wait_for_event(api, event_id, statuses)
        return detail, receiver


def test_connection_closed_mid_response_is_a_network_error(api):
    reply = Reply(raw=b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\npartial")
    detail, _ = deliver_once(api, reply)
    attempt = detail["attempts"][0]
    assert attempt["outcome"] == "network_error"
    assert attempt["error_message"]


def test_huge_response_body_is_capped(api):
    detail, _ = deliver_once(api, Reply(200, body=b"x" * 50_000_000))
    attempt = detail["attempts"][0]
    assert attempt["outcome"] == "success"
    assert len(attempt["response_body"]) == 4096


def test_redirects_are_not_followed(api):
    detail, receiver = deliver_once(api, Reply(302, headers={"Location": "http://127.0.0.1:9/"}))
    assert detail["attempts"][0]["outcome"] == "http_4xx"
    assert detail["attempts"][0]["response_status"] == 302
    assert len(receiver.requests) == 1


def test_gone_dead_letters_at_once(api):
    with Receiver(lambda n: Reply(410)) as receiver:
        source, _ = wire(api, receiver.url)  # three attempts allowed
        event_id = httpx.post(source["ingest_url"], json={}).json()["data"]["id"]
        detail = wait_for_event(api, event_id, {"dead_letter"})
        assert [a["response_status"] for a in detail["attempts"]] == [410]


def test_retry_after_on_429_is_honoured(api):
    script = {1: Reply(429, headers={"Retry-After": "1"})}
    with Receiver(lambda n: script.get(n, Reply(200))) as receiver:
        source, _ = wire(api, receiver.url)  # policy waits 0.2 s; the receiver asks for 1 s
        event_id = httpx.post(source["ingest_url"], json={}).json()["data"]["id"]
        wait_for_event(api, event_id, {"delivered"})
        first, second = receiver.requests[:2]
        assert second.at - first.at >= 0.95


def test_one_hanging_destination_does_not_starve_the_others(api):
    events = 80
    with Receiver(lambda n: Reply(200, delay=4)) as stuck, Receiver() as healthy:
        source, _ = wire(api, stuck.url, timeout_seconds=10)
        destination = api.post("/v1/destinations", json={"name": "ok", "url": healthy.url})
        api.post(
            "/v1/routes",
            json={"source_id": source["id"], "destination_id": destination.json()["data"]["id"]},
        ).raise_for_status()
        started = time.monotonic()
        with httpx.Client() as client:
            for n in range(events):
                client.post(source["ingest_url"], json={"n": n}).raise_for_status()
        healthy.wait_for(events, timeout=10)
        assert time.monotonic() - started < 8
        # The stuck destination holds at most its per-destination share of connections.
        assert len(stuck.requests) <= 32
