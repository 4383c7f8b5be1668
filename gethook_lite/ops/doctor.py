"""``gethook doctor``: what an operator should change before (and while) serving the public.

Each check reads the settings and the data directory, never changes them, and gives one
Finding: a severity, the check's name, and what was found with what to change. The server
may be running: the database is opened read only.
"""

from __future__ import annotations

import shutil
import sqlite3
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import click

from gethook_lite.config import Settings, is_loopback_host
from gethook_lite.constants import (
    DOCTOR_FULL_DISK_BYTES,
    DOCTOR_LARGE_WAL_BYTES,
    DOCTOR_LOW_DISK_BYTES,
    DOCTOR_OLD_BACKUP_SECONDS,
    SQLITE_BUSY_TIMEOUT_MS,
)
from gethook_lite.data_dir import DATABASE_FILE
from gethook_lite.db.connection import POSTGRESQL, Connection, connect_sqlite
from gethook_lite.db.database import (
    SchemaTooNew,
    StorageError,
    known_migrations,
    pending_migrations,
)
from gethook_lite.db.database import _require_byte_order as require_byte_order
from gethook_lite.db.instance_meta import key_sample
from gethook_lite.db.postgres import connect_postgres, redact_url
from gethook_lite.ops.backup import list_backups
from gethook_lite.ops.schema import migration_plan
from gethook_lite.secrets_box import EncryptionKeyError, SecretBox, load_or_create_key

__all__ = ["ERROR", "OK", "WARNING", "Finding", "add_doctor_command", "diagnose"]

OK, WARNING, ERROR = "ok", "warning", "error"

_MIB = 1024 * 1024
_HOUR = 3600.0
# PostgreSQL (storage.url): the oldest server supported, as server_version_num.
_PG_MIN_VERSION_NUM = 130000
_PG_CONNECT_TIMEOUT_SECONDS = 5
# One gethook process holds a writer, its readers (Database's 2) and one listener.
_PG_CONNECTIONS_PER_PROCESS = 1 + 2 + 1
# A cluster is at least two processes (one can be restarted while the other serves).
_PG_MIN_CLUSTER_PROCESSES = 2
# Past this, leases and retry times written by one machine are misread by another.
_PG_MAX_CLOCK_SKEW_SECONDS = 0.25


@dataclass(frozen=True, slots=True)
class Finding:
    severity: str  # OK, WARNING or ERROR
    check: str
    message: str  # what was found and, unless OK, what to change

    def line(self) -> str:
        return f"{self.severity.upper():<7} {self.check:<10} {self.message}"


def diagnose(
    settings: Settings, now: float, *, clock: Callable[[], float] = time.time
) -> list[Finding]:
    """Every check, in the order an operator reads them: exposure first, then the data.

    ``clock`` is this machine's wall clock, compared with the PostgreSQL server's."""
    public = _public(settings)
    findings = [
        _signup(settings, public),
        _tls(settings, public),
        _metrics(settings, public),
        _platform_stats(settings, public),
    ]
    if settings.storage.url:
        return findings + _postgres(settings, clock)
    database = settings.data_dir / DATABASE_FILE
    findings += [
        _schema(database),
        _with_database(database, lambda conn: _encryption_key(settings, conn)),
        _disk(settings.data_dir),
        _wal(database),
        _backups(settings, database, now),
    ]
    return findings


def _postgres(settings: Settings, clock: Callable[[], float]) -> list[Finding]:
    """The database checks on PostgreSQL (storage.url): one connection, read only."""
    url = settings.storage.url
    try:
        conn = connect_postgres(
            url,
            application_name="gethook doctor",
            connect_timeout=_PG_CONNECT_TIMEOUT_SECONDS,
            options="-c default_transaction_read_only=on",
        )
    except Exception as exc:  # psycopg's errors, or psycopg not installed
        reason = " ".join(line.strip() for line in str(exc).splitlines() if line.strip())
        findings = [Finding(ERROR, "postgres", f"cannot connect to {redact_url(url)}: {reason}")]
    else:
        try:
            checks: list[tuple[str, Callable[[], Finding]]] = [
                ("postgres", lambda: _pg_version(conn, url)),
                ("collation", lambda: _pg_collation(conn)),
                ("schema", lambda: _pg_schema(conn)),
                ("key", lambda: _pg_key(settings, conn)),
                ("clock", lambda: _pg_clock(conn, clock)),
                ("conns", lambda: _pg_connections(conn)),
            ]
            findings = [_pg_check(name, check) for name, check in checks]
        finally:
            conn.close()
    return findings + _skipped_on_postgres(settings)


