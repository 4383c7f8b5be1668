"""A destination's circuit breaker as a pure state machine (table-tested in tests/unit).

::

    closed --(failures cross a threshold)--> open --(cool-down over: tick)--> half_open
      ^                                       ^                                   |
      |                                       +----(probe failed: cool-down x2)---+
      +------------------------(probe succeeded)----------------------------------+

Thresholds: ``consecutive_failures`` failures in a row, or a share of at least
``failure_ratio`` of the attempts in the last ``window_seconds`` once those are at least
``min_attempts``. The window slides: the previous window's counts weigh in proportion to how
much of it still overlaps the last ``window_seconds`` (two counters, no list of attempts).

While the circuit is not closed the destination's deliveries are held (delivery/circuit.py);
in half-open exactly one of them goes out as the probe. Nothing here reads the clock or the
database: ``transition`` maps (state, event, now, settings) to the next state.
"""

from __future__ import annotations

import math
from typing import Literal

import msgspec

from gethook_lite.config import CircuitBreakerSettings

__all__ = [
    "REOPEN_GRACE_FACTOR",
    "BreakerEvent",
    "BreakerState",
    "auto_pause_at",
    "auto_pause_due",
    "decode_state",
    "encode_state",
    "failure_ratio",
    "is_stale",
    "transition",
]

CircuitState = Literal["closed", "open", "half_open"]
# A circuit that opens again within this many (last) cool-downs of closing continues the outage.
REOPEN_GRACE_FACTOR = 4
# success / failure: an attempt's outcome; tick: time passed (the cool-down may be over);
# resume: the destination was resumed by hand (an open circuit probes at once).
BreakerEvent = Literal["success", "failure", "tick", "resume"]


class BreakerState(msgspec.Struct, frozen=True, kw_only=True):
    """One destination's breaker (stored as JSON in destination_control.breaker)."""

    state: CircuitState = "closed"
    since: float | None = None  # when it entered ``state``
    opened_at: float | None = None  # when the current outage began (None while closed)
    cooldown_seconds: float = 0.0  # the current (or last) open period's length
    next_probe_at: float | None = None  # open: when it turns half-open
    consecutive_failures: int = 0
    # The sliding window: this window's counts and the previous window's.
    window_started_at: float = 0.0
    window_attempts: int = 0
    window_failures: int = 0
    previous_attempts: int = 0
    previous_failures: int = 0
    # Closed: when the outage it last closed on began (a quick re-open continues it).
    last_outage_from: float | None = None


def transition(
    state: BreakerState,
    event: BreakerEvent,
    now: float,
    settings: CircuitBreakerSettings,
    started_at: float | None = None,
) -> BreakerState:
    """The breaker's state after ``event`` at ``now``; ``started_at`` is when the attempt
    behind a success or failure began (an answer to a request sent before the circuit turned
    half-open is not the probe's)."""
    if not settings.enabled:
        return state if state.state == "closed" else _closed(now)
    if event == "resume":
        if state.state == "closed":
            return state
        return _open(state, now, settings.cooldown_seconds, probe_at=now, outage_from=now)
    if state.state == "closed":
        return _closed_after(state, event, now, settings)
    if state.state == "open":
        # Outcomes of attempts already in flight when it opened change nothing.
        if event == "tick" and state.next_probe_at is not None and now >= state.next_probe_at:
            return msgspec.structs.replace(state, state="half_open", since=now)
        return state
    # half_open: the probe's outcome decides, not a late answer to an older request.
    if is_stale(state, started_at):
        return state
    if event == "success":
        return _closed(now, after=state)
    if event == "failure":
        cooldown = min(2 * state.cooldown_seconds, settings.max_cooldown_seconds)
        return _open(state, now, cooldown, probe_at=now + cooldown, outage_from=state.opened_at)
    return state


def _closed_after(
    state: BreakerState, event: BreakerEvent, now: float, settings: CircuitBreakerSettings
) -> BreakerState:
    if event not in ("success", "failure"):
        return state
    rolled = _roll(state, now, settings.window_seconds)
    failed = event == "failure"
    counted = msgspec.structs.replace(
        rolled,
        window_attempts=rolled.window_attempts + 1,
        window_failures=rolled.window_failures + int(failed),
        consecutive_failures=rolled.consecutive_failures + 1 if failed else 0,
    )
    if failed and _tripped(counted, now, settings):
        cooldown = settings.cooldown_seconds
        return _open(
            counted, now, cooldown, probe_at=now + cooldown, outage_from=_outage_from(state, now)
        )
    return counted


