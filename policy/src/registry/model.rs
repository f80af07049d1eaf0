//! The registry's vocabulary (sectors, identifier kinds, restricted origins) and its entries
//! as the TOML file spells them: partners, purposes, coalitions, partnership decisions,
//! taxonomy themes and districts.
//!
//! Why apart from [`super::Registry`]: these are plain data, read by the broker and the CLI as
//! much as by the policy; how they are loaded, located and checked is the business of the
//! parent module and of `validate.rs`.

use std::collections::BTreeMap;

use kruispunt_sdk::wire::Level;
use serde::{Deserialize, Serialize};

/// Partner sectors known to the policy.
pub const SECTORS: &[&str] = &[
    "kvo",
    "autobranche",
    "horeca",
    "vastgoed",
    "gemeente",
    "riec",
    "politie",
    "om",
];

/// Sectors that are public bodies (bestuursorganen, police, public prosecutor, RIEC).
pub const PUBLIC_SECTORS: &[&str] = &["gemeente", "riec", "politie", "om"];

/// Identifier kinds the SDK can normalise and pseudonymise.
pub const IDENTIFIER_KINDS: &[&str] = &[
    "kenteken",
    "kvk",
    "vestiging",
    "rsin",
    "bsn",
    "iban",
    "adres",
    "vin",
    "telefoon",
    "persoon",
];

/// Regimes whose data must never reach a private partner (rule 2).
pub const RESTRICTED_ORIGINS: &[&str] = &["politie", "riec", "bibob"];

/// Descriptive header of a registry file.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistryMeta {
    /// Stable lowercase id of the unit the registry describes, e.g. `midden-nederland`: the
    /// value of the `unit` area level in the ondermijningsbeeld.
    #[serde(default)]
    pub id: String,
    /// Human name, e.g. "Eenheid Midden-Nederland".
    #[serde(default)]
    pub name: String,
    /// Version label chosen by the registry's maintainers.
    #[serde(default)]
    pub version: String,
}

/// Thresholds of the enumeration guard (rule 7), equal for every purpose.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnumerationGuard {
    /// Match requests per requester and purpose per minute before `rate_limited`.
    pub max_requests_per_minute: u64,
    /// Identifiers asked per requester, purpose and day before the no-hit ratio is considered
    /// at all. Counted in identifiers, not requests, so that one large request weighs as much
    /// as the same identifiers asked one at a time. (`sweep_min_queries`, the name it had when
    /// it counted requests, is still read.)
    #[serde(alias = "sweep_min_queries")]
    pub sweep_min_identifiers: u64,
    /// No-hit percentage (0–100) of the day's identifiers at or above which they count as a
    /// sweep (an identifier that was refused counts as one without a hit).
    pub sweep_no_hit_percent: u64,
}

impl Default for EnumerationGuard {
    fn default() -> Self {
        EnumerationGuard {
            max_requests_per_minute: 60,
            sweep_min_identifiers: 50,
            sweep_no_hit_percent: 95,
        }
    }
}

/// A police district and the themes it prioritises.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct District {
    /// Stable lowercase id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Taxonomy themes this district focuses on.
    #[serde(default)]
    pub themes: Vec<String>,
}

/// A municipality of the unit, with the district it is assigned to.
///
/// Why in the registry: which district a border municipality belongs to is the unit's working
/// arrangement, not a fact of nature, so it is configured here (and can change) rather than
/// written into code. Signals name their gemeente by this code.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Gemeente {
    /// CBS municipality code: `GM` followed by four digits, e.g. `GM0344` (Utrecht).
    pub code: String,
    /// Display name.
    pub name: String,
    /// Id of the registry district the municipality is assigned to.
    pub district: String,
    /// Whether the assignment is a working choice for a border case the unit may settle
    /// differently; shown with the picture so readers know a district total may shift.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub district_uncertain: bool,
}

impl Gemeente {
    /// Whether `code` has the form of a CBS municipality code (`GM` + four digits).
    pub fn is_code(code: &str) -> bool {
        code.len() == 6 && code.starts_with("GM") && code[2..].bytes().all(|b| b.is_ascii_digit())
    }

