-- Signals name their municipality and wijk, SQLite. Keep in step with
-- ../postgres/0010_signal_gemeente.sql.
-- Applied once and checksummed by sqlx: never edit after release, add a new file instead.

-- `gemeente`: the CBS municipality code (GM + four digits) of one of the registry's gemeenten,
-- `wijk`: a CBS wijk code (WK + the gemeente's four digits + two digits). Both optional and
-- checked against the registry at upload; rows stored before stay NULL (district level only).
-- No index: the ondermijningsbeeld keeps its counts in memory, filled by the start-up scan.
ALTER TABLE signals ADD COLUMN gemeente TEXT;
ALTER TABLE signals ADD COLUMN wijk TEXT;
