"""Tuning numbers, each with the reason for its value."""

__all__ = [
    "CLAIM_BATCH",
    "CLAIM_COALESCE_SECONDS",
    "CLOCK_STEP_THRESHOLD_SECONDS",
    "GONE_STATUS",
    "LEASE_MARGIN_SECONDS",
    "LEASE_RECLAIM_INTERVAL_SECONDS",
    "LOGIN_FAILURE_LIMIT",
    "LOGIN_FAILURE_WINDOW_SECONDS",
    "MAX_WRITE_BATCH",
    "PRIVATE_DIR_MODE",
    "PRIVATE_FILE_MODE",
    "ROUTING_INLINE_MAX_ROUTES",
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

# Routes of one source matched on the event loop at most; a larger table is matched in a
# worker thread. Linear matching costs at worst ~50 us per route (255-character pattern and
# type), so 64 routes stall the loop ~3 ms at worst, less than a thread hop costs when the
# patterns are ordinary.
ROUTING_INLINE_MAX_ROUTES = 64

# The data directory and everything in it (database, WAL, key, export files) belong to the
# server's user alone: event bodies and secrets must not be readable by other local users.
PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600
