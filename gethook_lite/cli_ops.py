"""Operators' commands: backup, restore, and accounts/keys beside a running server.

They take the same ``--config`` / ``--data-dir`` as ``gethook serve`` and read the same
settings; ``cli.py`` registers them with ``add_operator_commands``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from gethook_lite.config import Settings
from gethook_lite.constants import BACKUP_NICENESS
from gethook_lite.data_dir import DATABASE_FILE, DataDirLocked, data_dir_lock
from gethook_lite.secrets_box import KEY_FILE

if TYPE_CHECKING:
    from gethook_lite.ops.migrate_to import MigrationResult

__all__ = ["add_operator_commands", "database_path", "encryption_key"]


def database_path(settings: Settings) -> Path:
    return settings.data_dir / DATABASE_FILE


def operated_database(settings: Settings) -> Path | str:
    """What operator commands (accounts, keys) act on: the PostgreSQL database of
    storage.url, else the SQLite file in the data dir."""
    return settings.storage.url or database_path(settings)


def key_path(settings: Settings) -> Path:
    return settings.data_dir / KEY_FILE


def encryption_key(settings: Settings) -> bytes:
    """The key the server uses: configured, else ``secret.key`` (never generated here)."""
    if settings.storage.encryption_key:
        return settings.storage.encryption_key.encode()
    path = key_path(settings)
    if not path.exists():
        raise click.ClickException(f"no encryption key: {path} does not exist")
    return path.read_bytes().strip()


def _when(timestamp: float | None) -> str:
    if timestamp is None:
        return "-"
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def add_operator_commands(
    main: click.Group,
    accounts: click.Group,
    keys: click.Group,
    config_option: Callable,
    data_dir_option: Callable,
    load: Callable[..., Settings],
) -> None:
    """Register the commands on cli.py's groups, with its options and its settings loader."""

    def settings_for(config_file: str | None, data_dir: str | None) -> Settings:
        return load(config_file, **{"storage.data_dir": data_dir})

    @main.command()
    @click.argument("path", type=click.Path(dir_okay=True))
    @config_option
    @data_dir_option
    def backup(path: str, config_file: str | None, data_dir: str | None) -> None:
        """Write a verified backup (database + encryption key) to PATH (a file or a folder).

        Safe while the server runs: the copy is the database as of its last committed
        transaction. The archive holds the key: keep it as private as the key itself.
        """
        from gethook_lite.ops import BackupError, create_backup
        from gethook_lite.ops.backup import create_postgres_backup

        settings = settings_for(config_file, data_dir)
        target = Path(path)
        if path.endswith(("/", os.sep)):
            # "backups/" names a folder even before it exists (a file named "backups" would
            # surprise whoever looks for the archive in it).
            target.mkdir(parents=True, exist_ok=True)
        # Compression and checks take CPU the server may need for traffic: it goes first.
        os.nice(BACKUP_NICENESS)
        try:
            if settings.storage.url:
                written, summary = create_postgres_backup(
                    settings.storage.url, encryption_key(settings), target, time.time()
                )
            else:
                written, summary = create_backup(
                    database_path(settings), encryption_key(settings), target, time.time()
                )
        except BackupError as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(f"wrote {written}")
        checked = "pg_restore reads the dump" if settings.storage.url else "integrity ok"
        click.echo(
            f"verified: {checked}, schema {summary.schema_version}, "
            f"{summary.accounts} accounts, {summary.events} events, "
            + ("key opens the stored secrets" if summary.key_checked else "no secrets stored yet")
        )

    @main.command()
    @click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
    @click.option("--force", is_flag=True, help="Replace an existing database (kept aside).")
    @config_option
    @data_dir_option
    def restore(path: Path, force: bool, config_file: str | None, data_dir: str | None) -> None:
        """Put the backup at PATH in place as the data directory's database and key.

        The server must be stopped. An existing database is only replaced with --force, and
        is then moved to a before-restore-* folder in the data directory, not deleted. With
        storage.url set, a PostgreSQL backup goes into that database, which must be empty.
        """
        from gethook_lite.ops import BackupError, restore_backup

        settings = settings_for(config_file, data_dir)
        configured = settings.storage.encryption_key.encode() or None
        if settings.storage.url:
            _restore_postgres(settings, path, configured)
            return
        try:
            with data_dir_lock(settings.data_dir):
                result = restore_backup(
                    path,
                    settings.data_dir,
                    database_path(settings),
                    key_path(settings),
                    configured_key=configured,
                    force=force,
                    now=time.time(),
                )
        except DataDirLocked:
            raise click.ClickException(
                f"a gethook server is running on {settings.data_dir}; stop it before restoring"
            ) from None
        except BackupError as exc:
            raise click.ClickException(str(exc)) from None
        if result.set_aside is not None:
            click.echo(f"previous database and key moved to {result.set_aside}")
        summary = result.summary
        click.echo(
            f"restored {path} ({_when(summary.created_at)}, {summary.accounts} accounts, "
            f"{summary.events} events) into {settings.data_dir}"
        )

    @main.command("migrate-to")
    @click.argument("url")
    @config_option
    @data_dir_option
    def migrate_to(url: str, config_file: str | None, data_dir: str | None) -> None:
        """Copy this data directory's database into the empty PostgreSQL database at URL.

        The server must be stopped. The copy is one transaction, checked (row counts, the
        encryption key) before it commits; the SQLite file is left as it was.
        """
        from gethook_lite.ops.migrate_to import MigrateToError, migrate_to_postgres

        settings = settings_for(config_file, data_dir)
        try:
            with data_dir_lock(settings.data_dir):
                result = migrate_to_postgres(
                    database_path(settings), url, encryption_key(settings), progress=click.echo
                )
        except DataDirLocked:
            raise click.ClickException(
                f"a gethook server is running on {settings.data_dir}; stop it before migrating"
                " (the copy must see every write)"
            ) from None
        except MigrateToError as exc:
            raise click.ClickException(str(exc)) from None
        _print_next_step(settings, url, result)

    @accounts.command("list")
    @config_option
    @data_dir_option
    def accounts_list(config_file: str | None, data_dir: str | None) -> None:
        """List every account (works beside a running server)."""
        from gethook_lite.db import accounts as store
        from gethook_lite.ops import admin

        settings = settings_for(config_file, data_dir)
        rows = _operator(admin.read, operated_database(settings), store.list_accounts)
        click.echo("ID\tNAME\tEMAIL\tRETENTION_DAYS\tACTIVE_KEYS\tCREATED_AT")
        for row in rows:
            click.echo(
                f"{row['id']}\t{row['name']}\t{row['email'] or '-'}\t{row['retention_days']}"
                f"\t{row['active_keys']}\t{_when(row['created_at'])}"
            )

    @accounts.command("set-retention")
    @click.argument("account_id")
    @click.argument("days", type=click.IntRange(1, 3650))
    @config_option
    @data_dir_option
    def accounts_set_retention(
        account_id: str, days: int, config_file: str | None, data_dir: str | None
    ) -> None:
        """Keep ACCOUNT_ID's events, attempts and exports for DAYS days."""
        from gethook_lite.db import retention as store
        from gethook_lite.ops import admin

        settings = settings_for(config_file, data_dir)
        changed = _operator(
            admin.write, operated_database(settings), store.set_retention_days, account_id, days
        )
        if not changed:
            raise click.ClickException(f"no account {account_id}")
        click.echo(f"{account_id}: retention {days} days (applies from the next retention pass)")

    @keys.command("list")
    @click.option("--account", "account_id", required=True, help="The account id (acct_…).")
    @config_option
    @data_dir_option
    def keys_list(account_id: str, config_file: str | None, data_dir: str | None) -> None:
        """List an account's API keys (prefixes only; keys are never stored)."""
        from gethook_lite.db import accounts as store
        from gethook_lite.ops import admin

        settings = settings_for(config_file, data_dir)
        database = operated_database(settings)
        if _operator(admin.read, database, store.get_account, account_id) is None:
            raise click.ClickException(f"no account {account_id}")
        rows = _operator(admin.read, database, store.list_api_keys, account_id)
        click.echo("ID\tNAME\tROLE\tPREFIX\tCREATED_AT\tREVOKED_AT")
        for row in rows:
            click.echo(
                f"{row['id']}\t{row['name']}\t{row['role']}\t{row['key_prefix']}…"
                f"\t{_when(row['created_at'])}\t{_when(row['revoked_at'])}"
            )

    @keys.command("revoke")
    @click.argument("key_id")
    @config_option
    @data_dir_option
    def keys_revoke(key_id: str, config_file: str | None, data_dir: str | None) -> None:
        """Revoke the API key KEY_ID at once (also on a running server)."""
        from gethook_lite.db import accounts as store
        from gethook_lite.ops import admin

        settings = settings_for(config_file, data_dir)
        database = operated_database(settings)
        key = _operator(admin.read, database, store.find_api_key, key_id)
        if key is None:
            raise click.ClickException(f"no API key {key_id}")
        if key["revoked_at"] is not None:
            click.echo(f"{key_id} was already revoked at {_when(key['revoked_at'])}")
            return
        _operator(
            admin.write, database, store.revoke_api_key, key["account_id"], key_id, time.time()
        )
        click.echo(f"revoked {key_id} ({key['name']}, account {key['account_id']})")


