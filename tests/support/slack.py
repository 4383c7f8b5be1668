"""Slack's request signing (``v0=`` HMAC-SHA256 over ``v0:{timestamp}:{body}``), for tests."""

from __future__ import annotations

import hashlib
import hmac

__all__ = ["SLACK_SECRET", "slack_headers"]

# Slack's documentation example signing secret.
SLACK_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"


def slack_headers(secret: str, timestamp: int, body: bytes) -> dict[str, str]:
    basestring = f"v0:{timestamp}:".encode() + body
    signature = hmac.new(secret.encode(), basestring, hashlib.sha256).hexdigest()
    return {"x-slack-signature": "v0=" + signature, "x-slack-request-timestamp": str(timestamp)}
