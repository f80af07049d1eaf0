//! Checking a whole audit log against its signed checkpoint, without the broker: the lines of
//! `GET /v1/audit/entries` or of an export's `entries.jsonl` ([`LogLine`]) go through a
//! [`LogVerifier`] in log order, which recomputes every leaf it can (salt and entry given),
//! rebuilds the tree in `O(log n)` memory and compares the roots.
//!
//! What it catches, and how it names the culprit:
//! * an entry edited in the database: its commitment no longer matches its leaf
//!   ([`LogError::EntryMismatch`] names the index);
//! * a row deleted or moved: the indices stop being consecutive ([`LogError::Missing`]), the
//!   entry is gone from beside its leaf ([`LogError::EntryMissing`]), or an entry lands beside
//!   another entry's salt and leaf ([`LogError::EntryMismatch`]);
//! * leaves rewritten consistently with edited entries: the tree no longer has the signed root
//!   ([`LogError::RootMismatch`]), and no longer extends the checkpoint trusted earlier
//!   ([`LogError::TrustedRootMismatch`], reported as soon as the verifier passes that size);
//! * an entry deleted *with its salt* behind the broker's back, which looks like a lawful
//!   erasure: every erased line must be accounted for by a later `audit.erase` entry whose
//!   `detail.runs` cover it ([`LogError::ErasedWithoutRecord`]). Erasure records hold no personal
//!   data, are shown to every privacy officer and are never erased themselves, so a reader who
//!   may read entries at all can always make this check; a reader who may not (no privacy
//!   officer role) sees only leaves, and the report says how many erased lines it could not
//!   account for;
//! * a *recent* entry made to look lawfully erased (its row's time set into the past before an
//!   erasure, or deleted and named in a forged record): an erasure removes entries recorded
//!   before its cut-off (`detail.before`), and the log is in time order (within
//!   [`TIME_ORDER_SLACK_MS`]), so an erased line is accepted only if no entry before it that the
//!   reader can check (shown in full, so its time is committed) was already recorded at or after
//!   that cut-off plus the slack ([`LogError::ErasedTooRecent`]).

use serde::{Deserialize, Serialize};

use super::checkpoint::Checkpoint;
use super::entry::AuditEntry;
use super::leaf::{Salt, commitment};
use super::merkle::{Frontier, Hash, leaf_hash};
use super::note::{NoteError, Verifier, parse_verifier_key};

/// Why a line carries no salt and entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Withheld {
    /// The entry does not concern the reader's organisation: only its leaf is shown, which is
    /// all the reader needs to check that the log is complete.
    NotConcerned,
    /// A police case embargo: the supplying organisation sees that a disclosure happened
    /// (`summary`) but not its details until `embargo_until`.
    Embargo,
    /// The entry and its salt were erased after their retention period; the leaf stays so the
    /// tree stays verifiable.
    Erased,
    /// The reader is not a privacy officer (only privacy officers read entries).
    NotPermitted,
    /// The entry's row is gone or no longer parses while its salt remains: the database was
    /// edited. A verifier rejects the log at this index.
    Missing,
}

/// What an embargoed entry shows its supplier: that a disclosure happened, and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Summary {
    /// When, milliseconds since the Unix epoch.
    pub time_ms: i64,
    /// What kind of processing (`disclose` or `combine`).
    pub operation: super::entry::Operation,
}

/// One line of the log as served and exported: its index, its leaf (base64 in JSON) and, where
/// the reader may see it, the salt and entry that the leaf commits to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogLine {
    /// Position in the log, from 0.
    pub index: u64,
    /// The 32 leaf bytes, `SHA-256(salt ‖ canonical entry)`.
    #[serde(with = "b64_32")]
    pub leaf: Hash,
    /// The entry's salt, when the entry is shown.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "b64_32_opt")]
    pub salt: Option<Salt>,
    /// The entry, when the reader may see it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry: Option<AuditEntry>,
    /// Why salt and entry are absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub withheld: Option<Withheld>,
    /// Until when (Unix seconds) an embargo holds the details back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embargo_until: Option<i64>,
    /// For an embargoed entry: that a disclosure happened, and when.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<Summary>,
}

