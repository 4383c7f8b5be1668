"""Files only the server's user may read: the data directory 0700, what it holds 0600.

Event bodies, secrets and export files live in the data directory; the default umask (022)
would make them readable by every local user. New files are created private, and existing
ones (left by an older version or copied in by an operator) are tightened at every start.
SQLite creates ``-wal`` and ``-shm`` with the mode of the database file, so a private database
file is enough for them.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

from gethook_lite.constants import PRIVATE_DIR_MODE, PRIVATE_FILE_MODE

__all__ = ["create_private_file", "make_private_dir", "tighten"]

log = logging.getLogger(__name__)


def make_private_dir(path: Path) -> None:
    """Create ``path`` (and parents) if needed; make it 0700."""
    path.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR_MODE)
    tighten(path)


def create_private_file(path: Path) -> None:
    """Create ``path`` empty and 0600 if absent (an empty file is an empty SQLite database)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, PRIVATE_FILE_MODE)
    os.close(fd)
    tighten(path)


def tighten(path: Path) -> None:
    """Take group and other permissions away from an existing file or directory."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return
    wanted = PRIVATE_DIR_MODE if stat.S_ISDIR(mode) else PRIVATE_FILE_MODE
    if stat.S_IMODE(mode) & ~wanted:
        try:
            path.chmod(stat.S_IMODE(mode) & wanted)
        except OSError as exc:
            # Not ours to change (another owner): serve anyway, but say so.
            log.warning("could not make %s private: %s", path, exc)
