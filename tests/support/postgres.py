"""PostgreSQL for the tests: which server, and a fresh migrated database per test.

The server is ``$GETHOOK_TEST_POSTGRES_URL`` (CI sets it), else the local one at
127.0.0.1:5432 if it answers. Without a server the PostgreSQL tests skip, unless
``GETHOOK_REQUIRE_POSTGRES=1`` (CI): then they fail, so that a CI run that could not reach
PostgreSQL is red instead of quietly SQLite-only.

A fresh database is a copy of a template migrated once per test process
(``CREATE DATABASE ... TEMPLATE``): every test starts from the schema alone.
"""

from __future__ import annotations

import functools
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

import pytest

SERVER_URL_ENV = "GETHOOK_TEST_POSTGRES_URL"
REQUIRE_ENV = "GETHOOK_REQUIRE_POSTGRES"
LOCAL_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
# Every database the tests create starts with this; a crashed run's leftovers are recognisable.
PREFIX = "gethook_test_"


@functools.cache
def server_url() -> str | None:
    """The maintenance URL of the PostgreSQL server the tests may use, or None."""
    import psycopg

    url = os.environ.get(SERVER_URL_ENV) or LOCAL_SERVER
    try:
        psycopg.connect(url, connect_timeout=3).close()
    except psycopg.Error as exc:
        if os.environ.get(REQUIRE_ENV) == "1":
            raise RuntimeError(f"PostgreSQL is required ({REQUIRE_ENV}=1): {url}: {exc}") from exc
        return None
    return url


def require_server() -> str:
    """The server URL, or skip the calling test (fail under GETHOOK_REQUIRE_POSTGRES=1)."""
    url = server_url()
    if url is None:
        pytest.skip(f"no PostgreSQL server (set {SERVER_URL_ENV})")
    return url


def database_url(server: str, name: str) -> str:
    """``server``'s URL (postgresql://...) with its database name replaced by ``name``."""
    parts = urlsplit(server)
    return urlunsplit(parts._replace(path=f"/{name}"))


def _admin(server: str):
    import psycopg

    return psycopg.connect(server, autocommit=True)


@functools.cache
def _template(server: str) -> str:
    """A database migrated to the newest schema, created once per test process."""
    from gethook_lite.db.database import apply_postgres_migrations
    from gethook_lite.db.postgres import connect_postgres

    name = f"{PREFIX}template_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    with _admin(server) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    conn = connect_postgres(database_url(server, name))
    try:
        apply_postgres_migrations(conn)
    finally:
        conn.close()
    return name


def create_database(server: str, *, migrated: bool = True) -> str:
    """A new database (a copy of the migrated template, or empty); its name."""
    name = f"{PREFIX}{os.getpid()}_{uuid.uuid4().hex[:12]}"
    template = f' TEMPLATE "{_template(server)}"' if migrated else ""
    with _admin(server) as admin:
        admin.execute(f'CREATE DATABASE "{name}"{template}')
    return name


def drop_database(server: str, name: str) -> None:
    with _admin(server) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def fresh_database(*, migrated: bool = True) -> Iterator[str]:
    """The URL of a new database for one test, dropped afterwards."""
    server = require_server()
    name = create_database(server, migrated=migrated)
    try:
        yield database_url(server, name)
    finally:
        drop_database(server, name)


def drop_templates() -> None:
    """Drop this process's template (at the end of the session)."""
    server = server_url()
    if server is None or _template.cache_info().currsize == 0:
        return
    drop_database(server, _template(server))
