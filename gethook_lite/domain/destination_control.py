"""Delivery control: pausing and resuming destinations, what time does to open circuits, and
the system events that tell the account.

While a destination is paused, or its circuit breaker is not closed, its deliveries are held
(status ``held``, db/destination_state.py): no attempt, nothing cancelled, their retry clocks
stopped. Resuming (or the circuit closing) releases them, oldest first. Deactivating a
destination (``active: false``) is different: it cancels what is queued (README, "Delivery
control").

The breaker moves with attempt outcomes in the scheduler's recording write
(delivery/circuit.py) and with time here: ``tick`` is called by the scheduler's loop (and its
``drain``) to turn open circuits half-open when their cool-down ends, release the one probe
delivery of a half-open circuit, pause destinations open for too long, and publish pending
notices as outbound events of their account (``destination.circuit_opened`` ...), so they go
through the account's outbound routes and the live stream like any event it publishes.
With several processes on PostgreSQL only the leader ticks (``controller``); pausing and
resuming still publish their own notices at once, from the process that served the request.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Literal

import msgspec

from gethook_lite.clock import format_time
from gethook_lite.config import CircuitBreakerSettings
from gethook_lite.context import Context
from gethook_lite.db import StorageError
from gethook_lite.db import destination_state as store
from gethook_lite.db.connection import Connection
from gethook_lite.db.deliveries import release_claims
from gethook_lite.db.destination_state import ControlRow
from gethook_lite.delivery.breaker import (
    auto_pause_at,
    auto_pause_due,
    decode_state,
    failure_ratio,
    transition,
)
from gethook_lite.delivery.circuit import notice_payload, save_state
from gethook_lite.domain.accounts import Caller
from gethook_lite.domain.destinations import get_destination, withdraw_waiting_claims
from gethook_lite.domain.events import publish_outbound

__all__ = [
    "NEW_DESTINATION",
    "CircuitView",
    "ControlView",
    "control_views",
    "controller",
    "pause_destination",
    "publish_notices",
    "resume_destination",
    "tick",
]

log = logging.getLogger(__name__)

PausedReason = Literal["manual", "circuit_open_too_long"]
# How long the scheduler may go without calling ``tick`` when nothing is due sooner.
_IDLE_TICK_SECONDS = 5.0
# Notices published per tick (a backlog drains over the following ticks).
_NOTICES_PER_TICK = 100


class CircuitView(msgspec.Struct, kw_only=True):
    """A destination's circuit breaker as the API shows it."""

    state: Literal["closed", "open", "half_open"]
    since: str | None
    failure_ratio: float
    consecutive_failures: int
    held_count: int  # deliveries held now (by the circuit or by a pause)
    next_probe_at: str | None


class ControlView(msgspec.Struct, kw_only=True):
    """A destination's pause and circuit state as the API shows it."""

    paused: bool
    paused_at: str | None
    paused_reason: PausedReason | None
    circuit: CircuitView


# What a destination without any stored state shows: running, circuit closed.
NEW_DESTINATION = ControlView(
    paused=False,
    paused_at=None,
    paused_reason=None,
    circuit=CircuitView(
        state="closed",
        since=None,
        failure_ratio=0.0,
        consecutive_failures=0,
        held_count=0,
        next_probe_at=None,
    ),
)


# -- pause and resume --------------------------------------------------------------------------


async def pause_destination(ctx: Context, caller: Caller, destination_id: str) -> None:
    """Hold the destination's deliveries until it is resumed (pausing again changes nothing)."""
    destination = await get_destination(ctx, caller, destination_id)
    changed = await ctx.db.write(
        _pause,
        destination_id,
        destination["account_id"],
        ctx.clock.now(),
        "manual",
        withdraw_waiting_claims(ctx, destination_id),
    )
    if changed:
        ctx.changes_committed()  # events now held, for live stream readers
        await publish_notices(ctx)


def _pause(
    conn: Connection,
    destination_id: str,
    account_id: str,
    now: float,
    reason: str,
    withdrawn: list[tuple[int, str, float]] | None = None,
) -> bool:
    # Claims made ahead and not sent go back to pending first, and are held with the rest.
    release_claims(conn, withdrawn or [])
    if not store.set_paused(conn, destination_id, account_id, now, reason):
        return False
    store.hold_pending(conn, destination_id, now)
    payload = json.dumps(
        {"destination_id": destination_id, "paused_reason": reason, "at": format_time(now)}
    )
    store.add_notice(conn, account_id, destination_id, "destination.paused", payload, now)
    return True


async def resume_destination(ctx: Context, caller: Caller, destination_id: str) -> None:
    """Release what the pause held, oldest first; an open circuit first sends one probe."""
    destination = await get_destination(ctx, caller, destination_id)
    changed = await ctx.db.write(
        _resume,
        destination_id,
        destination["account_id"],
        ctx.clock.now(),
        ctx.settings.delivery.circuit_breaker,
    )
    if changed:
        if ctx.scheduler is not None:
            ctx.scheduler.wake()
        ctx.changes_committed()
        await publish_notices(ctx)


