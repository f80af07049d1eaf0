//! The wire types of cases and the prosecutor's consents (docs/CASES.md): `POST /v1/cases`,
//! `POST /v1/cases/{reference}/state`, `GET /v1/cases[/{reference}]`, `POST /v1/consents`,
//! `DELETE /v1/consents/{id}`.
//!
//! A case (casus) is registered by a party that steers it — the RIEC, a municipality or the
//! police, with a token carrying the registry's case role — and names the gemeente, the themes
//! of the taxonomy, the legal frame and the organisations taking part. A police match under a
//! case reference needs the case registered and not closed, and under Wpg art. 19 a consent
//! the public prosecutor's organisation issued for that case and purpose, whose bounds contain
//! the query. Closing the case or withdrawing the consent ends every query under it at once.

use serde::{Deserialize, Serialize};

use crate::wire::{Level, MAX_SHORT_TEXT_BYTES, TooLong};

/// Most themes one case may name.
pub const MAX_CASE_THEMES: usize = 16;
/// Most organisations one case may list as participants.
pub const MAX_CASE_PARTICIPANTS: usize = 64;
/// Most identifier kinds one consent may name.
pub const MAX_CONSENT_KINDS: usize = 16;

/// Where a case stands. `open` → `intervention` → `closed`, or `open` → `closed`; nothing else.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CaseState {
    /// Registered; queries under it are allowed.
    Open,
    /// An intervention is being carried out; queries under it are still allowed.
    Intervention,
    /// Ended: every query and consent under it is refused from now on.
    Closed,
}

crate::wire_names! {
    /// The wire name (`open`, `intervention`, `closed`).
    CaseState {
        Open => "open",
        Intervention => "intervention",
        Closed => "closed",
    }
}

impl CaseState {
    /// Whether queries under a case in this state may be made.
    pub const fn allows_queries(self) -> bool {
        matches!(self, CaseState::Open | CaseState::Intervention)
    }

    /// Whether a case may move from `self` to `to`.
    pub const fn may_move_to(self, to: CaseState) -> bool {
        matches!(
            (self, to),
            (CaseState::Open, CaseState::Intervention)
                | (CaseState::Open, CaseState::Closed)
                | (CaseState::Intervention, CaseState::Closed)
        )
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<CaseState> {
        [CaseState::Open, CaseState::Intervention, CaseState::Closed]
            .into_iter()
            .find(|v| v.as_str() == s)
    }
}

/// The kind of intervention a case moves to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InterventionKind {
    /// Administrative: a Bibob refusal or withdrawal, a closure under art. 13b Opiumwet, ...
    Bestuurlijk,
    /// Criminal law: prosecution by the OM.
    Strafrechtelijk,
    /// Tax: the Belastingdienst.
    Fiscaal,
    /// Anything else (a conversation, a warning letter, ...).
    Other,
}

crate::wire_names! {
    /// The wire name (`bestuurlijk`, `strafrechtelijk`, `fiscaal`, `other`).
    InterventionKind {
        Bestuurlijk => "bestuurlijk",
        Strafrechtelijk => "strafrechtelijk",
        Fiscaal => "fiscaal",
        Other => "other",
    }
}

impl InterventionKind {
    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<InterventionKind> {
        [
            InterventionKind::Bestuurlijk,
            InterventionKind::Strafrechtelijk,
            InterventionKind::Fiscaal,
            InterventionKind::Other,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
    }
}

/// How a case ended (its result category).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CaseResult {
    /// The intervention was carried out.
    Intervened,
    /// The signals did not hold up: no grounds to intervene.
    NoGrounds,
    /// Handed over to another authority or unit.
    Transferred,
    /// Anything else.
    Other,
}

crate::wire_names! {
    /// The wire name (`intervened`, `no-grounds`, `transferred`, `other`).
    CaseResult {
        Intervened => "intervened",
        NoGrounds => "no-grounds",
        Transferred => "transferred",
        Other => "other",
    }
}

