-- Fair claiming (db/claim_order.py). The due scan skips accounts at their concurrency cap as
-- well as destinations at theirs: with account_id in the index that scan still never touches
-- the table. The second index lists the destinations that have pending work (a skip scan,
-- one seek per destination) and reads each one's oldest due deliveries, so a backlog at one
-- destination can never hide another destination's due work from the claim.
DROP INDEX deliveries_due;
CREATE INDEX deliveries_due ON deliveries (next_attempt_at, destination_id, account_id)
    WHERE status = 'pending';
CREATE INDEX deliveries_due_by_destination ON deliveries (destination_id, next_attempt_at)
    WHERE status = 'pending';
