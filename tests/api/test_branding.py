"""Brand settings through the in-process app: upsert semantics (absent vs null), validation
naming the field, the 404 before anything is set, roles and tenant isolation."""

from __future__ import annotations

import re

import pytest

from tests.conftest import bearer, new_account

RFC3339_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
FULL = {
    "company_name": "Acme Hooks",
    "logo_url": "https://cdn.acme.test/logo.svg",
    "primary_color": "#1a2B3c",
    "support_email": "help@acme.test",
    "docs_title": "Acme webhooks",
}


def upsert(client, auth, **fields) -> dict:
    answer = client.post("/v1/brand-settings", json=fields, headers=auth)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert set(body) == {"data"}
    return body["data"]


def read(client, auth):
    return client.get("/v1/brand-settings", headers=auth)


def error(answer, status: int) -> str:
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert set(body) == {"error"} and isinstance(body["error"], str)
    return body["error"]


def test_get_is_an_enveloped_404_until_set(client, auth):
    assert error(read(client, auth), 404) == "brand settings have not been set for this account"


def test_first_upsert_creates_the_full_shape(client, auth, account):
    settings = upsert(client, auth, **FULL)
    assert settings["id"].startswith("brand_") and settings["account_id"] == account[0]
    assert {field: settings[field] for field in FULL} == FULL
    assert RFC3339_Z.match(settings["created_at"])
    assert settings["updated_at"] == settings["created_at"]
    assert read(client, auth).json() == {"data": settings}


def test_upsert_changes_only_the_given_fields_and_null_clears(client, auth, clock):
    first = upsert(client, auth, **FULL)
    clock.advance(30)
    second = upsert(client, auth, company_name="Acme Two", logo_url=None)
    assert second["company_name"] == "Acme Two" and second["logo_url"] is None
    assert second["primary_color"] == FULL["primary_color"]
    assert second["support_email"] == FULL["support_email"]
    assert second["docs_title"] == FULL["docs_title"]
    assert second["id"] == first["id"] and second["created_at"] == first["created_at"]
    assert second["updated_at"] > first["updated_at"]
    # An empty body changes nothing but the update time.
    clock.advance(1)
    third = upsert(client, auth)
    assert {field: third[field] for field in FULL} == {field: second[field] for field in FULL}


def test_blank_strings_clear_and_text_is_trimmed(client, auth):
    upsert(client, auth, **FULL)
    settings = upsert(client, auth, docs_title="   ", company_name="  Acme  ", support_email="")
    assert settings["docs_title"] is None and settings["support_email"] is None
    assert settings["company_name"] == "Acme"


def test_empty_first_upsert_creates_empty_settings(client, auth):
    settings = upsert(client, auth)
    assert all(settings[field] is None for field in FULL)
    assert read(client, auth).status_code == 200


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("primary_color", "red", "primary_color: must be a colour written #RRGGBB"),
        ("primary_color", "#12345", "primary_color: must be a colour written #RRGGBB"),
        ("primary_color", "#1234567", "primary_color: must be a colour written #RRGGBB"),
        ("primary_color", "#12345G", "primary_color: must be a colour written #RRGGBB"),
        ("logo_url", "http://cdn.acme.test/logo.png", "logo_url: must be an absolute https:// URL"),
        ("logo_url", "/logo.png", "logo_url: must be an absolute https:// URL"),
        ("logo_url", "https:///logo.png", "logo_url: must be an absolute https:// URL"),
        ("logo_url", "https://a b.test/x.png", "logo_url: must be an absolute https:// URL"),
        ("logo_url", "https://a.test/" + "x" * 2048, "logo_url: must be at most 2048"),
        ("support_email", "not-an-email", "support_email: must be an email address"),
        ("support_email", "a@b", "support_email: must be an email address"),
        ("company_name", "x" * 201, "company_name: must be at most 200 characters"),
        ("docs_title", "x" * 201, "docs_title: must be at most 200 characters"),
        ("company_name", 7, "company_name: expected `str | null`, got `int`"),
    ],
)
def test_invalid_values_are_400_naming_the_field(client, auth, field, value, message):
    answer = client.post("/v1/brand-settings", json={field: value}, headers=auth)
    assert message.replace("`", "") in error(answer, 400).replace("`", "")
    assert read(client, auth).status_code == 404  # nothing was stored


def test_an_invalid_field_leaves_the_others_unchanged(client, auth):
    upsert(client, auth, **FULL)
    answer = client.post(
        "/v1/brand-settings", json={"company_name": "New", "primary_color": "blue"}, headers=auth
    )
    error(answer, 400)
    assert read(client, auth).json()["data"]["company_name"] == FULL["company_name"]


def test_limits_are_inclusive_and_unknown_fields_ignored(client, auth):
    settings = upsert(client, auth, company_name="x" * 200, unknown="ignored")
    assert settings["company_name"] == "x" * 200 and "unknown" not in settings


def test_malformed_json_is_400(client, auth):
    answer = client.post(
        "/v1/brand-settings",
        content=b"{nope",
        headers={**auth, "content-type": "application/json"},
    )
    assert error(answer, 400).startswith("request body is not valid JSON")


def test_settings_are_per_account_and_viewers_only_read(client, auth):
    upsert(client, auth, **FULL)
    _, other_key = new_account(client, "other")
    other = bearer(other_key)
    assert read(client, other).status_code == 404
    upsert(client, other, company_name="Other")
    assert read(client, auth).json()["data"]["company_name"] == FULL["company_name"]
    created = client.post("/v1/api-keys", json={"name": "ro", "role": "viewer"}, headers=auth)
    viewer = bearer(created.json()["data"]["key"])
    assert read(client, viewer).json()["data"]["company_name"] == FULL["company_name"]
    refused = client.post("/v1/brand-settings", json={"company_name": "x"}, headers=viewer)
    assert refused.status_code == 403


def test_brand_settings_need_an_api_key(client):
    assert client.get("/v1/brand-settings").status_code == 401
    assert client.post("/v1/brand-settings", json={}).status_code == 401
