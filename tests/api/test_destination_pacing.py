"""Destination pacing through the API with the fake clock and real local receivers: the
fields and their validation, the rate limit, FIFO order on a destination and on a route."""

from __future__ import annotations

import itertools

import pytest

from tests.support.api import (
    create_destination,
    create_route,
    drain,
    event_detail,
    ingest,
    make_source,
)
from tests.support.receiver import Receiver, Reply

# Jitter only shortens a wait at the cap: every retry falls due 0.8 to 1 s later.
RETRY_1S = {
    "max_attempts": 5,
    "backoff": "fixed",
    "initial_interval_seconds": 1,
    "max_interval_seconds": 1,
}


destination = create_destination


def route(client, auth, destination_id, source_id, retry_policy=None, **fields) -> dict:
    return create_route(client, auth, destination_id, source_id, retry_policy or RETRY_1S, **fields)


def bodies(receiver: Receiver) -> list[bytes]:
    return [request.body for request in receiver.requests]


# -- fields ----------------------------------------------------------------------------------


def test_pacing_fields_default_to_none(client, auth):
    created = destination(client, auth)
    assert (created["rate_limit"], created["max_concurrency"], created["ordering"]) == (
        None,
        None,
        "none",
    )


def test_pacing_fields_are_stored_read_and_cleared(client, auth):
    created = destination(
        client, auth, rate_limit={"per_minute": 30}, max_concurrency=2, ordering="fifo"
    )
    assert created["rate_limit"] == {"per_minute": 30}
    path = f"/v1/destinations/{created['id']}"
    read = client.get(path, headers=auth).json()["data"]
    assert (read["rate_limit"], read["max_concurrency"], read["ordering"]) == (
        {"per_minute": 30},
        2,
        "fifo",
    )
    patched = client.patch(path, json={"rate_limit": {"per_second": 5}}, headers=auth)
    assert patched.json()["data"]["rate_limit"] == {"per_second": 5}
    assert patched.json()["data"]["max_concurrency"] == 2  # untouched
    cleared = client.patch(
        path, json={"rate_limit": None, "max_concurrency": None, "ordering": "none"}, headers=auth
    ).json()["data"]
    assert (cleared["rate_limit"], cleared["max_concurrency"], cleared["ordering"]) == (
        None,
        None,
        "none",
    )


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"rate_limit": {"per_second": 0}}, "rate_limit.per_second"),
        ({"rate_limit": {"per_second": 10_001}}, "rate_limit.per_second"),
        ({"rate_limit": {"per_minute": 1.5}}, "rate_limit.per_minute"),
        ({"rate_limit": {"per_hour": 5}}, "rate_limit"),
        ({"rate_limit": {"per_second": 1, "per_minute": 1}}, "rate_limit"),
        ({"max_concurrency": 0}, "max_concurrency"),
        ({"max_concurrency": 33}, "max_concurrency"),  # above per_destination_concurrency
        ({"ordering": "lifo"}, "ordering"),
    ],
)
def test_invalid_pacing_is_a_400_naming_the_field(client, auth, fields, named):
    body = {"name": "d", "url": "http://127.0.0.1:9/x", **fields}
    answer = client.post("/v1/destinations", json=body, headers=auth)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"].startswith(f"{named}:")
    existing = destination(client, auth)
    answer = client.patch(f"/v1/destinations/{existing['id']}", json=fields, headers=auth)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"].startswith(f"{named}:")


def test_route_ordering_is_stored_and_validated(client, auth):
    target = destination(client, auth)
    created = route(client, auth, target["id"], None, ordering="fifo")
    assert created["ordering"] == "fifo"
    listed = client.get("/v1/routes", headers=auth).json()["data"]
    assert [r["ordering"] for r in listed] == ["fifo"]
    answer = client.post(
        "/v1/routes",
        json={"destination_id": target["id"], "ordering": "sorted"},
        headers=auth,
    )
    assert answer.status_code == 400 and answer.json()["error"].startswith("ordering:")


