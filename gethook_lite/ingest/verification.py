"""Inbound verification: check a source's verification_config, mask its secrets, verify requests.

Pure functions: no I/O and no clock (the caller passes ``now``), so every scheme is table-tested.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import string
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

__all__ = [
    "AUTH_MODES",
    "DEFAULT_TOLERANCE_SECONDS",
    "HMAC_ALGORITHMS",
    "HMAC_ENCODINGS",
    "MAX_TOLERANCE_SECONDS",
    "SECRET_FIELDS",
    "VerificationConfigError",
    "VerificationFailed",
    "is_masked_secret",
    "mask_config",
    "sign_hmac",
    "validate_verification_config",
    "verify_request",
]

AUTH_MODES: tuple[str, ...] = (
    "none",
    "hmac",
    "basic_auth",
    "api_key",
    "stripe",
    "github",
    "shopify",
    "slack",
    "standard_webhooks",
)
HMAC_ALGORITHMS: tuple[str, ...] = ("sha1", "sha256", "sha512")
HMAC_ENCODINGS: tuple[str, ...] = ("hex", "base64")
# Stripe, Slack and Standard Webhooks all recommend five minutes against replays.
DEFAULT_TOLERANCE_SECONDS = 300
MAX_TOLERANCE_SECONDS = 86_400

# Read-only: which verification_config keys are secrets (encrypted at rest, masked on read).
SECRET_FIELDS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "none": (),
        "hmac": ("secret",),
        "basic_auth": ("password",),
        "api_key": ("value",),
        "stripe": ("secret",),
        "github": ("secret",),
        "shopify": ("secret",),
        "slack": ("secret",),
        "standard_webhooks": ("secret",),
    }
)

# Every key each mode keeps; validation drops the rest, and masking copies only these.
_CONFIG_FIELDS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "none": (),
        "hmac": ("secret", "header", "algorithm", "encoding", "prefix"),
        "basic_auth": ("username", "password"),
        "api_key": ("header", "value"),
        "stripe": ("secret", "tolerance_seconds"),
        "github": ("secret",),
        "shopify": ("secret",),
        "slack": ("secret", "tolerance_seconds"),
        "standard_webhooks": ("secret", "tolerance_seconds"),
    }
)

_MASK = "****"
_MASK_MIN_LENGTH_FOR_PREFIX = 13  # shorter secrets would leak too large a share
_MASK_VISIBLE_CHARS = 4
# Scheme markers carry no secret material, so showing them only helps recognition.
_PUBLIC_SECRET_PREFIXES = ("whsec_",)
# Human-chosen passwords are low-entropy: never show any part of them.
_NEVER_PREFIXED_FIELDS = frozenset({"password"})

_STANDARD_WEBHOOKS_PREFIX = "whsec_"
_HEADER_NAME_CHARS = frozenset(string.ascii_lowercase + string.digits + "!#$%&'*+-.^_`|~")
_HEX_CHARS = frozenset(string.hexdigits)
# Unix seconds have 10 digits today; the cap keeps int() cheap on hostile input.
_MAX_TIMESTAMP_DIGITS = 18

_Config = Mapping[str, Any]


class VerificationConfigError(ValueError):
    """A verification_config that is wrong for its auth_mode; ``.field`` names the bad field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class VerificationFailed(Exception):
    """The request did not pass verification; str() is a short reason safe to show the caller,
    ``detail`` the same in words a person can act on (never a secret or an expected value)."""

    def __init__(self, reason: str, detail: str | None = None) -> None:
        super().__init__(reason)
        self.detail = detail or reason


def sign_hmac(secret: bytes, message: bytes, algorithm: str = "sha256") -> bytes:
    """The raw HMAC digest of ``message`` keyed with ``secret``."""
    if algorithm not in HMAC_ALGORITHMS:
        raise ValueError(f"unsupported HMAC algorithm: {algorithm!r}")
    return hmac.new(secret, message, algorithm).digest()


# --- configuration -----------------------------------------------------------------------------


