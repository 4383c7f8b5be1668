"""Pause and resume, held deliveries and the circuit breaker, in process with a fake clock."""

from __future__ import annotations

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
