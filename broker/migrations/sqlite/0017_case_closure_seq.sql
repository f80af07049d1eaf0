-- The audit entry of a case's closure, SQLite. Keep in step with ../postgres/0017_case_closure_seq.sql.
-- Applied once and checksummed by sqlx: never edit after release, add a new file instead.

-- The sequence number of the `case.state` entry that closed the case, written in the closing
-- transaction (docs/CASES.md, "Embargoes tied to a case"). An embargo tied to a case ends at
-- the closure only when this entry is in the log and is that closure: a row set to `closed`
-- behind the broker's back (no entry, or another one) lifts no embargo. NULL while the case is
-- open or in intervention, and for cases closed before this migration, whose closure was not
-- tied to its entry: their embargoes run to their latest end.
ALTER TABLE cases ADD COLUMN closed_seq BIGINT;
