"""The pacing fields of a destination (``rate_limit``, ``max_concurrency``, ``ordering``) and of
a route (``ordering``): what is valid (400 naming the field), how they are stored and shown.
The scheduler applies them (``gethook_lite.delivery.pacing``)."""

from __future__ import annotations

from typing import Any

from gethook_lite.context import Context
from gethook_lite.db.pacing import blocking_deliveries
from gethook_lite.errors import BadRequest

__all__ = [
    "ORDERINGS",
    "RATE_LIMIT_MAX",
    "fifo_blockers",
    "pacing_changes",
    "present_rate_limit",
    "validate_ordering",
]

ORDERINGS = ("none", "fifo")
# Seconds per period, and the largest count accepted for it.
_PERIODS = {"per_second": 1, "per_minute": 60}
RATE_LIMIT_MAX = {"per_second": 10_000, "per_minute": 600_000}
_FIELDS = ("rate_limit", "max_concurrency", "ordering")


def validate_rate_limit(value: Any) -> tuple[int | None, int | None]:
    """``{"per_second": N}`` or ``{"per_minute": N}`` as stored (count, period), or no limit."""
    if value is None:
        return None, None
    if not isinstance(value, dict) or len(value) != 1 or next(iter(value)) not in _PERIODS:
        raise BadRequest('rate_limit: must be null, {"per_second": N} or {"per_minute": N}')
    [(unit, count)] = value.items()
    high = RATE_LIMIT_MAX[unit]
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= high:
        raise BadRequest(f"rate_limit.{unit}: must be a whole number between 1 and {high}")
    return count, _PERIODS[unit]


def validate_max_concurrency(value: Any, cap: int) -> int | None:
    """Attempts in flight to the destination at most; None: only the global per-destination cap."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= cap:
        raise BadRequest(
            f"max_concurrency: must be null or between 1 and {cap}"
            " (delivery.per_destination_concurrency)"
        )
    return value


def validate_ordering(value: Any) -> str:
    if value is None:
        return "none"
    if value not in ORDERINGS:
        raise BadRequest(f"ordering: must be one of {', '.join(ORDERINGS)}")
    return str(value)


def pacing_changes(fields: dict[str, Any], cap: int) -> dict[str, Any]:
    """The columns for the pacing fields present in ``fields`` (a create or a PATCH)."""
    changes: dict[str, Any] = {}
    if "rate_limit" in fields:
        count, period = validate_rate_limit(fields["rate_limit"])
        changes["rate_limit_count"] = count
        changes["rate_limit_period"] = period
    if "max_concurrency" in fields:
        changes["max_concurrency"] = validate_max_concurrency(fields["max_concurrency"], cap)
    if "ordering" in fields:
        changes["ordering"] = validate_ordering(fields["ordering"])
    return changes


def present_rate_limit(destination: dict) -> dict[str, int] | None:
    """The stored rate limit in its API shape."""
    count = destination.get("rate_limit_count")
    if count is None:
        return None
    unit = "per_second" if destination.get("rate_limit_period") == 1 else "per_minute"
    return {unit: count}


async def fifo_blockers(ctx: Context, event_id: str) -> list[dict[str, str]]:
    """The event's deliveries waiting behind another event's in a FIFO queue: how a user sees
    why a delivery due long ago has not gone (its next_attempt_at is when it may go at the
    earliest, once the blocking delivery is done)."""
    found = await ctx.db.read(blocking_deliveries, event_id)
    return [{"destination_id": destination, "event_id": blocker} for destination, blocker in found]
