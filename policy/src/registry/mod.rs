//! The registry: the agreed facts the policy reasons over.
//!
//! One TOML file, shared by the broker and the policy: partners, purposes, coalitions,
//! partnership decisions (Wpg art. 20), the signal taxonomy and the districts. It is the
//! written form of the covenant the partners signed, so it is validated strictly and every
//! problem is reported with file, line and field — a privacy officer must be able to fix it
//! without reading Rust.
//!
//! Where things are: `model.rs` holds the vocabulary and the entries as the file spells them
//! (re-exported here), this module the [`Registry`] itself (parsing, look-ups, hash, the Rego
//! `data` document), `validate.rs` the semantic checks ([`Registry::validate`]), and
//! `source.rs` the mapping from an entry back to its line in the file.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::error::{Location, PolicyError};

mod model;
mod source;
mod validate;

use source::{field_at, line_of};

pub use model::{
    AggregateRules, CaseRules, Coalition, CoalitionAdmin, District, EnumerationGuard, Gemeente,
    IDENTIFIER_KINDS, KeyAlg, PUBLIC_SECTORS, Partner, PartnerKey, PartnershipDecision, Purpose,
    RESTRICTED_ORIGINS, RegistryMeta, SECTORS, Theme,
};

/// The Midden-Nederland registry shipped inside the binary, so the broker works with zero files.
pub const DEFAULT_REGISTRY_TOML: &str = include_str!("../../registry/midden-nederland.toml");

