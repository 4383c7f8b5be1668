-- Clients poll GET /v1/events?source_id=…&status=… every few seconds: serve the page and its
-- total from one index range instead of walking every event of the account. All the list's
-- equality columns are in it, so the planner prefers it to events_by_status.
CREATE INDEX events_by_source_status ON events (source_id, status, account_id, direction, id);
