"""Standard Webhooks signatures for outbound deliveries (https://www.standardwebhooks.com/).

A signature is ``v1,<base64 HMAC-SHA256>`` over ``"{webhook-id}.{webhook-timestamp}.{body}"``,
keyed with the base64-decoded part of a ``whsec_`` secret. During a secret rotation's grace
period the ``webhook-signature`` header carries one signature per secret, space-separated, so a
receiver holding either secret can verify.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Sequence
from secrets import token_bytes

__all__ = [
    "MAX_SECRET_BYTES",
    "MIN_SECRET_BYTES",
    "SECRET_PREFIX",
    "SigningKey",
    "decode_signing_secret",
    "generate_signing_secret",
    "keyed_signature_header",
    "sign",
    "signature_header",
    "verify_signature",
]

SECRET_PREFIX = "whsec_"
# The Standard Webhooks spec recommends keys of 24 to 64 bytes.
MIN_SECRET_BYTES = 24
MAX_SECRET_BYTES = 64
_GENERATED_SECRET_BYTES = 32
_SIGNATURE_VERSION = "v1"

_BAD_FORMAT = "signing_secret must be whsec_ followed by base64"


def generate_signing_secret() -> str:
    """Return a fresh ``whsec_`` secret holding 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(token_bytes(_GENERATED_SECRET_BYTES)).decode("ascii")


def decode_signing_secret(secret: str) -> bytes:
    """Return the HMAC key of a ``whsec_`` secret; raise ValueError when it is malformed."""
    if not isinstance(secret, str) or not secret.startswith(SECRET_PREFIX):
        raise ValueError(_BAD_FORMAT)
    encoded = secret[len(SECRET_PREFIX) :]
    if not encoded:
        raise ValueError(_BAD_FORMAT)
    # Some generators strip the padding; restoring it costs nothing and the key is the same.
    encoded += "=" * (-len(encoded) % 4)
    try:
        key = base64.b64decode(encoded.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise ValueError(_BAD_FORMAT) from None
    if not MIN_SECRET_BYTES <= len(key) <= MAX_SECRET_BYTES:
        raise ValueError(
            f"signing_secret must decode to between {MIN_SECRET_BYTES} and {MAX_SECRET_BYTES} bytes"
        )
    return key


class SigningKey:
    """A ``whsec_`` secret decoded and keyed once, to sign many messages: decoding the secret
    and keying HMAC cost about as much as signing a 1 KB body, so the dispatcher keeps one
    per destination version instead of doing both for every attempt."""

    __slots__ = ("_keyed",)

    def __init__(self, secret: str) -> None:
        self._keyed = hmac.new(decode_signing_secret(secret), digestmod=hashlib.sha256)

    def sign(self, msg_id: str, timestamp: int, body: bytes) -> str:
        """The ``v1,<base64>`` signature of ``{msg_id}.{timestamp}.{body}``."""
        mac = self._keyed.copy()  # the keyed state, without hashing the key's pads again
        mac.update(f"{msg_id}.{timestamp}.".encode())
        mac.update(body)
        return f"{_SIGNATURE_VERSION},{base64.b64encode(mac.digest()).decode('ascii')}"


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """Return the ``v1,<base64>`` signature of one message under one secret."""
    return SigningKey(secret).sign(msg_id, timestamp, body)


def signature_header(secrets: Sequence[str], msg_id: str, timestamp: int, body: bytes) -> str:
    """Return the ``webhook-signature`` value: one signature per secret, current one first."""
    if isinstance(secrets, str):
        # A bare string is a Sequence too; signing each character would be a silent bug.
        raise TypeError("secrets must be a sequence of secrets, not a string")
    return keyed_signature_header(
        [SigningKey(secret) for secret in secrets], msg_id, timestamp, body
    )


def keyed_signature_header(
    keys: Sequence[SigningKey], msg_id: str, timestamp: int, body: bytes
) -> str:
    """``signature_header`` with the secrets already keyed (``SigningKey``)."""
    if not keys:
        raise ValueError("at least one signing secret is required")
    return " ".join(key.sign(msg_id, timestamp, body) for key in keys)


def verify_signature(
    secret: str, msg_id: str, timestamp: int, body: bytes, header_value: str
) -> bool:
    """Return True when any ``v1`` signature in a ``webhook-signature`` value matches.

    Checks the signature only; the caller enforces the timestamp tolerance.
    """
    expected = sign(secret, msg_id, timestamp, body).encode("ascii")
    # Compare against every candidate without stopping early so timing leaks nothing useful.
    found = False
    for candidate in header_value.split():
        if candidate.startswith(f"{_SIGNATURE_VERSION},"):
            found |= hmac.compare_digest(candidate.encode("utf-8", "replace"), expected)
    return found
