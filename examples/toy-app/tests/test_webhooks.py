"""The toy shop's webhooks, tested with the gethook-lite pytest plugin (webhook_sink and
webhook_sender come from the package's pytest11 entry point: no conftest needed)."""

# readme:start
import pytest
from app import PaymentsReceiver, WebhookFailed, notify_order_created

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
STRIPE_SECRET = "whsec_toy_shop_stripe_endpoint"


def test_a_new_order_is_announced_once_and_signed(webhook_sink):
    notify_order_created(webhook_sink.url, SECRET, {"id": "ord_1", "total": 4200})

    [event] = webhook_sink.wait_for(count=1, event_type="order.created")
    assert event.json()["data"] == {"id": "ord_1", "total": 4200}
    webhook_sink.assert_signed("standard_webhooks", SECRET, event)
    webhook_sink.assert_no_more(timeout=0.5)  # and no duplicate follows


def test_the_app_retries_when_the_partner_fails(webhook_sink):
    webhook_sink.respond_with([500, 500, 200])

    assert notify_order_created(webhook_sink.url, SECRET, {"id": "ord_2"}) == 200
    attempts = webhook_sink.wait_for(count=3)
    assert len({attempt.header("webhook-id") for attempt in attempts}) == 1


def test_a_forged_stripe_payment_is_refused(webhook_sender):
    with PaymentsReceiver(STRIPE_SECRET) as shop:
        genuine = webhook_sender.send(
            "stripe", "payment_intent.succeeded", shop.url, secret=STRIPE_SECRET
        )
        forged = webhook_sender.send("stripe", "charge.refunded", shop.url, secret="whsec_x")
    assert (genuine.status_code, forged.status_code) == (200, 400)
    assert shop.payments == [genuine.event_id]


# readme:end


def test_the_app_gives_up_after_three_server_errors(webhook_sink):
    webhook_sink.respond_with(503)

    with pytest.raises(WebhookFailed, match="503"):
        notify_order_created(webhook_sink.url, SECRET, {"id": "ord_3"})
    assert len(webhook_sink.wait_for(count=3)) == 3
    webhook_sink.assert_no_more(timeout=0.3)


def test_the_sink_keeps_the_path_and_query_the_app_used(webhook_sink):
    notify_order_created(f"{webhook_sink.url}/partners/acme?v=2", SECRET, {"id": "ord_4"})

    [event] = webhook_sink.wait_for()
    assert (event.method, event.path, event.query) == ("POST", "/partners/acme", "v=2")


def test_waiting_for_one_order_among_several(webhook_sink):
    for order_id in ("ord_5", "ord_6", "ord_7"):
        notify_order_created(webhook_sink.url, SECRET, {"id": order_id})

    [event] = webhook_sink.wait_for(where=lambda e: e.json()["data"]["id"] == "ord_6")
    assert event.header("content-type") == "application/json"
    assert [e.json()["data"]["id"] for e in webhook_sink.requests] == ["ord_5", "ord_6", "ord_7"]


def test_a_signed_stripe_webhook_sent_to_a_sink_verifies(webhook_sender, webhook_sink):
    sent = webhook_sender.send("stripe", "invoice.paid", webhook_sink.url, secret=STRIPE_SECRET)

    [event] = webhook_sink.wait_for(event_type="invoice.paid")
    assert event.body == sent.request.body
    webhook_sink.assert_signed("stripe", STRIPE_SECRET, event)
    with pytest.raises(AssertionError, match="stripe signature check failed"):
        webhook_sink.assert_signed("stripe", "whsec_another", event)


def test_a_timeout_says_what_did_arrive(webhook_sink):
    notify_order_created(webhook_sink.url, SECRET, {"id": "ord_8"})

    with pytest.raises(AssertionError) as failure:
        webhook_sink.wait_for(count=1, event_type="order.cancelled", timeout=0.5)
    message = str(failure.value)
    assert "0 matched" in message and "order.created x1" in message
    assert webhook_sink.url in message
