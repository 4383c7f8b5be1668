"""Destination health at a glance: success rate, p95 latency and the last error over a day.

Computed from the newest attempts (at most DESTINATION_HEALTH_MAX_ATTEMPTS of them, within
DESTINATION_HEALTH_WINDOW_SECONDS), so the cost is bounded; ``sampled`` says when the cap cut
the window short. Pending and cancelled attempts are not outcomes of a request and are left out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from gethook_lite.constants import (
    DESTINATION_HEALTH_MAX_ATTEMPTS,
    DESTINATION_HEALTH_WINDOW_SECONDS,
)
from gethook_lite.context import Context
from gethook_lite.db import destination_health as store
from gethook_lite.domain.accounts import Caller
from gethook_lite.ids import format_id

__all__ = ["DestinationHealth", "destination_health", "summarise_attempts"]

_NOT_OUTCOMES = frozenset({"pending", "cancelled"})


@dataclass(frozen=True, slots=True)
class DestinationHealth:
    attempts: int
    success_rate_pct: float | None
    p95_latency_ms: int | None
    last_error: str | None
    last_error_at: float | None
    sampled: bool


async def destination_health(ctx: Context, caller: Caller) -> dict[str, DestinationHealth]:
    """Health of each of the caller's destinations that had attempts in the window."""
    since = ctx.clock.now() - DESTINATION_HEALTH_WINDOW_SECONDS
    id_floor = format_id("att", int(since * 1000), 0)
    rows = await ctx.db.read(
        store.recent_attempts,
        caller.account_id,
        id_floor,
        since,
        DESTINATION_HEALTH_MAX_ATTEMPTS,
    )
    return summarise_attempts(rows, sampled=len(rows) >= DESTINATION_HEALTH_MAX_ATTEMPTS)


def summarise_attempts(rows: list[dict], *, sampled: bool = False) -> dict[str, DestinationHealth]:
    """Per destination, from attempt rows given newest first; pure."""
    grouped: dict[str, list[dict]] = {}
    for row in rows:
        if row["outcome"] not in _NOT_OUTCOMES:
            grouped.setdefault(row["destination_id"], []).append(row)
    return {
        destination_id: _health(attempts, sampled) for destination_id, attempts in grouped.items()
    }


def _health(attempts: list[dict], sampled: bool) -> DestinationHealth:
    successes = sum(row["outcome"] == "success" for row in attempts)
    latencies = sorted(row["latency_ms"] for row in attempts if row["latency_ms"] is not None)
    last_error = next((row for row in attempts if row["outcome"] != "success"), None)
    return DestinationHealth(
        attempts=len(attempts),
        success_rate_pct=round(100 * successes / len(attempts), 1),
        p95_latency_ms=_percentile(latencies, 95),
        last_error=_describe(last_error) if last_error else None,
        last_error_at=last_error["started_at"] if last_error else None,
        sampled=sampled,
    )


def _percentile(sorted_values: list[float], pct: int) -> int | None:
    """Nearest-rank percentile of sorted values, in whole milliseconds."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(pct / 100 * len(sorted_values)))
    return round(sorted_values[rank - 1])


def _describe(row: dict) -> str:
    if row["error_message"]:
        return row["error_message"]
    if row["response_status"] is not None:
        return f"HTTP {row['response_status']} ({row['outcome'].replace('_', ' ')})"
    return row["outcome"].replace("_", " ")
