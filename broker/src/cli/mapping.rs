//! Which column of a partner's spreadsheet holds what, and how one row becomes signals.
//!
//! A mapping names, per field, either a column (by its header, case and surrounding spaces
//! ignored) or a value for every row: `--column kenteken=Kenteken --column observed=Datum
//! --code cash-car-purchase --purpose autobranche-contante-aankopen`, or the same in a small
//! TOML file the partner keeps beside its exports (`--mapping FILE`):
//!
//! ```toml
//! [columns]
//! kenteken = "Kenteken"
//! observed = "Datum aankoop"
//! gemeente = "Gemeente"
//! [values]
//! code = "cash-car-purchase"
//! purposes = ["autobranche-contante-aankopen"]
//! ```
//!
//! Flags win over the file. Fields: an identifier kind (one or more columns; every non-empty
//! identifier cell of a row is one signal), `code`, `observed`, `gemeente`, `district`, `wijk`,
//! `purposes` (a cell may list several, separated by `,` or `|`).
//!
//! A row is checked completely here, before anything is sent: the identifier is normalised and
//! pseudonymised locally (the clear value never leaves the machine), the date must be
//! `dd-mm-jjjj` (also `d-m-jjjj`) or ISO `jjjj-mm-dd` — anything else, `07/12/2026` included,
//! is refused by row number, never guessed —, and code, district, gemeente and purposes must be
//! among the values `GET /v1/registry` grants this organisation. The district follows from the
//! gemeente when no district is mapped.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, bail};
use kruispunt_sdk::identifiers::{self, IdentifierKind};
use kruispunt_sdk::pseudonym::CoalitionKey;
use kruispunt_sdk::registry::RegistryView;
use kruispunt_sdk::wire::SignalIn;
use serde::Deserialize;

/// Fields other than identifier kinds that a column or a value may give.
pub const FIELDS: &[&str] = &[
    "code", "observed", "gemeente", "district", "wijk", "purposes",
];

/// The mapping as the partner wrote it: field → column header, field → value.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MappingFile {
    #[serde(default)]
    pub columns: BTreeMap<String, String>,
    #[serde(default)]
    pub values: Values,
}

/// Values for every row.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Values {
    pub code: Option<String>,
    pub district: Option<String>,
    pub gemeente: Option<String>,
    #[serde(default)]
    pub purposes: Vec<String>,
}

impl MappingFile {
    /// Reads a mapping file, naming it in every error.
    pub fn load(path: &Path) -> anyhow::Result<MappingFile> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("--mapping: cannot read {}", path.display()))?;
        toml::from_str(&text).map_err(|e| anyhow::anyhow!("--mapping: {}: {e}", path.display()))
    }

    /// Adds `--column FIELD=HEADER` flags (they win over the file).
    pub fn with_flags(mut self, columns: &[String], values: Values) -> anyhow::Result<Self> {
        for c in columns {
            let Some((field, header)) = c.split_once('=') else {
                bail!(
                    "--column {c:?}: write FIELD=HEADER, e.g. --column kenteken=Kenteken (fields: \
                     an identifier kind, {})",
                    FIELDS.join(", ")
                );
            };
            self.columns
                .insert(field.trim().to_string(), header.trim().to_string());
        }
        if values.code.is_some() {
            self.values.code = values.code;
        }
        if values.district.is_some() {
            self.values.district = values.district;
        }
        if values.gemeente.is_some() {
            self.values.gemeente = values.gemeente;
        }
        if !values.purposes.is_empty() {
            self.values.purposes = values.purposes;
        }
        Ok(self)
    }
}

/// A mapping resolved against a sheet's header: column indices.
#[derive(Debug, Clone)]
pub struct Mapping {
    /// Identifier columns: kind and column index.
    pub identifiers: Vec<(IdentifierKind, usize, String)>,
    fields: BTreeMap<&'static str, usize>,
    values: Values,
}

/// Why a row (or one identifier of it) is refused: the field and the rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub field: String,
    pub reason: String,
}

fn reject(field: &str, reason: impl Into<String>) -> Rejection {
    Rejection {
        field: field.to_string(),
        reason: reason.into(),
    }
}

