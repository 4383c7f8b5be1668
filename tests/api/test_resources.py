"""Sources, destinations, routes and their presets through the in-process app.

Covers the wire contract (docs/wire.md, /openapi.json) for these resources: shapes and envelope,
validation errors naming the field, tenant isolation (another account's ids are 404, in paths
and in bodies), viewer keys refused on writes, PATCH semantics, deletion, and secrets that never
come back after creation nor sit in the database file in plain text.
"""

from __future__ import annotations

import base64
import json
import re
from contextlib import contextmanager

import pytest
from litestar.testing import TestClient

from gethook_lite.app import DATABASE_FILE, create_app
from gethook_lite.clock import FakeClock
from gethook_lite.db import events as event_store
from gethook_lite.db import resources as resource_store
from gethook_lite.db.rows import insert
from gethook_lite.delivery.signing import decode_signing_secret
from gethook_lite.domain import destinations as destination_domain
from gethook_lite.domain import sources
from gethook_lite.domain.accounts import Caller
from gethook_lite.ids import new_id
from gethook_lite.presets import DestinationPreset
from tests.conftest import FAST_PASSWORDS, bearer, make_settings, new_account

# IP literals (documentation ranges, public for the policy): a host name would cost a DNS
# lookup per create, and a lost packet stalls it for the resolver's five-second timeout.
PUBLIC_URL = "https://203.0.113.10/hooks"
RFC3339_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
DEFAULT_POLICY = {
    "max_attempts": 8,
    "backoff": "exponential",
    "initial_interval_seconds": 5.0,
    "max_interval_seconds": 36_000.0,
}


# -- fixtures and helpers ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def shared_client(tmp_path_factory):
    """One app for the whole module: starting an app per test would dominate the run time.

    Tests stay independent because each one works in a fresh account (``auth``), and tenant
    isolation is exactly what keeps accounts from seeing each other.
    """
    settings = make_settings(tmp_path_factory.mktemp("resources"))
    app = create_app(settings, clock=FakeClock(), passwords=FAST_PASSWORDS, start_scheduler=False)
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def client(shared_client):
    return shared_client


@contextmanager
def app_client(tmp_path, clock, **overrides):
    """A client on an app with non-default settings (the ``client`` fixture uses defaults)."""
    settings = make_settings(tmp_path, **overrides)
    app = create_app(settings, clock=clock, passwords=FAST_PASSWORDS, start_scheduler=False)
    with TestClient(app) as test_client:
        yield test_client


def created(answer) -> dict:
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert set(body) == {"data"}
    return body["data"]


def ok(answer) -> dict | list:
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert set(body) == {"data"}
    return body["data"]


def error(answer, status: int) -> str:
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert set(body) == {"error"} and isinstance(body["error"], str)
    return body["error"]


def make_source(client, headers, **body) -> dict:
    return created(client.post("/v1/sources", json={"name": "in", **body}, headers=headers))


def make_destination(client, headers, **body) -> dict:
    payload = {"name": "out", "url": PUBLIC_URL, **body}
    return created(client.post("/v1/destinations", json=payload, headers=headers))


def make_route(client, headers, **body) -> dict:
    return created(client.post("/v1/routes", json=body, headers=headers))


def viewer_key(client, headers) -> dict[str, str]:
    answer = client.post("/v1/api-keys", json={"name": "ro", "role": "viewer"}, headers=headers)
    return bearer(created(answer)["key"])


def run(client, fn, *args):
    """Call an async domain function on the app's own event loop."""
    return client.blocking_portal.call(fn, *args)


def ctx_of(client):
    return client.app.state.ctx


def db_row(client, fn, *args):
    return run(client, ctx_of(client).db.read, fn, *args)


# -- sources -----------------------------------------------------------------------------------


def test_source_created_with_only_a_name_has_auth_mode_none_and_absolute_ingest_url(client, auth):
    source = make_source(client, auth, name="  Shop  ")
    assert source["id"].startswith("src_")
    assert source["name"] == "Shop"
    assert source["auth_mode"] == "none"
    assert source["provider"] is None
    assert source["verification_config"] is None
    assert source["status"] == "active"
    assert source["custom_domain_id"] is None
    assert RFC3339_Z.match(source["created_at"])
    assert source["ingest_url"] == f"http://127.0.0.1:8080/ingest/{source['path_token']}"
    account_id = ok(client.get("/v1/api-keys", headers=auth))[0]["account_id"]
    assert source["account_id"] == account_id


def test_path_tokens_are_url_safe_unique_and_at_least_128_bits(client, auth):
    tokens = {make_source(client, auth)["path_token"] for _ in range(5)}
    assert len(tokens) == 5
    for token in tokens:
        # 22 base64url characters carry 132 bits.
        assert re.fullmatch(r"[A-Za-z0-9_-]{22,}", token)


def test_ingest_url_uses_the_configured_public_base_url(tmp_path, clock):
    overrides = {"server.public_base_url": "https://hooks.example.com/"}
    with app_client(tmp_path, clock, **overrides) as client:
        headers = bearer(new_account(client)[1])
        source = make_source(client, headers)
        assert source["ingest_url"] == f"https://hooks.example.com/ingest/{source['path_token']}"


WHSEC = "whsec_" + base64.b64encode(b"k" * 32).decode()

# auth_mode, verification_config given, verification_config shown (secrets masked).
VALID_SOURCE_CONFIGS = [
    ("none", None, None),
    ("none", {"secret": "ignored-for-none"}, None),
    (
        "hmac",
        {"secret": "hmac-secret-value-123", "header": "X-Signature"},
        {"secret": "****", "header": "x-signature", "algorithm": "sha256", "encoding": "hex"},
    ),
    (
        "hmac",
        {
            "secret": "short",
            "header": "X-Sig",
            "algorithm": "SHA512",
            "encoding": "base64",
            "prefix": "sha512=",
        },
        {
            "secret": "****",
            "header": "x-sig",
            "algorithm": "sha512",
            "encoding": "base64",
            "prefix": "sha512=",
        },
    ),
    (
        "basic_auth",
        {"username": "shop", "password": "a-long-password-value"},
        {"username": "shop", "password": "****"},
    ),
    (
        "api_key",
        {"header": "X-Api-Key", "value": "key-value-1234567"},
        {"header": "x-api-key", "value": "****"},
    ),
    (
        "stripe",
        {"secret": "whsec_stripe_secret_abc"},
        {"secret": "whsec_****", "tolerance_seconds": 300},
    ),
    ("github", {"secret": "gh"}, {"secret": "****"}),
    ("shopify", {"secret": "shpss_0123456789abcdef"}, {"secret": "****"}),
    (
        "slack",
        {"secret": "8f742231b10e8888abcd", "tolerance_seconds": 60},
        {"secret": "****", "tolerance_seconds": 60},
    ),
    ("standard_webhooks", {"secret": WHSEC}, {"secret": "whsec_****", "tolerance_seconds": 300}),
]


@pytest.mark.parametrize(("auth_mode", "config", "shown"), VALID_SOURCE_CONFIGS)
def test_each_auth_mode_is_accepted_and_its_secrets_are_masked(
    client, auth, auth_mode, config, shown
):
    body = {"auth_mode": auth_mode}
    if config is not None:
        body["verification_config"] = config
    source = make_source(client, auth, **body)
    assert source["auth_mode"] == auth_mode
    assert source["verification_config"] == shown
    again = ok(client.get(f"/v1/sources/{source['id']}", headers=auth))
    assert again == source
    listed = ok(client.get("/v1/sources", headers=auth))
    assert listed == [source]


