"""Background work beside the delivery engine: export and bulk retry jobs, retention, scheduled
backups.

Each module exposes ``async def start(ctx) -> Task | None``; the app's lifespan starts them
after the scheduler and stops them, in reverse order, before the database closes. Some run
once per cluster (tasks/cluster.py): every process on SQLite (there is one), only the leader on
PostgreSQL, started when it takes the lead and stopped when it loses it.
"""

from __future__ import annotations

from typing import Protocol

from gethook_lite.context import Context
from gethook_lite.tasks import (
    backups,
    bulk_retries,
    cluster,
    exports,
    header_sealing,
    live_feed,
    retention,
)

__all__ = ["BackgroundTask", "start_background_tasks"]


class BackgroundTask(Protocol):
    async def stop(self) -> None: ...


# Once per cluster. The backup task runs in every process and checks ctx.is_leader itself.
_LEADER_TASKS: tuple[cluster.LeaderTask, ...] = (
    header_sealing.start,
    bulk_retries.start,
    retention.start,
)


async def start_background_tasks(ctx: Context) -> list[BackgroundTask]:
    started: list[BackgroundTask] = [await live_feed.start(ctx)]
    # Before the rest: on PostgreSQL its connection hears the other processes' commits.
    started.append(await cluster.start(ctx, _LEADER_TASKS))
    for module in (exports, backups):
        task = await module.start(ctx)
        if task is not None:
            started.append(task)
    return started
