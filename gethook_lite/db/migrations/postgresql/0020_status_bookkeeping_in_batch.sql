-- As SQLite's 0020: status changes are booked by the writes that make them
-- (db/status_books.py), once per batch, into the caller's shard, instead of by a row trigger
-- (its PL/pgSQL call was the largest database cost of a delivery in a cluster); so is the
-- attempt counter, by the writes that insert attempts.
DROP TRIGGER IF EXISTS events_changed ON events;
DROP FUNCTION IF EXISTS events_changed();
DROP TRIGGER IF EXISTS attempts_inserted ON attempts;
DROP FUNCTION IF EXISTS attempts_inserted();
