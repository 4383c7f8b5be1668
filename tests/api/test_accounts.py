"""Accounts, sign-up policies, login, API keys and auth through the in-process app."""

from __future__ import annotations

import pytest
from litestar.testing import TestClient

from gethook_lite.app import create_app
from tests.conftest import FAST_PASSWORDS, bearer, make_settings, new_account


def test_create_account_returns_account_and_bootstrap_key(client):
    answer = client.post("/v1/accounts", json={"name": "acme"})
    assert answer.status_code == 201
    body = answer.json()["data"]
    assert body["account"]["id"].startswith("acct_")
    assert body["account"]["plan"] == "self_hosted"
    assert body["account"]["created_at"].endswith("Z")
    key = body["api_key"]
    assert key["key"].startswith("hk_") and len(key["key"]) >= 35
    assert key["role"] == "admin"
    assert key["key"].startswith(key["key_prefix"])
    assert client.get("/v1/api-keys", headers=bearer(key["key"])).status_code == 200


def test_api_key_lifecycle(client, auth):
    created = client.post("/v1/api-keys", json={"name": "ci", "role": "viewer"}, headers=auth)
    assert created.status_code == 201
    new_key = created.json()["data"]
    assert new_key["role"] == "viewer" and new_key["key"].startswith("hk_")

    listed = client.get("/v1/api-keys", headers=auth).json()["data"]
    assert {k["id"] for k in listed} >= {new_key["id"]}
    assert all("key" not in k and "key_hash" not in k for k in listed)

    assert client.delete(f"/v1/api-keys/{new_key['id']}", headers=auth).status_code == 204
    revoked = client.get("/v1/api-keys", headers=bearer(new_key["key"]))
    assert revoked.status_code == 401
    assert revoked.json() == {"error": "invalid or revoked API key"}
    listed = {k["id"]: k for k in client.get("/v1/api-keys", headers=auth).json()["data"]}
    assert listed[new_key["id"]]["revoked_at"] is not None


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({}, "missing API key"),
        ({"Authorization": "Basic abc"}, "malformed Authorization"),
        ({"Authorization": "Bearer sk_live_123"}, "malformed Authorization"),
        ({"Authorization": "Bearer hk_" + "x" * 40}, "invalid or revoked"),
    ],
)
def test_bad_credentials_are_401_with_envelope(client, headers, message):
    answer = client.get("/v1/api-keys", headers=headers)
    assert answer.status_code == 401
    assert message in answer.json()["error"]


def test_viewer_key_can_read_but_not_write(client, auth):
    viewer = client.post("/v1/api-keys", json={"name": "v", "role": "viewer"}, headers=auth)
    headers = bearer(viewer.json()["data"]["key"])
    assert client.get("/v1/api-keys", headers=headers).status_code == 200
    denied = client.post("/v1/api-keys", json={"name": "x"}, headers=headers)
    assert denied.status_code == 403
    assert "viewer" in denied.json()["error"]
    own_id = viewer.json()["data"]["id"]
    assert client.delete(f"/v1/api-keys/{own_id}", headers=headers).status_code == 403


def test_another_accounts_key_is_not_found(client, auth):
    _, other_key = new_account(client, "other")
    other_key_id = client.get("/v1/api-keys", headers=bearer(other_key)).json()["data"][0]["id"]
    answer = client.delete(f"/v1/api-keys/{other_key_id}", headers=auth)
    assert answer.status_code == 404
    assert client.get("/v1/api-keys", headers=bearer(other_key)).status_code == 200


def test_role_is_validated(client, auth):
    answer = client.post("/v1/api-keys", json={"name": "x", "role": "owner"}, headers=auth)
    assert answer.status_code == 400
    assert answer.json()["error"].startswith("role:")


def test_register_and_login(client):
    registered = client.post(
        "/v1/auth/register",
        json={"name": "Ada", "email": "Ada@Example.com", "password": "correct horse"},
    )
    assert registered.status_code == 201
    assert registered.json()["data"]["account"]["email"] == "ada@example.com"

    again = client.post(
        "/v1/auth/register",
        json={"name": "Ada", "email": "ada@example.com", "password": "correct horse"},
    )
    assert again.status_code == 409

    login = client.post(
        "/v1/auth/login", json={"email": "ada@example.com", "password": "correct horse"}
    )
    assert login.status_code == 200
    fresh_key = login.json()["data"]["api_key"]["key"]
    assert fresh_key != registered.json()["data"]["api_key"]["key"]
    assert client.get("/v1/api-keys", headers=bearer(fresh_key)).status_code == 200


def test_register_validates_email_and_password(client):
    bad_email = client.post(
        "/v1/auth/register", json={"name": "a", "email": "nope", "password": "long enough"}
    )
    assert bad_email.status_code == 400 and bad_email.json()["error"].startswith("email:")
    short = client.post(
        "/v1/auth/register", json={"name": "a", "email": "a@b.co", "password": "short"}
    )
    assert short.status_code == 400 and short.json()["error"].startswith("password:")


def test_login_failures_are_throttled_with_retry_after(client, clock):
    client.post(
        "/v1/auth/register", json={"name": "a", "email": "a@b.co", "password": "right password"}
    )
    for _ in range(5):
        wrong = client.post("/v1/auth/login", json={"email": "a@b.co", "password": "wrong"})
        assert wrong.status_code == 401
    throttled = client.post(
        "/v1/auth/login", json={"email": "a@b.co", "password": "right password"}
    )
    assert throttled.status_code == 429
    assert int(throttled.headers["retry-after"]) > 0
    clock.advance(901)
    ok = client.post("/v1/auth/login", json={"email": "a@b.co", "password": "right password"})
    assert ok.status_code == 200


def test_unknown_email_login_is_401(client):
    answer = client.post("/v1/auth/login", json={"email": "x@y.zz", "password": "whatever1"})
    assert answer.status_code == 401
    assert answer.json() == {"error": "invalid email or password"}


@pytest.mark.parametrize("policy", ["closed", "token"])
def test_signup_policies(tmp_path, clock, policy):
    overrides = {"accounts.signup": policy}
    if policy == "token":
        overrides["accounts.signup_token"] = "s3cret-signup-token"
    app = create_app(
        make_settings(tmp_path, **overrides),
        clock=clock,
        passwords=FAST_PASSWORDS,
        start_scheduler=False,
    )
    with TestClient(app) as client:
        refused = client.post("/v1/accounts", json={"name": "x"})
        assert refused.status_code == 403
        assert "sign-up" in refused.json()["error"]
        register = client.post(
            "/v1/auth/register", json={"name": "x", "email": "x@y.co", "password": "long enough"}
        )
        assert register.status_code == 403
        if policy == "token":
            allowed = client.post(
                "/v1/accounts",
                json={"name": "x"},
                headers={"X-Signup-Token": "s3cret-signup-token"},
            )
            assert allowed.status_code == 201
