"""Sink sources (docs/sink.md): scripted answers (response plans) and waiting for events.

A sink source captures every request raw (domain/accept.py does the capture). Its answer is
202 with the usual envelope, unless a response plan scripts it: the Nth captured request
(N from 0) gets ``statuses[min(N, len - 1)]``, after ``delay_ms``, with ``body`` if given.
The plan's position lives in the database only: each capture moves it on by one in a write
that returns the plan (``store.take_plan_answer``), so concurrent requests get consecutive
numbers whichever process (or restart) takes them.

``wait_for_events`` is the long poll behind GET /v1/events/wait: it joins the live change
feed (domain/stream_feed.py) before its first read, then reads again after every change that
may match, so it answers as soon as the commit that completes the count lands. It holds no
database connection while it waits.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from dataclasses import dataclass

import msgspec

from gethook_lite.context import Context
from gethook_lite.db import sink as store
from gethook_lite.db.rows import Row
from gethook_lite.domain.accounts import Caller
from gethook_lite.domain.sources import get_source
from gethook_lite.domain.stream import StreamFilters
from gethook_lite.domain.stream_feed import Subscription
from gethook_lite.errors import BadRequest, Conflict, RequestTimeout, ServiceUnavailable
from gethook_lite.patterns import compile_pattern, validate_event_type_pattern

__all__ = [
    "DEFAULT_STATUS",
    "MAX_WAIT_COUNT",
    "MAX_WAIT_SECONDS",
    "ResponsePlan",
    "ScriptedAnswer",
    "WaitQuery",
    "get_response_plan",
    "next_answer",
    "parse_wait_query",
    "present_plan",
    "reset_response_plan",
    "set_response_plan",
    "wait_for_events",
]

DEFAULT_STATUS = 202
MAX_STATUSES = 100
MAX_DELAY_MS = 60_000
MAX_BODY_CHARS = 64 * 1024
MAX_WAIT_COUNT = 1000
MAX_WAIT_SECONDS = 300.0
# How many events after the cursor one wait looks at, at most (a wait is for tests and CI).
_SCAN_LIMIT = 100_000
# The key of untyped events in a timeout's "arrived" counts (JSON keys are strings).
UNTYPED = "(untyped)"


@dataclass(slots=True)
class ResponsePlan:
    """A sink source's scripted answers and how many it has given (``position``)."""

    statuses: tuple[int, ...]
    delay_ms: int
    body: str | None
    position: int


@dataclass(frozen=True, slots=True)
class ScriptedAnswer:
    """How to answer one captured request: ``number`` counts from 1 (this is the Nth)."""

    status: int
    delay_ms: int
    body: str | None
    number: int


# -- response plans ------------------------------------------------------------------------


def _validated(statuses: list[int] | None, delay_ms: int, body: str | None) -> tuple[int, ...]:
    if statuses is None:
        raise BadRequest("statuses: is required")
    if not 1 <= len(statuses) <= MAX_STATUSES:
        raise BadRequest(f"statuses: must hold 1 to {MAX_STATUSES} HTTP statuses")
    for status in statuses:
        if isinstance(status, bool) or not 100 <= status <= 599:
            raise BadRequest("statuses: each must be an HTTP status from 100 to 599")
    if not 0 <= delay_ms <= MAX_DELAY_MS:
        raise BadRequest(f"delay_ms: must be from 0 to {MAX_DELAY_MS}")
    if body is not None and len(body) > MAX_BODY_CHARS:
        raise BadRequest(f"body: must be at most {MAX_BODY_CHARS} characters")
    return tuple(statuses)


async def set_response_plan(
    ctx: Context,
    caller: Caller,
    source_id: str,
    statuses: list[int] | None,
    delay_ms: int,
    body: str | None,
) -> ResponsePlan:
    """Script a sink source's next answers, starting again from the first status."""
    source = await get_source(ctx, caller, source_id)
    validated = _validated(statuses, delay_ms, body)
    if not source["sink"]:
        raise Conflict("response plans script sink sources only; set the source's sink to true")
    row = {
        "source_id": source_id,
        "account_id": caller.account_id,
        "statuses": json.dumps(validated),
        "delay_ms": delay_ms,
        "body": body,
        "updated_at": ctx.clock.now(),
    }
    await ctx.db.write(store.put_response_plan, row)
    return ResponsePlan(statuses=validated, delay_ms=delay_ms, body=body, position=0)


async def get_response_plan(ctx: Context, caller: Caller, source_id: str) -> ResponsePlan | None:
    """The source's plan as it stands (None: answered the default way)."""
    await get_source(ctx, caller, source_id)
    return await _plan(ctx, source_id)


async def reset_response_plan(ctx: Context, caller: Caller, source_id: str) -> None:
    """Back to the default answer (202 with the usual envelope)."""
    await get_source(ctx, caller, source_id)
    await ctx.db.write(store.delete_response_plan, source_id)


def present_plan(plan: ResponsePlan | None) -> dict:
    """The API shape; with no plan, the default answer it stands for."""
    if plan is None:
        return {
            "statuses": [DEFAULT_STATUS],
            "delay_ms": 0,
            "body": None,
            "position": 0,
            "scripted": False,
        }
    return {
        "statuses": list(plan.statuses),
        "delay_ms": plan.delay_ms,
        "body": plan.body,
        "position": plan.position,
        "scripted": True,
    }