def validate_verification_config(auth_mode: str, config: Mapping[str, Any] | None) -> dict:
    """Check and normalise a source's verification_config for its auth_mode (defaults filled in).

    Unknown keys are dropped. Raises VerificationConfigError naming the offending field.
    """
    if not isinstance(auth_mode, str) or auth_mode not in _VALIDATORS:
        raise VerificationConfigError("auth_mode", f"must be one of {', '.join(AUTH_MODES)}")
    if config is None:
        # Treated as {} so that the error names the first missing field, not the whole object.
        config = {}
    elif not isinstance(config, Mapping):
        raise VerificationConfigError("verification_config", "must be an object")
    return _VALIDATORS[auth_mode](config)


def _field(name: str) -> str:
    return f"verification_config.{name}"


def _required_str(config: _Config, name: str) -> str:
    value = config.get(name)
    if value is None:
        raise VerificationConfigError(_field(name), "is required")
    if not isinstance(value, str):
        raise VerificationConfigError(_field(name), "must be a string")
    if not value.strip():
        raise VerificationConfigError(_field(name), "must not be empty")
    return value


def _header_name(config: _Config, name: str) -> str:
    # Lower-cased because verify_request receives lower-case header keys.
    value = _required_str(config, name).strip().lower()
    if not set(value) <= _HEADER_NAME_CHARS:
        raise VerificationConfigError(_field(name), "must be a valid HTTP header name")
    return value


def _enum(config: _Config, name: str, choices: tuple[str, ...], default: str) -> str:
    value = config.get(name)
    if value is None:
        return default
    if not isinstance(value, str) or value.strip().lower() not in choices:
        raise VerificationConfigError(_field(name), f"must be one of {', '.join(choices)}")
    return value.strip().lower()


def _tolerance(config: _Config) -> int:
    value = config.get("tolerance_seconds")
    if value is None:
        return DEFAULT_TOLERANCE_SECONDS
    # bool is an int subclass; true/false is never a meant-to-be tolerance.
    if isinstance(value, bool) or not isinstance(value, int):
        raise VerificationConfigError(_field("tolerance_seconds"), "must be an integer")
    if not 1 <= value <= MAX_TOLERANCE_SECONDS:
        raise VerificationConfigError(
            _field("tolerance_seconds"), f"must be between 1 and {MAX_TOLERANCE_SECONDS}"
        )
    return value


def _validate_none(config: _Config) -> dict:
    return {}


def _validate_hmac(config: _Config) -> dict:
    normalised = {
        "secret": _required_str(config, "secret"),
        "header": _header_name(config, "header"),
        "algorithm": _enum(config, "algorithm", HMAC_ALGORITHMS, "sha256"),
        "encoding": _enum(config, "encoding", HMAC_ENCODINGS, "hex"),
    }
    prefix = config.get("prefix")
    if prefix is not None and not isinstance(prefix, str):
        raise VerificationConfigError(_field("prefix"), "must be a string")
    if prefix:
        # Omitted when empty: absent optional values are never "" on the wire.
        normalised["prefix"] = prefix
    return normalised


def _validate_basic_auth(config: _Config) -> dict:
    username = _required_str(config, "username")
    if ":" in username:
        # RFC 7617: the first colon separates user from password.
        raise VerificationConfigError(_field("username"), "must not contain ':'")
    return {"username": username, "password": _required_str(config, "password")}


def _validate_api_key(config: _Config) -> dict:
    header = _header_name(config, "header")
    # HTTP strips whitespace around header values, so a padded value could never match.
    return {"header": header, "value": _required_str(config, "value").strip()}


def _validate_secret_only(config: _Config) -> dict:
    return {"secret": _required_str(config, "secret")}


def _validate_timestamped(config: _Config) -> dict:
    return {"secret": _required_str(config, "secret"), "tolerance_seconds": _tolerance(config)}


def _validate_standard_webhooks(config: _Config) -> dict:
    normalised = _validate_timestamped(config)
    if _standard_webhooks_key(normalised["secret"]) is None:
        raise VerificationConfigError(
            _field("secret"), "must be whsec_ followed by base64 (or plain base64)"
        )
    return normalised


