-- The audit log's Merkle tree (RFC 6962), PostgreSQL. Keep in step with ../sqlite/0003_audit_tree.sql.
-- Applied once and checksummed by sqlx: never edit after release, add a new file instead.

-- One row per entry in the tree: the leaf is SHA-256(salt ‖ canonical entry bytes), a salted
-- commitment to `audit_log.entry` of the same `seq`. Erasing an entry after its retention
-- period sets `salt` to NULL (and removes the entry): the leaf keeps the tree verifiable but
-- no longer links to anybody. Written by the broker's log follower, a few seconds after the
-- entry itself (the entry is durable at once; the tree catches up before the next checkpoint).
CREATE TABLE audit_leaf (
    seq  BIGINT PRIMARY KEY CHECK (seq >= 0),
    leaf BYTEA  NOT NULL CHECK (length(leaf) = 32),
    salt BYTEA  CHECK (salt IS NULL OR length(salt) = 32)
);

-- Interior nodes: the hash of every perfect subtree of 2^level leaves (level >= 1) starting at
-- leaf idx * 2^level, keyed by node = level * 2^56 + idx (one integer key, so a proof's
-- O(log n) nodes are one `= ANY(...)` look-up on the primary key). Leaf hashes (level 0) are
-- computed from audit_leaf. Every root and proof needs only O(log n) of these rows.
CREATE TABLE audit_node (
    node BIGINT PRIMARY KEY CHECK (node >= 0),
    hash BYTEA  NOT NULL CHECK (length(hash) = 32)
);

-- Which entries name which at-rest pseudonym, for the disclosure accounting of one person
-- (Wpg art. 25: to whom were their data disclosed, when and why) in O(log n) instead of a scan
-- of every entry. Filled by the log follower with the leaf; emptied with the entry on erasure.
CREATE TABLE audit_pseudonym (
    pseudonym BYTEA NOT NULL CHECK (length(pseudonym) = 32),
    seq       BIGINT NOT NULL,
    PRIMARY KEY (pseudonym, seq)
);