async def _plan(ctx: Context, source_id: str) -> ResponsePlan | None:
    row = await ctx.db.read(store.get_response_plan, source_id)
    return None if row is None else _plan_from(row)


def _plan_from(row: Row) -> ResponsePlan:
    return ResponsePlan(
        statuses=tuple(json.loads(row["statuses"])),
        delay_ms=row["delay_ms"],
        body=row["body"],
        position=row["position"],
    )


async def next_answer(ctx: Context, source_id: str) -> ScriptedAnswer | None:
    """The scripted answer of the sink's next captured request (None: the default answer),
    moving its plan on by one."""
    row = await ctx.db.write(store.take_plan_answer, source_id)
    if row is None:
        return None
    plan = _plan_from(row)  # position: this answer's number, counted from 1
    status = plan.statuses[min(plan.position - 1, len(plan.statuses) - 1)]
    return ScriptedAnswer(status, plan.delay_ms, plan.body, plan.position)


# -- waiting -------------------------------------------------------------------------------


class WaitQuery(msgspec.Struct, frozen=True, kw_only=True):
    """GET /v1/events/wait's validated parameters."""

    count: int
    source_id: str | None
    event_type: str | None  # a glob, as route patterns
    after: str | None  # an event id: only events after it
    timeout: float


def parse_wait_query(
    count: int, source_id: str | None, event_type: str | None, after: str | None, timeout: float
) -> WaitQuery:
    """Validate a wait; 400 naming the parameter."""
    if not 1 <= count <= MAX_WAIT_COUNT:
        raise BadRequest(f"count: must be from 1 to {MAX_WAIT_COUNT}")
    if not 0 <= timeout <= MAX_WAIT_SECONDS:
        raise BadRequest(f"timeout: must be from 0 to {MAX_WAIT_SECONDS:g} seconds")
    try:
        pattern = validate_event_type_pattern(event_type)
    except ValueError as exc:
        raise BadRequest(f"event_type: {str(exc).removeprefix('event_type_pattern ')}") from None
    if after is not None and not after.startswith("evt_"):
        raise BadRequest("after: must be an event id (evt_…)")
    return WaitQuery(
        count=count, source_id=source_id, event_type=pattern, after=after, timeout=timeout
    )


@dataclass(slots=True)
class _Progress:
    """What a wait has seen so far: it reads each event once, however many changes wake it."""

    scanned_to: str | None
    matched: list[str]
    arrived: Counter[str]


async def wait_for_events(ctx: Context, caller: Caller, query: WaitQuery) -> list[dict]:
    """At least ``query.count`` matching events (oldest first, at most MAX_WAIT_COUNT), as
    soon as they are committed; RequestTimeout (408, with what arrived) after the timeout."""
    if query.source_id is not None:
        await get_source(ctx, caller, query.source_id)  # 404 for another account's
    loop = asyncio.get_running_loop()
    deadline = loop.time() + query.timeout
    filters = StreamFilters(
        source_id=query.source_id, direction="inbound", event_type=query.event_type
    )
    progress = _Progress(scanned_to=query.after, matched=[], arrived=Counter())
    # Joined before the first read: a commit between that read and the wait still wakes it.
    subscription = await _subscribe(ctx, caller.account_id, filters)
    try:
        while True:
            await ctx.db.read(_scan, caller.account_id, query, progress)
            if len(progress.matched) >= query.count:
                return await ctx.db.read(
                    store.events_by_id, caller.account_id, progress.matched[:MAX_WAIT_COUNT]
                )
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise _timed_out(query, progress)
            try:
                async with asyncio.timeout(remaining):
                    message = await subscription.next()
            except TimeoutError:
                continue  # one last read, then the timeout answer
            if isinstance(message, str) or subscription.closed:
                # The feed dropped this reader (too far behind) or is stopping: join again.
                _unsubscribe(ctx, subscription)
                subscription = await _subscribe(ctx, caller.account_id, filters)
            else:
                subscription.ready()  # one read covers every change already waiting
    finally:
        _unsubscribe(ctx, subscription)


async def _subscribe(ctx: Context, account_id: str, filters: StreamFilters) -> Subscription:
    feed = ctx.change_feed
    if feed is None:
        raise ServiceUnavailable("the server is starting or stopping; try again shortly")
    return await feed.subscribe(account_id, filters)


def _unsubscribe(ctx: Context, subscription: Subscription) -> None:
    if ctx.change_feed is not None:
        ctx.change_feed.unsubscribe(subscription)


def _scan(conn, account_id: str, query: WaitQuery, progress: _Progress) -> None:
    """Read the events after the last one seen: count them by type and note those that match."""
    pattern = compile_pattern(query.event_type)
    rows = store.types_after(conn, account_id, query.source_id, progress.scanned_to, _SCAN_LIMIT)
    for event_id, event_type in rows:
        progress.arrived[event_type or UNTYPED] += 1
        if pattern.matches(event_type):
            progress.matched.append(event_id)
    if rows:
        progress.scanned_to = rows[-1][0]


def _timed_out(query: WaitQuery, progress: _Progress) -> RequestTimeout:
    matched = len(progress.matched)
    return RequestTimeout(
        f"timed out after {query.timeout:g} s: {matched} of {query.count} matching events arrived",
        details={"code": "wait_timeout", "matched": matched, "arrived": dict(progress.arrived)},
    )
