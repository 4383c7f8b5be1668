-- The scheduler scans due deliveries in time order, skipping destinations that are at their
-- concurrency limit: with destination_id in the index, that scan never touches the table.
DROP INDEX deliveries_due;
CREATE INDEX deliveries_due ON deliveries (next_attempt_at, destination_id) WHERE status = 'pending';
