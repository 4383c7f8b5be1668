-- Bulk retry jobs (gethook_lite/domain/bulk_retry.py; worked through by tasks/bulk_retries.py):
-- replay the dead letters (or the deliveries waiting to retry) of one destination, source or
-- event type in a time range, a page at a time, resumable after a restart.
CREATE TABLE bulk_retries (
    id           TEXT PRIMARY KEY,            -- bjob_…
    account_id   TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    status       TEXT NOT NULL,               -- queued | running | completed | cancelled | failed
    filter       TEXT NOT NULL,               -- JSON: the validated filter, as the API shows it
    matched      INTEGER NOT NULL,            -- events it will retry, counted when created
    done         INTEGER NOT NULL DEFAULT 0,  -- replays made
    failed       INTEGER NOT NULL DEFAULT 0,  -- events that could not be replayed
    cursor       TEXT NOT NULL DEFAULT '',    -- the last original event id worked through
    upto         TEXT NOT NULL,               -- ids above it were made after the job: never retried
    error        TEXT,
    created_at   REAL NOT NULL,
    started_at   REAL,
    finished_at  REAL
);
CREATE INDEX bulk_retries_by_account ON bulk_retries (account_id, id);
CREATE INDEX bulk_retries_active ON bulk_retries (id) WHERE status IN ('queued', 'running');

-- A replay made by a job names it; the index counts a job's replays still being delivered
-- (its throttle) and its replays made (its progress after a restart).
ALTER TABLE events ADD COLUMN bulk_retry_id TEXT;
CREATE INDEX events_by_bulk_retry ON events (bulk_retry_id, status) WHERE bulk_retry_id IS NOT NULL;

-- What a job reads, in event order: an account's dead-lettered deliveries and those waiting to
-- retry. Partial indexes: a delivery enters them only when it fails, so the hot path of first
-- attempts that succeed never writes to them.
CREATE INDEX deliveries_dead_letters ON deliveries (account_id, event_id, destination_id)
    WHERE status = 'dead_letter';
CREATE INDEX deliveries_retrying ON deliveries (account_id, event_id, destination_id)
    WHERE status = 'pending' AND attempts_count > 0;
