"""Stats: an account's events over a window of days, and the instance's public figures.

Definitions (the contract leaves them open):

- The window is the last ``days`` UTC days ending today (by ``ctx.clock``), oldest first.
  Every figure counts the account's events *received* in the window, each by its current
  state: ``by_status`` (every status, zeros included, lifecycle order), ``daily`` and
  ``totals`` cover the same events, so ``totals.total`` is the sum of ``by_status`` and of
  ``daily`` inbound + outbound.
- ``delivered`` counts events whose final state is ``delivered``; ``failed`` those whose final
  state is ``dead_letter`` (a replayed event keeps its final state, so it still counts).
- Platform stats are instance-wide counters that only grow (retention deletes events, not what
  the instance processed). ``success_rate_pct`` is the share of finished events that were
  delivered rather than dead-lettered, in percent with two decimals (0.0 before any finished).
"""

from __future__ import annotations

from datetime import date, timedelta

from gethook_lite.context import Context
from gethook_lite.db import stats as store
from gethook_lite.domain.accounts import Caller
from gethook_lite.domain.events import EVENT_STATUSES
from gethook_lite.errors import NotFound

__all__ = ["DEFAULT_DAYS", "MAX_DAYS", "account_stats", "platform_stats", "summarise_tallies"]

DEFAULT_DAYS = 30
MAX_DAYS = 365
_SECONDS_PER_DAY = 86_400
_EPOCH = date(1970, 1, 1)


async def account_stats(ctx: Context, caller: Caller, days: int) -> dict:
    """Stats of the caller's account over the last ``days`` UTC days (today included)."""
    today = int(ctx.clock.now() // _SECONDS_PER_DAY)
    first_day = today - days + 1
    tallies = await ctx.db.read(store.tallies_between, caller.account_id, first_day, today)
    return summarise_tallies(tallies, first_day, today)


def summarise_tallies(tallies: list[dict], first_day: int, last_day: int) -> dict:
    """The Stats shape from tally rows (day, direction, status, final_state, n); pure."""
    by_status = dict.fromkeys(EVENT_STATUSES, 0)
    daily = {
        day: {"inbound": 0, "outbound": 0, "delivered": 0, "failed": 0}
        for day in range(first_day, last_day + 1)
    }
    for tally in tallies:
        count, bucket = tally["n"], daily.get(tally["day"])
        if bucket is None:  # outside the window: the query should not return it
            continue
        by_status[tally["status"]] = by_status.get(tally["status"], 0) + count
        bucket[tally["direction"]] += count
        if tally["final_state"] == "delivered":
            bucket["delivered"] += count
        elif tally["final_state"] == "dead_letter":
            bucket["failed"] += count
    return {
        "by_status": [{"status": status, "count": count} for status, count in by_status.items()],
        "daily": [{"date": _day_to_date(day), **counts} for day, counts in daily.items()],
        "totals": {
            "total": sum(by_status.values()),
            "delivered": sum(counts["delivered"] for counts in daily.values()),
            "failed": sum(counts["failed"] for counts in daily.values()),
        },
    }


def _day_to_date(day: int) -> str:
    return (_EPOCH + timedelta(days=day)).isoformat()


async def platform_stats(ctx: Context) -> dict:
    """Instance-wide figures for a public landing page; 404 when the operator turned them off."""
    if not ctx.settings.server.platform_stats:
        raise NotFound("platform stats are disabled on this instance")
    counters = await ctx.db.read(store.read_counters)
    delivered, dead = counters["events_delivered"], counters["events_dead_lettered"]
    finished = delivered + dead
    return {
        "events_processed": counters["events_processed"],
        "events_delivered": delivered,
        "delivery_attempts": counters["delivery_attempts"],
        "success_rate_pct": round(100 * delivered / finished, 2) if finished else 0.0,
    }
