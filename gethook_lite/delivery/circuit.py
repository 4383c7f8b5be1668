"""The circuit breaker applied where attempts are recorded, in the same write.

``record_outcomes`` stores a batch of attempt outcomes (db/deliveries.record_attempts) and moves
each destination's breaker (delivery/breaker.py) with them: one read and at most one write of
breaker state per destination in the batch, not per attempt. A destination that is paused or
whose circuit is not closed gets its newly pending deliveries (retries, the probe's) held; a
circuit that closes releases what it held. The account is told through a notice row
(db/destination_state.py), published by domain/destination_control.py.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from gethook_lite.clock import format_time
from gethook_lite.config import CircuitBreakerSettings
from gethook_lite.constants import GONE_STATUS
from gethook_lite.db import deliveries as delivery_store
from gethook_lite.db import destination_state as store
from gethook_lite.db import pacing as pacing_store
from gethook_lite.db.connection import Connection
from gethook_lite.db.deliveries import Outcome
from gethook_lite.delivery.breaker import (
    BreakerEvent,
    BreakerState,
    decode_state,
    encode_state,
    failure_ratio,
    is_stale,
    transition,
)

__all__ = ["breaker_event", "notice_payload", "record_outcomes", "save_state"]

# A 429 asks for less traffic (a rate limit), not a sign the destination is down.
_NOT_A_FAILURE = frozenset({429})


def breaker_event(outcome: str, response_status: int | None) -> BreakerEvent | None:
    """What an attempt's outcome tells the breaker (None: nothing)."""
    if outcome == "success":
        return "success"
    if response_status in _NOT_A_FAILURE or outcome == "cancelled":
        return None
    return "failure"


def record_outcomes(
    conn: Connection,
    outcomes: list[Outcome],
    settings: CircuitBreakerSettings,
    now: float,
    *,
    slowed: Mapping[str, float] | None = None,
) -> bool:
    """Record the attempts and apply them to their destinations' breakers, and store the
    Retry-After windows they asked for (``slowed``: destination -> until); True when a
    circuit opened or closed (there is a notice to publish)."""
    pacing_store.slow_down(conn, slowed or {})
    by_destination: dict[str, list[Outcome]] = {}
    for outcome in outcomes:
        by_destination.setdefault(outcome[0].destination_id, []).append(outcome)
    # The breaker's read-modify-write, with several processes writing outcomes (PostgreSQL):
    # the control rows are ensured and locked, in destination order, before they are read.
    controls = store.get_controls(conn, by_destination, lock=True)
    spare_until = now + settings.cooldown_seconds
    delivery_store.record_attempts(
        conn, [_spare(outcome, controls, spare_until) for outcome in outcomes]
    )
    changed = False
    # In destination order: two processes' outcome writes then take the control rows' locks
    # in the same order, and cannot deadlock on them.
    for destination_id, items in sorted(by_destination.items()):
        control = controls.get(destination_id)
        before = decode_state(control.breaker if control else None)
        after = before
        late: list[int] = []  # answers to requests sent before the probing began
        for claim, attempt, _, _ in items:
            event = breaker_event(attempt["outcome"], attempt["response_status"])
            if event is None:
                continue
            if is_stale(after, attempt["started_at"]):
                late.append(claim.delivery_id)
                continue
            after = transition(
                after, event, attempt["finished_at"] or now, settings, attempt["started_at"]
            )
        account_id = items[0][0].account_id
        if after != before:
            save_state(conn, destination_id, account_id, after)
            changed |= _announce(conn, destination_id, account_id, before, after, settings, now)
        paused = control is not None and control.paused_at is not None
        if (paused or after.state != "closed") and not store.is_live(conn, destination_id):
            # Turned off or deleted while the attempt was in flight: its retry is cancelled
            # like the rest were. Held, it would never go (nothing resumes or probes a
            # destination that is gone) and its event would never end.
            delivery_store.cancel_open_deliveries(
                conn, destination_id, now, "destination deactivated or deleted"
            )
        elif paused or after.state == "open":
            store.hold_pending(conn, destination_id, now)
        elif after.state == "half_open":
            # Still half-open: the probe was answered neither yes nor no (a 429), or not yet.
            # Its retry stays pending at its own due time (Retry-After honoured) and no other
            # probe goes meanwhile; held, the tick would release it again at once, probe after
            # probe. A late answer's retry is held, so that it does not go as a second probe.
            store.hold_deliveries(conn, late, now)
        elif before.state != "closed":
            store.release_held(conn, destination_id, now)
    return changed


def _spare(outcome: Outcome, controls: dict[str, store.ControlRow], due: float) -> Outcome:
    """A failed probe (or any attempt answered while the circuit is not closed) never
    dead-letters its delivery for running out of attempts: it is held with the rest, else a
    long outage would use up, one probe at a time, the attempts of the oldest deliveries.
    Its retry is due a cool-down later: a probe answered 429 stays half-open and pending, and
    must not go again at once, over and over."""
    claim, attempt, next_status, _ = outcome
    control = controls.get(claim.destination_id)
    if (
        next_status == "dead_letter"
        and control is not None
        and control.circuit_state != "closed"
        and attempt["response_status"] != GONE_STATUS
    ):
        return claim, attempt, "pending", due
    return outcome


def save_state(conn: Connection, destination_id: str, account_id: str, state: BreakerState) -> None:
    store.save_breaker(
        conn,
        destination_id,
        account_id,
        circuit_state=state.state,
        next_probe_at=state.next_probe_at if state.state == "open" else None,
        opened_at=state.opened_at,
        breaker=encode_state(state),
    )


def _announce(
    conn: Connection,
    destination_id: str,
    account_id: str,
    before: BreakerState,
    after: BreakerState,
    settings: CircuitBreakerSettings,
    now: float,
) -> bool:
    """A notice when the circuit opens from closed or closes (not for every failed probe)."""
    if before.state == "closed" and after.state == "open":
        type_ = "destination.circuit_opened"
    elif before.state != "closed" and after.state == "closed":
        type_ = "destination.circuit_closed"
    else:
        return False
    payload = notice_payload(destination_id, after, settings, now)
    store.add_notice(conn, account_id, destination_id, type_, payload, now)
    return True


def notice_payload(
    destination_id: str, state: BreakerState, settings: CircuitBreakerSettings, now: float
) -> str:
    """The body of a destination system event (JSON): which destination, its circuit."""
    return json.dumps(
        {
            "destination_id": destination_id,
            "circuit_state": state.state,
            "failure_ratio": round(failure_ratio(state, now, settings), 4),
            "consecutive_failures": state.consecutive_failures,
            "next_probe_at": format_time(state.next_probe_at if state.state == "open" else None),
            "at": format_time(now),
        }
    )
