//! The registry: the agreed facts the policy reasons over.
//!
//! One TOML file, shared by the broker and the policy: partners, purposes, coalitions,
//! partnership decisions (Wpg art. 20), the signal taxonomy and the districts. It is the
//! written form of the covenant the partners signed, so it is validated strictly and every
//! problem is reported with file, line and field — a privacy officer must be able to fix it
//! without reading Rust.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::error::{Location, PolicyError, RegistryIssue};
use kruispunt_sdk::wire::Level;

/// The Midden-Nederland registry shipped inside the binary, so the broker works with zero files.
pub const DEFAULT_REGISTRY_TOML: &str = include_str!("../registry/midden-nederland.toml");

/// Name under which the embedded registry reports its errors.
pub const DEFAULT_REGISTRY_NAME: &str = "policy/registry/midden-nederland.toml";

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
    /// Queries per day before the no-hit ratio is considered at all.
    pub sweep_min_queries: u64,
    /// No-hit percentage (0–100) at or above which a day's queries count as a sweep.
    pub sweep_no_hit_percent: u64,
}

impl Default for EnumerationGuard {
    fn default() -> Self {
        EnumerationGuard {
            max_requests_per_minute: 60,
            sweep_min_queries: 50,
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
}

fn yes() -> bool {
    true
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

/// The whole registry. See the module documentation.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Registry {
    /// Header.
    #[serde(default)]
    pub meta: RegistryMeta,
    /// Enumeration-guard thresholds.
    #[serde(default)]
    pub guard: EnumerationGuard,
    /// Police districts.
    #[serde(default)]
    pub districts: Vec<District>,
    /// Signal taxonomy: theme id → theme.
    #[serde(default)]
    pub taxonomy: BTreeMap<String, Theme>,
    /// Partner organisations.
    #[serde(default)]
    pub partners: Vec<Partner>,
    /// Registered purposes.
    #[serde(default)]
    pub purposes: Vec<Purpose>,
    /// Coalitions.
    #[serde(default)]
    pub coalitions: Vec<Coalition>,
    /// Wpg art. 20 partnership decisions.
    #[serde(default)]
    pub partnership_decisions: Vec<PartnershipDecision>,
    /// Source text and name, kept to locate semantic errors by line.
    #[serde(skip)]
    source: SourceText,
}

#[derive(Debug, Clone, Default)]
struct SourceText {
    name: String,
    text: String,
}

impl Registry {
    /// Parse a registry from TOML. `source_name` is used in error messages (a path or the
    /// embedded name). Only the shape is checked here; call [`Registry::validate`] for the
    /// semantic checks.
    pub fn from_toml_str(text: &str, source_name: &str) -> Result<Registry, PolicyError> {
        match toml::from_str::<Registry>(text) {
            Ok(mut reg) => {
                reg.source = SourceText {
                    name: source_name.to_string(),
                    text: text.to_string(),
                };
                Ok(reg)
            }
            Err(e) => {
                let line = e.span().map(|s| line_of(text, s.start)).unwrap_or(0);
                Err(PolicyError::RegistryParse {
                    location: Location {
                        file: source_name.to_string(),
                        line,
                    },
                    field: field_at(text, line),
                    message: e.message().trim().to_string(),
                })
            }
        }
    }

    /// Read and parse a registry file.
    pub fn load(path: impl AsRef<Path>) -> Result<Registry, PolicyError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| PolicyError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Registry::from_toml_str(&text, &path.display().to_string())
    }

    /// The embedded Midden-Nederland registry.
    pub fn embedded() -> Registry {
        Registry::from_toml_str(DEFAULT_REGISTRY_TOML, DEFAULT_REGISTRY_NAME)
            .expect("embedded registry parses (checked by tests)")
    }

    /// Name of the file this registry was read from.
    pub fn source_name(&self) -> &str {
        &self.source.name
    }

    /// SHA-256 (hex) of the registry's source text; recorded with decisions next to the
    /// bundle hash, because the registry changes decisions as much as the Rego does.
    pub fn hash(&self) -> String {
        hex::encode(ring::digest::digest(
            &ring::digest::SHA256,
            self.source.text.as_bytes(),
        ))
    }

    /// Look up a partner.
    pub fn partner(&self, id: &str) -> Option<&Partner> {
        self.partners.iter().find(|p| p.id == id)
    }

    /// Look up a purpose.
    pub fn purpose(&self, id: &str) -> Option<&Purpose> {
        self.purposes.iter().find(|p| p.id == id)
    }

    /// Look up a coalition.
    pub fn coalition(&self, id: &str) -> Option<&Coalition> {
        self.coalitions.iter().find(|c| c.id == id)
    }

    /// Check the registry for consistency; `Err(PolicyError::RegistryInvalid)` lists every
    /// problem with file, line and field.
    pub fn validate(&self) -> Result<(), PolicyError> {
        let issues = self.issues();
        if issues.is_empty() {
            Ok(())
        } else {
            Err(PolicyError::RegistryInvalid(issues))
        }
    }

    /// Every consistency problem in the registry (empty when it is valid).
    pub fn issues(&self) -> Vec<RegistryIssue> {
        let mut v = Validator {
            reg: self,
            issues: Vec::new(),
        };
        v.run();
        v.issues
    }

    /// The registry as the Rego `data` document: `{"registry": {...}}` with partners,
    /// purposes, coalitions and partnership decisions keyed by id (constant-time lookups in
    /// the policy). Partner keys are left out: the policy does not need them.
    pub fn to_data(&self) -> Value {
        fn keyed<T: Serialize>(items: &[T], id: impl Fn(&T) -> &str) -> Value {
            let mut m = Map::new();
            for it in items {
                m.insert(
                    id(it).to_string(),
                    serde_json::to_value(it).unwrap_or(Value::Null),
                );
            }
            Value::Object(m)
        }
        let mut partners = keyed(&self.partners, |p| &p.id);
        if let Value::Object(m) = &mut partners {
            for p in m.values_mut() {
                if let Value::Object(p) = p {
                    p.remove("keys");
                    p.remove("client_cert_sha256");
                }
            }
        }
        json!({
            "registry": {
                "meta": self.meta,
                "guard": self.guard,
                "districts": keyed(&self.districts, |d| &d.id),
                "taxonomy": self.taxonomy,
                "partners": partners,
                "purposes": keyed(&self.purposes, |p| &p.id),
                "coalitions": keyed(&self.coalitions, |c| &c.id),
                "partnership_decisions": keyed(&self.partnership_decisions, |d| &d.id),
            }
        })
    }

    /// Line of `field` inside the `[[section]]` block whose `id` is `id` (or of the block, or 0).
    fn locate(&self, section: &str, id: &str, field: Option<&str>) -> usize {
        let lines: Vec<&str> = self.source.text.lines().collect();
        let header = format!("[[{section}]]");
        let mut i = 0;
        while i < lines.len() {
            if lines[i].trim() == header {
                let start = i;
                let mut end = i + 1;
                while end < lines.len() && !lines[end].trim_start().starts_with('[') {
                    end += 1;
                }
                let block = &lines[start..end];
                let has_id = block
                    .iter()
                    .any(|l| key_of(l) == Some("id") && l.contains(&format!("\"{id}\"")));
                if has_id {
                    if let Some(field) = field
                        && let Some(off) = block.iter().position(|l| key_of(l) == Some(field))
                    {
                        return start + off + 1;
                    }
                    if let Some(off) = block.iter().position(|l| key_of(l) == Some("id")) {
                        return start + off + 1;
                    }
                    return start + 1;
                }
                i = end;
            } else {
                i += 1;
            }
        }
        // Table-style sections such as [taxonomy.x] or [guard].
        let table = if id.is_empty() {
            format!("[{section}]")
        } else {
            format!("[{section}.{id}]")
        };
        lines
            .iter()
            .position(|l| l.trim() == table)
            .map(|p| p + 1)
            .unwrap_or(0)
    }
}

/// The key of a `key = value` line, if it is one.
fn key_of(line: &str) -> Option<&str> {
    let t = line.trim_start();
    if t.starts_with('#') || t.starts_with('[') {
        return None;
    }
    let (k, _) = t.split_once('=')?;
    Some(k.trim().trim_matches('"'))
}

/// 1-based line of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// Best description of the field at a line: `[section].key`.
fn field_at(text: &str, line: usize) -> String {
    if line == 0 {
        return String::new();
    }
    let lines: Vec<&str> = text.lines().collect();
    let key = lines.get(line - 1).and_then(|l| key_of(l)).unwrap_or("");
    let header = lines[..line.min(lines.len())]
        .iter()
        .rev()
        .find(|l| l.trim_start().starts_with('['))
        .map(|l| l.trim().trim_matches(|c| c == '[' || c == ']').to_string())
        .unwrap_or_default();
    match (header.is_empty(), key.is_empty()) {
        (true, _) => key.to_string(),
        (false, true) => header,
        (false, false) => format!("{header}.{key}"),
    }
}

struct Validator<'a> {
    reg: &'a Registry,
    issues: Vec<RegistryIssue>,
}