/// Name under which the embedded registry reports its errors.
pub const DEFAULT_REGISTRY_NAME: &str = "policy/registry/midden-nederland.toml";

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
    /// The unit's municipalities with their district (CBS codes).
    #[serde(default)]
    pub gemeenten: Vec<Gemeente>,
    /// Signal taxonomy: theme id → theme.
    #[serde(default)]
    pub taxonomy: BTreeMap<String, Theme>,
    /// Partner organisations.
    #[serde(default)]
    pub partners: Vec<Partner>,
    /// Per sector, the roles its partners' tokens may carry at all. A partner signs its own
    /// tokens, so without this bound a role is only the partner's claim: a KVO could call
    /// itself `coalitiebeheerder` or `rechercheur`. The broker refuses, at authentication and
    /// for every endpoint, a token that claims a role outside its partner's sector's list.
    #[serde(default)]
    pub token_roles: BTreeMap<String, Vec<String>>,
    /// Who may open cases and issue consents (docs/CASES.md); absent: nobody.
    #[serde(default)]
    pub cases: CaseRules,
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
    /// The ids of the partners that must present a client certificate (`require_mtls`): the
    /// development set-up makes their certificates, readiness checks a client CA trusts them.
    pub fn mtls_partners(&self) -> Vec<&str> {
        self.partners
            .iter()
            .filter(|p| p.require_mtls)
            .map(|p| p.id.as_str())
            .collect()
    }

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

    /// Look up a municipality by its CBS code (`GM0344`).
    pub fn gemeente(&self, code: &str) -> Option<&Gemeente> {
        self.gemeenten.iter().find(|g| g.code == code)
    }

    /// The taxonomy themes a signal code belongs to, in theme order. A code may belong to
    /// several themes (`hemp-indicators` is both buitengebied and bedrijventerreinen); an
    /// unknown code belongs to none.
    pub fn themes_of_code<'a>(&'a self, code: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.taxonomy
            .iter()
            .filter(move |(_, t)| t.codes.contains_key(code))
            .map(|(id, _)| id.as_str())
    }

    /// Look up a partner.
    pub fn partner(&self, id: &str) -> Option<&Partner> {
        self.partners.iter().find(|p| p.id == id)
    }

    /// The roles tokens of `partner` may carry (empty: none, so every token is refused).
    pub fn token_roles_of(&self, partner: &Partner) -> &[String] {
        self.token_roles
            .get(&partner.sector)
            .map_or(&[], Vec::as_slice)
    }

    /// Look up a purpose.
    pub fn purpose(&self, id: &str) -> Option<&Purpose> {
        self.purposes.iter().find(|p| p.id == id)
    }

    /// Look up a coalition.
    pub fn coalition(&self, id: &str) -> Option<&Coalition> {
        self.coalitions.iter().find(|c| c.id == id)
    }

    /// The registry as the Rego `data` document: `{"registry": {...}}` with partners,
    /// purposes, coalitions and partnership decisions keyed by id (constant-time lookups in
    /// the policy), and who steers cases (`cases`, for case channels). Partner keys are left out: the policy does not need them.
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
                "gemeenten": keyed(&self.gemeenten, |g| &g.code),
                "taxonomy": self.taxonomy,
                "partners": partners,
                "purposes": keyed(&self.purposes, |p| &p.id),
                "coalitions": keyed(&self.coalitions, |c| &c.id),
                "partnership_decisions": keyed(&self.partnership_decisions, |d| &d.id),
                "cases": self.cases,
            }
        })
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
        assert_eq!(reg.meta.id, "midden-nederland");
    }

    #[test]
    fn embedded_registry_knows_the_units_municipalities() {
        let reg = Registry::embedded();
        assert_eq!(reg.gemeenten.len(), 38);
        let utrecht = reg.gemeente("GM0344").expect("Utrecht");
        assert_eq!(utrecht.name, "Utrecht");
        assert_eq!(utrecht.district, "utrecht-stad");
        assert!(!utrecht.district_uncertain);
        let eemnes = reg.gemeente("GM0317").expect("Eemnes");
        assert_eq!(eemnes.district, "gooi-en-vechtstreek");
        assert!(eemnes.district_uncertain);
        let uncertain: Vec<&str> = reg
            .gemeenten
            .iter()
            .filter(|g| g.district_uncertain)
            .map(|g| g.code.as_str())
            .collect();
        assert_eq!(uncertain, ["GM0317", "GM0312", "GM0321", "GM1961"]);
        assert!(reg.gemeente("GM9999").is_none());
        // Every district has municipalities; every municipality partner names its own.
        for d in &reg.districts {
            assert!(reg.gemeenten.iter().any(|g| g.district == d.id), "{}", d.id);
        }
        for p in reg.partners.iter().filter(|p| p.sector == "gemeente") {
            let g = p.gemeente.as_deref().and_then(|c| reg.gemeente(c));
            assert!(g.is_some(), "partner {} names no known gemeente", p.id);
        }
        assert_eq!(
            reg.partner("gemeente-utrecht").unwrap().gemeente.as_deref(),
            Some("GM0344")
        );
    }

    #[test]
    fn wijk_codes_lie_in_their_gemeente() {
        let reg = Registry::embedded();
        let utrecht = reg.gemeente("GM0344").unwrap();
        assert!(utrecht.contains_wijk("WK034405"));
        assert!(!utrecht.contains_wijk("WK040205"), "Hilversum's wijk");
        for bad in [
            "WK03440",
            "WK0344055",
            "wk034405",
            "WK0344a5",
            "GM034405",
            "WK03440€",
        ] {
            assert!(!Gemeente::is_wijk_code(bad), "{bad}");
            assert!(!utrecht.contains_wijk(bad), "{bad}");
        }
        assert!(Gemeente::is_code("GM0344"));
        assert!(!Gemeente::is_code("GM034€"));
    }

    #[test]
    fn a_code_may_belong_to_several_themes() {
        let reg = Registry::embedded();
        let themes: Vec<&str> = reg.themes_of_code("hemp-indicators").collect();
        assert_eq!(themes, ["bedrijventerreinen", "buitengebied"]);
        assert_eq!(reg.themes_of_code("no-such-code").count(), 0);
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
    fn data_document_is_keyed_by_id_without_keys() {
        let data = Registry::embedded().to_data();
        let p = &data["registry"]["partners"]["politie-midden-nederland"];
        assert_eq!(p["sector"], "politie");
        assert!(p.get("keys").is_none());
        assert!(data["registry"]["purposes"]["ondermijningsbeeld"].is_object());
        assert_eq!(
            data["registry"]["gemeenten"]["GM0402"]["district"],
            "gooi-en-vechtstreek"
        );
    }
}