def _pg_check(name: str, check: Callable[[], Finding]) -> Finding:
    import psycopg

    try:
        return check()
    except psycopg.Error as exc:  # a permission, a dropped connection: one line, go on
        return Finding(ERROR, name, f"cannot check: {str(exc).strip().splitlines()[0]}")


def _pg_key(settings: Settings, conn: Connection) -> Finding:
    if not _pg_has_schema(conn):
        return Finding(OK, "key", "no schema yet: nothing is encrypted")
    return _encryption_key(settings, conn)


def _pg_has_schema(conn: Connection) -> bool:
    found = conn.execute("SELECT to_regclass('instance_meta') IS NOT NULL").fetchone()
    return bool(found[0])


def _pg_version(conn: Connection, url: str) -> Finding:
    number = int(conn.execute("SHOW server_version_num").fetchone()[0])
    version = conn.execute("SHOW server_version").fetchone()[0].split()[0]
    if number < _PG_MIN_VERSION_NUM:
        return Finding(
            ERROR,
            "postgres",
            f"{redact_url(url)} runs PostgreSQL {version}; GetHook Lite needs 13 or newer",
        )
    return Finding(OK, "postgres", f"connected to {redact_url(url)} (PostgreSQL {version})")


def _pg_collation(conn: Connection) -> Finding:
    try:
        require_byte_order(conn)
    except StorageError as exc:
        return Finding(ERROR, "collation", str(exc))
    return Finding(OK, "collation", "ids sort byte by byte (C collation), as on SQLite")


def _pg_schema(conn: Connection) -> Finding:
    try:
        pending = pending_migrations(conn)
    except SchemaTooNew as exc:
        return Finding(ERROR, "schema", str(exc))
    newest = max(known_migrations(POSTGRESQL))
    if len(pending) == len(known_migrations(POSTGRESQL)):
        return Finding(OK, "schema", "empty database: the first start creates the schema")
    if pending:
        return Finding(
            WARNING,
            "schema",
            f"{len(pending)} migration(s) will run at the next start; back the database up"
            " first (gethook backup, or pg_dump -Fc)",
        )
    return Finding(OK, "schema", f"up to date (schema {newest})")


def _pg_clock(conn: Connection, clock: Callable[[], float]) -> Finding:
    # Lease expiry and retry times are written by every process from its own clock and
    # compared by the others: clocks that disagree hand work out early or late.
    before = clock()
    server = float(conn.execute("SELECT extract(epoch FROM clock_timestamp())").fetchone()[0])
    after = clock()
    skew = server - (before + after) / 2
    side = "behind" if skew > 0 else "ahead of"
    found = f"this machine's clock is {abs(skew) * 1000:.0f} ms {side} the database server's"
    if abs(skew) > _PG_MAX_CLOCK_SKEW_SECONDS:
        return Finding(
            WARNING,
            "clock",
            f"{found}: leases and retries are timed across processes; run NTP (chrony,"
            " systemd-timesyncd) on every machine",
        )
    return Finding(OK, "clock", found)


def _pg_connections(conn: Connection) -> Finding:
    limit = int(conn.execute("SHOW max_connections").fetchone()[0])
    reserved = int(conn.execute("SHOW superuser_reserved_connections").fetchone()[0])
    others = conn.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'"
        " AND application_name NOT LIKE 'gethook%'"
    ).fetchone()[0]
    room = max(0, limit - reserved - int(others))
    processes = room // _PG_CONNECTIONS_PER_PROCESS
    found = (
        f"max_connections {limit}: {room} free for gethook, room for {processes} process(es)"
        f" of {_PG_CONNECTIONS_PER_PROCESS} connections"
    )
    if processes < _PG_MIN_CLUSTER_PROCESSES:
        return Finding(
            WARNING,
            "conns",
            f"{found}: raise max_connections or put a pooler (PgBouncer, session mode) in front",
        )
    return Finding(OK, "conns", found)


