"""Sink sources: raw capture, response plans, verification, and GET /v1/events/wait."""

from __future__ import annotations

import base64
import hashlib
import hmac
import threading
import time

import pytest

from tests.conftest import bearer, new_account
from tests.support.api import event_detail, ingest, make_source


def _events(client, auth) -> list[dict]:
    return client.get("/v1/events", headers=auth).json()["data"]["items"]


# -- capture -------------------------------------------------------------------------------


def test_sources_are_not_sinks_unless_asked(client, auth):
    plain = make_source(client, auth)
    assert plain["sink"] is False
    sink = make_source(client, auth, sink=True)
    assert sink["sink"] is True
    assert client.get(f"/v1/sources/{sink['id']}", headers=auth).json()["data"]["sink"] is True
    patched = client.patch(f"/v1/sources/{plain['id']}", json={"sink": True}, headers=auth)
    assert patched.status_code == 200 and patched.json()["data"]["sink"] is True
    # The change reaches ingest at once (the cached source is dropped).
    assert client.get(f"/ingest/{plain['path_token']}").status_code == 202


def test_a_sink_keeps_duplicates_as_their_own_events(client, auth):
    source = make_source(client, auth, sink=True)
    headers = {"idempotency-key": "same", "content-type": "application/json"}
    first = ingest(client, source, b'{"n":1}', headers)
    second = ingest(client, source, b'{"n":1}', headers)
    assert first["id"] != second["id"]
    assert {first["status"], second["status"]} == {"accepted"}
    stored = _events(client, auth)
    assert len(stored) == 2
    assert {e["external_event_id"] for e in stored} == {"same"}


def test_a_sink_captures_method_sub_path_query_headers_and_body(client, auth):
    source = make_source(client, auth, sink=True)
    url = f"/ingest/{source['path_token']}/hooks/orders/7?x=1&y=a%20b"
    body = b"\x00\xffraw bytes"
    answer = client.put(url, content=body, headers={"x-custom": "v", "authorization": "Bearer s"})
    assert answer.status_code == 202, answer.text
    event = event_detail(client, auth, answer.json()["data"]["id"])["event"]
    assert event["request_method"] == "PUT"
    assert event["request_path"] == "/hooks/orders/7"
    assert event["request_query"] == "x=1&y=a%20b"
    assert event["headers"]["x-custom"] == "v"
    assert event["headers"]["authorization"] != "Bearer s"  # credentials stay redacted
    assert event["body_encoding"] == "base64"
    for method in ("GET", "DELETE", "PATCH"):
        assert client.request(method, f"/ingest/{source['path_token']}").status_code == 202
    methods = [e["request_method"] for e in _events(client, auth)]
    assert sorted(methods) == ["DELETE", "GET", "PATCH", "PUT"]
    assert {e["request_path"] for e in _events(client, auth)} == {"", "/hooks/orders/7"}


def test_other_sources_keep_post_only_and_one_segment(client, auth):
    source = make_source(client, auth)
    token = source["path_token"]
    assert client.get(f"/ingest/{token}").status_code == 405
    assert client.get(f"/ingest/{token}").headers["allow"] == "POST"
    assert client.post(f"/ingest/{token}/more").status_code == 404
    assert client.get("/ingest/unknown-token").status_code == 405
    assert client.post("/ingest/unknown-token/more").status_code == 404
    assert client.post(f"/ingest/{token}/").status_code == 202
    ingest(client, source, b"{}", {"idempotency-key": "k"})
    duplicate = client.post(f"/ingest/{token}?a=1", content=b"{}", headers={"idempotency-key": "k"})
    assert duplicate.json()["data"]["status"] == "duplicate"
    # Ingested events carry their request line, sub-path empty; API-made ones carry none.
    first = _events(client, auth)[-1]
    assert (first["request_method"], first["request_path"], first["request_query"]) == (
        "POST",
        "",
        "",
    )
    published = client.post("/v1/outbound-events", json={"payload": {}}, headers=auth).json()
    outbound = client.get(f"/v1/outbound-events/{published['data']['id']}", headers=auth)
    assert outbound.json()["data"]["event"]["request_method"] is None


# -- response plans ------------------------------------------------------------------------


