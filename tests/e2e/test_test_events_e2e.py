"""A test event end to end: a real server signs a Stripe sample with the source's secret,
verifies it at ingest and delivers it to a real receiver with our Standard Webhooks signature."""

from __future__ import annotations

from tests.support.delivery import wait_for_event, wire
from tests.support.receiver import Receiver
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
