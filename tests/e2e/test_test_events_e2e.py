"""A test event end to end: a real server signs a Stripe sample with the source's secret,
verifies it at ingest and delivers it to a real receiver with our Standard Webhooks signature."""

from __future__ import annotations

import httpx

from tests.support.delivery import stripe_headers, wait_for_event, wire
from tests.support.receiver import Receiver, Reply
from tests.support.standard_webhooks import verify_standard_webhook


def test_stripe_test_event_reaches_a_real_receiver(server, account_key):
    with Receiver() as receiver, server.client(account_key) as api:
        source, destination = wire(
            api,
            receiver.url,
            source={"provider": "stripe", "verification_config": {"secret": "whsec_e2e_secret"}},
        )
        answer = api.post(
            f"/v1/sources/{source['id']}/test-events", json={"event_type": "invoice.paid"}
        )
        assert answer.status_code == 202, answer.text
        event = answer.json()["data"]["event"]
        assert event["event_type"] == "invoice.paid"
        wait_for_event(api, event["id"], {"delivered"})
        received = receiver.requests[0]
        assert received.body == event["body"].encode()
        assert verify_standard_webhook(
            destination["signing_secret"], received.headers, received.body
        )


def _stripe_signed(headers: dict[str, str], body: bytes, secret: str) -> bool:
    """What a receiver using Stripe's verification does: recompute t= and v1= with the secret."""
    header = headers.get("stripe-signature")
    if header is None:
        return False
    timestamp = int(dict(part.split("=", 1) for part in header.split(","))["t"])
    return stripe_headers(secret, body, timestamp)["Stripe-Signature"] == header


def test_forward_original_headers_lets_a_stripe_checking_receiver_verify(server, account_key):
    secret = "whsec_e2e_forward_secret"
    receiver: Receiver

    def answer(n: int) -> Reply:
        got = receiver.requests[n - 1]
        return Reply(status=200 if _stripe_signed(got.headers, got.body, secret) else 400)

    receiver = Receiver(answer)
    with receiver, server.client(account_key) as api, httpx.Client() as provider:
        source, destination = wire(
            api,
            receiver.url,
            source={"provider": "stripe", "verification_config": {"secret": secret}},
            retry_policy={"max_attempts": 1},
        )
        body = b'{"id": "evt_e2e_1", "type": "charge.succeeded", "object": "event"}'

        def send() -> str:
            sent = provider.post(
                source["ingest_url"], content=body, headers=stripe_headers(secret, body)
            )
            assert sent.status_code == 202, sent.text
            return sent.json()["data"]["id"]

        # Off (the default): the receiver cannot check Stripe's signature and refuses.
        detail = wait_for_event(api, send(), {"delivered", "dead_letter"})
        assert detail["event"]["status"] == "dead_letter"
        assert "stripe-signature" not in receiver.requests[0].headers
        # On: the same receiver, unchanged, accepts.
        patched = api.patch(
            f"/v1/destinations/{destination['id']}", json={"forward_original_headers": True}
        )
        assert patched.json()["data"]["forward_original_headers"] is True
        body = body.replace(b"evt_e2e_1", b"evt_e2e_2")
        detail = wait_for_event(api, send(), {"delivered", "dead_letter"})
        assert detail["event"]["status"] == "delivered", detail["attempts"]
        assert _stripe_signed(receiver.requests[1].headers, receiver.requests[1].body, secret)


def test_destination_test_reaches_a_real_receiver(server, account_key):
    with Receiver(lambda n: Reply(status=202, body=b"got it")) as receiver:
        with server.client(account_key) as api:
            _, destination = wire(api, receiver.url)
            answer = api.post(f"/v1/destinations/{destination['id']}/test")
            assert answer.status_code == 200, answer.text
            result = answer.json()["data"]
        assert result["outcome"] == "success" and result["response_status"] == 202
        assert result["response_body"] == "got it"
        received = receiver.requests[0]
        assert received.headers["webhook-id"] == result["event_id"]
        assert verify_standard_webhook(
            destination["signing_secret"], received.headers, received.body
        )
