-- An event's insert no longer fires per-row triggers: the write that inserts events (ingest's
-- accept_events, the only one) appends their change-log rows with one statement and adjusts
-- the tallies and counters once per batch (db/changes.log_received, db/stats.count_inserted).
-- Per row, these four triggers cost about a quarter of the writer's CPU on ingest.
--
-- Status changes, deletes and attempts keep their triggers (0002, 0010): many code paths
-- make those. Nothing to backfill: every event inserted so far fired the triggers.
DROP TRIGGER changes_on_event_insert;
DROP TRIGGER event_tallies_on_insert;
DROP TRIGGER counters_on_event_insert;
DROP TRIGGER counters_on_finished_event_insert;
