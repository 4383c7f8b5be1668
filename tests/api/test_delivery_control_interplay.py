"""Delivery control features together (issue 17): pause, circuit breaker, rate limits, FIFO,
Retry-After, bulk retry, replay, deactivation and deletion at their seams. The promise under
test: never drop an event, never deliver one twice, never leave one stuck."""

from __future__ import annotations

import json
import time

import pytest

from tests.support.api import (
    create_destination,
    create_route,
    drain,
    event_detail,
    ingest,
    make_route,
    make_source,
)
from tests.support.bulk_retries import (
    NO_RETRIES,
    create_job,
    driven_worker,
    job,
    paused_worker,
    replays_of,
    run_to_end,
)
from tests.support.receiver import Receiver, Reply

# Every retry falls due 0.8 to 1 s later (jitter only shortens a wait at the cap).
RETRY_1S = {
    "max_attempts": 20,
    "backoff": "fixed",
    "initial_interval_seconds": 1,
    "max_interval_seconds": 1,
}
RETRY_60S = {**RETRY_1S, "initial_interval_seconds": 60, "max_interval_seconds": 60}


destination = create_destination


def route(client, auth, destination_id, source_id, retry_policy=None, **fields) -> dict:
    return create_route(client, auth, destination_id, source_id, retry_policy or RETRY_1S, **fields)


def control(client, auth, destination_id: str, action: str) -> dict:
    answer = client.post(f"/v1/destinations/{destination_id}/{action}", headers=auth)
    assert answer.status_code == 200, answer.text
    return answer.json()["data"]


def shown(client, auth, destination_id: str) -> dict:
    answer = client.get(f"/v1/destinations/{destination_id}", headers=auth)
    assert answer.status_code == 200, answer.text
    return answer.json()["data"]


def status(client, auth, event_id: str) -> str:
    return event_detail(client, auth, event_id)["event"]["status"]


def bodies(receiver: Receiver) -> list[bytes]:
    return [request.body for request in receiver.requests]


def numbered(*ns: int) -> list[bytes]:
    return [b'{"n": %d}' % n for n in ns]


def delivery_rows(client, destination_id: str) -> list[tuple[str, str]]:
    """(event id, delivery status) of the destination's deliveries, by event."""

    def read(conn):
        rows = conn.execute(
            "SELECT event_id, status FROM deliveries WHERE destination_id = ? ORDER BY event_id",
            (destination_id,),
        )
        return [tuple(row) for row in rows]

    return client.blocking_portal.call(client.app.state.ctx.db.read, read)


# -- pause x FIFO ------------------------------------------------------------------------------


def test_pausing_a_fifo_destination_with_a_failing_head_keeps_its_order(client, auth, clock):
    with Receiver(lambda n: Reply(500) if n == 1 else Reply()) as receiver:
        source = make_source(client, auth)
        target = destination(client, auth, receiver.url, ordering="fifo")
        route(client, auth, target["id"], source["id"])
        events = [ingest(client, source, b'{"n": %d}' % n)["id"] for n in range(4)]
        drain(client)
        assert bodies(receiver) == numbered(0)
        control(client, auth, target["id"], "pause")
        clock.advance(30)
        drain(client)
        assert bodies(receiver) == numbered(0)
        assert {status(client, auth, e) for e in events} == {"held"}
        control(client, auth, target["id"], "resume")
        drain(client)  # the head's retry keeps the rest of its wait: the queue waits for it
        assert bodies(receiver) == numbered(0)
        clock.advance(1.1)
        drain(client)
        assert bodies(receiver) == numbered(0, 0, 1, 2, 3)
        assert {status(client, auth, e) for e in events} == {"delivered"}


# -- pause x rate limit ------------------------------------------------------------------------


def test_resume_drains_the_held_oldest_first_at_the_rate_limit(client, auth, clock):
    with Receiver() as receiver:
        source = make_source(client, auth)
        target = destination(client, auth, receiver.url, rate_limit={"per_second": 10})
        route(client, auth, target["id"], source["id"])
        control(client, auth, target["id"], "pause")
        for n in range(6):
            ingest(client, source, b'{"n": %d}' % n)
            clock.advance(1)
        drain(client)
        assert bodies(receiver) == []
        control(client, auth, target["id"], "resume")
        per_step = []
        for _ in range(6):
            drain(client)
            per_step.append(len(receiver.requests))
            clock.advance(0.1)
        assert per_step == [1, 2, 3, 4, 5, 6]  # a burst of one, then one per tenth: no burst
        assert bodies(receiver) == numbered(*range(6))


