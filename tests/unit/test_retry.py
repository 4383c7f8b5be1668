"""Retry policies: validation, schedules, jitter bounds and Retry-After parsing."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from email.utils import format_datetime

import msgspec
import pytest

from gethook_lite.delivery.retry import (
    DEFAULT_RETRY_POLICY,
    PolicyError,
    RetryPolicy,
    nominal_delay,
    retry_after_delay,
    retry_delay,
    retry_schedule,
    validate_retry_policy,
)

MINUTE, HOUR = 60.0, 3600.0


# --- validation -----------------------------------------------------------------------------


def test_defaults() -> None:
    assert validate_retry_policy(None) == DEFAULT_RETRY_POLICY
    assert validate_retry_policy({}) == DEFAULT_RETRY_POLICY
    assert (
        RetryPolicy(
            max_attempts=8,
            backoff="exponential",
            initial_interval_seconds=5,
            max_interval_seconds=36_000,
        )
        == DEFAULT_RETRY_POLICY
    )


def test_policy_is_frozen_and_encodes_every_field() -> None:
    with pytest.raises(AttributeError):
        DEFAULT_RETRY_POLICY.max_attempts = 3  # type: ignore[misc]
    assert msgspec.json.decode(msgspec.json.encode(DEFAULT_RETRY_POLICY)) == {
        "max_attempts": 8,
        "backoff": "exponential",
        "initial_interval_seconds": 5.0,
        "max_interval_seconds": 36000.0,
    }


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"max_attempts": 3}, RetryPolicy(max_attempts=3)),
        ({"backoff": "linear", "unknown": 1}, RetryPolicy(backoff="linear")),
        (
            {"backoff": "fixed", "initial_interval_seconds": 30, "max_interval_seconds": 30},
            RetryPolicy(backoff="fixed", initial_interval_seconds=30, max_interval_seconds=30),
        ),
        ({"initial_interval_seconds": 0.5}, RetryPolicy(initial_interval_seconds=0.5)),
        ({"initial_interval_seconds": 0, "max_interval_seconds": 0}, None),
        ({"max_attempts": None, "backoff": None}, DEFAULT_RETRY_POLICY),
        ({"max_attempts": 1}, RetryPolicy(max_attempts=1)),
        ({"max_attempts": 50}, RetryPolicy(max_attempts=50)),
        ({"max_interval_seconds": 604_800}, RetryPolicy(max_interval_seconds=604_800)),
    ],
)
def test_valid_policies(raw: dict, expected: RetryPolicy | None) -> None:
    policy = validate_retry_policy(raw)
    if expected is not None:
        assert policy == expected
    assert isinstance(policy.initial_interval_seconds, float)
    assert isinstance(policy.max_interval_seconds, float)


def test_other_defaults() -> None:
    defaults = RetryPolicy(max_attempts=3, backoff="fixed")
    assert validate_retry_policy({"max_attempts": 4}, defaults) == RetryPolicy(
        max_attempts=4, backoff="fixed"
    )
    assert validate_retry_policy(None, defaults) is defaults


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ("fast", "retry_policy"),
        ([1, 2], "retry_policy"),
        ({"max_attempts": 0}, "retry_policy.max_attempts"),
        ({"max_attempts": 51}, "retry_policy.max_attempts"),
        ({"max_attempts": True}, "retry_policy.max_attempts"),
        ({"max_attempts": 3.0}, "retry_policy.max_attempts"),
        ({"max_attempts": "3"}, "retry_policy.max_attempts"),
        ({"backoff": "quadratic"}, "retry_policy.backoff"),
        ({"backoff": "Exponential"}, "retry_policy.backoff"),
        ({"backoff": 1}, "retry_policy.backoff"),
        ({"initial_interval_seconds": -1}, "retry_policy.initial_interval_seconds"),
        ({"initial_interval_seconds": 86_401}, "retry_policy.initial_interval_seconds"),
        ({"initial_interval_seconds": False}, "retry_policy.initial_interval_seconds"),
        ({"initial_interval_seconds": "5"}, "retry_policy.initial_interval_seconds"),
        ({"initial_interval_seconds": math.nan}, "retry_policy.initial_interval_seconds"),
        ({"max_interval_seconds": math.inf}, "retry_policy.max_interval_seconds"),
        ({"max_interval_seconds": 604_801}, "retry_policy.max_interval_seconds"),
        ({"max_interval_seconds": True}, "retry_policy.max_interval_seconds"),
        ({"max_interval_seconds": 4}, "retry_policy.max_interval_seconds"),  # < default 5 s
        (
            {"initial_interval_seconds": 60, "max_interval_seconds": 59.9},
            "retry_policy.max_interval_seconds",
        ),
        # Initial above the default cap with the cap omitted: the cap must be raised explicitly.
        ({"initial_interval_seconds": 50_000}, "retry_policy.max_interval_seconds"),
    ],
)
def test_invalid_policies(raw: object, field: str) -> None:
    with pytest.raises(PolicyError) as caught:
        validate_retry_policy(raw)  # type: ignore[arg-type]
    assert caught.value.field == field
    assert str(caught.value).startswith(field + " ")
    assert isinstance(caught.value, ValueError)


# --- schedules ------------------------------------------------------------------------------


def test_default_schedule_matches_api_md() -> None:
    # docs/wire.md, "Retries": about 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h for 8 attempts.
    assert retry_schedule(DEFAULT_RETRY_POLICY) == (
        5.0,
        5 * MINUTE,
        30 * MINUTE,
        2 * HOUR,
        5 * HOUR,
        10 * HOUR,
        10 * HOUR,
    )


@pytest.mark.parametrize(
    ("policy", "schedule"),
    [
        (RetryPolicy(max_attempts=1), ()),
        (RetryPolicy(max_attempts=3), (5.0, 300.0)),
        (
            RetryPolicy(max_attempts=10, initial_interval_seconds=1),
            (1.0, 60.0, 360.0, 1440.0, 3600.0, 7200.0, 14400.0, 28800.0, 36000.0),
        ),
        (
            RetryPolicy(initial_interval_seconds=60, max_interval_seconds=86_400),
            (60.0, 3600.0, 21600.0, 86400.0, 86400.0, 86400.0, 86400.0),
        ),
        (RetryPolicy(max_attempts=4, initial_interval_seconds=0), (0.0, 0.0, 0.0)),
        (
            RetryPolicy(max_attempts=5, backoff="linear", initial_interval_seconds=10),
            (10.0, 20.0, 30.0, 40.0),
        ),
        (
            RetryPolicy(
                max_attempts=6,
                backoff="linear",
                initial_interval_seconds=10,
                max_interval_seconds=25,
            ),
            (10.0, 20.0, 25.0, 25.0, 25.0),
        ),
        (
            RetryPolicy(max_attempts=4, backoff="fixed", initial_interval_seconds=30),
            (30.0, 30.0, 30.0),
        ),
    ],
)
def test_schedules(policy: RetryPolicy, schedule: tuple[float, ...]) -> None:
    assert retry_schedule(policy) == schedule


def test_long_exponential_schedule_stays_capped() -> None:
    policy = RetryPolicy(max_attempts=50, initial_interval_seconds=0.001, max_interval_seconds=10)
    schedule = retry_schedule(policy)
    assert len(schedule) == 49
    assert list(schedule) == sorted(schedule)
    assert schedule[-1] == 10.0
    assert nominal_delay(policy, 10_000) == 10.0


def test_nominal_delay_rejects_zero_failures() -> None:
    with pytest.raises(ValueError):
        nominal_delay(DEFAULT_RETRY_POLICY, 0)


# --- jitter ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("failed", "rand", "expected"),
    [
        (1, lambda: 0.0, 4.0),  # 5 s - 20 %
        (1, lambda: 0.5, 5.0),
        (1, lambda: 0.9999999999, 6.0),  # 5 s + 20 %
        (2, lambda: 0.0, 240.0),
        (2, lambda: 0.5, 300.0),
        (6, lambda: 0.0, 28_800.0),  # at the cap: only shorter, never longer
        (6, lambda: 0.9999999999, 36_000.0),
        (7, lambda: 0.5, 32_400.0),
        (1, lambda: -5.0, 4.0),  # a misbehaving rand() cannot break the bounds
        (1, lambda: 7.0, 6.0),
    ],
)
def test_jitter(failed: int, rand, expected: float) -> None:
    assert retry_delay(DEFAULT_RETRY_POLICY, failed, rand) == pytest.approx(expected)


@pytest.mark.parametrize("failed", [8, 9, 100])
def test_exhausted(failed: int) -> None:
    assert retry_delay(DEFAULT_RETRY_POLICY, failed) is None


def test_single_attempt_policy_never_retries() -> None:
    assert retry_delay(RetryPolicy(max_attempts=1), 1) is None


@pytest.mark.parametrize(
    "policy",
    [
        DEFAULT_RETRY_POLICY,
        RetryPolicy(max_attempts=20, backoff="linear", initial_interval_seconds=7),
        RetryPolicy(max_attempts=5, backoff="fixed", initial_interval_seconds=0),
    ],
)
def test_jitter_bounds_with_real_random(policy: RetryPolicy) -> None:
    for failed in range(1, policy.max_attempts):
        base = nominal_delay(policy, failed)
        for _ in range(50):
            delay = retry_delay(policy, failed)
            assert delay is not None
            assert 0 <= 0.8 * base <= delay <= min(1.2 * base, policy.max_interval_seconds)


# --- Retry-After ----------------------------------------------------------------------------

NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("", None),
        ("soon", None),
        ("-5", None),
        ("1e3", None),
        ("٣", None),  # a non-ASCII digit is not delta-seconds
        ("120", 120.0),
        ("  120  ", 120.0),
        ("1.5", 1.5),
        ("0", 1.0),  # clamped up to the floor
        ("999999999999999999999999", 3600.0),  # clamped down to the ceiling
        ("Thu, 01 Jan 2026 12:05:00 GMT", 300.0),  # IMF-fixdate
        ("Thursday, 01-Jan-26 12:05:00 GMT", 300.0),  # obsolete RFC 850
        ("Thu Jan  1 12:05:00 2026", 300.0),  # obsolete asctime, read as GMT
        ("Thu, 01 Jan 2026 11:00:00 GMT", 1.0),  # in the past
        ("Fri, 02 Jan 2026 12:00:00 GMT", 3600.0),
        ("Thu, 32 Jan 2026 12:00:00 GMT", None),
    ],
)
def test_retry_after(header: str | None, expected: float | None) -> None:
    got = retry_after_delay(header, NOW, floor=1.0, ceiling=3600.0)
    if expected is None:
        assert got is None
    else:
        assert got == pytest.approx(expected)


def test_retry_after_formatted_date_round_trip() -> None:
    when = datetime.fromtimestamp(NOW + 90, tz=UTC)
    header = format_datetime(when, usegmt=True)
    assert retry_after_delay(header, NOW, 0, 1000) == pytest.approx(90)


def test_retry_after_ceiling_wins_over_floor() -> None:
    assert retry_after_delay("10", NOW, floor=60, ceiling=30) == 30