@pytest.mark.parametrize("provider", ["stripe", "github", "shopify", "slack", "standard_webhooks"])
def test_provider_alone_sets_the_auth_mode(client, auth, provider):
    source = make_source(client, auth, provider=provider, verification_config={"secret": WHSEC})
    assert source["provider"] == provider
    assert source["auth_mode"] == provider
    assert source["verification_config"]["secret"] == "whsec_****"


def test_provider_with_its_own_auth_mode_is_accepted(client, auth):
    source = make_source(
        client, auth, provider="github", auth_mode="github", verification_config={"secret": "s"}
    )
    assert (source["provider"], source["auth_mode"]) == ("github", "github")


# body, the field the error must name first.
INVALID_SOURCES = [
    ({}, "name: is required"),
    ({"name": ""}, "name: must not be empty"),
    ({"name": "   "}, "name: must not be empty"),
    ({"name": 5}, "name: expected str"),
    ({"name": "x" * 201}, "name: must be at most"),
    ({"name": "s", "auth_mode": "magic"}, "auth_mode:"),
    ({"name": "s", "auth_mode": 3}, "auth_mode: expected str"),
    ({"name": "s", "provider": "paypal"}, "provider:"),
    ({"name": "s", "provider": "stripe", "auth_mode": "github"}, "auth_mode:"),
    ({"name": "s", "auth_mode": "stripe"}, "verification_config.secret: is required"),
    (
        {"name": "s", "auth_mode": "stripe", "verification_config": {"secret": 42}},
        "verification_config.secret: must be a string",
    ),
    (
        {"name": "s", "auth_mode": "github", "verification_config": {"secret": "  "}},
        "verification_config.secret: must not be empty",
    ),
    (
        {"name": "s", "auth_mode": "stripe", "verification_config": ["secret"]},
        "verification_config: expected object",
    ),
    (
        {"name": "s", "auth_mode": "hmac", "verification_config": {"secret": "x"}},
        "verification_config.header: is required",
    ),
    (
        {
            "name": "s",
            "auth_mode": "hmac",
            "verification_config": {"secret": "x", "header": "X-S", "algorithm": "md5"},
        },
        "verification_config.algorithm:",
    ),
    (
        {
            "name": "s",
            "auth_mode": "hmac",
            "verification_config": {"secret": "x", "header": "X-S", "encoding": "base32"},
        },
        "verification_config.encoding:",
    ),
    (
        {
            "name": "s",
            "auth_mode": "hmac",
            "verification_config": {"secret": "x", "header": "bad header"},
        },
        "verification_config.header:",
    ),
    (
        {"name": "s", "auth_mode": "basic_auth", "verification_config": {"username": "u"}},
        "verification_config.password: is required",
    ),
    (
        {"name": "s", "auth_mode": "api_key", "verification_config": {"header": "X-Key"}},
        "verification_config.value: is required",
    ),
    (
        {
            "name": "s",
            "auth_mode": "slack",
            "verification_config": {"secret": "x", "tolerance_seconds": 0},
        },
        "verification_config.tolerance_seconds:",
    ),
    (
        {"name": "s", "auth_mode": "standard_webhooks", "verification_config": {"secret": "!!"}},
        "verification_config.secret:",
    ),
]


@pytest.mark.parametrize(("body", "message"), INVALID_SOURCES)
def test_invalid_source_is_400_naming_the_field(client, auth, body, message):
    assert error(client.post("/v1/sources", json=body, headers=auth), 400).startswith(message)
    assert ok(client.get("/v1/sources", headers=auth)) == []


def test_malformed_source_body_is_400(client, auth):
    headers = {**auth, "Content-Type": "application/json"}
    answer = client.post("/v1/sources", content=b'{"name": ', headers=headers)
    assert error(answer, 400).startswith("request body is not valid JSON")


def test_unknown_source_fields_are_ignored(client, auth):
    assert make_source(client, auth, colour="blue")["name"] == "in"


def test_deleted_source_is_gone_from_get_list_and_delete(client, auth):
    keep = make_source(client, auth, name="keep")
    gone = make_source(client, auth, name="gone")
    answer = client.delete(f"/v1/sources/{gone['id']}", headers=auth)
    assert answer.status_code == 204 and answer.content == b""
    assert error(client.get(f"/v1/sources/{gone['id']}", headers=auth), 404)
    assert error(client.delete(f"/v1/sources/{gone['id']}", headers=auth), 404)
    assert [s["id"] for s in ok(client.get("/v1/sources", headers=auth))] == [keep["id"]]


def test_deleted_source_token_stops_resolving_at_once_even_when_cached(client, auth):
    source = make_source(client, auth)
    ctx = ctx_of(client)
    live = run(client, sources.live_source_for_token, ctx, source["path_token"])
    assert live is not None and live.id == source["id"]  # now cached
    client.delete(f"/v1/sources/{source['id']}", headers=auth)
    assert run(client, sources.live_source_for_token, ctx, source["path_token"]) is None


def test_a_lookup_racing_a_delete_does_not_cache_the_deleted_source(client, auth):
    source = make_source(client, auth)
    ctx = ctx_of(client)
    caller = Caller(account_id=source["account_id"], key_id="key_test", role="admin")
    original_read = ctx.db.read

    async def read_then_delete(fn, *args):
        # The lookup reads the live row, then the delete commits before the lookup resumes.
        row = await original_read(fn, *args)
        del ctx.db.read
        await sources.delete_source(ctx, caller, source["id"])
        return row

    ctx.db.read = read_then_delete
    try:
        run(client, sources.live_source_for_token, ctx, source["path_token"])
    finally:
        vars(ctx.db).pop("read", None)
    assert run(client, sources.live_source_for_token, ctx, source["path_token"]) is None


def test_live_source_carries_the_decrypted_verification_config(client, auth):
    config = {"secret": "hmac-secret-value-123", "header": "X-Sig"}
    source = make_source(client, auth, auth_mode="hmac", verification_config=config)
    live = run(client, sources.live_source_for_token, ctx_of(client), source["path_token"])
    assert live.auth_mode == "hmac"
    assert live.verification_config["secret"] == "hmac-secret-value-123"
    assert run(client, sources.live_source_for_token, ctx_of(client), "nope") is None


def test_deleted_sources_events_stay_readable(client, auth):
    source = make_source(client, auth)
    event_id = new_id("evt")
    event = {
        "id": event_id,
        "account_id": source["account_id"],
        "direction": "inbound",
        "source_id": source["id"],
        "headers": "{}",
        "body": b"{}",
        "status": "accepted",
        "created_by": "ingest",
        "received_at": 1.0,
        "created_at": 1.0,
    }
    run(client, ctx_of(client).db.write, insert, "events", event)
    client.delete(f"/v1/sources/{source['id']}", headers=auth)
    kept = db_row(client, event_store.get_event, source["account_id"], "inbound", event_id)
    assert kept is not None and kept["source_id"] == source["id"]


def test_provider_presets_list_every_scheme_with_its_details(client, auth):
    presets = ok(client.get("/v1/provider-presets", headers=auth))
    by_id = {preset["id"]: preset for preset in presets}
    assert set(by_id) == {"stripe", "github", "shopify", "slack", "standard_webhooks"}
    assert by_id["github"]["signature_header"] == "X-Hub-Signature-256"
    for preset in presets:
        assert preset["auth_mode"] == preset["id"]
        for field in ("name", "signature_header", "category", "docs_url", "description"):
            assert isinstance(preset[field], str) and preset[field], field
        assert preset["docs_url"].startswith("https://")


# -- destinations ------------------------------------------------------------------------------


