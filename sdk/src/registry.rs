//! `GET /v1/registry`: what the calling organisation may send and ask — its purposes, the
//! signal codes of their themes (with the registry's Dutch titles), the districts and
//! gemeenten a signal may name, and the identifier kinds.
//!
//! Why an endpoint and not the TOML file: a partner without the source tree (a dealer, a
//! municipal analyst) must be able to see the valid values before its first upload, and only
//! those the policy grants its organisation — the purposes of other sectors are none of its
//! business.

use serde::{Deserialize, Serialize};

use crate::wire::Level;

/// The answer of `GET /v1/registry`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistryView {
    /// The registry's unit, e.g. `midden-nederland`, and its version label.
    pub registry: RegistryMetaView,
    /// The calling organisation as the registry knows it.
    pub organisation: OrganisationView,
    /// The purposes this organisation takes part in and may ask or supply under, by id.
    pub purposes: Vec<PurposeView>,
    /// The signal codes of those purposes' themes, by code.
    pub codes: Vec<CodeView>,
    /// Every district of the unit.
    pub districts: Vec<DistrictView>,
    /// Every gemeente of the unit (CBS code, name, district), by code.
    pub gemeenten: Vec<GemeenteView>,
    /// The identifier kinds at least one of the purposes processes, sorted.
    pub identifier_kinds: Vec<String>,
}

/// The registry's header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistryMetaView {
    /// Stable id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Version label of the registry.
    pub version: String,
}

/// The calling organisation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrganisationView {
    /// Stable id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Sector, as the policy knows it.
    pub sector: String,
}

/// One purpose, as far as it concerns the caller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PurposeView {
    /// Stable id.
    pub id: String,
    /// The registry's title of the purpose (its description).
    pub title: String,
    /// Legal basis code, e.g. `wpg-art-19`, `avg-art-6-1-f`.
    pub legal_basis: String,
    /// Roles with which this organisation may ask match queries; empty: it may not ask.
    pub ask_roles: Vec<String>,
    /// Roles with which this organisation may upload and withdraw; empty: it may not supply.
    pub supply_roles: Vec<String>,
    /// Identifier kinds the purpose processes.
    pub identifier_kinds: Vec<String>,
    /// Taxonomy themes whose codes may be uploaded.
    pub themes: Vec<String>,
    /// Highest disclosure level the purpose allows.
    pub disclosure_ceiling: Level,
    /// Independent sources needed before anything is disclosed.
    pub min_sources: u32,
    /// Identifiers per match request.
    pub max_identifiers_per_request: u64,
    /// Days a signal is kept.
    pub retention_days: u32,
}

/// A signal code with its title.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeView {
    /// The signal code, as uploads name it.
    pub code: String,
    /// The registry's (Dutch) title.
    pub title: String,
    /// Themes the code belongs to (a code may be in several).
    pub themes: Vec<String>,
    /// The caller's purposes under which it may be uploaded.
    pub purposes: Vec<String>,
}

/// A district.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DistrictView {
    /// Stable id.
    pub id: String,
    /// Display name.
    pub name: String,
}

/// A gemeente.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GemeenteView {
    /// CBS code, `GM` + four digits.
    pub code: String,
    /// Display name.
    pub name: String,
    /// The district it is assigned to.
    pub district: String,
}