def _standard_webhooks_key(secret: str) -> bytes | None:
    """The HMAC key of a Standard Webhooks secret, or None when it is not valid base64."""
    encoded = secret.removeprefix(_STANDARD_WEBHOOKS_PREFIX)
    return _decode_base64(encoded) or None


_VALIDATORS: Mapping[str, Callable[[_Config], dict]] = MappingProxyType(
    {
        "none": _validate_none,
        "hmac": _validate_hmac,
        "basic_auth": _validate_basic_auth,
        "api_key": _validate_api_key,
        "stripe": _validate_timestamped,
        "github": _validate_secret_only,
        "shopify": _validate_secret_only,
        "slack": _validate_timestamped,
        "standard_webhooks": _validate_standard_webhooks,
    }
)


# --- masking -----------------------------------------------------------------------------------


def mask_config(auth_mode: str, config: Mapping[str, Any] | None) -> dict | None:
    """Return a copy safe to show: secret fields masked ("whsec_****", "abcd****", "****")."""
    if config is None:
        return None
    if not isinstance(config, Mapping):
        # Not a config we understand; it could be anything, including a bare secret.
        return None
    if auth_mode not in _CONFIG_FIELDS:
        # Which keys are secret is unknown, so every value is.
        return {key: _MASK for key in config}
    secrets = SECRET_FIELDS[auth_mode]
    return {
        key: _mask_secret(key, config[key]) if key in secrets else config[key]
        for key in _CONFIG_FIELDS[auth_mode]
        if key in config
    }


def is_masked_secret(value: object) -> bool:
    """True for a placeholder ``mask_config`` serves in place of a secret ("****",
    "whsec_****"): a client that sends back what it read must not set it as the secret."""
    return isinstance(value, str) and (
        value == _MASK or any(value == prefix + _MASK for prefix in _PUBLIC_SECRET_PREFIXES)
    )


def _mask_secret(field: str, value: object) -> str:
    if (
        not isinstance(value, str)
        or len(value) < _MASK_MIN_LENGTH_FOR_PREFIX
        or field in _NEVER_PREFIXED_FIELDS
    ):
        return _MASK
    for prefix in _PUBLIC_SECRET_PREFIXES:
        if value.startswith(prefix):
            return prefix + _MASK
    # Secrets are never returned, not even a prefix: only a well-known public prefix shows.
    return _MASK


# --- request verification ----------------------------------------------------------------------


def verify_request(
    auth_mode: str,
    config: Mapping[str, Any] | None,
    headers: Mapping[str, str],
    body: bytes,
    now: float,
) -> None:
    """Raise VerificationFailed unless the request passes; ``headers`` keys are lower-case.

    ``now`` is unix seconds. An unknown auth_mode or invalid config fails closed.
    """
    try:
        normalised = validate_verification_config(auth_mode, config)
    except VerificationConfigError:
        # Stored configs were validated on create; if one is broken, refuse rather than accept.
        raise VerificationFailed("source verification is misconfigured") from None
    _VERIFIERS[auth_mode](normalised, headers, body, now)


def _header(headers: Mapping[str, str], name: str) -> str:
    value = headers.get(name)
    if not isinstance(value, str) or not value.strip():
        raise VerificationFailed(
            f"missing {name} header",
            f"missing {name} header: the sender did not sign this request the way this"
            " source's verification expects (is the source's provider or auth mode right?)",
        )
    return value.strip()


def _malformed(name: str) -> VerificationFailed:
    return VerificationFailed(
        f"malformed {name} header",
        f"malformed {name} header: its value does not have the format this source's"
        " verification expects (is the source's provider or auth mode right?)",
    )


def _to_bytes(text: str) -> bytes:
    # surrogatepass: header text decoded with surrogates must not raise, only fail to match.
    return text.encode("utf-8", "surrogatepass")