def test_destination_created_like_the_cli_does(client, auth):
    body = {"name": "orders", "url": PUBLIC_URL, "timeout_seconds": 10}
    destination = created(client.post("/v1/destinations", json=body, headers=auth))
    assert destination["id"].startswith("dest_")
    assert destination["name"] == "orders"
    assert destination["url"] == PUBLIC_URL
    assert destination["active"] is True
    assert destination["timeout_seconds"] == 10
    assert destination["auth_config"] is None
    assert destination["custom_headers"] is None
    assert destination["preset"] is None
    assert RFC3339_Z.match(destination["created_at"])
    # Generated when absent: whsec_ + base64 of 32 random bytes.
    assert len(decode_signing_secret(destination["signing_secret"])) == 32


def test_destination_timeout_defaults_to_30(client, auth):
    assert make_destination(client, auth)["timeout_seconds"] == 30


def test_given_signing_secret_is_kept_and_shown_only_on_create(client, auth):
    destination = make_destination(client, auth, signing_secret=WHSEC)
    assert destination["signing_secret"] == WHSEC
    shown = ok(client.get(f"/v1/destinations/{destination['id']}", headers=auth))
    assert "signing_secret" not in shown
    assert all("signing_secret" not in d for d in ok(client.get("/v1/destinations", headers=auth)))
    patched = client.patch(f"/v1/destinations/{destination['id']}", json={}, headers=auth)
    assert "signing_secret" not in ok(patched)


@pytest.mark.parametrize("timeout", [1, 120])
def test_timeout_bounds_are_inclusive(client, auth, timeout):
    assert make_destination(client, auth, timeout_seconds=timeout)["timeout_seconds"] == timeout


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:3000/hooks",
        "http://localhost:8080/x",
        "http://10.0.0.5/hook",
        "http://192.168.1.20/hook",
        "http://[::1]:9000/",
        "https://203.0.113.10/hook?x=1",
        "HTTPS://198.51.100.20/path",
    ],
)
def test_loopback_private_and_public_urls_are_allowed_by_default(client, auth, url):
    assert make_destination(client, auth, url=url)["url"] == url


# Refused whatever the configuration.
ALWAYS_REFUSED_URLS = [
    "http://169.254.169.254/latest/meta-data",
    "http://169.254.1.1/",
    "http://[fe80::1]/",
    "http://[fd00:ec2::254]/",
    "http://[::ffff:169.254.169.254]/",
    "http://metadata.google.internal/",
]

MALFORMED_URLS = [
    "",
    "hooks.example.net/in",
    "/relative/path",
    "ftp://hooks.example.net/in",
    "javascript:alert(1)",
    "https://user:pass@hooks.example.net/in",
    "https://token@hooks.example.net/in",
    "http://",
    "http://exa mple.com/",
    "http://0x7f.1/",
    "http://hooks.example.net:0/",
    "http://hooks.example.net:99999/",
]


@pytest.mark.parametrize("url", ALWAYS_REFUSED_URLS + MALFORMED_URLS)
def test_bad_or_link_local_urls_are_400_naming_url(client, auth, url):
    answer = client.post("/v1/destinations", json={"name": "d", "url": url}, headers=auth)
    assert error(answer, 400).startswith("url: ")
    assert ok(client.get("/v1/destinations", headers=auth)) == []


def test_url_error_message_does_not_repeat_the_field_name(client, auth):
    answer = client.post("/v1/destinations", json={"name": "d", "url": "ftp://x.io/"}, headers=auth)
    assert error(answer, 400) == "url: scheme must be http or https"


PRIVATE_URLS = [
    "http://127.0.0.1/",
    "http://localhost:3000/",
    "http://10.1.2.3/",
    "http://172.16.0.1/",
    "http://192.168.0.1/",
    "http://[::1]/",
    "http://[fc00::1]/",
    "http://[::ffff:10.0.0.1]/",
]


def test_private_urls_are_refused_when_private_networks_are_disabled(tmp_path, clock):
    overrides = {"delivery.allow_private_networks": False}
    with app_client(tmp_path, clock, **overrides) as client:
        headers = bearer(new_account(client)[1])
        # A public address is still fine, and a PATCH to a private one is refused.
        destination = make_destination(client, headers)
        for url in PRIVATE_URLS:
            body = {"name": "d", "url": url}
            answer = client.post("/v1/destinations", json=body, headers=headers)
            assert error(answer, 400).startswith("url: "), url
            patch = client.patch(
                f"/v1/destinations/{destination['id']}", json={"url": url}, headers=headers
            )
            assert error(patch, 400).startswith("url: "), url
        assert ok(client.get("/v1/destinations", headers=headers)) == [without_secret(destination)]


def test_denied_cidrs_are_refused_on_create_and_update(tmp_path, clock):
    overrides = {"delivery.deny_cidrs": ["203.0.113.0/24"]}
    with app_client(tmp_path, clock, **overrides) as client:
        headers = bearer(new_account(client)[1])
        body = {"name": "d", "url": "https://203.0.113.7/x"}
        assert "denied" in error(client.post("/v1/destinations", json=body, headers=headers), 400)
        destination = make_destination(client, headers, url="https://198.51.100.7/x")
        answer = client.patch(
            f"/v1/destinations/{destination['id']}",
            json={"url": "https://203.0.113.8/"},
            headers=headers,
        )
        assert error(answer, 400).startswith("url: ")
        shown = ok(client.get(f"/v1/destinations/{destination['id']}", headers=headers))
        assert shown["url"] == "https://198.51.100.7/x"