impl LogLine {
    /// The line for an entry shown in full.
    pub fn shown(index: u64, salt: Salt, entry: AuditEntry) -> LogLine {
        LogLine {
            index,
            leaf: commitment(&salt, &entry.canonical_json()),
            salt: Some(salt),
            entry: Some(entry),
            withheld: None,
            embargo_until: None,
            summary: None,
        }
    }

    /// The line for an entry of which only the leaf is shown.
    pub fn leaf_only(index: u64, leaf: Hash, why: Withheld) -> LogLine {
        LogLine {
            index,
            leaf,
            salt: None,
            entry: None,
            withheld: Some(why),
            embargo_until: None,
            summary: None,
        }
    }
}

/// The log does not verify. Every variant that concerns one entry names its index.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LogError {
    /// The checkpoint or the key did not verify.
    #[error("checkpoint: {0}")]
    Note(#[from] NoteError),
    /// The checkpoint is signed by the key but names another log.
    #[error("checkpoint origin {origin:?} is not the key's log {key_name:?}")]
    Origin {
        /// Origin line of the checkpoint.
        origin: String,
        /// Name in the verifier key.
        key_name: String,
    },
    /// An entry is missing, or the entries are out of order.
    #[error("entry {expected} is missing or out of order (found index {found} in its place)")]
    Missing {
        /// The index that should have come next.
        expected: u64,
        /// The index found instead.
        found: u64,
    },
    /// The entry (or its salt) was changed: it no longer matches the leaf it was committed to.
    #[error("entry {index} does not match its leaf: the entry or its salt was changed")]
    EntryMismatch {
        /// The entry's index.
        index: u64,
    },
    /// The entry was deleted from the database (or no longer parses) while its leaf and salt
    /// remain.
    #[error("entry {index} is missing from the database or no longer parses")]
    EntryMissing {
        /// The entry's index.
        index: u64,
    },
    /// A line has a salt without an entry or an entry without a salt.
    #[error("entry {index} has a salt without an entry or an entry without a salt")]
    Incomplete {
        /// The entry's index.
        index: u64,
    },
    /// The tree, recomputed up to the size of the checkpoint trusted earlier, has another root:
    /// history before that checkpoint was rewritten.
    #[error(
        "the first {size} entries no longer hash to the root of the checkpoint trusted earlier: \
         history was rewritten"
    )]
    TrustedRootMismatch {
        /// The trusted checkpoint's size.
        size: u64,
    },
    /// The log is shorter than the checkpoint trusted earlier: entries were removed.
    #[error("the log has {size} entries but a checkpoint of {trusted} was trusted earlier")]
    Shrunk {
        /// Size of the current checkpoint.
        size: u64,
        /// Size of the trusted checkpoint.
        trusted: u64,
    },
    /// The number of lines is not the checkpoint's size.
    #[error("{lines} entries, but the checkpoint says {size}")]
    SizeMismatch {
        /// Lines seen.
        lines: u64,
        /// The checkpoint's size.
        size: u64,
    },
    /// A line is withheld as erased, but no `audit.erase` entry after it records its erasure:
    /// the entry and its salt were deleted behind the broker's back.
    #[error(
        "entry {index} is shown as erased, but no audit.erase entry records its erasure: it was \
         deleted behind the broker's back"
    )]
    ErasedWithoutRecord {
        /// The first such entry's index.
        index: u64,
    },
    /// A line is shown as erased, but an entry before it in the log (`newer`, shown in full, so
    /// its time is committed) was recorded after the cut-off of every `audit.erase` entry that
    /// records the erasure: the log is in time order, so the erased entry was newer than the
    /// cut-off too — a recent entry made to look lawfully erased.
    #[error(
        "entry {index} is shown as erased, but entry {newer} before it was recorded after the \
         cut-off of the audit.erase entry that records the erasure: a recent entry was made to \
         look lawfully erased"
    )]
    ErasedTooRecent {
        /// The first such entry's index.
        index: u64,
        /// The earlier entry whose time shows it.
        newer: u64,
    },
    /// All entries matched their leaves, but the leaves do not hash to the signed root: leaves
    /// were rewritten together with their entries after the checkpoint was signed.
    #[error("the {size} leaves do not hash to the checkpoint's root: the log was rewritten")]
    RootMismatch {
        /// The checkpoint's size.
        size: u64,
    },
}