def test_a_response_plan_answers_in_turn_then_repeats_the_last(client, auth):
    source = make_source(client, auth, sink=True)
    plan = client.put(
        f"/v1/sources/{source['id']}/response-plan",
        json={"statuses": [500, 503, 200]},
        headers=auth,
    )
    assert plan.status_code == 200, plan.text
    assert plan.json()["data"] == {
        "statuses": [500, 503, 200],
        "delay_ms": 0,
        "body": None,
        "position": 0,
        "scripted": True,
    }
    url = f"/ingest/{source['path_token']}"
    statuses = [client.post(url, content=b"{}").status_code for _ in range(5)]
    assert statuses == [500, 503, 200, 200, 200]
    # Every request is stored, the scripted failures included; the answer says so.
    assert len(_events(client, auth)) == 5
    failed = client.post(f"/v1/sources/{source['id']}/response-plan", headers=auth)
    assert failed.status_code == 405
    current = client.get(f"/v1/sources/{source['id']}/response-plan", headers=auth)
    assert current.json()["data"]["position"] == 5


def test_a_scripted_failure_says_the_request_was_stored(client, auth):
    source = make_source(client, auth, sink=True)
    client.put(f"/v1/sources/{source['id']}/response-plan", json={"statuses": [500]}, headers=auth)
    answer = client.post(f"/ingest/{source['path_token']}", content=b"{}")
    assert answer.status_code == 500
    body = answer.json()
    assert body["code"] == "scripted_response"
    assert body["event_id"] == answer.headers["x-gethook-event-id"]
    assert "stored" in body["error"]
    event_detail(client, auth, body["event_id"])


def test_a_plan_body_is_sent_and_a_reset_restores_the_default(client, auth):
    source = make_source(client, auth, sink=True)
    path = f"/v1/sources/{source['id']}/response-plan"
    client.put(path, json={"statuses": [429], "body": "slow down"}, headers=auth)
    answer = client.post(f"/ingest/{source['path_token']}", content=b"{}")
    assert (answer.status_code, answer.text) == (429, "slow down")
    assert answer.headers["content-type"].startswith("text/plain")
    assert client.delete(path, headers=auth).status_code == 204
    assert client.get(path, headers=auth).json()["data"]["scripted"] is False
    answer = client.post(f"/ingest/{source['path_token']}", content=b"{}")
    assert answer.status_code == 202
    assert answer.json()["data"]["status"] == "accepted"


def test_each_capture_takes_the_next_position_from_the_database(client, auth):
    # No copy in memory (two processes on PostgreSQL share one plan): tests/api/
    # test_sink_on_postgres.py answers one plan from two apps in turn.
    source = make_source(client, auth, sink=True)
    client.put(
        f"/v1/sources/{source['id']}/response-plan", json={"statuses": [500, 201]}, headers=auth
    )
    assert client.post(f"/ingest/{source['path_token']}").status_code == 500
    assert client.post(f"/ingest/{source['path_token']}").status_code == 201


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"statuses": []}, "statuses"),
        ({"statuses": [99]}, "statuses"),
        ({"statuses": [600]}, "statuses"),
        ({"statuses": [200] * 101}, "statuses"),
        ({"statuses": ["200"]}, "statuses"),
        ({"statuses": [200], "delay_ms": -1}, "delay_ms"),
        ({"statuses": [200], "delay_ms": 60_001}, "delay_ms"),
        ({}, "statuses"),
    ],
)
def test_bad_plans_are_400_naming_the_field(client, auth, body, named):
    source = make_source(client, auth, sink=True)
    answer = client.put(f"/v1/sources/{source['id']}/response-plan", json=body, headers=auth)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"].startswith(named)


def test_plans_are_for_the_callers_sink_sources_only(client, auth):
    plain = make_source(client, auth)
    answer = client.put(
        f"/v1/sources/{plain['id']}/response-plan", json={"statuses": [500]}, headers=auth
    )
    assert answer.status_code == 409
    sink = make_source(client, auth, sink=True)
    other = bearer(new_account(client, "other")[1])
    path = f"/v1/sources/{sink['id']}/response-plan"
    assert client.put(path, json={"statuses": [500]}, headers=other).status_code == 404
    assert client.get(path, headers=other).status_code == 404
    assert client.delete(path, headers=other).status_code == 404


# -- verification ----------------------------------------------------------------------------


