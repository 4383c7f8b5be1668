"""POST /v1/portal-sessions and DELETE /v1/portal-sessions/{id}: ownership, validation,
expiry on the fake clock, revocation."""

from __future__ import annotations

import hashlib

import pytest

from tests.conftest import bearer, new_account


def _destination(client, auth, name="billing") -> str:
    answer = client.post(
        "/v1/destinations", json={"name": name, "url": "https://example.com/hook"}, headers=auth
    )
    assert answer.status_code == 201, answer.text
    return answer.json()["data"]["id"]


def _create(client, auth, **body):
    return client.post("/v1/portal-sessions", json=body, headers=auth)


def test_a_session_answers_a_url_with_a_token_stored_only_as_a_hash(client, auth):
    destination = _destination(client, auth)
    answer = _create(
        client,
        auth,
        destination_ids=[destination],
        capabilities=["replay"],
        allowed_origins=["https://app.customer.example"],
    )
    assert answer.status_code == 201, answer.text
    data = answer.json()["data"]
    assert data["destination_ids"] == [destination]
    assert data["capabilities"] == ["view", "replay"]  # view implied
    assert data["allowed_origins"] == ["https://app.customer.example"]
    token = data["url"].rsplit("/portal/", 1)[1]
    assert len(token) >= 43
    page = client.get(f"/portal/{token}")
    assert page.status_code == 200
    assert "frame-ancestors https://app.customer.example" in page.headers["content-security-policy"]
    assert "x-frame-options" not in page.headers
    # Only the hash is kept.
    stored = client.blocking_portal.call(
        client.app.state.ctx.db.read,
        lambda conn: conn.execute("SELECT token_hash FROM portal_sessions").fetchall(),
    )
    assert [tuple(row) for row in stored] == [(hashlib.sha256(token.encode()).hexdigest(),)]


def test_another_accounts_destination_is_404_naming_the_field(client, auth):
    _, other_key = new_account(client, "other")
    theirs = _destination(client, bearer(other_key), "theirs")
    answer = _create(client, auth, destination_ids=[theirs])
    assert answer.status_code == 404
    assert "destination_ids" in answer.json()["error"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "destination_ids"),
        ({"destination_ids": []}, "destination_ids"),
        ({"capabilities": ["delete_everything"]}, "capabilities"),
        ({"expires_in_seconds": 10}, "expires_in_seconds"),
        ({"expires_in_seconds": 31 * 24 * 3600}, "expires_in_seconds"),
        ({"allowed_origins": ["https://a.example/path"]}, "allowed_origins"),
        ({"allowed_origins": ["javascript:alert(1)"]}, "allowed_origins"),
        ({"allowed_origins": ["https://a.example; script-src *"]}, "allowed_origins"),
    ],
)
def test_bad_input_is_400_naming_the_field(client, auth, body, field):
    destination = _destination(client, auth)
    if "destination_ids" not in body and field != "destination_ids":
        body = {"destination_ids": [destination], **body}
    answer = _create(client, auth, **body)
    assert answer.status_code == 400, answer.text
    assert field in answer.json()["error"]


def test_a_session_expires_on_the_clock(client, auth, clock):
    destination = _destination(client, auth)
    data = _create(client, auth, destination_ids=[destination], expires_in_seconds=300)
    url = data.json()["data"]["url"]
    path = url[url.index("/portal/") :]
    assert client.get(path).status_code == 200
    clock.advance(301)
    gone = client.get(path)
    assert gone.status_code == 410
    assert "expired" in gone.text and "billing" not in gone.text


def test_revoke_ends_the_session_at_once_and_only_the_owner_may(client, auth):
    destination = _destination(client, auth)
    data = _create(client, auth, destination_ids=[destination]).json()["data"]
    path = data["url"][data["url"].index("/portal/") :]
    _, other_key = new_account(client, "other")
    assert (
        client.delete(f"/v1/portal-sessions/{data['id']}", headers=bearer(other_key)).status_code
        == 404
    )
    assert client.delete(f"/v1/portal-sessions/{data['id']}", headers=auth).status_code == 204
    gone = client.get(path)
    assert gone.status_code == 410 and "revoked" in gone.text and "billing" not in gone.text
    assert client.get("/portal/not-a-token").status_code == 404


def test_a_viewer_key_cannot_create_a_session(client, auth):
    destination = _destination(client, auth)
    viewer = client.post("/v1/api-keys", json={"name": "v", "role": "viewer"}, headers=auth)
    answer = _create(client, bearer(viewer.json()["data"]["key"]), destination_ids=[destination])
    assert answer.status_code == 403
