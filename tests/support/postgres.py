"""PostgreSQL for the tests: which server, a worker database reset between tests, and fresh
databases for tests that need one of their own.

The server, in order (docs/design/postgresql.md §7):

1. ``$GETHOOK_TEST_POSTGRES_URL`` (CI sets it);
2. else the local one (``$GETHOOK_TEST_POSTGRES_LOCAL_URL``, default 127.0.0.1:5432) if it
   answers;
3. else, when PostgreSQL's binaries are installed (``/usr/lib/postgresql/*/bin/initdb``), a
   throwaway cluster this process starts in a temporary directory (no fsync: its data dies
   with the session) and stops and removes at the end of the session;
4. else none: the PostgreSQL tests skip, unless ``GETHOOK_REQUIRE_POSTGRES=1`` (CI): then
   they fail, so that a CI run that could not use PostgreSQL is red instead of quietly
   SQLite-only.

Databases: a template migrated once per test process; ``fresh_database()`` copies it
(``CREATE DATABASE ... TEMPLATE``, 0.3-1 s); ``clean_worker_database()`` hands out one
database per test process, emptied between tests by one round trip that puts back the rows
the migrations insert (~11 ms: the in-process API tier runs ~700 tests on it). Every name
starts ``gethook_test_<pid>_``; the databases of a process that died without cleaning up are
dropped by the next session on the same machine.

``python -m tests.support.postgres expected-failures`` reads a pytest report (``-rfE``) on
stdin and writes tests/postgres_expected_failures.txt's content (see that file's header).
"""

from __future__ import annotations

import functools
import glob
import itertools
import os
import re
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

SERVER_URL_ENV = "GETHOOK_TEST_POSTGRES_URL"
LOCAL_URL_ENV = "GETHOOK_TEST_POSTGRES_LOCAL_URL"
REQUIRE_ENV = "GETHOOK_REQUIRE_POSTGRES"
LOCAL_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
# Every database the tests create starts with this and the creating process's id.
PREFIX = "gethook_test_"
# (Earlier runs named templates gethook_test_template_<pid>_...: recognised too.)
_OURS = re.compile(rf"^{PREFIX}(?:template_)?(\d+)_")
# Ids compare byte by byte on both backends (the migration runner checks the collation).
_C_LOCALE = "ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0"
# Rows the migrations insert; kept by a reset. Its own bookkeeping is never truncated.
_KEPT_TABLE = "schema_migrations"


# -- which server ------------------------------------------------------------------------------


@functools.cache
def server_url() -> str | None:
    """The maintenance URL of the PostgreSQL server the tests may use, or None."""
    configured = os.environ.get(SERVER_URL_ENV)
    if configured:
        error = _unreachable(configured)
        if error is not None:
            return _unavailable(f"{configured}: {error}")
        _drop_leftovers(configured)
        return configured
    local = os.environ.get(LOCAL_URL_ENV) or LOCAL_SERVER
    local_error = _unreachable(local)
    if local_error is None:
        _drop_leftovers(local)
        return local
    bin_dir = _installed_bin_dir()
    if bin_dir is None:
        return _unavailable(f"{local}: {local_error}; no initdb in /usr/lib/postgresql/*/bin")
    try:
        return _CLUSTER.start(bin_dir)
    except (OSError, subprocess.SubprocessError) as exc:
        output = (getattr(exc, "stderr", None) or b"").decode(errors="replace")
        return _unavailable(f"a throwaway cluster ({bin_dir}) did not start: {exc} {output}")


def _unreachable(url: str) -> str | None:
    """Why ``url`` cannot be used (None when a connection succeeds)."""
    import psycopg

    try:
        psycopg.connect(url, connect_timeout=3).close()
    except psycopg.Error as exc:
        return str(exc).strip()
    return None


def _unavailable(why: str) -> None:
    if os.environ.get(REQUIRE_ENV) == "1":
        raise RuntimeError(f"PostgreSQL is required ({REQUIRE_ENV}=1): {why}")
    return None


def require_server() -> str:
    """The server URL, or skip the calling test (fail under GETHOOK_REQUIRE_POSTGRES=1)."""
    url = server_url()
    if url is None:
        pytest.skip(f"no PostgreSQL server (set {SERVER_URL_ENV})")
    return url