# Extra create fields, the start of the error.
INVALID_DESTINATIONS = [
    ({"name": ""}, "name: must not be empty"),
    ({"url": None}, "url: expected str"),
    ({"timeout_seconds": 0}, "timeout_seconds: must be between 1 and 120"),
    ({"timeout_seconds": 121}, "timeout_seconds: must be between 1 and 120"),
    ({"timeout_seconds": -5}, "timeout_seconds: must be between 1 and 120"),
    ({"timeout_seconds": 2.5}, "timeout_seconds: expected int"),
    ({"timeout_seconds": "30"}, "timeout_seconds: expected int"),
    ({"timeout_seconds": True}, "timeout_seconds: expected int"),
    ({"signing_secret": "not-a-secret"}, "signing_secret:"),
    ({"signing_secret": "whsec_"}, "signing_secret:"),
    ({"signing_secret": "whsec_!!!!"}, "signing_secret:"),
    ({"signing_secret": "whsec_" + base64.b64encode(b"s" * 16).decode()}, "signing_secret:"),
    ({"preset": "carrier_pigeon"}, "preset:"),
    ({"auth_config": {"token": "t"}}, "auth_config.type:"),
    ({"auth_config": {"type": "oauth", "token": "t"}}, "auth_config.type:"),
    ({"auth_config": {"type": "bearer"}}, "auth_config.token:"),
    ({"auth_config": {"type": "bearer", "token": 5}}, "auth_config.token:"),
    ({"auth_config": {"type": "bearer", "token": "a\r\nX-Evil: 1"}}, "auth_config.token:"),
    ({"auth_config": {"type": "bearer", "token": "a\x00b"}}, "auth_config.token:"),
    ({"auth_config": {"type": "basic", "username": "u"}}, "auth_config.password:"),
    ({"auth_config": {"type": "basic", "password": "p"}}, "auth_config.username:"),
    (
        {"auth_config": {"type": "basic", "username": "a:b", "password": "p"}},
        "auth_config.username:",
    ),
    ({"auth_config": {"type": "api_key", "value": "v"}}, "auth_config.header:"),
    ({"auth_config": {"type": "api_key", "header": "X Key", "value": "v"}}, "auth_config.header:"),
    (
        {"auth_config": {"type": "api_key", "header": "webhook-signature", "value": "v"}},
        "auth_config.header:",
    ),
    ({"auth_config": {"type": "api_key", "header": "Host", "value": "v"}}, "auth_config.header:"),
    ({"auth_config": "bearer"}, "auth_config: expected object"),
    ({"custom_headers": ["X-A"]}, "custom_headers: expected object"),
    ({"custom_headers": {"X-A": 1}}, "custom_headers"),
    ({"custom_headers": {"Host": "evil.example"}}, "custom_headers.Host:"),
    ({"custom_headers": {"content-length": "1"}}, "custom_headers.content-length:"),
    ({"custom_headers": {"Connection": "close"}}, "custom_headers.Connection:"),
    ({"custom_headers": {"Transfer-Encoding": "chunked"}}, "custom_headers.Transfer-Encoding:"),
    ({"custom_headers": {"Keep-Alive": "1"}}, "custom_headers.Keep-Alive:"),
    ({"custom_headers": {"Upgrade": "h2c"}}, "custom_headers.Upgrade:"),
    ({"custom_headers": {"TE": "trailers"}}, "custom_headers.TE:"),
    ({"custom_headers": {"Webhook-Signature": "v1,x"}}, "custom_headers.Webhook-Signature:"),
    ({"custom_headers": {"webhook-id": "x"}}, "custom_headers.webhook-id:"),
    ({"custom_headers": {"X-GetHook-Attempt": "1"}}, "custom_headers.X-GetHook-Attempt:"),
    ({"custom_headers": {"Authorization": "Bearer x"}}, "custom_headers.Authorization:"),
    ({"custom_headers": {"Bad Header": "x"}}, "custom_headers.Bad Header:"),
    ({"custom_headers": {"": "x"}}, "custom_headers.:"),
    ({"custom_headers": {"X-A": "a\nb"}}, "custom_headers.X-A:"),
    ({"custom_headers": {"X-A": "a\x00b"}}, "custom_headers.X-A:"),
    ({"custom_headers": {"X-A": "1", "x-a": "2"}}, "custom_headers.x-a:"),
    ({"custom_headers": {f"X-H{i}": "v" for i in range(33)}}, "custom_headers:"),
]


@pytest.mark.parametrize(("fields", "message"), INVALID_DESTINATIONS)
def test_invalid_destination_is_400_naming_the_field(client, auth, fields, message):
    body = {"name": "d", "url": PUBLIC_URL, **fields}
    answer = client.post("/v1/destinations", json=body, headers=auth)
    assert error(answer, 400).startswith(message)
    assert ok(client.get("/v1/destinations", headers=auth)) == []


@pytest.mark.parametrize(
    ("auth_config", "shown"),
    [
        ({"type": "bearer", "token": "tok-123"}, {"type": "bearer", "token": "****"}),
        (
            {"type": "basic", "username": "svc", "password": "pw-123"},
            {"type": "basic", "username": "svc", "password": "****"},
        ),
        (
            {"type": "api_key", "header": "X-Api-Key", "value": "val-123", "extra": "dropped"},
            {"type": "api_key", "header": "X-Api-Key", "value": "****"},
        ),
        (
            # The API-key header may be Authorization itself (e.g. "Token abc"): it is the auth.
            {"type": "api_key", "header": "Authorization", "value": "Token abc"},
            {"type": "api_key", "header": "Authorization", "value": "****"},
        ),
    ],
)
def test_auth_config_secrets_are_masked_on_every_read(client, auth, auth_config, shown):
    destination = make_destination(client, auth, auth_config=auth_config)
    assert destination["auth_config"] == shown
    again = ok(client.get(f"/v1/destinations/{destination['id']}", headers=auth))
    assert again["auth_config"] == shown
    assert ok(client.get("/v1/destinations", headers=auth))[0]["auth_config"] == shown


def test_custom_headers_are_kept_as_given(client, auth):
    headers = {"X-Team": "core", "X-Trace": "on; q=1", "Accept": "application/json"}
    destination = make_destination(client, auth, custom_headers=headers)
    assert destination["custom_headers"] == headers
    shown = ok(client.get(f"/v1/destinations/{destination['id']}", headers=auth))
    assert shown["custom_headers"] == headers


def test_empty_custom_headers_are_shown_as_null(client, auth):
    assert make_destination(client, auth, custom_headers={})["custom_headers"] is None


def test_destination_presets_list_their_hints(client, auth):
    presets = ok(client.get("/v1/destination-presets", headers=auth))
    ids = [preset["id"] for preset in presets]
    assert {"slack", "discord", "generic_http", "local_dev"} <= set(ids)
    for preset in presets:
        assert set(preset) >= {
            "id",
            "name",
            "description",
            "url_hint",
            "auth_type",
            "extra_headers",
            "docs_url",
        }
        assert preset["auth_type"] in (None, "bearer", "basic", "api_key")
        assert isinstance(preset["extra_headers"], dict)


@pytest.mark.parametrize("preset", ["slack", "discord", "generic_http", "local_dev"])
def test_destination_created_from_a_preset_remembers_it(client, auth, preset):
    destination = make_destination(client, auth, preset=preset)
    assert destination["preset"] == preset


@pytest.fixture
def vendor_preset(monkeypatch):
    """A preset that needs bearer auth and adds a header (the shipped presets need neither)."""
    fake = DestinationPreset(
        id="vendor",
        name="Vendor",
        description="d",
        url_hint=PUBLIC_URL,
        auth_type="bearer",
        extra_headers={"X-Vendor-Version": "2"},
        docs_url=None,
    )
    monkeypatch.setattr(
        destination_domain,
        "get_destination_preset",
        lambda preset_id: fake if preset_id == "vendor" else None,
    )
    return fake


def test_a_preset_applies_its_headers_and_requires_its_auth_type(client, auth, vendor_preset):
    missing = client.post(
        "/v1/destinations", json={"name": "v", "url": PUBLIC_URL, "preset": "vendor"}, headers=auth
    )
    assert error(missing, 400).startswith("auth_config:")
    wrong = client.post(
        "/v1/destinations",
        json={
            "name": "v",
            "url": PUBLIC_URL,
            "preset": "vendor",
            "auth_config": {"type": "basic", "username": "u", "password": "p"},
        },
        headers=auth,
    )
    assert error(wrong, 400).startswith("auth_config.type:")
    destination = make_destination(
        client,
        auth,
        preset="vendor",
        auth_config={"type": "bearer", "token": "t"},
        custom_headers={"X-Mine": "1"},
    )
    assert destination["custom_headers"] == {"X-Vendor-Version": "2", "X-Mine": "1"}
    assert destination["auth_config"] == {"type": "bearer", "token": "****"}


def test_a_custom_header_may_not_repeat_the_api_key_header(client, auth):
    api_key = {"type": "api_key", "header": "X-Api-Key", "value": "v"}
    body = {"name": "d", "url": PUBLIC_URL, "auth_config": api_key}
    answer = client.post(
        "/v1/destinations", json={**body, "custom_headers": {"x-api-key": "1"}}, headers=auth
    )
    assert error(answer, 400).startswith("custom_headers.x-api-key:")
    destination = make_destination(client, auth, auth_config=api_key)
    clash = patch_destination(client, auth, destination, {"custom_headers": {"X-API-KEY": "1"}})
    assert error(clash, 400).startswith("custom_headers.X-API-KEY:")
    with_header = make_destination(client, auth, custom_headers={"X-Api-Key": "1"})
    clash = patch_destination(client, auth, with_header, {"auth_config": api_key})
    assert error(clash, 400).startswith("custom_headers.X-Api-Key:")
    # Both in one PATCH: the new headers replace the old, so no clash is left.
    both = {"auth_config": api_key, "custom_headers": {"X-Other": "1"}}
    assert ok(patch_destination(client, auth, with_header, both))["custom_headers"] == {
        "X-Other": "1"
    }