/// Finds `header` among the sheet's headers (case and spaces ignored).
fn column_of(headers: &[String], header: &str) -> Option<usize> {
    let want = header.trim().to_lowercase();
    headers.iter().position(|h| h.trim().to_lowercase() == want)
}

impl Mapping {
    /// Resolves `file` against `headers`; every error names the field and the headers found.
    pub fn resolve(file: MappingFile, headers: &[String]) -> anyhow::Result<Mapping> {
        let mut identifiers = Vec::new();
        let mut fields = BTreeMap::new();
        for (field, header) in &file.columns {
            let Some(index) = column_of(headers, header) else {
                bail!(
                    "column {header:?} (for {field}) is not in the header row; the columns are: {}",
                    headers.join(", ")
                );
            };
            if let Some(f) = FIELDS.iter().find(|f| **f == field) {
                fields.insert(*f, index);
            } else {
                let kind: IdentifierKind = field.parse().map_err(|_| {
                    anyhow::anyhow!(
                        "--column {field}=…: {field:?} is neither an identifier kind ({}) nor a \
                         field ({})",
                        IdentifierKind::ALL.map(|k| k.as_str()).join(", "),
                        FIELDS.join(", ")
                    )
                })?;
                identifiers.push((kind, index, header.clone()));
            }
        }
        if identifiers.is_empty() {
            bail!(
                "no identifier column: map one, e.g. --column kenteken=Kenteken (kinds: {})",
                IdentifierKind::ALL.map(|k| k.as_str()).join(", ")
            );
        }
        if !fields.contains_key("observed") {
            bail!("no date column: map one, e.g. --column observed=Datum");
        }
        if !fields.contains_key("code") && file.values.code.is_none() {
            bail!(
                "no code: map a column (--column code=Code) or give one for every row (--code C)"
            );
        }
        if !fields.contains_key("purposes") && file.values.purposes.is_empty() {
            bail!(
                "no purpose: map a column (--column purposes=Doel) or give one for every row \
                 (--purpose P)"
            );
        }
        if !fields.contains_key("district")
            && !fields.contains_key("gemeente")
            && file.values.district.is_none()
            && file.values.gemeente.is_none()
        {
            bail!(
                "no place: map a gemeente or district column (--column gemeente=Gemeente) or give \
                 one for every row (--district D / --gemeente GM....)"
            );
        }
        Ok(Mapping {
            identifiers,
            fields,
            values: file.values,
        })
    }

