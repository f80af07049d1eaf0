//! Which witnesses must have cosigned a checkpoint before a verifier believes it: a quorum
//! policy in the style of Sigsum's trust policy files, with C2SP verifier keys instead of hex.
//!
//! A single verifier cannot see a split view (a broker showing one history to one person and
//! another to someone else). Witnesses can: each cosigns a checkpoint only if it is consistent
//! with everything it cosigned before. Requiring cosignatures from a quorum of independent
//! witnesses means that a split view would need that many of them to collude.
//!
//! The format, one statement per line (`#` starts a comment, blank lines are ignored):
//!
//! ```text
//! log VKEY [URL]                      # optional: the log's key (type 0x01)
//! witness NAME VKEY [URL]             # a witness; VKEY has type 0x04
//! group NAME all|any|K MEMBER...      # K of the members (witnesses or earlier groups)
//! quorum NAME|none                    # exactly once: the witness or group that must agree
//! ```
//!
//! Names are local labels, unique across witnesses and groups; a group may only name members
//! defined above it (so there are no cycles), and an unknown member is an error. `K` is between
//! 1 and the number of members; `any` is 1 and `all` is every member. `quorum none` accepts a
//! checkpoint without cosignatures (the log's signature still has to verify).
//!
//! A cosignature dated more than the allowed clock skew ([`DEFAULT_MAX_CLOCK_SKEW_SECS`], or
//! [`WitnessPolicy::with_max_clock_skew`]) ahead of the verifier's clock is not counted: a
//! witness whose clock runs ahead (or that lies about the time) would otherwise make an old
//! checkpoint look freshly witnessed. It does not reject the note (the signature is genuine,
//! the note unaltered): the quorum may still be met by the other witnesses.

use super::checkpoint::Checkpoint;
use super::cosignature::{CosignatureError, WitnessVerifier, parse_witness_key};
use super::note::{NoteError, Verifier, open_note, parse_verifier_key, split_note};

/// A policy file line that cannot be used; says which line and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("policy line {line}: {reason}")]
pub struct PolicyError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong with it.
    pub reason: String,
}

/// A witness of the policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyWitness {
    /// The local label.
    pub name: String,
    /// Its cosigning key.
    pub key: WitnessVerifier,
    /// Where it answers `add-checkpoint` (the submission prefix), if given.
    pub url: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Node {
    Witness(usize),
    Group {
        threshold: usize,
        members: Vec<usize>,
    },
}

/// How far ahead of the verifier's clock a cosignature's timestamp may be, in seconds, before
/// the cosignature is not counted: five minutes, for clocks that are set by NTP but not
/// exactly.
pub const DEFAULT_MAX_CLOCK_SKEW_SECS: u64 = 300;

/// A parsed quorum policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WitnessPolicy {
    logs: Vec<(Verifier, Option<String>)>,
    witnesses: Vec<PolicyWitness>,
    /// Every named node: witnesses and groups, in order of definition.
    names: Vec<(String, Node)>,
    /// The node that must be satisfied; `None` is `quorum none`.
    quorum: Option<usize>,
    /// Seconds a cosignature's timestamp may be ahead of the verifier's clock.
    max_clock_skew: u64,
}

/// A checkpoint whose log signature and quorum of cosignatures verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CosignedCheckpoint {
    /// The checkpoint.
    pub checkpoint: Checkpoint,
    /// The witnesses (local labels) whose cosignatures verified, with their timestamps.
    pub cosigned_by: Vec<(String, u64)>,
}

/// A checkpoint was not accepted under a policy.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CosignedError {
    /// The note or the log's signature on it did not verify.
    #[error(transparent)]
    Note(#[from] NoteError),
    /// A cosignature from a witness of the policy does not verify: the note was altered or the
    /// cosignature forged, so the whole note is rejected.
    #[error("witness {witness}: {error}")]
    Forged {
        /// The witness's local label.
        witness: String,
        /// Why.
        error: CosignatureError,
    },
    /// Too few of the policy's witnesses cosigned.
    #[error(
        "the witness quorum is not met: cosigned by {} of the policy's witnesses ({}){}",
        .cosigned.len(),
        if .cosigned.is_empty() { "none".to_string() } else { .cosigned.join(", ") },
        ahead_note(.ahead)
    )]
    QuorumNotMet {
        /// The witnesses whose cosignatures verified and counted.
        cosigned: Vec<String>,
        /// The witnesses whose cosignatures verified but are dated beyond the allowed clock
        /// skew ahead of the verifier's clock (not counted), with their timestamps.
        ahead: Vec<(String, u64)>,
    },
}

