"""What the job workers (exports, bulk retries) share: one task for the app's lifetime that
works in passes, woken at once by a new job and otherwise looking every ``poll_seconds``.

A subclass says what a pass does (``run_once``), what a start does first (``prepare``), how the
worker is reached from the context (``_register``), and how long to rest after a busy pass.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from gethook_lite.context import Context
from gethook_lite.db import StorageError

__all__ = ["JobWorker"]

log = logging.getLogger(__name__)


class JobWorker:
    """A background loop over ``run_once``, with wake/stop; subclasses fill in the work."""

    # What the log calls it, and its task's name.
    name = "job worker"
    task_name = "gethook-jobs"

    def __init__(self, ctx: Context, *, poll_seconds: float) -> None:
        self._ctx = ctx
        self._poll_seconds = poll_seconds
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task | None = None

    async def start(self) -> None:
        await self.prepare()
        self._register(self)
        self._task = asyncio.create_task(self._loop(), name=self.task_name)

    async def prepare(self) -> None:
        """What a start does before the loop (tests then drive the worker with ``run_once``)."""

    def _register(self, worker: JobWorker | None) -> None:
        """Make the worker reachable (or not, with None) for whoever creates jobs."""

    def wake(self) -> None:
        """Look for work now (a job was just created)."""
        self._wakeup.set()

    async def stop(self) -> None:
        # A job cut short stays `running` in the database and resumes at the next start.
        self._register(None)
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def run_once(self) -> int:
        """One pass over the jobs; what it returns is given to ``_rest_after``."""
        raise NotImplementedError

    def _rest_after(self, result: int | None) -> float | None:
        """Seconds to rest after a pass that returned ``result`` (None: it failed), a rest a
        wake() does not cut short; None to wait for a wake() or the next poll instead."""
        return None

    async def _loop(self) -> None:
        while True:
            # Cleared before the work, so a wake() during it is not lost.
            self._wakeup.clear()
            result: int | None = None
            try:
                result = await self.run_once()
            except StorageError as exc:
                log.warning("%s: database unavailable, retrying later: %s", self.name, exc)
            except Exception:
                log.exception("%s failed; retrying later", self.name)
            rest = self._rest_after(result)
            if rest is not None:
                await asyncio.sleep(rest)
            else:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), self._poll_seconds)
