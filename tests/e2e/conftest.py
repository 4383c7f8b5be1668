"""End-to-end fixtures: a real server process and real local receivers."""

from __future__ import annotations

import pytest

from tests.support.server import GethookServer


@pytest.fixture
def server(tmp_path):
    running = GethookServer(tmp_path / "data").start()
    yield running
    running.stop()


@pytest.fixture
def account_key(server) -> str:
    with server.client() as client:
        answer = client.post("/v1/accounts", json={"name": "e2e"})
        assert answer.status_code == 201, answer.text
        return answer.json()["data"]["api_key"]["key"]
