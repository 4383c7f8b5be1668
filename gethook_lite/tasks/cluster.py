"""Several ``gethook serve`` processes on one PostgreSQL database: what each process hears
from the others, and which one of them runs the once-per-cluster work.

Each process keeps one dedicated connection (``ClusterMember``) with two roles
(docs/design/postgresql.md §6.3-§6.5):

- It LISTENs on the channels that the schema's statement triggers notify at commit:
  ``gethook_work`` (deliveries inserted) wakes the scheduler, ``gethook_changes`` (change-log
  rows) pokes the live feed, ``gethook_cache`` (sources, routes, destinations or custom
  domains changed; the payload names the table) drops the caches read from that table, and
  ``gethook_jobs`` (a bulk retry job created, migration 0019) wakes the bulk retry worker.
  What was notified while the connection was down is lost, so every (re)connect forgets every
  cache, pokes the feed and wakes the scheduler.
- It tries ``pg_try_advisory_lock(LEADER_LOCK_KEY)`` on connecting and every
  ``retry_seconds``. The holder is the leader: it runs the leader tasks (retention, header
  sealing, the bulk retry worker) and ``ctx.is_leader`` tells delivery control's tick and
  the backup task to act. The lock lives with the session: a process whose connection breaks
  stops leading before it reconnects, and another one takes the lock at its next try.

An AsyncConnection rather than a thread with the sync ``notifies(timeout=)``: everything the
connection triggers (``GenerationCache.forget``, the feed's and the scheduler's events,
starting and stopping tasks) belongs to the event loop, which the async connection waits in,
so nothing crosses threads and stopping is a task cancel. One connection for both roles: the
wait for notifications fails as soon as the server drops the session, which is exactly when
the leader lock is lost.

On SQLite there is one process, and ``SingleProcess`` runs the leader tasks from start to stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Protocol

from gethook_lite.context import Context
from gethook_lite.db.connection import SQLITE

if TYPE_CHECKING:
    import psycopg

__all__ = [
    "CHANNELS",
    "LEADER_LOCK_KEY",
    "ClusterMember",
    "LeaderTask",
    "SingleProcess",
    "start",
]

log = logging.getLogger(__name__)

# The session advisory lock whose holder leads ("leader" in ASCII, as a bigint; the migration
# runner's lock is "gethook").
LEADER_LOCK_KEY = 0x6C_6561_6465_72
CHANNELS = ("gethook_work", "gethook_changes", "gethook_cache", "gethook_jobs")
# How often a process that does not lead tries the lock (so the longest a cluster goes
# without a leader after one dies), and how often a leader's connection is checked when no
# notification comes.
LEADER_RETRY_SECONDS = 3.0
# Reconnecting after a failure: the first wait, doubled up to the last.
RECONNECT_FIRST_SECONDS = 0.1
RECONNECT_MAX_SECONDS = 5.0
_CONNECT_TIMEOUT_SECONDS = 5
# Tries of the lock a process whose session (and lead) broke leaves to the others.
_STEP_BACK_TRIES = 2


class Stoppable(Protocol):
    async def stop(self) -> None: ...


# A task only the leader runs: ``start(ctx)`` of a tasks module (None when nothing stays running).
LeaderTask = Callable[[Context], Awaitable[Stoppable | None]]


async def start(ctx: Context, leader_tasks: Sequence[LeaderTask]) -> SingleProcess | ClusterMember:
    """Run ``leader_tasks`` in the one process (SQLite) or while this process leads (PostgreSQL)."""
    member: SingleProcess | ClusterMember
    if ctx.db.dialect == SQLITE:
        member = SingleProcess(ctx, leader_tasks)
    else:
        member = ClusterMember(
            ctx, leader_tasks, url=ctx.db.url, retry_seconds=LEADER_RETRY_SECONDS
        )
    ctx.cluster = member
    await member.start()
    return member


class _LeaderTasks:
    """The leader tasks' lifetimes: started together, stopped in reverse order."""

    def __init__(self, ctx: Context, tasks: Sequence[LeaderTask]) -> None:
        self._ctx = ctx
        self._tasks = tasks
        self._running: list[Stoppable] = []

    async def start(self) -> None:
        for start_task in self._tasks:
            task = await start_task(self._ctx)
            if task is not None:
                self._running.append(task)

    async def stop(self) -> None:
        while self._running:
            task = self._running.pop()
            try:
                await task.stop()
            except Exception:
                log.exception("a leader task failed to stop")


class SingleProcess:
    """SQLite: the one process leads for its whole life."""

    def __init__(self, ctx: Context, leader_tasks: Sequence[LeaderTask]) -> None:
        self._tasks = _LeaderTasks(ctx, leader_tasks)

    async def start(self) -> None:
        await self._tasks.start()

    async def stop(self) -> None:
        await self._tasks.stop()


