-- Several processes on one database (issue 19). A delivery's lease names the process that
-- holds it: an outcome is recorded only by the holder of that very lease, and a process
-- that stops releases its own leases, not the others'. Export jobs are leased the same way.
-- The same columns on SQLite keep the two schemas in step (one process holds every lease).
ALTER TABLE deliveries ADD COLUMN leased_by TEXT;
ALTER TABLE exports ADD COLUMN leased_by TEXT;
ALTER TABLE exports ADD COLUMN lease_expires_at REAL;
