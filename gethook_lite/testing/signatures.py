"""Assert that a captured request carries a valid provider signature.

The check is the gateway's own inbound verifier (``gethook_lite.ingest.verification``), so a
request that passes here is one a GetHook source with that provider preset would accept.
"""

from __future__ import annotations

import time

from gethook_lite.ingest.verification import (
    DEFAULT_TOLERANCE_SECONDS,
    VerificationConfigError,
    VerificationFailed,
    validate_verification_config,
    verify_request,
)
from gethook_lite.testing.capture import CapturedRequest

__all__ = ["SIGNATURE_SCHEMES", "assert_signed"]

SIGNATURE_SCHEMES: tuple[str, ...] = ("standard_webhooks", "stripe", "github", "shopify", "slack")
_ALIASES = {"svix": "standard_webhooks", "standard-webhooks": "standard_webhooks"}
_TIMESTAMPED = frozenset({"standard_webhooks", "stripe", "slack"})


def _scheme(name: str) -> str:
    scheme = _ALIASES.get(name.lower(), name.lower())
    if scheme not in SIGNATURE_SCHEMES:
        raise ValueError(
            f"unknown signature scheme {name!r}: use one of {', '.join(SIGNATURE_SCHEMES)}"
        )
    return scheme


def assert_signed(
    scheme: str,
    secret: str,
    request: CapturedRequest,
    *,
    tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> None:
    """Raise AssertionError, saying why, unless ``request`` is signed with ``secret`` as
    ``scheme`` signs (standard_webhooks or svix, stripe, github, shopify, slack).

    Timestamped schemes must also be within ``tolerance_seconds`` of ``now`` (default: now).
    """
    mode = _scheme(scheme)
    config: dict[str, object] = {"secret": secret}
    if mode in _TIMESTAMPED:
        config["tolerance_seconds"] = tolerance_seconds
    try:
        # First, so that a malformed secret is named as such, not as a failed signature.
        validate_verification_config(mode, config)
    except VerificationConfigError as exc:
        raise ValueError(
            f"{exc.field.removeprefix('verification_config.')} for {mode}: {exc.message}"
        ) from None
    moment = time.time() if now is None else now
    try:
        verify_request(mode, config, request.headers, request.body, moment)
    except VerificationFailed as exc:
        where = f"{request.method} {request.path or '/'}"
        raise AssertionError(f"{mode} signature check failed for {where}: {exc.detail}") from None
