"""Backups: one archive holding a consistent copy of the database and its encryption key.

The archive (tar.gz, mode 0600: it holds the key) contains ``gethook.db`` (a single file, no
WAL), ``secret.key`` and ``manifest.json``. It is written as ``<name>.part`` and renamed once
it is complete and verified, so a half-written file never looks like a backup.

On PostgreSQL (``storage.url``) the database is ``pg_dump -Fc``'s archive, ``gethook.pgdump``,
in its place, and the manifest says ``"backend": "postgresql"`` (docs/design/postgresql.md
§6.7); it is restored with ``pg_restore``, not ``gethook restore``.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from gethook_lite import __version__
from gethook_lite.db import snapshots
from gethook_lite.db.connection import connect_sqlite

__all__ = [
    "ARCHIVE_DATABASE",
    "ARCHIVE_DUMP",
    "ARCHIVE_KEY",
    "ARCHIVE_MANIFEST",
    "BACKEND_POSTGRESQL",
    "BACKEND_SQLITE",
    "BACKUP_NAME_PREFIX",
    "POSTGRES_ARCHIVE_RESTORE",
    "BackupError",
    "BackupSummary",
    "backup_file_name",
    "check_database",
    "client_tool",
    "create_backup",
    "create_postgres_backup",
    "is_postgres_archive",
    "list_backups",
    "one_line",
    "prune_backups",
    "read_archive",
    "read_postgres_archive",
    "run_client_tool",
    "verify_archive",
]

ARCHIVE_DATABASE = "gethook.db"
ARCHIVE_DUMP = "gethook.pgdump"  # PostgreSQL: pg_dump's custom format, in place of the file
BACKEND_SQLITE, BACKEND_POSTGRESQL = "sqlite", "postgresql"
ARCHIVE_KEY = "secret.key"
ARCHIVE_MANIFEST = "manifest.json"
BACKUP_NAME_PREFIX = "gethook-backup-"
_BACKUP_SUFFIX = ".tar.gz"
_ARCHIVE_FORMAT = 1


class BackupError(Exception):
    """A backup could not be made, read or verified; the message says why."""


# gethook restore puts a SQLite backup in the data directory; a PostgreSQL one goes into the
# empty database that storage.url names.
POSTGRES_ARCHIVE_RESTORE = (
    "{path} is a PostgreSQL backup (gethook.pgdump, made by pg_dump -Fc): set storage.url to a"
    " new, empty database (CREATE DATABASE … LC_COLLATE 'C' TEMPLATE template0) and run gethook"
    " restore again, or run pg_restore --no-owner -d <that database> on the extracted dump"
)


@dataclass(frozen=True, slots=True)
class BackupSummary:
    """What a verified archive holds (also its manifest.json)."""

    format: int
    gethook_version: str
    created_at: float
    schema_version: int
    database_bytes: int
    accounts: int
    events: int
    deliveries: int
    key_checked: bool  # an encrypted value in the copy was decrypted with the archived key
    backend: str = BACKEND_SQLITE  # archives from before PostgreSQL have no "backend"


def backup_file_name(now: float) -> str:
    """``gethook-backup-YYYYMMDD-HHMMSS.tar.gz`` in UTC: names sort by age."""
    return BACKUP_NAME_PREFIX + time.strftime("%Y%m%d-%H%M%S", time.gmtime(now)) + _BACKUP_SUFFIX


def create_backup(
    database: Path, key: bytes, target: Path, now: float
) -> tuple[Path, BackupSummary]:
    """Copy the (possibly live) ``database`` with ``key`` into an archive at ``target``.

    ``target`` may be a directory (a timestamped name is chosen in it). The archive is read
    back and verified before it gets its final name; returns (path, summary).
    """
    if not database.exists():
        raise BackupError(f"no database at {database}")
    target = _archive_path(target, now)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".gethook-backup-") as scratch:
        copy = Path(scratch) / ARCHIVE_DATABASE
        try:
            snapshots.copy_database(database, copy)
        except sqlite3.Error as exc:
            raise BackupError(f"cannot copy the database {database}: {exc}") from None
        # The full integrity check runs once, on the archive as written (verify_archive).
        summary = check_database(copy, key, created_at=now, integrity=False)
        partial = target.with_name(target.name + ".part")
        _write_archive(partial, copy, key, summary)
    _verify_and_name(partial, target)
    return target, summary


def _archive_path(target: Path, now: float) -> Path:
    """The archive's final path (a timestamped name in ``target`` if it is a folder)."""
    if target.is_dir():
        target = target / backup_file_name(now)
    if target.exists():
        raise BackupError(f"{target} exists; choose another name")
    target.parent.mkdir(parents=True, exist_ok=True)
    return target


