"""Background task: retention (filled in by the retention work)."""

from __future__ import annotations

from gethook_lite.context import Context

__all__ = ["start"]


async def start(ctx: Context):
    """Start the task for the app's lifetime; return an object with async stop()."""
    return None