def test_a_preset_keeps_applying_on_patch(client, auth, vendor_preset):
    destination = make_destination(
        client, auth, preset="vendor", auth_config={"type": "bearer", "token": "t"}
    )
    dropped = patch_destination(client, auth, destination, {"auth_config": None})
    assert error(dropped, 400).startswith("auth_config:")
    patched = ok(patch_destination(client, auth, destination, {"custom_headers": {"X-A": "1"}}))
    assert patched["custom_headers"] == {"X-Vendor-Version": "2", "X-A": "1"}
    overridden = patch_destination(
        client, auth, destination, {"custom_headers": {"x-vendor-version": "3"}}
    )
    assert ok(overridden)["custom_headers"] == {"x-vendor-version": "3"}


# -- PATCH -------------------------------------------------------------------------------------


@pytest.fixture
def full_destination(client, auth) -> dict:
    return make_destination(
        client,
        auth,
        name="full",
        timeout_seconds=12,
        auth_config={"type": "bearer", "token": "tok"},
        custom_headers={"X-Team": "core"},
    )


def patch_destination(client, auth, destination, body):
    return client.patch(f"/v1/destinations/{destination['id']}", json=body, headers=auth)


def without_secret(destination: dict) -> dict:
    return {key: value for key, value in destination.items() if key != "signing_secret"}


@pytest.mark.parametrize(
    ("body", "changed"),
    [
        ({}, {}),
        ({"name": " renamed "}, {"name": "renamed"}),
        ({"url": "https://198.51.100.30/x"}, {"url": "https://198.51.100.30/x"}),
        ({"timeout_seconds": 120}, {"timeout_seconds": 120}),
        ({"active": False}, {"active": False}),
        ({"auth_config": None}, {"auth_config": None}),
        ({"custom_headers": None}, {"custom_headers": None}),
        ({"custom_headers": {}}, {"custom_headers": None}),
        ({"custom_headers": {"X-New": "1"}}, {"custom_headers": {"X-New": "1"}}),
        (
            {"auth_config": {"type": "basic", "username": "u", "password": "p"}},
            {"auth_config": {"type": "basic", "username": "u", "password": "****"}},
        ),
        ({"unknown_field": 1}, {}),
    ],
)
def test_patch_changes_only_the_fields_present(client, auth, full_destination, body, changed):
    answer = ok(patch_destination(client, auth, full_destination, body))
    expected = {**without_secret(full_destination), **changed}
    assert answer == expected
    assert ok(client.get(f"/v1/destinations/{full_destination['id']}", headers=auth)) == expected


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"name": None}, "name: expected str, got null"),
        ({"name": ""}, "name: must not be empty"),
        ({"url": None}, "url: expected str, got null"),
        ({"url": "http://169.254.169.254/"}, "url: "),
        ({"url": "https://u:p@x.example.net/"}, "url: "),
        ({"timeout_seconds": None}, "timeout_seconds: expected int, got null"),
        ({"timeout_seconds": 0}, "timeout_seconds:"),
        ({"active": None}, "active: expected bool, got null"),
        ({"active": "yes"}, "active: expected bool"),
        ({"auth_config": {"type": "bearer"}}, "auth_config.token:"),
        ({"custom_headers": {"Host": "x"}}, "custom_headers.Host:"),
        ({"signing_secret": WHSEC, "name": ""}, "name:"),
    ],
)
def test_invalid_patch_is_400_and_changes_nothing(client, auth, full_destination, body, message):
    assert error(patch_destination(client, auth, full_destination, body), 400).startswith(message)
    shown = ok(client.get(f"/v1/destinations/{full_destination['id']}", headers=auth))
    assert shown == without_secret(full_destination)


def test_patch_with_one_bad_field_applies_none_of_the_others(client, auth, full_destination):
    body = {"name": "new", "timeout_seconds": 500}
    error(patch_destination(client, auth, full_destination, body), 400)
    shown = ok(client.get(f"/v1/destinations/{full_destination['id']}", headers=auth))
    assert shown["name"] == "full"


def test_patch_cannot_change_the_signing_secret(client, auth, full_destination):
    other = "whsec_" + base64.b64encode(b"z" * 32).decode()
    ok(patch_destination(client, auth, full_destination, {"signing_secret": other}))
    row = db_row(
        client,
        resource_store.get_destination,
        full_destination["account_id"],
        full_destination["id"],
    )
    assert (
        ctx_of(client).secrets.decrypt(row["signing_secret_enc"])
        == full_destination["signing_secret"]
    )


def test_reactivated_destination_is_active_again(client, auth, full_destination):
    ok(patch_destination(client, auth, full_destination, {"active": False}))
    assert ok(patch_destination(client, auth, full_destination, {"active": True}))["active"]


def test_every_change_moves_updated_at_forward_even_when_the_clock_stands_still(client, auth):
    # Delivery caches a destination's headers and secrets by updated_at (its version).
    destination = make_destination(client, auth)
    versions = [stored_destination(client, destination)["updated_at"]]
    ok(patch_destination(client, auth, destination, {"custom_headers": {"X-A": "1"}}))
    versions.append(stored_destination(client, destination)["updated_at"])
    ok(client.post(f"/v1/destinations/{destination['id']}/rotate-secret", headers=auth))
    versions.append(stored_destination(client, destination)["updated_at"])
    assert versions == sorted(set(versions))


# -- rotation ----------------------------------------------------------------------------------


def stored_destination(client, destination) -> dict:
    return db_row(
        client, resource_store.get_destination, destination["account_id"], destination["id"]
    )


def test_rotate_secret_returns_a_new_secret_and_keeps_the_old_for_the_grace_period(client, auth):
    clock = ctx_of(client).clock
    destination = make_destination(client, auth)
    clock.advance(10)
    answer = client.post(f"/v1/destinations/{destination['id']}/rotate-secret", headers=auth)
    rotated = ok(answer)
    assert rotated["id"] == destination["id"]
    assert rotated["signing_secret"] != destination["signing_secret"]
    assert len(decode_signing_secret(rotated["signing_secret"])) == 32
    assert without_secret(rotated) == without_secret(destination)
    row = stored_destination(client, destination)
    box = ctx_of(client).secrets
    assert box.decrypt(row["signing_secret_enc"]) == rotated["signing_secret"]
    assert box.decrypt(row["previous_secret_enc"]) == destination["signing_secret"]
    grace = ctx_of(client).settings.delivery.secret_rotation_grace_seconds
    assert row["previous_secret_expires_at"] == clock.now() + grace
    shown = ok(client.get(f"/v1/destinations/{destination['id']}", headers=auth))
    assert "signing_secret" not in shown


def test_rotate_secret_with_an_empty_json_body_like_the_cli(client, auth):
    destination = make_destination(client, auth)
    headers = {**auth, "Content-Type": "application/json"}
    answer = client.post(f"/v1/destinations/{destination['id']}/rotate-secret", headers=headers)
    assert ok(answer)["signing_secret"].startswith("whsec_")


def test_rotate_twice_keeps_the_secret_just_replaced_as_previous(client, auth):
    destination = make_destination(client, auth)
    path = f"/v1/destinations/{destination['id']}/rotate-secret"
    first = ok(client.post(path, headers=auth))["signing_secret"]
    second = ok(client.post(path, headers=auth))["signing_secret"]
    row = stored_destination(client, destination)
    box = ctx_of(client).secrets
    assert box.decrypt(row["signing_secret_enc"]) == second
    assert box.decrypt(row["previous_secret_enc"]) == first


