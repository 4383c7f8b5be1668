"""The one place that reads the time, so tests can replace it."""

from __future__ import annotations

import time
from datetime import UTC, datetime

__all__ = ["Clock", "FakeClock", "SystemClock", "format_time", "parse_time"]


class Clock:
    """Wall-clock time as unix seconds, and a monotonic time that never steps."""

    def now(self) -> float:
        raise NotImplementedError

    def monotonic(self) -> float:
        raise NotImplementedError


class SystemClock(Clock):
    def now(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()


class FakeClock(Clock):
    """A clock that only moves when told to (tests)."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self._now = start
        self._monotonic = 1000.0

    def now(self) -> float:
        return self._now

    def monotonic(self) -> float:
        return self._monotonic

    def advance(self, seconds: float) -> None:
        """Time passes: both clocks move."""
        self._now += seconds
        self._monotonic += seconds

    def step(self, seconds: float) -> None:
        """The wall clock is set forwards or backwards (NTP, an operator); no time passes."""
        self._now += seconds


def format_time(unix_seconds: float | None) -> str | None:
    """RFC 3339 in UTC with microseconds and ``Z``, or None."""
    if unix_seconds is None:
        return None
    moment = datetime.fromtimestamp(unix_seconds, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: str) -> float:
    """Parse an RFC 3339 timestamp (or a date) into unix seconds; ValueError when it is not one."""
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()
