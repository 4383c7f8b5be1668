"""Tuning numbers, each with the reason for its value."""

__all__ = [
    "CLAIM_BATCH",
    "CLAIM_COALESCE_SECONDS",
    "CLOCK_STEP_THRESHOLD_SECONDS",
    "FD_RESERVE",
    "GONE_STATUS",
    "LEASE_MARGIN_SECONDS",
    "LEASE_RECLAIM_INTERVAL_SECONDS",
    "LOGIN_FAILURE_LIMIT",
    "LOGIN_FAILURE_WINDOW_SECONDS",
    "MAX_JSON_DEPTH",
    "MAX_LINGERING_REFUSALS",
    "MAX_WRITE_BATCH",
    "REFUSAL_LINGER_SECONDS",
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

# JSON request bodies of the API may nest this deep at most (400 beyond). Real configuration and
# payloads stay far below it; it also keeps every later encode/decode clear of Python's
# recursion limit (about 1,000 frames), which is what a deeper document would hit.
MAX_JSON_DEPTH = 100

# After an early refusal (431, 408, 503 at the connection cap) the connection keeps reading and
# discarding for this long before it closes, so the client reads our answer instead of a reset
# caused by the bytes it was still sending.
REFUSAL_LINGER_SECONDS = 1.0

# Refused connections lingering at once at most; beyond it, new refusals close at once without an
# answer, so a connection flood cannot use more descriptors than the cap plus this.
MAX_LINGERING_REFUSALS = 64

# Open files kept free beside client connections and outbound deliveries: the database and its
# WAL (per connection), logs, the event loop, DNS and lingering refusals.
FD_RESERVE = 64 + MAX_LINGERING_REFUSALS

# A dashboard session lasts this long from sign-in, however active (then sign in again): a
# working day, so a cookie left on a shared machine does not stay good for weeks.
WEB_SESSION_LIFETIME_SECONDS = 12 * 3600

# The dashboard's events page shows this many per page (the cursor pages on by event id).
WEB_EVENTS_PAGE_SIZE = 50

# The events page asks for new rows this often while its tab is visible (until it can follow
# the live event stream instead; see gethook_lite/web/static/app.js).
WEB_EVENTS_POLL_MILLISECONDS = 3000

# A bulk replay (the dashboard's "replay all matching") replays at most this many events per
# request: each is a routed write like a single replay, and the request waits for all of them.
BULK_REPLAY_MAX_EVENTS = 1000

# Destination health (success rate, p95 latency, last error) covers this window, from at most
# this many of the newest attempts: the read stays bounded however busy the account is.
DESTINATION_HEALTH_WINDOW_SECONDS = 86_400
DESTINATION_HEALTH_MAX_ATTEMPTS = 5_000
