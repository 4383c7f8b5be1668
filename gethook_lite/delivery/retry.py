"""Retry policies: validation and the wait before each retry (pure, no I/O).

Schedules (``d(k)`` is the nominal wait after the k-th failed attempt, k = 1, 2, ...; every wait
is capped at ``max_interval_seconds``):

- ``fixed``: ``d(k) = initial``.
- ``linear``: ``d(k) = initial * k``.
- ``exponential``: ``d(k) = initial * EXPONENTIAL_FACTORS[k - 1]``; past the end of the table the
  factor keeps doubling. The table is chosen so that the default policy (initial 5 s, cap 10 h,
  8 attempts) waits 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h, the documented default
  (docs/wire.md, "Retries"; the same shape as Svix's). A plain doubling from 5 s would only
  reach about 5 min by the 7th retry.
  Another initial interval scales the same curve: initial 1 s gives 1 s, 1 min, 6 min, 24 min...

Jitter spreads retries of many failed deliveries apart: the actual wait is uniform in
``[0.8 * d, min(1.2 * d, max_interval_seconds)]``, so it is never negative and never above the
cap (the cap is a promise to the user; at the cap the jitter only shortens the wait).
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Callable, Mapping
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import Any

from gethook_lite.retry_policy import DEFAULT_RETRY_POLICY, RetryPolicy, decode_retry_policy

__all__ = [
    "BACKOFF_KINDS",
    "DEFAULT_RETRY_POLICY",
    "EXPONENTIAL_FACTORS",
    "JITTER_FRACTION",
    "PolicyError",
    "RetryPolicy",
    "decode_retry_policy",
    "nominal_delay",
    "retry_after_delay",
    "retry_delay",
    "retry_schedule",
    "validate_retry_policy",
]

BACKOFF_KINDS = ("exponential", "linear", "fixed")
# Multiples of the initial interval for the exponential schedule; see the module docstring.
EXPONENTIAL_FACTORS = (1, 60, 360, 1440, 3600, 7200)
JITTER_FRACTION = 0.2

_MAX_ATTEMPTS_RANGE = (1, 50)
_MAX_INITIAL_SECONDS = 86_400  # one day
_MAX_CAP_SECONDS = 604_800  # one week
# Doubling past this many extra steps cannot matter: any cap is reached long before.
_MAX_EXTRA_DOUBLINGS = 64


class PolicyError(ValueError):
    """A retry policy field is invalid; ``field`` is its dotted name (``retry_policy.backoff``)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field} {message}")
        self.field = field
        self.message = message


def _field(name: str) -> str:
    """Return the dotted field name used in error messages."""
    return f"retry_policy.{name}"