impl Validator<'_> {
    fn push(&mut self, section: &str, id: &str, field: &str, message: String) {
        let line = self.reg.locate(section, id, Some(field));
        let field = if id.is_empty() {
            format!("{section}.{field}")
        } else {
            format!("{section}[{id}].{field}")
        };
        self.issues.push(RegistryIssue {
            location: Location {
                file: self.reg.source.name.clone(),
                line,
            },
            field,
            message,
        });
    }

    fn check_subset(
        &mut self,
        section: &str,
        id: &str,
        field: &str,
        values: &[String],
        allowed: &BTreeSet<&str>,
        what: &str,
    ) {
        for v in values {
            if !allowed.contains(v.as_str()) {
                self.push(section, id, field, format!("unknown {what} `{v}`"));
            }
        }
    }

    fn check_unique<'b>(&mut self, section: &str, ids: impl Iterator<Item = &'b str>) {
        let mut seen = BTreeSet::new();
        for id in ids {
            if id.is_empty() {
                self.push(section, id, "id", "id must not be empty".into());
            } else if !seen.insert(id) {
                self.push(section, id, "id", format!("duplicate id `{id}`"));
            } else if !id
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            {
                self.push(
                    section,
                    id,
                    "id",
                    format!("id `{id}` must be lowercase letters, digits and '-'"),
                );
            }
        }
    }

    fn run(&mut self) {
        let reg = self.reg;
        let sectors: BTreeSet<&str> = SECTORS.iter().copied().collect();
        let kinds: BTreeSet<&str> = IDENTIFIER_KINDS.iter().copied().collect();
        let origins: BTreeSet<&str> = RESTRICTED_ORIGINS.iter().copied().collect();
        let themes: BTreeSet<&str> = reg.taxonomy.keys().map(String::as_str).collect();
        let partners: BTreeSet<&str> = reg.partners.iter().map(|p| p.id.as_str()).collect();
        let purposes: BTreeSet<&str> = reg.purposes.iter().map(|p| p.id.as_str()).collect();
        let coalitions: BTreeSet<&str> = reg.coalitions.iter().map(|c| c.id.as_str()).collect();
        let districts: BTreeSet<&str> = reg.districts.iter().map(|d| d.id.as_str()).collect();

        let g = &reg.guard;
        if g.max_requests_per_minute == 0 {
            self.push("guard", "", "max_requests_per_minute", "must be > 0".into());
        }
        if g.sweep_no_hit_percent == 0 || g.sweep_no_hit_percent > 100 {
            self.push(
                "guard",
                "",
                "sweep_no_hit_percent",
                "must be 1..=100".into(),
            );
        }

        for (theme, t) in &reg.taxonomy {
            if t.codes.is_empty() {
                self.push(
                    "taxonomy",
                    theme,
                    "codes",
                    "a theme needs at least one code".into(),
                );
            }
        }

        self.check_unique("districts", reg.districts.iter().map(|d| d.id.as_str()));
        for d in &reg.districts {
            self.check_subset("districts", &d.id, "themes", &d.themes, &themes, "theme");
        }

        self.check_unique("partners", reg.partners.iter().map(|p| p.id.as_str()));
        for p in &reg.partners {
            if !sectors.contains(p.sector.as_str()) {
                self.push(
                    "partners",
                    &p.id,
                    "sector",
                    format!(
                        "unknown sector `{}` (known: {})",
                        p.sector,
                        SECTORS.join(", ")
                    ),
                );
            } else if PUBLIC_SECTORS.contains(&p.sector.as_str()) != p.public {
                self.push(
                    "partners",
                    &p.id,
                    "public",
                    format!(
                        "sector `{}` is {}; `public` must be {}",
                        p.sector,
                        if p.public { "private" } else { "public" },
                        !p.public
                    ),
                );
            }
            if let Some(d) = &p.district
                && !districts.contains(d.as_str())
            {
                self.push(
                    "partners",
                    &p.id,
                    "district",
                    format!("unknown district `{d}`"),
                );
            }
            let mut kids = BTreeSet::new();
            for k in &p.keys {
                if !kids.insert(k.kid.as_str()) {
                    self.push(
                        "partners",
                        &p.id,
                        "keys",
                        format!("duplicate kid `{}`", k.kid),
                    );
                }
                if k.public_key.trim().is_empty() {
                    self.push("partners", &p.id, "keys", "public_key is empty".into());
                }
            }
            if let Some(fp) = &p.client_cert_sha256
                && (fp.len() != 64 || !fp.chars().all(|c| c.is_ascii_hexdigit()))
            {
                self.push(
                    "partners",
                    &p.id,
                    "client_cert_sha256",
                    "must be 64 hex digits".into(),
                );
            }
        }

        self.check_unique("purposes", reg.purposes.iter().map(|p| p.id.as_str()));
        for p in &reg.purposes {
            let id = p.id.as_str();
            if p.legal_basis.trim().is_empty() {
                self.push("purposes", id, "legal_basis", "must not be empty".into());
            }
            if !partners.contains(p.controller.as_str()) {
                self.push(
                    "purposes",
                    id,
                    "controller",
                    format!("unknown partner `{}`", p.controller),
                );
            }
            self.check_subset(
                "purposes",
                id,
                "requester_sectors",
                &p.requester_sectors,
                &sectors,
                "sector",
            );
            self.check_subset(
                "purposes",
                id,
                "recipients",
                &p.recipients,
                &sectors,
                "sector",
            );
            self.check_subset(
                "purposes",
                id,
                "source_sectors",
                &p.source_sectors,
                &sectors,
                "sector",
            );
            self.check_subset(
                "purposes",
                id,
                "identifier_kinds",
                &p.identifier_kinds,
                &kinds,
                "identifier kind",
            );
            self.check_subset(
                "purposes",
                id,
                "themes",
                &p.themes,
                &themes,
                "taxonomy theme",
            );
            self.check_subset(
                "purposes",
                id,
                "derived_from",
                &p.derived_from,
                &origins,
                "origin",
            );
            if p.roles.is_empty() {
                self.push(
                    "purposes",
                    id,
                    "roles",
                    "at least one role is needed".into(),
                );
            }
            if p.supplier_roles.as_ref().is_some_and(Vec::is_empty) {
                self.push(
                    "purposes",
                    id,
                    "supplier_roles",
                    "at least one role is needed (leave it out to use `roles`)".into(),
                );
            }
            if p.identifier_kinds.is_empty() {
                self.push(
                    "purposes",
                    id,
                    "identifier_kinds",
                    "at least one kind is needed".into(),
                );
            }
            if p.retention_days == 0 {
                self.push("purposes", id, "retention_days", "must be > 0".into());
            }
            if p.min_sources == 0 {
                self.push("purposes", id, "min_sources", "must be ≥ 1".into());
            }
            if p.daily_identifier_budget == 0 {
                self.push(
                    "purposes",
                    id,
                    "daily_identifier_budget",
                    "must be > 0".into(),
                );
            }
            if p.max_identifiers_per_request == 0
                || p.max_identifiers_per_request > p.daily_identifier_budget
            {
                self.push(
                    "purposes",
                    id,
                    "max_identifiers_per_request",
                    "must be > 0 and ≤ daily_identifier_budget".into(),
                );
            }
            if let Some(permit) = &p.ap_permit
                && permit.trim().is_empty()
            {
                self.push(
                    "purposes",
                    id,
                    "ap_permit",
                    "omit the key instead of an empty permit".into(),
                );
            }
            // Rule 2: police-, RIEC- or Bibob-derived data never reaches a private partner.
            if !p.derived_from.is_empty() {
                for r in &p.recipients {
                    if sectors.contains(r.as_str()) && !PUBLIC_SECTORS.contains(&r.as_str()) {
                        self.push(
                            "purposes",
                            id,
                            "recipients",
                            format!(
                                "private sector `{r}` may not receive data derived from {}",
                                p.derived_from.join("/")
                            ),
                        );
                    }
                }
            }
            // Rule 3: BSN is never disclosed to private partners. (Uploads of BSN by private
            // partners are refused per request by the policy.)
            if p.identifier_kinds.iter().any(|k| k == "bsn") {
                for (field, list) in [
                    ("requester_sectors", &p.requester_sectors),
                    ("recipients", &p.recipients),
                ] {
                    for s in list {
                        if sectors.contains(s.as_str()) && !PUBLIC_SECTORS.contains(&s.as_str()) {
                            self.push(
                                "purposes",
                                id,
                                field,
                                format!("BSN purpose may not involve private sector `{s}`"),
                            );
                        }
                    }
                }
            }
        }

        self.check_unique("coalitions", reg.coalitions.iter().map(|c| c.id.as_str()));
        for c in &reg.coalitions {
            let members = c.members.clone();
            self.check_subset(
                "coalitions",
                &c.id,
                "members",
                &members,
                &partners,
                "partner",
            );
            self.check_subset(
                "coalitions",
                &c.id,
                "purposes",
                &c.purposes,
                &purposes,
                "purpose",
            );
            if let Some(d) = &c.district
                && !districts.contains(d.as_str())
            {
                self.push(
                    "coalitions",
                    &c.id,
                    "district",
                    format!("unknown district `{d}`"),
                );
            }
        }

        self.check_unique(
            "partnership_decisions",
            reg.partnership_decisions.iter().map(|d| d.id.as_str()),
        );
        for d in &reg.partnership_decisions {
            let id = d.id.as_str();
            if !coalitions.contains(d.partnership.as_str()) {
                self.push(
                    "partnership_decisions",
                    id,
                    "partnership",
                    format!("unknown coalition `{}`", d.partnership),
                );
            }
            match reg.purpose(&d.purpose) {
                None => self.push(
                    "partnership_decisions",
                    id,
                    "purpose",
                    format!("unknown purpose `{}`", d.purpose),
                ),
                Some(p) if p.legal_basis != "wpg-art-20" => self.push(
                    "partnership_decisions",
                    id,
                    "purpose",
                    format!("purpose `{}` is not based on wpg-art-20", d.purpose),
                ),
                Some(_) => {}
            }
            self.check_subset(
                "partnership_decisions",
                id,
                "data",
                &d.data,
                &kinds,
                "identifier kind",
            );
            self.check_subset(
                "partnership_decisions",
                id,
                "recipients",
                &d.recipients,
                &sectors,
                "sector",
            );
            for (field, v) in [
                ("interest", &d.interest),
                ("conditions", &d.conditions),
                ("decided_by", &d.decided_by),
            ] {
                if v.trim().is_empty() {
                    self.push(
                        "partnership_decisions",
                        id,
                        field,
                        "Wpg art. 20 requires this to be stated".into(),
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_registry_is_valid() {
        let reg = Registry::embedded();
        let issues = reg.issues();
        assert!(issues.is_empty(), "{issues:#?}");
        for p in [
            "kvo-buitengebied-signalering",
            "autobranche-contante-aankopen",
            "horeca-bibob-screening",
            "politie-opsporing-wpg19",
            "politie-opsporing-wpg20",
            "ondermijningsbeeld",
        ] {
            assert!(reg.purpose(p).is_some(), "purpose {p} missing");
        }
        for s in SECTORS {
            assert!(
                reg.partners.iter().any(|p| p.sector == *s),
                "no partner in sector {s}"
            );
        }
        assert_eq!(reg.districts.len(), 5);
    }

    #[test]
    fn parse_error_names_file_line_and_field() {
        let text = "[guard]\nmax_requests_per_minute = \"many\"\nsweep_min_queries = 1\nsweep_no_hit_percent = 9\n";
        let err = Registry::from_toml_str(text, "x.toml").unwrap_err();
        match err {
            PolicyError::RegistryParse {
                location, field, ..
            } => {
                assert_eq!(location.file, "x.toml");
                assert_eq!(location.line, 2);
                assert_eq!(field, "guard.max_requests_per_minute");
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn unknown_field_is_a_parse_error() {
        let text = "[[districts]]\nid = \"a\"\nname = \"A\"\ncolour = \"red\"\n";
        let err = Registry::from_toml_str(text, "x.toml").unwrap_err();
        assert!(err.to_string().contains("x.toml:4"), "{err}");
    }

    #[test]
    fn semantic_errors_name_line_and_field() {
        let text = DEFAULT_REGISTRY_TOML.replacen(
            "requester_sectors = [\"kvo\"",
            "requester_sectors = [\"kvoo\"",
            1,
        );
        assert_ne!(text, DEFAULT_REGISTRY_TOML, "fixture edit applied");
        let reg = Registry::from_toml_str(&text, "mn.toml").unwrap();
        let issues = reg.issues();
        assert_eq!(issues.len(), 1, "{issues:#?}");
        let i = &issues[0];
        assert!(i.field.ends_with(".requester_sectors"), "{i}");
        let line = text.lines().nth(i.location.line - 1).unwrap();
        assert!(
            line.contains("kvoo"),
            "line {} is {line:?}",
            i.location.line
        );
    }

    #[test]
    fn private_recipient_of_police_data_is_rejected() {
        let text = DEFAULT_REGISTRY_TOML.replacen(
            "recipients = [\"politie\", \"om\"]",
            "recipients = [\"politie\", \"om\", \"horeca\"]",
            1,
        );
        assert_ne!(text, DEFAULT_REGISTRY_TOML);
        let reg = Registry::from_toml_str(&text, "mn.toml").unwrap();
        let issues = reg.issues();
        assert!(
            issues
                .iter()
                .any(|i| i.field.ends_with(".recipients") && i.message.contains("horeca")),
            "{issues:#?}"
        );
    }

    #[test]
    fn data_document_is_keyed_by_id_without_keys() {
        let data = Registry::embedded().to_data();
        let p = &data["registry"]["partners"]["politie-midden-nederland"];
        assert_eq!(p["sector"], "politie");
        assert!(p.get("keys").is_none());
        assert!(data["registry"]["purposes"]["ondermijningsbeeld"].is_object());
    }
}