/// The checkpoint, opened and checked against the verifier key line (whose name must be the
/// checkpoint's origin, as the broker signs it).
pub fn open_checkpoint(note: &str, key_line: &str) -> Result<(Checkpoint, Verifier), LogError> {
    let verifier = parse_verifier_key(key_line.trim()).map_err(NoteError::from)?;
    let checkpoint = super::checkpoint::verify_note(note, std::slice::from_ref(&verifier))?;
    if checkpoint.origin != verifier.name() {
        return Err(LogError::Origin {
            origin: checkpoint.origin,
            key_name: verifier.name().to_string(),
        });
    }
    Ok((checkpoint, verifier))
}

/// The outcome of a verification that passed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogReport {
    /// Entries in the verified tree.
    pub size: u64,
    /// Its root.
    pub root: Hash,
    /// Entries whose commitment was recomputed from salt and entry.
    pub entries_checked: u64,
    /// Entries of which only the leaf was available.
    pub leaves_only: u64,
    /// Lines erased after their retention period, each accounted for by an `audit.erase`
    /// entry (or, for a reader who may not read entries, not checked: see `erased_unchecked`).
    pub erased: u64,
    /// Erased lines this reader could not match to their `audit.erase` record because it may
    /// not read entries at all (every line was withheld as not permitted).
    pub erased_unchecked: u64,
}

/// The action of the entry that records an erasure (operation `erase`).
pub const ERASE_ACTION: &str = "audit.erase";

/// How far the log's time order may be off: entries are numbered in commit order but stamped a
/// moment earlier (by several brokers' clocks on PostgreSQL), so an entry may carry a time up to
/// this much before an entry earlier in the log. Erasure and its verification allow for it.
pub const TIME_ORDER_SLACK_MS: i64 = 5 * 60 * 1000;

/// The cut-off (Unix ms) of an `audit.erase` entry: it erased entries recorded before the day
/// `detail.before` (`YYYY-MM-DD`, UTC) began. `None` if it names no readable day.
pub fn erase_cut_off_ms(entry: &AuditEntry) -> Option<i64> {
    let day = crate::civil::parse_date(entry.detail.get("before")?.as_str()?)?;
    Some(day * 86_400_000)
}

/// `[start, end)` runs of consecutive numbers in ascending `seqs`: how an erasure records what
/// it erased without one number per entry (`detail.runs` of an `audit.erase` entry).
pub fn runs(seqs: &[u64]) -> Vec<[u64; 2]> {
    let mut out: Vec<[u64; 2]> = Vec::new();
    for &s in seqs {
        extend_runs(&mut out, s);
    }
    out
}

/// Adds `n` (not below any number already in `runs`) to ascending `[start, end)` runs.
fn extend_runs(runs: &mut Vec<[u64; 2]>, n: u64) {
    match runs.last_mut() {
        Some(r) if r[1] == n => r[1] = n + 1,
        _ => runs.push([n, n + 1]),
    }
}

