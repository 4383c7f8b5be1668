"""Holding the database's writer thread inside a write, to queue others behind it: the group
commit tests of both backends (tests/unit/test_database.py, tests/unit/db/test_database_pg.py)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["WAIT", "Gate", "queued"]

WAIT = 10.0  # seconds a test waits for the writer thread


class Gate:
    """Holds the writer thread inside a write (``insert(conn, name)``) until the test opens it."""

    def __init__(self, insert: Callable[[Any, str], Any]) -> None:
        self._insert = insert
        self.entered = threading.Event()
        self.opened = threading.Event()

    def hold(self, conn, name: str) -> Any:
        result = self._insert(conn, name)
        self.entered.set()
        assert self.opened.wait(WAIT), "the test never opened the gate"
        return result

    async def held(self) -> None:
        assert await asyncio.to_thread(self.entered.wait, WAIT)


async def queued(*coroutines) -> list[asyncio.Task]:
    """Start the calls as tasks and let each reach the database's queue."""
    tasks = [asyncio.ensure_future(c) for c in coroutines]
    await asyncio.sleep(0)
    return tasks
