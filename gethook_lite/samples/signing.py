"""Sign a sample exactly as each provider signs, and add the credentials a source expects.

One small function per scheme, each returning the headers it adds; ``sign_sample`` picks the
one a source's auth_mode verifies. The HMAC itself is the verifier's (``sign_hmac``) and
Standard Webhooks signatures are the delivery signer's, so there is one implementation of each.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gethook_lite.delivery import signing as standard_webhooks
from gethook_lite.ingest.verification import sign_hmac, validate_verification_config
from gethook_lite.samples.model import Sample

__all__ = [
    "SignedRequest",
    "api_key_header",
    "basic_auth_header",
    "github_signature",
    "hmac_signature",
    "shopify_signature",
    "sign_sample",
    "slack_signature",
    "standard_webhooks_signature",
    "stripe_signature",
]


@dataclass(frozen=True, slots=True)
class SignedRequest:
    """A sample ready to send: every header (content type, provider's, signature) and the body."""

    sample: Sample
    headers: Mapping[str, str]

    @property
    def body(self) -> bytes:
        return self.sample.body

    def raw_headers(self) -> list[tuple[bytes, bytes]]:
        """The headers as an ASGI scope carries them: lower-case names, latin-1 bytes."""
        return [
            (name.lower().encode("latin-1"), value.encode("latin-1"))
            for name, value in self.headers.items()
        ]


def _text(secret: str) -> bytes:
    # The verifier keys provider HMACs with the secret's UTF-8 text, whsec_ prefix included.
    return secret.encode("utf-8")


def stripe_signature(secret: str, body: bytes, timestamp: int) -> dict[str, str]:
    """``Stripe-Signature: t=…,v1=<hex HMAC-SHA256 of "{t}.{body}">``."""
    digest = sign_hmac(_text(secret), f"{timestamp}.".encode() + body)
    return {"Stripe-Signature": f"t={timestamp},v1={digest.hex()}"}


def github_signature(secret: str, body: bytes) -> dict[str, str]:
    """``X-Hub-Signature-256: sha256=<hex>``, and the legacy SHA-1 header GitHub still sends."""
    return {
        "X-Hub-Signature": "sha1=" + sign_hmac(_text(secret), body, "sha1").hex(),
        "X-Hub-Signature-256": "sha256=" + sign_hmac(_text(secret), body).hex(),
    }


def shopify_signature(secret: str, body: bytes) -> dict[str, str]:
    """``X-Shopify-Hmac-Sha256: <base64 HMAC-SHA256 of the body>``."""
    digest = sign_hmac(_text(secret), body)
    return {"X-Shopify-Hmac-Sha256": base64.b64encode(digest).decode("ascii")}


def slack_signature(secret: str, body: bytes, timestamp: int) -> dict[str, str]:
    """``X-Slack-Signature: v0=<hex HMAC-SHA256 of "v0:{ts}:{body}">`` and its timestamp."""
    digest = sign_hmac(_text(secret), f"v0:{timestamp}:".encode() + body)
    return {"X-Slack-Request-Timestamp": str(timestamp), "X-Slack-Signature": f"v0={digest.hex()}"}


def standard_webhooks_signature(
    secret: str, message_id: str, timestamp: int, body: bytes
) -> dict[str, str]:
    """``webhook-id``, ``webhook-timestamp`` and ``webhook-signature: v1,<base64>``."""
    prefixed = (
        secret
        if secret.startswith(standard_webhooks.SECRET_PREFIX)
        else (standard_webhooks.SECRET_PREFIX + secret)
    )
    try:
        signature = standard_webhooks.sign(prefixed, message_id, timestamp, body)
    except ValueError:
        # Ingest also accepts keys outside the 24-64 bytes the spec recommends (which the
        # delivery signer refuses to generate); sign those the same way by hand.
        key = base64.b64decode(prefixed.removeprefix(standard_webhooks.SECRET_PREFIX))
        digest = sign_hmac(key, f"{message_id}.{timestamp}.".encode() + body)
        signature = "v1," + base64.b64encode(digest).decode("ascii")
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature,
    }


def hmac_signature(config: Mapping[str, Any], body: bytes) -> dict[str, str]:
    """The generic ``hmac`` mode: the configured header, algorithm, encoding and prefix."""
    digest = sign_hmac(_text(config["secret"]), body, config["algorithm"])
    encoded = digest.hex() if config["encoding"] == "hex" else base64.b64encode(digest).decode()
    return {config["header"]: config.get("prefix", "") + encoded}


def basic_auth_header(username: str, password: str) -> dict[str, str]:
    """``Authorization: Basic <base64 of "user:password">``."""
    token = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
    return {"Authorization": f"Basic {token}"}


def api_key_header(header: str, value: str) -> dict[str, str]:
    """The configured API-key header with its value."""
    return {header: value}


def _credentials(auth_mode: str, config: Mapping[str, Any], sample: Sample, now: int) -> dict:
    if auth_mode == "stripe":
        return stripe_signature(config["secret"], sample.body, now)
    if auth_mode == "github":
        return github_signature(config["secret"], sample.body)
    if auth_mode == "shopify":
        return shopify_signature(config["secret"], sample.body)
    if auth_mode == "slack":
        return slack_signature(config["secret"], sample.body, now)
    if auth_mode == "standard_webhooks":
        return standard_webhooks_signature(config["secret"], sample.event_id, now, sample.body)
    if auth_mode == "hmac":
        return hmac_signature(config, sample.body)
    if auth_mode == "basic_auth":
        return basic_auth_header(config["username"], config["password"])
    if auth_mode == "api_key":
        return api_key_header(config["header"], config["value"])
    return {}


def sign_sample(
    sample: Sample, auth_mode: str, config: Mapping[str, Any] | None, now: float
) -> SignedRequest:
    """The request a sender holding ``config`` would send for ``sample`` at ``now``.

    ``config`` is a source's verification_config in clear (its defaults are filled in here);
    raises VerificationConfigError when it is not valid for ``auth_mode``.
    """
    normalised = validate_verification_config(auth_mode, config)
    headers = {"Content-Type": sample.content_type, **sample.headers}
    headers.update(_credentials(auth_mode, normalised, sample, int(now)))
    return SignedRequest(sample=sample, headers=headers)
