"""The data directory's fixed files and the lock that gives one process the directory.

Kept apart from the app so that operators' commands (backup, restore, accounts list…) find
the database and take the lock without importing the web stack.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

from gethook_lite.private_files import make_private_dir

__all__ = [
    "DATABASE_FILE",
    "LOCK_FILE",
    "DataDirLocked",
    "StartupError",
    "data_dir_lock",
    "member_id",
    "unwritable",
]

DATABASE_FILE = "gethook.db"
LOCK_FILE = "gethook.lock"
# This data directory's name in a cluster (PostgreSQL): stable across restarts.
MEMBER_FILE = "member-id"


class StartupError(Exception):
    """The instance cannot start. The message is one line naming the setting or path and what
    to do; the CLI prints it instead of a traceback."""


class DataDirLocked(StartupError):
    """Another gethook process already serves this data directory."""


def unwritable(data_dir: Path, exc: OSError) -> StartupError:
    reason = exc.strerror or str(exc)
    return StartupError(
        f"storage.data_dir: cannot write to {data_dir} ({reason}); make it writable by this"
        " user or choose another with --data-dir"
    )


@contextlib.contextmanager
def data_dir_lock(data_dir: Path) -> Iterator[None]:
    """Hold the directory's lock (flock, released by the kernel if the process dies)."""
    # SQLite mode is one process per data dir: the scheduler assumes it owns every lease.
    try:
        make_private_dir(data_dir)
        fd = os.open(data_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise unwritable(data_dir, exc) from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise DataDirLocked(
                f"storage.data_dir: another gethook process is using {data_dir}; stop it"
                " or choose another with --data-dir"
            ) from None
        yield
    finally:
        os.close(fd)


def member_id(data_dir: Path) -> str:
    """The data directory's own name among the processes sharing a PostgreSQL database,
    created once. Whoever holds the directory's lock is the only live process with this name,
    so what a dead predecessor left under it (delivery leases) is safe to take back at start
    instead of waiting for it to expire."""
    path = data_dir / MEMBER_FILE
    with contextlib.suppress(FileNotFoundError):
        return path.read_text().strip()
    name = secrets.token_hex(8)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # like every file here
    with os.fdopen(fd, "w") as file:
        file.write(name + "\n")
    return name
