-- The decisions table is an index of the transparency log, written by the
-- indexer from the log (audit/src/indexer.rs), and each secondary B-tree is
-- paid on every one of its rows: with both below, a row cost the SQLite
-- writer 12 µs of CPU, without them 7.7 µs (bench/RESULTS.md).
--
-- No query reads (subject, ts_ms): `didgate decisions` pages by id (UUIDv7,
-- time-ordered) and `audit prove` looks an id up by its primary key.
DROP INDEX IF EXISTS decisions_subject_ts;
-- (gateway, log_id, log_index) served one statement: forgetting the rows
-- past the end of a log that a power loss shortened, once, at start. That
-- rare statement now scans the table instead.
DROP INDEX IF EXISTS decisions_log_index;
