"""Replay while the original still has a retry pending, through a real server and receiver:
the receiver gets exactly one more delivery (the replay's), not the retry as well."""

from __future__ import annotations

import time

import httpx
import pytest

from gethook_lite.clock import parse_time
from tests.support.delivery import wait_for_event, wire
from tests.support.receiver import Receiver, Reply


@pytest.fixture
def api(server, account_key):
    with server.client(account_key) as client:
        yield client


def test_replay_while_a_retry_is_pending_delivers_once_more_not_twice(server, api):
    # The retry falls due 2 s after the failure: long enough to replay first, short enough to
    # wait out within the test.
    with Receiver(lambda n: Reply(500) if n == 1 else Reply(200)) as receiver:
        source, _ = wire(
            api,
            receiver.url,
            retry_policy={"max_attempts": 3, "backoff": "fixed", "initial_interval_seconds": 2},
        )
        event_id = httpx.post(source["ingest_url"], json={"type": "a"}).json()["data"]["id"]
        detail = wait_for_event(api, event_id, {"retry_scheduled"})
        retry_due = parse_time(detail["event"]["next_attempt_at"])
        replay = api.post(f"/v1/events/{event_id}/replay")
        assert replay.status_code == 202
        replay_id = replay.json()["data"]["replay_event_id"]
        wait_for_event(api, replay_id, {"delivered"})
        # Past the moment the original's retry was due, plus a scheduler tick.
        time.sleep(max(0.0, retry_due + 0.7 - time.time()))
        assert [r.headers["webhook-id"] for r in receiver.requests] == [event_id, replay_id]
        original = api.get(f"/v1/events/{event_id}").json()["data"]
        assert [a["outcome"] for a in original["attempts"]] == ["http_5xx", "cancelled"]
        assert original["attempts"][1]["error_message"] == f"superseded by replay {replay_id}"
        assert original["event"]["status"] == "replayed"
