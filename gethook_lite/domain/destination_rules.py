"""What a destination may be: the rules its URL, timeout, auth config, custom headers and
signing secret are checked against (pure, apart from the URL's DNS check). Each refusal is a
400 naming the field; ``gethook_lite.domain.destinations`` applies them to its use cases."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from gethook_lite.delivery.forwarded_headers import RESERVED_HEADERS, RESERVED_PREFIXES
from gethook_lite.delivery.network_policy import (
    BlockedAddress,
    InvalidDestinationUrl,
    NetworkPolicy,
)
from gethook_lite.delivery.signing import decode_signing_secret, generate_signing_secret
from gethook_lite.domain.text import require_text
from gethook_lite.errors import BadRequest

__all__ = [
    "AUTH_TYPES",
    "DEFAULT_TIMEOUT_SECONDS",
    "MAX_CUSTOM_HEADERS",
    "MAX_HEADER_VALUE_LENGTH",
    "MAX_URL_LENGTH",
    "TIMEOUT_RANGE",
    "check_header_clash",
    "check_url_resolves_safely",
    "merge_headers",
    "validate_auth_config",
    "validate_custom_headers",
    "validate_signing_secret",
    "validate_timeout",
    "validate_url",
]

TIMEOUT_RANGE = (1, 120)
DEFAULT_TIMEOUT_SECONDS = 30
MAX_CUSTOM_HEADERS = 32
MAX_HEADER_VALUE_LENGTH = 4096
MAX_URL_LENGTH = 2048

# Each auth type: its required fields and which of them are secrets.
AUTH_TYPES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "bearer": (("token",), ("token",)),
    "basic": (("username", "password"), ("password",)),
    "api_key": (("header", "value"), ("value",)),
}

_HEADER_NAME = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,100}$")
# Reserved for custom headers, but an api_key auth config may name it ("Token abc" schemes).
_AUTH_HEADER = frozenset({"authorization"})


def _url_error(exc: ValueError) -> BadRequest:
    # The policy's messages start with "url ..." themselves; the field is named once.
    return BadRequest(f"url: {str(exc).removeprefix('url ')}")


def validate_url(policy: NetworkPolicy, url: str) -> str:
    """An absolute http(s) URL without credentials that the network policy allows (no DNS)."""
    url = require_text(url, "url", MAX_URL_LENGTH)
    try:
        policy.check_url(url)
    except (InvalidDestinationUrl, BlockedAddress) as exc:
        raise _url_error(exc) from None
    return url


async def check_url_resolves_safely(policy: NetworkPolicy, url: str) -> None:
    """Refuse a URL whose host resolves to a blocked address now (checked again at delivery)."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        await policy.check_host(parts.hostname or "", port)
    except BlockedAddress as exc:
        raise _url_error(exc) from None


def validate_timeout(value: int | None) -> int:
    """The timeout in seconds, default 30; 400 outside 1..120."""
    if value is None:
        return DEFAULT_TIMEOUT_SECONDS
    low, high = TIMEOUT_RANGE
    if isinstance(value, bool) or not low <= value <= high:
        raise BadRequest(f"timeout_seconds: must be between {low} and {high}")
    return value


def validate_auth_config(config: dict | None, expected_type: str | None = None) -> dict | None:
    """The auth config to store (only the fields of its type), or None; 400 naming the field."""
    if config is None:
        if expected_type:
            raise BadRequest(f"auth_config: the preset needs {expected_type!r} auth")
        return None
    auth_type = config.get("type")
    # Checked as a string first: a list or object here is unhashable (a 500 otherwise).
    if not isinstance(auth_type, str) or auth_type not in AUTH_TYPES:
        raise BadRequest(f"auth_config.type: must be one of {', '.join(AUTH_TYPES)}")
    if expected_type and auth_type != expected_type:
        raise BadRequest(f"auth_config.type: the preset needs {expected_type!r}")
    required, _ = AUTH_TYPES[auth_type]
    clean = {"type": auth_type}
    for field in required:
        value = config.get(field)
        if not isinstance(value, str) or not value.strip():
            raise BadRequest(f"auth_config.{field}: is required and must be a non-empty string")
        if _has_control_characters(value):
            raise BadRequest(
                f"auth_config.{field}: must not contain line breaks or control characters"
            )
        clean[field] = value
    if auth_type == "basic" and ":" in clean["username"]:
        # RFC 7617: the first colon separates user from password, so the receiver would split
        # this username in the wrong place.
        raise BadRequest("auth_config.username: must not contain ':'")
    if auth_type == "api_key":
        # Authorization is allowed here: with api_key auth it is the credential itself.
        clean["header"] = _validate_header_name(
            clean["header"], "auth_config.header", allowed=_AUTH_HEADER
        )
    return clean


def validate_custom_headers(headers: dict | None) -> dict[str, str] | None:
    """The custom headers to store (None when empty); 400 naming the offending header."""
    if headers is None:
        return None
    if len(headers) > MAX_CUSTOM_HEADERS:
        raise BadRequest(f"custom_headers: at most {MAX_CUSTOM_HEADERS} headers")
    clean: dict[str, str] = {}
    seen: set[str] = set()
    for name, value in headers.items():
        field = f"custom_headers.{name}"
        name = _validate_header_name(name, field)
        if name.lower() in seen:
            # Header names are case-insensitive: which of the two would be sent is a guess.
            raise BadRequest(f"{field}: is given twice (header names ignore case)")
        seen.add(name.lower())
        if not isinstance(value, str):
            raise BadRequest(f"{field}: must be a string")
        if _has_control_characters(value) or len(value) > MAX_HEADER_VALUE_LENGTH:
            raise BadRequest(
                f"{field}: must be one line of at most {MAX_HEADER_VALUE_LENGTH} characters"
                " without control characters"
            )
        clean[name] = value
    return clean or None


def merge_headers(preset: dict[str, str], custom: dict[str, str] | None) -> dict[str, str] | None:
    """A preset's extra headers overlaid with the user's (which win, case-insensitively)."""
    custom = custom or {}
    overridden = {name.lower() for name in custom}
    merged = {name: value for name, value in preset.items() if name.lower() not in overridden}
    merged.update(custom)
    return merged or None


def check_header_clash(headers: dict[str, str] | None, auth: dict | None) -> None:
    """Refuse a custom header that is also the api_key auth header: both would be sent."""
    if not headers or not auth or auth["type"] != "api_key":
        return
    for name in headers:
        if name.lower() == auth["header"].lower():
            raise BadRequest(
                f"custom_headers.{name}: is the auth_config header; set its value there only"
            )


def _has_control_characters(value: str) -> bool:
    # A line break would inject a header; NUL and the like make every delivery fail instead.
    return any((ord(ch) < 32 and ch != "\t") or ord(ch) == 127 for ch in value)


def _validate_header_name(name: str, field: str, allowed: frozenset[str] = frozenset()) -> str:
    if not _HEADER_NAME.match(name):
        raise BadRequest(f"{field}: is not a valid header name")
    lowered = name.lower()
    if lowered in allowed:
        return name
    if lowered in RESERVED_HEADERS or lowered.startswith(RESERVED_PREFIXES):
        raise BadRequest(f"{field}: {lowered} is reserved and cannot be set")
    return name


def validate_signing_secret(secret: str | None) -> str:
    """The given whsec_ secret, or a generated one when none is given."""
    if secret is None:
        return generate_signing_secret()
    try:
        decode_signing_secret(secret)
    except ValueError as exc:
        raise BadRequest(f"signing_secret: {exc}") from None
    return secret
