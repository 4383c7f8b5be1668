"""Tuning numbers, each with the reason for its value."""

__all__ = [
    "CLAIM_BATCH",
    "CLAIM_COALESCE_SECONDS",
    "CLAIM_WINDOW_FACTOR",
    "CLOCK_STEP_THRESHOLD_SECONDS",
    "GONE_STATUS",
    "LEASE_MARGIN_SECONDS",
    "LEASE_RECLAIM_INTERVAL_SECONDS",
    "LOGIN_FAILURE_LIMIT",
    "LOGIN_FAILURE_WINDOW_SECONDS",
    "MAX_WRITE_BATCH",
    "SCHEDULER_IDLE_POLL_SECONDS",
    "SHUTDOWN_GRACE_SECONDS",
    "SQLITE_BUSY_TIMEOUT_MS",
]

# Writes committed together at most; large enough to amortise an fsync over a burst, small
# enough that one transaction never holds the write lock for long.
MAX_WRITE_BATCH = 512

# How long a statement waits for another process's lock before failing (and ingest answers 503).
SQLITE_BUSY_TIMEOUT_MS = 5000

# Failed logins allowed per email (and per client address) within the window before 429.
LOGIN_FAILURE_LIMIT = 5
LOGIN_FAILURE_WINDOW_SECONDS = 900

# A delivery lease lasts the destination's timeout plus this margin, so an attempt still
# running is never handed to another worker (a lease shorter than the timeout double-delivers).
LEASE_MARGIN_SECONDS = 30.0

# Deliveries leased per claim transaction at most.
CLAIM_BATCH = 256

# A claim reads this many times its batch of the oldest due deliveries from the index, so the
# fair order (db/claim_order.py) has several destinations and accounts to choose between;
# due work beyond that window is still represented by each destination's oldest delivery.
CLAIM_WINDOW_FACTOR = 4

# Pause between claims: under load, completions in this window share one claim transaction
# (instead of one per freed slot); when idle it adds at most this much to the first attempt.
CLAIM_COALESCE_SECONDS = 0.001

# Longest the scheduler sleeps without looking at the database (new work wakes it at once).
SCHEDULER_IDLE_POLL_SECONDS = 1.0

# How often expired leases (left by a worker that died) are reclaimed.
LEASE_RECLAIM_INTERVAL_SECONDS = 15.0

# How long a graceful shutdown waits for attempts in flight before releasing them.
SHUTDOWN_GRACE_SECONDS = 8.0

# A wall-clock jump larger than this (against the monotonic clock) shifts pending retries;
# smaller drifts (NTP slewing, scheduling jitter) are ignored.
CLOCK_STEP_THRESHOLD_SECONDS = 5.0

# A 410 Gone answer means "stop sending": the delivery is dead-lettered without retries.
GONE_STATUS = 410
