-- As SQLite's 0021: tallies per source too, so that a listing filtered by source and status
-- answers its total from them. The key gains a column: the table is rebuilt with its columns
-- in SQLite's order (source_id before shard and n), the tallies recounted from events into
-- shard 0 (once, at the upgrade), and the delete trigger's tally takes the source.
CREATE TABLE event_tallies_by_source (
    account_id   text NOT NULL,
    day          bigint NOT NULL,          -- floor(received_at / 86400): a cast would round
    direction    text NOT NULL,
    status       text NOT NULL,
    final_state  text NOT NULL,
    source_id    text NOT NULL,            -- '' for none (outbound events)
    shard        smallint NOT NULL DEFAULT 0,
    n            bigint NOT NULL,
    CONSTRAINT event_tallies_by_source_key
        PRIMARY KEY (account_id, day, direction, status, final_state, source_id, shard)
);
INSERT INTO event_tallies_by_source
    (account_id, day, direction, status, final_state, source_id, shard, n)
SELECT account_id, floor(received_at / 86400)::bigint, direction, status,
       coalesce(final_state, ''), coalesce(source_id, ''), 0, count(*)
FROM events
GROUP BY 1, 2, 3, 4, 5, 6;
DROP TABLE event_tallies;
ALTER TABLE event_tallies_by_source RENAME TO event_tallies;

DROP TRIGGER IF EXISTS events_deleted ON events;
DROP FUNCTION IF EXISTS events_deleted();
DROP FUNCTION IF EXISTS gethook_tally(text, double precision, text, text, text, integer);

CREATE FUNCTION events_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO event_tallies AS t
        (account_id, day, direction, status, final_state, source_id, shard, n)
    VALUES (OLD.account_id, floor(OLD.received_at / 86400)::bigint, OLD.direction, OLD.status,
            coalesce(OLD.final_state, ''), coalesce(OLD.source_id, ''), gethook_shard(), -1)
    ON CONFLICT (account_id, day, direction, status, final_state, source_id, shard)
    DO UPDATE SET n = t.n - 1;
    RETURN NULL;
END $$;
CREATE TRIGGER events_deleted AFTER DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION events_deleted();
