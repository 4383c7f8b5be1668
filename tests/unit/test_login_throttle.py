"""Login throttling: guessing is slowed per email and client address, nobody is locked out."""

from __future__ import annotations

import pytest

from gethook_lite.clock import FakeClock
from gethook_lite.domain.throttle import LoginThrottle, SlidingWindowLimit, client_key

OWNER = "203.0.113.10"
EMAIL = "owner@example.com"


def fail(throttle: LoginThrottle, email: str, client: str) -> int:
    """One wrong password: the wait ``begin`` asked for (0 when the attempt was checked)."""
    return throttle.begin(email, client)


def test_others_failing_from_many_addresses_never_block_the_owner() -> None:
    throttle = LoginThrottle(FakeClock())
    for n in range(50):  # 50 addresses, 5 tries each: far beyond the old lockout
        for _ in range(5):
            fail(throttle, EMAIL, f"198.51.100.{n}")
    assert throttle.retry_after(EMAIL, OWNER) == 0
    assert throttle.begin(EMAIL, OWNER) == 0
    throttle.succeeded(EMAIL, OWNER)
    assert throttle.retry_after(EMAIL, OWNER) == 0


def test_one_address_gets_five_tries_then_exponential_backoff() -> None:
    clock = FakeClock()
    throttle = LoginThrottle(clock)
    for _ in range(5):
        assert fail(throttle, EMAIL, "198.51.100.1") == 0
    waits = []
    for _ in range(6):
        wait = throttle.begin(EMAIL, "198.51.100.1")
        assert wait > 0
        assert throttle.begin(EMAIL, "198.51.100.1") == wait  # refused attempts do not count
        waits.append(wait)
        clock.advance(wait)
        assert fail(throttle, EMAIL, "198.51.100.1") == 0  # the one allowed guess, wrong
    assert waits == [60, 120, 240, 480, 900, 900]
    assert throttle.retry_after(EMAIL, OWNER) == 0  # meanwhile the owner was never held back


def test_the_owners_own_typos_wait_a_minute_and_a_success_clears_them() -> None:
    clock = FakeClock()
    throttle = LoginThrottle(clock)
    for _ in range(5):
        fail(throttle, EMAIL, OWNER)
    assert throttle.retry_after(EMAIL, OWNER) == 60
    clock.advance(60)
    assert throttle.begin(EMAIL, OWNER) == 0
    throttle.succeeded(EMAIL, OWNER)
    assert throttle.retry_after(EMAIL, OWNER) == 0
    for _ in range(5):
        assert fail(throttle, EMAIL, OWNER) == 0  # a fresh allowance after the success


def test_one_address_spraying_many_emails_is_throttled() -> None:
    throttle = LoginThrottle(FakeClock())
    for n in range(20):
        assert fail(throttle, f"user{n}@example.com", "198.51.100.7") == 0
    assert throttle.retry_after("someone.else@example.com", "198.51.100.7") == 60
    assert throttle.retry_after("someone.else@example.com", OWNER) == 0


def test_an_email_under_attack_gives_failed_addresses_one_try_but_clean_ones_all() -> None:
    throttle = LoginThrottle(FakeClock())
    for n in range(20):  # the ceiling: 20 failures from 20 addresses
        assert fail(throttle, EMAIL, f"198.51.100.{n}") == 0
    # A further address may fail once, then waits (outside an attack it would get five).
    assert fail(throttle, EMAIL, "192.0.2.1") == 0
    assert throttle.retry_after(EMAIL, "192.0.2.1") == 60
    assert throttle.retry_after("quiet@example.com", "192.0.2.1") == 0  # other emails: normal
    assert throttle.retry_after(EMAIL, OWNER) == 0  # a clean address: never held back


def test_forgotten_after_an_hour_of_quiet() -> None:
    clock = FakeClock()
    throttle = LoginThrottle(clock)
    for _ in range(5):
        fail(throttle, EMAIL, "198.51.100.1")
    clock.advance(3600)
    for _ in range(5):
        assert fail(throttle, EMAIL, "198.51.100.1") == 0


def test_parallel_attempts_cannot_all_pass_while_the_hash_runs() -> None:
    throttle = LoginThrottle(FakeClock())
    started = [throttle.begin(EMAIL, "198.51.100.1") for _ in range(10)]  # none finished yet
    assert started[:5] == [0] * 5 and all(wait > 0 for wait in started[5:])


def test_an_attempt_that_errored_is_not_counted() -> None:
    throttle = LoginThrottle(FakeClock())
    for _ in range(10):
        assert throttle.begin(EMAIL, OWNER) == 0
        throttle.abandon(EMAIL, OWNER)
    assert throttle.retry_after(EMAIL, OWNER) == 0


def test_a_wall_clock_step_neither_lifts_nor_extends_a_wait() -> None:
    clock = FakeClock()
    throttle = LoginThrottle(clock)
    for _ in range(5):
        fail(throttle, EMAIL, "198.51.100.1")
    clock.step(-86_400)
    assert throttle.retry_after(EMAIL, "198.51.100.1") == 60
    clock.step(+2 * 86_400)
    assert throttle.retry_after(EMAIL, "198.51.100.1") == 60


def test_tables_are_bounded() -> None:
    throttle = LoginThrottle(FakeClock(), max_keys=100)
    for n in range(1000):
        fail(throttle, f"user{n}@example.com", f"10.0.{n // 250}.{n % 250}")
    for table in (throttle._pairs, throttle._clients, throttle._emails):
        assert len(table._entries) <= 100


@pytest.mark.parametrize(
    ("host", "key"),
    [
        ("203.0.113.10", "203.0.113.10"),
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:bbbb::9", "2001:db8:1:2::/64"),  # same subscriber, same key
        ("::ffff:203.0.113.10", "203.0.113.10"),
        ("fe80::1%eth0", "fe80::/64"),
        ("testclient", "testclient"),
    ],
)
def test_client_key(host: str, key: str) -> None:
    assert client_key(host) == key


def test_an_ipv6_subscriber_cannot_rotate_addresses_in_its_64() -> None:
    throttle = LoginThrottle(FakeClock())
    for n in range(5):
        assert fail(throttle, EMAIL, f"2001:db8:1:2::{n + 1:x}") == 0
    assert throttle.retry_after(EMAIL, "2001:db8:1:2::ffff") == 60


def test_sliding_window_admits_the_limit_then_says_how_long_to_wait() -> None:
    clock = FakeClock()
    limit = SlidingWindowLimit(clock, limit=3, window_seconds=60)
    assert [limit.admit("a") for _ in range(3)] == [0, 0, 0]
    assert limit.admit("a") == 60  # refused attempts are not counted
    assert limit.admit("b") == 0  # other keys are counted apart
    clock.advance(30)
    assert limit.admit("a") == 30
    clock.advance(30)
    assert limit.admit("a") == 0  # the first three left the window


def test_sliding_window_forgets_the_least_recent_keys_beyond_its_bound() -> None:
    limit = SlidingWindowLimit(FakeClock(), limit=1, window_seconds=60, max_keys=2)
    assert limit.admit("a") == 0
    assert limit.admit("b") == 0
    assert limit.admit("c") == 0  # "a" forgotten
    assert limit.admit("a") == 0
    assert limit.admit("c") == 60
