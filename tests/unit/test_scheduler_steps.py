"""What happens to a delivery after an attempt: the pure next_step rule, table-driven."""

from __future__ import annotations

import pytest

from gethook_lite.db.events import aggregate_status
from gethook_lite.delivery.dispatch import AttemptResult, classify_status
from gethook_lite.delivery.retry import RetryPolicy
from gethook_lite.delivery.scheduler import next_step

NOW = 1_800_000_000.0
POLICY = RetryPolicy(max_attempts=3, backoff="fixed", initial_interval_seconds=10)


def result(outcome: str, status: int | None = None, retry_after: str | None = None):
    return AttemptResult(
        outcome=outcome,
        started_at=NOW,
        finished_at=NOW,
        latency_ms=1.0,
        response_status=status,
        retry_after=retry_after,
    )


def no_jitter() -> float:
    return 0.5  # the middle of the jitter range: exactly the nominal wait


@pytest.mark.parametrize(
    ("attempt", "attempts_made", "expected"),
    [
        (result("success", 200), 1, ("succeeded", None)),
        (result("http_5xx", 500), 1, ("pending", NOW + 10)),
        (result("timeout"), 2, ("pending", NOW + 10)),
        (result("http_5xx", 500), 3, ("dead_letter", None)),
        (result("http_4xx", 410), 1, ("dead_letter", None)),
        (result("network_error"), 1, ("pending", NOW + 10)),
        (result("http_4xx", 429, "120"), 1, ("pending", NOW + 120)),
        (result("http_5xx", 503, "5"), 1, ("pending", NOW + 10)),
        (result("http_4xx", 429, "999999"), 1, ("pending", NOW + 3600)),
        (result("http_4xx", 429, "soon"), 1, ("pending", NOW + 10)),
        (result("http_4xx", 400, "120"), 1, ("pending", NOW + 10)),
    ],
)
def test_next_step(attempt, attempts_made, expected):
    assert next_step(POLICY, attempt, attempts_made, NOW, 3600, no_jitter) == expected


@pytest.mark.parametrize(
    ("status", "outcome"),
    [(200, "success"), (204, "success"), (301, "http_4xx"), (404, "http_4xx"), (500, "http_5xx")],
)
def test_classify_status(status, outcome):
    assert classify_status(status) == outcome


@pytest.mark.parametrize(
    ("deliveries", "status"),
    [
        ([], "accepted"),
        ([("pending", 0)], "queued"),
        ([("pending", 1)], "retry_scheduled"),
        ([("in_flight", 0), ("pending", 2)], "delivering"),
        ([("succeeded", 1), ("pending", 1)], "retry_scheduled"),
        ([("succeeded", 1), ("succeeded", 3)], "delivered"),
        ([("succeeded", 1), ("dead_letter", 3)], "dead_letter"),
        ([("cancelled", 0)], "accepted"),
        ([("cancelled", 0), ("succeeded", 1)], "delivered"),
    ],
)
def test_event_status_aggregates_its_deliveries(deliveries, status):
    assert aggregate_status(deliveries) == status
