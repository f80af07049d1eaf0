-- Cases as measures of the ondermijningsbeeld, and the feedback to the partners who signal,
-- PostgreSQL. Keep in step with ../sqlite/0018_case_measures_and_feedback.sql.
-- Applied once and checksummed by sqlx: never edit after release, add a new file instead.

-- When a case moved to `intervention` and to `closed` (Unix seconds; NULL while it has not):
-- the picture counts a case as open in a period it overlaps, and an intervention in the
-- period it happened (docs/BEELD.md, "Cases as measures"). A case's last move is its
-- `updated_at`; for cases moved before this migration the moment of an intervention that was
-- followed by a closure is not known any more, and its closure is taken instead (the latest
-- moment it can have been).
ALTER TABLE cases ADD COLUMN intervention_at BIGINT;
ALTER TABLE cases ADD COLUMN closed_at BIGINT;
UPDATE cases SET intervention_at = updated_at WHERE intervention IS NOT NULL;
UPDATE cases SET closed_at = updated_at WHERE state = 'closed';

-- The partners' signals a police match under a registered case disclosed (a hit), written in
-- the same transaction as the match's audit entry: one row per (match, supplying
-- organisation, signal). `signal` is the signal id's first 8 bytes (upload second and digest
-- prefix) as the match index holds it; `embargo_until` the match's police embargo (Unix s,
-- NULL: none). Read only as counts per supplier and month once the embargo has ended
-- (GET /v1/feedback, docs/CASES.md "Feedback to the partners who signal"); never served as rows.
CREATE TABLE case_contributions (
    audit_seq BIGINT NOT NULL,
    case_reference TEXT NOT NULL REFERENCES cases (reference),
    org TEXT NOT NULL,
    signal BYTEA NOT NULL,
    disclosed_at BIGINT NOT NULL,
    embargo_until BIGINT,
    PRIMARY KEY (audit_seq, org, signal)
);

CREATE INDEX case_contributions_by_org ON case_contributions (org, disclosed_at);
