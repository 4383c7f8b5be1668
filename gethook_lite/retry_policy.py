"""The retry policy record: what a route stores and a claimed delivery carries.

It sits below every layer because the storage layer parses it once, when it claims a
delivery, and hands the scheduler a typed policy; the rules that validate a policy and turn it
into waits live in ``gethook_lite.delivery.retry``, which re-exports this record.
"""

from __future__ import annotations

import msgspec

__all__ = ["DEFAULT_RETRY_POLICY", "RetryPolicy", "decode_retry_policy"]


class RetryPolicy(msgspec.Struct, frozen=True, kw_only=True):
    """A route's retry policy; ``max_attempts`` counts every attempt, the first included."""

    max_attempts: int = 8
    backoff: str = "exponential"
    initial_interval_seconds: float = 5.0
    max_interval_seconds: float = 36_000.0  # 10 hours


DEFAULT_RETRY_POLICY = RetryPolicy()


def decode_retry_policy(stored: str | bytes) -> RetryPolicy:
    """The policy a route stored (JSON written from a validated policy by ``create_route``)."""
    return msgspec.json.decode(stored, type=RetryPolicy)