fn ahead_note(ahead: &[(String, u64)]) -> String {
    if ahead.is_empty() {
        return String::new();
    }
    let list: Vec<String> = ahead.iter().map(|(n, t)| format!("{n} at {t}")).collect();
    format!(
        "; not counted, dated ahead of this verifier's clock by more than the allowed skew: {}",
        list.join(", ")
    )
}

/// The system clock in POSIX seconds.
fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl WitnessPolicy {
    /// Parses a policy file's text.
    pub fn parse(text: &str) -> Result<WitnessPolicy, PolicyError> {
        let mut policy = WitnessPolicy {
            logs: Vec::new(),
            witnesses: Vec::new(),
            names: Vec::new(),
            quorum: None,
            max_clock_skew: DEFAULT_MAX_CLOCK_SKEW_SECS,
        };
        let mut quorum_seen = false;
        for (i, raw) in text.lines().enumerate() {
            let err = |reason: String| PolicyError {
                line: i + 1,
                reason,
            };
            let line = raw.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let words: Vec<&str> = line.split_whitespace().collect();
            match words[0] {
                "log" => {
                    if !(2..=3).contains(&words.len()) {
                        return Err(err("expected: log VKEY [URL]".into()));
                    }
                    let key = parse_verifier_key(words[1]).map_err(|e| err(e.to_string()))?;
                    policy.logs.push((key, words.get(2).map(|u| u.to_string())));
                }
                "witness" => {
                    if !(3..=4).contains(&words.len()) {
                        return Err(err("expected: witness NAME VKEY [URL]".into()));
                    }
                    let name = words[1];
                    policy.check_new_name(name).map_err(err)?;
                    let key = parse_witness_key(words[2]).map_err(|e| err(e.to_string()))?;
                    if policy
                        .witnesses
                        .iter()
                        .any(|w| w.key.name() == key.name() && w.key.key_id() == key.key_id())
                    {
                        return Err(err(format!("witness {name}: the same key is listed twice")));
                    }
                    policy.witnesses.push(PolicyWitness {
                        name: name.to_string(),
                        key,
                        url: words.get(3).map(|u| u.to_string()),
                    });
                    let index = policy.witnesses.len() - 1;
                    policy.names.push((name.to_string(), Node::Witness(index)));
                }
                "group" => {
                    if words.len() < 4 {
                        return Err(err("expected: group NAME all|any|K MEMBER...".into()));
                    }
                    let name = words[1];
                    policy.check_new_name(name).map_err(err)?;
                    let mut members = Vec::new();
                    for m in &words[3..] {
                        let index = policy.lookup(m).ok_or_else(|| {
                            err(format!(
                                "group {name}: unknown member {m:?} (define witnesses and groups before the groups that name them)"
                            ))
                        })?;
                        if members.contains(&index) {
                            return Err(err(format!("group {name}: member {m} is listed twice")));
                        }
                        members.push(index);
                    }
                    let threshold = match words[2] {
                        "all" => members.len(),
                        "any" => 1,
                        k => k
                            .parse::<usize>()
                            .ok()
                            .filter(|n| n.to_string() == k && (1..=members.len()).contains(n))
                            .ok_or_else(|| {
                                err(format!(
                                    "group {name}: threshold {k:?} must be all, any or a number from 1 to {}",
                                    members.len()
                                ))
                            })?,
                    };
                    policy
                        .names
                        .push((name.to_string(), Node::Group { threshold, members }));
                }
                "quorum" => {
                    if words.len() != 2 {
                        return Err(err("expected: quorum NAME|none".into()));
                    }
                    if quorum_seen {
                        return Err(err("a policy has exactly one quorum line".into()));
                    }
                    quorum_seen = true;
                    if words[1] != "none" {
                        policy.quorum = Some(policy.lookup(words[1]).ok_or_else(|| {
                            err(format!("quorum: unknown witness or group {:?}", words[1]))
                        })?);
                    }
                }
                other => {
                    return Err(err(format!(
                        "unknown statement {other:?} (log, witness, group or quorum)"
                    )));
                }
            }
        }
        if !quorum_seen {
            return Err(PolicyError {
                line: text.lines().count(),
                reason: "no quorum line (write `quorum NAME` or `quorum none`)".into(),
            });
        }
        Ok(policy)
    }

    fn check_new_name(&self, name: &str) -> Result<(), String> {
        if name == "none" || name.parse::<usize>().is_ok() || name == "all" || name == "any" {
            return Err(format!("{name:?} is a reserved word, not a name"));
        }
        if self.lookup(name).is_some() {
            return Err(format!("{name} is defined twice"));
        }
        Ok(())
    }

    fn lookup(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|(n, _)| n == name)
    }

    /// The same policy, allowing cosignature timestamps up to `secs` seconds ahead of the
    /// verifier's clock (default [`DEFAULT_MAX_CLOCK_SKEW_SECS`]).
    pub fn with_max_clock_skew(mut self, secs: u64) -> WitnessPolicy {
        self.max_clock_skew = secs;
        self
    }

    /// Seconds a cosignature's timestamp may be ahead of the verifier's clock.
    pub fn max_clock_skew(&self) -> u64 {
        self.max_clock_skew
    }

    /// Whether a cosignature made at `timestamp` counts for a verifier whose clock reads
    /// `now`: not more than the allowed skew ahead of it.
    pub fn timestamp_acceptable(&self, timestamp: u64, now: u64) -> bool {
        timestamp <= now.saturating_add(self.max_clock_skew)
    }

    /// The log keys the policy lists (`log` lines), with their URLs.
    pub fn logs(&self) -> &[(Verifier, Option<String>)] {
        &self.logs
    }

    /// The policy's witnesses.
    pub fn witnesses(&self) -> &[PolicyWitness] {
        &self.witnesses
    }

    /// Whether the quorum is `none`.
    pub fn needs_no_cosignature(&self) -> bool {
        self.quorum.is_none()
    }

    /// Whether the witnesses (local labels) in `cosigned` satisfy the quorum.
    pub fn is_satisfied_by(&self, cosigned: &[&str]) -> bool {
        let Some(q) = self.quorum else {
            return true;
        };
        let mut met = vec![false; self.names.len()];
        // Members are always defined before their groups, so one pass in order suffices.
        for (i, (name, node)) in self.names.iter().enumerate() {
            met[i] = match node {
                Node::Witness(_) => cosigned.contains(&name.as_str()),
                Node::Group { threshold, members } => {
                    members.iter().filter(|m| met[**m]).count() >= *threshold
                }
            };
        }
        met[q]
    }

    /// Accepts the checkpoint `note` only if a key of `logs` signed it (unknown keys ignored,
    /// a failing known key rejects it) AND the cosignatures of the policy's witnesses that it
    /// carries verify and satisfy the quorum. Cosignature lines from witnesses not in the
    /// policy are ignored; a policy witness's line that does not verify rejects the note; one
    /// dated beyond the allowed clock skew ahead of the system clock is not counted.
    pub fn verify(
        &self,
        note: impl AsRef<[u8]>,
        logs: &[Verifier],
    ) -> Result<CosignedCheckpoint, CosignedError> {
        self.verify_at(note, logs, now_secs())
    }

    /// [`WitnessPolicy::verify`] for a verifier whose clock reads `now` (POSIX seconds).
    pub fn verify_at(
        &self,
        note: impl AsRef<[u8]>,
        logs: &[Verifier],
        now: u64,
    ) -> Result<CosignedCheckpoint, CosignedError> {
        let note = note.as_ref();
        let opened = open_note(note, logs)?;
        let checkpoint = Checkpoint::parse_body(&opened.text).map_err(NoteError::from)?;
        let (text, lines) = split_note(note)?;
        let mut cosigned_by: Vec<(String, u64)> = Vec::new();
        let mut ahead: Vec<(String, u64)> = Vec::new();
        for line in &lines {
            let Some(w) = self
                .witnesses
                .iter()
                .find(|w| w.key.name() == line.name && w.key.key_id() == line.key_id)
            else {
                continue;
            };
            let ts =
                w.key
                    .verify(text, &line.signature)
                    .map_err(|error| CosignedError::Forged {
                        witness: w.name.clone(),
                        error,
                    })?;
            if !self.timestamp_acceptable(ts, now) {
                ahead.push((w.name.clone(), ts));
            } else if !cosigned_by.iter().any(|(n, _)| *n == w.name) {
                cosigned_by.push((w.name.clone(), ts));
            }
        }
        let names: Vec<&str> = cosigned_by.iter().map(|(n, _)| n.as_str()).collect();
        if !self.is_satisfied_by(&names) {
            ahead.retain(|(n, _)| !names.contains(&n.as_str()));
            return Err(CosignedError::QuorumNotMet {
                cosigned: names.iter().map(|n| n.to_string()).collect(),
                ahead,
            });
        }
        Ok(CosignedCheckpoint {
            checkpoint,
            cosigned_by,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wkey(name: &str, seed: u8) -> String {
        WitnessVerifier::new(name, &[seed; 32]).unwrap().to_string()
    }

    fn policy(body: &str) -> Result<WitnessPolicy, PolicyError> {
        let head = format!(
            "witness a {}\nwitness b {} https://b.example/\nwitness c {}\n",
            wkey("w/a", 1),
            wkey("w/b", 2),
            wkey("w/c", 3)
        );
        WitnessPolicy::parse(&format!("{head}{body}"))
    }

    #[test]
    fn k_of_n_any_and_all() {
        let p = policy("group g 2 a b c\nquorum g\n").unwrap();
        assert!(!p.is_satisfied_by(&[]));
        assert!(!p.is_satisfied_by(&["a"]));
        assert!(p.is_satisfied_by(&["a", "c"]));
        assert!(p.is_satisfied_by(&["a", "b", "c"]));
        // A name that is not a policy witness counts for nothing.
        assert!(!p.is_satisfied_by(&["a", "zz"]));
        let any = policy("group g any a b c\nquorum g\n").unwrap();
        assert!(any.is_satisfied_by(&["b"]));
        let all = policy("group g all a b c\nquorum g\n").unwrap();
        assert!(!all.is_satisfied_by(&["a", "b"]));
        assert!(all.is_satisfied_by(&["c", "b", "a"]));
        let single = policy("quorum b\n").unwrap();
        assert!(single.is_satisfied_by(&["b"]) && !single.is_satisfied_by(&["a"]));
        assert!(policy("quorum none\n").unwrap().is_satisfied_by(&[]));
        assert_eq!(p.witnesses()[1].url.as_deref(), Some("https://b.example/"));
    }

    #[test]
    fn nested_groups() {
        // Both a and one of (b, c).
        let p = policy("group bc any b c\ngroup g all a bc\nquorum g\n").unwrap();
        assert!(!p.is_satisfied_by(&["b", "c"]));
        assert!(!p.is_satisfied_by(&["a"]));
        assert!(p.is_satisfied_by(&["a", "c"]));
    }

    #[test]
    fn bad_policies_name_their_line() {
        for (body, line, needle) in [
            ("group g 2 a zz\nquorum g\n", 4, "unknown member \"zz\""),
            ("group g 4 a b c\nquorum g\n", 4, "threshold"),
            ("group g 0 a b c\nquorum g\n", 4, "threshold"),
            ("group g 02 a b c\nquorum g\n", 4, "threshold"),
            ("group g any a a\nquorum g\n", 4, "twice"),
            ("group a any b c\nquorum a\n", 4, "defined twice"),
            ("quorum zz\n", 4, "unknown witness or group"),
            ("quorum a\nquorum b\n", 5, "exactly one"),
            ("frobnicate x\nquorum a\n", 4, "unknown statement"),
            ("", 3, "no quorum line"),
            // Groups must be defined before they are used (so there are no cycles).
            (
                "group g any a h\ngroup h any b\nquorum g\n",
                4,
                "unknown member",
            ),
        ] {
            let e = policy(body).unwrap_err();
            assert_eq!(e.line, line, "{body:?}: {e}");
            assert!(e.to_string().contains(needle), "{body:?}: {e}");
        }
        // A log key where a witness key belongs.
        let log = crate::transparency::Verifier::new("w/x", &[5; 32]).unwrap();
        let e = WitnessPolicy::parse(&format!("witness x {log}\nquorum x\n")).unwrap_err();
        assert!(e.to_string().contains("0x01"), "{e}");
        // The same key twice under two labels.
        let e = WitnessPolicy::parse(&format!(
            "witness x {}\nwitness y {}\nquorum x\n",
            wkey("w/a", 1),
            wkey("w/a", 1)
        ))
        .unwrap_err();
        assert_eq!(e.line, 2);
    }

    mod signed {
        use super::*;
        use crate::transparency::cosignature::{cosigned_message, signature_line};
        use base64::Engine as _;
        use base64::engine::general_purpose::STANDARD as B64;
        use ring::signature::{Ed25519KeyPair, KeyPair as _};

        const BODY: &str = "kruispunt/test\n5\nq83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA=\n";

        fn key(seed: u8) -> Ed25519KeyPair {
            Ed25519KeyPair::from_seed_unchecked(&[seed; 32]).unwrap()
        }

        /// The log's note over BODY, signed with key 100 as `kruispunt/test`.
        fn log_note() -> (String, Verifier) {
            let k = key(100);
            let v = Verifier::new("kruispunt/test", k.public_key().as_ref()).unwrap();
            let mut raw = v.key_id().to_be_bytes().to_vec();
            raw.extend_from_slice(k.sign(BODY.as_bytes()).as_ref());
            let note = format!("{BODY}\n\u{2014} kruispunt/test {}\n", B64.encode(raw));
            (note, v)
        }

        fn cosign(name: &str, seed: u8, ts: u64, body: &str) -> String {
            let k = key(seed);
            let v = WitnessVerifier::new(name, k.public_key().as_ref()).unwrap();
            let sig = k.sign(cosigned_message(ts, body).as_bytes());
            signature_line(name, v.key_id(), ts, sig.as_ref())
        }

        fn witness_key(name: &str, seed: u8) -> String {
            WitnessVerifier::new(name, key(seed).public_key().as_ref())
                .unwrap()
                .to_string()
        }

        fn two_of_three() -> WitnessPolicy {
            WitnessPolicy::parse(&format!(
                "witness a {}\nwitness b {}\nwitness c {}\ngroup g 2 a b c\nquorum g\n",
                witness_key("w/a", 1),
                witness_key("w/b", 2),
                witness_key("w/c", 3)
            ))
            .unwrap()
        }

        #[test]
        fn a_cosignature_round_trips() {
            let line = cosign("w/a", 1, 1_700_000_000, BODY);
            let note = format!("{BODY}\n{line}");
            let (_, lines) = split_note(note.as_bytes()).unwrap();
            let v = WitnessVerifier::new("w/a", key(1).public_key().as_ref()).unwrap();
            assert_eq!(v.verify(BODY, &lines[0].signature), Ok(1_700_000_000));
            // Over another body, or by another key, it does not verify.
            let other = BODY.replace("\n5\n", "\n6\n");
            assert!(v.verify(&other, &lines[0].signature).is_err());
            let w = WitnessVerifier::new("w/a", key(2).public_key().as_ref()).unwrap();
            assert!(w.verify(BODY, &lines[0].signature).is_err());
        }

        #[test]
        fn cosignatures_from_the_future_are_not_counted_beyond_the_skew() {
            let (note, log) = log_note();
            let logs = std::slice::from_ref(&log);
            let now = 1_800_000_000;
            let skew = DEFAULT_MAX_CLOCK_SKEW_SECS;
            let a = cosign("w/a", 1, now, BODY);
            // At the boundary: exactly the allowed skew ahead counts.
            let c = cosign("w/c", 3, now + skew, BODY);
            let p = two_of_three();
            let ok = p.verify_at(format!("{note}{a}{c}"), logs, now).unwrap();
            assert_eq!(ok.cosigned_by.len(), 2);
            // One second beyond it does not count: the quorum is not met, and the error says
            // why.
            let late = cosign("w/c", 3, now + skew + 1, BODY);
            let e = p
                .verify_at(format!("{note}{a}{late}"), logs, now)
                .unwrap_err();
            assert_eq!(
                e,
                CosignedError::QuorumNotMet {
                    cosigned: vec!["a".into()],
                    ahead: vec![("c".into(), now + skew + 1)],
                }
            );
            assert!(e.to_string().contains("c at 1800000301"), "{e}");
            // The same note is accepted by a verifier whose clock has caught up, or that allows
            // more skew.
            assert!(
                p.verify_at(format!("{note}{a}{late}"), logs, now + 1)
                    .is_ok()
            );
            let lenient = two_of_three().with_max_clock_skew(skew + 1);
            assert_eq!(lenient.max_clock_skew(), skew + 1);
            assert!(
                lenient
                    .verify_at(format!("{note}{a}{late}"), logs, now)
                    .is_ok()
            );
            // Old cosignatures are fine (freshness is the verifier's own business).
            let old = cosign("w/b", 2, 1, BODY);
            assert!(p.verify_at(format!("{note}{a}{old}"), logs, now).is_ok());
            // The quorum met by others: a cosignature from the future does not reject the note.
            assert!(
                p.verify_at(format!("{note}{a}{old}{late}"), logs, now)
                    .is_ok()
            );
        }

        #[test]
        fn the_quorum_decides() {
            let (note, log) = log_note();
            let p = two_of_three();
            let logs = std::slice::from_ref(&log);
            let a = cosign("w/a", 1, 10, BODY);
            let c = cosign("w/c", 3, 11, BODY);
            // An unknown witness (not in the policy) is ignored: it neither counts nor fails.
            let stranger = cosign("w/stranger", 9, 12, BODY);
            let ok = p.verify(format!("{note}{a}{stranger}{c}"), logs).unwrap();
            assert_eq!(
                ok.cosigned_by,
                vec![("a".to_string(), 10), ("c".to_string(), 11)]
            );
            assert_eq!(ok.checkpoint.size, 5);
            // One cosignature is not two.
            assert_eq!(
                p.verify(format!("{note}{a}{stranger}"), logs),
                Err(CosignedError::QuorumNotMet {
                    cosigned: vec!["a".into()],
                    ahead: vec![],
                })
            );
            assert!(matches!(
                p.verify(&note, logs),
                Err(CosignedError::QuorumNotMet { .. })
            ));
            // A forged cosignature (w/b's line signed by another key, or over another body)
            // rejects the note even though a and c would make the quorum.
            let forged = cosign("w/b", 7, 13, BODY);
            let forged_id = {
                let real = WitnessVerifier::new("w/b", key(2).public_key().as_ref()).unwrap();
                let note = format!("{BODY}\n{forged}");
                let (_, l) = split_note(note.as_bytes()).unwrap();
                signature_line("w/b", real.key_id(), 13, &l[0].signature[8..])
            };
            assert!(matches!(
                p.verify(format!("{note}{a}{c}{forged_id}"), logs),
                Err(CosignedError::Forged { witness, .. }) if witness == "b"
            ));
            let other_body = cosign("w/b", 2, 13, &BODY.replace("\n5\n", "\n6\n"));
            assert!(matches!(
                p.verify(format!("{note}{a}{c}{other_body}"), logs),
                Err(CosignedError::Forged { .. })
            ));
            // Cosignatures without the log's signature are nothing.
            let (_, other_log) = {
                let k = key(101);
                (
                    (),
                    Verifier::new("kruispunt/test", k.public_key().as_ref()).unwrap(),
                )
            };
            assert!(matches!(
                p.verify(format!("{note}{a}{c}"), &[other_log]),
                Err(CosignedError::Note(NoteError::NoTrustedSignature))
            ));
        }
    }
}
