"""Fixtures for the in-process API tests: the real app, a real database, a fake clock."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from gethook_lite.app import Instance, create_app, serve_instance
from gethook_lite.clock import FakeClock
from gethook_lite.config import Settings, load_settings
from gethook_lite.secrets_box import PasswordHashing
from tests.support import postgres
from tests.support.dns import FakeResolver

# Argon2 at its cheapest: the suite hashes many passwords and tests behaviour, not cost.
FAST_PASSWORDS = PasswordHashing(time_cost=1, memory_cost_kib=64)


# One key for every app on a PostgreSQL test database: the apps of one test (each with its
# own data directory) share the database, as the processes of a cluster share their key.
POSTGRES_TEST_KEY = "4a9Yp8kHOUywfKw2U9PJPeeYIkqQ_T8MwQqYgN4q-rs="


class _Backend:
    """The storage of the running test (tests/api/conftest.py ``backend``): an empty URL is
    SQLite in the data directory. ``make_settings`` reads it, so that tests building their
    own settings (``make_settings(tmp_path, ...)``) run on the test's backend too."""

    storage_url = ""


@contextmanager
def storage_backend(url: str) -> Iterator[None]:
    """``make_settings`` puts the app on ``url`` while this lasts."""
    _Backend.storage_url = url
    try:
        yield
    finally:
        _Backend.storage_url = ""


def make_settings(tmp_path, **overrides) -> Settings:
    # Suites create many accounts from one client address: the sign-up throttle is tested on
    # its own (tests/api/test_open_internet.py), not in every test that needs an account.
    values = {
        "storage.data_dir": str(tmp_path / "data"),
        "accounts.signups_per_client": 0,
        **_backend_settings(),
        **overrides,
    }
    return load_settings(env={}, overrides=values)


def _backend_settings() -> dict[str, str]:
    if not _Backend.storage_url:
        return {}
    return {"storage.url": _Backend.storage_url, "storage.encryption_key": POSTGRES_TEST_KEY}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def settings(tmp_path) -> Settings:
    return make_settings(tmp_path)


# Built apps by what their route table depends on: building one is most of a test's set-up
# (app.serve_instance says why), so the tests reuse them, each with its own instance.
_BUILT_APPS: dict[tuple[int, bool], Litestar] = {}


@pytest.fixture
def client(settings, clock) -> Iterator[TestClient]:
    # In-process tests never ask real DNS: custom-domain tests tell the fake what to answer.
    instance = Instance(
        settings=settings,
        clock=clock,
        passwords=FAST_PASSWORDS,
        start_scheduler=False,
        txt_resolver=FakeResolver(),
    )
    key = (settings.server.max_body_bytes, settings.server.access_log)
    app = _BUILT_APPS.get(key)
    if app is None:
        app = _BUILT_APPS[key] = create_app(settings)
    serve_instance(app, instance)
    with TestClient(app) as test_client:
        yield test_client


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def new_account(client: TestClient, name: str = "acme") -> tuple[str, str]:
    """Create an account through the API; return (account id, admin key)."""
    answer = client.post("/v1/accounts", json={"name": name})
    assert answer.status_code == 201, answer.text
    body = answer.json()["data"]
    return body["account"]["id"], body["api_key"]["key"]


@pytest.fixture
def account(client) -> tuple[str, str]:
    return new_account(client)


@pytest.fixture
def auth(account) -> dict[str, str]:
    return bearer(account[1])


@pytest.fixture
def pg_url() -> Iterator[str]:
    """The URL of a new PostgreSQL database holding the newest schema, dropped afterwards
    (skips without a server, fails under GETHOOK_REQUIRE_POSTGRES=1)."""
    with postgres.fresh_database() as url:
        yield url


@pytest.fixture
def pg_conn(pg_url):
    """A connection (``db.postgres.PgConnection``) to a fresh migrated database."""
    from gethook_lite.db.postgres import connect_postgres

    conn = connect_postgres(pg_url)
    yield conn
    conn.close()


def pytest_collection_modifyitems(config, items) -> None:
    """Mark the [postgresql] variants listed in tests/postgres_expected_failures.txt xfail
    (not strict: a fix makes them pass, and the list is regenerated)."""
    expected = postgres.read_expected_failures()
    if not expected:
        return
    mark = pytest.mark.xfail(strict=False, reason="PostgreSQL: not yet")
    for item in items:
        if item.nodeid in expected:
            item.add_marker(mark)


def pytest_sessionfinish(session, exitstatus) -> None:
    postgres.end_session()
