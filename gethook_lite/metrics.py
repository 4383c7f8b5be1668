"""Operator metrics in Prometheus text format, one registry per running instance."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

__all__ = ["Metrics"]

# Delivery latency buckets (seconds): local receivers answer in milliseconds, remote ones in
# tens to hundreds, and the slowest run into the destination's timeout (up to 120 s).
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


class Metrics:
    """Counters the ingest path and the scheduler move; gauges filled in at scrape time."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.ingest_requests = Counter(
            "gethook_ingest_requests",
            "Requests to /ingest/{token} by outcome.",
            ["outcome"],
            registry=self.registry,
        )
        self.verification_failures = Counter(
            "gethook_verification_failures",
            "Inbound requests refused by signature/credential verification.",
            ["auth_mode"],
            registry=self.registry,
        )
        self.deliveries = Counter(
            "gethook_delivery_attempts",
            "Delivery attempts by outcome.",
            ["outcome"],
            registry=self.registry,
        )
        self.delivery_latency = Histogram(
            "gethook_delivery_latency_seconds",
            "Time from sending a delivery request to its answer (or failure).",
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.retries = Counter(
            "gethook_delivery_retries",
            "Failed attempts that scheduled another attempt.",
            registry=self.registry,
        )
        self.dead_letters = Counter(
            "gethook_dead_letters",
            "Deliveries that exhausted their attempts (or got 410 Gone).",
            registry=self.registry,
        )
        self.queue_depth = Gauge(
            "gethook_queue_depth",
            "Deliveries waiting: due now, scheduled for later, and in flight.",
            ["state"],
            registry=self.registry,
        )
        self.circuits = Gauge(
            "gethook_destination_circuits",
            "Destinations by circuit-breaker state (closed, open, half_open).",
            ["state"],
            registry=self.registry,
        )
        self.held_deliveries = Gauge(
            "gethook_held_deliveries",
            "Deliveries held because their destination is paused or its circuit is open.",
            registry=self.registry,
        )
        self.database_size = Gauge(
            "gethook_database_size_bytes",
            "Size of the SQLite database file and its WAL.",
            registry=self.registry,
        )

    def record_attempt(self, outcome: str, latency_seconds: float, next_status: str) -> None:
        self.deliveries.labels(outcome).inc()
        self.delivery_latency.observe(latency_seconds)
        if next_status == "pending":
            self.retries.inc()
        elif next_status == "dead_letter":
            self.dead_letters.inc()

    def render(
        self,
        queue_depth: dict[str, int],
        database_bytes: int,
        circuits: tuple[dict[str, int], int] = ({}, 0),
    ) -> bytes:
        """``circuits``: destinations by circuit state, and deliveries held."""
        for state, count in queue_depth.items():
            self.queue_depth.labels(state).set(count)
        by_state, held = circuits
        for state, count in by_state.items():
            self.circuits.labels(state).set(count)
        self.held_deliveries.set(held)
        self.database_size.set(database_bytes)
        return generate_latest(self.registry)
