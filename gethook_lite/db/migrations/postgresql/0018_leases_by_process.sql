-- Several processes on one database (issue 19). A delivery's lease names the process that
-- holds it: an outcome is recorded only by the holder of that very lease, and a process
-- that stops releases its own leases, not the others'. Export jobs are leased the same way.
ALTER TABLE deliveries ADD COLUMN leased_by text;
ALTER TABLE exports ADD COLUMN leased_by text;
ALTER TABLE exports ADD COLUMN lease_expires_at double precision;

-- Pacing state shared by every process that claims (docs/design/postgresql.md §6.8): a rate
-- limit's token bucket (tokens counted at stamp, unix seconds) and the end of a Retry-After
-- window, read and written by the claim under the claim lock and by the outcome write.
CREATE TABLE destination_pacing (
    destination_id  text PRIMARY KEY REFERENCES destinations (id) ON DELETE CASCADE,
    tokens          double precision,
    stamp           double precision,
    slowed_until    double precision
);
