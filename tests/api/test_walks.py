"""Walks over every endpoint the app serves: viewer keys never write, and another account's
ids are 404 everywhere (in paths and inside bodies), never data."""

from __future__ import annotations

import re

import pytest

from tests.conftest import bearer, new_account
from tests.support.api import ingest, make_route, make_source

PUBLIC_WRITES = {"/v1/accounts", "/v1/auth/register", "/v1/auth/login"}
_PARAM = re.compile(r"\{(\w+)(?::\w+)?\}")


def api_routes(client) -> list[tuple[str, str]]:
    """(method, path template) of every /v1 endpoint."""
    found = []
    for route in client.app.routes:
        if not route.path_format.startswith("/v1/"):
            continue
        for handler in getattr(route, "route_handlers", []):
            for method in handler.http_methods - {"OPTIONS", "HEAD"}:
                found.append((method, route.path_format))
    return sorted(found)


def test_viewer_keys_cannot_write_anywhere(client, auth):
    viewer = client.post("/v1/api-keys", json={"name": "v", "role": "viewer"}, headers=auth)
    headers = bearer(viewer.json()["data"]["key"])
    writes = [(m, p) for m, p in api_routes(client) if m != "GET" and p not in PUBLIC_WRITES]
    assert len(writes) >= 15
    for method, template in writes:
        path = _PARAM.sub("x_unknown", template)
        answer = client.request(method, path, json={}, headers=headers)
        assert answer.status_code == 403, (method, template, answer.status_code, answer.text)
        assert set(answer.json()) == {"error"}


@pytest.fixture
def victim_ids(client, auth) -> dict[str, str]:
    """One of each resource in the victim's account, by the path parameter that names it."""
    source = make_source(client, auth)
    destination = make_route(client, auth, "http://127.0.0.1:9/x", source["id"])
    route_id = client.get("/v1/routes", headers=auth).json()["data"][0]["id"]
    event_id = ingest(client, source)["id"]
    outbound = client.post("/v1/outbound-events", json={"payload": "{}"}, headers=auth)
    export = client.post("/v1/exports", json={"format": "jsonl"}, headers=auth)
    domain = client.post("/v1/custom-domains", json={"domain": "hooks.victim.example"},
                         headers=auth)  # fmt: skip
    key_id = client.get("/v1/api-keys", headers=auth).json()["data"][0]["id"]
    portal = client.post(
        "/v1/portal-sessions", json={"destination_ids": [destination["id"]]}, headers=auth
    )
    bulk_retry = client.post(
        "/v1/bulk-retries", json={"filter": {"destination_id": destination["id"]}}, headers=auth
    )
    return {
        "bulk_retry_id": bulk_retry.json()["data"]["id"],
        "session_id": portal.json()["data"]["id"],
        "key_id": key_id,
        "source_id": source["id"],
        "destination_id": destination["id"],
        "route_id": route_id,
        "event_id": event_id,
        "outbound_event_id": outbound.json()["data"]["id"],
        "export_id": export.json()["data"]["id"],
        "domain_id": domain.json()["data"]["id"],
    }


def test_other_accounts_ids_are_404_on_every_endpoint(client, auth, victim_ids):
    _, attacker_key = new_account(client, "attacker")
    attacker = bearer(attacker_key)
    walked = 0
    for method, template in api_routes(client):
        names = _PARAM.findall(template)
        if not names:
            continue
        ids = dict(victim_ids)
        if template.startswith("/v1/outbound-events"):
            ids["event_id"] = victim_ids["outbound_event_id"]
        path = _PARAM.sub(lambda m, ids=ids: ids[m.group(1)], template)
        answer = client.request(method, path, json={}, headers=attacker)
        assert answer.status_code == 404, (method, template, answer.status_code, answer.text)
        assert set(answer.json()) == {"error"}
        walked += 1
    assert walked >= 15
    # Ids inside bodies.
    for path, body in [
        ("/v1/routes", {"destination_id": victim_ids["destination_id"]}),
        ("/v1/exports", {"format": "csv", "source_id": victim_ids["source_id"]}),
        ("/v1/portal-sessions", {"destination_ids": [victim_ids["destination_id"]]}),
        ("/v1/bulk-retries", {"filter": {"destination_id": victim_ids["destination_id"]}}),
        ("/v1/bulk-retries", {"filter": {"source_id": victim_ids["source_id"]}}),
    ]:
        answer = client.post(path, json=body, headers=attacker)
        assert answer.status_code == 404, (path, answer.text)
    own_destination = client.post(
        "/v1/destinations", json={"name": "d", "url": "http://127.0.0.1:9/y"}, headers=attacker
    ).json()["data"]
    cross = client.post(
        "/v1/routes",
        json={"destination_id": own_destination["id"], "source_id": victim_ids["source_id"]},
        headers=attacker,
    )
    assert cross.status_code == 404
    # And nothing of the victim's shows in the attacker's lists.
    for method, template in api_routes(client):
        # The event stream never ends: tests/e2e/test_event_stream.py checks its scoping.
        if method == "GET" and not _PARAM.search(template) and not template.endswith("/stream"):
            # The long poll answers at once with timeout=0 (else it waits 30 s for nothing).
            params = {"timeout": 0} if template.endswith("/events/wait") else None
            listed = client.get(template, params=params, headers=attacker).text
            assert not any(value in listed for value in victim_ids.values()), template


@pytest.mark.parametrize(
    "export_id", ["..%2F..%2Fsecret.key", "../gethook.db", "%2Fetc%2Fpasswd", "exp_%00"]
)
def test_export_download_paths_cannot_leave_the_data_dir(client, auth, export_id):
    answer = client.get(f"/v1/exports/{export_id}/download", headers=auth)
    # A NUL is no id on SQLite (404) and no text at all on PostgreSQL (400, said so).
    assert answer.status_code in ((400, 404) if "%00" in export_id else (404,))
    assert set(answer.json()) == {"error"}