impl CaseResult {
    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<CaseResult> {
        [
            CaseResult::Intervened,
            CaseResult::NoGrounds,
            CaseResult::Transferred,
            CaseResult::Other,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
    }
}

/// The law a case is worked under (one or more).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum LegalFrame {
    /// The RIEC covenant under the Wet gegevensverwerking door samenwerkingsverbanden.
    #[serde(rename = "riec-convenant")]
    RiecConvenant,
    /// Wpg art. 19: incidental provision of police data with the prosecutor's consent.
    #[serde(rename = "wpg-art-19")]
    WpgArt19,
    /// Wpg art. 20: structural provision within a partnership.
    #[serde(rename = "wpg-art-20")]
    WpgArt20,
    /// Wet Bibob.
    #[serde(rename = "wet-bibob")]
    WetBibob,
}

crate::wire_names! {
    /// The wire name (`riec-convenant`, `wpg-art-19`, `wpg-art-20`, `wet-bibob`).
    LegalFrame {
        RiecConvenant => "riec-convenant",
        WpgArt19 => "wpg-art-19",
        WpgArt20 => "wpg-art-20",
        WetBibob => "wet-bibob",
    }
}

impl LegalFrame {
    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<LegalFrame> {
        [
            LegalFrame::RiecConvenant,
            LegalFrame::WpgArt19,
            LegalFrame::WpgArt20,
            LegalFrame::WetBibob,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
    }
}

/// Whether `reference` is a well-formed case reference: 1 to 128 ASCII letters, digits, `-`,
/// `_` or `.` (it is a path segment of `/v1/cases/{reference}` and reaches the audit log).
pub fn valid_case_reference(reference: &str) -> bool {
    !reference.is_empty()
        && reference.len() <= MAX_SHORT_TEXT_BYTES
        && reference
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// The body of `POST /v1/cases`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseOpenRequest {
    /// The case reference (zaaknummer), see [`valid_case_reference`]; unique in the broker.
    pub reference: String,
    /// The gemeente the case is about: a CBS code of the registry (`GM0344`).
    pub gemeente: String,
    /// Themes of the registry's taxonomy (at least one, at most [`MAX_CASE_THEMES`]).
    pub themes: Vec<String>,
    /// The law(s) the case is worked under (at least one).
    pub legal_frame: Vec<LegalFrame>,
    /// The organisations taking part (registry partner ids, at most
    /// [`MAX_CASE_PARTICIPANTS`]); the opening organisation takes part whether listed or not.
    pub participants: Vec<String>,
}

impl CaseOpenRequest {
    /// Checks the free texts' limits (before anything is decided or recorded).
    pub fn check_lengths(&self) -> Result<(), TooLong> {
        let over = |field, limit, unit| TooLong { field, limit, unit };
        for (field, list, max) in [
            ("themes", &self.themes, MAX_CASE_THEMES),
            ("participants", &self.participants, MAX_CASE_PARTICIPANTS),
        ] {
            if list.len() > max {
                return Err(over(field, max, "items"));
            }
            if list.iter().any(|t| t.len() > MAX_SHORT_TEXT_BYTES) {
                return Err(over(field, MAX_SHORT_TEXT_BYTES, "bytes"));
            }
        }
        if self.gemeente.len() > MAX_SHORT_TEXT_BYTES {
            return Err(over("gemeente", MAX_SHORT_TEXT_BYTES, "bytes"));
        }
        if self.reference.len() > MAX_SHORT_TEXT_BYTES {
            return Err(over("reference", MAX_SHORT_TEXT_BYTES, "bytes"));
        }
        Ok(())
    }
}

/// The body of `POST /v1/cases/{reference}/state`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseStateRequest {
    /// The state to move to.
    pub state: CaseState,
    /// With `intervention`: its kind (required there, refused elsewhere).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intervention: Option<InterventionKind>,
    /// With `closed`: the result category (required there, refused elsewhere).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<CaseResult>,
}

