"""Background task: retention. Each account's ``retention_days`` bounds how long its events
(with their deliveries and attempts), its export jobs and files, and its finished bulk retry
jobs are kept; custom-domain claims still unverified after
``accounts.pending_domain_claim_days`` are removed, and export files left by deleted accounts
are swept.

Every ``retention.interval_seconds`` the task deletes what expired, in small write
transactions of ``retention.batch_size`` rows so that ingest, which shares the one writer,
waits at most one small batch. Events that still have a delivery pending or in flight are
never deleted, whatever their age. Freed pages are then given back to the file system.
With several processes on PostgreSQL only the leader runs it (tasks/cluster.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from pathlib import Path

from gethook_lite.context import Context
from gethook_lite.db import StorageError
from gethook_lite.db import retention as store
from gethook_lite.db.bulk_retries import delete_expired_jobs
from gethook_lite.db.changes import delete_expired_changes
from gethook_lite.db.rejected_requests import delete_expired_rejected
from gethook_lite.db.web_sessions import end_expired_sessions
from gethook_lite.domain import domains

__all__ = ["EXPORTS_DIR", "RetentionTask", "purge_once", "start"]

log = logging.getLogger(__name__)

SECONDS_PER_DAY = 86_400
# Export files live in <data_dir>/exports (the exports work writes them there).
EXPORTS_DIR = "exports"
# Pages released per write: 1,000 pages (about 4 MiB) take a few milliseconds, short enough
# not to delay the ingests queued behind them.
PAGES_PER_WRITE = 1000


async def purge_once(ctx: Context) -> dict[str, int]:
    """One retention pass over every account; what it removed, by kind."""
    now = ctx.clock.now()
    batch = ctx.settings.retention.batch_size
    counts = {
        "events": 0,
        "exports": 0,
        "export_files": 0,
        "domain_claims": 0,
        "changes": 0,
        "rejected_requests": 0,
        "bulk_retries": 0,
        "web_sessions": 0,
        "pages_released": 0,
    }
    for account_id, days in await ctx.db.read(store.account_retention):
        cutoff = now - days * SECONDS_PER_DAY
        counts["events"] += await _purge_events(ctx, account_id, cutoff, batch)
        file_names = await _purge_exports(ctx, account_id, cutoff, now, batch)
        counts["exports"] += len(file_names)
        counts["export_files"] += await asyncio.to_thread(
            _remove_export_files, ctx.settings.data_dir / EXPORTS_DIR, [n for n in file_names if n]
        )
        # The live stream's change log and the refused requests it shows age like events.
        counts["changes"] += await _purge_batches(
            ctx, delete_expired_changes, account_id, cutoff, batch
        )
        counts["rejected_requests"] += await _purge_batches(
            ctx, delete_expired_rejected, account_id, cutoff, batch
        )
        counts["bulk_retries"] += await _purge_batches(
            ctx, delete_expired_jobs, account_id, cutoff, batch
        )
    # Dashboard sessions past their lifetime, and the admin keys made for them.
    counts["web_sessions"] = await ctx.db.write(end_expired_sessions, now)
    # Custom-domain claims nobody verified in time (domain/domains.py says why they expire).
    counts["domain_claims"] = await domains.delete_expired_claims(ctx, batch)

    counts["export_files"] += await _sweep_orphan_export_files(ctx)
    counts["pages_released"] = await _release_pages(ctx)
    if counts["events"] or counts["exports"] or counts["domain_claims"]:
        log.info("retention: %s", counts)
    return counts


async def _purge_events(ctx: Context, account_id: str, cutoff: float, batch: int) -> int:
    deleted = 0
    while True:
        # One write per batch: other writes queued meanwhile run between two batches.
        count = await ctx.db.write(store.delete_expired_events, account_id, cutoff, batch)
        deleted += count
        if count < batch:
            return deleted


async def _purge_batches(ctx: Context, delete, account_id: str, cutoff: float, batch: int) -> int:
    deleted = 0
    while True:
        count = await ctx.db.write(delete, account_id, cutoff, batch)
        deleted += count
        if count < batch:
            return deleted


async def _purge_exports(
    ctx: Context, account_id: str, cutoff: float, now: float, batch: int
) -> list[str | None]:
    """Delete the account's expired export jobs; the file name of each (None: it had none)."""
    file_names: list[str | None] = []
    while True:
        # Rows first, files after: a crash in between leaves a stray file, never a job
        # whose download points at a file that is gone.
        names = await ctx.db.write(store.delete_expired_exports, account_id, cutoff, now, batch)
        file_names.extend(names)
        if len(names) < batch:
            return file_names


def _remove_export_files(folder: Path, file_names: Iterable[str]) -> int:
    removed = 0
    for name in file_names:
        # The name comes from our own exporter, but a path must never leave the folder.
        if name in (".", "..") or Path(name).name != name:
            log.warning("retention: skipping export file with unexpected name %r", name)
            continue
        try:
            (folder / name).unlink()
        except FileNotFoundError:
            continue
        except OSError as exc:
            log.warning("retention: cannot remove export file %s: %s", name, exc)
            continue
        removed += 1
    return removed


async def _sweep_orphan_export_files(ctx: Context) -> int:
    """Delete export files whose job is gone (its account was deleted, taking the rows with it)."""
    folder = ctx.settings.data_dir / EXPORTS_DIR
    # Listed before the ids are read: a job created in between is in the ids, so its new file
    # is never taken for an orphan.
    names = await asyncio.to_thread(_export_file_names, folder)
    if not names:
        return 0
    known = await ctx.db.read(store.export_ids)
    # Files are named <export id>.<format>[.part] by the exporter.
    orphans = [name for name in names if name.split(".", 1)[0] not in known]
    removed = await asyncio.to_thread(_remove_export_files, folder, orphans)
    if removed:
        log.info("retention: removed %d export file(s) of deleted exports", removed)
    return removed


def _export_file_names(folder: Path) -> list[str]:
    try:
        return [entry.name for entry in folder.iterdir() if entry.is_file()]
    except FileNotFoundError:
        return []


async def _release_pages(ctx: Context) -> int:
    released = 0
    while True:
        count = await ctx.db.write(store.release_free_pages, PAGES_PER_WRITE)
        released += count
        if count < PAGES_PER_WRITE:
            return released


class RetentionTask:
    """Runs ``purge_once`` every ``interval_seconds`` until stopped."""

    def __init__(self, ctx: Context, interval_seconds: float) -> None:
        self._ctx = ctx
        self._interval = interval_seconds
        self._stopping = asyncio.Event()
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="gethook-retention")

    async def stop(self) -> None:
        """Stop at once: a pass cut short leaves nothing half done (each batch commits alone)."""
        self._stopping.set()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _run(self) -> None:
        # The first pass comes one interval after start: a restart loop does not purge each
        # time, and start-up stays quick.
        while not await self._stopped_within(self._interval):
            try:
                await purge_once(self._ctx)
            except StorageError as exc:
                log.error("retention pass failed: %s", exc)
            except Exception:
                log.exception("retention pass failed")

    async def _stopped_within(self, seconds: float) -> bool:
        try:
            async with asyncio.timeout(seconds):
                await self._stopping.wait()
        except TimeoutError:
            return False
        return True


async def start(ctx: Context) -> RetentionTask:
    """Start the task for the app's lifetime; the app's lifespan stops it."""
    task = RetentionTask(ctx, ctx.settings.retention.interval_seconds)
    task.start()
    return task
