"""Destination option forward_original_headers: a receiver that checks the provider's own
signature sits behind the gateway unchanged. Real app, real dispatcher, real local receiver."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from gethook_lite.delivery.forwarded_headers import forwardable_headers
from gethook_lite.samples import provider_request
from tests.support.api import drain, event_detail, make_source
from tests.support.receiver import Receiver, Reply

STRIPE_SECRET = "whsec_forward_headers_secret_0123456789"


def stripe_signature_ok(headers: dict[str, str], body: bytes) -> bool:
    """What a Stripe SDK does, written out: HMAC-SHA256 of "t.body" keyed with the secret."""
    header = headers.get("stripe-signature")
    if header is None:
        return False
    parts = dict(item.split("=", 1) for item in header.split(","))
    signed = f"{parts['t']}.".encode() + body
    expected = hmac.new(STRIPE_SECRET.encode(), signed, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, parts["v1"])


def stripe_checking_receiver() -> Receiver:
    """A receiver that answers 400 unless the request carries a valid Stripe-Signature."""
    receiver: Receiver

    def answer(n: int) -> Reply:
        got = receiver.requests[n - 1]
        return Reply(status=200 if stripe_signature_ok(got.headers, got.body) else 400)

    receiver = Receiver(answer)
    return receiver


def setup(client, auth, url: str, **destination_fields) -> tuple[dict, dict]:
    source = make_source(
        client, auth, provider="stripe", verification_config={"secret": STRIPE_SECRET}
    )
    destination = client.post(
        "/v1/destinations", json={"name": "d", "url": url, **destination_fields}, headers=auth
    )
    assert destination.status_code == 201, destination.text
    route = client.post(
        "/v1/routes",
        json={"destination_id": destination.json()["data"]["id"], "source_id": source["id"]},
        headers=auth,
    )
    assert route.status_code == 201, route.text
    return source, destination.json()["data"]


def send_stripe_event(client, clock, source: dict) -> str:
    request = provider_request(
        "stripe", "payment_intent.succeeded", secret=STRIPE_SECRET, now=clock.now()
    )
    headers = {
        **request.headers,
        "Authorization": "Bearer provider-credential",
        "Cookie": "session=1",
        "X-Provider-Trace": "trace-1",
    }
    answer = client.post(f"/ingest/{source['path_token']}", content=request.body, headers=headers)
    assert answer.status_code == 202, answer.text
    return answer.json()["data"]["id"]


def test_a_stripe_checking_receiver_accepts_deliveries_when_the_option_is_on(client, auth, clock):
    with stripe_checking_receiver() as receiver:
        source, destination = setup(client, auth, receiver.url, forward_original_headers=True)
        assert destination["forward_original_headers"] is True
        event_id = send_stripe_event(client, clock, source)
        drain(client)
        [attempt] = event_detail(client, auth, event_id)["attempts"]
        assert attempt["outcome"] == "success", attempt
        [got] = receiver.requests
    headers = got.headers
    assert stripe_signature_ok(headers, got.body)
    assert headers["x-provider-trace"] == "trace-1"
    # Ours still there and ours win; credentials and hop-by-hop never pass on.
    assert headers["webhook-id"] == event_id and "webhook-signature" in headers
    assert headers["content-type"].startswith("application/json")
    assert headers["user-agent"].startswith("gethook-lite/")
    assert "authorization" not in headers and "cookie" not in headers
    assert headers["host"].startswith("127.0.0.1")
    assert int(headers["content-length"]) == len(got.body)


def test_no_provider_headers_when_the_option_is_off(client, auth, clock):
    with stripe_checking_receiver() as receiver:
        source, destination = setup(client, auth, receiver.url)
        assert destination["forward_original_headers"] is False
        event_id = send_stripe_event(client, clock, source)
        drain(client)
        [attempt] = event_detail(client, auth, event_id)["attempts"]
        assert attempt["outcome"] == "http_4xx"  # the receiver could not check Stripe's signature
        [got] = receiver.requests
    assert "stripe-signature" not in got.headers
    assert "x-provider-trace" not in got.headers


def test_the_option_is_set_by_patch_and_read_back(client, auth, clock):
    with stripe_checking_receiver() as receiver:
        source, destination = setup(client, auth, receiver.url)
        url = f"/v1/destinations/{destination['id']}"
        patched = client.patch(url, json={"forward_original_headers": True}, headers=auth)
        assert patched.status_code == 200, patched.text
        assert patched.json()["data"]["forward_original_headers"] is True
        assert client.get(url, headers=auth).json()["data"]["forward_original_headers"] is True
        event_id = send_stripe_event(client, clock, source)
        drain(client)
        assert event_detail(client, auth, event_id)["attempts"][0]["outcome"] == "success"
        bad = client.patch(url, json={"forward_original_headers": "yes"}, headers=auth)
        assert bad.status_code == 400 and "error" in bad.json()


def test_a_custom_header_wins_over_the_providers_header_of_the_same_name(client, auth, clock):
    with Receiver() as receiver:
        source, _ = setup(
            client, auth, receiver.url, forward_original_headers=True,
            custom_headers={"X-Provider-Trace": "ours"},
        )  # fmt: skip
        send_stripe_event(client, clock, source)
        drain(client)
        [got] = receiver.requests
    assert got.headers["x-provider-trace"] == "ours"


@pytest.mark.parametrize(
    "name",
    ["host", "content-length", "connection", "transfer-encoding", "authorization", "cookie",
     "x-api-key", "webhook-signature", "x-gethook-attempt", "proxy-authorization",
     "content-type", "user-agent"],
)  # fmt: skip
def test_reserved_and_credential_headers_are_never_forwarded(name):
    assert forwardable_headers(json.dumps({name: "v", "x-ok": "1"}), ()) == {"x-ok": "1"}


def test_a_redacted_credential_is_never_forwarded():
    stored = json.dumps({"x-source-key": "[redacted]", "x-ok": "1"})
    assert forwardable_headers(stored, ()) == {"x-ok": "1"}