def test_a_verifying_sink_records_rejected_requests_with_their_reason(client, auth):
    secret = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    source = make_source(
        client,
        auth,
        sink=True,
        provider="standard_webhooks",
        verification_config={"secret": secret},
    )
    url = f"/ingest/{source['path_token']}/any/path"
    refused = client.post(url, content=b"{}", headers={"webhook-id": "m1"})
    assert refused.status_code == 401
    rejected = client.get(f"/v1/sources/{source['id']}/rejected-requests", headers=auth)
    items = rejected.json()["data"]["items"]
    assert len(items) == 1 and items[0]["reason"]
    body = b'{"type":"invoice.paid"}'
    signed = _standard_webhook_headers(secret, "m2", body, client.app.state.ctx.clock.now())
    for _ in range(2):
        assert client.post(url, content=body, headers=signed).status_code == 202
    assert [e["event_type"] for e in _events(client, auth)] == ["invoice.paid"] * 2


def _standard_webhook_headers(secret: str, msg_id: str, body: bytes, now: float) -> dict:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    timestamp = str(int(now))
    signed = f"{msg_id}.{timestamp}.".encode() + body
    signature = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": timestamp,
        "webhook-signature": f"v1,{signature}",
    }


# -- waiting -------------------------------------------------------------------------------


def _wait(client, auth, **params):
    return client.get("/v1/events/wait", params=params, headers=auth)


def test_a_wait_already_met_answers_at_once_oldest_first(client, auth):
    source = make_source(client, auth, sink=True)
    ids = [
        ingest(client, source, f'{{"type":"{t}"}}'.encode(), {"x-event-type": t})["id"]
        for t in ("invoice.paid", "customer.created", "invoice.voided")
    ]
    answer = _wait(client, auth, count=2, event_type="invoice.*", source_id=source["id"])
    assert answer.status_code == 200, answer.text
    found = answer.json()["data"]
    assert [e["id"] for e in found] == [ids[0], ids[2]]
    after = _wait(client, auth, count=1, after=ids[0], event_type="invoice.*", timeout=0)
    assert [e["id"] for e in after.json()["data"]] == [ids[2]]


def test_a_wait_returns_as_soon_as_the_event_is_committed(client, auth):
    source = make_source(client, auth, sink=True)
    result: dict = {}

    def waiter() -> None:
        result["answer"] = _wait(client, auth, count=1, source_id=source["id"], timeout=10)
        result["at"] = time.monotonic()

    thread = threading.Thread(target=waiter)
    thread.start()
    time.sleep(0.3)  # the waiter is parked on the feed
    assert "answer" not in result
    sent_at = time.monotonic()
    event = ingest(client, source)
    thread.join(5)
    assert result["answer"].status_code == 200
    assert [e["id"] for e in result["answer"].json()["data"]] == [event["id"]]
    latency = result["at"] - sent_at
    assert latency < 0.5, latency  # on the commit, not at a poll or the timeout


def test_a_wait_that_times_out_says_what_arrived(client, auth):
    source = make_source(client, auth, sink=True)
    ingest(client, source, b"{}", {"x-event-type": "invoice.paid"})
    ingest(client, source, b"{}", {"x-event-type": "customer.created"})
    started = time.monotonic()
    answer = _wait(
        client, auth, count=3, event_type="invoice.*", source_id=source["id"], timeout=0.2
    )
    assert time.monotonic() - started < 2
    assert answer.status_code == 408
    assert answer.json() == {
        "error": "timed out after 0.2 s: 1 of 3 matching events arrived",
        "code": "wait_timeout",
        "matched": 1,
        "arrived": {"invoice.paid": 1, "customer.created": 1},
    }


def test_waits_are_account_scoped(client, auth):
    source = make_source(client, auth, sink=True)
    ingest(client, source)
    other = bearer(new_account(client, "other")[1])
    assert _wait(client, other, count=1, source_id=source["id"], timeout=0).status_code == 404
    mine = _wait(client, other, count=1, timeout=0)
    assert mine.status_code == 408 and mine.json()["matched"] == 0


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"count": 0}, "count"),
        ({"count": 1001}, "count"),
        ({"count": "x"}, "count"),
        ({"timeout": 301}, "timeout"),
        ({"timeout": -1}, "timeout"),
        ({"after": "nope"}, "after"),
        ({"event_type": "a b"}, "event_type"),
    ],
)
def test_bad_wait_parameters_are_400_naming_them(client, auth, params, named):
    answer = _wait(client, auth, **params)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"].startswith(named)


def test_a_wait_leaves_the_change_feed_when_it_answers(client, auth):
    feed = client.app.state.ctx.change_feed
    assert _wait(client, auth, count=1, timeout=0.05).status_code == 408
    assert feed.subscribers == 0
    ingest(client, make_source(client, auth, sink=True))
    assert _wait(client, auth, count=1, timeout=1).status_code == 200
    assert feed.subscribers == 0
