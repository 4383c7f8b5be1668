"""The fair order of service: which due deliveries get the free delivery slots (pure)."""

from __future__ import annotations

import pytest

from gethook_lite.db.claim_order import Candidate, ClaimLimits, fair_pick


def due(*specs: str) -> list[Candidate]:
    """Candidates oldest first from "account/destination" specs; ids are 1, 2, 3..."""
    return [Candidate(number, *spec.split("/")[::-1]) for number, spec in enumerate(specs, start=1)]


def limits(per_destination=32, per_account=64, **busy) -> ClaimLimits:
    return ClaimLimits(
        per_destination=per_destination,
        per_account=per_account,
        busy_destinations=busy.get("destinations", {}),
        busy_accounts=busy.get("accounts", {}),
    )


@pytest.mark.parametrize(
    ("candidates", "limit", "caps", "expected"),
    [
        # One destination: its deliveries oldest first, up to the limit.
        (due("a/x", "a/x", "a/x"), 2, limits(), [1, 2]),
        # A long backlog at one account does not push back another account's first delivery.
        (due("a/x", "a/x", "a/x", "a/x", "b/y"), 2, limits(), [1, 5]),
        # Inside an account, its destinations take turns.
        (due("a/x", "a/x", "a/y"), 2, limits(), [1, 3]),
        # The per-destination cap counts what is already in flight.
        (due("a/x", "a/x", "a/y"), 3, limits(2, destinations={"x": 1}, accounts={"a": 1}), [1, 3]),
        # The per-account cap spans its destinations.
        (due("a/x", "a/y", "a/z", "b/w"), 4, limits(per_account=2), [1, 2, 4]),
        # A free slot goes to the account holding fewest, however old the others' backlog.
        (due("a/x", "a/x", "b/y"), 1, limits(accounts={"a": 5}, destinations={"x": 5}), [3]),
        # Same for destinations inside one account.
        (due("a/x", "a/y"), 1, limits(accounts={"a": 3}, destinations={"x": 3}), [2]),
        # Ties on what is in flight go to the oldest due delivery.
        (due("b/y", "a/x"), 1, limits(), [1]),
        # An account already at its cap gets nothing.
        (due("a/x", "b/y"), 2, limits(per_account=3, accounts={"a": 3}), [2]),
        # Nothing due, or no slot: nothing claimed.
        ([], 5, limits(), []),
        (due("a/x"), 0, limits(), []),
    ],
)
def test_fair_pick(candidates, limit, caps, expected):
    assert sorted(fair_pick(candidates, limit, caps)) == expected


def test_hanging_account_cannot_hold_every_slot():
    """Eight destinations of account a (each with a backlog) and one of b, 16 slots."""
    candidates = [Candidate(n, f"x{n % 8}", "a") for n in range(1, 200)]
    candidates.append(Candidate(500, "y", "b"))
    chosen = fair_pick(candidates, 16, limits(per_destination=4, per_account=8))
    assert 500 in chosen
    assert len([n for n in chosen if n != 500]) == 8


def test_round_robin_over_accounts_as_slots_fill():
    candidates = due(*(["a/x"] * 4 + ["b/y"] * 4 + ["c/z"] * 4))
    chosen = fair_pick(candidates, 6, limits())
    owners = [candidates[n - 1].account_id for n in chosen]
    assert owners == ["a", "b", "c", "a", "b", "c"]
