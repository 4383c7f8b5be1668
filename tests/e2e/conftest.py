"""End-to-end fixtures: a real server process and real local receivers.

The modules in POSTGRES_MODULES (the ones that exercise storage: ingest, delivery, replay,
retries, exports, stats, the event stream, the sink) run each test on both backends,
``[sqlite]`` and ``[postgresql]``; the others stay on SQLite (the time budget)."""

from __future__ import annotations

import pytest

from tests.conftest import POSTGRES_TEST_KEY
from tests.support import postgres
from tests.support.server import GethookServer

BACKENDS = ["sqlite", "postgresql"]
POSTGRES_MODULES = frozenset(
    {
        "test_bulk_retry_e2e",
        "test_delivery",
        "test_delivery_control_e2e",
        "test_event_stream",
        "test_exports_stats_e2e",
        "test_hostile_ingest",
        "test_replay_supersedes_e2e",
        "test_sink_e2e",
        "test_test_events_e2e",
    }
)


def pytest_generate_tests(metafunc) -> None:
    if metafunc.module.__name__.rpartition(".")[2] in POSTGRES_MODULES:
        metafunc.parametrize("backend", BACKENDS, indirect=True)


@pytest.fixture(autouse=True)
def backend(request, monkeypatch) -> str:
    """The test's storage. [postgresql]: this test process's database, emptied (a server
    restarted within the test finds its data again), given to every server and command the
    test starts through the environment (GETHOOK_STORAGE_URL), with one encryption key for
    all of them. Emptying it costs ~10 ms; a copy of the template 1-2 s on a busy machine."""
    name = getattr(request, "param", "sqlite")
    marker = request.node.get_closest_marker("sqlite_only")
    if name == "postgresql" and marker:
        pytest.skip(marker.args[0])
    if name == "postgresql":
        url = postgres.clean_worker_database(end_connections=True)
        monkeypatch.setenv("GETHOOK_STORAGE_URL", url)
        monkeypatch.setenv("GETHOOK_STORAGE_ENCRYPTION_KEY", POSTGRES_TEST_KEY)
    return name


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
