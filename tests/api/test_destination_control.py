"""Pause and resume, held deliveries and the circuit breaker, in process with a fake clock."""

from __future__ import annotations

import json

import pytest

from gethook_lite.clock import parse_time
from tests.conftest import bearer, make_settings, new_account
from tests.support.api import drain, event_detail, ingest, make_route, make_source
from tests.support.receiver import Receiver, Reply

FAST = {"max_attempts": 10, "backoff": "fixed", "initial_interval_seconds": 300}


@pytest.fixture
def settings(tmp_path):
    # One attempt at a time per destination: the order deliveries go out in is the order the
    # receiver sees them.
    return make_settings(tmp_path, **{"delivery.per_destination_concurrency": 1})


def _pause(client, auth, destination_id, action="pause"):
    answer = client.post(f"/v1/destinations/{destination_id}/{action}", headers=auth)
    assert answer.status_code == 200, answer.text
    return answer.json()["data"]


def _destination(client, auth, destination_id):
    return client.get(f"/v1/destinations/{destination_id}", headers=auth).json()["data"]


def test_a_new_destination_is_running_with_a_closed_circuit(client, auth):
    destination = make_route(client, auth, "http://127.0.0.1:9/x")
    shown = _destination(client, auth, destination["id"])
    assert shown["paused"] is False and shown["paused_at"] is None
    assert shown["paused_reason"] is None
    assert shown["circuit"] == {
        "state": "closed",
        "since": None,
        "failure_ratio": 0.0,
        "consecutive_failures": 0,
        "held_count": 0,
        "next_probe_at": None,
    }
    listed = client.get("/v1/destinations", headers=auth).json()["data"]
    assert listed[0]["circuit"]["state"] == "closed"


def test_paused_deliveries_are_held_then_delivered_oldest_first(client, auth, clock):
    with Receiver() as receiver:
        source = make_source(client, auth)
        destination = make_route(client, auth, receiver.url, source["id"])
        before = ingest(client, source, body=b'{"n": 0}')["id"]
        paused = _pause(client, auth, destination["id"])
        assert paused["paused"] is True and paused["paused_reason"] == "manual"
        assert _pause(client, auth, destination["id"])["paused_at"] == paused["paused_at"]
        ids = [before]
        for n in (1, 2):
            clock.advance(1)
            ids.append(ingest(client, source, body=b'{"n": %d}' % n)["id"])
        clock.advance(60)
        assert drain(client) == 0
        assert receiver.requests == []
        for event_id in ids:
            assert event_detail(client, auth, event_id)["event"]["status"] == "held"
        shown = _destination(client, auth, destination["id"])
        assert shown["circuit"]["held_count"] == 3
        held = client.get("/v1/events", params={"status": "held"}, headers=auth).json()
        assert {event["id"] for event in held["data"]["items"]} == set(ids)
        assert held["data"]["total"] == 3
        resumed = _pause(client, auth, destination["id"], "resume")
        assert resumed["paused"] is False and resumed["circuit"]["held_count"] == 0
        drain(client)
        assert [r.body for r in receiver.requests] == [b'{"n": 0}', b'{"n": 1}', b'{"n": 2}']
        for event_id in ids:
            assert event_detail(client, auth, event_id)["event"]["status"] == "delivered"


def test_a_retry_clock_stops_while_paused(client, auth, clock):
    with Receiver(lambda n: Reply(500) if n == 1 else Reply(200)) as receiver:
        source = make_source(client, auth)
        destination = make_route(client, auth, receiver.url, source["id"], retry_policy=FAST)
        event_id = ingest(client, source)["id"]
        drain(client)  # fails; the retry is due in about 300 s
        due = parse_time(event_detail(client, auth, event_id)["event"]["next_attempt_at"])
        clock.advance(100)
        _pause(client, auth, destination["id"])
        clock.advance(3600)
        drain(client)
        assert len(receiver.requests) == 1
        held = event_detail(client, auth, event_id)["event"]
        assert held["status"] == "held" and held["next_attempt_at"] is None
        _pause(client, auth, destination["id"], "resume")
        detail = event_detail(client, auth, event_id)["event"]
        assert detail["status"] == "retry_scheduled"
        # The wait left when it was paused is the wait left now.
        assert parse_time(detail["next_attempt_at"]) == pytest.approx(due + 3600, abs=0.01)
        clock.advance(due + 3600 - clock.now() - 1)
        drain(client)
        assert len(receiver.requests) == 1  # still 1 s to go
        clock.advance(2)
        drain(client)
        assert len(receiver.requests) == 2
        assert event_detail(client, auth, event_id)["event"]["status"] == "delivered"


