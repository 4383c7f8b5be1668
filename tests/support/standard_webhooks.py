"""An independent Standard Webhooks verifier, written from the spec, to check our signatures."""

from __future__ import annotations

import base64
import hashlib
import hmac

__all__ = ["verify_standard_webhook"]


def verify_standard_webhook(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """True when any v1 signature in ``webhook-signature`` matches under ``secret``."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    candidates = headers["webhook-signature"].split(" ")
    return any(
        version == "v1" and hmac.compare_digest(signature, expected)
        for version, _, signature in (c.partition(",") for c in candidates)
    )