# -- breaker x FIFO ----------------------------------------------------------------------------


def test_the_probe_of_an_open_fifo_destination_is_its_head(client, auth, clock):
    with Receiver(lambda n: Reply(500) if n <= 5 else Reply()) as receiver:
        source = make_source(client, auth)
        target = destination(client, auth, receiver.url, ordering="fifo")
        route(client, auth, target["id"], source["id"])
        events = [ingest(client, source, b'{"n": %d}' % n)["id"] for n in range(3)]
        drain(client)
        for _ in range(4):
            clock.advance(1.1)
            drain(client)
        assert bodies(receiver) == numbered(0, 0, 0, 0, 0)
        assert shown(client, auth, target["id"])["circuit"]["state"] == "open"
        assert {status(client, auth, e) for e in events} == {"held"}
        clock.advance(31)  # the cool-down: the probe, then the rest in order
        drain(client)
        assert bodies(receiver) == numbered(0, 0, 0, 0, 0, 0, 1, 2)
        assert shown(client, auth, target["id"])["circuit"]["state"] == "closed"


# -- deactivate / delete x pause / open circuit ------------------------------------------------


class ChangeWhileInFlight:
    """Answers 500 to the first request, after doing ``change`` through the API while that
    request is still in flight (the scheduler's attempt outlives the change)."""

    def __init__(self, change) -> None:
        self.change = change

    def __call__(self, n: int) -> Reply:
        if n == 1:
            self.change()
            return Reply(500)
        return Reply()


@pytest.mark.parametrize("how", ["deactivate", "delete"])
def test_an_attempt_finishing_after_a_paused_destination_is_turned_off_is_not_held(
    client, auth, clock, how
):
    target: dict = {}

    def pause_then_turn_off() -> None:
        control(client, auth, target["id"], "pause")
        path = f"/v1/destinations/{target['id']}"
        if how == "delete":
            answer = client.delete(path, headers=auth)
        else:
            answer = client.patch(path, json={"active": False}, headers=auth)
        assert answer.status_code in (200, 204), answer.text

    with Receiver(ChangeWhileInFlight(pause_then_turn_off)) as receiver:
        source = make_source(client, auth)
        target.update(destination(client, auth, receiver.url))
        route(client, auth, target["id"], source["id"])
        first = ingest(client, source, b'{"n": 0}')["id"]
        drain(client)
        queued = ingest(client, source, b'{"n": 1}')["id"]  # no live route: not routed
        clock.advance(5)
        drain(client)
        assert bodies(receiver) == numbered(0)
        # The attempt's retry is not held for a destination that is gone: it is cancelled,
        # and the event ends (retention can delete it), not "held" forever.
        rows = delivery_rows(client, target["id"])
        assert [state for _, state in rows] == ["cancelled"], rows
        detail = event_detail(client, auth, first)["event"]
        assert detail["status"] != "held" and detail["final_state"] is not None
        assert status(client, auth, queued) == "accepted"


def test_deactivating_a_paused_destination_cancels_what_it_held_and_reactivating_works(
    client, auth, clock
):
    with Receiver() as receiver:
        source = make_source(client, auth)
        target = destination(client, auth, receiver.url)
        route(client, auth, target["id"], source["id"])
        control(client, auth, target["id"], "pause")
        held = [ingest(client, source, b'{"n": %d}' % n)["id"] for n in range(3)]
        path = f"/v1/destinations/{target['id']}"
        client.patch(path, json={"active": False}, headers=auth).raise_for_status()
        for event_id in held:
            detail = event_detail(client, auth, event_id)
            assert detail["event"]["status"] == "accepted"  # nothing left to deliver
            assert detail["event"]["final_state"] == "accepted"
            assert [a["outcome"] for a in detail["attempts"]] == ["cancelled"]
        assert shown(client, auth, target["id"])["circuit"]["held_count"] == 0
        client.patch(path, json={"active": True}, headers=auth).raise_for_status()
        later = ingest(client, source, b'{"n": 9}')["id"]
        assert status(client, auth, later) == "held"  # still paused: held, not lost
        control(client, auth, target["id"], "resume")
        drain(client)
        assert bodies(receiver) == numbered(9)  # the cancelled ones stay cancelled
        assert status(client, auth, later) == "delivered"


