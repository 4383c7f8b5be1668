"""Background task: the export worker writes export files and deletes expired ones.

At most ``exports.worker_concurrency`` jobs at a time, never two of one account, so the load
on the database and the disk stays bounded. Accounts are served in turn (the account served
least recently first, then the oldest job), and running jobs advance a page each in turn, so
a small export is not held behind another account's large ones. A new job wakes the worker at
once (``wake``, reached through ``ctx.export_worker``); it also looks every
``EXPORT_POLL_SECONDS`` for jobs it missed and for files past their time to live.

A job reads its events in keyset pages (one short read each) and formats and appends each
page in a thread, so the event loop keeps serving requests and memory stays that of one page
whatever the number of events. The file is written as ``<name>.part`` and renamed once
complete, so a download never sees half a file. A running job is leased to this process and
the lease renewed as pages are written: a job left ``running`` by a process that died goes back
in the queue once its lease runs out (at the next start on SQLite, whose one process owns the
data directory) and is written again from scratch; several processes sharing a PostgreSQL
database never take each other's live jobs. A job fails, and its partial
file is deleted, once it would take the account past ``exports.max_stored_bytes_per_account``
or the disk below ``exports.min_free_disk_bytes``.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import logging
import os
import shutil
from collections.abc import Callable
from pathlib import Path

from gethook_lite.constants import PRIVATE_FILE_MODE
from gethook_lite.context import Context
from gethook_lite.db import StorageError
from gethook_lite.db import exports as store
from gethook_lite.db.deliveries import lease_owner
from gethook_lite.domain.exports import (
    ExportLimitReached,
    ExportPlan,
    export_file_name,
    exports_dir,
    file_header,
    format_page,
    plan_export,
)
from gethook_lite.private_files import make_private_dir, tighten
from gethook_lite.tasks.job_worker import JobWorker

__all__ = [
    "EXPORT_PAGE_BODY_BYTES",
    "EXPORT_PAGE_EVENTS",
    "EXPORT_POLL_SECONDS",
    "ExportWorker",
    "start",
]

log = logging.getLogger(__name__)

# Longest the worker sleeps without looking for jobs and expired files (new jobs wake it).
EXPORT_POLL_SECONDS = 30.0
# Events per page: one read transaction of a few milliseconds, one thread hop to write.
EXPORT_PAGE_EVENTS = 500
# A page also stops once its bodies reach this size, so large bodies do not make pages huge.
EXPORT_PAGE_BODY_BYTES = 8 * 1024 * 1024
_SECONDS_PER_HOUR = 3600
# A running job's lease: renewed once a quarter of it has passed (a page takes milliseconds),
# so a live job is never taken back; a dead process's job waits at most this long.
EXPORT_LEASE_SECONDS = 120.0
_LEASE_RENEW_AFTER = EXPORT_LEASE_SECONDS / 4


class LeaseLost(Exception):
    """This process no longer holds the job (its lease ran out while it hung): stop writing."""


async def start(ctx: Context) -> ExportWorker:
    """Start the export worker for the app's lifetime."""
    worker = ExportWorker(ctx)
    await worker.start()
    return worker


