"""Login throttling: a sliding window of failures per email and per client address."""

from __future__ import annotations

from collections import deque

from gethook_lite.clock import Clock
from gethook_lite.constants import LOGIN_FAILURE_LIMIT, LOGIN_FAILURE_WINDOW_SECONDS

__all__ = ["LoginThrottle"]


class LoginThrottle:
    """Counts recent failures per key; ``retry_after`` says how long a key must wait."""

    def __init__(
        self,
        clock: Clock,
        limit: int = LOGIN_FAILURE_LIMIT,
        window_seconds: float = LOGIN_FAILURE_WINDOW_SECONDS,
    ) -> None:
        self._clock = clock
        self._limit = limit
        self._window = window_seconds
        self._failures: dict[str, deque[float]] = {}

    def retry_after(self, *keys: str) -> int:
        """Seconds until the most throttled of ``keys`` may try again (0 = go ahead)."""
        now = self._clock.now()
        wait = 0.0
        for key in keys:
            failures = self._recent(key, now)
            if len(failures) >= self._limit:
                wait = max(wait, failures[0] + self._window - now)
        return int(wait + 0.999)

    def record_failure(self, *keys: str) -> None:
        now = self._clock.now()
        for key in keys:
            self._recent(key, now).append(now)

    def reset(self, *keys: str) -> None:
        for key in keys:
            self._failures.pop(key, None)

    def _recent(self, key: str, now: float) -> deque[float]:
        failures = self._failures.setdefault(key, deque())
        while failures and failures[0] <= now - self._window:
            failures.popleft()
        if not failures and len(self._failures) > 100_000:
            # Bound memory under a spray of distinct keys: forget quiet keys.
            self._failures = {k: v for k, v in self._failures.items() if v}
        return failures
