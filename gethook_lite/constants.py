"""Tuning numbers, each with the reason for its value."""

__all__ = [
    "BACKUP_FIRST_DELAY_SECONDS",
    "BACKUP_NICENESS",
    "BACKUP_RETRY_SECONDS",
    "CLAIM_BATCH",
    "CLAIM_COALESCE_SECONDS",
    "CLAIM_WINDOW_FACTOR",
    "CLOCK_STEP_THRESHOLD_SECONDS",
    "DOCTOR_FULL_DISK_BYTES",
    "DOCTOR_LARGE_WAL_BYTES",
    "DOCTOR_LOW_DISK_BYTES",
    "DOCTOR_OLD_BACKUP_SECONDS",
    "EVENT_LIST_BODY_BYTES",
    "EVENT_STREAM_PATH",
    "EVENT_WAIT_PATH",
    "FD_RESERVE",
    "GONE_STATUS",
    "LEASE_MARGIN_SECONDS",
    "LEASE_RECLAIM_INTERVAL_SECONDS",
    "LOGIN_BACKOFF_BASE_SECONDS",
    "LOGIN_BACKOFF_CAP_SECONDS",
    "LOGIN_CLIENT_FREE_FAILURES",
    "LOGIN_EMAIL_CEILING",
    "LOGIN_FAILURE_MEMORY_SECONDS",
    "LOGIN_PAIR_FREE_FAILURES",
    "LOGIN_THROTTLE_MAX_KEYS",
    "MAX_JSON_DEPTH",
    "MAX_LINGERING_REFUSALS",
    "MAX_WRITE_BATCH",
    "PRIVATE_DIR_MODE",
    "PRIVATE_FILE_MODE",
    "REFUSAL_LINGER_SECONDS",
    "ROUTING_INLINE_MAX_ROUTES",
    "SCHEDULER_IDLE_POLL_SECONDS",
    "SHUTDOWN_GRACE_SECONDS",
    "SIGNUP_LIMIT_WINDOW_SECONDS",
    "SQLITE_BUSY_TIMEOUT_MS",
    "STREAM_FEED_COALESCE_SECONDS",
    "STREAM_PAGE",
]

# Writes committed together at most; large enough to amortise an fsync over a burst, small
# enough that one transaction never holds the write lock for long.
MAX_WRITE_BATCH = 512

# How long a statement waits for another process's lock before failing (and ingest answers 503):
# the default of the storage.busy_timeout_ms setting. Long enough for a backup tool's snapshot
# or a `sqlite3` shell's short write; short enough that a sender retries instead of timing out.
SQLITE_BUSY_TIMEOUT_MS = 5000

# The bodies one page of GET /v1/events (or /v1/outbound-events) may hold in all: a page stops
# early, after at least one event, once they reach this. 500 events (the largest page) of a
# 1 MiB body each would otherwise be half a gigabyte in memory for one poll; 4 MiB still holds
# hundreds of typical (a few KiB) webhook bodies, so a `listen` poll almost always gets a full page.
EVENT_LIST_BODY_BYTES = 4 * 1024 * 1024

# Login throttling (domain/throttle.py says why it is per email *and* client address).
# Wrong passwords one address may send for one email before it has to wait: enough for typos.
LOGIN_PAIR_FREE_FAILURES = 5
# Wrong passwords one address may send over all emails before it has to wait: a few people
# behind one NAT mistyping, but not a password sprayed over a list of emails.
LOGIN_CLIENT_FREE_FAILURES = 20
# Failures for one email (from all addresses) above which it counts as under attack: each
# address that has failed for it then gets one free failure instead of five.
LOGIN_EMAIL_CEILING = 20
# The first wait, doubled on each further failure up to the cap: after the free ones an
# address gets about four guesses per hour per email, and a typing human waits one minute.
LOGIN_BACKOFF_BASE_SECONDS = 60.0
LOGIN_BACKOFF_CAP_SECONDS = 900.0
# Failures are forgotten after this long without another one.
LOGIN_FAILURE_MEMORY_SECONDS = 3600.0
# Entries per throttle table (pairs, addresses, emails): about 100 bytes each, so a spray of
# distinct emails or addresses costs at most tens of MB; the oldest are forgotten first.
LOGIN_THROTTLE_MAX_KEYS = 100_000

# A delivery lease lasts the destination's timeout plus this margin, so an attempt still
# running is never handed to another worker (a lease shorter than the timeout double-delivers).
LEASE_MARGIN_SECONDS = 30.0

# Deliveries leased per claim transaction at most.
CLAIM_BATCH = 256

