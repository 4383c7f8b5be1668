"""Restore: put a backup archive in place as a data directory's database and key.

Only on a stopped server: the data directory's lock (the one ``gethook serve`` holds) is taken
for the whole restore, so a server can neither be running nor start half-way through.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from gethook_lite.ops.backup import (
    POSTGRES_ARCHIVE_RESTORE,
    BackupError,
    BackupSummary,
    check_database,
    is_postgres_archive,
    read_archive,
)

__all__ = ["RestoreResult", "restore_backup"]

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
        if configured_key is not None and configured_key != key:
            raise BackupError(
                "storage.encryption_key is set and differs from the backup's key: the restored"
                " secrets could not be decrypted. Set it to the backup's key (secret.key in the"
                " archive) or unset it"
            )
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