/// A case as the broker answers it (to its participants and the organisation that opened it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Case {
    /// The case reference.
    pub reference: String,
    /// CBS gemeente code.
    pub gemeente: String,
    /// Themes of the taxonomy.
    pub themes: Vec<String>,
    /// The law(s) it is worked under.
    pub legal_frame: Vec<LegalFrame>,
    /// The organisations taking part (the opener included), sorted.
    pub participants: Vec<String>,
    /// Where it stands.
    pub state: CaseState,
    /// The intervention's kind, once it reached `intervention`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intervention: Option<InterventionKind>,
    /// The result category, once `closed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<CaseResult>,
    /// The organisation that opened it.
    pub opened_by: String,
    /// When it was opened (Unix seconds).
    pub opened_at: i64,
    /// The organisation that made the last change (the opener until a transition).
    pub updated_by: String,
    /// When it last changed (Unix seconds).
    pub updated_at: i64,
}

/// The answer of `GET /v1/cases`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseList {
    /// The cases the caller's organisation opened or takes part in, by reference.
    pub cases: Vec<Case>,
}

/// The body of `POST /v1/consents`: the public prosecutor's consent to Wpg art. 19 queries
/// under one case and purpose, within bounds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsentRequest {
    /// The registered case it is for.
    pub case_reference: String,
    /// The purpose queries under it are made for (a Wpg art. 19 purpose of the registry).
    pub purpose: String,
    /// The identifier kinds queries may use (at least one).
    pub kinds: Vec<String>,
    /// The most identifiers one query (and one token's scope) may carry.
    pub max_identifiers: u64,
    /// The highest disclosure level a query may ask.
    pub ceiling: Level,
    /// Unix seconds after which the consent no longer holds.
    pub valid_until: i64,
}

impl ConsentRequest {
    /// Checks the free texts' limits (before anything is decided or recorded).
    pub fn check_lengths(&self) -> Result<(), TooLong> {
        let over = |field, limit, unit| TooLong { field, limit, unit };
        if self.case_reference.len() > MAX_SHORT_TEXT_BYTES {
            return Err(over("case_reference", MAX_SHORT_TEXT_BYTES, "bytes"));
        }
        if self.purpose.len() > MAX_SHORT_TEXT_BYTES {
            return Err(over("purpose", MAX_SHORT_TEXT_BYTES, "bytes"));
        }
        if self.kinds.len() > MAX_CONSENT_KINDS {
            return Err(over("kinds", MAX_CONSENT_KINDS, "items"));
        }
        if self.kinds.iter().any(|k| k.len() > MAX_SHORT_TEXT_BYTES) {
            return Err(over("kinds", MAX_SHORT_TEXT_BYTES, "bytes"));
        }
        Ok(())
    }
}

/// A consent as the broker answers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consent {
    /// The id a police token's scope and match name as `consent_id`.
    pub id: String,
    /// The case it is for.
    pub case_reference: String,
    /// The purpose it is for.
    pub purpose: String,
    /// The identifier kinds it allows.
    pub kinds: Vec<String>,
    /// The most identifiers per query and per token scope.
    pub max_identifiers: u64,
    /// The highest disclosure level.
    pub ceiling: Level,
    /// Unix seconds after which it no longer holds.
    pub valid_until: i64,
    /// The organisation that issued it.
    pub issued_by: String,
    /// When it was issued (Unix seconds).
    pub issued_at: i64,
    /// When it was withdrawn (Unix seconds), if it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub withdrawn_at: Option<i64>,
}

/// Most months one feedback question may span.
pub const MAX_FEEDBACK_MONTHS: usize = 36;

/// The outcome a feedback cell counts (`GET /v1/feedback`): signals that contributed to cases
/// at all, or to cases that came to an intervention of one kind.
pub const FEEDBACK_OUTCOMES: [&str; 5] = [
    "cases",
    "bestuurlijk",
    "strafrechtelijk",
    "fiscaal",
    "other",
];