/// The `[start, end)` runs an `audit.erase` entry at `index` records, keeping only runs that lie
/// before it (an erasure is recorded after what it erased) and are well formed, each with the
/// entry's cut-off ([`erase_cut_off_ms`]).
fn recorded_runs(entry: &AuditEntry, index: u64) -> Vec<([u64; 2], Option<i64>)> {
    if entry.operation != super::entry::Operation::Erase || entry.action != ERASE_ACTION {
        return Vec::new();
    }
    let Some(list) = entry.detail.get("runs").and_then(|r| r.as_array()) else {
        return Vec::new();
    };
    list.iter()
        .filter_map(|r| {
            let pair = r.as_array()?;
            let (start, end) = (pair.first()?.as_u64()?, pair.get(1)?.as_u64()?);
            (pair.len() == 2 && start < end && end <= index)
                .then_some(([start, end], erase_cut_off_ms(entry)))
        })
        .collect()
}

/// Rebuilds the tree line by line (see the module documentation).
#[derive(Debug, Clone, Default)]
pub struct LogVerifier {
    frontier: Frontier,
    trusted: Option<Checkpoint>,
    entries_checked: u64,
    leaves_only: u64,
    /// Runs of lines withheld as erased, in log order.
    erased: Vec<[u64; 2]>,
    /// For each run of `erased`: the entry with the latest time (index, Unix ms) among those
    /// before the run that were shown in full.
    latest_before: Vec<Option<(u64, i64)>>,
    /// The entry with the latest time among the lines shown in full so far.
    latest: Option<(u64, i64)>,
    /// Runs that `audit.erase` entries record, with their cut-offs.
    recorded: Vec<([u64; 2], Option<i64>)>,
    /// Whether some line was withheld because the reader may not read entries at all.
    not_permitted: bool,
}

impl LogVerifier {
    /// A verifier that also checks the log extends `trusted` (a checkpoint verified earlier).
    pub fn new(trusted: Option<Checkpoint>) -> LogVerifier {
        LogVerifier {
            trusted,
            ..LogVerifier::default()
        }
    }

    /// Lines seen so far.
    pub fn size(&self) -> u64 {
        self.frontier.size()
    }

    /// Checks and appends the next line.
    pub fn push(&mut self, line: &LogLine) -> Result<(), LogError> {
        let expected = self.frontier.size();
        if line.index != expected {
            return Err(LogError::Missing {
                expected,
                found: line.index,
            });
        }
        match (&line.salt, &line.entry) {
            (Some(salt), Some(entry)) => {
                if commitment(salt, &entry.canonical_json()) != line.leaf {
                    return Err(LogError::EntryMismatch { index: line.index });
                }
                self.entries_checked += 1;
                self.recorded.extend(recorded_runs(entry, line.index));
                if self.latest.is_none_or(|(_, t)| entry.time_ms > t) {
                    self.latest = Some((line.index, entry.time_ms));
                }
            }
            (None, None) if line.withheld == Some(Withheld::Missing) => {
                return Err(LogError::EntryMissing { index: line.index });
            }
            (None, None) => {
                self.leaves_only += 1;
                match line.withheld {
                    Some(Withheld::Erased) => {
                        extend_runs(&mut self.erased, line.index);
                        if self.latest_before.len() < self.erased.len() {
                            self.latest_before.push(self.latest);
                        }
                    }
                    Some(Withheld::NotPermitted) => self.not_permitted = true,
                    _ => {}
                }
            }
            _ => return Err(LogError::Incomplete { index: line.index }),
        }
        self.frontier.append(leaf_hash(&line.leaf), |_, _| {});
        if let Some(t) = &self.trusted
            && t.size == self.frontier.size()
            && t.root != self.frontier.root()
        {
            return Err(LogError::TrustedRootMismatch { size: t.size });
        }
        Ok(())
    }