def test_a_retry_already_due_when_paused_goes_at_once_on_resume(client, auth, clock):
    with Receiver(lambda n: Reply(500) if n == 1 else Reply(200)) as receiver:
        source = make_source(client, auth)
        destination = make_route(client, auth, receiver.url, source["id"], retry_policy=FAST)
        event_id = ingest(client, source)["id"]
        drain(client)
        clock.advance(400)  # due, not yet claimed
        _pause(client, auth, destination["id"])
        clock.advance(1000)
        _pause(client, auth, destination["id"], "resume")
        drain(client)
        assert len(receiver.requests) == 2
        assert event_detail(client, auth, event_id)["event"]["status"] == "delivered"


def test_pause_and_resume_need_a_writer_and_the_callers_destination(client, auth):
    destination = make_route(client, auth, "http://127.0.0.1:9/x")
    _, other_key = new_account(client, "other")
    answer = client.post(f"/v1/destinations/{destination['id']}/pause", headers=bearer(other_key))
    assert answer.status_code == 404
    assert client.post("/v1/destinations/dest_nope/resume", headers=auth).status_code == 404
    # Resuming a running destination changes nothing.
    assert _pause(client, auth, destination["id"], "resume")["paused"] is False
    assert client.get("/v1/outbound-events", headers=auth).json()["data"]["total"] == 0
    assert client.post(f"/v1/destinations/{destination['id']}/pause").status_code == 401
    viewer = client.post("/v1/api-keys", json={"name": "v", "role": "viewer"}, headers=auth).json()[
        "data"
    ]["key"]
    answer = client.post(f"/v1/destinations/{destination['id']}/pause", headers=bearer(viewer))
    assert answer.status_code == 403


def test_deactivating_a_paused_destination_cancels_what_it_held(client, auth):
    source = make_source(client, auth)
    destination = make_route(client, auth, "http://127.0.0.1:9/x", source["id"])
    _pause(client, auth, destination["id"])
    event_id = ingest(client, source)["id"]
    answer = client.patch(
        f"/v1/destinations/{destination['id']}", json={"active": False}, headers=auth
    )
    assert answer.status_code == 200
    assert answer.json()["data"]["circuit"]["held_count"] == 0
    assert event_detail(client, auth, event_id)["event"]["status"] == "accepted"


class Flaky:
    """A receiver script: 503 while ``down``, 200 otherwise."""

    def __init__(self) -> None:
        self.down = True

    def __call__(self, n: int) -> Reply:
        return Reply(503) if self.down else Reply(200)


