"""What keeps a public instance safe by default: sign-up throttled per client (both sign-up
endpoints, its own counter beside login's), sign-up closed when listening beyond loopback
unless set, and platform stats behind a token or off."""

from __future__ import annotations

from contextlib import contextmanager

import pytest
from litestar.testing import TestClient

from gethook_lite.app import create_app
from gethook_lite.config import load_settings
from tests.conftest import FAST_PASSWORDS, bearer, make_settings


@contextmanager
def app_client(tmp_path, clock, **overrides):
    settings = make_settings(tmp_path, **overrides)
    app = create_app(settings, clock=clock, passwords=FAST_PASSWORDS, start_scheduler=False)
    with TestClient(app) as client:
        yield client


def register(client, n: int):
    body = {"name": f"r{n}", "email": f"r{n}@example.com", "password": "long enough"}
    return client.post("/v1/auth/register", json=body)


def test_signup_is_throttled_per_client_on_both_endpoints(tmp_path, clock):
    with app_client(tmp_path, clock, **{"accounts.signups_per_client": 3}) as client:
        assert client.post("/v1/accounts", json={"name": "a"}).status_code == 201
        assert register(client, 1).status_code == 201
        assert client.post("/v1/accounts", json={"name": "c"}).status_code == 201
        for refused in (client.post("/v1/accounts", json={"name": "d"}), register(client, 2)):
            assert refused.status_code == 429
            assert "sign-ups" in refused.json()["error"]
            assert 1 <= int(refused.headers["retry-after"]) <= 3600
        # Failed logins are another counter: sign-ups did not use them up.
        login = client.post("/v1/auth/login", json={"email": "r1@example.com", "password": "no"})
        assert login.status_code == 401
        clock.advance(3601)
        assert client.post("/v1/accounts", json={"name": "e"}).status_code == 201


def test_signup_limit_zero_means_no_limit(tmp_path, clock):
    with app_client(tmp_path, clock, **{"accounts.signups_per_client": 0}) as client:
        for n in range(15):
            assert client.post("/v1/accounts", json={"name": f"a{n}"}).status_code == 201


def test_a_closed_signup_is_403_before_it_is_throttled(tmp_path, clock):
    overrides = {"accounts.signup": "closed", "accounts.signups_per_client": 1}
    with app_client(tmp_path, clock, **overrides) as client:
        for _ in range(3):
            assert client.post("/v1/accounts", json={"name": "a"}).status_code == 403


@pytest.mark.parametrize(
    ("host", "signup", "policy"),
    [
        ("127.0.0.1", "auto", "open"),
        ("::1", "auto", "open"),
        ("localhost", "auto", "open"),
        ("0.0.0.0", "auto", "closed"),
        ("::", "auto", "closed"),
        ("203.0.113.7", "auto", "closed"),
        ("0.0.0.0", "open", "open"),  # set explicitly: respected
        ("127.0.0.1", "closed", "closed"),
    ],
)
def test_signup_auto_is_open_on_loopback_only(host, signup, policy):
    env = {"GETHOOK_SERVER_HOST": host, "GETHOOK_ACCOUNTS_SIGNUP": signup}
    assert load_settings(env=env).signup_policy == policy


def test_auto_closed_signup_refuses_accounts(tmp_path, clock):
    with app_client(tmp_path, clock, **{"server.host": "0.0.0.0"}) as client:
        refused = client.post("/v1/accounts", json={"name": "a"})
        assert refused.status_code == 403
        assert "closed" in refused.json()["error"]


def test_platform_stats_token(tmp_path, clock):
    with app_client(tmp_path, clock, **{"server.platform_stats_token": "stats-reader"}) as client:
        assert client.get("/v1/platform-stats").status_code == 401
        assert client.get("/v1/platform-stats", headers=bearer("wrong")).status_code == 401
        answer = client.get("/v1/platform-stats", headers={"Authorization": "Bearer stats-reader"})
        assert answer.status_code == 200
        assert "events_processed" in answer.json()["data"]
    off = {"server.platform_stats": False, "server.platform_stats_token": "x"}
    with app_client(tmp_path / "off", clock, **off) as client:
        assert client.get("/v1/platform-stats", headers=bearer("x")).status_code == 404
