"""Destination health from attempt rows (pure)."""

from __future__ import annotations

import pytest

from gethook_lite.domain.destination_health import summarise_attempts


def _row(dest, outcome, latency=10.0, status=200, error=None, at=1.0):
    return {
        "destination_id": dest,
        "outcome": outcome,
        "latency_ms": latency,
        "response_status": status,
        "error_message": error,
        "started_at": at,
    }


def test_rate_p95_and_the_newest_error_per_destination():
    rows = [  # newest first
        _row("a", "success", 5, at=9),
        _row("a", "http_5xx", 40, status=503, at=8),
        _row("a", "timeout", 30_000, status=None, error="timed out after 30 s", at=7),
        *[_row("a", "success", float(n), at=1) for n in range(1, 18)],
        _row("b", "pending", None, status=None),
        _row("b", "cancelled", None, status=None),
    ]
    health = summarise_attempts(rows)
    a = health["a"]
    assert a.attempts == 20 and a.success_rate_pct == 90.0
    assert a.p95_latency_ms == 40  # 19th of 20 sorted latencies
    assert a.last_error == "HTTP 503 (http 5xx)" and a.last_error_at == 8
    assert "b" not in health  # no finished attempt: no health to show


@pytest.mark.parametrize(
    ("latencies", "p95"),
    [([], None), ([7.4], 7), ([1.0, 2.0], 2), ([float(n) for n in range(1, 101)], 95)],
)
def test_p95_is_the_nearest_rank(latencies, p95):
    rows = [_row("d", "success", latency) for latency in latencies] or [_row("d", "success", None)]
    assert summarise_attempts(rows)["d"].p95_latency_ms == p95
