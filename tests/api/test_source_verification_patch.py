"""PATCH /v1/sources/{id} changes how a source verifies: Stripe issues its signing secret only
after the URL is registered, so the secret must be settable without a new URL."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from tests.support.api import make_source

OLD_SECRET = "whsec_old_stripe_secret_1111"
NEW_SECRET = "whsec_new_stripe_secret_2222"
BODY = b'{"id": "evt_1", "type": "charge.succeeded"}'


def stripe_headers(secret: str, timestamp: int, body: bytes = BODY) -> dict[str, str]:
    signature = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return {"stripe-signature": f"t={timestamp},v1={signature.hexdigest()}"}


def post_signed(client, source: dict, secret: str, clock, body: bytes = BODY):
    return client.post(
        f"/ingest/{source['path_token']}",
        content=body,
        headers=stripe_headers(secret, int(clock.now()), body),
    )


def patch_source(client, auth, source_id: str, body: dict):
    return client.patch(f"/v1/sources/{source_id}", json=body, headers=auth)


def test_a_patched_stripe_secret_verifies_at_once_and_the_old_one_stops(client, auth, clock):
    source = make_source(
        client, auth, provider="stripe", verification_config={"secret": OLD_SECRET}
    )
    # The old secret verifies (and the source is now in ingest's cache).
    assert post_signed(client, source, OLD_SECRET, clock).status_code == 202

    patched = patch_source(
        client, auth, source["id"], {"verification_config": {"secret": NEW_SECRET}}
    )
    assert patched.status_code == 200, patched.text
    shown = patched.json()["data"]
    assert shown["path_token"] == source["path_token"]
    assert shown["auth_mode"] == "stripe" and shown["provider"] == "stripe"
    assert NEW_SECRET not in patched.text and OLD_SECRET not in patched.text
    assert shown["verification_config"] == {"secret": "whsec_****", "tolerance_seconds": 300}

    body = b'{"id": "evt_2", "type": "charge.succeeded"}'
    assert post_signed(client, source, NEW_SECRET, clock, body).status_code == 202
    refused = post_signed(client, source, OLD_SECRET, clock, b'{"id": "evt_3"}')
    assert refused.status_code == 401
    assert "verification failed" in refused.json()["error"]
    fetched = client.get(f"/v1/sources/{source['id']}", headers=auth)
    assert NEW_SECRET not in fetched.text


def test_a_source_created_without_verification_can_be_switched_to_stripe(client, auth, clock):
    source = make_source(client, auth)
    assert client.post(f"/ingest/{source['path_token']}", content=BODY).status_code == 202
    patched = patch_source(
        client,
        auth,
        source["id"],
        {"provider": "stripe", "verification_config": {"secret": NEW_SECRET}},
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["data"]["auth_mode"] == "stripe"
    assert patched.json()["data"]["provider"] == "stripe"
    unsigned = client.post(f"/ingest/{source['path_token']}", content=b'{"id": "x"}')
    assert unsigned.status_code == 401
    assert post_signed(client, source, NEW_SECRET, clock).status_code == 202


def test_other_fields_of_the_config_are_kept_when_only_the_secret_changes(client, auth, clock):
    source = make_source(
        client,
        auth,
        auth_mode="hmac",
        verification_config={"secret": "s1", "header": "x-sig", "prefix": "sha256="},
    )
    patched = patch_source(client, auth, source["id"], {"verification_config": {"secret": "s2"}})
    assert patched.status_code == 200, patched.text
    config = patched.json()["data"]["verification_config"]
    assert config == {
        "secret": "****", "header": "x-sig", "algorithm": "sha256", "encoding": "hex",
        "prefix": "sha256=",
    }  # fmt: skip
    signature = "sha256=" + hmac.new(b"s2", BODY, hashlib.sha256).hexdigest()
    answer = client.post(
        f"/ingest/{source['path_token']}", content=BODY, headers={"x-sig": signature}
    )
    assert answer.status_code == 202, answer.text


def test_patching_only_the_name_keeps_the_secret(client, auth, clock):
    source = make_source(
        client, auth, provider="stripe", verification_config={"secret": OLD_SECRET}
    )
    assert patch_source(client, auth, source["id"], {"name": "renamed"}).status_code == 200
    assert post_signed(client, source, OLD_SECRET, clock).status_code == 202


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"verification_config": {"secret": ""}}, "verification_config.secret"),
        ({"verification_config": {"secret": 42}}, "verification_config.secret"),
        (
            {"verification_config": {"tolerance_seconds": 0}},
            "verification_config.tolerance_seconds",
        ),
        ({"verification_config": None}, "verification_config.secret"),
        ({"verification_config": "secret"}, "verification_config"),
        ({"verification_config": {"secret": "whsec_****"}}, "verification_config.secret"),
        ({"auth_mode": "github"}, "verification_config.secret"),
        ({"auth_mode": "carrier-pigeon"}, "auth_mode"),
        ({"auth_mode": None}, "auth_mode"),
        ({"provider": "nope"}, "provider"),
        ({"provider": "github", "auth_mode": "stripe"}, "auth_mode"),
        (
            {"auth_mode": "hmac", "verification_config": {"secret": "s"}},
            "verification_config.header",
        ),
    ],
)
def test_an_invalid_verification_patch_is_a_400_naming_the_field(client, auth, clock, body, field):
    source = make_source(
        client, auth, provider="stripe", verification_config={"secret": OLD_SECRET}
    )
    answer = patch_source(client, auth, source["id"], body)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"].startswith(field), answer.json()
    # Nothing changed: the old secret still verifies.
    assert post_signed(client, source, OLD_SECRET, clock).status_code == 202


def test_switching_mode_clears_a_provider_that_no_longer_applies(client, auth):
    source = make_source(
        client, auth, provider="stripe", verification_config={"secret": OLD_SECRET}
    )
    patched = patch_source(
        client,
        auth,
        source["id"],
        {"auth_mode": "api_key", "verification_config": {"header": "x-key", "value": "k-123"}},
    )
    assert patched.status_code == 200, patched.text
    shown = patched.json()["data"]
    assert shown["auth_mode"] == "api_key" and shown["provider"] is None
    assert "k-123" not in patched.text
    ok = client.post(f"/ingest/{source['path_token']}", content=b"{}", headers={"x-key": "k-123"})
    assert ok.status_code == 202
    signed = client.post(
        f"/ingest/{source['path_token']}",
        content=BODY,
        headers=stripe_headers(OLD_SECRET, 0),
    )
    assert signed.status_code == 401