def _outage_from(state: BreakerState, now: float) -> float:
    """When the outage that (re-)opens the circuit now began: a circuit that opens again within
    ``REOPEN_GRACE_FACTOR`` cool-downs of closing continues the outage it closed on, so a
    destination that answers one probe and then fails again is still paused after
    ``auto_pause_after_seconds`` (a fresh outage each time, it never would be)."""
    recently_closed = (
        state.last_outage_from is not None
        and state.since is not None
        and now - state.since <= REOPEN_GRACE_FACTOR * max(state.cooldown_seconds, 1.0)
    )
    return state.last_outage_from if recently_closed and state.last_outage_from else now


def is_stale(state: BreakerState, started_at: float | None) -> bool:
    """Half-open, and the answer is to a request sent before the probing began."""
    return (
        state.state == "half_open"
        and started_at is not None
        and state.since is not None
        and started_at < state.since
    )


def _tripped(state: BreakerState, now: float, settings: CircuitBreakerSettings) -> bool:
    if state.consecutive_failures >= settings.consecutive_failures:
        return True
    attempts, failures = _window_counts(state, now, settings.window_seconds)
    return attempts >= settings.min_attempts and failures >= settings.failure_ratio * attempts


def _open(
    state: BreakerState,
    now: float,
    cooldown: float,
    *,
    probe_at: float,
    outage_from: float | None,
) -> BreakerState:
    return msgspec.structs.replace(
        state,
        state="open",
        since=now,
        opened_at=outage_from if outage_from is not None else now,
        cooldown_seconds=cooldown,
        next_probe_at=probe_at,
    )


def _closed(now: float, after: BreakerState | None = None) -> BreakerState:
    """Closed afresh: the counts of the outage are forgotten, not when it began."""
    return BreakerState(
        state="closed",
        since=now,
        window_started_at=now,
        last_outage_from=after.opened_at if after is not None else None,
        cooldown_seconds=after.cooldown_seconds if after is not None else 0.0,
    )


def _roll(state: BreakerState, now: float, window: float) -> BreakerState:
    """Move the window forward to ``now`` (the current window becomes the previous one)."""
    elapsed = now - state.window_started_at
    if elapsed < window:
        return state
    if elapsed >= 2 * window:
        return msgspec.structs.replace(
            state,
            window_started_at=now,
            window_attempts=0,
            window_failures=0,
            previous_attempts=0,
            previous_failures=0,
        )
    return msgspec.structs.replace(
        state,
        window_started_at=state.window_started_at + window,
        window_attempts=0,
        window_failures=0,
        previous_attempts=state.window_attempts,
        previous_failures=state.window_failures,
    )


def _window_counts(state: BreakerState, now: float, window: float) -> tuple[float, float]:
    """Attempts and failures in the last ``window`` seconds (the previous window weighted)."""
    rolled = _roll(state, now, window)
    overlap = max(0.0, 1.0 - (now - rolled.window_started_at) / window)
    attempts = rolled.window_attempts + rolled.previous_attempts * overlap
    failures = rolled.window_failures + rolled.previous_failures * overlap
    return attempts, failures


def failure_ratio(state: BreakerState, now: float, settings: CircuitBreakerSettings) -> float:
    """The share of failed attempts in the last window (0.0 when there were none)."""
    attempts, failures = _window_counts(state, now, settings.window_seconds)
    return failures / attempts if attempts > 0 else 0.0


def auto_pause_due(state: BreakerState, now: float, settings: CircuitBreakerSettings) -> bool:
    """Open (or probing) for ``auto_pause_after_seconds`` without recovering."""
    return now >= auto_pause_at(state, settings)


def auto_pause_at(state: BreakerState, settings: CircuitBreakerSettings) -> float:
    """When ``auto_pause_due`` turns true (infinity when it never will in this state)."""
    if not settings.auto_pause_after_seconds or state.state == "closed" or state.opened_at is None:
        return math.inf
    return state.opened_at + settings.auto_pause_after_seconds


def encode_state(state: BreakerState) -> str:
    return msgspec.json.encode(state).decode()


def decode_state(stored: str | None) -> BreakerState:
    return BreakerState() if stored is None else msgspec.json.decode(stored, type=BreakerState)
