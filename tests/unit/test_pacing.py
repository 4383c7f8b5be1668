"""Per-destination pacing (pure): token buckets, the allowances a claim gives each paced
destination, and fair_pick respecting them."""

from __future__ import annotations

import pytest

from gethook_lite.db.claim_order import Candidate, ClaimLimits, Ordering, fair_pick
from gethook_lite.db.pacing import DestinationPacing
from gethook_lite.delivery.pacing import (
    Pacer,
    PacingSnapshot,
    TokenBucket,
    burst_of,
    claim_limits,
)

NOTHING = PacingSnapshot({}, frozenset())


def paced(destination="x", *, per=None, period=1, max_concurrency=None, fifo=False, routes=()):
    return DestinationPacing(
        destination, "a", per, period if per else None, max_concurrency, fifo, routes
    )


def base(**busy) -> ClaimLimits:
    return ClaimLimits(per_destination=32, per_account=64, busy_destinations=busy)


# -- token bucket ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rate", "burst"),
    [(20, 2.0), (1, 1.0), (1 / 60, 1.0), (1000, 100.0), (5, 1.0)],
)
def test_burst_is_a_tenth_of_a_second_worth_and_at_least_one(rate, burst):
    assert burst_of(rate) == burst


def test_bucket_refills_at_its_rate_up_to_its_capacity():
    bucket = TokenBucket.full(20, now=100.0)
    assert bucket.level(100.0) == 2
    bucket.take(100.0, 2)
    assert bucket.level(100.0) == 0
    assert bucket.next_token_in(100.0) == pytest.approx(0.05)
    assert bucket.level(100.025) == pytest.approx(0.5)
    assert bucket.next_token_in(100.05) is None
    assert bucket.level(200.0) == 2  # idle a long time: still only the burst


def test_bucket_per_minute_gives_one_token_every_period_over_count():
    bucket = TokenBucket.full(6 / 60, now=0.0)
    bucket.take(0.0, 1)
    assert bucket.next_token_in(0.0) == pytest.approx(10.0)
    assert bucket.level(9.9) < 1 <= bucket.level(10.0)


def test_a_changed_rate_keeps_what_was_used():
    bucket = TokenBucket.full(100, now=0.0)
    bucket.take(0.0, 10)
    bucket.retune(20, now=0.0)
    assert bucket.level(0.0) == 0
    assert bucket.capacity == 2


def test_never_more_than_the_rate_over_any_second():
    """Spending every token as soon as it is whole: at most rate + burst in any 1 s window."""
    pacer, sent, now = Pacer(), [], 0.0
    rule = [paced(per=20)]
    while now < 5.0:
        allowed = claim_limits(base(), rule, pacer.snapshot(now)).allowances["x"]
        pacer.claimed(now, rule, ["x"] * allowed)
        sent += [now] * allowed
        now += pacer.next_release(now) or 0.001
    assert 20 * 5 <= len(sent) <= 20 * 5 + 2
    assert max(sum(1 for t in sent if start <= t < start + 1) for start in sent) <= 20 + 2


# -- allowances ------------------------------------------------------------------------------


def test_unpaced_destinations_get_no_allowance_of_their_own():
    limits = claim_limits(base(), [], NOTHING)
    assert limits.allowances == {} and limits.orderings == {}


def test_a_rate_limited_destination_first_seen_has_a_full_bucket():
    assert claim_limits(base(), [paced(per=20)], NOTHING).allowances == {"x": 2}
    assert claim_limits(base(), [paced(per=1, period=60)], NOTHING).allowances == {"x": 1}


def test_allowance_is_whole_tokens_left():
    snapshot = PacingSnapshot({"x": 0.99}, frozenset())
    assert claim_limits(base(), [paced(per=20)], snapshot).allowances == {"x": 0}


def test_max_concurrency_counts_what_is_in_flight():
    limits = claim_limits(base(x=1), [paced(max_concurrency=2)], NOTHING)
    assert limits.allowances == {"x": 1}
    limits = claim_limits(base(x=3), [paced(max_concurrency=2)], NOTHING)
    assert limits.allowances == {"x": 0}
    assert "x" in limits.saturated_destinations()