def _decode_hex(text: str) -> bytes | None:
    # bytes.fromhex alone would accept inner whitespace; insist on pure hex digits.
    if not text or len(text) % 2 or not set(text) <= _HEX_CHARS:
        return None
    return bytes.fromhex(text)


def _decode_base64(text: str) -> bytes | None:
    try:
        decoded = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):  # ValueError: non-ASCII text
        return None
    return decoded or None


def _parse_timestamp(text: str) -> int | None:
    # isascii() first: str.isdigit() also accepts digits such as "²" that int() rejects.
    if not text.isascii() or not text.isdigit() or len(text) > _MAX_TIMESTAMP_DIGITS:
        return None
    return int(text)


def _check_tolerance(timestamp: int, now: float, tolerance: int, header: str) -> None:
    # Both directions: a timestamp far in the future is as suspect as a replayed old one.
    age = now - timestamp
    if abs(age) > tolerance:
        when = f"{age:.0f} s old" if age > 0 else f"{-age:.0f} s in the future"
        raise VerificationFailed(
            "timestamp outside tolerance",
            f"{header} timestamp is {when}; tolerance is {tolerance} s (a replayed or"
            " long-delayed request, or a clock that is off on the sender or on this server)",
        )


def _require_match(expected: bytes, candidates: list[bytes | None], header: str) -> None:
    if not any(
        candidate is not None and hmac.compare_digest(candidate, expected)
        for candidate in candidates
    ):
        raise VerificationFailed(
            "no matching signature",
            f"no signature in {header} matches this body signed with the source's secret:"
            " check that the source has the sender's current signing secret, and that nothing"
            " between them re-encoded the body",
        )


def _verify_none(config: _Config, headers: Mapping[str, str], body: bytes, now: float) -> None:
    return None


def _verify_hmac(config: _Config, headers: Mapping[str, str], body: bytes, now: float) -> None:
    name = config["header"]
    value = _header(headers, name)
    prefix = config.get("prefix", "")
    if not value.startswith(prefix):
        raise _malformed(name)
    decode = _decode_hex if config["encoding"] == "hex" else _decode_base64
    received = decode(value[len(prefix) :])
    if received is None:
        raise _malformed(name)
    _require_match(
        sign_hmac(_to_bytes(config["secret"]), body, config["algorithm"]), [received], name
    )


def _verify_basic_auth(
    config: _Config, headers: Mapping[str, str], body: bytes, now: float
) -> None:
    scheme, _, credentials = _header(headers, "authorization").partition(" ")
    received = _decode_base64(credentials.strip())
    if scheme.lower() != "basic" or received is None:
        raise _malformed("authorization")
    expected = _to_bytes(f"{config['username']}:{config['password']}")
    if not hmac.compare_digest(received, expected):
        raise VerificationFailed(
            "invalid credentials",
            "invalid credentials: the Basic username or password in Authorization is not the"
            " source's",
        )


def _verify_api_key(config: _Config, headers: Mapping[str, str], body: bytes, now: float) -> None:
    received = _to_bytes(_header(headers, config["header"]))
    if not hmac.compare_digest(received, _to_bytes(config["value"])):
        raise VerificationFailed(
            "invalid API key",
            f"invalid API key: the {config['header']} header does not hold the source's key",
        )


def _parse_stripe_signature(value: str) -> tuple[str, list[str]]:
    """The timestamp text and the v1 signatures of a Stripe-Signature header."""
    timestamp: str | None = None
    signatures: list[str] = []
    for item in value.split(","):
        if not item.strip():
            continue
        key, sep, text = item.strip().partition("=")
        if not sep:
            raise _malformed("stripe-signature")
        if key == "t":
            if timestamp is not None:
                raise _malformed("stripe-signature")
            timestamp = text.strip()
        elif key == "v1":
            signatures.append(text.strip())
        # Other schemes (v0: test-mode, unkeyed) are ignored, as Stripe's own libraries do.
    if timestamp is None or _parse_timestamp(timestamp) is None:
        raise _malformed("stripe-signature")
    return timestamp, signatures


