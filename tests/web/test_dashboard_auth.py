"""The dashboard's sign-in, session cookie, CSRF and viewer rules (in-process)."""

from __future__ import annotations

from litestar.testing import TestClient

from gethook_lite.app import create_app
from gethook_lite.constants import LOGIN_PAIR_FREE_FAILURES, WEB_SESSION_LIFETIME_SECONDS
from tests.conftest import FAST_PASSWORDS, bearer, make_settings, new_account
from tests.support.retention import purge
from tests.web.helpers import csrf_of, sign_in


def test_pages_redirect_to_sign_in_without_a_session(client):
    answer = client.get("/events?status=queued", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login?next=%2Fevents%3Fstatus%3Dqueued"


def test_sign_in_with_an_api_key_sets_a_strict_cookie(client, account):
    answer = sign_in(client, key=account[1])
    assert answer.status_code == 303 and answer.headers["location"] == "/"
    cookie = answer.headers["set-cookie"]
    assert "gethook_session=" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # plain http here; https requests get Secure
    page = client.get("/")
    assert page.status_code == 200 and "Overview" in page.text and "acme" in page.text


def test_sign_in_with_email_and_password_then_sign_out_revokes_its_key(client):
    client.post(
        "/v1/auth/register", json={"name": "corp", "email": "a@b.co", "password": "secret-pass"}
    )
    assert sign_in(client, email="a@b.co", password="secret-pass").status_code == 303
    keys_page = client.get("/api-keys").text
    assert "this session" in keys_page
    token = csrf_of(keys_page)
    assert (
        client.post("/logout", data={"csrf_token": token}, follow_redirects=False).status_code
        == 303
    )
    assert client.get("/", follow_redirects=False).status_code == 303
    # The key made for the session was revoked with it.
    login = client.post("/v1/auth/login", json={"email": "a@b.co", "password": "secret-pass"})
    listed = client.get("/v1/api-keys", headers=bearer(login.json()["data"]["api_key"]["key"]))
    session_keys = [key for key in listed.json()["data"] if key["name"] == "login"]
    assert sum(key["revoked_at"] is not None for key in session_keys) == 1


def test_wrong_password_is_refused_and_throttled_like_the_api(client):
    client.post(
        "/v1/auth/register", json={"name": "corp", "email": "a@b.co", "password": "secret-pass"}
    )
    for _ in range(LOGIN_PAIR_FREE_FAILURES):
        answer = sign_in(client, email="a@b.co", password="wrong-pass")
        assert answer.status_code == 401 and "invalid email or password" in answer.text
    answer = sign_in(client, email="a@b.co", password="secret-pass")
    assert answer.status_code == 429 and "Retry-After" in answer.headers


def test_sign_in_form_without_its_csrf_token_is_refused(client, account):
    client.get("/login")
    answer = client.post("/login", data={"api_key": account[1]}, follow_redirects=False)
    assert answer.status_code == 403
    assert "gethook_session" not in answer.headers.get("set-cookie", "")


def test_post_without_csrf_token_is_refused(client, account, auth):
    sign_in(client, key=account[1])
    dest = client.post(
        "/v1/destinations", headers=auth, json={"name": "d", "url": "http://127.0.0.1:9/x"}
    ).json()["data"]
    answer = client.post(f"/destinations/{dest['id']}/rotate-secret", data={})
    assert answer.status_code == 403 and "CSRF" in answer.text
    answer = client.post(f"/destinations/{dest['id']}/rotate-secret", data={"csrf_token": "x" * 43})
    assert answer.status_code == 403


def test_viewer_sees_pages_without_actions_and_cannot_post(client, auth):
    dest = client.post(
        "/v1/destinations", headers=auth, json={"name": "d", "url": "http://127.0.0.1:9/x"}
    ).json()["data"]
    viewer = client.post("/v1/api-keys", headers=auth, json={"name": "v", "role": "viewer"})
    sign_in(client, key=viewer.json()["data"]["key"])
    page = client.get("/destinations").text
    assert "Rotate secret" not in page and "Deactivate" not in page and "viewer" in page
    token = csrf_of(page)  # the sign-out form's token: a viewer may still sign out
    answer = client.post(f"/destinations/{dest['id']}/rotate-secret", data={"csrf_token": token})
    assert answer.status_code == 403 and "viewer" in answer.text
    assert client.get("/v1/destinations/" + dest["id"], headers=auth).json()["data"]["active"]


def test_session_expires(client, account, clock):
    sign_in(client, key=account[1])
    assert client.get("/", follow_redirects=False).status_code == 200
    clock.advance(WEB_SESSION_LIFETIME_SECONDS + 1)
    assert client.get("/", follow_redirects=False).status_code == 303


def test_an_expired_password_session_revokes_the_key_made_for_it(client, clock):
    client.post(
        "/v1/auth/register", json={"name": "corp", "email": "a@b.co", "password": "secret-pass"}
    )
    sign_in(client, email="a@b.co", password="secret-pass")
    clock.advance(WEB_SESSION_LIFETIME_SECONDS + 1)
    assert purge(client)["web_sessions"] == 1
    login = client.post("/v1/auth/login", json={"email": "a@b.co", "password": "secret-pass"})
    listed = client.get("/v1/api-keys", headers=bearer(login.json()["data"]["api_key"]["key"]))
    revoked = [key["revoked_at"] is not None for key in listed.json()["data"]]
    # The expired session's key, and neither the sign-up key nor the fresh login's.
    assert revoked.count(True) == 1 and len(revoked) == 3


def test_an_expired_session_signed_in_with_a_key_leaves_that_key_alone(client, account, clock):
    sign_in(client, key=account[1])
    clock.advance(WEB_SESSION_LIFETIME_SECONDS + 1)
    assert purge(client)["web_sessions"] == 1
    assert client.get("/v1/api-keys", headers=bearer(account[1])).status_code == 200


def test_revoking_the_key_ends_the_session(client, account, auth):
    sign_in(client, key=account[1])
    key_id = client.get("/v1/api-keys", headers=auth).json()["data"][0]["id"]
    client.delete(f"/v1/api-keys/{key_id}", headers=auth)
    assert client.get("/", follow_redirects=False).status_code == 303


def test_next_only_goes_to_a_local_path(client, account):
    form_page = client.get("/login")
    answer = client.post(
        "/login",
        data={
            "csrf_token": csrf_of(form_page.text),
            "api_key": account[1],
            "next": "//evil.example",
        },
        follow_redirects=False,
    )
    assert answer.headers["location"] == "/"


def test_every_page_has_strict_security_headers(client, account):
    for path in ("/login", "/static/app.css"):
        answer = client.get(path)
        assert answer.status_code == 200
        assert "default-src 'self'" in answer.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
        assert answer.headers["x-content-type-options"] == "nosniff"
    sign_in(client, key=account[1])
    for path in (
        "/",
        "/events",
        "/sources",
        "/destinations",
        "/routes",
        "/api-keys",
        "/events/evt_x",
    ):
        answer = client.get(path)
        assert answer.status_code in (200, 404), (path, answer.text)
        assert "script-src 'self'" in answer.headers["content-security-policy"], path
        assert "style=" not in answer.text and "<script>" not in answer.text, path


def test_the_cookie_is_secure_over_https(tmp_path, clock):
    app = create_app(
        make_settings(tmp_path), clock=clock, passwords=FAST_PASSWORDS, start_scheduler=False
    )
    with TestClient(app, base_url="https://dash.example") as https_client:
        _, key = new_account(https_client)
        answer = sign_in(https_client, key=key)
        assert answer.status_code == 303
        assert "; Secure" in answer.headers["set-cookie"]


def test_a_form_posted_after_the_session_ended_goes_to_sign_in(client, account):
    answer = client.post("/destinations", data={"name": "x"}, follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/login"
    assert client.get("/events/rows").status_code == 401


def test_the_live_events_stream_needs_a_session_and_refuses_an_api_key(client, account):
    _, key = account
    # The page's EventSource cannot follow a redirect into a form: 401, and the page reloads.
    assert client.get("/events/live").status_code == 401
    # The dashboard's stream signs in by session only; a key belongs on /v1/events/stream.
    assert client.get("/events/live", headers={"Authorization": f"Bearer {key}"}).status_code == 401
