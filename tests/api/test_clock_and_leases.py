"""Clock steps and leases: retries are neither stranded nor stormed; leases outlast attempts."""

from __future__ import annotations

import pytest

from gethook_lite.constants import LEASE_MARGIN_SECONDS
from gethook_lite.db import deliveries as store
from gethook_lite.db.claim_order import ClaimLimits
from gethook_lite.delivery.retry import RetryPolicy
from tests.support.api import drain, event_detail, ingest, make_route, make_source
from tests.support.receiver import Receiver, Reply


def failing_once():
    return Receiver(lambda n: Reply(500) if n == 1 else Reply(200))


@pytest.mark.sqlite_only(
    "schedules shift with a wall-clock step on SQLite only: a cluster has one clock per"
    " machine (design §6.1)"
)
def test_clock_set_back_does_not_strand_retries(client, auth, clock):
    with failing_once() as receiver:
        source = make_source(client, auth)
        make_route(client, auth, receiver.url, source["id"])
        event_id = ingest(client, source)["id"]
        drain(client)  # first attempt fails; retry due in about 5 s
        clock.step(-3600)  # an operator or NTP sets the clock back an hour
        clock.advance(6.5)
        drain(client)
        assert event_detail(client, auth, event_id)["event"]["status"] == "delivered"
        assert len(receiver.requests) == 2


@pytest.mark.sqlite_only(
    "schedules shift with a wall-clock step on SQLite only: a cluster has one clock per"
    " machine (design §6.1)"
)
def test_clock_set_forward_does_not_fire_retries_early(client, auth, clock):
    with failing_once() as receiver:
        source = make_source(client, auth)
        make_route(client, auth, receiver.url, source["id"])
        event_id = ingest(client, source)["id"]
        drain(client)
        clock.step(+7200)
        drain(client)
        assert len(receiver.requests) == 1  # the 5 s wait is 5 s of real time, not 2 h
        assert event_detail(client, auth, event_id)["event"]["status"] == "retry_scheduled"
        clock.advance(6.5)
        drain(client)
        assert len(receiver.requests) == 2


def test_lease_outlasts_the_destination_timeout(client, auth, clock):
    source = make_source(client, auth)
    make_route(client, auth, "http://127.0.0.1:9/never", source["id"])
    ingest(client, source)
    ctx = client.app.state.ctx
    now = clock.now()
    limits = ClaimLimits(per_destination=32, per_account=64)
    jobs = client.blocking_portal.call(ctx.db.write, store.claim_due, now, 10, limits, 30.0)
    assert len(jobs) == 1
    assert jobs[0].lease_expires_at >= now + jobs[0].timeout_seconds + LEASE_MARGIN_SECONDS
    # Not reclaimable while the attempt may still run ...
    reclaimed = client.blocking_portal.call(
        ctx.db.write, store.reclaim_expired_leases, now + jobs[0].timeout_seconds
    )
    assert reclaimed == 0
    # ... but a lease left by a dead worker is reclaimed once it expires.
    later = jobs[0].lease_expires_at + 1
    assert client.blocking_portal.call(ctx.db.write, store.reclaim_expired_leases, later) == 1


def test_a_claim_is_typed_and_carries_its_routes_parsed_retry_policy(client, auth, clock):
    source = make_source(client, auth)
    policy = {"max_attempts": 3, "backoff": "linear", "initial_interval_seconds": 2}
    make_route(client, auth, "http://127.0.0.1:9/never", source["id"], retry_policy=policy)
    event_id = ingest(client, source)["id"]
    ctx = client.app.state.ctx
    limits = ClaimLimits(per_destination=32, per_account=64)
    claims = client.blocking_portal.call(
        ctx.db.write, store.claim_due, clock.now(), 10, limits, 30.0
    )
    assert [type(claim) for claim in claims] == [store.Claim]
    claim = claims[0]
    assert claim.event_id == event_id and claim.attempts_count == 0
    # Parsed once, at claim: the scheduler never reads the route's JSON again.
    assert claim.retry_policy == RetryPolicy(
        max_attempts=3, backoff="linear", initial_interval_seconds=2, max_interval_seconds=36_000
    )
    # Frozen and closed: a mistyped field is an error, not a silent new key.
    with pytest.raises(AttributeError):
        claim.attempts_count = 5  # type: ignore[misc]
    with pytest.raises(AttributeError):
        claim.delivery  # type: ignore[attr-defined]  # noqa: B018
