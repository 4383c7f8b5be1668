"""A sink's response plan shared by two gateways on one PostgreSQL database (design §6.8): the
captures take consecutive plan positions whichever process answers them."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import ExitStack

import pytest
from litestar.testing import TestClient

from gethook_lite.app import Instance, create_app, serve_instance
from gethook_lite.clock import FakeClock
from gethook_lite.secrets_box import KEY_FILE
from tests.conftest import FAST_PASSWORDS, bearer, make_settings, new_account
from tests.support.api import make_source
from tests.support.dns import FakeResolver


@pytest.fixture
def gateways(pg_url, tmp_path) -> Iterator[tuple[TestClient, TestClient]]:
    """Two apps, each with its own Database (threads, connections, memory), on one database:
    two processes of a cluster as far as the plan is concerned."""
    with ExitStack() as stack:
        clients = []
        for name in ("a", "b"):
            # A data directory each (one process's lock), sharing the cluster's secret key.
            data_dir = tmp_path / name
            key_file = tmp_path / "a" / KEY_FILE
            if clients and key_file.exists():  # else the key is in the settings already
                data_dir.mkdir()
                shutil.copy(key_file, data_dir / KEY_FILE)
            settings = make_settings(
                tmp_path, **{"storage.url": pg_url, "storage.data_dir": str(data_dir)}
            )
            app = create_app(settings)
            instance = Instance(
                settings=settings,
                clock=FakeClock(),
                passwords=FAST_PASSWORDS,
                start_scheduler=False,
                txt_resolver=FakeResolver(),
            )
            serve_instance(app, instance)
            clients.append(stack.enter_context(TestClient(app)))
        yield clients[0], clients[1]


def test_two_gateways_answer_a_plan_in_turn(gateways):
    first, second = gateways
    _, key = new_account(first)
    auth = bearer(key)
    source = make_source(first, auth, sink=True)
    plan_path = f"/v1/sources/{source['id']}/response-plan"
    answer = first.put(plan_path, json={"statuses": [500, 502, 503, 201]}, headers=auth)
    assert answer.status_code == 200, answer.text
    ingest_path = f"/ingest/{source['path_token']}"

    statuses = [
        gateway.post(ingest_path, content=b"{}").status_code
        for gateway in (first, second, first, second, second)
    ]

    assert statuses == [500, 502, 503, 201, 201]
    for gateway in (first, second):
        shown = gateway.get(plan_path, headers=auth).json()["data"]
        assert shown["position"] == 5
    # A new plan starts again from its first status, on both.
    first.put(plan_path, json={"statuses": [429, 200]}, headers=auth)
    assert second.post(ingest_path, content=b"{}").status_code == 429
    assert first.post(ingest_path, content=b"{}").status_code == 200
