-- Fewer indexes on the audit log, SQLite. Keep in step with ../postgres/0009_audit_log_indexes.sql.
-- Applied once and checksummed by sqlx: never edit after release, add a new file instead.

-- Every appended entry paid for five secondary indexes, of which only two are read:
-- `audit_log_time` (erasure after the retention period, `kruispunt audit erase`) and
-- `audit_log_case`. Review filters (time, purpose, case, partner, operation) scan a range of
-- sequence numbers found by a binary search on the primary key (routes/audit_review.rs).
DROP INDEX audit_log_actor;
DROP INDEX audit_log_purpose;
DROP INDEX audit_log_operation;
-- A case channel reads the matches of one case (mls::store::CASE_MATCHES_SQL); entries without a
-- case reference (most of them) are left out of the index, and `time_ms` is not needed in it.
DROP INDEX audit_log_case;
CREATE INDEX audit_log_case_ref ON audit_log (case_reference) WHERE case_reference IS NOT NULL;