def _installed_bin_dir() -> Path | None:
    """The newest installed PostgreSQL's bin directory (Debian's layout), if any."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=_major_version)
    return Path(found[-1]).parent if found else None


def _major_version(initdb: str) -> int:
    version = Path(initdb).parent.parent.name
    return int(version) if version.isdigit() else 0


class ThrowawayCluster:
    """A PostgreSQL cluster in a temporary directory for one test session: trust auth, user
    postgres, 127.0.0.1 on a free port, no fsync. As root, run as the postgres user (the
    server refuses to run as root) on a directory chowned to it."""

    def __init__(self) -> None:
        self.root: Path | None = None
        self.bin_dir: Path | None = None

    @property
    def data_dir(self) -> Path:
        assert self.root is not None
        return self.root / "data"

    def start(self, bin_dir: Path) -> str:
        from tests.support.server import free_port

        self.bin_dir = bin_dir
        self.root = Path(tempfile.mkdtemp(prefix="gethook-pg-"))
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
        port = free_port()
        options = (
            f"-p {port} -k {self.root} -c listen_addresses=127.0.0.1"
            " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        try:
            self._run("initdb", "--no-sync", "-A", "trust", "-U", "postgres", "--no-locale",
                      "-E", "UTF8", "-D", str(self.data_dir))  # fmt: skip
            self._run("pg_ctl", "start", "-w", "-D", str(self.data_dir),
                      "-l", str(self.root / "server.log"), "-o", options)  # fmt: skip
        except BaseException:
            self.stop()
            raise
        return f"postgresql://postgres@127.0.0.1:{port}/postgres"

    def stop(self) -> None:
        """Stop the server (if it runs) and remove the directory."""
        if self.root is None:
            return
        if (self.data_dir / "postmaster.pid").exists():
            self._run("pg_ctl", "stop", "-m", "fast", "-w", "-D", str(self.data_dir))
        shutil.rmtree(self.root, ignore_errors=True)
        self.root = None

    def _run(self, program: str, *args: str) -> None:
        assert self.bin_dir is not None
        as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run(
            [*as_postgres, str(self.bin_dir / program), *args],
            check=True,
            capture_output=True,
            timeout=60,
        )


_CLUSTER = ThrowawayCluster()


# -- databases ---------------------------------------------------------------------------------


def database_url(server: str, name: str) -> str:
    """``server``'s URL (postgresql://...) with its database name replaced by ``name``."""
    parts = urlsplit(server)
    return urlunsplit(parts._replace(path=f"/{name}"))


def _admin(server: str):
    import psycopg

    return psycopg.connect(server, autocommit=True)


def _new_name(kind: str = "") -> str:
    return f"{PREFIX}{os.getpid()}_{kind}{uuid.uuid4().hex[:12]}"


@functools.cache
def _template(server: str) -> str:
    """A database migrated to the newest schema, created once per test process."""
    from gethook_lite.db.database import apply_postgres_migrations
    from gethook_lite.db.postgres import connect_postgres

    name = _new_name("template_")
    with _admin(server) as admin:
        admin.execute(f'CREATE DATABASE "{name}" {_C_LOCALE}')
    conn = connect_postgres(database_url(server, name))
    try:
        apply_postgres_migrations(conn)
    finally:
        conn.close()
    return name


def create_database(server: str, *, migrated: bool = True) -> str:
    """A new database (a copy of the migrated template, or empty); its name."""
    name = _new_name()
    template = f'TEMPLATE "{_template(server)}"' if migrated else _C_LOCALE
    with _admin(server) as admin:
        admin.execute(f'CREATE DATABASE "{name}" {template}')
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


def clean_worker_database(*, end_connections: bool = False) -> str:
    """The URL of this process's test database, emptied back to the newest schema and the
    rows its migrations insert (skips or fails as ``require_server``).

    ``end_connections``: first close every other connection to it (end-to-end tests: a
    server process a failed test left running must not write into the next test)."""
    resetter = _worker_resetter(require_server())
    if end_connections:
        resetter.end_connections()
    resetter.reset()
    return resetter.url


class _Resetter:
    """Empties one database with one statement built once from its freshly migrated state:
    every table but schema_migrations emptied, identities restarted, and the rows the
    migrations put there (counters) inserted again.

    DELETE with triggers and foreign keys off (``session_replication_role = replica``, a
    superuser's setting: the test servers' user is postgres) rather than TRUNCATE: on a
    server with fsync on, TRUNCATE of the ~25 tables took 0.7-1.3 s (new files for every
    table and index), the DELETEs ~11 ms. Without the privilege: TRUNCATE.
    """

    def __init__(self, url: str) -> None:
        import psycopg

        self.url = url
        self.conn = _admin(url)
        # A connection a previous test left inside a transaction would make a reset wait.
        self.conn.execute("SET lock_timeout = '5s'")
        tables = _tables(self.conn)
        seeds = _seed_rows(self.conn, tables)
        try:
            self.conn.execute("SET session_replication_role = replica")
            self.conn.execute("SET session_replication_role = DEFAULT")
            self.sql = _delete_sql(self.conn, tables, seeds)
        except psycopg.errors.InsufficientPrivilege:
            self.sql = _truncate_sql(self.conn, tables, seeds)

    def reset(self) -> None:
        import psycopg

        try:
            self.conn.execute(self.sql)
        except psycopg.errors.LockNotAvailable:
            self.end_connections()
            self.conn.execute(self.sql)

    def end_connections(self) -> None:
        self.conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )


def _tables(conn: Any) -> list[str]:
    rows = conn.execute(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> %s"
        " ORDER BY tablename",
        (_KEPT_TABLE,),
    )
    return [row[0] for row in rows]