    fn cell<'r>(&self, row: &'r [String], field: &str) -> Option<&'r str> {
        self.fields
            .get(field)
            .and_then(|i| row.get(*i))
            .map(String::as_str)
            .filter(|s| !s.is_empty())
    }

    /// The signals of one row (one per non-empty identifier cell), or why the row is refused.
    /// `registry` is what the broker grants this organisation (absent in a dry run without a
    /// broker: then only the forms are checked).
    pub fn signals(
        &self,
        row: &[String],
        registry: Option<&RegistryView>,
        key: &CoalitionKey,
    ) -> Result<Vec<(IdentifierKind, SignalIn)>, Rejection> {
        let observed = match self.cell(row, "observed") {
            Some(d) => parse_date(d).map_err(|r| reject("observed", r))?,
            None => return Err(reject("observed", "empty: every row needs its date")),
        };
        let code = self
            .cell(row, "code")
            .map(str::to_string)
            .or_else(|| self.values.code.clone())
            .ok_or_else(|| reject("code", "empty"))?;
        let purposes: Vec<String> = match self.cell(row, "purposes") {
            Some(cell) => cell
                .split([',', '|'])
                .map(|p| p.trim().to_string())
                .filter(|p| !p.is_empty())
                .collect(),
            None => self.values.purposes.clone(),
        };
        if purposes.is_empty() {
            return Err(reject("purposes", "empty"));
        }
        let gemeente = self
            .cell(row, "gemeente")
            .map(str::to_string)
            .or_else(|| self.values.gemeente.clone());
        let wijk = self.cell(row, "wijk").map(str::to_string);
        let mut district = self
            .cell(row, "district")
            .map(str::to_string)
            .or_else(|| self.values.district.clone());

        if let Some(reg) = registry {
            for p in &purposes {
                match reg.purposes.iter().find(|v| &v.id == p) {
                    Some(v) if !v.supply_roles.is_empty() => {}
                    _ => {
                        let mine: Vec<&str> = reg
                            .purposes
                            .iter()
                            .filter(|v| !v.supply_roles.is_empty())
                            .map(|v| v.id.as_str())
                            .collect();
                        return Err(reject(
                            "purposes",
                            format!(
                                "{p:?} is not a purpose this organisation may supply to; its \
                                 purposes: {}",
                                mine.join(", ")
                            ),
                        ));
                    }
                }
            }
            match reg.codes.iter().find(|c| c.code == code) {
                Some(c) if purposes.iter().all(|p| c.purposes.contains(p)) => {}
                Some(c) => {
                    return Err(reject(
                        "code",
                        format!(
                            "{code:?} is not a code of purpose {}; it may be sent for {}",
                            purposes.join(", "),
                            c.purposes.join(", ")
                        ),
                    ));
                }
                None => {
                    let valid: Vec<&str> = reg
                        .codes
                        .iter()
                        .filter(|c| purposes.iter().all(|p| c.purposes.contains(p)))
                        .map(|c| c.code.as_str())
                        .collect();
                    return Err(reject(
                        "code",
                        format!(
                            "{code:?} is not a known code; valid codes: {}",
                            valid.join(", ")
                        ),
                    ));
                }
            }
            if let Some(g) = &gemeente {
                let Some(gv) = reg.gemeenten.iter().find(|v| &v.code == g) else {
                    return Err(reject(
                        "gemeente",
                        format!(
                            "{g:?} is not a gemeente of the registry (a CBS code like GM0344; \
                             `kruispunt registry show` lists them)"
                        ),
                    ));
                };
                match &district {
                    None => district = Some(gv.district.clone()),
                    Some(d) if *d != gv.district => {
                        return Err(reject(
                            "district",
                            format!("gemeente {g} lies in district {}, not in {d}", gv.district),
                        ));
                    }
                    Some(_) => {}
                }
            }
            if let Some(d) = &district
                && !reg.districts.iter().any(|v| &v.id == d)
            {
                return Err(reject(
                    "district",
                    format!(
                        "{d:?} is not a district; the districts are {}",
                        reg.districts
                            .iter()
                            .map(|v| v.id.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
            }
        }
        // Without a registry (a dry run without a broker) the gemeente's district is not
        // known; nothing is sent then, so the form check stands.
        let district = match (district, registry) {
            (Some(d), _) => d,
            (None, None) if gemeente.is_some() => String::new(),
            (None, _) => return Err(reject("district", "empty: give a district or a gemeente")),
        };

        let mut out = Vec::with_capacity(self.identifiers.len());
        let mut canonical = String::with_capacity(64);
        for (kind, index, header) in &self.identifiers {
            let Some(raw) = row.get(*index).filter(|s| !s.is_empty()) else {
                continue;
            };
            if let Some(reg) = registry {
                let allowed = purposes.iter().all(|p| {
                    reg.purposes.iter().any(|v| {
                        &v.id == p && v.identifier_kinds.iter().any(|k| k == kind.as_str())
                    })
                });
                if !allowed {
                    return Err(reject(
                        header,
                        format!(
                            "identifier kind {} is not one purpose {} processes",
                            kind.as_str(),
                            purposes.join(", ")
                        ),
                    ));
                }
            }
            identifiers::normalise_into(*kind, raw, &mut canonical)
                .map_err(|e| reject(header, format!("{}: {e}", kind.as_str())))?;
            let p = key.pseudonymiser(*kind).pseudonymise_canonical(&canonical);
            out.push((
                *kind,
                SignalIn {
                    kind: kind.as_str().to_string(),
                    pseudonym: p.to_hex(),
                    key_version: key.version(),
                    code: code.clone(),
                    observed: observed.clone(),
                    district: district.clone(),
                    gemeente: gemeente.clone(),
                    wijk: wijk.clone(),
                    purposes: purposes.clone(),
                    expires: None,
                },
            ));
        }
        if out.is_empty() {
            let cols: Vec<&str> = self
                .identifiers
                .iter()
                .map(|(_, _, h)| h.as_str())
                .collect();
            return Err(reject(
                cols.first().copied().unwrap_or("identifier"),
                format!(
                    "no identifier in {} {}",
                    if cols.len() == 1 { "column" } else { "columns" },
                    cols.join(", ")
                ),
            ));
        }
        Ok(out)
    }
}

/// A date as the broker takes it (`YYYY-MM-DD`) from `dd-mm-jjjj` (day and month of one or two
/// digits) or ISO `jjjj-mm-dd`; anything else is refused with the forms that are accepted.
pub fn parse_date(s: &str) -> Result<String, String> {
    let refuse = || {
        format!(
            "{s:?} is not a date in the form dd-mm-jjjj (e.g. 20-11-2026) or jjjj-mm-dd; other \
             forms are refused, not guessed"
        )
    };
    let parts: Vec<&str> = s.trim().split('-').collect();
    if parts.len() != 3
        || parts
            .iter()
            .any(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(refuse());
    }
    let (y, m, d) = match (parts[0].len(), parts[1].len(), parts[2].len()) {
        (4, 2, 2) => (parts[0], parts[1], parts[2]),
        (1 | 2, 1 | 2, 4) => (parts[2], parts[1], parts[0]),
        _ => return Err(refuse()),
    };
    let iso = format!("{y}-{m:0>2}-{d:0>2}");
    match kruispunt_sdk::civil::parse_date(&iso) {
        Some(_) => Ok(iso),
        None => Err(format!("{s:?} is not a calendar date")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dutch_and_iso_dates_are_accepted_and_nothing_else() {
        assert_eq!(parse_date("20-11-2026").unwrap(), "2026-11-20");
        assert_eq!(parse_date("7-1-2026").unwrap(), "2026-01-07");
        assert_eq!(parse_date("2026-11-20").unwrap(), "2026-11-20");
        for bad in [
            "20/11/2026",
            "11-20-2026",
            "20-11-26",
            "2026-11-20 10:00",
            "31-02-2026",
            "",
        ] {
            assert!(parse_date(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn without_a_registry_only_the_forms_are_checked() {
        let headers: Vec<String> = ["Kenteken", "Datum", "Gemeente"].map(String::from).to_vec();
        let columns: Vec<String> = ["kenteken=Kenteken", "observed=Datum", "gemeente=Gemeente"]
            .map(String::from)
            .to_vec();
        let values = Values {
            code: Some("cash-car-purchase".into()),
            purposes: vec!["autobranche-contante-aankopen".into()],
            ..Values::default()
        };
        let file = MappingFile::default().with_flags(&columns, values).unwrap();
        let m = Mapping::resolve(file, &headers).unwrap();
        let key = CoalitionKey::from_hex(&"00".repeat(32), 1).unwrap();
        let row = |plate: &str, date: &str| [plate, date, "GM0307"].map(String::from).to_vec();
        let ok = m
            .signals(&row("GB-001-B", "20-11-2026"), None, &key)
            .unwrap();
        assert_eq!(ok.len(), 1);
        assert_eq!(ok[0].1.observed, "2026-11-20");
        let e = m
            .signals(&row("GB-001-B", "20/11/2026"), None, &key)
            .unwrap_err();
        assert_eq!(e.field, "observed");
        let e = m.signals(&row("XX", "20-11-2026"), None, &key).unwrap_err();
        assert_eq!(e.field, "Kenteken");
        // A column the header lacks is named with the columns there are.
        let bad = MappingFile::default()
            .with_flags(&["kenteken=Plaat".into()], Values::default())
            .unwrap();
        let err = Mapping::resolve(bad, &headers).unwrap_err().to_string();
        assert!(
            err.contains("Plaat") && err.contains("Kenteken, Datum, Gemeente"),
            "{err}"
        );
    }
}
