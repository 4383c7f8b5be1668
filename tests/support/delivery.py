"""Helpers for end-to-end delivery tests against a real server (``tests/support/server.py``)."""

from __future__ import annotations

import hashlib
import hmac
import time

import httpx

__all__ = ["FAST_RETRIES", "stripe_headers", "wait_for_event", "wire"]

FAST_RETRIES = {"max_attempts": 3, "backoff": "fixed", "initial_interval_seconds": 0.2}


def wire(
    api: httpx.Client,
    receiver_url: str,
    *,
    source: dict | None = None,
    retry_policy: dict | None = None,
    timeout_seconds: int = 5,
) -> tuple[dict, dict]:
    """Create a source, a destination and a route between them; return (source, destination)."""
    created_source = api.post("/v1/sources", json={"name": "src", **(source or {})})
    assert created_source.status_code == 201, created_source.text
    destination = api.post(
        "/v1/destinations",
        json={"name": "dst", "url": receiver_url, "timeout_seconds": timeout_seconds},
    )
    assert destination.status_code == 201, destination.text
    route = api.post(
        "/v1/routes",
        json={
            "source_id": created_source.json()["data"]["id"],
            "destination_id": destination.json()["data"]["id"],
            "retry_policy": retry_policy or FAST_RETRIES,
        },
    )
    assert route.status_code == 201, route.text
    return created_source.json()["data"], destination.json()["data"]


def wait_for_event(api: httpx.Client, event_id: str, statuses: set[str], timeout=10.0) -> dict:
    """Poll a real server (its scheduler runs on its own) until the event reaches a status."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        detail = api.get(f"/v1/events/{event_id}").json()["data"]
        if detail["event"]["status"] in statuses:
            return detail
        time.sleep(0.05)
    raise AssertionError(f"event {event_id} stayed {detail['event']['status']}")


def stripe_headers(secret: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    timestamp = timestamp or int(time.time())
    signed = f"{timestamp}.".encode() + body
    signature = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return {"Stripe-Signature": f"t={timestamp},v1={signature}", "Content-Type": "application/json"}
