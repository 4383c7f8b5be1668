"""The circuit breaker's transitions (delivery/breaker.py), table-tested."""

from __future__ import annotations

import msgspec
import pytest

from gethook_lite.config import CircuitBreakerSettings
from gethook_lite.delivery.breaker import (
    BreakerState,
    auto_pause_due,
    decode_state,
    encode_state,
    failure_ratio,
    transition,
)
from gethook_lite.delivery.circuit import breaker_event

S = CircuitBreakerSettings(
    failure_ratio=0.5,
    window_seconds=60,
    min_attempts=10,
    consecutive_failures=5,
    cooldown_seconds=30,
    max_cooldown_seconds=100,
    auto_pause_after_seconds=1000,
)
T = 10_000.0

CLOSED = BreakerState(state="closed", since=T - 100, window_started_at=T - 10)
OPEN = BreakerState(
    state="open", since=T - 10, opened_at=T - 500, cooldown_seconds=30, next_probe_at=T + 20
)
HALF = msgspec.structs.replace(OPEN, state="half_open", since=T - 1, next_probe_at=T - 1)


def closed_with(attempts: int, failures: int, consecutive: int = 0) -> BreakerState:
    return msgspec.structs.replace(
        CLOSED, window_attempts=attempts, window_failures=failures, consecutive_failures=consecutive
    )


@pytest.mark.parametrize(
    ("name", "state", "event", "now", "expect"),
    [
        # closed: counting, tripping on consecutive failures or on the ratio
        ("success keeps closed", closed_with(3, 1, 1), "success", T, "closed"),
        ("4th failure in a row", closed_with(4, 3, 3), "failure", T, "closed"),
        ("5th failure in a row opens", closed_with(4, 4, 4), "failure", T, "open"),
        ("ratio under min_attempts", closed_with(5, 4, 0), "failure", T, "closed"),
        ("ratio reached with min_attempts", closed_with(9, 4, 0), "failure", T, "open"),
        ("ratio under threshold", closed_with(20, 5, 0), "failure", T, "closed"),
        ("old window forgotten", closed_with(9, 4, 0), "failure", T + 200, "closed"),
        ("tick changes nothing", closed_with(9, 9, 4), "tick", T, "closed"),
        ("resume changes nothing", closed_with(9, 9, 4), "resume", T, "closed"),
        # open: only time moves it; late outcomes are ignored
        ("open, cool-down running", OPEN, "tick", T, "open"),
        ("open, cool-down over", OPEN, "tick", T + 20, "half_open"),
        ("open, late success", OPEN, "success", T + 25, "open"),
        ("open, late failure", OPEN, "failure", T + 25, "open"),
        ("open, resumed: probe now", OPEN, "resume", T, "open"),
        # half-open: the probe decides
        ("probe succeeded", HALF, "success", T, "closed"),
        ("probe failed", HALF, "failure", T, "open"),
        ("half-open tick", HALF, "tick", T + 999, "half_open"),
    ],
)
def test_transition_table(name, state, event, now, expect):
    assert transition(state, event, now, S).state == expect, name


def test_opening_sets_the_cooldown_and_the_outage_start():
    opened = transition(closed_with(4, 4, 4), "failure", T, S)
    assert opened.since == T and opened.opened_at == T
    assert opened.cooldown_seconds == 30 and opened.next_probe_at == T + 30


def test_a_failed_probe_doubles_the_cooldown_up_to_the_cap_and_keeps_the_outage_start():
    again = transition(HALF, "failure", T, S)
    assert again.cooldown_seconds == 60 and again.next_probe_at == T + 60
    assert again.opened_at == HALF.opened_at
    half = msgspec.structs.replace(again, state="half_open")
    capped = transition(half, "failure", T + 60, S)
    assert capped.cooldown_seconds == 100 and capped.next_probe_at == T + 160


