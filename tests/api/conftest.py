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
def _empty_database(backend: str) -> None:
    """Every [postgresql] test starts on an empty database, as every [sqlite] test on a new
    file."""
    if backend == "postgresql":
        postgres.clean_worker_database()