def _verify_stripe(config: _Config, headers: Mapping[str, str], body: bytes, now: float) -> None:
    timestamp, signatures = _parse_stripe_signature(_header(headers, "stripe-signature"))
    # Stripe keys the HMAC with the whole secret string, whsec_ prefix included.
    expected = sign_hmac(_to_bytes(config["secret"]), f"{timestamp}.".encode() + body)
    _require_match(
        expected, [_decode_hex(signature) for signature in signatures], "Stripe-Signature"
    )
    _check_tolerance(int(timestamp), now, config["tolerance_seconds"], "Stripe-Signature")


def _verify_github(config: _Config, headers: Mapping[str, str], body: bytes, now: float) -> None:
    scheme, sep, signature = _header(headers, "x-hub-signature-256").partition("=")
    received = _decode_hex(signature)
    if scheme != "sha256" or not sep or received is None:
        raise _malformed("x-hub-signature-256")
    _require_match(sign_hmac(_to_bytes(config["secret"]), body), [received], "X-Hub-Signature-256")


def _verify_shopify(config: _Config, headers: Mapping[str, str], body: bytes, now: float) -> None:
    received = _decode_base64(_header(headers, "x-shopify-hmac-sha256"))
    if received is None:
        raise _malformed("x-shopify-hmac-sha256")
    _require_match(
        sign_hmac(_to_bytes(config["secret"]), body), [received], "X-Shopify-Hmac-Sha256"
    )


def _verify_slack(config: _Config, headers: Mapping[str, str], body: bytes, now: float) -> None:
    value = _header(headers, "x-slack-signature")
    timestamp = _header(headers, "x-slack-request-timestamp")
    if _parse_timestamp(timestamp) is None:
        raise _malformed("x-slack-request-timestamp")
    version, sep, signature = value.partition("=")
    received = _decode_hex(signature)
    if version != "v0" or not sep or received is None:
        raise _malformed("x-slack-signature")
    basestring = b"v0:" + timestamp.encode() + b":" + body
    _require_match(
        sign_hmac(_to_bytes(config["secret"]), basestring), [received], "X-Slack-Signature"
    )
    _check_tolerance(int(timestamp), now, config["tolerance_seconds"], "X-Slack-Request-Timestamp")


def _parse_standard_signatures(value: str) -> list[bytes | None]:
    """The decoded v1 signatures of a webhook-signature header (others are skipped)."""
    signatures: list[bytes | None] = []
    for entry in value.split():
        version, sep, signature = entry.partition(",")
        if not sep:
            raise _malformed("webhook-signature")
        # v1a (asymmetric) and future versions are not ours to check; skipping lets them coexist.
        if version == "v1":
            signatures.append(_decode_base64(signature))
    return signatures


def _verify_standard_webhooks(
    config: _Config, headers: Mapping[str, str], body: bytes, now: float
) -> None:
    message_id = _header(headers, "webhook-id")
    timestamp = _header(headers, "webhook-timestamp")
    signatures = _parse_standard_signatures(_header(headers, "webhook-signature"))
    if _parse_timestamp(timestamp) is None:
        raise _malformed("webhook-timestamp")
    key = _standard_webhooks_key(config["secret"])
    if key is None:  # unreachable after validation; kept so a bad key can never verify
        raise VerificationFailed("source verification is misconfigured")
    signed = _to_bytes(f"{message_id}.{timestamp}.") + body
    _require_match(sign_hmac(key, signed), signatures, "webhook-signature")
    _check_tolerance(int(timestamp), now, config["tolerance_seconds"], "webhook-timestamp")


_Verifier = Callable[[_Config, Mapping[str, str], bytes, float], None]

_VERIFIERS: Mapping[str, _Verifier] = MappingProxyType(
    {
        "none": _verify_none,
        "hmac": _verify_hmac,
        "basic_auth": _verify_basic_auth,
        "api_key": _verify_api_key,
        "stripe": _verify_stripe,
        "github": _verify_github,
        "shopify": _verify_shopify,
        "slack": _verify_slack,
        "standard_webhooks": _verify_standard_webhooks,
    }
)
