-- The ondermijningsbeeld's privacy budget (docs/BEELD.md): ε spent per requesting
-- organisation, purpose and calendar month, in integer micro-ε, and the questions already
-- answered (and charged) per snapshot with the answer given, so that the same question within
-- one snapshot is answered identically and not charged again, on every broker.
CREATE TABLE privacy_budget (
    org TEXT NOT NULL,
    purpose TEXT NOT NULL,
    month TEXT NOT NULL,
    spent_micro BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (org, purpose, month)
);

CREATE TABLE aggregate_releases (
    org TEXT NOT NULL,
    purpose TEXT NOT NULL,
    snapshot TEXT NOT NULL,
    question BLOB NOT NULL,
    month TEXT NOT NULL,
    answer BLOB NOT NULL,
    PRIMARY KEY (org, purpose, snapshot, question)
);
