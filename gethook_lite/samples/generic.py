"""Samples for senders without a provider preset: Standard Webhooks senders and plain JSON.

Standard Webhooks payloads follow the spec's recommended shape ``{type, timestamp, data}``;
the generic ones carry their type and id in both the body and X-Event-Type / X-Event-Id, the
fields the gateway reads when no provider says otherwise.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gethook_lite.samples.model import Sample, SampleIds, compact_json, iso_time

__all__ = [
    "GENERIC_EVENT_TYPES",
    "STANDARD_WEBHOOKS_EVENT_TYPES",
    "generic_sample",
    "standard_webhooks_sample",
]

_USER_AGENT = "GetHook-Lite-Sample/1.0"


def _user_created(now: float, ids: SampleIds) -> dict[str, Any]:
    return {
        "id": ids.token("user_", 16),
        "email": "sam.lindqvist@example.com",
        "name": "Sam Lindqvist",
        "plan": "starter",
        "created_at": iso_time(now),
    }


def _order_created(now: float, ids: SampleIds) -> dict[str, Any]:
    return {
        "id": ids.token("ord_", 16),
        "customer_id": ids.token("cus_", 16),
        "currency": "EUR",
        "total_cents": 3650,
        "items": [{"sku": "TEE-BLK-M", "name": "Black tee, M", "quantity": 1, "unit_cents": 3650}],
        "status": "created",
        "created_at": iso_time(now),
    }


def _invoice_paid(now: float, ids: SampleIds) -> dict[str, Any]:
    return {
        "id": ids.token("inv_", 16),
        "customer_id": ids.token("cus_", 16),
        "currency": "USD",
        "amount_cents": 1500,
        "paid_at": iso_time(now),
    }


def _customer_updated(now: float, ids: SampleIds) -> dict[str, Any]:
    return {
        "id": ids.token("cus_", 16),
        "email": "sam.lindqvist@example.com",
        "changed": ["email"],
        "updated_at": iso_time(now),
    }


def _minimal(now: float, ids: SampleIds) -> dict[str, Any]:
    return {"id": ids.token("obj_", 16), "created_at": iso_time(now)}


_Data = Callable[[float, SampleIds], dict[str, Any]]
_STANDARD_DATA: dict[str, _Data] = {"user.created": _user_created, "invoice.paid": _invoice_paid}
_GENERIC_DATA: dict[str, _Data] = {
    "order.created": _order_created,
    "customer.updated": _customer_updated,
}
STANDARD_WEBHOOKS_EVENT_TYPES: tuple[str, ...] = tuple(_STANDARD_DATA)
GENERIC_EVENT_TYPES: tuple[str, ...] = tuple(_GENERIC_DATA)


def standard_webhooks_sample(event_type: str, now: float, ids: SampleIds) -> Sample:
    """A Standard Webhooks message; its ``msg_`` id becomes the signed webhook-id."""
    data = _STANDARD_DATA.get(event_type, _minimal)(now, ids)
    payload = {"type": event_type, "timestamp": iso_time(now, millis=True), "data": data}
    return Sample(
        provider="standard_webhooks",
        event_type=event_type,
        event_id=ids.token("msg_", 27),
        body=compact_json(payload),
        content_type="application/json",
        headers={"User-Agent": _USER_AGENT},
    )


def generic_sample(event_type: str, now: float, ids: SampleIds) -> Sample:
    """A plain JSON webhook: ``{id, type, created_at, data}`` plus X-Event-Type / X-Event-Id."""
    event_id = ids.token("evt_", 24)
    data = _GENERIC_DATA.get(event_type, _minimal)(now, ids)
    payload = {"id": event_id, "type": event_type, "created_at": iso_time(now), "data": data}
    return Sample(
        provider="generic",
        event_type=event_type,
        event_id=event_id,
        body=compact_json(payload),
        content_type="application/json",
        headers={"User-Agent": _USER_AGENT, "X-Event-Type": event_type, "X-Event-Id": event_id},
    )