def _resume(
    conn: Connection,
    destination_id: str,
    account_id: str,
    now: float,
    settings: CircuitBreakerSettings,
) -> bool:
    if not store.set_paused(conn, destination_id, account_id, None, None):
        return False
    control = store.get_controls(conn, [destination_id])[destination_id]
    state = decode_state(control.breaker)
    if state.state == "closed":
        store.release_held(conn, destination_id, now)
    else:
        # Someone says it is fixed: probe now rather than wait out the cool-down, and count
        # the outage (for the automatic pause) from now.
        save_state(conn, destination_id, account_id, transition(state, "resume", now, settings))
    payload = json.dumps({"destination_id": destination_id, "at": format_time(now)})
    store.add_notice(conn, account_id, destination_id, "destination.resumed", payload, now)
    return True


# -- what the API shows ------------------------------------------------------------------------


async def control_views(ctx: Context, destination_ids: list[str]) -> dict[str, ControlView]:
    """The pause and circuit state of these destinations (every id gets one)."""
    controls, held = await ctx.db.read(_read_controls, destination_ids)
    settings = ctx.settings.delivery.circuit_breaker
    now = ctx.clock.now()
    return {
        one: _view(controls.get(one), held.get(one, 0), settings, now) for one in destination_ids
    }


def _read_controls(
    conn: Connection, destination_ids: list[str]
) -> tuple[dict[str, ControlRow], dict[str, int]]:
    return store.get_controls(conn, destination_ids), store.held_counts(conn, destination_ids)


def _view(
    control: ControlRow | None, held: int, settings: CircuitBreakerSettings, now: float
) -> ControlView:
    state = decode_state(control.breaker if control else None)
    reason = control.paused_reason if control else None
    return ControlView(
        paused=control is not None and control.paused_at is not None,
        paused_at=format_time(control.paused_at if control else None),
        paused_reason=reason if reason in ("manual", "circuit_open_too_long") else None,  # type: ignore[arg-type]
        circuit=CircuitView(
            state=state.state,
            since=format_time(state.since),
            failure_ratio=round(failure_ratio(state, now, settings), 4),
            consecutive_failures=state.consecutive_failures,
            held_count=held,
            next_probe_at=format_time(state.next_probe_at if state.state == "open" else None),
        ),
    )


# -- with time ---------------------------------------------------------------------------------


def controller(ctx: Context) -> Callable[[float], Awaitable[float]]:
    """The scheduler's delivery-control hook for this instance."""

    async def run(now: float) -> float:
        if not ctx.is_leader:
            # Once per cluster (tasks/cluster.py): the leader's scheduler ticks for every
            # destination; this process asks again in case it takes the lead.
            return now + _IDLE_TICK_SECONDS
        return await tick(ctx, now)

    return run


async def tick(ctx: Context, now: float) -> float:
    """Move circuits on with time and publish notices; returns when to be called next."""
    next_at, changed = await ctx.db.write(_tick, now, ctx.settings.delivery.circuit_breaker)
    if changed:
        ctx.changes_committed()
    await publish_notices(ctx)
    return next_at


def _tick(conn: Connection, now: float, settings: CircuitBreakerSettings) -> tuple[float, bool]:
    """(when to tick next, whether any delivery or destination changed)."""
    next_at = now + _IDLE_TICK_SECONDS
    changed = False
    for control in store.tick_candidates(conn):
        destination_id, account_id = control.destination_id, control.account_id
        state = decode_state(control.breaker)
        if control.paused_at is not None:
            continue  # nothing goes out, not even a probe, until it is resumed
        if auto_pause_due(state, now, settings):
            changed |= _pause(conn, destination_id, account_id, now, "circuit_open_too_long")
            continue
        moved = transition(state, "tick", now, settings)
        if moved != state:
            changed = True
            save_state(conn, destination_id, account_id, moved)
            if moved.state == "closed":  # the breaker was turned off meanwhile
                store.release_held(conn, destination_id, now)
                payload = notice_payload(destination_id, moved, settings, now)
                store.add_notice(
                    conn, account_id, destination_id, "destination.circuit_closed", payload, now
                )
                continue
        if moved.state == "open" and moved.next_probe_at is not None:
            next_at = min(next_at, moved.next_probe_at)
        if moved.state == "half_open" and store.open_deliveries(conn, destination_id) == 0:
            # Exactly one probe: the oldest held delivery goes out now.
            changed |= store.release_held(conn, destination_id, now, probe=True) > 0
        next_at = min(next_at, auto_pause_at(moved, settings))
    return next_at, changed


async def publish_notices(ctx: Context) -> int:
    """Publish waiting notices as outbound events of their accounts; returns how many.

    Each is published with its notice id as external id, so one published twice (a crash
    between publishing and deleting it, or two callers at once) is a duplicate, not two
    events.
    """
    notices = await ctx.db.read(store.next_notices, _NOTICES_PER_TICK)
    for notice in notices:
        caller = Caller(account_id=notice.account_id, key_id="system", role="admin")
        try:
            await publish_outbound(
                ctx,
                caller,
                event_type=notice.type,
                payload=json.loads(notice.payload),
                external_event_id=f"gethook-notice-{notice.id}",
            )
        except StorageError:
            raise  # the database is unwell: the notice waits for the next tick
        except Exception:
            # One notice that cannot be published must not block the others forever.
            log.exception("cannot publish %s for %s", notice.type, notice.destination_id)
        await ctx.db.write(store.delete_notice, notice.id)
    return len(notices)
