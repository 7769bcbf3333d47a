-- Decision ids are UUIDv7: ordered by time, so the primary key already
-- answers "the newest decisions" and time ranges (an id range). The separate
-- time index cost every insert a fourth B-tree update on the request log's
-- busiest table; it goes.
DROP INDEX IF EXISTS decisions_ts;