    /// Whether `wijk` has the form of a CBS wijk code (`WK` + four digits + two digits).
    pub fn is_wijk_code(wijk: &str) -> bool {
        wijk.len() == 8 && wijk.starts_with("WK") && wijk[2..].bytes().all(|b| b.is_ascii_digit())
    }

    /// Whether the wijk code `wijk` lies in this municipality: its four digits after `WK` are
    /// the municipality's (CBS numbers wijken within their gemeente).
    pub fn contains_wijk(&self, wijk: &str) -> bool {
        Gemeente::is_code(&self.code)
            && Gemeente::is_wijk_code(wijk)
            && wijk[2..6] == self.code[2..]
    }
}

/// A theme of the signal taxonomy: codes partners may upload, with a title each.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Theme {
    /// Display title of the theme.
    pub title: String,
    /// Signal code → title.
    pub codes: BTreeMap<String, String>,
}

/// Signature algorithms accepted for partner JWTs (no `none`, no HMAC, no RSA).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyAlg {
    /// Ed25519.
    #[serde(rename = "EdDSA")]
    EdDsa,
    /// ECDSA P-256 with SHA-256.
    #[serde(rename = "ES256")]
    Es256,
}

/// A partner's registered JWT verification key.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartnerKey {
    /// Key id (`kid` header).
    pub kid: String,
    /// Algorithm the key is for.
    pub alg: KeyAlg,
    /// Public key, base64 (raw) or PEM.
    pub public_key: String,
}

/// A partner organisation.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Partner {
    /// Stable lowercase id; the JWT `sub`/`iss` and the MLS credential name it.
    pub id: String,
    /// Display name.
    pub name: String,
    /// One of [`SECTORS`].
    pub sector: String,
    /// Public body (true) or private party (false); must agree with the sector.
    pub public: bool,
    /// Home district, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub district: Option<String>,
    /// For a partner of sector `gemeente`: its own municipality's CBS code (one of the
    /// registry's `gemeenten`), so that its analysts can be given their own gemeente's picture.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gemeente: Option<String>,
    /// JWT verification keys (EdDSA or ES256).
    #[serde(default)]
    pub keys: Vec<PartnerKey>,
    /// Whether the broker demands a client certificate from this partner.
    #[serde(default)]
    pub require_mtls: bool,
    /// SHA-256 (hex) of the partner's client certificate, pinned when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_cert_sha256: Option<String>,
}

/// A registered purpose (doel) with everything purpose limitation needs.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Purpose {
    /// Stable lowercase id.
    pub id: String,
    /// Display title.
    pub title: String,
    /// Legal basis code, e.g. `wpg-art-19`, `wpg-art-20`, `wet-bibob`, `avg-art-6-1-f`.
    pub legal_basis: String,
    /// Partner id of the controller (verwerkingsverantwoordelijke).
    pub controller: String,
    /// The processing activity (verwerkingsactiviteit) in the controller's register of
    /// processing activities, as a URI: the `dpl.core.processing_activity_id` of the Logboek
    /// Dataverwerkingen export (docs/AUDIT.md). Absent: `urn:kruispunt:verwerkingsactiviteit:<id>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub processing_activity: Option<String>,
    /// Whether the purpose may be used now.
    #[serde(default = "yes")]
    pub active: bool,
    /// Unix seconds after which the purpose lapses, if it is time-limited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_until: Option<i64>,
    /// Sectors whose members may ask match queries.
    pub requester_sectors: Vec<String>,
    /// Roles (from the partner's token) that may ask (match) under this purpose.
    pub roles: Vec<String>,
    /// Roles that may supply (upload and withdraw) signals for this purpose, from partners of
    /// the `source_sectors`. Absent: the roles of `roles`. Supplying never lets a partner ask
    /// or receive (rules 2 and 3 still apply to the supplier).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supplier_roles: Option<Vec<String>>,
    /// Identifier kinds this purpose may process.
    pub identifier_kinds: Vec<String>,
    /// Sectors that may receive results above `none`.
    pub recipients: Vec<String>,
    /// Sectors whose signals may feed this purpose.
    pub source_sectors: Vec<String>,
    /// Taxonomy themes whose codes may be uploaded.
    #[serde(default)]
    pub themes: Vec<String>,
    /// Highest disclosure level this purpose allows.
    pub disclosure_ceiling: Level,
    /// Minimum number of independent sources before anything is disclosed.
    pub min_sources: u32,
    /// Days a signal may be kept and matched.
    pub retention_days: u32,
    /// Identifiers per requester per day.
    pub daily_identifier_budget: u64,
    /// Identifiers per single request.
    pub max_identifiers_per_request: u64,
    /// Days during which a hit is withheld from the supplying partner (police cases).
    #[serde(default)]
    pub embargo_days: u32,
    /// Autoriteit Persoonsgegevens permit id, required for private-to-private
    /// person-level warnings (UAVG art. 33(4)(c)).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ap_permit: Option<String>,
    /// Regimes the disclosed data stem from: `politie`, `riec`, `bibob`.
    #[serde(default)]
    pub derived_from: Vec<String>,
    /// The disclosure-controlled picture this purpose offers (`POST /v1/aggregates`,
    /// docs/BEELD.md); absent: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aggregates: Option<AggregateRules>,
}

