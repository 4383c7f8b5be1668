-- The change log behind GET /v1/events/stream, and the requests ingest refused.
--
-- Every change a live reader may want (an event stored, an event's status changing, a request
-- refused by verification) appends one row here in the same transaction as the change itself,
-- so a reader that resumes from a cursor (seq) gets exactly what it missed, in commit order.
-- One writer commits in order, so seq order is commit order. AUTOINCREMENT: a seq is never
-- reused, even after retention deleted every row (a client's old cursor must not skip new rows).
-- Triggers rather than calls in the Python write paths keep it complete whatever code changes
-- an event (ingest, publish, replay, claim, outcome, cancel, lease release).
CREATE TABLE changes (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id      TEXT NOT NULL,
    kind            TEXT NOT NULL,          -- event.received | event.updated | request.rejected
    subject_id      TEXT NOT NULL,          -- the event (evt_…) or the rejected request (rej_…)
    source_id       TEXT,
    direction       TEXT NOT NULL,
    event_type      TEXT,
    status          TEXT,                   -- the event's status after the change
    attempt_id      TEXT,                   -- the attempt that caused an event.updated, if any
    destination_id  TEXT,                   -- that attempt's destination
    created_at      REAL NOT NULL
);
CREATE INDEX changes_by_account ON changes (account_id, seq);

CREATE TRIGGER changes_on_event_insert AFTER INSERT ON events
BEGIN
    INSERT INTO changes (account_id, kind, subject_id, source_id, direction, event_type, status,
                         created_at)
    VALUES (NEW.account_id, 'event.received', NEW.id, NEW.source_id, NEW.direction,
            NEW.event_type, NEW.status, NEW.created_at);
END;

-- Only a real status change (refresh_event_status often rewrites the same value). A finished
-- attempt is inserted before its event's status is refreshed, so the event's newest attempt is
-- the one that caused a move to delivered, retry_scheduled, dead_letter or accepted.
CREATE TRIGGER changes_on_event_status AFTER UPDATE OF status ON events
WHEN OLD.status IS NOT NEW.status
BEGIN
    INSERT INTO changes (account_id, kind, subject_id, source_id, direction, event_type, status,
                         attempt_id, destination_id, created_at)
    SELECT NEW.account_id, 'event.updated', NEW.id, NEW.source_id, NEW.direction,
           NEW.event_type, NEW.status, a.id, a.destination_id,
           (julianday('now') - 2440587.5) * 86400.0
    FROM (SELECT 1) LEFT JOIN (
        SELECT id, destination_id FROM attempts
        WHERE event_id = NEW.id AND NEW.status NOT IN ('queued', 'delivering', 'replayed')
        ORDER BY id DESC LIMIT 1
    ) a ON 1;
END;

-- A request to a valid ingest URL that failed verification: kept (bounded per source, and
-- subject to retention) so its sender can see why, with the headers redacted as for events.
CREATE TABLE rejected_requests (
    id           TEXT PRIMARY KEY,          -- rej_…, time-ordered
    account_id   TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    source_id    TEXT NOT NULL REFERENCES sources (id),
    reason       TEXT NOT NULL,
    headers      TEXT NOT NULL,             -- JSON object, credentials redacted
    body         BLOB NOT NULL,             -- at most the configured cap
    body_size    INTEGER NOT NULL,          -- the whole body's size in bytes
    received_at  REAL NOT NULL
);
CREATE INDEX rejected_requests_by_source ON rejected_requests (source_id, id);
CREATE INDEX rejected_requests_by_account ON rejected_requests (account_id, received_at);

CREATE TRIGGER changes_on_rejected_request AFTER INSERT ON rejected_requests
BEGIN
    INSERT INTO changes (account_id, kind, subject_id, source_id, direction, created_at)
    VALUES (NEW.account_id, 'request.rejected', NEW.id, NEW.source_id, 'inbound',
            NEW.received_at);
END;

CREATE TRIGGER changes_on_account_delete AFTER DELETE ON accounts
BEGIN
    DELETE FROM changes WHERE account_id = OLD.id;
END;
