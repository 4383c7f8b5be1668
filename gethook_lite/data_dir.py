"""The data directory's fixed files and the lock that gives one process the directory.

Kept apart from the app so that operators' commands (backup, restore, accounts list…) find
the database and take the lock without importing the web stack.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

__all__ = ["DATABASE_FILE", "LOCK_FILE", "DataDirLocked", "data_dir_lock"]

DATABASE_FILE = "gethook.db"
LOCK_FILE = "gethook.lock"


class DataDirLocked(RuntimeError):
    """Another gethook process already serves this data directory."""


@contextlib.contextmanager
def data_dir_lock(data_dir: Path) -> Iterator[None]:
    """Hold the directory's lock (flock, released by the kernel if the process dies)."""
    # SQLite mode is one process per data dir: the scheduler assumes it owns every lease.
    data_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(data_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise DataDirLocked(
                f"another gethook process is using the data directory {data_dir}"
            ) from None
        yield
    finally:
        os.close(fd)
