"""Background task: the bulk retry worker works through bulk retry jobs a page at a time.

Each pass takes every queued or running job, oldest first, and works one page of each
(``domain.bulk_retry.work_page``: replay up to ``bulk_retries.page_size`` events, then record
the cursor and the counts in one write); it then pauses ``bulk_retries.page_pause_seconds``
before the next pass, so a large job is a steady trickle of short writes, never a burst that
holds the writer. A new job wakes the worker at once (``wake``, reached through
``ctx.bulk_retry_worker``); idle, it also looks every ``BULK_RETRY_POLL_SECONDS``.

It does not flood: a job makes more replays only while fewer than
``bulk_retries.max_outstanding`` of its replays are still on their way (queued, retrying,
held by a paused destination). The scheduler then sends them at the destination's own pace
(its concurrency and rate limit); a destination that is down holds the job back, its replays
waiting in the retry queue, until it takes them or they are dead-lettered.

A job left ``running`` by a process that died resumes at its cursor at the next start, its
``done`` recounted from the replays naming it (``db.bulk_retries.resync_done``).

Once per cluster (tasks/cluster.py): with several processes on PostgreSQL only the leader
runs the worker, started when it takes the lead (so the recount runs when no other worker
can be mid-page: the old leader's session, and its uncommitted page, are gone) and stopped
when it loses it. A job created through another process wakes it by NOTIFY (gethook_jobs,
migration 0019).
"""

from __future__ import annotations

import logging

from gethook_lite.context import Context
from gethook_lite.db import StorageError
from gethook_lite.db import bulk_retries as store
from gethook_lite.domain.bulk_retry import work_page
from gethook_lite.tasks.job_worker import JobWorker

__all__ = ["BULK_RETRY_POLL_SECONDS", "BulkRetryWorker", "start"]

log = logging.getLogger(__name__)

# Longest the idle worker sleeps without looking for jobs (a new job wakes it at once).
BULK_RETRY_POLL_SECONDS = 30.0


async def start(ctx: Context) -> BulkRetryWorker:
    """Start the bulk retry worker for the app's lifetime."""
    worker = BulkRetryWorker(ctx)
    await worker.start()
    return worker


class BulkRetryWorker(JobWorker):
    """Works through queued and running bulk retry jobs, a page of each per pass."""

    name = "bulk retry worker"
    task_name = "gethook-bulk-retries"

    def __init__(self, ctx: Context, *, poll_seconds: float = BULK_RETRY_POLL_SECONDS) -> None:
        super().__init__(ctx, poll_seconds=poll_seconds)
        self._limits = ctx.settings.bulk_retries

    async def prepare(self) -> None:
        """Recount the progress of jobs a dead process left running."""
        resumed = await self._ctx.db.write(store.resync_done)
        if resumed:
            log.info("resuming %d bulk retry job(s) interrupted by a restart", resumed)

    def _register(self, worker: JobWorker | None) -> None:
        if worker is not None:
            self._ctx.bulk_retry_worker = self
        elif self._ctx.bulk_retry_worker is self:
            self._ctx.bulk_retry_worker = None

    def _rest_after(self, result: int | None) -> float | None:
        # Jobs left active (or a failed pass): the throttle between pages, which a wake() does
        # not cut short. None left: wait for a new job.
        return None if result == 0 else self._limits.page_pause_seconds

    async def run_once(self) -> int:
        """One pass: a page of every queued or running job; return how many are left active."""
        left = 0
        for job in await self._ctx.db.read(store.active_jobs):
            if job["status"] == "queued":
                if not await self._ctx.db.write(store.start_job, job["id"], self._ctx.clock.now()):
                    continue  # cancelled meanwhile
                job = {**job, "status": "running"}
            if not await self._run_page(job):
                left += 1
        return left

    async def _run_page(self, job: dict) -> bool:
        """Work one page of a running job unless too many of its replays are on their way;
        whether the job ended."""
        outstanding = await self._ctx.db.read(store.outstanding_replays, job["id"])
        room = self._limits.max_outstanding - outstanding
        if room <= 0:
            return False  # the destination has not taken the last ones yet: wait
        try:
            outcome = await work_page(self._ctx, job, min(self._limits.page_size, room))
        except StorageError:
            raise  # the job stays running; the loop retries later
        except Exception:
            log.exception("bulk retry %s failed", job["id"])
            await self._ctx.db.write(
                store.fail_job,
                job["id"],
                "internal error while retrying; see the server log",
                self._ctx.clock.now(),
            )
            return True
        if outcome.ended:
            log.info("bulk retry %s ended", job["id"])
        return outcome.ended