class ExportWorker(JobWorker):
    """Runs queued export jobs and deletes expired export files."""

    name = "export worker"
    task_name = "gethook-exports"

    def __init__(
        self,
        ctx: Context,
        *,
        poll_seconds: float = EXPORT_POLL_SECONDS,
        page_events: int = EXPORT_PAGE_EVENTS,
        page_body_bytes: int = EXPORT_PAGE_BODY_BYTES,
        disk_free: Callable[[Path], int] | None = None,
    ) -> None:
        super().__init__(ctx, poll_seconds=poll_seconds)
        self._limits = ctx.settings.exports
        # Free bytes on the disk holding a path: a seam, so tests can fill the disk.
        self._disk_free = disk_free or _disk_free
        # When each account was last served (a running count): the least recent goes first.
        self._served: dict[str, int] = {}
        self._turns = itertools.count()
        self._page_events = page_events
        self._page_body_bytes = page_body_bytes
        self._directory = exports_dir(ctx.settings)
        # On PostgreSQL the data directory's member name, as the scheduler's leases (app.py).
        self._owner = ctx.lease_owner or lease_owner()

    async def prepare(self) -> None:
        """Requeue the jobs a dead process left running and make the directory."""
        requeued = await self._ctx.db.write(
            store.requeue_interrupted, self._ctx.clock.now(), self._owner
        )
        if requeued:
            log.info("resuming %d export job(s) interrupted by a restart", requeued)
        await asyncio.to_thread(_prepare_directory, self._directory)

    def _register(self, worker: JobWorker | None) -> None:
        if worker is not None:
            self._ctx.export_worker = self
        elif self._ctx.export_worker is self:
            self._ctx.export_worker = None

    async def run_once(self) -> int:
        """Delete expired files, then run every queued job; return how many jobs ran."""
        await self._delete_expired_files()
        requeued = await self._ctx.db.write(store.requeue_expired, self._ctx.clock.now())
        if requeued:
            log.warning("requeued %d export job(s) whose process stopped renewing them", requeued)
        ran = 0
        running: dict[asyncio.Task, str] = {}  # task -> account
        try:
            while True:
                while len(running) < self._limits.worker_concurrency:
                    job = await self.claim_next(exclude=set(running.values()))
                    if job is None:
                        break
                    task = asyncio.create_task(self._run_job(job), name=f"export-{job['id']}")
                    running[task] = job["account_id"]
                if not running:
                    return ran
                done, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    del running[task]
                    ran += 1
                    if (error := task.exception()) is not None:
                        # _run_job records a job's own failures; this is the recording failing
                        # (database down): the job stays `running` until the next start.
                        log.error("export worker: a job could not be recorded: %r", error)
        finally:
            # Cancelled (the app stops): jobs cut short stay `running` and resume at next start.
            for task in running:
                task.cancel()
            await asyncio.gather(*running, return_exceptions=True)

    async def claim_next(self, exclude: set[str] | frozenset[str] = frozenset()) -> dict | None:
        """Claim the next job fairly: of the accounts not in ``exclude`` with a pending job,
        the one served least recently (never served first), then the oldest job."""
        while True:
            heads = await self._ctx.db.read(store.pending_heads)
            candidates = [job for job in heads if job["account_id"] not in exclude]
            if not candidates:
                return None
            head = min(candidates, key=lambda j: (self._served.get(j["account_id"], -1), j["id"]))
            lease = self._ctx.clock.now() + EXPORT_LEASE_SECONDS
            job = await self._ctx.db.write(store.claim_export, head["id"], self._owner, lease)
            if job is not None:  # else another claim took it first: look again
                self._served[job["account_id"]] = next(self._turns)
                return job

    async def _run_job(self, job: dict) -> None:
        name = export_file_name(job)
        final, partial = self._directory / name, self._directory / f"{name}.part"
        try:
            usage = await self._ctx.db.read(store.account_usage, job["account_id"])
            budget = self._limits.max_stored_bytes_per_account - usage.stored_bytes
            row_count = await self._write_file(job, plan_export(job), partial, budget)
            size_bytes = await asyncio.to_thread(_publish_file, partial, final)
        except LeaseLost:
            log.warning("export %s: lease lost (another worker runs it now); stopped", job["id"])
            return
        except Exception as exc:
            log.exception("export %s failed", job["id"])
            await asyncio.to_thread(_remove_file, partial)
            await self._ctx.db.write(
                store.fail_export,
                job["id"],
                _describe_failure(exc),
                self._ctx.clock.now(),
                self._owner,
            )
            return
        now = self._ctx.clock.now()
        completion = functools.partial(
            store.complete_export,
            export_id=job["id"],
            file_name=name,
            row_count=row_count,
            size_bytes=size_bytes,
            completed_at=now,
            expires_at=now + self._ctx.settings.exports.ttl_hours * _SECONDS_PER_HOUR,
            owner=self._owner,
        )
        if not await self._ctx.db.write(completion):
            log.warning("export %s: lease lost before completion; not recorded", job["id"])
            return
        log.info("export %s completed: %d events, %d bytes", job["id"], row_count, size_bytes)

    async def _write_file(self, job: dict, plan: ExportPlan, path: Path, budget: int) -> int:
        """Write every matching event to ``path`` page by page; return how many.

        Stops with ExportLimitReached once the file passes ``budget`` bytes (what the account
        may still store) or the disk's free space falls below the floor, and with LeaseLost
        when the job's lease could not be renewed.
        """
        account_id = job["account_id"]
        header = file_header(plan.format)
        await asyncio.to_thread(_write_new_file, path, header)
        after_id, row_count, size = "", 0, len(header)
        renewed_at = self._ctx.clock.now()
        while True:
            self._check_bounds(size, budget)
            if self._ctx.clock.now() - renewed_at >= _LEASE_RENEW_AFTER:
                renewed_at = await self._renew(job["id"])
            events, attempts = await self._ctx.db.read(
                store.export_page,
                account_id,
                plan.directions,
                plan.filters,
                after_id,
                self._page_events,
                self._page_body_bytes,
                plan.include_attempts,
            )
            if not events:
                return row_count
            size += await asyncio.to_thread(_append_page, path, plan, events, attempts)
            row_count += len(events)
            after_id = events[-1]["id"]

    async def _renew(self, export_id: str) -> float:
        """Extend the job's lease; returns when (raises LeaseLost if it is no longer ours)."""
        now = self._ctx.clock.now()
        renew = store.renew_export_lease
        if not await self._ctx.db.write(renew, export_id, self._owner, now + EXPORT_LEASE_SECONDS):
            raise LeaseLost(export_id)
        return now

    def _check_bounds(self, size: int, budget: int) -> None:
        if size > budget:
            raise ExportLimitReached(
                "the export would take the account's finished exports past"
                f" {self._limits.max_stored_bytes_per_account} bytes"
                " (exports.max_stored_bytes_per_account)"
            )
        floor = self._limits.min_free_disk_bytes
        if floor > 0 and self._disk_free(self._directory) < floor:
            raise ExportLimitReached(
                f"the server's disk is nearly full (less than {floor} bytes free,"
                " exports.min_free_disk_bytes); create the export again later"
            )

    async def _delete_expired_files(self) -> None:
        due = await self._ctx.db.read(store.due_for_expiry, self._ctx.clock.now())
        for job in due:
            # The name was built by export_file_name; never let a stored value leave the folder.
            name = Path(job["file_name"]).name
            if await asyncio.to_thread(_remove_file, self._directory / name):
                await self._ctx.db.write(store.forget_file, job["id"])
                log.info("export %s expired: file deleted", job["id"])


