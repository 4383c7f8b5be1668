"""The webhook_sink helpers against a real `gethook sink`: raw capture read back typed, waiting
that returns at once and fails with what arrived, the cursor behind ``where``, scripted answers."""

from __future__ import annotations

import threading
import time

import pytest

from gethook_lite.testing.http import request
from gethook_lite.testing.sender import send
from gethook_lite.testing.sink import SinkServer, WebhookSink

STRIPE_SECRET = "whsec_sink_client_tests"


@pytest.fixture(scope="module")
def sink_server():
    server = SinkServer(label="gethook-sink-e2e")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def sink(sink_server) -> WebhookSink:
    api = sink_server.api()
    return WebhookSink(api, api.create_sink_source("sink client e2e"))


def post(url: str, body: bytes, method: str = "POST", **headers: str) -> int:
    return request(method, url, headers=headers, body=body).status_code


def test_any_request_is_read_back_byte_for_byte(sink):
    raw = b"\xff\xfe not utf-8"
    assert post(f"{sink.url}/a/b?x=1&x=2", raw, "PUT", **{"X-Thing": "1"}) < 300
    post(sink.url, b'{"type": "order.created"}', **{"content-type": "application/json"})
    post(sink.url, b'{"type": "order.created"}', **{"content-type": "application/json"})

    first, second, third = sink.wait_for(count=3)
    assert (first.method, first.path, first.query, first.body) == ("PUT", "/a/b", "x=1&x=2", raw)
    assert first.header("x-thing") == "1"
    # A duplicate is a request of its own.
    assert second.body == third.body and second.id != third.id
    assert [event.id for event in sink.requests] == [first.id, second.id, third.id]


def test_a_wait_returns_when_the_event_arrives_not_at_its_timeout(sink):
    timer = threading.Timer(0.3, post, (sink.url, b'{"type": "late.event"}'))
    timer.start()
    started = time.monotonic()
    [event] = sink.wait_for(event_type="late.*", timeout=10)
    elapsed = time.monotonic() - started
    timer.join()
    assert event.event_type == "late.event"
    assert 0.25 < elapsed < 3, elapsed


def test_where_keeps_waiting_past_events_that_do_not_match(sink):
    post(sink.url, b'{"type": "order.created", "n": 1}')
    timer = threading.Timer(0.3, post, (sink.url, b'{"type": "order.created", "n": 2}'))
    timer.start()
    [event] = sink.wait_for(where=lambda e: e.json()["n"] == 2, timeout=10)
    timer.join()
    assert event.json()["n"] == 2


def test_a_timeout_says_what_arrived_and_where(sink):
    post(sink.url, b'{"type": "order.created"}')
    post(sink.url, b'{"type": "order.created"}')
    post(f"{sink.url}/x", b"plain")
    with pytest.raises(AssertionError) as failure:
        sink.wait_for(count=1, event_type="invoice.*", timeout=0.3)
    message = str(failure.value)
    assert sink.url in message and sink.source_id in message
    assert "0 matched; 3 request(s) arrived: order.created x2, (no type) x1" in message
    assert "POST /x (no type)" in message


def test_a_timeout_with_nothing_arrived_says_so(sink):
    with pytest.raises(AssertionError, match="Nothing arrived at all"):
        sink.wait_for(timeout=0.2)


def test_assert_no_more_catches_a_late_duplicate(sink):
    post(sink.url, b'{"type": "order.created"}')
    sink.wait_for()
    sink.assert_no_more(timeout=0.2)
    timer = threading.Timer(0.1, post, (sink.url, b'{"type": "order.created"}'))
    timer.start()
    with pytest.raises(AssertionError, match=r"1 more arrived: POST / order\.created"):
        sink.assert_no_more(timeout=5)
    timer.join()


def test_scripted_answers_then_the_default_again(sink):
    sink.respond_with([500, 429, 200], body='{"ok": false}')
    statuses = [post(sink.url, b"{}") for _ in range(4)]
    assert statuses == [500, 429, 200, 200]
    sink.respond_with(418, delay_ms=200)
    started = time.monotonic()
    assert post(sink.url, b"{}") == 418
    assert time.monotonic() - started >= 0.2
    sink.reset_responses()
    assert post(sink.url, b"{}") == 202
    assert len(sink.wait_for(count=6)) == 6


def test_a_sent_provider_webhook_verifies_in_the_sink(sink):
    sent = send("stripe", "payment_intent.succeeded", sink.url, secret=STRIPE_SECRET)
    assert sent.status_code == 202
    [event] = sink.wait_for(event_type="payment_intent.succeeded")
    sink.assert_signed("stripe", STRIPE_SECRET, event)
