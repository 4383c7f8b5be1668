-- Several processes on one database (issue 19). A delivery's lease names the process that
-- holds it: an outcome is recorded only by the holder of that very lease, and a process
-- that stops releases its own leases, not the others'. Export jobs are leased the same way.
-- The same columns on SQLite keep the two schemas in step (one process holds every lease).
ALTER TABLE deliveries ADD COLUMN leased_by TEXT;
ALTER TABLE exports ADD COLUMN leased_by TEXT;
ALTER TABLE exports ADD COLUMN lease_expires_at REAL;

-- Pacing state shared by every process that claims (docs/design/postgresql.md §6.8): a rate
-- limit's token bucket (tokens counted at stamp, unix seconds) and the end of a Retry-After
-- window, read and written by the claim under the claim lock and by the outcome write.
CREATE TABLE destination_pacing (
    destination_id  TEXT PRIMARY KEY REFERENCES destinations (id) ON DELETE CASCADE,
    tokens          REAL,
    stamp           REAL,
    slowed_until    REAL
);
