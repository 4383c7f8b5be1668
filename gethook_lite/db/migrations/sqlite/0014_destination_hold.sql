-- Delivery control (issue 17, sections 1 and 2): pausing a destination and its circuit breaker
-- hold its deliveries (status 'held') instead of attempting, cancelling or dropping them.

-- One row per destination that was ever paused or had an attempt's outcome recorded; a
-- destination without one is running with a closed circuit.
CREATE TABLE destination_control (
    destination_id  TEXT PRIMARY KEY REFERENCES destinations (id) ON DELETE CASCADE,
    account_id      TEXT NOT NULL,
    paused_at       REAL,                    -- NULL: not paused
    paused_reason   TEXT,                    -- manual | circuit_open_too_long
    circuit_state   TEXT NOT NULL DEFAULT 'closed',  -- closed | open | half_open
    next_probe_at   REAL,                    -- open: when the cool-down ends
    opened_at       REAL,                    -- not closed: when the outage began
    breaker         TEXT                     -- JSON: the whole breaker (delivery/breaker.py)
);
-- The destinations whose deliveries are held: read by every ingest write (a handful of rows).
CREATE INDEX destination_control_holding ON destination_control (destination_id)
    WHERE paused_at IS NOT NULL OR circuit_state <> 'closed';

-- When a held delivery was held: on release its retry's wait resumes where it stopped.
ALTER TABLE deliveries ADD COLUMN held_at REAL;
-- A destination's held deliveries, oldest first (release, probe, held counts).
CREATE INDEX deliveries_held ON deliveries (destination_id, id) WHERE status = 'held';

-- System events about destinations (destination.circuit_opened, ...) written in the same
-- transaction as the change, published as outbound events of the account afterwards.
CREATE TABLE destination_notices (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused: it keys the event
    account_id      TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    destination_id  TEXT NOT NULL,
    type            TEXT NOT NULL,
    payload         TEXT NOT NULL,           -- JSON
    created_at      REAL NOT NULL
);
