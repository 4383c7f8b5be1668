-- Delivery pacing (issue 17 sections 3 and 4; gethook_lite/delivery/pacing.py and
-- gethook_lite/db/pacing.py): a destination's rate limit (count per period of 1 or 60 seconds),
-- its own cap on attempts in flight, and FIFO ordering on a destination or on a route (that
-- route's deliveries to its destination go one at a time in event order).
ALTER TABLE destinations ADD COLUMN rate_limit_count INTEGER;
ALTER TABLE destinations ADD COLUMN rate_limit_period INTEGER
    CHECK (rate_limit_period IS NULL OR rate_limit_period IN (1, 60));
ALTER TABLE destinations ADD COLUMN max_concurrency INTEGER;
ALTER TABLE destinations ADD COLUMN ordering TEXT NOT NULL DEFAULT 'none'
    CHECK (ordering IN ('none', 'fifo'));
ALTER TABLE routes ADD COLUMN ordering TEXT NOT NULL DEFAULT 'none'
    CHECK (ordering IN ('none', 'fifo'));

-- Every claim reads the paced destinations and FIFO routes: few rows, found without a scan.
CREATE INDEX destinations_paced ON destinations (id)
    WHERE rate_limit_count IS NOT NULL OR max_concurrency IS NOT NULL OR ordering = 'fifo';
CREATE INDEX routes_fifo ON routes (destination_id) WHERE ordering = 'fifo';

-- A FIFO queue in event order: a destination's open deliveries (a held one blocks those
-- behind it too) by event id, which is time-ordered (the order of receipt). Its head is one
-- index seek however long the queue.
CREATE INDEX deliveries_fifo_queue ON deliveries (destination_id, event_id)
    WHERE status IN ('pending', 'in_flight', 'held');