def test_deleting_an_open_circuit_destination_leaves_nothing_held(client, auth, clock):
    with Receiver(lambda n: Reply(500)) as receiver:
        source = make_source(client, auth)
        target = destination(client, auth, receiver.url)
        route(client, auth, target["id"], source["id"])
        events = [ingest(client, source, b'{"n": %d}' % n)["id"] for n in range(3)]
        drain(client)
        for _ in range(6):
            clock.advance(1.1)
            drain(client)
        assert shown(client, auth, target["id"])["circuit"]["state"] == "open"
        client.delete(f"/v1/destinations/{target['id']}", headers=auth).raise_for_status()
        clock.advance(3600)
        drain(client)
        assert [state for _, state in delivery_rows(client, target["id"])] == ["cancelled"] * 3
        for event_id in events:
            assert event_detail(client, auth, event_id)["event"]["final_state"] is not None


# -- bulk retry x pause ------------------------------------------------------------------------


def test_a_bulk_retry_to_a_paused_destination_holds_its_replays_and_completes(client, auth):
    paused_worker(client)
    worker = driven_worker(client)
    failing = True
    with Receiver(lambda n: Reply(500) if failing else Reply()) as receiver:
        source = make_source(client, auth)
        target = destination(client, auth, receiver.url)
        route(client, auth, target["id"], source["id"], retry_policy=NO_RETRIES)
        originals = [ingest(client, source, b'{"n": %d}' % n)["id"] for n in range(3)]
        drain(client)
        assert {status(client, auth, e) for e in originals} == {"dead_letter"}
        control(client, auth, target["id"], "pause")
        failing = False
        created = create_job(client, auth, destination_id=target["id"])
        assert created["matched"] == 3
        run_to_end(client, worker)
        assert job(client, auth, created["id"])["status"] == "completed"
        replays = [replay for replay, _ in replays_of(client, created["id"])]
        assert len(replays) == 3
        assert {status(client, auth, r) for r in replays} == {"held"}
        assert len(receiver.requests) == 3  # only the original attempts
        control(client, auth, target["id"], "resume")
        drain(client)
        assert sorted(bodies(receiver)[3:]) == numbered(0, 1, 2)
        assert {status(client, auth, r) for r in replays} == {"delivered"}


def test_a_bulk_retry_of_failed_deliveries_does_not_match_held_ones(client, auth, clock):
    """Documented: a held retry is not "failed" (waiting to retry); resume releases it."""
    paused_worker(client)
    with Receiver(lambda n: Reply(500)) as receiver:
        source = make_source(client, auth)
        target = destination(client, auth, receiver.url)
        route(client, auth, target["id"], source["id"], retry_policy=RETRY_60S)
        ingest(client, source, b'{"n": 0}')
        drain(client)
        assert len(receiver.requests) == 1
        failed = {"status": "failed", "destination_id": target["id"]}
        assert create_job(client, auth, 200, True, **failed)["matched"] == 1
        control(client, auth, target["id"], "pause")
        assert create_job(client, auth, 200, True, **failed)["matched"] == 0


# -- replay x held -----------------------------------------------------------------------------


def test_replaying_an_event_whose_delivery_is_held_supersedes_it_once(client, auth, clock):
    with Receiver() as receiver:
        source = make_source(client, auth)
        target = destination(client, auth, receiver.url)
        route(client, auth, target["id"], source["id"])
        control(client, auth, target["id"], "pause")
        original = ingest(client, source, b'{"n": 0}')["id"]
        answer = client.post(f"/v1/events/{original}/replay", headers=auth)
        assert answer.status_code in (200, 201, 202), answer.text
        replay = answer.json()["data"]["replay_event_id"]
        assert status(client, auth, original) == "replayed"
        assert status(client, auth, replay) == "held"
        assert shown(client, auth, target["id"])["circuit"]["held_count"] == 1
        control(client, auth, target["id"], "resume")
        drain(client)
        assert bodies(receiver) == numbered(0)  # once: the replay, not the original too
        assert status(client, auth, replay) == "delivered"


