-- The audit tree grows in the transaction that appends the entries, SQLite. Keep in step with
-- ../postgres/0007_audit_tree_border.sql.
-- Applied once and checksummed by sqlx: never edit after release, add a new file instead.

-- The tree's right border (the hashes of its at most 64 largest perfect subtrees, concatenated,
-- largest first), kept beside the sequence counter: the transaction that takes `size` also reads
-- this border, appends the new entries' leaves, salts and interior nodes, and stores the new
-- border — so an entry and its leaf are committed together (audit_leaf is no longer written by
-- a follower a few seconds later, as 0003 describes).
-- NULL while the tree is behind the entries (a database written before this migration): the
-- next append, or the broker's start-up, catches it up first, under the counter's lock.
ALTER TABLE audit_head ADD COLUMN frontier BLOB;
UPDATE audit_head SET frontier = x'' WHERE size = 0 AND NOT EXISTS (SELECT 1 FROM audit_leaf);