class ClusterMember:
    """PostgreSQL: listens for the other processes' commits and leads when it holds the lock."""

    def __init__(
        self,
        ctx: Context,
        leader_tasks: Sequence[LeaderTask],
        *,
        url: str,
        retry_seconds: float = LEADER_RETRY_SECONDS,
        reconnect_max_seconds: float = RECONNECT_MAX_SECONDS,
    ) -> None:
        self._ctx = ctx
        self._url = url
        self._leader_tasks = _LeaderTasks(ctx, leader_tasks)
        self._retry_seconds = retry_seconds
        self._reconnect_max = reconnect_max_seconds
        self._task: asyncio.Task | None = None
        # Set once the first session is listening.
        self.listening = asyncio.Event()
        # Set once the first session has tried the leader lock (or could not connect): a
        # process starts knowing whether it leads, so the leader's tasks are running (or not)
        # before the first request, not some moment after it.
        self.settled = asyncio.Event()
        # After the lead was lost with a session, the next session leaves the lock to the
        # others for a few of their tries, so a healthy process takes over rather than the
        # one whose connection broke (it keeps listening meanwhile).
        self._tries_to_skip = 0

    @property
    def is_leader(self) -> bool:
        return self._ctx.is_leader

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="gethook-cluster")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.settled.wait(), _CONNECT_TIMEOUT_SECONDS + 1)

    async def stop(self) -> None:
        if self._ctx.cluster is self:
            self._ctx.cluster = None
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        await self._stop_leading()

    async def _run(self) -> None:
        import psycopg

        wait = RECONNECT_FIRST_SECONDS
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    self._url,
                    autocommit=True,
                    application_name="gethook cluster",
                    connect_timeout=_CONNECT_TIMEOUT_SECONDS,
                ) as conn:
                    wait = RECONNECT_FIRST_SECONDS
                    await self._session(conn)
            except (psycopg.Error, OSError) as exc:
                log.warning("cluster connection lost (%s); reconnecting in %.1f s", exc, wait)
            except Exception:
                # Never let the listener die quietly: this process would stop hearing others.
                log.exception("cluster connection failed; reconnecting in %.1f s", wait)
            self.settled.set()  # not connected: start without waiting for it
            # The lock went with the session: another process may lead from now on.
            self._tries_to_skip = _STEP_BACK_TRIES if self._ctx.is_leader else 0
            await self._stop_leading()
            await asyncio.sleep(wait)
            wait = min(wait * 2, self._reconnect_max)

    async def _session(self, conn: psycopg.AsyncConnection) -> None:
        for channel in CHANNELS:
            await conn.execute(f"LISTEN {channel}")
        self._caught_up()
        self.listening.set()
        while True:
            if self._tries_to_skip:
                self._tries_to_skip -= 1
            elif not self._ctx.is_leader:
                if await self._try_lock(conn):
                    await self._start_leading()
            else:
                # Notices a session dropped while no notification came.
                await conn.execute("SELECT 1")
            self.settled.set()
            async for notify in conn.notifies(timeout=self._retry_seconds):
                self._heard(notify.channel, notify.payload)

    async def _try_lock(self, conn: psycopg.AsyncConnection) -> bool:
        cursor = await conn.execute("SELECT pg_try_advisory_lock(%s)", (LEADER_LOCK_KEY,))
        row = await cursor.fetchone()
        return bool(row and row[0])

    def _caught_up(self) -> None:
        """What was notified while not listening is lost: act as if everything changed."""
        self._ctx.forget_cached()
        self._ctx.changes_committed()
        self._wake_scheduler()
        self._wake_bulk_retries()

    def _heard(self, channel: str, payload: str) -> None:
        if channel == "gethook_work":
            self._wake_scheduler()
        elif channel == "gethook_changes":
            self._ctx.changes_committed()
        elif channel == "gethook_cache":
            self._ctx.forget_cached(payload)
        elif channel == "gethook_jobs":
            self._wake_bulk_retries()

    def _wake_scheduler(self) -> None:
        if self._ctx.scheduler is not None:
            self._ctx.scheduler.wake()

    def _wake_bulk_retries(self) -> None:
        if self._ctx.bulk_retry_worker is not None:
            self._ctx.bulk_retry_worker.wake()

    async def _start_leading(self) -> None:
        log.info("this process now leads the cluster (retention, bulk retries, delivery control)")
        self._ctx.is_leader = True
        await self._leader_tasks.start()

    async def _stop_leading(self) -> None:
        if self._ctx.is_leader:
            log.info("this process no longer leads the cluster")
        self._ctx.is_leader = False
        await self._leader_tasks.stop()
