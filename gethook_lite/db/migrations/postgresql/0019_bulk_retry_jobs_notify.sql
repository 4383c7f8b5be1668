-- Several processes on one database (issue 19): a bulk retry job created through any process
-- wakes the leader's bulk retry worker at once (tasks/cluster.py listens on gethook_jobs);
-- its poll stays the safety net. Sent at commit, one per statement.
CREATE TRIGGER bulk_retries_created AFTER INSERT ON bulk_retries
    FOR EACH STATEMENT EXECUTE FUNCTION gethook_notify('gethook_jobs', '');