# -- clock step x pause ------------------------------------------------------------------------


@pytest.mark.parametrize("step", [3600.0, -3600.0])
def test_a_clock_step_while_paused_keeps_the_stopped_retry_wait(client, auth, clock, step):
    with Receiver(lambda n: Reply(500) if n == 1 else Reply()) as receiver:
        source = make_source(client, auth)
        target = destination(client, auth, receiver.url)
        route(client, auth, target["id"], source["id"], retry_policy=RETRY_60S)
        ingest(client, source, b'{"n": 0}')
        drain(client)
        clock.advance(20)  # 28 to 40 s of the retry's wait left (48 to 60 s with jitter)
        control(client, auth, target["id"], "pause")
        clock.advance(100)
        clock.step(step)
        drain(client)  # the scheduler notices the step
        clock.advance(100)
        control(client, auth, target["id"], "resume")
        drain(client)
        clock.advance(27)
        drain(client)
        assert len(receiver.requests) == 1  # the wait did not run on while paused
        clock.advance(14)
        drain(client)
        assert len(receiver.requests) == 2  # nor was it stretched by the step


# -- 429 x breaker -----------------------------------------------------------------------------


def test_429s_never_open_the_circuit_and_slow_the_destination(client, auth, clock):
    busy = Reply(429, headers={"Retry-After": "2"})
    with Receiver(lambda n: busy if n <= 8 else Reply()) as receiver:
        source = make_source(client, auth)
        target = destination(client, auth, receiver.url)
        route(client, auth, target["id"], source["id"])
        event_id = ingest(client, source, b'{"n": 0}')["id"]
        for _ in range(8):
            drain(client)
            clock.advance(2.1)
        assert len(receiver.requests) == 8
        circuit = shown(client, auth, target["id"])["circuit"]
        assert (circuit["state"], circuit["consecutive_failures"]) == ("closed", 0)
        drain(client)
        assert status(client, auth, event_id) == "delivered"


def test_a_429_to_the_probe_does_not_make_the_probes_go_round(client, auth, clock):
    """Half-open, the probe answered 429 without Retry-After: no second probe until the
    probe's own retry is due (the 429 is neither a success nor a failure)."""
    script = {"reply": Reply(500)}
    with Receiver(lambda n: script["reply"]) as receiver:
        source = make_source(client, auth)
        target = destination(client, auth, receiver.url)
        route(client, auth, target["id"], source["id"], retry_policy=RETRY_60S)
        for n in range(5):
            ingest(client, source, b'{"n": %d}' % n)
        drain(client)
        assert shown(client, auth, target["id"])["circuit"]["state"] == "open"
        assert len(receiver.requests) == 5
        script["reply"] = Reply(429)
        clock.advance(31)
        drain(client)
        assert len(receiver.requests) == 6  # one probe, not one per scheduler loop
        clock.advance(10)
        drain(client)
        assert len(receiver.requests) == 6  # its retry (60 s) is not due
        script["reply"] = Reply()
        clock.advance(60)
        drain(client)
        assert shown(client, auth, target["id"])["circuit"]["state"] == "closed"
        assert len(receiver.requests) == 7
        clock.advance(60)  # the others' retries kept the rest of their (stopped) wait
        drain(client)
        assert len(receiver.requests) == 7 + 4


# -- one destination's trouble never slows another ---------------------------------------------


def test_a_paused_and_a_rate_limited_backlog_never_slow_a_healthy_destination(client, auth, clock):
    with Receiver() as paused_at, Receiver() as limited_at, Receiver() as healthy_at:
        paused_source, limited_source, healthy_source = (make_source(client, auth) for _ in "abc")
        paused = destination(client, auth, paused_at.url)
        route(client, auth, paused["id"], paused_source["id"])
        limited = destination(client, auth, limited_at.url, rate_limit={"per_minute": 1})
        route(client, auth, limited["id"], limited_source["id"])
        healthy = destination(client, auth, healthy_at.url)
        route(client, auth, healthy["id"], healthy_source["id"])
        control(client, auth, paused["id"], "pause")
        for n in range(600):
            ingest(client, paused_source, b'{"n": %d}' % n)
            ingest(client, limited_source, b'{"n": %d}' % n)
        drain(client)
        assert len(limited_at.requests) == 1
        for n in range(30):
            ingest(client, healthy_source, b'{"n": %d}' % n)
        drain(client)  # once: no time passes
        assert len(healthy_at.requests) == 30
        assert (len(paused_at.requests), len(limited_at.requests)) == (0, 1)