def test_rotation_without_grace_drops_the_old_secret_at_once(tmp_path, clock):
    overrides = {"delivery.secret_rotation_grace_seconds": 0}
    with app_client(tmp_path, clock, **overrides) as client:
        headers = bearer(new_account(client)[1])
        destination = make_destination(client, headers)
        ok(client.post(f"/v1/destinations/{destination['id']}/rotate-secret", headers=headers))
        row = stored_destination(client, destination)
        assert row["previous_secret_enc"] is None and row["previous_secret_expires_at"] is None


def test_rotation_uses_the_configured_grace_period(tmp_path, clock):
    overrides = {"delivery.secret_rotation_grace_seconds": 600}
    with app_client(tmp_path, clock, **overrides) as client:
        headers = bearer(new_account(client)[1])
        destination = make_destination(client, headers)
        ok(client.post(f"/v1/destinations/{destination['id']}/rotate-secret", headers=headers))
        row = stored_destination(client, destination)
        assert row["previous_secret_expires_at"] == clock.now() + 600


# -- deleting destinations ---------------------------------------------------------------------


def test_deleted_destination_disappears_everywhere(client, auth):
    keep = make_destination(client, auth, name="keep")
    gone = make_destination(client, auth, name="gone")
    route = make_route(client, auth, destination_id=gone["id"])
    kept_route = make_route(client, auth, destination_id=keep["id"])
    answer = client.delete(f"/v1/destinations/{gone['id']}", headers=auth)
    assert answer.status_code == 204 and answer.content == b""
    path = f"/v1/destinations/{gone['id']}"
    error(client.get(path, headers=auth), 404)
    error(client.patch(path, json={"name": "x"}, headers=auth), 404)
    error(client.post(f"{path}/rotate-secret", headers=auth), 404)
    error(client.delete(path, headers=auth), 404)
    assert [d["id"] for d in ok(client.get("/v1/destinations", headers=auth))] == [keep["id"]]
    # Its routes went with it; other routes stay.
    assert [r["id"] for r in ok(client.get("/v1/routes", headers=auth))] == [kept_route["id"]]
    error(client.delete(f"/v1/routes/{route['id']}", headers=auth), 404)


def test_route_to_a_deleted_destination_or_from_a_deleted_source_is_404(client, auth):
    destination = make_destination(client, auth)
    source = make_source(client, auth)
    live_destination = make_destination(client, auth)
    client.delete(f"/v1/destinations/{destination['id']}", headers=auth)
    client.delete(f"/v1/sources/{source['id']}", headers=auth)
    answer = client.post("/v1/routes", json={"destination_id": destination["id"]}, headers=auth)
    assert error(answer, 404) == "destination not found"
    answer = client.post(
        "/v1/routes",
        json={"destination_id": live_destination["id"], "source_id": source["id"]},
        headers=auth,
    )
    assert error(answer, 404) == "source not found"
    assert ok(client.get("/v1/routes", headers=auth)) == []


def test_deleting_a_source_removes_the_routes_from_it(client, auth):
    destination = make_destination(client, auth)
    source = make_source(client, auth)
    make_route(client, auth, destination_id=destination["id"], source_id=source["id"])
    outbound = make_route(client, auth, destination_id=destination["id"])
    client.delete(f"/v1/sources/{source['id']}", headers=auth)
    assert [r["id"] for r in ok(client.get("/v1/routes", headers=auth))] == [outbound["id"]]


# -- routes ------------------------------------------------------------------------------------


def test_route_with_only_a_destination_shows_the_full_default_policy(client, auth):
    destination = make_destination(client, auth)
    route = make_route(client, auth, destination_id=destination["id"])
    assert route["id"].startswith("route_")
    assert route["account_id"] == destination["account_id"]
    assert route["destination_id"] == destination["id"]
    assert route["source_id"] is None
    assert route["event_type_pattern"] is None
    assert route["retry_policy"] == DEFAULT_POLICY
    assert route["active"] is True
    assert RFC3339_Z.match(route["created_at"])
    assert ok(client.get("/v1/routes", headers=auth)) == [route]


def test_route_from_a_source_with_a_pattern(client, auth):
    destination = make_destination(client, auth)
    source = make_source(client, auth)
    route = make_route(
        client,
        auth,
        destination_id=destination["id"],
        source_id=source["id"],
        event_type_pattern="invoice.*",
    )
    assert route["source_id"] == source["id"]
    assert route["event_type_pattern"] == "invoice.*"


@pytest.mark.parametrize(
    ("given", "effective"),
    [
        (None, DEFAULT_POLICY),
        ({}, DEFAULT_POLICY),
        ({"max_attempts": 3}, {**DEFAULT_POLICY, "max_attempts": 3}),
        ({"max_attempts": 1}, {**DEFAULT_POLICY, "max_attempts": 1}),
        ({"max_attempts": 50}, {**DEFAULT_POLICY, "max_attempts": 50}),
        ({"backoff": "fixed", "max_attempts": None}, {**DEFAULT_POLICY, "backoff": "fixed"}),
        (
            {"backoff": "linear", "initial_interval_seconds": 2, "max_interval_seconds": 60},
            {
                "max_attempts": 8,
                "backoff": "linear",
                "initial_interval_seconds": 2.0,
                "max_interval_seconds": 60.0,
            },
        ),
        ({"shape": "square"}, DEFAULT_POLICY),
    ],
)
def test_retry_policy_omitted_fields_take_the_defaults(client, auth, given, effective):
    destination = make_destination(client, auth)
    body = {"destination_id": destination["id"]}
    if given is not None:
        body["retry_policy"] = given
    assert make_route(client, auth, **body)["retry_policy"] == effective


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"retry_policy": {"max_attempts": 0}}, "retry_policy.max_attempts: "),
        ({"retry_policy": {"max_attempts": 51}}, "retry_policy.max_attempts: "),
        ({"retry_policy": {"max_attempts": 2.5}}, "retry_policy.max_attempts: "),
        ({"retry_policy": {"max_attempts": "3"}}, "retry_policy.max_attempts: "),
        ({"retry_policy": {"max_attempts": True}}, "retry_policy.max_attempts: "),
        ({"retry_policy": {"backoff": "random"}}, "retry_policy.backoff: "),
        ({"retry_policy": {"initial_interval_seconds": -1}}, "retry_policy.initial_interval"),
        ({"retry_policy": {"max_interval_seconds": 10**7}}, "retry_policy.max_interval_seconds"),
        (
            {"retry_policy": {"initial_interval_seconds": 60, "max_interval_seconds": 10}},
            "retry_policy.max_interval_seconds: ",
        ),
        ({"retry_policy": [1]}, "retry_policy: expected object"),
        ({"event_type_pattern": "has space"}, "event_type_pattern: must not contain"),
        ({"event_type_pattern": "a" * 256}, "event_type_pattern: must be at most 255"),
        ({"event_type_pattern": "tab\there"}, "event_type_pattern: "),
        ({"event_type_pattern": 7}, "event_type_pattern: expected str"),
        ({"source_id": 7}, "source_id: expected str"),
        ({"destination_id": None}, "destination_id: expected str"),
    ],
)
def test_invalid_route_is_400_naming_the_field(client, auth, fields, message):
    destination = make_destination(client, auth)
    body = {"destination_id": destination["id"], **fields}
    answer = client.post("/v1/routes", json=body, headers=auth)
    assert error(answer, 400).startswith(message)
    assert ok(client.get("/v1/routes", headers=auth)) == []


