-- The decisions table is an index of the transparency logs, written by each
-- gateway's indexer (audit/src/indexer.rs). No query reads (subject, ts_ms):
-- `didgate decisions` pages by id (UUIDv7, time-ordered) and `audit prove`
-- looks an id up by its primary key. Every row paid for that index.
--
-- (gateway, log_id, log_index) stays here: a PostgreSQL table holds several
-- gateways' rows, and forgetting one log's rows past a power loss must not
-- scan them all.
DROP INDEX IF EXISTS decisions_subject_ts;