# -- system events -----------------------------------------------------------------------------


def test_system_events_routed_to_the_failing_destination_itself_do_not_multiply(
    client, auth, clock
):
    with Receiver(lambda n: Reply(503)) as receiver:
        source = make_source(client, auth)
        # One destination gets the source's events and the account's own (system) events.
        target = make_route(client, auth, receiver.url, source["id"])
        route(client, auth, target["id"], None)
        ingest(client, source, b'{"n": 0}')
        for _ in range(80):  # three days and a bit, an hour at a time
            drain(client)
            clock.advance(3600)
        drain(client)
        assert shown(client, auth, target["id"])["paused"] is True
        listed = client.get("/v1/outbound-events", params={"limit": 100}, headers=auth).json()[
            "data"
        ]
        types = sorted(event["event_type"] for event in listed["items"])
        assert types == ["destination.circuit_opened", "destination.paused"], types
        # Every one of them is held, none dropped: the source's event and the two notices.
        assert shown(client, auth, target["id"])["circuit"]["held_count"] == 3
        answered = {json.loads(r.body).get("circuit_state") for r in receiver.requests if r.body}
        assert answered <= {None, "open"}  # only the first event and the notice's probes


@pytest.mark.sqlite_only(
    "schedules shift with a wall-clock step on SQLite only: a cluster has one clock per"
    " machine (design §6.1)"
)
def test_a_clock_set_back_does_not_stop_open_circuits_moving_on(client, auth, clock):
    """The scheduler's own loop (not ``drain``, which always runs delivery control): after the
    wall clock is set back an hour, an open circuit still probes when its cool-down ends."""
    script = {"reply": Reply(500)}
    with Receiver(lambda n: script["reply"]) as receiver:
        source = make_source(client, auth)
        target = destination(client, auth, receiver.url)
        route(client, auth, target["id"], source["id"], retry_policy=RETRY_60S)
        for n in range(5):
            ingest(client, source, b'{"n": %d}' % n)
        scheduler = client.app.state.ctx.scheduler
        client.blocking_portal.call(scheduler.start)
        try:
            receiver.wait_for(5)
            deadline = time.monotonic() + 10
            while shown(client, auth, target["id"])["circuit"]["state"] != "open":
                assert time.monotonic() < deadline
                time.sleep(0.05)
            time.sleep(0.5)  # the loop runs delivery control once the circuit opened
            script["reply"] = Reply()
            clock.step(-3600)
            time.sleep(1.5)  # the loop notices the step
            clock.advance(31)  # the (shifted) cool-down is over
            receiver.wait_for(6, timeout=5)  # the probe
        finally:
            client.blocking_portal.call(scheduler.stop)


def test_a_429_to_a_probe_with_no_attempts_left_waits_a_cool_down(client, auth, clock):
    """The probe is never dead-lettered for running out of attempts; answered 429 with none
    left, it waits a cool-down rather than going again at once, over and over."""
    script = {"reply": Reply(500)}
    with Receiver(lambda n: script["reply"]) as receiver:
        source = make_source(client, auth)
        target = destination(client, auth, receiver.url)
        route(client, auth, target["id"], source["id"], retry_policy=NO_RETRIES)
        for n in range(5):
            ingest(client, source, b'{"n": %d}' % n)
        drain(client)
        assert shown(client, auth, target["id"])["circuit"]["state"] == "open"
        later = [ingest(client, source, b'{"n": %d}' % n)["id"] for n in (5, 6)]
        script["reply"] = Reply(429)
        clock.advance(31)
        drain(client)
        assert len(receiver.requests) == 6
        assert status(client, auth, later[0]) != "dead_letter"
        script["reply"] = Reply()
        clock.advance(31)
        drain(client)
        assert shown(client, auth, target["id"])["circuit"]["state"] == "closed"
        assert bodies(receiver)[5:] == numbered(5, 5, 6)