def test_closing_forgets_the_counts_but_remembers_when_the_outage_began():
    closed = transition(HALF, "success", T, S)
    assert closed == BreakerState(
        state="closed",
        since=T,
        window_started_at=T,
        last_outage_from=HALF.opened_at,
        cooldown_seconds=HALF.cooldown_seconds,
    )
    assert auto_pause_due(closed, T + 10_000, S) is False  # closed: never paused


@pytest.mark.parametrize(
    ("reopened_after", "outage_from"),
    [
        (10, T - 500),  # within 4 cool-downs (4 x 30 s): the same outage goes on
        (4 * 30, T - 500),
        (4 * 30 + 1, None),  # later: a new outage, from when it opened
    ],
)
def test_a_quick_reopen_continues_the_outage(reopened_after, outage_from):
    # A flapping destination: one probe answered, then failing again. Counted as one outage,
    # it is paused after auto_pause_after_seconds; each a fresh outage, it never would be.
    closed = transition(HALF, "success", T, S)
    now = T + reopened_after
    failing = msgspec.structs.replace(closed, consecutive_failures=4, window_started_at=now)
    reopened = transition(failing, "failure", now, S)
    assert reopened.state == "open"
    assert reopened.opened_at == (outage_from if outage_from is not None else now)


@pytest.mark.parametrize(
    ("event", "started_at", "expect"),
    [
        ("failure", T - 5, "half_open"),  # sent before probing began: not the probe's answer
        ("success", T - 5, "half_open"),
        ("failure", T - 1, "open"),  # the probe (sent when half-open began) decides
        ("success", T, "closed"),
        ("failure", None, "open"),  # no start time known: taken as the probe's
    ],
)
def test_only_the_probe_decides_a_half_open_circuit(event, started_at, expect):
    assert transition(HALF, event, T, S, started_at=started_at).state == expect


def test_resume_probes_at_once_and_restarts_the_outage_clock():
    resumed = transition(OPEN, "resume", T, S)
    assert resumed.next_probe_at == T and resumed.opened_at == T
    assert transition(resumed, "tick", T, S).state == "half_open"


def test_the_window_slides_the_previous_window_in_proportion():
    state = msgspec.structs.replace(
        CLOSED, window_started_at=T - 30, previous_attempts=10, previous_failures=10
    )
    # Half of the previous window still overlaps the last 60 s: 5 of 5 failed.
    assert failure_ratio(state, T, S) == pytest.approx(1.0)
    assert failure_ratio(closed_with(4, 1), T, S) == pytest.approx(0.25)
    assert failure_ratio(CLOSED, T, S) == 0.0


def test_disabled_breaker_never_opens_and_closes_an_open_one():
    off = msgspec.structs.replace(S, enabled=False)
    assert transition(closed_with(4, 4, 4), "failure", T, off).state == "closed"
    assert transition(OPEN, "tick", T, off).state == "closed"


@pytest.mark.parametrize(
    ("state", "now", "due"),
    [
        (OPEN, T + 499, False),
        (OPEN, T + 500, True),
        (HALF, T + 500, True),
        (CLOSED, T + 10_000, False),
    ],
)
def test_auto_pause_after_the_configured_time_open(state, now, due):
    assert auto_pause_due(state, now, S) is due
    never = msgspec.structs.replace(S, auto_pause_after_seconds=0)
    assert auto_pause_due(state, now, never) is False


def test_state_round_trips_through_its_stored_json():
    assert decode_state(encode_state(HALF)) == HALF
    assert decode_state(None) == BreakerState()


@pytest.mark.parametrize(
    ("outcome", "status", "event"),
    [
        ("success", 200, "success"),
        ("http_5xx", 503, "failure"),
        ("timeout", None, "failure"),
        ("network_error", None, "failure"),
        ("http_4xx", 404, "failure"),
        ("http_4xx", 429, None),  # asked to slow down, not down
    ],
)
def test_which_outcomes_count(outcome, status, event):
    assert breaker_event(outcome, status) == event