    /// Compares the rebuilt tree with the signed `checkpoint` (already verified with
    /// [`open_checkpoint`]).
    pub fn finish(self, checkpoint: &Checkpoint) -> Result<LogReport, LogError> {
        if let Some(t) = &self.trusted
            && t.size > checkpoint.size
        {
            return Err(LogError::Shrunk {
                size: checkpoint.size,
                trusted: t.size,
            });
        }
        let lines = self.frontier.size();
        if lines != checkpoint.size {
            return Err(LogError::SizeMismatch {
                lines,
                size: checkpoint.size,
            });
        }
        if let Some(t) = &self.trusted
            && t.size == 0
            && t.root != super::merkle::empty_root()
        {
            return Err(LogError::TrustedRootMismatch { size: 0 });
        }
        let root = self.frontier.root();
        if root != checkpoint.root {
            return Err(LogError::RootMismatch { size: lines });
        }
        let erased: u64 = self.erased.iter().map(|r| r[1] - r[0]).sum();
        if !self.not_permitted {
            let mut all: Vec<[u64; 2]> = self.recorded.iter().map(|r| r.0).collect();
            if let Some(index) = first_uncovered(&self.erased, &mut all) {
                return Err(LogError::ErasedWithoutRecord { index });
            }
            // Each run must be covered by records whose cut-off is later than what the entries
            // before it show (a lawful erasure removes an old, time-ordered part of the log).
            for (run, latest) in self.erased.iter().zip(&self.latest_before) {
                let Some((newer, time_ms)) = *latest else {
                    continue;
                };
                let mut lawful: Vec<[u64; 2]> = self
                    .recorded
                    .iter()
                    .filter(|(_, cut)| {
                        cut.is_some_and(|c| time_ms < c.saturating_add(TIME_ORDER_SLACK_MS))
                    })
                    .map(|r| r.0)
                    .collect();
                if let Some(index) = first_uncovered(std::slice::from_ref(run), &mut lawful) {
                    return Err(LogError::ErasedTooRecent { index, newer });
                }
            }
        }
        Ok(LogReport {
            size: lines,
            root,
            entries_checked: self.entries_checked,
            leaves_only: self.leaves_only,
            erased,
            erased_unchecked: if self.not_permitted { erased } else { 0 },
        })
    }
}

/// What [`verify_log`] checked: the signed checkpoint, the verifier's report and the
/// checkpoint trusted earlier (when one was given).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedExport {
    /// The checkpoint the lines were checked against (signature and origin verified).
    pub checkpoint: Checkpoint,
    /// What the verifier recomputed.
    pub report: LogReport,
    /// The checkpoint trusted earlier, verified with its own key line.
    pub trusted: Option<Checkpoint>,
}

/// Every check of a log that needs no network, as `kruispunt audit verify` and the Python
/// package make it: the checkpoint `note` against the verifier `key_line`, the checkpoint
/// trusted earlier (its key line and note) if any, then every line up to the checkpoint's size
/// and the root. Lines past the checkpoint's size (entries written after it was signed) are
/// ignored.
pub fn verify_log<'a>(
    note: &str,
    key_line: &str,
    trusted: Option<(&str, &str)>,
    lines: impl IntoIterator<Item = &'a LogLine>,
) -> Result<VerifiedExport, LogError> {
    let (checkpoint, _) = open_checkpoint(note, key_line)?;
    let trusted = trusted
        .map(|(key, note)| open_checkpoint(note, key).map(|(c, _)| c))
        .transpose()?;
    let mut verifier = LogVerifier::new(trusted.clone());
    for line in lines.into_iter().take_while(|l| l.index < checkpoint.size) {
        verifier.push(line)?;
    }
    let report = verifier.finish(&checkpoint)?;
    Ok(VerifiedExport {
        checkpoint,
        report,
        trusted,
    })
}

/// The files of an export directory (`kruispunt audit export --out DIR`).
pub const EXPORT_FILES: [&str; 3] = ["checkpoint", "key", "entries.jsonl"];

/// An exported log as read back: the checkpoint note, the verifier key line and the lines.
#[derive(Debug, Clone, PartialEq)]
pub struct Export {
    /// The signed checkpoint note (`DIR/checkpoint`).
    pub note: String,
    /// The verifier key line (`DIR/key`).
    pub key: String,
    /// The lines of `DIR/entries.jsonl`, in file order.
    pub lines: Vec<LogLine>,
}

