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
from gethook_lite.db.connection import Connection, connect_sqlite
from gethook_lite.db.instance_meta import key_sample
from gethook_lite.ops.backup import list_backups
from gethook_lite.ops.schema import migration_plan
from gethook_lite.secrets_box import EncryptionKeyError, SecretBox, load_or_create_key

__all__ = ["ERROR", "OK", "WARNING", "Finding", "add_doctor_command", "diagnose"]

OK, WARNING, ERROR = "ok", "warning", "error"

_MIB = 1024 * 1024
_HOUR = 3600.0


@dataclass(frozen=True, slots=True)
class Finding:
    severity: str  # OK, WARNING or ERROR
    check: str
    message: str  # what was found and, unless OK, what to change

    def line(self) -> str:
        return f"{self.severity.upper():<7} {self.check:<10} {self.message}"


def diagnose(settings: Settings, now: float) -> list[Finding]:
    """Every check, in the order an operator reads them: exposure first, then the data."""
    public = _public(settings)
    findings = [
        _signup(settings, public),
        _tls(settings, public),
        _metrics(settings, public),
        _platform_stats(settings, public),
    ]
    database = settings.data_dir / DATABASE_FILE
    findings += [
        _schema(database),
        _with_database(database, lambda conn: _encryption_key(settings, conn)),
        _disk(settings.data_dir),
        _wal(database),
        _backups(settings, database, now),
    ]
    return findings


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