def test_route_without_destination_is_400(client, auth):
    answer = client.post("/v1/routes", json={}, headers=auth)
    assert error(answer, 400) == "destination_id: is required"


@pytest.mark.parametrize("pattern", ["*", "invoice.*", "a?c", "issues.opened", "[x]", ""])
def test_valid_event_type_patterns_are_kept(client, auth, pattern):
    destination = make_destination(client, auth)
    route = make_route(client, auth, destination_id=destination["id"], event_type_pattern=pattern)
    assert route["event_type_pattern"] == (pattern or None)


def test_unknown_ids_in_a_route_body_are_404(client, auth):
    destination = make_destination(client, auth)
    answer = client.post("/v1/routes", json={"destination_id": "dest_nope"}, headers=auth)
    assert error(answer, 404) == "destination not found"
    body = {"destination_id": destination["id"], "source_id": "src_nope"}
    assert error(client.post("/v1/routes", json=body, headers=auth), 404) == "source not found"


def test_deleted_route_is_gone(client, auth):
    destination = make_destination(client, auth)
    route = make_route(client, auth, destination_id=destination["id"])
    answer = client.delete(f"/v1/routes/{route['id']}", headers=auth)
    assert answer.status_code == 204 and answer.content == b""
    assert ok(client.get("/v1/routes", headers=auth)) == []
    assert error(client.delete(f"/v1/routes/{route['id']}", headers=auth), 404)
    # The destination itself is untouched.
    ok(client.get(f"/v1/destinations/{destination['id']}", headers=auth))


# -- tenant isolation --------------------------------------------------------------------------


@pytest.fixture
def other(client) -> dict:
    """Another account with one of everything."""
    headers = bearer(new_account(client, "other")[1])
    source = make_source(client, headers, auth_mode="github", verification_config={"secret": "s"})
    destination = make_destination(client, headers)
    route = make_route(client, headers, destination_id=destination["id"], source_id=source["id"])
    return {"headers": headers, "src": source, "dest": destination, "route": route}


ID_ENDPOINTS = [
    ("GET", "/v1/sources/{src}", None),
    ("DELETE", "/v1/sources/{src}", None),
    ("GET", "/v1/destinations/{dest}", None),
    ("PATCH", "/v1/destinations/{dest}", {"name": "hijacked"}),
    ("PATCH", "/v1/destinations/{dest}", {}),
    ("DELETE", "/v1/destinations/{dest}", None),
    ("POST", "/v1/destinations/{dest}/rotate-secret", None),
    ("DELETE", "/v1/routes/{route}", None),
]


def ids_of(other: dict) -> dict[str, str]:
    return {kind: other[kind]["id"] for kind in ("src", "dest", "route")}


@pytest.mark.parametrize(("method", "template", "body"), ID_ENDPOINTS)
def test_another_accounts_ids_are_404_on_every_endpoint(
    client, auth, other, method, template, body
):
    path = template.format(**ids_of(other))
    answer = client.request(method, path, json=body, headers=auth)
    assert error(answer, 404).endswith("not found")
    # And nothing changed for the owner.
    assert ok(client.get(f"/v1/sources/{other['src']['id']}", headers=other["headers"]))
    owner_dest = ok(client.get(f"/v1/destinations/{other['dest']['id']}", headers=other["headers"]))
    assert owner_dest == without_secret(other["dest"])
    assert ok(client.get("/v1/routes", headers=other["headers"])) == [other["route"]]
    row = stored_destination(client, other["dest"])
    assert row["previous_secret_enc"] is None


def test_another_accounts_ids_inside_a_route_body_are_404(client, auth, other):
    mine = make_destination(client, auth)
    mine_source = make_source(client, auth)
    answer = client.post("/v1/routes", json={"destination_id": other["dest"]["id"]}, headers=auth)
    assert error(answer, 404) == "destination not found"
    body = {"destination_id": mine["id"], "source_id": other["src"]["id"]}
    assert error(client.post("/v1/routes", json=body, headers=auth), 404) == "source not found"
    body = {"destination_id": other["dest"]["id"], "source_id": mine_source["id"]}
    assert error(client.post("/v1/routes", json=body, headers=auth), 404)
    assert ok(client.get("/v1/routes", headers=auth)) == []


def test_lists_show_only_the_callers_resources(client, auth, other):
    mine = {
        "/v1/sources": make_source(client, auth)["id"],
        "/v1/destinations": make_destination(client, auth)["id"],
    }
    mine["/v1/routes"] = make_route(client, auth, destination_id=mine["/v1/destinations"])["id"]
    for path, own_id in mine.items():
        assert [item["id"] for item in ok(client.get(path, headers=auth))] == [own_id]


# -- roles and authentication ------------------------------------------------------------------


WRITE_ENDPOINTS = [
    ("POST", "/v1/sources", {"name": "s"}),
    ("DELETE", "/v1/sources/{src}", None),
    ("POST", "/v1/destinations", {"name": "d", "url": PUBLIC_URL}),
    ("PATCH", "/v1/destinations/{dest}", {"name": "renamed"}),
    ("DELETE", "/v1/destinations/{dest}", None),
    ("POST", "/v1/destinations/{dest}/rotate-secret", None),
    ("POST", "/v1/routes", {"destination_id": "{dest}"}),
    ("DELETE", "/v1/routes/{route}", None),
]

READ_ENDPOINTS = [
    "/v1/sources",
    "/v1/sources/{src}",
    "/v1/provider-presets",
    "/v1/destinations",
    "/v1/destinations/{dest}",
    "/v1/destination-presets",
    "/v1/routes",
]


@pytest.fixture
def mine(client, auth) -> dict[str, str]:
    """One of each resource of the ``auth`` account, by kind."""
    source = make_source(client, auth)
    destination = make_destination(client, auth)
    route = make_route(client, auth, destination_id=destination["id"], source_id=source["id"])
    return {"src": source["id"], "dest": destination["id"], "route": route["id"]}


def fill(body, ids):
    if body is None:
        return None
    return {
        key: value.format(**ids) if isinstance(value, str) else value for key, value in body.items()
    }


@pytest.mark.parametrize(("method", "template", "body"), WRITE_ENDPOINTS)
def test_viewer_keys_get_403_on_every_write_and_change_nothing(
    client, auth, mine, method, template, body
):
    before = {path: ok(client.get(path, headers=auth)) for path in ("/v1/sources", "/v1/routes")}
    before["/v1/destinations"] = ok(client.get("/v1/destinations", headers=auth))
    viewer = viewer_key(client, auth)
    answer = client.request(method, template.format(**mine), json=fill(body, mine), headers=viewer)
    assert "viewer" in error(answer, 403)
    for path, listed in before.items():
        assert ok(client.get(path, headers=auth)) == listed


@pytest.mark.parametrize("template", READ_ENDPOINTS)
def test_viewer_keys_may_read_everything(client, auth, mine, template):
    ok(client.get(template.format(**mine), headers=viewer_key(client, auth)))


@pytest.mark.parametrize(
    ("method", "template"),
    [(method, template) for method, template, _ in WRITE_ENDPOINTS]
    + [("GET", template) for template in READ_ENDPOINTS],
)
def test_every_endpoint_needs_an_api_key(client, mine, method, template):
    answer = client.request(method, template.format(**mine), json={})
    assert error(answer, 401).startswith("missing API key")


# -- hostile input -----------------------------------------------------------------------------


