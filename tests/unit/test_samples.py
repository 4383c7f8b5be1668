"""Sample webhooks: every provider x event type signs as the provider does and passes our
verifier; a wrong secret fails; the gateway types each sample as the type it was asked for."""

from __future__ import annotations

import base64
import json

import pytest

from gethook_lite.ingest.event_typing import identify_event
from gethook_lite.ingest.verification import VerificationFailed, verify_request
from gethook_lite.presets import provider_presets
from gethook_lite.samples import (
    SAMPLE_PROVIDERS,
    InvalidEventType,
    SampleIds,
    UnknownProvider,
    build_sample,
    provider_for_auth_mode,
    provider_request,
    sample_event_types,
    sign_sample,
)
from tests.support.standard_webhooks import verify_standard_webhook

NOW = 1_800_000_000.0
STANDARD_SECRET = "whsec_" + base64.b64encode(b"k" * 32).decode()
SECRETS = {
    "stripe": "whsec_stripe_endpoint_secret_0123456789",
    "github": "a github webhook secret",
    "shopify": "shpss_0123456789abcdef0123456789abcdef",
    "slack": "8f742231b10e8888abcd99yyyzzz85a5",
    "standard_webhooks": STANDARD_SECRET,
}
# Types with no hand-written sample: each provider still sends a valid envelope of that type.
UNKNOWN_TYPES = {
    "stripe": "customer.subscription.deleted",
    "github": "release.published",
    "shopify": "customers/update",
    "slack": "channel_created",
    "standard_webhooks": "team.renamed",
    "generic": "shipment.delivered",
}
CASES = [
    (provider, event_type)
    for provider in SECRETS
    for event_type in (*sample_event_types(provider), UNKNOWN_TYPES[provider])
]


def lower(headers) -> dict[str, str]:
    return {name.lower(): value for name, value in headers.items()}


@pytest.mark.parametrize(("provider", "event_type"), CASES)
def test_every_provider_sample_signs_and_verifies(provider, event_type):
    request = provider_request(
        provider, event_type, secret=SECRETS[provider], now=NOW, ids=SampleIds(7)
    )
    headers = lower(request.headers)
    verify_request(provider, {"secret": SECRETS[provider]}, headers, request.body, NOW + 1)
    identity = identify_event(provider, headers, request.body)
    assert identity.event_type == request.sample.event_type
    assert identity.external_event_id == request.sample.event_id
    assert headers["content-type"].startswith("application/json")
    assert isinstance(json.loads(request.body), dict)


@pytest.mark.parametrize(("provider", "event_type"), CASES)
def test_a_wrong_secret_fails_verification(provider, event_type):
    request = provider_request(provider, event_type, secret=SECRETS[provider], now=NOW)
    wrong = "whsec_" + base64.b64encode(b"w" * 32).decode()
    with pytest.raises(VerificationFailed, match="no matching signature"):
        verify_request(provider, {"secret": wrong}, lower(request.headers), request.body, NOW)


@pytest.mark.parametrize("provider", ["stripe", "slack", "standard_webhooks"])
def test_signatures_carry_the_time_they_were_made(provider):
    request = provider_request(provider, secret=SECRETS[provider], now=NOW)
    config = {"secret": SECRETS[provider]}
    with pytest.raises(VerificationFailed, match="tolerance"):
        verify_request(provider, config, lower(request.headers), request.body, NOW + 301)


@pytest.mark.parametrize(
    ("auth_mode", "config", "wrong"),
    [
        ("none", {}, None),
        (
            "hmac",
            {"secret": "s3cret", "header": "X-Signature"},
            {"secret": "other", "header": "X-Signature"},
        ),
        (
            "hmac",
            {"secret": "s3cret", "header": "x-sig", "algorithm": "sha512", "encoding": "base64",
             "prefix": "sha512="},
            {"secret": "other", "header": "x-sig", "algorithm": "sha512", "encoding": "base64",
             "prefix": "sha512="},
        ),
        (
            "basic_auth",
            {"username": "hooks", "password": "pa55"},
            {"username": "hooks", "password": "nope"},
        ),
        (
            "api_key",
            {"header": "X-Api-Key", "value": "k-123"},
            {"header": "X-Api-Key", "value": "k-999"},
        ),
    ],
)  # fmt: skip
def test_generic_samples_carry_the_credentials_of_each_auth_mode(auth_mode, config, wrong):
    for event_type in (*sample_event_types("generic"), UNKNOWN_TYPES["generic"]):
        sample = build_sample(provider_for_auth_mode(auth_mode), event_type, now=NOW)
        request = sign_sample(sample, auth_mode, config, NOW)
        headers = lower(request.headers)
        verify_request(auth_mode, config, headers, request.body, NOW)
        assert identify_event(auth_mode, headers, request.body).event_type == event_type
        if wrong is not None:
            with pytest.raises(VerificationFailed):
                verify_request(auth_mode, wrong, headers, request.body, NOW)


