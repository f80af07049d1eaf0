-- Signal ids become time-ordered and the look-up by pseudonym goes, SQLite. Keep in step
-- with ../postgres/0008_time_ordered_signal_ids.sql.
-- Applied once and checksummed by sqlx: never edit after release, add a new file instead.

-- From now on a signal's id is u32_be(upload second) ‖ 12 bytes of its content digest, so new
-- ids arrive in increasing order and the unique index on `id` grows at its right edge. Rows
-- stored before keep their id (the digest itself); nothing is rewritten.
-- `signals_lookup (stored)` was the other index on a random key (a keyed hash): every upload
-- dirtied one random page of it per row. Nothing reads signals by pseudonym any more: matching
-- answers from the in-memory match index, which keeps 8 bytes of each signal's id, and the
-- details of its hits are read by id prefix through the unique index on `id`.
DROP INDEX signals_lookup;
