"""Routing work is bounded: pattern length, routes per source and per account (issue 20)."""

from __future__ import annotations

import time

import pytest
from litestar.testing import TestClient

from gethook_lite.app import create_app
from tests.conftest import FAST_PASSWORDS, bearer, make_settings, new_account


@pytest.fixture
def settings(tmp_path):
    return make_settings(
        tmp_path,
        **{
            "routes.max_pattern_length": 20,
            "routes.max_per_source": 2,
            "routes.max_per_account": 3,
        },
    )


def post(client, auth, path: str, body: dict) -> dict:
    answer = client.post(path, json=body, headers=auth)
    assert answer.status_code == 201, answer.text
    return answer.json()["data"]


def destination(client, auth) -> str:
    body = {"name": "out", "url": "http://127.0.0.1:9/hook"}
    return post(client, auth, "/v1/destinations", body)["id"]


def route(client, auth, **body):
    return client.post("/v1/routes", json=body, headers=auth)


def test_pattern_longer_than_the_setting_is_400_naming_the_limit(client, auth):
    dest = destination(client, auth)
    answer = route(client, auth, destination_id=dest, event_type_pattern="x" * 21)
    assert answer.status_code == 400
    assert answer.json() == {"error": "event_type_pattern: must be at most 20 characters"}
    assert route(client, auth, destination_id=dest, event_type_pattern="x" * 20).status_code == 201


def test_routes_per_source_and_per_account_are_capped_with_409(client, auth):
    dest = destination(client, auth)
    source = post(client, auth, "/v1/sources", {"name": "in"})["id"]
    for _ in range(2):
        assert route(client, auth, destination_id=dest, source_id=source).status_code == 201
    third = route(client, auth, destination_id=dest, source_id=source)
    assert third.status_code == 409
    assert "routes.max_per_source" in third.json()["error"]
    # Outbound routes (no source) count as one more "source"; the account cap still applies.
    assert route(client, auth, destination_id=dest).status_code == 201
    fourth = route(client, auth, destination_id=dest)
    assert fourth.status_code == 409
    assert "routes.max_per_account" in fourth.json()["error"]
    # Deleting one makes room again; another account has its own budget.
    first = client.get("/v1/routes", headers=auth).json()["data"][0]["id"]
    assert client.delete(f"/v1/routes/{first}", headers=auth).status_code == 204
    assert route(client, auth, destination_id=dest, source_id=source).status_code == 201
    other = bearer(new_account(client, "other")[1])
    assert route(client, other, destination_id=destination(client, other)).status_code == 201


def test_hostile_patterns_on_a_full_source_do_not_stall_ingest(tmp_path, clock):
    """The issue's attack: many routes of '*' and sixty '?a' before a literal that never comes,
    against a 255-character type. Before: ~2.4 ms of event-loop time per route (these 200:
    0.9 s per ingest on a busy machine); now ~0.02 s, and a table this large runs in a thread."""
    routes = 200  # the default cap is 100; raised so the cost before the fix is unmistakable
    limits = {"routes.max_per_source": routes, "routes.max_per_account": routes}
    settings = make_settings(tmp_path, **limits)
    app = create_app(settings, clock=clock, passwords=FAST_PASSWORDS, start_scheduler=False)
    with TestClient(app) as client:
        auth = bearer(new_account(client)[1])
        source = post(client, auth, "/v1/sources", {"name": "in"})
        dest = destination(client, auth)
        other = destination(client, auth)
        for n in range(routes - 1):
            pattern = "*" + "?a" * 60 + f"b{n}*"
            assert (
                route(
                    client,
                    auth,
                    destination_id=dest,
                    source_id=source["id"],
                    event_type_pattern=pattern,
                ).status_code
                == 201
            )
        # One route that does match, to another destination: the result is still right.
        assert (
            route(
                client, auth, destination_id=other, source_id=source["id"], event_type_pattern="a*"
            ).status_code
            == 201
        )
        url = f"/ingest/{source['path_token']}"
        body = {"type": "a" * 255}
        started = time.perf_counter()
        for _ in range(5):
            answer = client.post(url, json=body)
            assert answer.status_code == 202, answer.text
        elapsed = (time.perf_counter() - started) / 5
        event_id = answer.json()["data"]["id"]

        def destinations_of(conn):
            query = "SELECT destination_id FROM deliveries WHERE event_id = ?"
            return [row[0] for row in conn.execute(query, (event_id,))]

        ctx = client.app.state.ctx
        assert client.blocking_portal.call(ctx.db.read, destinations_of) == [other]
        assert elapsed < 0.25, elapsed
