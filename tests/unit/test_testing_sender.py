"""webhook_sender's engine (gethook_lite.testing.sender): each provider's webhook reaches a real
receiver signed so that the gateway's own verifier accepts it, with the test-event samples."""

from __future__ import annotations

import base64
import json
import time

import pytest

from gethook_lite.ingest.event_typing import identify_event
from gethook_lite.ingest.verification import VerificationFailed, verify_request
from gethook_lite.samples import SampleIds, build_sample, sample_event_types
from gethook_lite.testing.sender import PROVIDERS, WebhookSender, build, send
from tests.support.receiver import Receiver, Reply

SECRETS = {
    "stripe": "whsec_stripe_endpoint_secret_0123456789",
    "github": "a github webhook secret",
    "shopify": "shpss_0123456789abcdef0123456789abcdef",
    "slack": "8f742231b10e8888abcd99yyyzzz85a5",
    "standard_webhooks": "whsec_" + base64.b64encode(b"k" * 32).decode(),
}
CASES = [(provider, kind) for provider in SECRETS for kind in sample_event_types(provider)]


@pytest.fixture(scope="module")
def receiver():
    with Receiver(lambda n: Reply(200, b'{"ok": true}', {"content-type": "application/json"})) as r:
        yield r


def test_every_provider_with_samples_is_offered():
    assert set(SECRETS) | {"generic"} == set(PROVIDERS)


@pytest.mark.parametrize(("provider", "event_type"), CASES)
def test_each_provider_webhook_arrives_signed_as_the_gateway_verifies(
    receiver, provider, event_type
):
    before = len(receiver.requests)
    sent = send(provider, event_type, receiver.url, secret=SECRETS[provider])
    assert sent.status_code == 200 and sent.json() == {"ok": True}
    got = receiver.wait_for(before + 1)[before]
    assert got.body == sent.request.body
    # The gateway's own verifier, as a source with this provider preset runs it.
    verify_request(provider, {"secret": SECRETS[provider]}, got.headers, got.body, time.time())
    identity = identify_event(provider, got.headers, got.body)
    assert identity.event_type == event_type == sent.event_type
    assert identity.external_event_id == sent.event_id


@pytest.mark.parametrize("provider", sorted(SECRETS))
def test_a_wrong_secret_does_not_verify(receiver, provider):
    before = len(receiver.requests)
    send(provider, None, receiver.url, secret=SECRETS[provider])
    got = receiver.wait_for(before + 1)[before]
    wrong = "whsec_" + base64.b64encode(b"w" * 32).decode()
    with pytest.raises(VerificationFailed, match="no matching signature"):
        verify_request(provider, {"secret": wrong}, got.headers, got.body, time.time())


@pytest.mark.parametrize("provider", sorted(SECRETS))
def test_the_body_is_the_test_event_sample(provider):
    # The same builder and ids as POST /v1/sources/{id}/test-events: the same bytes.
    now = 1_800_000_000.0
    built = build(provider, None, SECRETS[provider], now=now, seed=3)
    assert built.body == build_sample(provider, None, now=now, ids=SampleIds(3)).body


def test_a_payload_replaces_the_sample_body_and_is_what_is_signed(receiver):
    before = len(receiver.requests)
    payload = {"id": "evt_custom", "type": "invoice.paid", "object": "event", "data": {"n": 1}}
    sent = send("stripe", "invoice.paid", receiver.url, SECRETS["stripe"], payload=payload)
    got = receiver.wait_for(before + 1)[before]
    assert json.loads(got.body) == payload
    verify_request("stripe", {"secret": SECRETS["stripe"]}, got.headers, got.body, time.time())
    assert sent.request.body == got.body


def test_extra_headers_are_sent_and_may_override(receiver):
    before = len(receiver.requests)
    send(
        "github",
        "push",
        receiver.url,
        SECRETS["github"],
        headers={"X-Trace": "t1", "User-Agent": "test-agent"},
    )
    got = receiver.wait_for(before + 1)[before]
    assert got.headers["x-trace"] == "t1"
    assert got.headers["user-agent"] == "test-agent"


def test_an_old_signature_can_be_made_to_test_a_replay_window():
    old = time.time() - 3600
    built = build("standard_webhooks", None, SECRETS["standard_webhooks"], now=old)
    headers = {name.lower(): value for name, value in built.headers.items()}
    with pytest.raises(VerificationFailed, match="timestamp outside tolerance"):
        verify_request(
            "standard_webhooks",
            {"secret": SECRETS["standard_webhooks"]},
            headers,
            built.body,
            time.time(),
        )


def test_svix_is_standard_webhooks_and_generic_is_unsigned(receiver):
    built = WebhookSender().build("svix", None, SECRETS["standard_webhooks"])
    assert "webhook-signature" in built.headers
    before = len(receiver.requests)
    sent = send("generic", "order.created", receiver.url)
    got = receiver.wait_for(before + 1)[before]
    assert json.loads(got.body)["type"] == "order.created" == sent.event_type
    assert not any("signature" in name for name in got.headers)


def test_a_non_2xx_answer_is_returned_not_raised():
    with Receiver(lambda n: Reply(500, b"boom")) as failing:
        sent = send("shopify", None, failing.url, SECRETS["shopify"])
    assert sent.status_code == 500 and sent.text == "boom" and not sent.is_success


def test_mistakes_are_named():
    with pytest.raises(ValueError, match="unknown provider 'paypal'"):
        build("paypal", None, "s")
    with pytest.raises(ValueError, match="stripe webhooks are signed: pass secret="):
        build("stripe", None, None)
    assert WebhookSender().event_types("svix") == sample_event_types("standard_webhooks")
