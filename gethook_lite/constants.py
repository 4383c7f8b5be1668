"""Tuning numbers, each with the reason for its value."""

__all__ = [
    "LOGIN_FAILURE_LIMIT",
    "LOGIN_FAILURE_WINDOW_SECONDS",
    "MAX_WRITE_BATCH",
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