def test_the_tighter_of_rate_and_concurrency_wins():
    snapshot = PacingSnapshot({"x": 5.0}, frozenset())
    rule = [paced(per=100, max_concurrency=3)]
    assert claim_limits(base(x=1), rule, snapshot).allowances == {"x": 2}


def test_a_slowed_destination_takes_nothing_even_without_rules():
    snapshot = PacingSnapshot({}, frozenset({"y"}))
    limits = claim_limits(base(), [paced(per=20)], snapshot)
    assert limits.allowances == {"x": 2, "y": 0}
    assert limits.saturated_destinations() == ["y"]


def test_fifo_destinations_and_routes_are_ordered():
    rules = [paced("x", fifo=True), paced("y", routes=("r1",))]
    limits = claim_limits(base(), rules, NOTHING)
    assert limits.orderings == {"x": Ordering("a", True), "y": Ordering("a", False, ("r1",))}
    assert limits.paced_destinations() == ["x", "y"]


# -- the pacer -------------------------------------------------------------------------------


def test_pacer_spends_a_token_per_claimed_delivery_and_wakes_for_the_next():
    pacer = Pacer()
    rule = [paced(per=10)]
    pacer.claimed(0.0, rule, ["x", "y"])  # y has no rate limit: nothing to spend
    assert pacer.snapshot(0.0).tokens == {"x": 0.0}
    assert pacer.next_release(0.0) == pytest.approx(0.1)
    assert pacer.next_release(0.2) is None  # a whole token waits: nothing to wake for


def test_pacer_forgets_a_removed_limit():
    pacer = Pacer()
    pacer.claimed(0.0, [paced(per=10)], ["x"])
    pacer.claimed(0.0, [], [])
    assert pacer.snapshot(0.0).tokens == {} and pacer.next_release(0.0) is None


def test_slow_down_window_ends_on_time_and_keeps_the_longest():
    pacer = Pacer()
    pacer.slow_down("x", 10.0)
    pacer.slow_down("x", 5.0)
    assert pacer.snapshot(0.0).slowed == {"x"}
    assert pacer.next_release(4.0) == 6.0
    assert pacer.snapshot(10.0).slowed == frozenset()


def test_pacer_knows_which_outcomes_unblock_a_fifo_queue():
    pacer = Pacer()
    pacer.claimed(0.0, [paced("x", fifo=True), paced("y", routes=("r1",))], [])
    assert pacer.ordered("x", "any")
    assert pacer.ordered("y", "r1") and not pacer.ordered("y", "r2")
    assert not pacer.ordered("z", "r1")


# -- fair_pick with allowances ---------------------------------------------------------------


def due(*specs: str) -> list[Candidate]:
    return [Candidate(number, *spec.split("/")[::-1]) for number, spec in enumerate(specs, start=1)]


@pytest.mark.parametrize(
    ("candidates", "limit", "allowances", "expected"),
    [
        # One destination: no more than its allowance, however many slots are free.
        (due("a/x", "a/x", "a/x"), 10, {"x": 2}, [1, 2]),
        (due("a/x", "a/x"), 10, {"x": 0}, []),
        # Its allowance spent, the slots go to the others.
        (due("a/x", "a/x", "a/x", "a/y", "a/y"), 10, {"x": 1}, [1, 4, 5]),
        (due("a/x", "a/x", "b/y", "b/y"), 3, {"x": 1}, [1, 3, 4]),
        # An allowance above the per-destination cap does not lift the cap.
        (due("a/x", "a/x", "a/x"), 10, {"x": 5}, [1, 2]),
    ],
)
def test_fair_pick_respects_allowances(candidates, limit, allowances, expected):
    limits = ClaimLimits(per_destination=2, per_account=64, allowances=allowances)
    assert sorted(fair_pick(candidates, limit, limits)) == expected
