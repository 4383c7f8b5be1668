"""Ingest and the events API in-process, with the scheduler driven by hand on a fake clock."""

from __future__ import annotations

import base64
import json

import pytest

from tests.conftest import bearer, new_account
from tests.support.api import drain, event_detail, ingest, make_route, make_source
from tests.support.receiver import Receiver, Reply


def test_event_without_routes_is_accepted_and_readable(client, auth):
    source = make_source(client, auth)
    accepted = ingest(client, source, b'{"type": "user.created"}')
    assert accepted["status"] == "accepted"
    event = event_detail(client, auth, accepted["id"])["event"]
    assert event["status"] == "accepted" and event["final_state"] == "accepted"
    assert event["event_type"] == "user.created"
    assert event["created_by"] == "ingest" and event["received_at"].endswith("Z")


def test_unknown_and_deleted_tokens_are_404(client, auth):
    source = make_source(client, auth)
    ingest(client, source)
    assert client.post("/ingest/nope", content=b"{}").status_code == 404
    assert client.delete(f"/v1/sources/{source['id']}", headers=auth).status_code == 204
    gone = client.post(f"/ingest/{source['path_token']}", content=b"{}")
    assert gone.status_code == 404 and gone.json() == {"error": "unknown ingest token"}
    assert client.get("/v1/events", headers=auth).json()["data"]["total"] == 1


def test_raw_body_kept_byte_for_byte_and_binary_as_base64(client, auth):
    source = make_source(client, auth)
    text = ingest(client, source, "héllo wörld".encode(), {"content-type": "text/plain"})
    binary = ingest(
        client, source, b"\xff\xfe\x00raw", {"content-type": "application/octet-stream"}
    )
    assert event_detail(client, auth, text["id"])["event"]["body"] == "héllo wörld"
    stored = event_detail(client, auth, binary["id"])["event"]
    assert stored["body_encoding"] == "base64"
    assert base64.b64decode(stored["body"]) == b"\xff\xfe\x00raw"


def test_list_filters_and_pagination(client, auth, clock):
    first, second = make_source(client, auth), make_source(client, auth)
    ids = []
    for n in range(5):
        ids.append(ingest(client, first, json.dumps({"type": f"t{n % 2}"}).encode())["id"])
        clock.advance(60)
    ingest(client, second, b'{"type": "t0"}')

    def page(**params):
        answer = client.get("/v1/events", params=params, headers=auth)
        assert answer.status_code == 200, answer.text
        return answer.json()["data"]

    everything = page()
    assert everything["total"] == 6
    assert [e["id"] for e in everything["items"][1:]] == list(reversed(ids))
    assert page(source_id=first["id"])["total"] == 5
    assert page(event_type="t1")["total"] == 2
    assert page(status="accepted")["total"] == 6
    assert page(status="delivered")["total"] == 0
    limited = page(limit=2, offset=1, source_id=first["id"])
    assert [e["id"] for e in limited["items"]] == [ids[3], ids[2]] and limited["total"] == 5
    start = event_detail(client, auth, ids[2])["event"]["received_at"]
    assert page(since=start, source_id=first["id"])["total"] == 3
    assert page(until=start, source_id=first["id"])["total"] == 3


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"status": "bogus"}, "status"),
        ({"limit": "0"}, "limit"),
        ({"limit": "501"}, "limit"),
        ({"offset": "-1"}, "offset"),
        ({"limit": "ten"}, "limit"),
        ({"since": "yesterday"}, "since"),
    ],
)
def test_bad_list_parameters_are_400_naming_them(client, auth, params, field):
    answer = client.get("/v1/events", params=params, headers=auth)
    assert answer.status_code == 400
    assert answer.json()["error"].startswith(f"{field}:")


def test_retry_schedule_follows_the_fake_clock(client, auth, clock):
    with Receiver(lambda n: Reply(500) if n == 1 else Reply(200)) as receiver:
        source = make_source(client, auth)
        make_route(client, auth, receiver.url, source["id"])
        event_id = ingest(client, source)["id"]
        assert drain(client) == 1
        detail = event_detail(client, auth, event_id)
        assert detail["event"]["status"] == "retry_scheduled"
        assert detail["attempts"][0]["outcome"] == "http_5xx"
        assert detail["attempts"][0]["response_body"] == "ok"
        # The default policy waits about 5 s (±20 % jitter) before the first retry.
        assert drain(client) == 0
        clock.advance(3.9)
        assert drain(client) == 0
        clock.advance(2.2)
        assert drain(client) == 1
        detail = event_detail(client, auth, event_id)
        assert detail["event"]["status"] == "delivered"
        assert detail["event"]["next_attempt_at"] is None
        assert [a["outcome"] for a in detail["attempts"]] == ["http_5xx", "success"]
        assert len(receiver.requests) == 2


