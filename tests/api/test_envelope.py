"""Every answer is enveloped: {"data": ...} on success, {"error": "..."} on every failure."""

from __future__ import annotations

import pytest


def test_health_and_ready(client):
    assert client.get("/healthz").json() == {"data": {"status": "ok"}}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["data"]["status"] == "ready"


def test_unknown_route_is_enveloped_404(client):
    answer = client.get("/v1/nothing-here")
    assert answer.status_code == 404
    assert answer.json() == {"error": "no such endpoint"}


def test_wrong_method_is_enveloped_405(client):
    answer = client.put("/healthz")
    assert answer.status_code == 405
    assert set(answer.json()) == {"error"}


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"name": 5}', "name: expected str, got int"),
        (b"{}", "name: is required"),
        (b'{"nam', "request body is not valid JSON"),
        (b"[1, 2]", "request body: expected object, got array"),
        (b"", "name: is required"),
    ],
)
def test_validation_errors_name_the_field(client, body, expected):
    answer = client.post("/v1/accounts", content=body, headers={"Content-Type": "application/json"})
    assert answer.status_code == 400
    assert answer.json()["error"].startswith(expected)


def test_unknown_fields_are_ignored(client):
    answer = client.post("/v1/accounts", json={"name": "acme", "colour": "blue"})
    assert answer.status_code == 201


def test_oversized_body_is_413(client):
    answer = client.post(
        "/v1/accounts", content=b"x" * 2_000_000, headers={"Content-Type": "application/json"}
    )
    assert answer.status_code == 413
    assert set(answer.json()) == {"error"}


def test_readyz_is_503_when_database_is_closed(client):
    ctx = client.app.state.ctx
    client.blocking_portal.call(ctx.db.close)
    try:
        answer = client.get("/readyz")
        assert answer.status_code == 503
        assert "database" in answer.json()["error"]
    finally:
        # Reopen so the lifespan's own close has something to close.
        client.blocking_portal.call(ctx.db.open)