def test_the_circuit_opens_holds_probes_and_closes(client, auth, clock):
    flaky = Flaky()
    with Receiver(flaky) as receiver, Receiver() as notices:
        source = make_source(client, auth)
        retries = {"max_attempts": 10, "backoff": "fixed", "initial_interval_seconds": 1}
        destination = make_route(client, auth, receiver.url, source["id"], retry_policy=retries)
        make_route(client, auth, notices.url)  # outbound: the account's system events
        ids = []
        for n in range(8):
            ids.append(ingest(client, source, body=b'{"n": %d}' % n)["id"])
            clock.advance(0.01)
        drain(client)
        # Five failures in a row opened it; nothing more was attempted.
        assert len(receiver.requests) == 5
        shown = _destination(client, auth, destination["id"])["circuit"]
        assert shown["state"] == "open" and shown["consecutive_failures"] == 5
        assert shown["held_count"] == 8
        assert parse_time(shown["next_probe_at"]) == pytest.approx(clock.now() + 30, abs=1)
        assert {event_detail(client, auth, i)["event"]["status"] for i in ids} == {"held"}
        assert json.loads(notices.requests[0].body)["circuit_state"] == "open"
        metrics = client.get("/metrics").text
        assert 'gethook_destination_circuits{state="open"} 1.0' in metrics
        assert "gethook_held_deliveries 8.0" in metrics
        # Cool-down running: still nothing.
        clock.advance(25)
        drain(client)
        assert len(receiver.requests) == 5
        # Cool-down over: one probe, which fails: open again for twice as long.
        clock.advance(10)
        drain(client)
        assert len(receiver.requests) == 6
        shown = _destination(client, auth, destination["id"])["circuit"]
        assert shown["state"] == "open" and shown["held_count"] == 8
        assert parse_time(shown["next_probe_at"]) == pytest.approx(clock.now() + 60, abs=1)
        # The receiver is back; the next probe succeeds and the held deliveries drain.
        flaky.down = False
        clock.advance(61)
        drain(client)
        assert _destination(client, auth, destination["id"])["circuit"]["state"] == "closed"
        clock.advance(2)  # the failed ones' retries keep the second of wait they had left
        drain(client)
        assert {event_detail(client, auth, i)["event"]["status"] for i in ids} == {"delivered"}
        delivered = {r.body for r in receiver.requests[6:]}
        assert delivered == {b'{"n": %d}' % n for n in range(8)}
        types = [json.loads(r.body)["circuit_state"] for r in notices.requests]
        assert types == ["open", "closed"]
        published = client.get("/v1/outbound-events", headers=auth)
        kinds = {event["event_type"] for event in published.json()["data"]["items"]}
        assert {"destination.circuit_opened", "destination.circuit_closed"} <= kinds


def test_a_healthy_destination_keeps_flowing_beside_an_open_circuit(client, auth, clock):
    with Receiver(lambda n: Reply(500)) as dead, Receiver() as healthy:
        source = make_source(client, auth)
        retries = {"max_attempts": 50, "backoff": "fixed", "initial_interval_seconds": 1}
        broken = make_route(client, auth, dead.url, source["id"], retry_policy=retries)
        make_route(client, auth, healthy.url, source["id"])
        for _ in range(20):
            ingest(client, source)
            drain(client)
            clock.advance(2)
        # Five failures opened it, then one probe per cool-down (30 s, then 60 s).
        assert len(dead.requests) == 6
        assert _destination(client, auth, broken["id"])["circuit"]["held_count"] == 20
        assert len(healthy.requests) == 20


@pytest.mark.sqlite_only(
    "schedules shift with a wall-clock step on SQLite only: a cluster has one clock per"
    " machine (design §6.1)"
)
def test_a_cooldown_is_elapsed_time_across_a_wall_clock_step(client, auth, clock):
    with Receiver(lambda n: Reply(503)) as receiver:
        source = make_source(client, auth)
        retries = {"max_attempts": 10, "backoff": "fixed", "initial_interval_seconds": 1}
        destination = make_route(client, auth, receiver.url, source["id"], retry_policy=retries)
        for _ in range(5):
            ingest(client, source)
        drain(client)
        circuit = _destination(client, auth, destination["id"])["circuit"]
        assert circuit["state"] == "open"
        probe_at = parse_time(circuit["next_probe_at"])
        clock.step(-3600)  # set back an hour: the cool-down still ends 30 s from now
        drain(client)
        circuit = _destination(client, auth, destination["id"])["circuit"]
        assert parse_time(circuit["next_probe_at"]) == pytest.approx(probe_at - 3600, abs=0.01)
        clock.advance(31)
        drain(client)
        assert len(receiver.requests) == 6  # the probe went out