# -- rate limit (fake clock) -----------------------------------------------------------------


def test_rate_limit_sends_the_burst_then_one_per_token(client, auth, clock):
    with Receiver() as receiver:
        source = make_source(client, auth)
        target = destination(client, auth, receiver.url, rate_limit={"per_second": 10})
        route(client, auth, target["id"], source["id"])
        events = [ingest(client, source, b'{"n": %d}' % n)["id"] for n in range(4)]
        drain(client)
        assert len(receiver.requests) == 1  # burst of 10/s: one token
        # The others wait without an attempt: not failures, their budget untouched.
        waiting = event_detail(client, auth, events[1])
        assert waiting["event"]["status"] == "queued" and waiting["attempts"] == []
        clock.advance(0.05)
        drain(client)
        assert len(receiver.requests) == 1
        clock.advance(0.05)
        drain(client)
        assert len(receiver.requests) == 2
        clock.advance(10)  # idle: the bucket refills to its burst only
        drain(client)
        assert len(receiver.requests) == 3
        clock.advance(0.1)
        drain(client)
        assert len(receiver.requests) == 4
        assert all(event_detail(client, auth, e)["event"]["status"] == "delivered" for e in events)


def test_a_rate_limited_destination_does_not_slow_another(client, auth, clock):
    with Receiver() as slow, Receiver() as other:
        source = make_source(client, auth)
        limited = destination(client, auth, slow.url, rate_limit={"per_minute": 1})
        route(client, auth, limited["id"], source["id"])
        free = destination(client, auth, other.url)
        route(client, auth, free["id"], source["id"])
        for n in range(20):
            ingest(client, source, b'{"n": %d}' % n)
        drain(client)
        assert (len(slow.requests), len(other.requests)) == (1, 20)
        clock.advance(59)
        drain(client)
        assert len(slow.requests) == 1
        clock.advance(1)
        drain(client)
        assert len(slow.requests) == 2


def test_retry_after_slows_the_whole_destination(client, auth, clock):
    busy = Reply(429, headers={"Retry-After": "30"})
    with Receiver(lambda n: busy if n == 1 else Reply()) as receiver, Receiver() as other:
        source = make_source(client, auth)
        target = destination(client, auth, receiver.url)  # no pacing rule of its own
        route(client, auth, target["id"], source["id"])
        free = destination(client, auth, other.url)
        route(client, auth, free["id"], source["id"])
        ingest(client, source, b'{"n": 0}')
        drain(client)
        assert len(receiver.requests) == 1
        for n in range(1, 4):
            ingest(client, source, b'{"n": %d}' % n)
        drain(client)
        assert (len(receiver.requests), len(other.requests)) == (1, 4)
        clock.advance(29)
        drain(client)
        assert len(receiver.requests) == 1
        clock.advance(1.5)
        drain(client)
        assert len(receiver.requests) == 5


# -- FIFO ------------------------------------------------------------------------------------


def test_fifo_destination_goes_in_event_order_a_failure_blocking_the_rest(client, auth, clock):
    with Receiver(lambda n: Reply(500) if n <= 2 else Reply()) as receiver:
        source = make_source(client, auth)
        target = destination(client, auth, receiver.url, ordering="fifo")
        route(client, auth, target["id"], source["id"])
        events = [ingest(client, source, b'{"n": %d}' % n)["id"] for n in range(4)]
        drain(client)
        assert bodies(receiver) == [b'{"n": 0}']
        blocked = event_detail(client, auth, events[2])
        assert blocked["blocked_by"] == [{"destination_id": target["id"], "event_id": events[0]}]
        assert blocked["attempts"] == []
        assert event_detail(client, auth, events[0])["blocked_by"] == []
        clock.advance(1.1)
        drain(client)
        assert bodies(receiver) == [b'{"n": 0}'] * 2
        clock.advance(1.1)
        drain(client)
        assert bodies(receiver) == [b'{"n": 0}'] * 3 + [b'{"n": %d}' % n for n in (1, 2, 3)]
        assert event_detail(client, auth, events[2])["blocked_by"] == []