def _is_number(value: Any) -> bool:
    """Return True for a finite int or float (bool is an int in Python but not a number here)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    # A huge int (10**400) is an int, but math.isfinite() overflows converting it to float.
    return (isinstance(value, float) and math.isfinite(value)) or isinstance(value, int)


def _validate_max_attempts(value: Any) -> int:
    low, high = _MAX_ATTEMPTS_RANGE
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise PolicyError(_field("max_attempts"), f"must be an integer between {low} and {high}")
    return value


def _validate_backoff(value: Any) -> str:
    if not isinstance(value, str) or value not in BACKOFF_KINDS:
        raise PolicyError(_field("backoff"), f"must be one of {', '.join(BACKOFF_KINDS)}")
    return value


def _validate_seconds(name: str, value: Any, high: int) -> float:
    if not _is_number(value) or not 0 <= value <= high:
        raise PolicyError(_field(name), f"must be a number of seconds between 0 and {high}")
    return float(value)


def validate_retry_policy(
    raw: Mapping[str, Any] | None, defaults: RetryPolicy = DEFAULT_RETRY_POLICY
) -> RetryPolicy:
    """Return the effective policy for a request's ``retry_policy`` object.

    Omitted or null fields take ``defaults``; unknown keys are ignored (wire rule). Raises
    PolicyError naming the offending field.
    """
    if raw is None:
        return defaults
    if not isinstance(raw, Mapping):
        raise PolicyError("retry_policy", "must be an object")
    # Null means "use the default", like an omitted field.
    given = {key: value for key, value in raw.items() if value is not None}
    policy = RetryPolicy(
        max_attempts=_validate_max_attempts(given.get("max_attempts", defaults.max_attempts)),
        backoff=_validate_backoff(given.get("backoff", defaults.backoff)),
        initial_interval_seconds=_validate_seconds(
            "initial_interval_seconds",
            given.get("initial_interval_seconds", defaults.initial_interval_seconds),
            _MAX_INITIAL_SECONDS,
        ),
        max_interval_seconds=_validate_seconds(
            "max_interval_seconds",
            given.get("max_interval_seconds", defaults.max_interval_seconds),
            _MAX_CAP_SECONDS,
        ),
    )
    if policy.max_interval_seconds < policy.initial_interval_seconds:
        raise PolicyError(
            _field("max_interval_seconds"),
            f"must be at least initial_interval_seconds ({policy.initial_interval_seconds:g}); "
            f"it is {policy.max_interval_seconds:g}",
        )
    return policy


def _exponential_factor(step: int) -> float:
    """Return the multiple of the initial interval for the ``step``-th retry (1-based)."""
    if step <= len(EXPONENTIAL_FACTORS):
        return float(EXPONENTIAL_FACTORS[step - 1])
    extra = min(step - len(EXPONENTIAL_FACTORS), _MAX_EXTRA_DOUBLINGS)
    return EXPONENTIAL_FACTORS[-1] * 2.0**extra


def nominal_delay(policy: RetryPolicy, failed_attempts: int) -> float:
    """Return the capped wait after ``failed_attempts`` failures, without jitter."""
    if failed_attempts < 1:
        raise ValueError("failed_attempts must be at least 1")
    initial = policy.initial_interval_seconds
    if policy.backoff == "fixed":
        delay = initial
    elif policy.backoff == "linear":
        delay = initial * failed_attempts
    elif policy.backoff == "exponential":
        delay = initial * _exponential_factor(failed_attempts)
    else:
        raise ValueError(f"unknown backoff {policy.backoff!r}")
    return float(min(delay, policy.max_interval_seconds))


def retry_schedule(policy: RetryPolicy) -> tuple[float, ...]:
    """Return every nominal wait of a policy: ``max_attempts - 1`` values."""
    return tuple(nominal_delay(policy, k) for k in range(1, policy.max_attempts))


def retry_delay(
    policy: RetryPolicy, failed_attempts: int, rand: Callable[[], float] = random.random
) -> float | None:
    """Return the jittered wait before the next attempt, or None when attempts are exhausted.

    ``failed_attempts`` counts the failures so far (1 after the first attempt failed).
    """
    if failed_attempts >= policy.max_attempts:
        return None
    base = nominal_delay(policy, failed_attempts)
    low = base * (1 - JITTER_FRACTION)
    high = min(base * (1 + JITTER_FRACTION), policy.max_interval_seconds)
    # Clamp so a misbehaving rand() cannot break the bounds promised above.
    fraction = min(max(rand(), 0.0), 1.0)
    return low + (high - low) * fraction


_DELTA_SECONDS = re.compile(r"\d+(?:\.\d+)?", re.ASCII)


def _parse_retry_after(value: str, now: float) -> float | None:
    """Return the raw delay a Retry-After value asks for, or None when it is unparseable."""
    value = value.strip()
    if _DELTA_SECONDS.fullmatch(value):
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        # HTTP dates are always GMT; a date without a zone is read as GMT too.
        when = when.replace(tzinfo=UTC)
    return when.timestamp() - now


def retry_after_delay(
    header_value: str | None, now: float, floor: float, ceiling: float
) -> float | None:
    """Return a Retry-After header's delay clamped to ``[floor, ceiling]``, or None.

    Accepts delta-seconds or an HTTP-date (``now`` is the current Unix time). A date in the past
    gives ``floor``. When ``floor > ceiling`` the ceiling wins: it is the cap the user set.
    """
    if header_value is None:
        return None
    delay = _parse_retry_after(header_value, now)
    if delay is None:
        return None
    return min(max(delay, floor), ceiling)