def test_deactivating_a_destination_cancels_pending_deliveries(client, auth):
    source = make_source(client, auth)
    destination = make_route(client, auth, "http://127.0.0.1:9/never", source["id"])
    event_id = ingest(client, source)["id"]
    assert event_detail(client, auth, event_id)["event"]["status"] == "queued"
    patched = client.patch(
        f"/v1/destinations/{destination['id']}", json={"active": False}, headers=auth
    )
    assert patched.status_code == 200
    detail = event_detail(client, auth, event_id)
    assert [a["outcome"] for a in detail["attempts"]] == ["cancelled"]
    assert detail["event"]["status"] == "accepted"
    assert drain(client) == 0


def test_routes_match_event_type_globs(client, auth):
    with Receiver() as receiver:
        source = make_source(client, auth)
        make_route(client, auth, receiver.url, source["id"], event_type_pattern="order.*")
        matching = ingest(client, source, b'{"type": "order.paid"}')
        other = ingest(client, source, b'{"type": "user.created"}')
        untyped = ingest(client, source, b"not json")
        assert matching["status"] == "queued"
        assert other["status"] == "accepted" and untyped["status"] == "accepted"
        drain(client)
        assert [r.headers["webhook-id"] for r in receiver.requests] == [matching["id"]]


def test_basic_auth_credentials_are_not_stored_with_the_event(client, auth):
    source = make_source(
        client,
        auth,
        auth_mode="basic_auth",
        verification_config={"username": "hook", "password": "pa55word!"},
    )
    credentials = base64.b64encode(b"hook:pa55word!").decode()
    refused = client.post(f"/ingest/{source['path_token']}", content=b"{}")
    assert refused.status_code == 401
    accepted = ingest(client, source, b"{}", {"authorization": f"Basic {credentials}"})
    headers = event_detail(client, auth, accepted["id"])["event"]["headers"]
    assert headers["authorization"] == "[redacted]"


def test_other_accounts_events_are_404(client, auth):
    source = make_source(client, auth)
    event_id = ingest(client, source)["id"]
    _, other_key = new_account(client, "other")
    other = bearer(other_key)
    assert client.get(f"/v1/events/{event_id}", headers=other).status_code == 404
    assert client.post(f"/v1/events/{event_id}/replay", headers=other).status_code == 404
    assert client.get("/v1/events", headers=other).json()["data"]["total"] == 0
    assert client.get(f"/v1/outbound-events/{event_id}", headers=auth).status_code == 404


def test_replay_with_empty_body_and_viewer_cannot_replay(client, auth):
    source = make_source(client, auth)
    event_id = ingest(client, source)["id"]
    viewer = client.post("/v1/api-keys", json={"name": "v", "role": "viewer"}, headers=auth)
    viewer_headers = bearer(viewer.json()["data"]["key"])
    assert client.post(f"/v1/events/{event_id}/replay", headers=viewer_headers).status_code == 403
    replay = client.post(
        f"/v1/events/{event_id}/replay",
        content=b"",
        headers={**auth, "Content-Type": "application/json"},
    )
    assert replay.status_code == 202
    body = replay.json()["data"]
    assert body["original_event_id"] == event_id and body["status"] == "accepted"
    assert event_detail(client, auth, event_id)["event"]["status"] == "replayed"
    assert event_detail(client, auth, body["replay_event_id"])["event"]["replay_of"] == event_id


@pytest.mark.parametrize(
    ("payload", "content_type", "body"),
    [
        ('{"a": 1}', "application/json", '{"a": 1}'),
        ("plain words", "text/plain; charset=utf-8", "plain words"),
        ({"b": [1, 2]}, "application/json", '{"b":[1,2]}'),
    ],
)
def test_publish_outbound_payload_forms(client, auth, payload, content_type, body):
    answer = client.post(
        "/v1/outbound-events", json={"payload": payload, "event_type": "x.y"}, headers=auth
    )
    assert answer.status_code == 202
    event = client.get(f"/v1/outbound-events/{answer.json()['data']['id']}", headers=auth).json()[
        "data"
    ]["event"]
    assert event["direction"] == "outbound" and event["created_by"] == "api"
    assert event["body"] == body
    assert event["headers"]["content-type"] == content_type


