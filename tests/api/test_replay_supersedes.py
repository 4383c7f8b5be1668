"""A replay supersedes the original's pending retries to the destinations it goes to, so a
receiver that dedupes on ``webhook-id`` never gets the event twice under two ids."""

from __future__ import annotations

from tests.support.api import drain, event_detail, ingest, make_route, make_source
from tests.support.receiver import Receiver, Reply


def test_replay_cancels_the_originals_pending_retry_to_the_same_destination(client, auth, clock):
    with Receiver(lambda n: Reply(500) if n == 1 else Reply(200)) as receiver:
        source = make_source(client, auth)
        make_route(client, auth, receiver.url, source["id"])
        original = ingest(client, source, b'{"type": "order.paid"}')["id"]
        assert drain(client) == 1
        assert event_detail(client, auth, original)["event"]["status"] == "retry_scheduled"

        replay = client.post(f"/v1/events/{original}/replay", headers=auth)
        assert replay.status_code == 202, replay.text
        replay_id = replay.json()["data"]["replay_event_id"]
        clock.advance(3600)  # far past the original's retry
        assert drain(client) == 1
        assert drain(client) == 0

        assert [r.headers["webhook-id"] for r in receiver.requests] == [original, replay_id]
        detail = event_detail(client, auth, original)
        assert [a["outcome"] for a in detail["attempts"]] == ["http_5xx", "cancelled"]
        cancelled = detail["attempts"][1]
        assert cancelled["error_message"] == f"superseded by replay {replay_id}"
        assert cancelled["attempt_number"] == 2
        assert detail["event"]["status"] == "replayed"
        assert detail["event"]["next_attempt_at"] is None
        replayed = event_detail(client, auth, replay_id)
        assert replayed["event"]["status"] == "delivered"


def test_a_retry_to_a_destination_the_replay_does_not_go_to_is_kept(client, auth, clock):
    with Receiver(lambda n: Reply(500) if n == 1 else Reply(200)) as kept:
        source = make_source(client, auth)
        make_route(client, auth, kept.url, source["id"])
        original = ingest(client, source)["id"]
        assert drain(client) == 1
        # The route goes away: the replay is delivered nowhere, so the retry still stands.
        route_id = client.get("/v1/routes", headers=auth).json()["data"][0]["id"]
        assert client.delete(f"/v1/routes/{route_id}", headers=auth).status_code == 204
        replay = client.post(f"/v1/events/{original}/replay", headers=auth).json()["data"]
        assert replay["status"] == "accepted"
        clock.advance(3600)
        assert drain(client) == 1
        assert [r.headers["webhook-id"] for r in kept.requests] == [original, original]
        outcomes = [a["outcome"] for a in event_detail(client, auth, original)["attempts"]]
        assert outcomes == ["http_5xx", "success"]