/// An export directory that cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// A file is missing or unreadable.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A line of `entries.jsonl` is not a log line.
    #[error("entries.jsonl line {line}: not a log line: {source}")]
    Line {
        /// The line number, from 1.
        line: usize,
        /// Why.
        source: serde_json::Error,
    },
}

impl Export {
    /// Reads `DIR/checkpoint`, `DIR/key` and `DIR/entries.jsonl` (blank lines skipped).
    pub fn read_dir(dir: &std::path::Path) -> Result<Export, ExportError> {
        let read = |name: &str| {
            let path = dir.join(name);
            std::fs::read_to_string(&path).map_err(|source| ExportError::Io { path, source })
        };
        let [checkpoint, key, entries] = EXPORT_FILES;
        let note = read(checkpoint)?;
        let key = read(key)?;
        let lines = Export::parse_lines(&read(entries)?)?;
        Ok(Export { note, key, lines })
    }

    /// The log lines of an `entries.jsonl` text, one JSON object a line (blank lines skipped).
    pub fn parse_lines(jsonl: &str) -> Result<Vec<LogLine>, ExportError> {
        jsonl
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(n, l)| {
                serde_json::from_str(l).map_err(|source| ExportError::Line {
                    line: n + 1,
                    source,
                })
            })
            .collect()
    }

    /// [`verify_log`] over this export.
    pub fn verify(&self, trusted: Option<(&str, &str)>) -> Result<VerifiedExport, LogError> {
        verify_log(&self.note, &self.key, trusted, &self.lines)
    }
}

/// The first number in `erased` (ascending, disjoint runs) that no run of `recorded` covers.
fn first_uncovered(erased: &[[u64; 2]], recorded: &mut [[u64; 2]]) -> Option<u64> {
    recorded.sort_unstable();
    // `covered` is the end of the covering prefix built so far from runs starting at or before
    // the number being checked.
    let mut next = recorded.iter().peekable();
    let mut covered_to = 0u64;
    for run in erased {
        let mut at = run[0];
        while at < run[1] {
            while let Some(r) = next.next_if(|r| r[0] <= at) {
                covered_to = covered_to.max(r[1]);
            }
            if covered_to <= at {
                return Some(at);
            }
            at = covered_to;
        }
    }
    None
}

/// Standard base64 of exactly 32 bytes, for serde.
pub mod b64_32 {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD as B64;
    use serde::{Deserialize, Deserializer, Serializer, de::Error as _};

    /// Serialises 32 bytes as standard base64.
    pub fn serialize<S: Serializer>(bytes: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&B64.encode(bytes))
    }

    /// Parses standard base64 of exactly 32 bytes.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
        let text = String::deserialize(d)?;
        B64.decode(text)
            .ok()
            .and_then(|v| <[u8; 32]>::try_from(v).ok())
            .ok_or_else(|| D::Error::custom("expected the standard base64 of 32 bytes"))
    }
}

/// [`b64_32`] for an optional field.
pub mod b64_32_opt {
    use serde::{Deserialize, Deserializer, Serializer};

    /// Serialises `Some` as base64 (`None` is skipped by the field attribute).
    pub fn serialize<S: Serializer>(bytes: &Option<[u8; 32]>, s: S) -> Result<S::Ok, S::Error> {
        match bytes {
            Some(b) => super::b64_32::serialize(b, s),
            None => s.serialize_none(),
        }
    }