# A claim reads this many times its batch of the oldest due deliveries from the index, so the
# fair order (db/claim_order.py) has several destinations and accounts to choose between;
# due work beyond that window is still represented by each destination's oldest delivery.
# The batch counted here is at most the per-destination cap: a destination can take no more
# than that, so a longer window would be mostly one backlog's deliveries it cannot take (read
# and sorted at every claim: half of a claim's cost under load, measured).
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

# Routes of one source matched on the event loop at most; a larger table is matched in a
# worker thread. Linear matching costs at worst ~50 us per route (255-character pattern and
# type), so 64 routes stall the loop ~3 ms at worst, less than a thread hop costs when the
# patterns are ordinary.
ROUTING_INLINE_MAX_ROUTES = 64

# The data directory and everything in it (database, WAL, key, export files) belong to the
# server's user alone: event bodies and secrets must not be readable by other local users.
PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600

# The live stream (domain/stream.py, domain/stream_feed.py). Change-log rows read per query:
# a replay or a burst is read in pages this size, so one read never holds much in memory.
STREAM_PAGE = 500
# After publishing, the feed waits this long before reading again: under a burst one read then
# covers many commits, while a reader still sees a change a few milliseconds after its commit.
STREAM_FEED_COALESCE_SECONDS = 0.005
# The event stream's path: the server's graceful shutdown closes connections on it at once
# (gethook_lite/server.py), since a live stream never ends by itself.
EVENT_STREAM_PATH = "/v1/events/stream"
# The long poll for events (api/sink.py): like the stream, ended at once when the server stops.
EVENT_WAIT_PATH = "/v1/events/wait"
# A scheduled backup with no earlier one in its folder runs this long after start (or after one
# interval, if shorter): soon enough that a fresh install is covered the same day, late enough
# that a crash-looping server does not write an archive per restart.
BACKUP_FIRST_DELAY_SECONDS = 60.0

# `gethook backup` lowers its CPU priority by this much (nice 10, as for batch jobs): on a small
# VPS its compression and checks would otherwise take a core from the server beside it.
BACKUP_NICENESS = 10

# After a failed scheduled backup (disk full, folder missing), the next try comes this much later
# rather than a whole interval later.
BACKUP_RETRY_SECONDS = 600.0

# Sign-ups (POST /v1/accounts and /v1/auth/register) per client address are counted over this
# window; accounts.signups_per_client is how many it may make in it.
SIGNUP_LIMIT_WINDOW_SECONDS = 3600

# A dashboard session lasts this long from sign-in, however active (then sign in again): a
# working day, so a cookie left on a shared machine does not stay good for weeks.
WEB_SESSION_LIFETIME_SECONDS = 12 * 3600

# The dashboard's events page shows this many per page (the cursor pages on by event id).
WEB_EVENTS_PAGE_SIZE = 50

# A bulk replay (the dashboard's "replay all matching") replays at most this many events per
# request: each is a routed write like a single replay, and the request waits for all of them.
BULK_REPLAY_MAX_EVENTS = 1000

# Destination health (success rate, p95 latency, last error) covers this window, from at most
# this many of the newest attempts: the read stays bounded however busy the account is.
DESTINATION_HEALTH_WINDOW_SECONDS = 86_400
DESTINATION_HEALTH_MAX_ATTEMPTS = 5_000

# `gethook doctor`: free space on the data directory's disk below which it warns (a day or two of
# events and a backup on a small VPS) and below which it reports an error (SQLite refuses writes
# on a full disk, and every ingest then fails with 503).
DOCTOR_LOW_DISK_BYTES = 1024 * 1024 * 1024
DOCTOR_FULL_DISK_BYTES = 100 * 1024 * 1024

# `gethook doctor` warns when gethook.db-wal is larger than this: SQLite checkpoints it back to
# a few MB after each burst, so a WAL this big means checkpoints are being held off (a reader
# that never finishes) and reads slow down as it grows.
DOCTOR_LARGE_WAL_BYTES = 256 * 1024 * 1024

# `gethook doctor` warns when the newest backup is older than this (without scheduled backups;
# with them, when older than two of their intervals).
DOCTOR_OLD_BACKUP_SECONDS = 7 * 24 * 3600.0

# Customer portal sessions (POST /v1/portal-sessions): how long a link may live. Short enough
# that a leaked link dies, long enough to embed for a working day or mail for a month.
PORTAL_SESSION_MIN_SECONDS = 300
PORTAL_SESSION_MAX_SECONDS = 30 * 24 * 3600
PORTAL_SESSION_DEFAULT_SECONDS = 3600
# Bounds on one session's lists (a portal is for one customer's few endpoints).
PORTAL_MAX_DESTINATIONS = 100
PORTAL_MAX_ORIGINS = 20
# Events a portal page lists per destination set (newest first).
PORTAL_EVENTS_PAGE_SIZE = 50