def _verify_and_name(partial: Path, target: Path) -> None:
    try:
        verify_archive(partial)
        os.replace(partial, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()


def create_postgres_backup(
    url: str, key: bytes, target: Path, now: float
) -> tuple[Path, BackupSummary]:
    """``pg_dump -Fc`` of the PostgreSQL database at ``url`` with ``key`` into an archive at
    ``target`` (a file or a folder), verified (``pg_restore --list`` reads it back)."""
    pg_dump = client_tool("pg_dump")
    target = _archive_path(target, now)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".gethook-backup-") as scratch:
        dump = Path(scratch) / ARCHIVE_DUMP
        summary = _dump_postgres(pg_dump, url, key, dump, now)
        partial = target.with_name(target.name + ".part")
        _write_archive(partial, dump, key, summary)
    _verify_and_name(partial, target)
    return target, summary


def client_tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BackupError(
            f"gethook backup on PostgreSQL runs {name}, which is not on PATH: install the"
            " PostgreSQL client tools (the server's major version or newer), or back the"
            " database up with its own regime (pg_dump -Fc, PITR)"
        )
    return found


def _dump_postgres(pg_dump: str, url: str, key: bytes, dump: Path, now: float) -> BackupSummary:
    """Dump the database as of one snapshot, and summarise that same snapshot."""
    from gethook_lite.db.instance_meta import key_sample
    from gethook_lite.db.postgres import connect_postgres, redact_url

    try:
        conn = connect_postgres(url, application_name="gethook backup")
    except Exception as exc:  # psycopg's errors, or psycopg not installed
        raise BackupError(f"cannot connect to {redact_url(url)}: {one_line(exc)}") from None
    try:
        # pg_dump joins this transaction's snapshot: the counts below are the dump's.
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        snapshot = conn.execute("SELECT pg_export_snapshot()").fetchone()[0]
        counts = snapshots.row_counts(conn)
        version = snapshots.schema_version(conn)
        sample = key_sample(conn) if version else None
        run_client_tool(pg_dump, url, ["-Fc", f"--snapshot={snapshot}", "-f", str(dump)])
        conn.execute("COMMIT")
    finally:
        conn.close()
    if version == 0:
        raise BackupError(f"{redact_url(url)} has no GetHook Lite schema: nothing to back up")
    return _checked_summary(
        key, sample, now, version, dump.stat().st_size, counts, BACKEND_POSTGRESQL
    )