/// A purpose's `[purposes.aggregates]`: what its picture may show and how it is released.
/// Every field has the documented default; the policy returns them as the obligations of an
/// `aggregate` decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AggregateRules {
    /// Area levels that may be asked (`unit`, `district`, `gemeente`, `wijk`).
    #[serde(default = "AggregateRules::default_areas")]
    pub areas: Vec<String>,
    /// Measures that may be asked.
    #[serde(default = "AggregateRules::default_measures")]
    pub measures: Vec<String>,
    /// Periods that may be asked (`week`, `month`, `quarter`).
    #[serde(default = "AggregateRules::default_periods")]
    pub periods: Vec<String>,
    /// Least subjects in a released cell (default 10).
    #[serde(default = "AggregateRules::default_k")]
    pub k: u32,
    /// Least subjects in a released wijk cell (default 50).
    #[serde(default = "AggregateRules::default_wijk_k")]
    pub wijk_k: u32,
    /// Least supplying organisations of a released cell (default 3).
    #[serde(default = "AggregateRules::default_min_sources")]
    pub min_sources: u32,
    /// Largest percentage of a cell's subject–supplier pairs one supplier may hold (85).
    #[serde(default = "AggregateRules::default_max_share_percent")]
    pub max_share_percent: u32,
    /// ε per question in µε (500 000 = 0.5).
    #[serde(default = "AggregateRules::default_epsilon_micro")]
    pub epsilon_micro: u64,
    /// ε per requesting organisation and calendar month in µε (10 000 000 = 10).
    #[serde(default = "AggregateRules::default_monthly_epsilon_micro")]
    pub monthly_epsilon_micro: u64,
    /// Released values are multiples of this (5).
    #[serde(default = "AggregateRules::default_rounding")]
    pub rounding: u32,
    /// Most cells one subject may fall into in one question (4).
    #[serde(default = "AggregateRules::default_contribution_cap")]
    pub contribution_cap: u32,
    /// Most signals one subject adds to one cell, measure `signals` (5).
    #[serde(default = "AggregateRules::default_signal_cap")]
    pub signal_cap: u32,
    /// Seconds between published snapshots (3600).
    #[serde(default = "AggregateRules::default_snapshot_interval_secs")]
    pub snapshot_interval_secs: u32,
    /// Longest `from`..`to` range in days (1100: three years).
    #[serde(default = "AggregateRules::default_max_range_days")]
    pub max_range_days: u32,
}

impl AggregateRules {
    fn default_areas() -> Vec<String> {
        ["unit", "district", "gemeente", "wijk"]
            .map(String::from)
            .to_vec()
    }
    fn default_measures() -> Vec<String> {
        ["subjects", "multi_source", "cross_sector", "signals"]
            .map(String::from)
            .to_vec()
    }
    fn default_periods() -> Vec<String> {
        ["week", "month", "quarter"].map(String::from).to_vec()
    }
    fn default_k() -> u32 {
        10
    }
    fn default_wijk_k() -> u32 {
        50
    }
    fn default_min_sources() -> u32 {
        3
    }
    fn default_max_share_percent() -> u32 {
        85
    }
    fn default_epsilon_micro() -> u64 {
        500_000
    }
    fn default_monthly_epsilon_micro() -> u64 {
        10_000_000
    }
    fn default_rounding() -> u32 {
        5
    }
    fn default_contribution_cap() -> u32 {
        4
    }
    fn default_signal_cap() -> u32 {
        5
    }
    fn default_snapshot_interval_secs() -> u32 {
        3600
    }
    fn default_max_range_days() -> u32 {
        1100
    }
}