def test_standard_webhooks_signature_matches_an_independent_verifier():
    request = provider_request("standard_webhooks", secret=STANDARD_SECRET, now=NOW)
    assert verify_standard_webhook(STANDARD_SECRET, lower(request.headers), request.body)


@pytest.mark.parametrize(
    "secret",
    [
        base64.b64encode(b"k" * 32).decode(),  # plain base64, no whsec_ prefix
        "whsec_" + base64.b64encode(b"short key").decode(),  # shorter than the spec's 24 bytes
    ],
)
def test_standard_webhooks_secrets_ingest_accepts_are_signed_too(secret):
    request = provider_request("standard_webhooks", secret=secret, now=NOW)
    verify_request(
        "standard_webhooks", {"secret": secret}, lower(request.headers), request.body, NOW
    )


def test_provider_headers_are_the_providers_own():
    github = lower(provider_request("github", "issues", secret="s", now=NOW).headers)
    assert github["x-github-event"] == "issues"
    assert github["x-hub-signature"].startswith("sha1=")
    shopify = lower(provider_request("shopify", "orders/paid", secret="s", now=NOW).headers)
    assert shopify["x-shopify-topic"] == "orders/paid"
    assert shopify["x-shopify-shop-domain"].endswith(".myshopify.com")
    slack = lower(provider_request("slack", secret="s", now=NOW).headers)
    assert slack["x-slack-request-timestamp"] == str(int(NOW))
    stripe = lower(provider_request("stripe", secret="s", now=NOW).headers)
    assert stripe["stripe-signature"].startswith(f"t={int(NOW)},v1=")


def test_defaults_and_github_actions():
    for provider in SAMPLE_PROVIDERS:
        assert sample_event_types(provider), provider
        assert build_sample(provider, now=NOW).event_type == sample_event_types(provider)[0]
    assert build_sample("github", "pull_request", now=NOW).event_type == "pull_request.opened"
    closed = build_sample("github", "pull_request.closed", now=NOW)
    assert json.loads(closed.body)["pull_request"]["merged"] is True
    assert build_sample("github", "ping", now=NOW).event_type == "ping"


def test_stripe_envelope_and_fallback_object():
    event = json.loads(build_sample("stripe", "invoice.paid", now=NOW).body)
    assert event["object"] == "event" and event["id"].startswith("evt_")
    assert event["created"] == int(NOW)
    assert event["data"]["object"]["object"] == "invoice"
    fallback = json.loads(build_sample("stripe", UNKNOWN_TYPES["stripe"], now=NOW).body)
    assert fallback["type"] == "customer.subscription.deleted"
    assert fallback["data"]["object"]["object"] == "subscription"


def test_seeded_ids_make_samples_repeatable_and_unseeded_ones_unique():
    first = build_sample("stripe", now=NOW, ids=SampleIds(3))
    assert first == build_sample("stripe", now=NOW, ids=SampleIds(3))
    assert build_sample("stripe", now=NOW).event_id != build_sample("stripe", now=NOW).event_id


@pytest.mark.parametrize("event_type", ["", " push", "a" * 129, "x\r\nInjected: 1", "é.created"])
def test_event_types_that_no_provider_could_send_are_refused(event_type):
    with pytest.raises(InvalidEventType, match="event_type"):
        build_sample("github", event_type, now=NOW)


def test_unknown_provider_is_refused():
    with pytest.raises(UnknownProvider, match="provider"):
        build_sample("paypal", now=NOW)


def test_provider_presets_list_their_sample_event_types():
    for preset in provider_presets():
        assert preset.sample_event_types == sample_event_types(preset.id)
        assert preset.sample_event_types
