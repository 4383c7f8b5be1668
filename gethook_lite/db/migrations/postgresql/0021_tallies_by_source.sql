-- As SQLite's 0021: tallies per source too, so that a listing filtered by source and status
-- answers its total from them. The key gains a column: the tallies are recounted from events
-- into shard 0 (once, at the upgrade), and the delete trigger's tally function takes the
-- source.
ALTER TABLE event_tallies ADD COLUMN source_id text NOT NULL DEFAULT '';
ALTER TABLE event_tallies DROP CONSTRAINT event_tallies_pkey;
DELETE FROM event_tallies;
INSERT INTO event_tallies (account_id, day, direction, status, final_state, source_id, shard, n)
SELECT account_id, floor(received_at / 86400)::bigint, direction, status,
       coalesce(final_state, ''), coalesce(source_id, ''), 0, count(*)
FROM events
GROUP BY 1, 2, 3, 4, 5, 6;
ALTER TABLE event_tallies
    ADD PRIMARY KEY (account_id, day, direction, status, final_state, source_id, shard);

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