    /// Parses base64 of 32 bytes, or `null`.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<[u8; 32]>, D::Error> {
        #[derive(Deserialize)]
        struct Wrap(#[serde(with = "super::b64_32")] [u8; 32]);
        Ok(Option::<Wrap>::deserialize(d)?.map(|w| w.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transparency::entry::Operation;
    use crate::transparency::merkle::MemoryTree;

    fn lines(n: u64) -> Vec<LogLine> {
        (0..n)
            .map(|i| {
                let e = AuditEntry::new(1_700_000_000_000 + i as i64, Operation::Consult, "test");
                LogLine::shown(i, [i as u8; 32], e)
            })
            .collect()
    }

    fn checkpoint(ls: &[LogLine]) -> Checkpoint {
        let tree = MemoryTree::from_leaves(ls.iter().map(|l| l.leaf));
        Checkpoint::new("kruispunt/test", ls.len() as u64, tree.root())
    }

    fn run(
        ls: &[LogLine],
        cp: &Checkpoint,
        trusted: Option<Checkpoint>,
    ) -> Result<LogReport, LogError> {
        let mut v = LogVerifier::new(trusted);
        for l in ls {
            v.push(l)?;
        }
        v.finish(cp)
    }

    #[test]
    fn a_clean_log_verifies_and_json_lines_round_trip() {
        let ls = lines(9);
        let cp = checkpoint(&ls);
        let report = run(&ls, &cp, Some(checkpoint(&ls[..4]))).unwrap();
        assert_eq!((report.size, report.entries_checked), (9, 9));
        for l in &ls {
            let text = serde_json::to_string(l).unwrap();
            assert_eq!(&serde_json::from_str::<LogLine>(&text).unwrap(), l);
        }
        let mut hidden = ls.clone();
        hidden[3] = LogLine::leaf_only(3, ls[3].leaf, Withheld::NotConcerned);
        let report = run(&hidden, &cp, None).unwrap();
        assert_eq!((report.entries_checked, report.leaves_only), (8, 1));
    }

    #[test]
    fn tampering_is_named() {
        let ls = lines(9);
        let cp = checkpoint(&ls);
        let mut edited = ls.clone();
        edited[5].entry.as_mut().unwrap().action = "other".into();
        assert_eq!(
            run(&edited, &cp, None),
            Err(LogError::EntryMismatch { index: 5 })
        );
        let mut deleted = ls.clone();
        deleted.remove(2);
        assert_eq!(
            run(&deleted, &cp, None),
            Err(LogError::Missing {
                expected: 2,
                found: 3
            })
        );
        // Rewritten consistently (entry and leaf): caught by the root and the trusted checkpoint.
        let mut rewritten = ls.clone();
        let mut e = rewritten[1].entry.clone().unwrap();
        e.action = "other".into();
        rewritten[1] = LogLine::shown(1, [1; 32], e);
        assert_eq!(
            run(&rewritten, &cp, None),
            Err(LogError::RootMismatch { size: 9 })
        );
        assert_eq!(
            run(
                &rewritten,
                &checkpoint(&rewritten),
                Some(checkpoint(&ls[..4]))
            ),
            Err(LogError::TrustedRootMismatch { size: 4 })
        );
        assert!(matches!(
            run(&ls[..3], &checkpoint(&ls[..3]), Some(checkpoint(&ls[..4]))),
            Err(LogError::Shrunk { .. })
        ));
    }
    /// A log of 10 in which lines `erased` are erased and, if `record` is given, line 9 is the
    /// `audit.erase` entry recording those runs.
    fn erased_log(erased: &[u64], record: Option<serde_json::Value>) -> Vec<LogLine> {
        let mut ls = lines(10);
        if let Some(runs) = record {
            let mut e = AuditEntry::new(1_700_000_000_009, Operation::Erase, ERASE_ACTION);
            // The lines are of 2023-11-14, before this cut-off.
            e.detail = serde_json::json!({ "runs": runs, "before": "2023-11-15" });
            ls[9] = LogLine::shown(9, [9; 32], e);
        }
        for &i in erased {
            ls[i as usize] = LogLine::leaf_only(i, ls[i as usize].leaf, Withheld::Erased);
        }
        ls
    }

    #[test]
    fn erased_lines_must_be_recorded_by_a_later_erasure() {
        let ok = erased_log(&[0, 1, 2, 5], Some(serde_json::json!(runs(&[0, 1, 2, 5]))));
        let report = run(&ok, &checkpoint(&ok), None).unwrap();
        assert_eq!((report.erased, report.erased_unchecked), (4, 0));

        // Deleted with its salt behind the broker's back: no record at all.
        let forged = erased_log(&[3], None);
        assert_eq!(
            run(&forged, &checkpoint(&forged), None),
            Err(LogError::ErasedWithoutRecord { index: 3 })
        );
        // One more line erased than the record names: that line is named.
        let extra = erased_log(&[0, 1, 2, 3], Some(serde_json::json!([[0, 3]])));
        assert_eq!(
            run(&extra, &checkpoint(&extra), None),
            Err(LogError::ErasedWithoutRecord { index: 3 })
        );
        // A record may not cover lines after itself, nor carry malformed runs.
        let later = erased_log(&[4], Some(serde_json::json!([[4, 12], [5, 4], "x", [4]])));
        assert_eq!(
            run(&later, &checkpoint(&later), None),
            Err(LogError::ErasedWithoutRecord { index: 4 })
        );
        // Overlapping and unsorted runs that together cover everything are fine.
        let split = erased_log(
            &[1, 2, 3, 4, 7],
            Some(serde_json::json!([[7, 8], [3, 5], [1, 4]])),
        );
        assert!(run(&split, &checkpoint(&split), None).is_ok());
        // An entry of another kind with a `runs` detail records nothing.
        let mut fake = erased_log(&[2], Some(serde_json::json!([[2, 3]])));
        let mut e = fake[9].entry.clone().unwrap();
        e.operation = Operation::Consult;
        fake[9] = LogLine::shown(9, [9; 32], e);
        assert_eq!(
            run(&fake, &checkpoint(&fake), None),
            Err(LogError::ErasedWithoutRecord { index: 2 })
        );
    }

    #[test]
    fn erased_lines_must_be_older_than_the_cut_off_as_earlier_entries_show() {
        let at = |before: &str, erased: &[u64]| {
            let mut ls = erased_log(erased, Some(serde_json::json!(runs(erased))));
            let mut e = ls[9].entry.clone().unwrap();
            e.detail["before"] = serde_json::json!(before);
            ls[9] = LogLine::shown(9, [9; 32], e);
            run(&ls, &checkpoint(&ls), None)
        };
        // 1_700_000_000_000 ms is 2023-11-14T22:13:20Z: a cut-off of that day (00:00) is hours
        // before every line, so an erased line after a shown one was too recent.
        assert_eq!(
            at("2023-11-14", &[3, 4]),
            Err(LogError::ErasedTooRecent { index: 3, newer: 2 })
        );
        // A leading prefix has nothing before it to tell its time: accepted.
        assert!(at("2023-11-14", &[0, 1]).is_ok());
        // A cut-off after every line: accepted.
        assert!(at("2023-11-15", &[3, 4]).is_ok());
        // A record without a readable cut-off justifies nothing after a shown line.
        assert_eq!(
            at("yesterday", &[5]),
            Err(LogError::ErasedTooRecent { index: 5, newer: 4 })
        );
    }

    #[test]
    fn a_reader_who_may_not_read_entries_is_told_what_went_unchecked() {
        let ls = lines(6);
        let cp = checkpoint(&ls);
        let mut seen: Vec<LogLine> = ls
            .iter()
            .map(|l| LogLine::leaf_only(l.index, l.leaf, Withheld::NotPermitted))
            .collect();
        seen[2] = LogLine::leaf_only(2, ls[2].leaf, Withheld::Erased);
        let report = run(&seen, &cp, None).unwrap();
        assert_eq!((report.erased, report.erased_unchecked), (1, 1));
    }

    #[test]
    fn runs_of_consecutive_numbers() {
        assert_eq!(runs(&[]), Vec::<[u64; 2]>::new());
        assert_eq!(runs(&[0, 1, 2, 5, 7, 8]), vec![[0, 3], [5, 6], [7, 9]]);
    }
}
