"""The in-process API tier runs every test on both backends: ``[sqlite]`` (a database file in
the test's data directory) and ``[postgresql]`` (this test process's PostgreSQL database,
emptied before each test: tests/support/postgres.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import storage_backend
from tests.support import postgres

BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(params=BACKENDS, autouse=True)
def backend(request) -> Iterator[str]:
    """The test's storage; ``make_settings`` (and so ``settings`` and ``client``) follows it."""
    if request.param == "sqlite":
        yield "sqlite"
        return
    with storage_backend(postgres.clean_worker_database()):
        yield "postgresql"
