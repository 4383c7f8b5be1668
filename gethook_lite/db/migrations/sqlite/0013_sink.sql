-- Sink sources (gethook sink, docs/sink.md): a source that captures every request raw, for
-- tests and CI. Off by default: other sources keep deduplicating and take POST only.
ALTER TABLE sources ADD COLUMN sink INTEGER NOT NULL DEFAULT 0;

-- The request line of an event received at ingest (NULL for events made by the API or a
-- replay): the method, the path below /ingest/{token} ('' or '/sub/path') and the raw query.
ALTER TABLE events ADD COLUMN request_method TEXT;
ALTER TABLE events ADD COLUMN request_path TEXT;
ALTER TABLE events ADD COLUMN request_query TEXT;
-- 1: captured by a sink source, kept even when it repeats an external id (never deduplicated,
-- never the original a later event is a duplicate of).
ALTER TABLE events ADD COLUMN capture INTEGER NOT NULL DEFAULT 0;

DROP INDEX events_inbound_dedupe;
CREATE UNIQUE INDEX events_inbound_dedupe ON events (source_id, external_event_id)
    WHERE direction = 'inbound' AND external_event_id IS NOT NULL AND created_by <> 'replay'
      AND capture = 0;

-- A sink source's scripted answers: the Nth request it captures (N from 0) is answered
-- statuses[min(N, len - 1)]. ``position`` is how many were answered so far; it moves in the
-- same transaction that stores the captured event.
CREATE TABLE sink_response_plans (
    source_id   TEXT PRIMARY KEY REFERENCES sources (id) ON DELETE CASCADE,
    account_id  TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    statuses    TEXT NOT NULL,              -- JSON array of HTTP statuses (100..599)
    delay_ms    INTEGER NOT NULL DEFAULT 0,
    body        TEXT,                       -- the answer's body; NULL: the usual JSON answer
    position    INTEGER NOT NULL DEFAULT 0,
    updated_at  REAL NOT NULL
);
