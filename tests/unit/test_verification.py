"""Inbound verification: every scheme accepts what its provider signs and refuses the rest.

Signatures are computed here from each provider's published scheme, never with the module's
own helpers, so a shared mistake cannot make both sides agree.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable

import pytest

from gethook_lite.ingest.verification import (
    AUTH_MODES,
    SECRET_FIELDS,
    VerificationConfigError,
    VerificationFailed,
    mask_config,
    sign_hmac,
    validate_verification_config,
    verify_request,
)
from tests.support.slack import SLACK_SECRET, slack_headers

NOW = 1_800_000_000
BODY = b'{"id":"evt_1","type":"invoice.paid","amount":4200}'
STRIPE_SECRET = "whsec_stripe_test_secret_value"
GITHUB_SECRET = "github-webhook-secret"
SHOPIFY_SECRET = "shopify-app-secret"
SW_KEY = bytes(range(24))
SW_SECRET = "whsec_" + base64.b64encode(SW_KEY).decode()
HMAC_SECRET = "generic-secret"


def _hmac(key: bytes, message: bytes, algorithm: str = "sha256") -> bytes:
    return hmac.new(key, message, getattr(hashlib, algorithm)).digest()


def _stripe_header(secret: str, timestamp: int, body: bytes = BODY) -> str:
    signature = _hmac(secret.encode(), f"{timestamp}.".encode() + body).hex()
    return f"t={timestamp},v1={signature}"


def _github_header(secret: str, body: bytes = BODY) -> str:
    return "sha256=" + _hmac(secret.encode(), body).hex()


def _shopify_header(secret: str, body: bytes = BODY) -> str:
    return base64.b64encode(_hmac(secret.encode(), body)).decode()


def _slack_headers(secret: str, timestamp: int, body: bytes = BODY) -> dict[str, str]:
    return slack_headers(secret, timestamp, body)


def _sw_signature(key: bytes, msg_id: str, timestamp: int, body: bytes = BODY) -> str:
    digest = _hmac(key, f"{msg_id}.{timestamp}.".encode() + body)
    return "v1," + base64.b64encode(digest).decode()


def _sw_headers(key: bytes, timestamp: int, body: bytes = BODY) -> dict[str, str]:
    return {
        "webhook-id": "msg_2Lqx",
        "webhook-timestamp": str(timestamp),
        "webhook-signature": _sw_signature(key, "msg_2Lqx", timestamp, body),
    }


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


CONFIGS: dict[str, dict] = {
    "none": {},
    "hmac": {"secret": HMAC_SECRET, "header": "X-Signature"},
    "basic_auth": {"username": "alice", "password": "s3cret:with:colons"},
    "api_key": {"header": "X-Api-Key", "value": "key-123456789"},
    "stripe": {"secret": STRIPE_SECRET},
    "github": {"secret": GITHUB_SECRET},
    "shopify": {"secret": SHOPIFY_SECRET},
    "slack": {"secret": SLACK_SECRET},
    "standard_webhooks": {"secret": SW_SECRET},
}

VALID_HEADERS: dict[str, dict[str, str]] = {
    "none": {},
    "hmac": {"x-signature": _hmac(HMAC_SECRET.encode(), BODY).hex()},
    "basic_auth": {"authorization": _basic("alice", "s3cret:with:colons")},
    "api_key": {"x-api-key": "key-123456789"},
    "stripe": {"stripe-signature": _stripe_header(STRIPE_SECRET, NOW)},
    "github": {"x-hub-signature-256": _github_header(GITHUB_SECRET)},
    "shopify": {"x-shopify-hmac-sha256": _shopify_header(SHOPIFY_SECRET)},
    "slack": _slack_headers(SLACK_SECRET, NOW),
    "standard_webhooks": _sw_headers(SW_KEY, NOW),
}

# The same requests, signed (or authenticated) with a different secret.
WRONG_SECRET_HEADERS: dict[str, dict[str, str]] = {
    "hmac": {"x-signature": _hmac(b"other", BODY).hex()},
    "basic_auth": {"authorization": _basic("alice", "wrong")},
    "api_key": {"x-api-key": "key-987654321"},
    "stripe": {"stripe-signature": _stripe_header("whsec_other", NOW)},
    "github": {"x-hub-signature-256": _github_header("other")},
    "shopify": {"x-shopify-hmac-sha256": _shopify_header("other")},
    "slack": _slack_headers("other", NOW),
    "standard_webhooks": _sw_headers(b"other-key-bytes", NOW),
}

SIGNED_MODES = sorted(WRONG_SECRET_HEADERS)


def _verify(mode: str, headers: dict[str, str], body: bytes = BODY, now: float = NOW) -> None:
    verify_request(mode, CONFIGS[mode], headers, body, now)


def _reason(mode: str, headers: dict[str, str], body: bytes = BODY, now: float = NOW) -> str:
    with pytest.raises(VerificationFailed) as caught:
        _verify(mode, headers, body, now)
    return str(caught.value)


# --- correct requests pass, wrong ones fail ------------------------------------------------


@pytest.mark.parametrize("mode", AUTH_MODES)
def test_correctly_signed_request_passes(mode: str) -> None:
    _verify(mode, VALID_HEADERS[mode])


def test_none_passes_without_any_header() -> None:
    verify_request("none", None, {}, b"anything", NOW)


WRONG_SECRET_REASONS = {"basic_auth": "invalid credentials", "api_key": "invalid API key"}
BODY_SIGNING_MODES = [mode for mode in SIGNED_MODES if mode not in WRONG_SECRET_REASONS]


@pytest.mark.parametrize("mode", SIGNED_MODES)
def test_wrong_secret_fails(mode: str) -> None:
    expected = WRONG_SECRET_REASONS.get(mode, "no matching signature")
    assert _reason(mode, WRONG_SECRET_HEADERS[mode]) == expected


@pytest.mark.parametrize("mode", BODY_SIGNING_MODES)
def test_tampered_body_fails(mode: str) -> None:
    assert _reason(mode, VALID_HEADERS[mode], body=BODY + b" ") == "no matching signature"


# Examples published by the providers themselves, as a check independent of this file's helpers.
KNOWN_ANSWERS = [
    (  # api.slack.com/authentication/verifying-requests-from-slack
        "slack",
        {"secret": "8f742231b10e8888abcd99yyyzzz85a5"},
        {
            "x-slack-request-timestamp": "1531420618",
            "x-slack-signature": (
                "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
            ),
        },
        b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow"
        b"&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner"
        b"&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com"
        b"%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN"
        b"&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c",
        1531420618,
    ),
    (  # the Standard Webhooks / Svix libraries' test vector
        "standard_webhooks",
        {"secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"},
        {
            "webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
            "webhook-timestamp": "1614265330",
            "webhook-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
        },
        b'{"test": 2432232314}',
        1614265330,
    ),
    (  # docs.github.com/webhooks/using-webhooks/validating-webhook-deliveries
        "github",
        {"secret": "It's a Secret to Everybody"},
        {
            "x-hub-signature-256": (
                "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
            )
        },
        b"Hello, World!",
        0,
    ),
]


@pytest.mark.parametrize(("mode", "config", "headers", "body", "now"), KNOWN_ANSWERS)
def test_provider_published_examples_pass(mode, config, headers, body, now) -> None:
    verify_request(mode, config, headers, body, now)


@pytest.mark.parametrize("mode", SIGNED_MODES)
def test_missing_header_fails_naming_it(mode: str) -> None:
    for name in VALID_HEADERS[mode]:
        headers = {k: v for k, v in VALID_HEADERS[mode].items() if k != name}
        assert _reason(mode, headers) == f"missing {name} header"


@pytest.mark.parametrize("mode", SIGNED_MODES)
def test_blank_header_counts_as_missing(mode: str) -> None:
    headers = dict.fromkeys(VALID_HEADERS[mode], "   ")
    assert _reason(mode, headers).startswith("missing ")


# --- malformed headers ----------------------------------------------------------------------

_VALID_GITHUB_HEX = _github_header(GITHUB_SECRET).removeprefix("sha256=")
_VALID_SHOPIFY = _shopify_header(SHOPIFY_SECRET)
_VALID_SLACK_SIG = VALID_HEADERS["slack"]["x-slack-signature"]

MALFORMED: list[tuple[str, dict[str, str], str]] = [
    # (mode, headers, expected reason)
    ("hmac", {"x-signature": "zz" * 32}, "malformed x-signature header"),
    ("hmac", {"x-signature": "abc"}, "malformed x-signature header"),  # odd length
    ("hmac", {"x-signature": "ab cd"}, "malformed x-signature header"),
    ("hmac", {"x-signature": "ab" * 31}, "no matching signature"),  # wrong length
    ("hmac", {"x-signature": "é" * 64}, "malformed x-signature header"),
    ("basic_auth", {"authorization": "Bearer abc"}, "malformed authorization header"),
    ("basic_auth", {"authorization": "Basic"}, "malformed authorization header"),
    ("basic_auth", {"authorization": "Basic !!notbase64!!"}, "malformed authorization header"),
    ("basic_auth", {"authorization": "Basic YWxpY2U6"}, "invalid credentials"),  # "alice:"
    ("api_key", {"x-api-key": "key-123456789-extra"}, "invalid API key"),
    ("api_key", {"x-api-key": "ключ"}, "invalid API key"),
    ("stripe", {"stripe-signature": "garbage"}, "malformed stripe-signature header"),
    ("stripe", {"stripe-signature": "v1=abcd"}, "malformed stripe-signature header"),
    ("stripe", {"stripe-signature": f"t=soon,v1={'a' * 64}"}, "malformed stripe-signature header"),
    ("stripe", {"stripe-signature": f"t=-5,v1={'a' * 64}"}, "malformed stripe-signature header"),
    ("stripe", {"stripe-signature": f"t=1{'0' * 40},v1=ab"}, "malformed stripe-signature header"),
    ("stripe", {"stripe-signature": f"t={NOW},t={NOW}"}, "malformed stripe-signature header"),
    ("stripe", {"stripe-signature": f"t={NOW}"}, "no matching signature"),
    ("stripe", {"stripe-signature": f"t={NOW},v1=xyz"}, "no matching signature"),
    ("stripe", {"stripe-signature": f"t={NOW},v1={'ab' * 16}"}, "no matching signature"),
    (
        "stripe",
        {"stripe-signature": f"t={NOW},v0={_hmac(STRIPE_SECRET.encode(), BODY).hex()}"},
        "no matching signature",
    ),
    ("github", {"x-hub-signature-256": _VALID_GITHUB_HEX}, "malformed x-hub-signature-256 header"),
    (
        "github",
        {"x-hub-signature-256": "sha1=" + _VALID_GITHUB_HEX},
        "malformed x-hub-signature-256 header",
    ),
    ("github", {"x-hub-signature-256": "sha256=nothex"}, "malformed x-hub-signature-256 header"),
    ("github", {"x-hub-signature-256": "sha256=" + "ab" * 20}, "no matching signature"),
    ("shopify", {"x-shopify-hmac-sha256": "not base64!"}, "malformed x-shopify-hmac-sha256 header"),
    ("shopify", {"x-shopify-hmac-sha256": "abc"}, "malformed x-shopify-hmac-sha256 header"),
    ("shopify", {"x-shopify-hmac-sha256": _VALID_SHOPIFY[:-4]}, "no matching signature"),
    ("shopify", {"x-shopify-hmac-sha256": "é" * 44}, "malformed x-shopify-hmac-sha256 header"),
    (
        "slack",
        {"x-slack-signature": _VALID_SLACK_SIG, "x-slack-request-timestamp": "yesterday"},
        "malformed x-slack-request-timestamp header",
    ),
    (
        "slack",
        {"x-slack-signature": _VALID_SLACK_SIG, "x-slack-request-timestamp": f"{NOW}.5"},
        "malformed x-slack-request-timestamp header",
    ),
    (
        "slack",
        {"x-slack-signature": _VALID_SLACK_SIG[3:], "x-slack-request-timestamp": str(NOW)},
        "malformed x-slack-signature header",
    ),
    (
        "slack",
        {"x-slack-signature": "v1=" + _VALID_SLACK_SIG[3:], "x-slack-request-timestamp": str(NOW)},
        "malformed x-slack-signature header",
    ),
    (
        "slack",
        {"x-slack-signature": "v0=" + "g" * 64, "x-slack-request-timestamp": str(NOW)},
        "malformed x-slack-signature header",
    ),
    (
        "standard_webhooks",
        {**VALID_HEADERS["standard_webhooks"], "webhook-timestamp": "²"},
        "malformed webhook-timestamp header",
    ),
    (
        "standard_webhooks",
        {**VALID_HEADERS["standard_webhooks"], "webhook-signature": "nocomma"},
        "malformed webhook-signature header",
    ),
    (
        "standard_webhooks",
        {**VALID_HEADERS["standard_webhooks"], "webhook-signature": "v1,@@@@"},
        "no matching signature",
    ),
    (
        "standard_webhooks",
        {**VALID_HEADERS["standard_webhooks"], "webhook-signature": "v1,YWJj"},  # 3 bytes
        "no matching signature",
    ),
    (
        "standard_webhooks",
        {
            **VALID_HEADERS["standard_webhooks"],
            "webhook-signature": VALID_HEADERS["standard_webhooks"]["webhook-signature"].replace(
                "v1,", "v1a,"
            ),
        },
        "no matching signature",
    ),
    (
        "standard_webhooks",
        {**VALID_HEADERS["standard_webhooks"], "webhook-id": "msg_other"},
        "no matching signature",
    ),
]


@pytest.mark.parametrize(("mode", "headers", "reason"), MALFORMED)
def test_malformed_or_non_matching_header_fails_with_its_reason(
    mode: str, headers: dict[str, str], reason: str
) -> None:
    assert _reason(mode, headers) == reason


GARBAGE = ["", " ", ",", "=", "t=", "v1=", "v1,", "\x00", "é", "\udc80", "a" * 10_000, "==" * 50]


@pytest.mark.parametrize("mode", SIGNED_MODES)
@pytest.mark.parametrize("garbage", GARBAGE)
def test_garbage_in_any_header_raises_only_verification_failed(mode: str, garbage: str) -> None:
    for name in VALID_HEADERS[mode]:
        _reason(mode, {**VALID_HEADERS[mode], name: garbage})


# --- timestamps -----------------------------------------------------------------------------

TIMESTAMPED: dict[str, Callable[[int], dict[str, str]]] = {
    "stripe": lambda ts: {"stripe-signature": _stripe_header(STRIPE_SECRET, ts)},
    "slack": lambda ts: _slack_headers(SLACK_SECRET, ts),
    "standard_webhooks": lambda ts: _sw_headers(SW_KEY, ts),
}


@pytest.mark.parametrize("mode", sorted(TIMESTAMPED))
@pytest.mark.parametrize("offset", [-301, 301, -86_400 * 365, 10**9])
def test_signed_but_stale_or_future_timestamp_fails(mode: str, offset: int) -> None:
    timestamp = NOW + offset
    assert _reason(mode, TIMESTAMPED[mode](timestamp)) == "timestamp outside tolerance"


@pytest.mark.parametrize("mode", sorted(TIMESTAMPED))
@pytest.mark.parametrize("offset", [-300, 0, 300])
def test_timestamp_within_default_tolerance_passes(mode: str, offset: int) -> None:
    _verify(mode, TIMESTAMPED[mode](NOW + offset))


@pytest.mark.parametrize("mode", sorted(TIMESTAMPED))
def test_configured_tolerance_is_honoured(mode: str) -> None:
    config = {**CONFIGS[mode], "tolerance_seconds": 10}
    headers = TIMESTAMPED[mode](NOW - 11)
    with pytest.raises(VerificationFailed, match="timestamp outside tolerance"):
        verify_request(mode, config, headers, BODY, NOW)
    verify_request(mode, config, TIMESTAMPED[mode](NOW - 10), BODY, NOW)


def test_timestamp_is_checked_against_the_injected_clock() -> None:
    headers = TIMESTAMPED["stripe"](1000)
    verify_request("stripe", CONFIGS["stripe"], headers, BODY, 1200.5)


# --- several signatures ---------------------------------------------------------------------


def test_stripe_passes_when_any_v1_signature_matches() -> None:
    good = _stripe_header(STRIPE_SECRET, NOW).split(",")[1]
    bad = "v1=" + _hmac(b"whsec_old", f"{NOW}.".encode() + BODY).hex()
    header = f"t={NOW},{bad},v1=nothex,{good},v0={'0' * 64}"
    _verify("stripe", {"stripe-signature": header})


def test_stripe_tolerates_spaces_and_trailing_comma() -> None:
    header = _stripe_header(STRIPE_SECRET, NOW).replace(",", " , ") + ","
    _verify("stripe", {"stripe-signature": header})


def test_standard_webhooks_passes_when_any_v1_signature_matches() -> None:
    headers = _sw_headers(SW_KEY, NOW)
    old = _sw_signature(b"rotated-away-key", "msg_2Lqx", NOW)
    headers["webhook-signature"] = f"{old} v1a,c2lnbmVk {headers['webhook-signature']}"
    _verify("standard_webhooks", headers)


def test_standard_webhooks_secret_without_prefix_is_raw_base64() -> None:
    config = {"secret": base64.b64encode(SW_KEY).decode()}
    verify_request("standard_webhooks", config, _sw_headers(SW_KEY, NOW), BODY, NOW)


def test_stripe_keys_with_the_whole_secret_string() -> None:
    # Stripe does not base64-decode whsec_ secrets (unlike Standard Webhooks).
    key = STRIPE_SECRET.removeprefix("whsec_").encode()
    header = f"t={NOW},v1={_hmac(key, f'{NOW}.'.encode() + BODY).hex()}"
    assert _reason("stripe", {"stripe-signature": header}) == "no matching signature"


# --- generic HMAC ---------------------------------------------------------------------------

GENERIC_HMAC_CASES = [
    # (algorithm, encoding, prefix, header value builder)
    ("sha1", "hex", None, lambda d: d.hex()),
    ("sha256", "hex", None, lambda d: d.hex().upper()),  # hex is case-insensitive
    ("sha512", "hex", "sha512=", lambda d: "sha512=" + d.hex()),
    ("sha256", "base64", None, lambda d: base64.b64encode(d).decode()),
    ("sha256", "base64", "sha256=", lambda d: "sha256=" + base64.b64encode(d).decode()),
]


@pytest.mark.parametrize(("algorithm", "encoding", "prefix", "build"), GENERIC_HMAC_CASES)
def test_generic_hmac_schemes(algorithm, encoding, prefix, build) -> None:
    config = {"secret": "k", "header": "X-Sig", "algorithm": algorithm, "encoding": encoding}
    if prefix:
        config["prefix"] = prefix
    digest = _hmac(b"k", BODY, algorithm)
    verify_request("hmac", config, {"x-sig": build(digest)}, BODY, NOW)
    wrong = _hmac(b"not-k", BODY, algorithm)
    with pytest.raises(VerificationFailed, match="no matching signature"):
        verify_request("hmac", config, {"x-sig": build(wrong)}, BODY, NOW)


def test_generic_hmac_requires_the_prefix() -> None:
    config = {"secret": "k", "header": "x-sig", "prefix": "sha256="}
    with pytest.raises(VerificationFailed, match="malformed x-sig header"):
        verify_request("hmac", config, {"x-sig": _hmac(b"k", BODY).hex()}, BODY, NOW)


def test_basic_auth_scheme_is_case_insensitive() -> None:
    value = VALID_HEADERS["basic_auth"]["authorization"].replace("Basic", "bAsIc")
    _verify("basic_auth", {"authorization": value})


# --- failures never leak --------------------------------------------------------------------


@pytest.mark.parametrize("mode", SIGNED_MODES)
def test_failure_reason_never_echoes_secrets_or_expected_signatures(mode: str) -> None:
    reason = _reason(mode, WRONG_SECRET_HEADERS[mode])
    assert len(reason) < 80
    for value in [*CONFIGS[mode].values(), *VALID_HEADERS[mode].values()]:
        assert str(value) not in reason


@pytest.mark.parametrize(
    ("mode", "config"),
    [
        ("no_such_mode", {}),
        ("stripe", None),
        ("hmac", {"secret": "k"}),
        ("standard_webhooks", {"secret": "whsec_%%%"}),
        ("github", "a-bare-string"),
    ],
)
def test_unknown_mode_or_broken_config_fails_closed(mode: str, config: object) -> None:
    with pytest.raises(VerificationFailed, match="misconfigured"):
        verify_request(mode, config, {}, BODY, NOW)  # type: ignore[arg-type]


# --- configuration validation ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "config", "expected"),
    [
        ("none", None, {}),
        ("none", {"secret": "ignored"}, {}),
        (
            "hmac",
            {"secret": "s", "header": " X-Sig ", "extra": 1},
            {"secret": "s", "header": "x-sig", "algorithm": "sha256", "encoding": "hex"},
        ),
        (
            "hmac",
            {
                "secret": "s",
                "header": "x",
                "algorithm": "SHA512",
                "encoding": "Base64",
                "prefix": "",
            },
            {"secret": "s", "header": "x", "algorithm": "sha512", "encoding": "base64"},
        ),
        (
            "hmac",
            {"secret": "s", "header": "x", "prefix": "sha256="},
            {
                "secret": "s",
                "header": "x",
                "algorithm": "sha256",
                "encoding": "hex",
                "prefix": "sha256=",
            },
        ),
        ("basic_auth", {"username": "u", "password": "p:q"}, {"username": "u", "password": "p:q"}),
        ("api_key", {"header": "X-Key", "value": " v \n"}, {"header": "x-key", "value": "v"}),
        ("stripe", {"secret": "whsec_x"}, {"secret": "whsec_x", "tolerance_seconds": 300}),
        (
            "slack",
            {"secret": "x", "tolerance_seconds": 60},
            {"secret": "x", "tolerance_seconds": 60},
        ),
        ("github", {"secret": "x", "tolerance_seconds": 5}, {"secret": "x"}),
        ("shopify", {"secret": "x"}, {"secret": "x"}),
        (
            "standard_webhooks",
            {"secret": SW_SECRET, "tolerance_seconds": None},
            {"secret": SW_SECRET, "tolerance_seconds": 300},
        ),
        (
            "stripe",
            {"secret": "x", "tolerance_seconds": 86_400},
            {"secret": "x", "tolerance_seconds": 86_400},
        ),
    ],
)
def test_valid_config_is_normalised(mode: str, config: dict | None, expected: dict) -> None:
    assert validate_verification_config(mode, config) == expected


@pytest.mark.parametrize(
    ("mode", "config", "field"),
    [
        ("bogus", {}, "auth_mode"),
        (None, {}, "auth_mode"),
        ("stripe", ["secret"], "verification_config"),
        ("stripe", None, "verification_config.secret"),
        ("stripe", {}, "verification_config.secret"),
        ("stripe", {"secret": ""}, "verification_config.secret"),
        ("stripe", {"secret": "   "}, "verification_config.secret"),
        ("stripe", {"secret": 42}, "verification_config.secret"),
        (
            "stripe",
            {"secret": "x", "tolerance_seconds": 0},
            "verification_config.tolerance_seconds",
        ),
        (
            "stripe",
            {"secret": "x", "tolerance_seconds": -1},
            "verification_config.tolerance_seconds",
        ),
        (
            "slack",
            {"secret": "x", "tolerance_seconds": 86_401},
            "verification_config.tolerance_seconds",
        ),
        (
            "slack",
            {"secret": "x", "tolerance_seconds": "300"},
            "verification_config.tolerance_seconds",
        ),
        (
            "slack",
            {"secret": "x", "tolerance_seconds": 300.0},
            "verification_config.tolerance_seconds",
        ),
        (
            "standard_webhooks",
            {"secret": "x", "tolerance_seconds": True},
            "verification_config.tolerance_seconds",
        ),
        ("standard_webhooks", {"secret": "whsec_not base64!"}, "verification_config.secret"),
        ("standard_webhooks", {"secret": "whsec_"}, "verification_config.secret"),
        ("standard_webhooks", {"secret": "abc"}, "verification_config.secret"),  # bad padding
        ("github", {"secret": None}, "verification_config.secret"),
        ("shopify", {"secret": ["x"]}, "verification_config.secret"),
        ("hmac", {"header": "x"}, "verification_config.secret"),
        ("hmac", {"secret": "s"}, "verification_config.header"),
        ("hmac", {"secret": "s", "header": "bad header"}, "verification_config.header"),
        ("hmac", {"secret": "s", "header": "x:y"}, "verification_config.header"),
        (
            "hmac",
            {"secret": "s", "header": "x", "algorithm": "md5"},
            "verification_config.algorithm",
        ),
        ("hmac", {"secret": "s", "header": "x", "algorithm": 256}, "verification_config.algorithm"),
        ("hmac", {"secret": "s", "header": "x", "encoding": "b32"}, "verification_config.encoding"),
        ("hmac", {"secret": "s", "header": "x", "prefix": 1}, "verification_config.prefix"),
        ("basic_auth", {"password": "p"}, "verification_config.username"),
        ("basic_auth", {"username": "u"}, "verification_config.password"),
        ("basic_auth", {"username": "u", "password": ""}, "verification_config.password"),
        ("basic_auth", {"username": "a:b", "password": "p"}, "verification_config.username"),
        ("api_key", {"value": "v"}, "verification_config.header"),
        ("api_key", {"header": "x-key"}, "verification_config.value"),
        ("api_key", {"header": "x-key", "value": 12}, "verification_config.value"),
    ],
)
def test_invalid_config_names_the_field(mode, config, field: str) -> None:
    with pytest.raises(VerificationConfigError) as caught:
        validate_verification_config(mode, config)
    assert caught.value.field == field
    assert str(caught.value).startswith(f"{field}: ")
    assert caught.value.message


def test_config_error_is_a_value_error() -> None:
    assert issubclass(VerificationConfigError, ValueError)


def test_validation_does_not_modify_its_input() -> None:
    config = {"secret": "s", "header": "X-Sig", "junk": True}
    validate_verification_config("hmac", config)
    assert config == {"secret": "s", "header": "X-Sig", "junk": True}


# --- masking --------------------------------------------------------------------------------


def test_every_mode_declares_its_secret_fields() -> None:
    assert set(SECRET_FIELDS) == set(AUTH_MODES)
    with pytest.raises(TypeError):
        SECRET_FIELDS["none"] = ("x",)  # type: ignore[index]


@pytest.mark.parametrize(
    ("mode", "config", "expected"),
    [
        ("none", {}, {}),
        ("none", None, None),
        ("stripe", {"secret": STRIPE_SECRET}, {"secret": "whsec_****"}),
        ("stripe", {"secret": "whsec_short"}, {"secret": "****"}),
        ("github", {"secret": "abcdefghijklm"}, {"secret": "****"}),
        ("github", {"secret": "abcdefghijkl"}, {"secret": "****"}),
        ("shopify", {"secret": 12345678901234}, {"secret": "****"}),
        (
            "slack",
            {"secret": SLACK_SECRET, "tolerance_seconds": 60},
            {"secret": "****", "tolerance_seconds": 60},
        ),
        (
            "hmac",
            {"secret": "long-generic-secret", "header": "x-sig", "algorithm": "sha1"},
            {"secret": "****", "header": "x-sig", "algorithm": "sha1"},
        ),
        (
            "basic_auth",
            {"username": "alice", "password": "a-very-long-password"},
            {"username": "alice", "password": "****"},
        ),
        (
            "api_key",
            {"header": "x-key", "value": "key-1234567890"},
            {"header": "x-key", "value": "****"},
        ),
        ("stripe", {"secret": "whsec_abcdefghijkl", "stray": "x"}, {"secret": "whsec_****"}),
        ("unknown", {"token": "t0ps3cret", "n": 1}, {"token": "****", "n": "****"}),
        ("stripe", "whsec_a-bare-secret-string", None),
    ],
)
def test_mask_config(mode: str, config, expected) -> None:
    assert mask_config(mode, config) == expected


SECRETS_TO_HIDE = ["a", "abcd", "whsec_" + "Z" * 32, "x" * 12, "y" * 13, "p@ss:word with spaces!"]


@pytest.mark.parametrize("mode", AUTH_MODES)
@pytest.mark.parametrize("secret", SECRETS_TO_HIDE)
def test_mask_config_never_reveals_more_than_a_short_prefix(mode: str, secret: str) -> None:
    config = {**CONFIGS[mode], **dict.fromkeys(SECRET_FIELDS[mode], secret)}
    original = dict(config)
    masked = mask_config(mode, config)
    assert config == original  # a copy, not an edit
    for field in SECRET_FIELDS[mode]:
        shown = masked[field].removesuffix("****")
        assert masked[field].endswith("****")
        assert shown in ("", "whsec_") or (len(shown) <= 4 and len(secret) > 12)
        assert secret.startswith(shown)
        if len(secret) > 4:  # shorter ones may occur by chance in the non-secret fields
            assert secret not in json.dumps(masked)


# --- the signing helper ---------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ["sha1", "sha256", "sha512"])
def test_sign_hmac_returns_the_raw_digest(algorithm: str) -> None:
    assert sign_hmac(b"key", b"msg", algorithm) == _hmac(b"key", b"msg", algorithm)


def test_sign_hmac_defaults_to_sha256_and_rejects_other_algorithms() -> None:
    assert sign_hmac(b"key", b"msg") == _hmac(b"key", b"msg", "sha256")
    with pytest.raises(ValueError, match="md5"):
        sign_hmac(b"key", b"msg", "md5")


# -- the detail of a failure: words a person can act on, never a secret --------------------


def _detail(mode: str, headers: dict[str, str], now: float = NOW) -> str:
    with pytest.raises(VerificationFailed) as caught:
        verify_request(mode, CONFIGS[mode], headers, BODY, now)
    return caught.value.detail


@pytest.mark.parametrize(
    ("mode", "offset", "expected"),
    [
        ("stripe", -412, "Stripe-Signature timestamp is 412 s old; tolerance is 300 s"),
        ("stripe", 400, "Stripe-Signature timestamp is 400 s in the future; tolerance is 300 s"),
        ("slack", -301, "X-Slack-Request-Timestamp timestamp is 301 s old; tolerance is 300 s"),
        ("standard_webhooks", -999, "webhook-timestamp timestamp is 999 s old"),
    ],
)
def test_a_stale_timestamp_says_how_old_and_the_tolerance(mode, offset, expected) -> None:
    assert _detail(mode, TIMESTAMPED[mode](NOW + offset)).startswith(expected)


@pytest.mark.parametrize("mode", sorted(WRONG_SECRET_HEADERS))
def test_a_wrong_secret_names_the_header_and_what_to_check(mode) -> None:
    detail = _detail(mode, WRONG_SECRET_HEADERS[mode])
    assert "source's" in detail
    secrets = [value for config in CONFIGS.values() for value in config.values()]
    assert not any(secret in detail for secret in secrets if len(str(secret)) > 8)


def test_a_missing_header_says_which() -> None:
    assert _detail("github", {}).startswith("missing x-hub-signature-256 header: ")