def _seed_rows(conn: Any, tables: list[str]) -> list[Any]:
    """INSERT statements for the rows the tables hold now (right after the migrations)."""
    from psycopg import sql

    statements = []
    for table in tables:
        rows = conn.execute(sql.SQL("SELECT * FROM {}").format(sql.Identifier(table))).fetchall()
        statements.extend(
            sql.SQL("INSERT INTO {} VALUES ({})").format(
                sql.Identifier(table), sql.SQL(", ").join(map(sql.Literal, row))
            )
            for row in rows
        )
    return statements


def _delete_sql(conn: Any, tables: list[str], seeds: list[Any]) -> str:
    from psycopg import sql

    sequences = [
        row[0]
        for row in conn.execute(
            "SELECT format('%I.%I', schemaname, sequencename) FROM pg_sequences"
            " WHERE schemaname = 'public'"
        )
    ]
    statements = [
        sql.SQL("SET session_replication_role = replica"),
        *(sql.SQL("DELETE FROM {}").format(sql.Identifier(table)) for table in tables),
        *(sql.SQL("SELECT setval({}, 1, false)").format(sql.Literal(seq)) for seq in sequences),
        *seeds,
        sql.SQL("SET session_replication_role = DEFAULT"),
    ]
    return sql.SQL("; ").join(statements).as_string(conn)


def _truncate_sql(conn: Any, tables: list[str], seeds: list[Any]) -> str:
    from psycopg import sql

    truncate = sql.SQL("TRUNCATE {} RESTART IDENTITY CASCADE").format(
        sql.SQL(", ").join(map(sql.Identifier, tables))
    )
    return sql.SQL("; ").join([truncate, *seeds]).as_string(conn)


@functools.cache
def _worker_resetter(server: str) -> _Resetter:
    name = _new_name("worker_")
    with _admin(server) as admin:
        admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{_template(server)}"')
        # The API and e2e tiers commit thousands of times: not waiting for the disk at each
        # commit (this database only; the server's other databases keep their setting) takes
        # ~10 ms off every write here. Durability itself is tested on SQLite and in
        # tests/unit/db/test_database_pg.py, on fresh databases with the server's setting.
        admin.execute(f'ALTER DATABASE "{name}" SET synchronous_commit = off')
    return _Resetter(database_url(server, name))


def _drop_leftovers(server: str) -> None:
    """Drop test databases on a server of this machine whose creating process is gone (a run
    killed before its session end). Other live runs' databases are left alone."""
    host = urlsplit(server).hostname
    if host not in ("127.0.0.1", "localhost", "::1"):
        return
    with _admin(server) as admin:
        names = [row[0] for row in admin.execute("SELECT datname FROM pg_database")]
        for name in names:
            match = _OURS.match(name)
            if match and not _process_alive(int(match.group(1))):
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _process_alive(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists()


def end_session() -> None:
    """Drop this process's databases and stop a throwaway cluster (at the end of a session)."""
    if server_url.cache_info().currsize == 0:
        return
    server = server_url()
    if server is None:
        return
    if _CLUSTER.root is not None:
        _CLUSTER.stop()
        return
    if _worker_resetter.cache_info().currsize:
        resetter = _worker_resetter(server)
        resetter.conn.close()
        drop_database(server, urlsplit(resetter.url).path.lstrip("/"))
    if _template.cache_info().currsize:
        drop_database(server, _template(server))


def drop_templates() -> None:
    """Kept for callers of the earlier name: see ``end_session``."""
    end_session()


# -- the expected-failures list ----------------------------------------------------------------

EXPECTED_FAILURES = Path(__file__).parents[1] / "postgres_expected_failures.txt"
# "FAILED <node id>[ - <message>]": a parametrised id ends with "]" and may hold spaces.
_SUMMARY_LINE = re.compile(r"^(?:FAILED|ERROR) (.*?\])(?: - .*)?$")
_POSTGRES_ID = re.compile(r"[\[-]postgresql[-\]]")


def expected_failures(report: Iterator[str]) -> list[str]:
    """The [postgresql] node ids a pytest ``-rfE`` report lists as failed or in error."""
    ids = {match.group(1) for line in report if (match := _SUMMARY_LINE.match(line.rstrip()))}
    return sorted(node_id for node_id in ids if _POSTGRES_ID.search(node_id))


def _write_expected_failures() -> None:
    """Print the list's header comment (kept from the current file) and the ids."""
    lines = EXPECTED_FAILURES.read_text().splitlines()
    header = list(itertools.takewhile(lambda line: line.startswith("#"), lines))
    ids = expected_failures(iter(sys.stdin))
    sys.stdout.write("\n".join([*header, *ids]) + "\n")


def read_expected_failures() -> set[str]:
    """The node ids listed in tests/postgres_expected_failures.txt (comments skipped)."""
    if not EXPECTED_FAILURES.exists():
        return set()
    lines = (line.split("#", 1)[0].strip() for line in EXPECTED_FAILURES.read_text().splitlines())
    return {line for line in lines if line}


if __name__ == "__main__":
    if sys.argv[1:] != ["expected-failures"]:
        sys.exit("usage: python -m tests.support.postgres expected-failures < pytest-report")
    _write_expected_failures()