/// The query of `GET /v1/feedback`: a range of calendar months, `YYYY-MM`, both included.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedbackQuery {
    /// The first month, `YYYY-MM`.
    pub from: String,
    /// The last month (included), `YYYY-MM`.
    pub to: String,
}

/// The answer of `GET /v1/feedback`: how many of the asking organisation's own signals
/// contributed to cases — were disclosed (a hit) in a police match under a registered case,
/// once no embargo holds — and to cases that came to an intervention of each kind, per month of
/// the disclosure. Counts only, under the picture's release rules: never a case, never a
/// subject (docs/CASES.md, "Feedback to the partners who signal").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeedbackResponse {
    /// The organisation whose signals are counted: always the asker's own.
    pub org: String,
    /// One cell per month and outcome: dimensions `month` (`2026-11`) and `outcome`
    /// ([`FEEDBACK_OUTCOMES`]), with the noisy rounded count or why it is withheld.
    pub cells: Vec<crate::beeld::Cell>,
    /// The threshold applied (signals per released cell).
    pub k: u32,
    /// Released values are multiples of this.
    pub rounding: u32,
    /// Half-width of the 95 % interval of a released cell's noise (before rounding).
    pub margin_95: u32,
    /// The moment the figures are as at (Unix seconds): embargoes ended by then count.
    pub as_of: i64,
    /// Sequence number of the release's audit entry.
    pub audit_seq: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transitions_are_open_intervention_closed_or_open_closed() {
        use CaseState::*;
        let all = [Open, Intervention, Closed];
        let allowed: Vec<_> = all
            .iter()
            .flat_map(|a| all.iter().map(move |b| (*a, *b)))
            .filter(|(a, b)| a.may_move_to(*b))
            .collect();
        assert_eq!(
            allowed,
            vec![(Open, Intervention), (Open, Closed), (Intervention, Closed)]
        );
        assert!(Open.allows_queries() && Intervention.allows_queries());
        assert!(!Closed.allows_queries());
    }

    #[test]
    fn names_round_trip_through_serde() {
        for s in [CaseState::Open, CaseState::Intervention, CaseState::Closed] {
            assert_eq!(serde_json::to_string(&s).unwrap(), format!("\"{s}\""));
            assert_eq!(CaseState::parse(s.as_str()), Some(s));
        }
        for r in [
            CaseResult::Intervened,
            CaseResult::NoGrounds,
            CaseResult::Transferred,
            CaseResult::Other,
        ] {
            assert_eq!(serde_json::to_string(&r).unwrap(), format!("\"{r}\""));
            assert_eq!(CaseResult::parse(r.as_str()), Some(r));
        }
        for f in [
            LegalFrame::RiecConvenant,
            LegalFrame::WpgArt19,
            LegalFrame::WpgArt20,
            LegalFrame::WetBibob,
        ] {
            assert_eq!(serde_json::to_string(&f).unwrap(), format!("\"{f}\""));
            assert_eq!(LegalFrame::parse(f.as_str()), Some(f));
        }
        for k in [
            InterventionKind::Bestuurlijk,
            InterventionKind::Strafrechtelijk,
            InterventionKind::Fiscaal,
            InterventionKind::Other,
        ] {
            assert_eq!(serde_json::to_string(&k).unwrap(), format!("\"{k}\""));
            assert_eq!(InterventionKind::parse(k.as_str()), Some(k));
        }
    }

    #[test]
    fn case_references_are_path_safe() {
        assert!(valid_case_reference("MN-2026-0412"));
        assert!(valid_case_reference("riec.mn_2026.7"));
        for bad in ["", "a/b", "a b", "ä", "..%2f", &"x".repeat(129)] {
            assert!(!valid_case_reference(bad), "{bad:?}");
        }
    }
}