def test_a_dead_letter_unblocks_the_fifo_queue(client, auth, clock):
    with Receiver(lambda n: Reply(500) if n == 1 else Reply()) as receiver:
        source = make_source(client, auth)
        target = destination(client, auth, receiver.url, ordering="fifo")
        client.post(
            "/v1/routes",
            json={
                "destination_id": target["id"],
                "source_id": source["id"],
                "retry_policy": {"max_attempts": 1},
            },
            headers=auth,
        ).raise_for_status()
        first = ingest(client, source, b'{"n": 0}')["id"]
        ingest(client, source, b'{"n": 1}')
        drain(client)
        assert bodies(receiver) == [b'{"n": 0}', b'{"n": 1}']
        assert event_detail(client, auth, first)["event"]["status"] == "dead_letter"


def test_fifo_route_orders_only_its_own_deliveries(client, auth, clock):
    with Receiver(lambda n: Reply(500) if n == 1 else Reply()) as receiver:
        ordered_source = make_source(client, auth)
        other_source = make_source(client, auth)
        target = destination(client, auth, receiver.url)
        route(client, auth, target["id"], ordered_source["id"], ordering="fifo")
        route(client, auth, target["id"], other_source["id"])
        ingest(client, ordered_source, b'{"fifo": 0}')
        ingest(client, ordered_source, b'{"fifo": 1}')
        drain(client)
        assert bodies(receiver) == [b'{"fifo": 0}']  # failed: the next one waits
        ingest(client, other_source, b'{"free": 0}')
        ingest(client, other_source, b'{"free": 1}')
        drain(client)
        assert sorted(bodies(receiver)[1:]) == [b'{"free": 0}', b'{"free": 1}']
        clock.advance(1.1)
        drain(client)
        assert bodies(receiver)[3:] == [b'{"fifo": 0}', b'{"fifo": 1}']


def test_a_fifo_destination_down_for_three_days_delivers_all_in_order_at_its_rate(
    client, auth, clock
):
    """Scaled down (80 events): nothing lost, no attempt behind the failing head, then the
    whole backlog in event order, never faster than the rate limit."""
    up = False
    with Receiver(lambda n: Reply() if up else Reply(503)) as receiver:
        source = make_source(client, auth)
        target = destination(
            client, auth, receiver.url, ordering="fifo", rate_limit={"per_second": 100}
        )
        # Every 4 h (3.2 to 4 with jitter): at most 23 retries in three days, of 50 allowed.
        four_hourly = {
            "max_attempts": 50,
            "backoff": "fixed",
            "initial_interval_seconds": 4 * 3600,
            "max_interval_seconds": 4 * 3600,
        }
        route(client, auth, target["id"], source["id"], retry_policy=four_hourly)
        events = [ingest(client, source, b'{"n": %d}' % n)["id"] for n in range(80)]
        for _ in range(72):  # three days, an hour at a time
            drain(client)
            clock.advance(3600)
        assert {request.body for request in receiver.requests} == {b'{"n": 0}'}
        # Only the head was tried (its retries, or the circuit breaker's probes), and it still
        # has attempts left: nothing behind it was sent, nothing dead-lettered.
        down_attempts = len(receiver.requests)
        assert down_attempts < 50
        up = True
        clock.advance(4 * 3600)  # the head's next retry (or probe) is due
        drain(client)
        per_step = [len(receiver.requests)]
        while len(receiver.requests) < down_attempts + 80 and len(per_step) < 1000:
            clock.advance(0.1)
            drain(client)
            per_step.append(len(receiver.requests))
        steps = [later - earlier for earlier, later in itertools.pairwise(per_step)]
        assert max(steps) <= 10  # 100/s: ten per tenth of a second
        delivered = [r.body for r in receiver.requests if r.body != b'{"n": 0}']
        assert delivered == [b'{"n": %d}' % n for n in range(1, 80)]
        assert event_detail(client, auth, events[-1])["event"]["status"] == "delivered"
