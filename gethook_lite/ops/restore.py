"""Restore: put a backup archive in place as a data directory's database and key.

Only on a stopped server: the data directory's lock (the one ``gethook serve`` holds) is taken
for the whole restore, so a server can neither be running nor start half-way through.

A PostgreSQL archive (``gethook backup`` with storage.url) goes into the empty database that
storage.url names, through ``pg_restore`` in one transaction.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gethook_lite.ops.backup import (
    POSTGRES_ARCHIVE_RESTORE,
    BackupError,
    BackupSummary,
    check_database,
    client_tool,
    is_postgres_archive,
    one_line,
    read_archive,
    read_postgres_archive,
    run_client_tool,
)
from gethook_lite.private_files import make_private_dir

__all__ = ["RestoreResult", "restore_backup", "restore_postgres_backup"]

# The database's companions that belong to it and must move with it.
_SIDE_FILES = ("-wal", "-shm")


@dataclass(frozen=True, slots=True)
class RestoreResult:
    summary: BackupSummary
    database: Path
    # Where the database and key that were replaced now are (None: there were none).
    set_aside: Path | None


def restore_backup(
    archive: Path,
    data_dir: Path,
    database: Path,
    key_file: Path,
    *,
    configured_key: bytes | None,
    force: bool,
    now: float,
) -> RestoreResult:
    """Verify ``archive`` and install it as ``database`` (and ``key_file``) in ``data_dir``.

    The caller holds the data directory's lock. An existing database is only replaced with
    ``force``, and even then it is moved aside (with its WAL and key), never deleted; so is a
    key file that differs from the backup's.
    """
    if not archive.is_file():
        raise BackupError(f"no backup file at {archive}")
    if is_postgres_archive(archive):
        raise BackupError(POSTGRES_ARCHIVE_RESTORE.format(path=archive))
    # A WAL left without its database still counts: SQLite would replay it into the new file.
    database_files = [database, *(database.with_name(database.name + s) for s in _SIDE_FILES)]
    existing = [path for path in database_files if path.exists()]
    if existing and not force:
        raise BackupError(
            f"{existing[0]} exists; restoring would replace it. Use --force to replace it"
            " (the current files are kept in a before-restore-* folder)"
        )
    data_dir.mkdir(parents=True, exist_ok=True)
    # Extracted inside the data directory, so the final rename stays on one file system.
    with tempfile.TemporaryDirectory(dir=data_dir, prefix=".restore-") as scratch:
        extracted, key, manifest = read_archive(archive, Path(scratch))
        summary = check_database(extracted, key, created_at=manifest.get("created_at", 0.0))
        _require_same_key(configured_key, key)
        # A different key already there is kept too: it may be the only copy of some key.
        if configured_key is None and key_file.exists() and key_file.read_bytes().strip() != key:
            existing.append(key_file)
        set_aside = _set_aside(data_dir, existing, now) if existing else None
        os.replace(extracted, database)
    if configured_key is None:
        _write_key(key_file, key)
    _sync_directory(data_dir)
    return RestoreResult(summary=summary, database=database, set_aside=set_aside)


def _set_aside(data_dir: Path, files: list[Path], now: float) -> Path:
    """Move ``files`` into a new ``before-restore-<time>`` folder of ``data_dir``."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(now))
    folder = data_dir / f"before-restore-{stamp}"
    suffix = 1
    while folder.exists():
        suffix += 1
        folder = data_dir / f"before-restore-{stamp}-{suffix}"
    folder.mkdir(mode=0o700)
    for path in files:
        os.replace(path, folder / path.name)
    return folder


def _write_key(key_file: Path, key: bytes) -> None:
    partial = key_file.with_name(key_file.name + ".part")
    with contextlib.suppress(FileNotFoundError):
        partial.unlink()
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as file:
        file.write(key)
        file.flush()
        os.fsync(file.fileno())
    os.replace(partial, key_file)


def _sync_directory(path: Path) -> None:
    # The renames are durable once the directory entry is on disk.
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def restore_postgres_backup(
    archive: Path, url: str, key_file: Path, *, configured_key: bytes | None
) -> BackupSummary:
    """Restore the PostgreSQL ``archive`` into the empty database at ``url``, and check it.

    Without a configured key, the archive's key is written to ``key_file`` (the data
    directory's secret.key), as a SQLite restore does.
    """
    from gethook_lite.db import snapshots
    from gethook_lite.db.instance_meta import key_sample
    from gethook_lite.db.postgres import redact_url
    from gethook_lite.secrets_box import SecretBox

    if not archive.is_file():
        raise BackupError(f"no backup file at {archive}")
    if not is_postgres_archive(archive):
        raise BackupError(
            f"{archive} is a SQLite backup and storage.url is set: unset storage.url to restore"
            " it into the data directory (then gethook migrate-to moves it to PostgreSQL)"
        )
    pg_restore = client_tool("pg_restore")
    with tempfile.TemporaryDirectory(prefix=".gethook-restore-") as scratch:
        dump, key, manifest = read_postgres_archive(archive, Path(scratch))
        summary = BackupSummary(**manifest)
        _require_same_key(configured_key, key)
        with _postgres(url) as conn:
            _require_empty_database(conn, redact_url(url))
        run_client_tool(
            pg_restore, url, ["--no-owner", "--single-transaction", "--exit-on-error", str(dump)]
        )
    with _postgres(url) as conn:
        counts = snapshots.row_counts(conn)
        sample = key_sample(conn)
    expected = {name: getattr(summary, name) for name in counts}
    if counts != expected:
        raise BackupError(f"restored {counts}, the backup's manifest says {expected}")
    if sample is not None and not SecretBox(key).opens(sample):
        raise BackupError("the archive's key does not open the restored secrets")
    if configured_key is None:
        try:
            make_private_dir(key_file.parent)
            _write_key(key_file, key)
        except OSError as exc:
            raise BackupError(
                f"restored, but cannot write {key_file} ({exc}): the key is secret.key in the"
                " archive"
            ) from None
    return summary


def _require_same_key(configured_key: bytes | None, key: bytes) -> None:
    if configured_key is not None and configured_key != key:
        raise BackupError(
            "storage.encryption_key is set and differs from the backup's key: the restored"
            " secrets could not be decrypted. Set it to the backup's key (secret.key in the"
            " archive) or unset it"
        )


@contextlib.contextmanager
def _postgres(url: str) -> Iterator[Any]:
    from gethook_lite.db.postgres import connect_postgres, redact_url

    try:
        conn = connect_postgres(url, application_name="gethook restore")
    except Exception as exc:  # psycopg's errors, or psycopg not installed
        raise BackupError(f"cannot connect to {redact_url(url)}: {one_line(exc)}") from None
    try:
        yield conn
    finally:
        conn.close()


def _require_empty_database(conn: Any, where: str) -> None:
    from gethook_lite.db.database import StorageError
    from gethook_lite.db.database import _require_byte_order as require_byte_order

    tables = conn.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema()"
    ).fetchone()[0]
    if tables:
        raise BackupError(
            f"{where} is not empty ({tables} tables): restore into a new, empty database"
            " (CREATE DATABASE … LC_COLLATE 'C' TEMPLATE template0); nothing was changed"
        )
    try:
        require_byte_order(conn)
    except StorageError as exc:
        raise BackupError(f"{where}: {exc}") from None
