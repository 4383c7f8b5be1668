"""The sink's client-side records and checks (gethook_lite.testing): captured events decoded from
the API's shape, signature assertions with the gateway's verifier, and a plugin that costs
nothing to load."""

from __future__ import annotations

import base64
import subprocess
import sys

import pytest

from gethook_lite.testing.capture import CapturedEvent, decode_event
from gethook_lite.testing.sender import build
from gethook_lite.testing.signatures import assert_signed

SECRETS = {
    "stripe": "whsec_stripe_endpoint_secret_0123456789",
    "github": "a github webhook secret",
    "shopify": "shpss_0123456789abcdef0123456789abcdef",
    "slack": "8f742231b10e8888abcd99yyyzzz85a5",
    "standard_webhooks": "whsec_" + base64.b64encode(b"k" * 32).decode(),
}


def api_event(**fields) -> dict:
    """An event as GET /v1/events shows it (domain/events.py present_event), plus sink fields."""
    event = {
        "id": "evt_01",
        "account_id": "acct_01",
        "direction": "inbound",
        "source_id": "src_01",
        "event_type": "order.created",
        "external_event_id": None,
        "payload_hash": "sha256:00",
        "received_at": "2026-11-29T20:00:00Z",
        "headers": {"content-type": "application/json"},
        "body": '{"a": 1}',
        "status": "accepted",
        "attempts_count": 0,
        "next_attempt_at": None,
        "final_state": None,
        "created_by": "ingest",
        "replay_of": None,
        "created_at": "2026-11-29T20:00:00Z",
    }
    event.update(fields)
    return event


def captured(signed) -> CapturedEvent:
    headers = {name.lower(): value for name, value in signed.headers.items()}
    body = signed.body.decode()
    return decode_event(api_event(headers=headers, body=body))


def test_a_sink_event_decodes_to_its_raw_request():
    event = decode_event(
        api_event(
            request_method="PUT",
            request_path="/orders/7",
            request_query="a=1&a=2",
            headers={"X-Trace": "t"},
        )
    )
    assert (event.method, event.path, event.query) == ("PUT", "/orders/7", "a=1&a=2")
    assert event.headers == {"x-trace": "t"} and event.header("X-TRACE") == "t"
    assert event.json() == {"a": 1} and event.event_type == "order.created"


def test_a_base64_body_is_given_back_as_its_bytes():
    raw = b"\xff\x00binary"
    event = decode_event(api_event(body=base64.b64encode(raw).decode(), body_encoding="base64"))
    assert event.body == raw


def test_an_event_the_api_made_reads_as_a_post_to_the_url_itself():
    event = decode_event(api_event(request_method=None, request_path=None, request_query=None))
    assert (event.method, event.path, event.query) == ("POST", "", "")


@pytest.mark.parametrize("scheme", sorted(SECRETS))
def test_assert_signed_passes_for_each_scheme(scheme):
    assert_signed(scheme, SECRETS[scheme], captured(build(scheme, None, SECRETS[scheme])))


@pytest.mark.parametrize("scheme", sorted(SECRETS))
def test_assert_signed_fails_with_a_reason_for_another_secret(scheme):
    event = captured(build(scheme, None, SECRETS[scheme]))
    other = "whsec_" + base64.b64encode(b"o" * 32).decode()
    with pytest.raises(AssertionError, match=f"{scheme} signature check failed .*no signature"):
        assert_signed(scheme, other, event)


def test_assert_signed_fails_for_a_changed_body_or_an_old_timestamp():
    secret = SECRETS["standard_webhooks"]
    event = captured(build("svix", None, secret))
    changed = decode_event(api_event(headers=dict(event.headers), body='{"tampered": true}'))
    with pytest.raises(AssertionError, match="no signature"):
        assert_signed("svix", secret, changed)
    now = 1_800_000_000
    old = captured(build("stripe", None, SECRETS["stripe"], now=now - 3600))
    with pytest.raises(AssertionError, match="3600 s old"):
        assert_signed("stripe", SECRETS["stripe"], old, now=now)
    assert_signed("stripe", SECRETS["stripe"], old, tolerance_seconds=7200, now=now)


def test_assert_signed_names_a_bad_secret_or_scheme():
    event = decode_event(api_event())
    with pytest.raises(ValueError, match="secret for standard_webhooks"):
        assert_signed("standard_webhooks", "not base64 !", event)
    with pytest.raises(ValueError, match="unknown signature scheme 'paypal'"):
        assert_signed("paypal", "s", event)
    with pytest.raises(AssertionError, match="missing stripe-signature header"):
        assert_signed("stripe", SECRETS["stripe"], event)


def test_loading_the_plugin_imports_none_of_the_helpers():
    # Every pytest run of a project that installs the package loads it.
    code = (
        "import sys, gethook_lite.testing.plugin, gethook_lite.testing as t;"
        "heavy = [m for m in ('gethook_lite.samples', 'gethook_lite.testing.sink', 'msgspec',"
        " 'gethook_lite.ingest.verification', 'http.client') if m in sys.modules];"
        "print(heavy)"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[]"


def test_the_public_names_resolve_on_first_use():
    import gethook_lite.testing as testing

    for name in testing.__all__:
        assert getattr(testing, name).__name__ == name
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        _ = testing.nothing
