"""Background work beside the delivery engine: export and bulk retry jobs, retention, scheduled
backups.

Each module exposes ``async def start(ctx) -> Task | None``; the app's lifespan starts them
after the scheduler and stops them, in reverse order, before the database closes.
"""

from __future__ import annotations

from typing import Protocol

from gethook_lite.context import Context
from gethook_lite.tasks import (
    backups,
    bulk_retries,
    exports,
    header_sealing,
    live_feed,
    retention,
)

__all__ = ["BackgroundTask", "start_background_tasks"]


class BackgroundTask(Protocol):
    async def stop(self) -> None: ...


async def start_background_tasks(ctx: Context) -> list[BackgroundTask]:
    started = []
    for module in (live_feed, header_sealing, exports, bulk_retries, retention, backups):
        task = await module.start(ctx)
        if task is not None:
            started.append(task)
    return started
