"""The in-process API tier runs every test on both backends: ``[sqlite]`` (a database file in
the test's data directory) and ``[postgresql]`` (this test process's PostgreSQL database,
emptied before each test: tests/support/postgres.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import storage_backend
from tests.support import postgres

BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(scope="module", params=BACKENDS, autouse=True)
def backend(request) -> Iterator[str]:
    """The storage of the module's tests (each module runs on one backend, then the other);
    ``make_settings`` (and so ``settings`` and ``client``) follows it. Module-scoped so that a
    module's shared app (a module-scoped fixture) can be built on it too."""
    if request.param == "sqlite":
        yield "sqlite"
        return
    with storage_backend(postgres.clean_worker_database()):
        yield "postgresql"


@pytest.fixture(autouse=True)
def _empty_database(request, backend: str, monkeypatch) -> None:
    """Every [postgresql] test starts on an empty database, as every [sqlite] test on a new
    file."""
    if backend != "postgresql":
        return
    if request.node.get_closest_marker("sqlite_only"):
        pytest.skip(request.node.get_closest_marker("sqlite_only").args[0])
    postgres.clean_worker_database()
    # A FIFO head waits FIFO_SETTLE_SECONDS on PostgreSQL (ids carry each machine's clock);
    # the order tests run on a fake clock that does not move by itself. The settling itself
    # is tested in tests/unit/db/test_claim_on_postgres.py.
    monkeypatch.setattr("gethook_lite.db.pacing.FIFO_SETTLE_SECONDS", 0.0)
