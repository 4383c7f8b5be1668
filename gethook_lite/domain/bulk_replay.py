"""Replay many events at once: every event matching a set of list filters (for example the dead
letters of one destination in a time range), each through the same ``replay_event`` as one."""

from __future__ import annotations

from dataclasses import dataclass

import msgspec

from gethook_lite.constants import BULK_REPLAY_MAX_EVENTS
from gethook_lite.context import Context
from gethook_lite.domain.accounts import Caller
from gethook_lite.domain.events import EventFilters, list_events, replay_event
from gethook_lite.errors import BadRequest, NotFound

__all__ = ["BulkReplay", "replay_matching"]

_PAGE = 200


@dataclass(frozen=True, slots=True)
class BulkReplay:
    """What a bulk replay did: how many were replayed, and whether more matched than the cap."""

    replayed: int
    more_left: bool


async def replay_matching(
    ctx: Context,
    caller: Caller,
    direction: str,
    filters: EventFilters,
    limit: int = BULK_REPLAY_MAX_EVENTS,
) -> BulkReplay:
    """Replay the matching events, newest first, at most ``limit`` of them.

    Pages by id so that the replays (new, newer events) are never picked up by the same run,
    and an original that stops matching once replayed does not shift the pages.
    """
    caller.require_write()
    if not 1 <= limit <= BULK_REPLAY_MAX_EVENTS:
        raise BadRequest(f"limit: must be between 1 and {BULK_REPLAY_MAX_EVENTS}")
    page_filters = filters
    replayed = 0
    while replayed < limit:
        items, _ = await list_events(
            ctx, caller, direction, page_filters, min(_PAGE, limit - replayed), 0, count=False
        )
        if not items:
            return BulkReplay(replayed, more_left=False)
        if page_filters.before is None:
            # Fix the upper end at the newest match, before any replay of this run exists.
            page_filters = msgspec.structs.replace(page_filters, before=_just_after(items[0]["id"]))
        for event in items:
            try:
                await replay_event(ctx, caller, direction, event["id"])
            except NotFound:  # deleted by retention meanwhile
                continue
            replayed += 1
        page_filters = msgspec.structs.replace(page_filters, before=items[-1]["id"])
    items, _ = await list_events(ctx, caller, direction, page_filters, 1, 0, count=False)
    return BulkReplay(replayed, more_left=bool(items))


def _just_after(event_id: str) -> str:
    # Ids are compared as strings; appending a character sorts right after this id.
    return event_id + "~"