def test_publish_outbound_dedupes_and_validates(client, auth):
    first = client.post(
        "/v1/outbound-events", json={"payload": "{}", "external_event_id": "e1"}, headers=auth
    ).json()["data"]
    again = client.post(
        "/v1/outbound-events", json={"payload": "{}", "external_event_id": "e1"}, headers=auth
    ).json()["data"]
    assert again == {"id": first["id"], "status": "duplicate"}
    missing = client.post("/v1/outbound-events", json={}, headers=auth)
    assert missing.status_code == 400 and missing.json()["error"] == "payload: is required"
    wrong = client.post("/v1/outbound-events", json={"payload": 5}, headers=auth)
    assert wrong.status_code == 400 and wrong.json()["error"].startswith("payload:")
    assert client.get("/v1/outbound-events", headers=auth).json()["data"]["total"] == 1
    assert client.get("/v1/events", headers=auth).json()["data"]["total"] == 0


def test_outbound_fan_out_uses_routes_without_source(client, auth):
    with Receiver() as first, Receiver() as second:
        make_route(client, auth, first.url)
        make_route(client, auth, second.url)
        source = make_source(client, auth)
        make_route(client, auth, "http://127.0.0.1:9/inbound-only", source["id"])
        published = client.post(
            "/v1/outbound-events", json={"payload": '{"x": 1}'}, headers=auth
        ).json()["data"]
        assert published["status"] == "queued"
        assert drain(client) == 2
        assert len(first.requests) == 1 and len(second.requests) == 1
        detail = client.get(f"/v1/outbound-events/{published['id']}", headers=auth).json()
        assert detail["data"]["event"]["status"] == "delivered"


@pytest.mark.sqlite_only(
    "the race it stages (a routing copy older than a deletion) cannot be held on"
    " PostgreSQL, where the deletion's NOTIFY empties the cache"
)
def test_delivery_from_a_stale_routing_copy_is_cancelled_at_claim(client, auth):
    from gethook_lite.db import resources as store

    source = make_source(client, auth)
    destination = make_route(client, auth, "http://127.0.0.1:9/never", source["id"])
    ingest(client, source)  # the routing table is now cached
    drain(client)
    ctx = client.app.state.ctx
    account_id = client.get("/v1/api-keys", headers=auth).json()["data"][0]["account_id"]
    # The destination goes away behind the cache's back (as in a race with ingest).
    client.blocking_portal.call(
        ctx.db.write, store.delete_destination, account_id, destination["id"], 0.0
    )
    event_id = ingest(client, source)["id"]
    assert drain(client) == 0
    detail = event_detail(client, auth, event_id)
    assert [a["outcome"] for a in detail["attempts"]] == ["cancelled"]
    assert detail["event"]["status"] == "accepted"


def test_totals_from_tallies_agree_with_counted_totals(client, auth, clock):
    """Status and source filters answer their total from the tallies; a time filter makes
    the listing count the matching events instead: both must agree, source by source."""
    with Receiver(lambda n: Reply(200) if n % 3 else Reply(410)) as receiver:
        source = make_source(client, auth)
        other = make_source(client, auth)
        make_route(client, auth, receiver.url, source["id"])
        ids = [ingest(client, source, b'{"type": "a"}')["id"] for _ in range(9)]
        ingest(client, other, b'{"type": "a"}')
        drain(client)
        client.post(f"/v1/events/{ids[0]}/replay", headers=auth)
        drain(client)
    for status in (None, "delivered", "dead_letter", "replayed", "queued", "accepted"):
        for source_id in (None, source["id"], other["id"]):
            params = {"status": status, "source_id": source_id}
            params = {name: value for name, value in params.items() if value}
            from_tallies = client.get("/v1/events", params=params, headers=auth).json()["data"]
            counted = client.get(
                "/v1/events", params={**params, "since": "2000-01-01T00:00:00Z"}, headers=auth
            ).json()["data"]
            assert from_tallies["total"] == counted["total"], params
            assert counted["total"] >= len(counted["items"]), params
    assert client.get("/v1/events", headers=auth).json()["data"]["total"] == 11
    by_source = client.get("/v1/events", params={"source_id": other["id"]}, headers=auth)
    assert by_source.json()["data"]["total"] == 1


def test_concurrent_duplicates_store_one_event(client, auth):
    source = make_source(client, auth)
    ctx = client.app.state.ctx

    async def burst():
        import asyncio

        from gethook_lite.domain.accept import ingest as accept

        headers = [(b"idempotency-key", b"same")]
        return await asyncio.gather(
            *(accept(ctx, source["path_token"], headers, b"{}") for _ in range(5))
        )

    results = client.blocking_portal.call(burst)
    assert sorted(status for _, status in results) == ["accepted"] + ["duplicate"] * 4
    assert len({event_id for event_id, _ in results}) == 1
    assert client.get("/v1/events", headers=auth).json()["data"]["total"] == 1