def run_client_tool(tool: str, url: str, args: list[str]) -> None:
    """Run a PostgreSQL client tool on ``url``; its password goes in the environment, never
    on the command line (where ``ps`` shows it)."""
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    params = conninfo_to_dict(url)
    password = params.pop("password", None)
    env = {**os.environ, **({"PGPASSWORD": str(password)} if password else {})}
    done = subprocess.run(
        [tool, *args, "--dbname", make_conninfo("", **params)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise BackupError(f"{Path(tool).name} failed: {one_line(done.stderr)}")


def one_line(message: object) -> str:
    return " ".join(line.strip() for line in str(message).splitlines() if line.strip())


def _require_key_opens(key: bytes, sample: str | None) -> None:
    if sample is not None:
        try:
            Fernet(key).decrypt(sample.encode())
        except (InvalidToken, ValueError):
            raise BackupError("the encryption key does not open this database's secrets") from None


def check_database(
    path: Path, key: bytes, *, created_at: float, integrity: bool = True
) -> BackupSummary:
    """Integrity check of the file at ``path`` (unless ``integrity`` is False), and proof that
    ``key`` opens its secrets; what it holds."""
    try:
        conn = connect_sqlite(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise BackupError(f"the database copy cannot be opened: {exc}") from None
    try:
        problems = snapshots.integrity_problems(conn) if integrity else []
        if problems:
            raise BackupError("integrity check failed: " + "; ".join(problems[:5]))
        sample = snapshots.encrypted_sample(conn)
        counts = snapshots.row_counts(conn)
        version = snapshots.schema_version(conn)
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"the database copy is unreadable: {exc}") from None
    finally:
        conn.close()
    if version == 0:
        raise BackupError("the database copy has no schema (not a gethook database?)")
    return _checked_summary(
        key, sample, created_at, version, path.stat().st_size, counts, BACKEND_SQLITE
    )


def _checked_summary(
    key: bytes,
    sample: str | None,
    created_at: float,
    version: int,
    size: int,
    counts: dict[str, int],
    backend: str,
) -> BackupSummary:
    """What a backup holds, once ``key`` is known to open its secrets."""
    _require_key_opens(key, sample)
    return BackupSummary(
        format=_ARCHIVE_FORMAT,
        gethook_version=__version__,
        created_at=created_at,
        schema_version=version,
        database_bytes=size,
        key_checked=sample is not None,
        accounts=counts["accounts"],
        events=counts["events"],
        deliveries=counts["deliveries"],
        backend=backend,
    )


def _write_archive(path: Path, database: Path, key: bytes, summary: BackupSummary) -> None:
    # O_EXCL + 0600 from the first byte: the archive holds the encryption key.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as file:
        with tarfile.open(fileobj=file, mode="w:gz") as archive:
            _add_bytes(archive, ARCHIVE_MANIFEST, json.dumps(asdict(summary), indent=2).encode())
            _add_bytes(archive, ARCHIVE_KEY, key)
            member = ARCHIVE_DUMP if summary.backend == BACKEND_POSTGRESQL else ARCHIVE_DATABASE
            info = archive.gettarinfo(str(database), arcname=member)
            info.mode = 0o600
            with database.open("rb") as db_file:
                archive.addfile(info, db_file)
        file.flush()
        os.fsync(file.fileno())


def _add_bytes(archive: tarfile.TarFile, name: str, content: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(content)
    info.mode = 0o600
    info.mtime = int(time.time())
    archive.addfile(info, io.BytesIO(content))


def read_archive(path: Path, into: Path) -> tuple[Path, bytes, dict]:
    """Extract an archive's database into the folder ``into``; (db path, key, manifest)."""
    try:
        with tarfile.open(path, mode="r:gz") as archive:
            names = set(archive.getnames())
            if ARCHIVE_DUMP in names:
                raise BackupError(POSTGRES_ARCHIVE_RESTORE.format(path=path))
            missing = {ARCHIVE_DATABASE, ARCHIVE_KEY, ARCHIVE_MANIFEST} - names
            if missing:
                raise BackupError(f"{path} is not a gethook backup (missing {sorted(missing)})")
            manifest = json.loads(_member_bytes(archive, ARCHIVE_MANIFEST))
            key = _member_bytes(archive, ARCHIVE_KEY).strip()
            # Only our three known members are read, by name: nothing in the archive chooses
            # where a file is written.
            database = _extract_member(archive, ARCHIVE_DATABASE, into, path)
    except (tarfile.TarError, OSError, EOFError, json.JSONDecodeError) as exc:
        raise BackupError(f"cannot read the backup {path}: {exc}") from None
    return database, key, manifest


def _member_bytes(archive: tarfile.TarFile, name: str) -> bytes:
    member = archive.extractfile(name)
    if member is None:
        raise BackupError(f"{name} in the archive is not a file")
    with member:
        return member.read()


def verify_archive(path: Path) -> BackupSummary:
    """Read the archive back: its database passes the integrity check and opens with its key
    (PostgreSQL: pg_restore reads the dump's table of contents)."""
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=".gethook-verify-") as scratch:
        if is_postgres_archive(path):
            return _verify_postgres_archive(path, Path(scratch))
        database, key, manifest = read_archive(path, Path(scratch))
        return check_database(database, key, created_at=manifest.get("created_at", 0.0))


def is_postgres_archive(path: Path) -> bool:
    """Whether the archive at ``path`` holds a pg_dump (made with storage.url set)."""
    try:
        with tarfile.open(path, mode="r:gz") as archive:
            return ARCHIVE_DUMP in archive.getnames()
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise BackupError(f"cannot read the backup {path}: {exc}") from None


def _extract_member(archive: tarfile.TarFile, name: str, into: Path, path: Path) -> Path:
    """Copy the archive's member ``name`` (a known name: nothing in the archive chooses where
    a file is written) into ``into``, private to this user; the file written."""
    source = archive.extractfile(name)
    if source is None:
        raise BackupError(f"{path}: {name} is not a file")
    target = into / name
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with source, os.fdopen(fd, "wb") as out:
        shutil.copyfileobj(source, out, 1 << 20)
        out.flush()
        os.fsync(out.fileno())  # on disk before a restore replaces anything with it
    return target


def read_postgres_archive(path: Path, into: Path) -> tuple[Path, bytes, dict]:
    """Extract a PostgreSQL archive's dump into the folder ``into``; (dump, key, manifest)."""
    try:
        with tarfile.open(path, mode="r:gz") as archive:
            manifest = json.loads(_member_bytes(archive, ARCHIVE_MANIFEST))
            key = _member_bytes(archive, ARCHIVE_KEY).strip()
            dump = _extract_member(archive, ARCHIVE_DUMP, into, path)
    except (tarfile.TarError, OSError, EOFError, KeyError, json.JSONDecodeError) as exc:
        raise BackupError(f"cannot read the backup {path}: {exc}") from None
    return dump, key, manifest


def _verify_postgres_archive(path: Path, scratch: Path) -> BackupSummary:
    pg_restore = client_tool("pg_restore")
    dump, _, manifest = read_postgres_archive(path, scratch)
    listed = subprocess.run(
        [pg_restore, "--list", str(dump)], capture_output=True, text=True, check=False
    )
    if listed.returncode != 0 or "TABLE DATA public events" not in listed.stdout:
        raise BackupError(f"{path}: pg_restore cannot read the dump: {one_line(listed.stderr)}")
    return BackupSummary(**manifest)


def list_backups(directory: Path) -> list[Path]:
    """The finished backups in ``directory`` that we named, oldest first."""
    if not directory.is_dir():
        return []
    return sorted(
        entry
        for entry in directory.iterdir()
        if entry.name.startswith(BACKUP_NAME_PREFIX) and entry.name.endswith(_BACKUP_SUFFIX)
    )


def prune_backups(directory: Path, keep: int) -> list[Path]:
    """Delete all but the newest ``keep`` backups in ``directory``; the files deleted."""
    backups = list_backups(directory)
    doomed = backups[: max(0, len(backups) - keep)]
    for path in doomed:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    return doomed
