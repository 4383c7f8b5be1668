"""Shopify sample webhooks: the topic travels in X-Shopify-Topic, the body is the resource.

Payloads are ours, shaped like Shopify's (prices as decimal strings, numeric ids with a
``gid://`` twin), with made-up values.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gethook_lite.samples.model import Sample, SampleIds, compact_json, iso_time

__all__ = ["SHOPIFY_EVENT_TYPES", "SHOPIFY_SHOP_DOMAIN", "shopify_sample"]

SHOPIFY_SHOP_DOMAIN = "gethook-demo.myshopify.com"
_API_VERSION = "2024-07"
_ID_DIGITS = 13


def _gid(resource: str, number: int) -> str:
    return f"gid://shopify/{resource}/{number}"


def _order(now: float, ids: SampleIds, *, paid: bool) -> dict[str, Any]:
    order_id = ids.number(_ID_DIGITS)
    product_id = ids.number(_ID_DIGITS)
    return {
        "id": order_id,
        "admin_graphql_api_id": _gid("Order", order_id),
        "name": "#1042",
        "order_number": 1042,
        "email": "jane.rivera@example.com",
        "created_at": iso_time(now - (600 if paid else 0)),
        "updated_at": iso_time(now),
        "currency": "USD",
        "subtotal_price": "44.00",
        "total_tax": "5.00",
        "total_price": "49.00",
        "financial_status": "paid" if paid else "pending",
        "fulfillment_status": None,
        "line_items": [
            {
                "id": ids.number(_ID_DIGITS),
                "product_id": product_id,
                "variant_id": ids.number(_ID_DIGITS),
                "title": "Webhook Mug",
                "sku": "MUG-WH-01",
                "quantity": 2,
                "price": "22.00",
            }
        ],
        "customer": {
            "id": ids.number(_ID_DIGITS),
            "email": "jane.rivera@example.com",
            "first_name": "Jane",
            "last_name": "Rivera",
        },
        "shipping_address": {
            "name": "Jane Rivera",
            "address1": "12 Harbour Lane",
            "city": "Portland",
            "province_code": "OR",
            "zip": "97201",
            "country_code": "US",
        },
    }


def _orders_create(now: float, ids: SampleIds) -> dict[str, Any]:
    return _order(now, ids, paid=False)


def _orders_paid(now: float, ids: SampleIds) -> dict[str, Any]:
    return _order(now, ids, paid=True)


def _products_update(now: float, ids: SampleIds) -> dict[str, Any]:
    product_id = ids.number(_ID_DIGITS)
    return {
        "id": product_id,
        "admin_graphql_api_id": _gid("Product", product_id),
        "title": "Webhook Mug",
        "handle": "webhook-mug",
        "status": "active",
        "vendor": "GetHook Supply",
        "product_type": "Drinkware",
        "tags": "kitchen, gifts",
        "created_at": iso_time(now - 90 * 86_400),
        "updated_at": iso_time(now),
        "variants": [
            {
                "id": ids.number(_ID_DIGITS),
                "product_id": product_id,
                "title": "Default Title",
                "sku": "MUG-WH-01",
                "price": "22.00",
                "inventory_quantity": 37,
            }
        ],
    }


def _app_uninstalled(now: float, ids: SampleIds) -> dict[str, Any]:
    shop_id = ids.number(11)
    return {
        "id": shop_id,
        "name": "GetHook Demo Store",
        "email": "owner@example.com",
        "domain": "shop.example.com",
        "myshopify_domain": SHOPIFY_SHOP_DOMAIN,
        "plan_name": "basic",
        "country_code": "US",
        "currency": "USD",
        "created_at": iso_time(now - 400 * 86_400),
        "updated_at": iso_time(now),
    }


def _generic_resource(topic: str, now: float, ids: SampleIds) -> dict[str, Any]:
    # "customers/update" is about a Customer; "inventory_levels/…" about an InventoryLevel.
    plural = topic.partition("/")[0]
    resource = "".join(word.capitalize() for word in plural.removesuffix("s").split("_"))
    number = ids.number(_ID_DIGITS)
    return {
        "id": number,
        "admin_graphql_api_id": _gid(resource or "Resource", number),
        "created_at": iso_time(now),
        "updated_at": iso_time(now),
    }


_PAYLOADS: dict[str, Callable[[float, SampleIds], dict[str, Any]]] = {
    "orders/create": _orders_create,
    "orders/paid": _orders_paid,
    "products/update": _products_update,
    "app/uninstalled": _app_uninstalled,
}
SHOPIFY_EVENT_TYPES: tuple[str, ...] = tuple(_PAYLOADS)


def shopify_sample(event_type: str, now: float, ids: SampleIds) -> Sample:
    """A Shopify webhook on topic ``event_type``; unknown topics get a minimal resource."""
    build = _PAYLOADS.get(event_type)
    payload = build(now, ids) if build else _generic_resource(event_type, now, ids)
    webhook_id = ids.uuid()
    return Sample(
        provider="shopify",
        event_type=event_type,
        event_id=webhook_id,
        body=compact_json(payload),
        content_type="application/json",
        headers={
            "User-Agent": "Shopify-Captain-Hook",
            "X-Shopify-Topic": event_type,
            "X-Shopify-Shop-Domain": SHOPIFY_SHOP_DOMAIN,
            "X-Shopify-Webhook-Id": webhook_id,
            "X-Shopify-Event-Id": ids.uuid(),
            "X-Shopify-Triggered-At": iso_time(now, millis=True),
            "X-Shopify-API-Version": _API_VERSION,
        },
    )