def _skipped_on_postgres(settings: Settings) -> list[Finding]:
    backups = (
        Finding(
            WARNING,
            "backup",
            "backup.every_hours is ignored on PostgreSQL: back the database up with its own"
            " regime (pg_dump -Fc, or base backups and WAL archiving for PITR); gethook backup"
            " runs pg_dump",
        )
        if settings.backup.every_hours
        else Finding(
            OK,
            "backup",
            "the database's own regime (pg_dump -Fc, PITR); gethook backup runs pg_dump",
        )
    )
    return [
        Finding(OK, "disk", "skipped: the data lives on the PostgreSQL server; watch its disk"),
        Finding(OK, "wal", "skipped: PostgreSQL manages its own WAL"),
        backups,
    ]


def _public(settings: Settings) -> bool:
    """Reachable from other machines: listening beyond loopback, or published by a proxy."""
    if not is_loopback_host(settings.server.host):
        return True
    host = urlsplit(settings.server.public_base_url).hostname
    return host is not None and not is_loopback_host(host)


def _where(settings: Settings) -> str:
    if settings.server.public_base_url:
        return f"published at {settings.server.public_base_url}"
    return f"listening on {settings.server.host}"


def _signup(settings: Settings, public: bool) -> Finding:
    policy = settings.signup_policy
    if policy != "open":
        automatic = f" (auto: {_where(settings)})" if settings.accounts.signup == "auto" else ""
        return Finding(OK, "signup", f"sign-up is {policy}{automatic}")
    if not public:
        return Finding(OK, "signup", "open, on loopback only")
    automatic = " (auto: loopback behind a proxy)" if settings.accounts.signup == "auto" else ""
    return Finding(
        ERROR,
        "signup",
        f"anyone can create accounts{automatic}, {_where(settings)}: set accounts.signup ="
        ' "closed" (then gethook accounts create) or "token" with accounts.signup_token',
    )


def _tls(settings: Settings, public: bool) -> Finding:
    url = settings.server.public_base_url
    host = settings.server.host
    if url.startswith("https://") and not is_loopback_host(host):
        return Finding(
            WARNING,
            "tls",
            f"published at {url} but listening on {host} too: clients can skip the proxy and"
            " its TLS; set server.host = 127.0.0.1",
        )
    if url.startswith("https://"):
        return Finding(OK, "tls", f"public_base_url is {url}")
    if not public:
        return Finding(
            OK, "tls", "loopback only; behind a proxy, set server.public_base_url = https://…"
        )
    return Finding(
        ERROR,
        "tls",
        f"{_where(settings)} without https: API keys and webhooks cross the network in clear;"
        " listen on 127.0.0.1 behind a TLS proxy (README: Caddy) and set"
        " server.public_base_url = https://your.domain",
    )


def _metrics(settings: Settings, public: bool) -> Finding:
    metrics = settings.metrics
    if not metrics.enabled:
        return Finding(OK, "metrics", "/metrics is off")
    if metrics.token:
        return Finding(OK, "metrics", "/metrics needs a token")
    if not public:
        return Finding(OK, "metrics", "/metrics open, on loopback only")
    return Finding(
        WARNING,
        "metrics",
        "/metrics answers anyone (traffic and error counts): set metrics.token, or"
        " metrics.enabled = false",
    )


def _platform_stats(settings: Settings, public: bool) -> Finding:
    server = settings.server
    if not server.platform_stats:
        return Finding(OK, "stats", "/v1/platform-stats is off")
    if server.platform_stats_token:
        return Finding(OK, "stats", "/v1/platform-stats needs a token")
    if not public:
        return Finding(OK, "stats", "/v1/platform-stats open, on loopback only")
    return Finding(
        WARNING,
        "stats",
        "/v1/platform-stats answers anyone (instance-wide counts): set"
        " server.platform_stats_token, or server.platform_stats = false",
    )


def _schema(database: Path) -> Finding:
    plan = migration_plan(database)
    if plan.refused:
        return Finding(ERROR, "schema", plan.refused)
    if not plan.database_exists:
        return Finding(OK, "schema", f"no database yet: the first start creates {database}")
    if plan.pending:
        return Finding(
            WARNING,
            "schema",
            f"{len(plan.pending)} migration(s) will run at the next start (gethook migrate"
            " --check lists them); take a backup first",
        )
    return Finding(OK, "schema", f"up to date (schema {plan.newest_known})")


def _with_database(database: Path, check: Callable[[Connection], Finding]) -> Finding:
    if not database.exists():
        return Finding(OK, "key", "no database yet: the first start creates secret.key")
    conn = connect_sqlite(
        f"{database.as_uri()}?mode=ro", uri=True, timeout=SQLITE_BUSY_TIMEOUT_MS / 1000
    )
    try:
        return check(conn)
    except sqlite3.Error as exc:
        return Finding(ERROR, "key", f"cannot read {database}: {exc}")
    finally:
        conn.close()


