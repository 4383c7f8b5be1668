-- An event's status change no longer fires per-row triggers: the writes that move statuses
-- (db/events.py: a claim marking events delivering, an outcome refreshing its event, a
-- replay) book the change-log rows, tallies and counters once per batch
-- (db/status_books.py). Per status change these triggers cost about two thirds of the
-- UPDATE, and every delivery makes two.
--
-- The attempt counter goes the same way: the two writes that insert attempts
-- (db/deliveries.py) add to it once per batch. The delete trigger (0002) stays. Nothing to
-- backfill: every change so far fired the triggers.
DROP TRIGGER IF EXISTS event_tallies_on_update;
DROP TRIGGER IF EXISTS changes_on_event_status;
DROP TRIGGER IF EXISTS counters_on_event_finish;
DROP TRIGGER IF EXISTS counters_on_attempt_insert;
