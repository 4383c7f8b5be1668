"""Background task: scheduled backups, for operators who never remember to make one.

With ``backup.every_hours`` set, the server writes a verified archive (``gethook backup``'s)
into ``backup.directory`` once per interval, counted from the newest archive already there so
that restarts neither skip nor repeat one, and then keeps only the newest ``backup.keep``.
On PostgreSQL (``storage.url``) the task is off: the database's own backup regime applies.
"""

from __future__ import annotations

import asyncio
import logging

from gethook_lite.constants import BACKUP_FIRST_DELAY_SECONDS, BACKUP_RETRY_SECONDS
from gethook_lite.context import Context
from gethook_lite.ops.backup import (
    BackupError,
    backup_file_name,
    create_backup,
    list_backups,
    prune_backups,
)
from gethook_lite.secrets_box import load_or_create_key

__all__ = ["BackupTask", "next_backup_in", "start"]

log = logging.getLogger(__name__)

_SECONDS_PER_HOUR = 3600.0


def next_backup_in(newest: float | None, now: float, interval: float) -> float:
    """Seconds until the next backup is due, given the newest one's time (None: there is none)."""
    if newest is None:
        return min(BACKUP_FIRST_DELAY_SECONDS, interval)
    return max(0.0, newest + interval - now)


class BackupTask:
    """Writes a backup whenever one is due, until stopped."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        settings = ctx.settings
        self._interval = settings.backup.every_hours * _SECONDS_PER_HOUR
        self._keep = settings.backup.keep
        self.folder = settings.backup.folder(settings.data_dir)
        self._key = load_or_create_key(settings.storage.encryption_key, settings.data_dir)
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="gethook-backups")

    async def stop(self) -> None:
        # A backup cut short leaves only a .part file (never a finished-looking archive).
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def run_once(self) -> None:
        """Write one backup now and prune the old ones."""
        now = self._ctx.clock.now()
        await asyncio.to_thread(self.folder.mkdir, parents=True, exist_ok=True)
        path, summary = await asyncio.to_thread(
            create_backup, self._ctx.db.path, self._key, self.folder / backup_file_name(now), now
        )
        removed = await asyncio.to_thread(prune_backups, self.folder, self._keep)
        log.info(
            "backup written: %s (%d events, %d bytes of database); %d old one(s) removed",
            path,
            summary.events,
            summary.database_bytes,
            len(removed),
        )

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(await self._due_in())
            try:
                await self.run_once()
            except (BackupError, OSError) as exc:
                log.error("scheduled backup failed: %s", exc)
                await asyncio.sleep(min(BACKUP_RETRY_SECONDS, self._interval))
            except Exception:
                log.exception("scheduled backup failed")
                await asyncio.sleep(min(BACKUP_RETRY_SECONDS, self._interval))

    async def _due_in(self) -> float:
        backups = await asyncio.to_thread(list_backups, self.folder)
        newest = (await asyncio.to_thread(backups[-1].stat)).st_mtime if backups else None
        return next_backup_in(newest, self._ctx.clock.now(), self._interval)


async def start(ctx: Context) -> BackupTask | None:
    """Start scheduled backups when ``backup.every_hours`` is set (on SQLite only)."""
    if ctx.settings.storage.url:
        # Several processes share one PostgreSQL database, which has its own backup tools
        # (docs/design/postgresql.md §6.7): copying it is not one process's job.
        log.log(
            logging.WARNING if ctx.settings.backup.every_hours else logging.INFO,
            "scheduled backups are off on PostgreSQL%s: back the database up with its own"
            " regime (pg_dump -Fc, or base backups and WAL archiving for PITR); gethook backup"
            " runs pg_dump",
            " (backup.every_hours is ignored)" if ctx.settings.backup.every_hours else "",
        )
        return None
    if not ctx.settings.backup.every_hours:
        return None
    task = BackupTask(ctx)
    task.start()
    log.info(
        "scheduled backups every %g hour(s) into %s, keeping %d",
        ctx.settings.backup.every_hours,
        task.folder,
        ctx.settings.backup.keep,
    )
    return task