def _encryption_key(settings: Settings, conn: Connection) -> Finding:
    sample = key_sample(conn)
    if sample is None:
        return Finding(OK, "key", "no secrets stored yet")
    try:
        key = load_or_create_key(settings.storage.encryption_key, settings.data_dir, create=False)
    except EncryptionKeyError as exc:
        return Finding(ERROR, "key", str(exc))
    if not SecretBox(key).opens(sample):
        where = "storage.encryption_key" if settings.storage.encryption_key else "secret.key"
        return Finding(
            ERROR,
            "key",
            f"{where} does not open this database's secrets: the server will refuse to"
            " start; use the key backed up with this database",
        )
    return Finding(OK, "key", "the encryption key opens the stored secrets")


def _disk(data_dir: Path) -> Finding:
    existing = data_dir
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    usage = shutil.disk_usage(existing)
    free = f"{usage.free / _MIB / 1024:.1f} GiB free of {usage.total / _MIB / 1024:.1f} GiB"
    if usage.free < DOCTOR_FULL_DISK_BYTES:
        return Finding(ERROR, "disk", f"{free}: ingest fails when it runs out; free space now")
    if usage.free < DOCTOR_LOW_DISK_BYTES:
        return Finding(
            WARNING,
            "disk",
            f"{free}: free space, or shorten retention (gethook accounts set-retention)",
        )
    return Finding(OK, "disk", free)


def _wal(database: Path) -> Finding:
    wal = database.with_name(database.name + "-wal")
    size = wal.stat().st_size if wal.exists() else 0
    if size > DOCTOR_LARGE_WAL_BYTES:
        return Finding(
            WARNING,
            "wal",
            f"{wal.name} is {size / _MIB:.0f} MiB: something holds a read open (an sqlite3"
            " shell, a stuck backup) and keeps SQLite from checkpointing; close it",
        )
    return Finding(OK, "wal", f"{wal.name} is {size / _MIB:.1f} MiB")


def _backups(settings: Settings, database: Path, now: float) -> Finding:
    folder = settings.backup.folder(settings.data_dir)
    every = settings.backup.every_hours
    backups = list_backups(folder)
    advice = (
        "check the server's log for 'scheduled backup failed'"
        if every
        else "set backup.every_hours = 24, or run gethook backup from cron"
    )
    if not backups:
        if not database.exists():
            return Finding(OK, "backup", f"nothing to back up yet; {advice}")
        return Finding(WARNING, "backup", f"no backup in {folder}: {advice}")
    age = now - backups[-1].stat().st_mtime
    limit = 2 * every * _HOUR if every else DOCTOR_OLD_BACKUP_SECONDS
    found = f"newest backup {backups[-1].name} is {age / _HOUR:.1f} hours old"
    if age > limit:
        return Finding(WARNING, "backup", f"{found}: {advice}")
    return Finding(OK, "backup", found)


def add_doctor_command(
    main: click.Group,
    config_option: Callable,
    data_dir_option: Callable,
    load: Callable[..., Settings],
) -> None:
    """Register ``gethook doctor`` on cli.py's group, with its options and settings loader."""

    @main.command()
    @click.option("--host", default=None, help="Check as if serving with --host HOST.")
    @click.option("--strict", is_flag=True, help="Exit 1 on warnings too, not only on errors.")
    @config_option
    @data_dir_option
    def doctor(
        host: str | None, strict: bool, config_file: str | None, data_dir: str | None
    ) -> None:
        """Check the configuration and the data directory before going public.

        One line per check: OK, WARNING or ERROR, with what to change. Exit code 1 when a
        check found an error (with --strict: a warning too), else 0. Read only: safe beside
        a running server.
        """
        settings = load(config_file, **{"server.host": host, "storage.data_dir": data_dir})
        findings = diagnose(settings, time.time())
        for finding in findings:
            click.echo(finding.line())
        errors = sum(finding.severity == ERROR for finding in findings)
        warnings = sum(finding.severity == WARNING for finding in findings)
        click.echo(f"{errors} error(s), {warnings} warning(s) for {settings.data_dir}")
        if errors or (strict and warnings):
            sys.exit(1)
