"""A toy shop's webhooks: it tells a partner about new orders (signed the Standard Webhooks way,
retried on 5xx) and it receives Stripe payment webhooks (checking Stripe's signature).

An ordinary app with no knowledge of GetHook; its tests (tests/test_webhooks.py) use the
gethook-lite pytest plugin as any project that installs the package can.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

__all__ = ["PaymentsReceiver", "WebhookFailed", "notify_order_created", "verify_stripe"]


class WebhookFailed(Exception):
    """The partner did not take the webhook (a 4xx, or 5xx on every attempt)."""


def _standard_webhooks_signature(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    digest = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def notify_order_created(
    url: str, secret: str, order: dict, *, attempts: int = 3, backoff_seconds: float = 0.05
) -> int:
    """POST an ``order.created`` webhook to ``url``; retry on 5xx; return the final status."""
    body = json.dumps({"type": "order.created", "data": order}).encode()
    msg_id = "msg_" + secrets.token_hex(8)  # the same on every retry, so receivers can dedupe
    for attempt in range(1, attempts + 1):
        timestamp = int(time.time())
        headers = {
            "content-type": "application/json",
            "webhook-id": msg_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": _standard_webhooks_signature(secret, msg_id, timestamp, body),
        }
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=5) as answer:
                return int(answer.status)
        except urllib.error.HTTPError as error:
            error.close()
            if error.code < 500 or attempt == attempts:
                raise WebhookFailed(f"{url} answered {error.code} (attempt {attempt})") from None
        time.sleep(backoff_seconds * attempt)
    raise AssertionError("unreachable")


def verify_stripe(secret: str, header: str, body: bytes, tolerance: int = 300) -> bool:
    """Whether a Stripe-Signature header (``t=…,v1=…``) signs ``body`` with ``secret``."""
    parts = [item.split("=", 1) for item in header.split(",") if "=" in item]
    timestamps = [value for key, value in parts if key == "t"]
    if len(timestamps) != 1 or not timestamps[0].isdigit():
        return False
    signed = timestamps[0].encode() + b"." + body
    expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    fresh = abs(time.time() - int(timestamps[0])) <= tolerance
    return fresh and any(hmac.compare_digest(expected, v) for k, v in parts if k == "v1")


class PaymentsReceiver:
    """The shop's Stripe endpoint on 127.0.0.1: records the ids of verified events, 400 for
    anything not signed with ``secret``."""

    def __init__(self, secret: str) -> None:
        self.payments: list[str] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                header = self.headers.get("stripe-signature") or ""
                if not verify_stripe(secret, header, body):
                    self.send_response(400)
                else:
                    receiver.payments.append(json.loads(body)["id"])
                    self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/stripe/webhooks"

    def __enter__(self) -> PaymentsReceiver:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