ODD_VALUES = [None, True, -1, 1.5, 10**400, "", "x" * 5000, [], ["a"], {"a": []}, "\x00"]
FULL_CONFIG = {"secret": "s", "header": "x-h", "username": "u", "password": "p", "value": "v"}
FULL_AUTH = {"token": "t", "username": "u", "password": "p", "header": "X-K", "value": "v"}
# The fields each verification mode and auth type reads.
CONFIG_FIELDS = {
    "hmac": ("secret", "header", "algorithm", "encoding", "prefix"),
    "basic_auth": ("username", "password"),
    "api_key": ("header", "value"),
    "slack": ("secret", "tolerance_seconds"),
    "standard_webhooks": ("secret",),
}
AUTH_FIELDS = {
    "bearer": ("token",),
    "basic": ("username", "password"),
    "api_key": ("header", "value"),
}
PATCH_FIELDS = (
    "name",
    "url",
    "timeout_seconds",
    "auth_config",
    "auth_config.type",
    "custom_headers",
    "active",
)
ROUTE_FIELDS = (
    "destination_id",
    "source_id",
    "event_type_pattern",
    "retry_policy",
    *(f"retry_policy.{name}" for name in DEFAULT_POLICY),
)

# method, path ("{dest}": a destination of the caller), base body, dotted field to replace.
ODD_INPUT_CASES = [
    *[("POST", "/v1/sources", {"name": "s"}, f) for f in ("name", "auth_mode", "provider")],
    ("POST", "/v1/sources", {"name": "s"}, "verification_config"),
    *[
        (
            "POST",
            "/v1/sources",
            {"name": "s", "auth_mode": mode, "verification_config": FULL_CONFIG},
            f"verification_config.{field}",
        )
        for mode, fields in CONFIG_FIELDS.items()
        for field in fields
    ],
    *[
        ("POST", "/v1/destinations", {"name": "d", "url": PUBLIC_URL}, field)
        for field in (
            "name",
            "url",
            "signing_secret",
            "timeout_seconds",
            "preset",
            "auth_config",
            "auth_config.type",
            "custom_headers",
            "custom_headers.X-A",
        )
    ],
    *[
        (
            "POST",
            "/v1/destinations",
            {"name": "d", "url": PUBLIC_URL, "auth_config": {"type": kind, **FULL_AUTH}},
            f"auth_config.{field}",
        )
        for kind, fields in AUTH_FIELDS.items()
        for field in fields
    ],
    *[("PATCH", "/v1/destinations/{dest}", {}, field) for field in PATCH_FIELDS],
    *[("POST", "/v1/routes", {"destination_id": "{dest}"}, field) for field in ROUTE_FIELDS],
]


def replaced(base: dict, dotted: str, value, destination_id: str) -> dict:
    """A deep copy of ``base`` with the dotted field set to ``value``."""
    body = json.loads(json.dumps(base).replace("{dest}", destination_id))
    *parents, last = dotted.split(".")
    target = body
    for name in parents:
        target = target.setdefault(name, {})
    target[last] = value
    return body


@pytest.mark.parametrize(("method", "template", "base", "field"), ODD_INPUT_CASES)
def test_odd_values_in_any_field_are_answered_without_a_500(
    client, auth, method, template, base, field
):
    destination_id = make_destination(client, auth)["id"]
    path = template.format(dest=destination_id)
    headers = {**auth, "Content-Type": "application/json"}
    for value in ODD_VALUES:
        content = json.dumps(replaced(base, field, value, destination_id))
        answer = client.request(method, path, content=content, headers=headers)
        assert answer.status_code in (200, 201, 400, 404), (field, value, answer.text)
        assert set(answer.json()) in ({"data"}, {"error"})


# -- secrets -----------------------------------------------------------------------------------


SOURCE_SECRETS = {
    "hmac": {"secret": "SRC-HMAC-SECRET-7d1f", "header": "X-Sig"},
    "basic_auth": {"username": "shop", "password": "SRC-BASIC-PASSWORD-41aa"},
    "api_key": {"header": "X-Key", "value": "SRC-API-KEY-VALUE-9c2e"},
    "stripe": {"secret": "whsec_SRC-STRIPE-SECRET-02bc"},
    "github": {"secret": "SRC-GITHUB-SECRET-88e0"},
    "shopify": {"secret": "SRC-SHOPIFY-SECRET-5a5a"},
    "slack": {"secret": "SRC-SLACK-SECRET-1234"},
    "standard_webhooks": {"secret": "whsec_" + base64.b64encode(b"SRC-STD-WEBHOOKS-KEY!").decode()},
}
DEST_AUTH = [
    {"type": "bearer", "token": "DEST-BEARER-TOKEN-6f6f"},
    {"type": "basic", "username": "svc", "password": "DEST-BASIC-PASSWORD-3e3e"},
    {"type": "api_key", "header": "X-Api-Key", "value": "DEST-API-KEY-VALUE-d00d"},
]
GIVEN_SIGNING_SECRET = "whsec_" + base64.b64encode(b"DEST-GIVEN-SIGNING-KEY-0123456").decode()


def secret_values() -> list[str]:
    values = [
        config[field]
        for config in SOURCE_SECRETS.values()
        for field in ("secret", "password", "value")
        if field in config
    ]
    values += [
        config.get("token") or config.get("password") or config["value"] for config in DEST_AUTH
    ]
    return values


@pytest.mark.sqlite_only("reads the SQLite file and its WAL byte by byte")
def test_secrets_never_come_back_and_are_not_in_the_database_file(tmp_path, clock):
    # An app of its own, so that its WAL holds exactly these writes.
    with app_client(tmp_path, clock) as client:
        check_secrets_stay_hidden(client, bearer(new_account(client)[1]))


def check_secrets_stay_hidden(client, auth) -> None:
    expected_secrets = [*secret_values(), GIVEN_SIGNING_SECRET]
    for auth_mode, config in SOURCE_SECRETS.items():
        make_source(client, auth, auth_mode=auth_mode, verification_config=config)
    for auth_config in DEST_AUTH:
        generated = make_destination(client, auth, auth_config=auth_config)
        expected_secrets.append(generated["signing_secret"])
        path = f"/v1/destinations/{generated['id']}/rotate-secret"
        expected_secrets.append(ok(client.post(path, headers=auth))["signing_secret"])
    given = make_destination(client, auth, signing_secret=GIVEN_SIGNING_SECRET)
    # A PATCH re-encrypts the auth config: the new value must not leak either.
    patched_auth = {"type": "bearer", "token": "DEST-PATCHED-TOKEN-4b4b"}
    expected_secrets.append(patched_auth["token"])
    ok(patch_destination(client, auth, given, {"auth_config": patched_auth}))

    reads = [client.get(path, headers=auth).text for path in ("/v1/sources", "/v1/destinations")]
    reads += [
        client.get(f"/v1/destinations/{d['id']}", headers=auth).text
        for d in ok(client.get("/v1/destinations", headers=auth))
    ]
    reads += [
        client.get(f"/v1/sources/{s['id']}", headers=auth).text
        for s in ok(client.get("/v1/sources", headers=auth))
    ]
    data_dir = ctx_of(client).settings.data_dir
    files = [data_dir / DATABASE_FILE, data_dir / f"{DATABASE_FILE}-wal"]
    assert files[1].exists()  # the writes above are in the WAL until a checkpoint
    stored = b"".join(path.read_bytes() for path in files)
    for secret in expected_secrets:
        assert all(secret not in text for text in reads), secret
        assert secret.encode() not in stored, secret
        if secret.startswith("whsec_"):
            # Neither the base64 part of a signing secret.
            assert secret.removeprefix("whsec_").encode() not in stored, secret
