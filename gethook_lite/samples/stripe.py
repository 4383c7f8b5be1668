"""Stripe sample events: an ``event`` object whose ``data.object`` is the resource that changed.

Payloads are ours, shaped like Stripe's (field names and types), with made-up values.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from gethook_lite.samples.model import Sample, SampleIds

__all__ = ["STRIPE_EVENT_TYPES", "stripe_sample"]

_API_VERSION = "2024-06-20"
_CURRENCY = "usd"
_ORDER_AMOUNT = 4900  # cents
_PLAN_AMOUNT = 1500
_MONTH = 30 * 86_400


def _payment_intent(now: int, ids: SampleIds, *, succeeded: bool) -> dict[str, Any]:
    intent: dict[str, Any] = {
        "id": ids.token("pi_"),
        "object": "payment_intent",
        "amount": _ORDER_AMOUNT,
        "amount_received": _ORDER_AMOUNT if succeeded else 0,
        "capture_method": "automatic_async",
        "created": now - 4,
        "currency": _CURRENCY,
        "customer": ids.token("cus_", 14),
        "description": "Order #1042 (2 x Webhook Mug)",
        "latest_charge": ids.token("ch_"),
        "livemode": False,
        "metadata": {"order_id": "1042"},
        "payment_method": ids.token("pm_"),
        "payment_method_types": ["card"],
        "status": "succeeded" if succeeded else "requires_payment_method",
        "last_payment_error": None,
    }
    if not succeeded:
        intent["last_payment_error"] = {
            "type": "card_error",
            "code": "card_declined",
            "decline_code": "insufficient_funds",
            "message": "The card has insufficient funds to complete the purchase.",
        }
    return intent


def _payment_intent_succeeded(now: int, ids: SampleIds) -> dict[str, Any]:
    return _payment_intent(now, ids, succeeded=True)


def _payment_intent_failed(now: int, ids: SampleIds) -> dict[str, Any]:
    return _payment_intent(now, ids, succeeded=False)


def _charge_refunded(now: int, ids: SampleIds) -> dict[str, Any]:
    return {
        "id": ids.token("ch_"),
        "object": "charge",
        "amount": _ORDER_AMOUNT,
        "amount_captured": _ORDER_AMOUNT,
        "amount_refunded": _ORDER_AMOUNT,
        "captured": True,
        "created": now - 3 * 86_400,
        "currency": _CURRENCY,
        "customer": ids.token("cus_", 14),
        "description": "Order #1042 (2 x Webhook Mug)",
        "livemode": False,
        "paid": True,
        "payment_intent": ids.token("pi_"),
        "refunded": True,
        "status": "succeeded",
        "metadata": {"order_id": "1042", "refund_reason": "damaged in transit"},
    }


def _subscription_created(now: int, ids: SampleIds) -> dict[str, Any]:
    return {
        "id": ids.token("sub_"),
        "object": "subscription",
        "cancel_at_period_end": False,
        "collection_method": "charge_automatically",
        "created": now,
        "currency": _CURRENCY,
        "current_period_start": now,
        "current_period_end": now + _MONTH,
        "customer": ids.token("cus_", 14),
        "items": {
            "object": "list",
            "data": [
                {
                    "id": ids.token("si_", 14),
                    "object": "subscription_item",
                    "quantity": 1,
                    "price": {
                        "id": ids.token("price_"),
                        "object": "price",
                        "currency": _CURRENCY,
                        "product": ids.token("prod_", 14),
                        "recurring": {"interval": "month", "interval_count": 1},
                        "unit_amount": _PLAN_AMOUNT,
                    },
                }
            ],
            "has_more": False,
        },
        "livemode": False,
        "metadata": {"plan": "team"},
        "status": "active",
    }


def _invoice_paid(now: int, ids: SampleIds) -> dict[str, Any]:
    return {
        "id": ids.token("in_"),
        "object": "invoice",
        "amount_due": _PLAN_AMOUNT,
        "amount_paid": _PLAN_AMOUNT,
        "amount_remaining": 0,
        "billing_reason": "subscription_cycle",
        "created": now - 3600,
        "currency": _CURRENCY,
        "customer": ids.token("cus_", 14),
        "customer_email": "jane.rivera@example.com",
        "livemode": False,
        "number": "GHL-0042",
        "paid": True,
        "period_start": now - _MONTH,
        "period_end": now,
        "status": "paid",
        "subscription": ids.token("sub_"),
        "total": _PLAN_AMOUNT,
    }


def _checkout_session_completed(now: int, ids: SampleIds) -> dict[str, Any]:
    return {
        "id": ids.token("cs_test_", 58),
        "object": "checkout.session",
        "amount_subtotal": _ORDER_AMOUNT,
        "amount_total": _ORDER_AMOUNT,
        "client_reference_id": "order_1042",
        "created": now - 120,
        "currency": _CURRENCY,
        "customer": ids.token("cus_", 14),
        "customer_details": {"email": "jane.rivera@example.com", "name": "Jane Rivera"},
        "livemode": False,
        "mode": "payment",
        "payment_intent": ids.token("pi_"),
        "payment_status": "paid",
        "status": "complete",
        "success_url": "https://shop.example.com/checkout/success",
    }


def _generic_object(event_type: str, now: int, ids: SampleIds) -> dict[str, Any]:
    # "customer.subscription.deleted" is about a subscription: the segment before the verb.
    parts = event_type.split(".")
    kind = parts[-2] if len(parts) > 1 else parts[0]
    return {"id": ids.token(f"{kind[:8]}_"), "object": kind, "created": now, "livemode": False}


_OBJECTS: dict[str, Callable[[int, SampleIds], dict[str, Any]]] = {
    "payment_intent.succeeded": _payment_intent_succeeded,
    "payment_intent.payment_failed": _payment_intent_failed,
    "charge.refunded": _charge_refunded,
    "customer.subscription.created": _subscription_created,
    "invoice.paid": _invoice_paid,
    "checkout.session.completed": _checkout_session_completed,
}
STRIPE_EVENT_TYPES: tuple[str, ...] = tuple(_OBJECTS)


def stripe_sample(event_type: str, now: float, ids: SampleIds) -> Sample:
    """A Stripe event of ``event_type``; unknown types get a minimal object of their kind."""
    created = int(now)
    build = _OBJECTS.get(event_type)
    data_object = build(created, ids) if build else _generic_object(event_type, created, ids)
    event_id = ids.token("evt_")
    event = {
        "id": event_id,
        "object": "event",
        "api_version": _API_VERSION,
        "created": created,
        "data": {"object": data_object},
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": ids.token("req_", 14), "idempotency_key": ids.uuid()},
        "type": event_type,
    }
    return Sample(
        provider="stripe",
        event_type=event_type,
        event_id=event_id,
        # Stripe sends its events pretty-printed; a verifier must sign these exact bytes.
        body=json.dumps(event, indent=2).encode(),
        content_type="application/json; charset=utf-8",
        headers={"User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)"},
    )