impl Default for AggregateRules {
    fn default() -> Self {
        toml::from_str("").expect("every field has a default")
    }
}

fn yes() -> bool {
    true
}

/// Who may open cases and who may issue the prosecutor's consents (docs/CASES.md).
///
/// Why in the registry: a partner signs its own tokens, so a role in a token is only that
/// partner's claim (bounded per sector by `[token_roles]`); which organisations may open a
/// case (the RIEC covenant's parties that steer cases) and which may consent to a Wpg art. 19
/// query (the public prosecutor) is what the partners signed. Absent, nobody may do either.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseRules {
    /// Sectors whose partners may open and move cases.
    #[serde(default)]
    pub open_sectors: Vec<String>,
    /// The role a token must carry to open or move a case.
    #[serde(default)]
    pub open_role: String,
    /// Sectors whose partners may issue and withdraw consents.
    #[serde(default)]
    pub consent_sectors: Vec<String>,
    /// The role a token must carry to issue or withdraw a consent.
    #[serde(default)]
    pub consent_role: String,
}

impl CaseRules {
    /// Whether a partner of `sector` with `roles` may open and move cases.
    pub fn may_open(&self, sector: &str, roles: &[String]) -> bool {
        !self.open_role.is_empty()
            && self.open_sectors.iter().any(|s| s == sector)
            && roles.contains(&self.open_role)
    }

    /// Whether a partner of `sector` with `roles` may issue and withdraw consents.
    pub fn may_consent(&self, sector: &str, roles: &[String]) -> bool {
        !self.consent_role.is_empty()
            && self.consent_sectors.iter().any(|s| s == sector)
            && roles.contains(&self.consent_role)
    }
}

/// A coalition: a group of partners sharing a coalition key over MLS for some purposes.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Coalition {
    /// Stable lowercase id (also the MLS group id).
    pub id: String,
    /// Display name.
    pub name: String,
    /// District, if the coalition is local.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub district: Option<String>,
    /// Partner ids that may be members.
    pub members: Vec<String>,
    /// Purpose ids the coalition works under.
    pub purposes: Vec<String>,
    /// Who administers the coalition: the only organisation, acting in the only role, that
    /// creates its MLS group and announces its key versions.
    pub admin: CoalitionAdmin,
}

/// A coalition's administrator as the covenant names it.
///
/// Why in the registry: a partner signs its own tokens, so a role in a token is only that
/// partner's claim, and "whoever registered the group first" is a race any member can win.
/// The administrator can make the retention task erase the coalition's signals (by announcing a
/// key version), so who it is must be what the partners signed, not what one of them asserts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CoalitionAdmin {
    /// Partner id; must be a member of the coalition.
    pub org: String,
    /// The role its token must carry when it acts as administrator.
    pub role: String,
}

/// A decision of the competent authority under Wpg art. 20 to share police data structurally
/// within a partnership. The article requires it to name the interest, the partnership, the
/// purpose, the data, the conditions and the recipients.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartnershipDecision {
    /// Id quoted by police requests as `consent_id`.
    pub id: String,
    /// The compelling public interest served.
    pub interest: String,
    /// Coalition id of the partnership.
    pub partnership: String,
    /// Purpose id.
    pub purpose: String,
    /// Identifier kinds the decision covers.
    pub data: Vec<String>,
    /// Conditions attached to the provision.
    pub conditions: String,
    /// Sectors that may receive the data.
    pub recipients: Vec<String>,
    /// Who decided (competent authority).
    pub decided_by: String,
    /// Unix seconds after which the decision lapses.
    pub valid_until: i64,
}
