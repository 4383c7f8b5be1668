-- The change log, the stats tallies and the counters no longer follow events through per-row
-- triggers: the writes that insert events or change their status keep them, a few statements
-- per batch (db/ingest.accept_events, the only write that inserts events; db/events'
-- refresh_event_status, mark_delivering and mark_replayed, the only ones that change a
-- status; through db/changes.log_received/log_updated and db/stats.count_inserted/
-- count_status_changes). On the writer thread, these triggers cost more than half its CPU per
-- ingested event and per delivery. tests/api/test_event_bookkeeping.py walks every path that
-- inserts an event or changes its status and checks the books against a recount.
--
-- Deletes (retention, account deletion cascades) and attempts keep their triggers (0002,
-- 0010). Nothing to backfill: every change made so far fired the triggers.
DROP TRIGGER changes_on_event_insert;
DROP TRIGGER changes_on_event_status;
DROP TRIGGER event_tallies_on_insert;
DROP TRIGGER event_tallies_on_update;
DROP TRIGGER counters_on_event_insert;
DROP TRIGGER counters_on_finished_event_insert;
DROP TRIGGER counters_on_event_finish;