# -- file work, run in a thread ----------------------------------------------------------------


def _prepare_directory(directory: Path) -> None:
    """The exports folder, 0700, with files left by older versions made 0600."""
    make_private_dir(directory)
    for path in directory.iterdir():
        tighten(path)


def _write_new_file(path: Path, header: bytes) -> None:
    # The folder is made at start; made again here in case an operator cleaned it away.
    make_private_dir(path.parent)
    # Truncates what a run interrupted by a restart left behind; 0600 like every data file.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE_MODE)
    with os.fdopen(fd, "wb") as file:
        os.fchmod(file.fileno(), PRIVATE_FILE_MODE)
        file.write(header)


def _append_page(path: Path, plan: ExportPlan, events: list[dict], attempts: dict) -> int:
    """Append one formatted page; return its size in bytes."""
    # Opened per page rather than held open: a cancelled job then never leaves a thread
    # writing to a handle the event loop has closed.
    chunk = format_page(plan, events, attempts)
    with path.open("ab") as file:
        file.write(chunk)
    return len(chunk)


def _disk_free(path: Path) -> int:
    return shutil.disk_usage(path).free


def _publish_file(partial: Path, final: Path) -> int:
    """Make the finished file visible under its real name (atomic rename); return its size."""
    with partial.open("rb") as file:
        os.fsync(file.fileno())
    os.replace(partial, final)
    return final.stat().st_size


def _remove_file(path: Path) -> bool:
    """Delete ``path``; True once it is gone (also when it never existed)."""
    try:
        path.unlink(missing_ok=True)
    except OSError as exc:
        # Never fatal: a failed job stays failed, an expired file is retried at the next pass.
        log.warning("could not delete export file %s: %s", path.name, exc)
        return False
    return True


def _describe_failure(exc: Exception) -> str:
    """What the job's `error` tells the user: the cause, never paths or internals."""
    if isinstance(exc, ExportLimitReached):
        return str(exc)
    if isinstance(exc, StorageError):
        return "the database was unavailable while exporting; create the export again"
    if isinstance(exc, OSError):
        reason = exc.strerror or type(exc).__name__
        return f"could not write the export file: {reason}"
    return "internal error while exporting; see the server log"
