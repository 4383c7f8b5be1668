-- Retention finds an account's oldest events by arrival time. Event ids are time-ordered by
-- the wall clock, but received_at is what retention promises, and without this index each
-- purge pass would scan every event of the account to find the few expired ones.
CREATE INDEX IF NOT EXISTS events_by_received ON events (account_id, received_at);
