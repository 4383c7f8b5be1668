-- Stats without scanning events: tallies and counters kept up to date by triggers.
--
-- GET /v1/stats must answer in milliseconds on millions of events. Counting the events table
-- on each request is linear in the account's events (hundreds of ms at a million), so every
-- change to an event adjusts a small tally row instead; the stats query reads at most a few
-- rows per day of its window. Triggers (rather than calls in the Python write paths) keep the
-- tallies right whatever code inserts, updates or deletes events: ingest, publish, replay,
-- delivery, retention, account deletion (foreign-key cascades fire triggers too).

-- Events per (account, UTC day of received_at, direction, status, final state). Rows whose
-- n dropped to 0 are left in place: they are harmless and deleting them costs a write.
CREATE TABLE event_tallies (
    account_id   TEXT NOT NULL,
    day          INTEGER NOT NULL,       -- CAST(received_at / 86400 AS INTEGER): the UTC day
    direction    TEXT NOT NULL,
    status       TEXT NOT NULL,
    final_state  TEXT NOT NULL,          -- '' for NULL: NULLs never conflict in a primary key
    n            INTEGER NOT NULL,
    PRIMARY KEY (account_id, day, direction, status, final_state)
) WITHOUT ROWID;

INSERT INTO event_tallies (account_id, day, direction, status, final_state, n)
SELECT account_id, CAST(received_at / 86400 AS INTEGER), direction, status,
       coalesce(final_state, ''), count(*)
FROM events
GROUP BY 1, 2, 3, 4, 5;

CREATE TRIGGER event_tallies_on_insert AFTER INSERT ON events
BEGIN
    INSERT INTO event_tallies (account_id, day, direction, status, final_state, n)
    VALUES (NEW.account_id, CAST(NEW.received_at / 86400 AS INTEGER), NEW.direction,
            NEW.status, coalesce(NEW.final_state, ''), 1)
    ON CONFLICT DO UPDATE SET n = n + 1;
END;

-- Fires only when the status or the final state really changes (refresh_event_status often
-- rewrites the same values).
CREATE TRIGGER event_tallies_on_update AFTER UPDATE OF status, final_state ON events
WHEN OLD.status IS NOT NEW.status OR OLD.final_state IS NOT NEW.final_state
BEGIN
    UPDATE event_tallies SET n = n - 1
    WHERE account_id = OLD.account_id AND day = CAST(OLD.received_at / 86400 AS INTEGER)
      AND direction = OLD.direction AND status = OLD.status
      AND final_state = coalesce(OLD.final_state, '');
    INSERT INTO event_tallies (account_id, day, direction, status, final_state, n)
    VALUES (NEW.account_id, CAST(NEW.received_at / 86400 AS INTEGER), NEW.direction,
            NEW.status, coalesce(NEW.final_state, ''), 1)
    ON CONFLICT DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER event_tallies_on_delete AFTER DELETE ON events
BEGIN
    UPDATE event_tallies SET n = n - 1
    WHERE account_id = OLD.account_id AND day = CAST(OLD.received_at / 86400 AS INTEGER)
      AND direction = OLD.direction AND status = OLD.status
      AND final_state = coalesce(OLD.final_state, '');
END;

-- Instance-wide counters for GET /v1/platform-stats. They only ever grow: retention deletes
-- events, not the history of what the instance processed.
INSERT INTO counters (name, value) VALUES
    ('events_processed', (SELECT count(*) FROM events)),
    ('events_delivered', (SELECT count(*) FROM events WHERE final_state = 'delivered')),
    ('events_dead_lettered', (SELECT count(*) FROM events WHERE final_state = 'dead_letter')),
    ('delivery_attempts', (SELECT count(*) FROM attempts))
ON CONFLICT (name) DO NOTHING;

CREATE TRIGGER counters_on_event_insert AFTER INSERT ON events
BEGIN
    UPDATE counters SET value = value + 1 WHERE name = 'events_processed';
END;

-- Events are normally inserted unfinished; these two count whichever way one finishes.
CREATE TRIGGER counters_on_finished_event_insert AFTER INSERT ON events
WHEN NEW.final_state IN ('delivered', 'dead_letter')
BEGIN
    UPDATE counters SET value = value + 1
    WHERE name = CASE NEW.final_state
        WHEN 'delivered' THEN 'events_delivered'
        ELSE 'events_dead_lettered'
    END;
END;

CREATE TRIGGER counters_on_event_finish AFTER UPDATE OF final_state ON events
WHEN NEW.final_state IN ('delivered', 'dead_letter') AND OLD.final_state IS NOT NEW.final_state
BEGIN
    UPDATE counters SET value = value + 1
    WHERE name = CASE NEW.final_state
        WHEN 'delivered' THEN 'events_delivered'
        ELSE 'events_dead_lettered'
    END;
END;

CREATE TRIGGER counters_on_attempt_insert AFTER INSERT ON attempts
BEGIN
    UPDATE counters SET value = value + 1 WHERE name = 'delivery_attempts';
END;

-- The export worker's lookups: the next job to run, and finished files due for deletion.
CREATE INDEX exports_pending ON exports (id) WHERE status = 'pending';
CREATE INDEX exports_expiring ON exports (expires_at) WHERE file_name IS NOT NULL;