def _restore_postgres(settings: Settings, path: Path, configured: bytes | None) -> None:
    from gethook_lite.db.postgres import redact_url
    from gethook_lite.ops import BackupError
    from gethook_lite.ops.restore import restore_postgres_backup

    url = settings.storage.url
    try:
        summary = restore_postgres_backup(path, url, key_path(settings), configured_key=configured)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(
        f"restored {path} ({_when(summary.created_at)}, {summary.accounts} accounts, "
        f"{summary.events} events) into {redact_url(url)}"
    )
    if configured is None:
        click.echo(
            f"its key is now {key_path(settings)}: set storage.encryption_key to it in every"
            " process that shares the database"
        )


def _print_next_step(settings: Settings, url: str, result: MigrationResult) -> None:
    from gethook_lite.db.postgres import redact_url

    click.echo(
        f"copied {result.rows} row(s) in {len(result.tables)} tables to {redact_url(url)}"
        f" (schema {result.schema_version}) in {result.seconds:.1f} s; row counts and the"
        " encryption key checked"
    )
    click.echo("Next: in every gethook process (each server, each CLI command), set")
    password = " (with its password)" if redact_url(url) != url else ""
    click.echo(f"  storage.url = {redact_url(url)}{password}   (or GETHOOK_STORAGE_URL)")
    if settings.storage.encryption_key:
        click.echo("  storage.encryption_key = the value configured here now (keep it)")
    else:
        # The key itself is never printed: it would end up in terminal scrollback and logs.
        click.echo(
            f"  storage.encryption_key = the contents of {key_path(settings)}, e.g."
            f' GETHOOK_STORAGE_ENCRYPTION_KEY="$(cat {key_path(settings)})"'
        )
    click.echo(f"{database_path(settings)} is unchanged: to go back, unset storage.url.")


def _operator(fn: Callable, *args):
    from gethook_lite.ops import OperatorError

    try:
        return fn(*args)
    except OperatorError as exc:
        raise click.ClickException(str(exc)) from None
