"""Helpers for the in-process API tests: create resources, ingest, drive the scheduler."""

from __future__ import annotations

__all__ = ["drain", "event_detail", "ingest", "make_route", "make_source", "register_domain"]


def drain(client) -> int:
    """Run the scheduler until nothing is due now (per the fake clock)."""
    return client.blocking_portal.call(client.app.state.ctx.scheduler.drain)


def make_source(client, auth, **fields) -> dict:
    answer = client.post("/v1/sources", json={"name": "s", **fields}, headers=auth)
    assert answer.status_code == 201, answer.text
    return answer.json()["data"]


def make_route(client, auth, url: str, source_id: str | None = None, **route) -> dict:
    destination = client.post(
        "/v1/destinations", json={"name": "d", "url": url}, headers=auth
    ).json()["data"]
    created = client.post(
        "/v1/routes",
        json={"destination_id": destination["id"], "source_id": source_id, **route},
        headers=auth,
    )
    assert created.status_code == 201, created.text
    return destination


def ingest(client, source: dict, body=b"{}", headers=None) -> dict:
    answer = client.post(f"/ingest/{source['path_token']}", content=body, headers=headers or {})
    assert answer.status_code == 202, answer.text
    return answer.json()["data"]


def event_detail(client, auth, event_id: str) -> dict:
    answer = client.get(f"/v1/events/{event_id}", headers=auth)
    assert answer.status_code == 200, answer.text
    return answer.json()["data"]


def register_domain(client, auth, domain: str = "hooks.example.com", **body) -> dict:
    answer = client.post("/v1/custom-domains", json={"domain": domain, **body}, headers=auth)
    assert answer.status_code == 201, answer.text
    return answer.json()["data"]


def create_destination(client, auth, url: str = "http://127.0.0.1:9/x", **fields) -> dict:
    answer = client.post("/v1/destinations", json={"name": "d", "url": url, **fields}, headers=auth)
    assert answer.status_code == 201, answer.text
    return answer.json()["data"]


def create_route(
    client, auth, destination_id: str, source_id: str | None, retry_policy: dict, **fields
) -> dict:
    answer = client.post(
        "/v1/routes",
        json={
            "destination_id": destination_id,
            "source_id": source_id,
            "retry_policy": retry_policy,
            **fields,
        },
        headers=auth,
    )
    assert answer.status_code == 201, answer.text
    return answer.json()["data"]
