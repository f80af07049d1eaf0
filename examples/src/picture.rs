//! The synthetic signals behind the demo's ondermijningsbeeld: the partners of each district
//! signal subjects (companies, addresses, vehicles) in their own gemeenten over the last two
//! years, concentrated on the themes the unit's plan gives the district, so that the picture's
//! hot cells are those districts' themes and every other cell stays too thin to publish.
//!
//! Everything the generator needs to be valid comes from the registry: the districts and their
//! plan themes, the gemeenten and their district, which partners may supply under the
//! `ondermijningsbeeld` purpose (source sector, party to the purpose), each municipality's own
//! gemeente, and the purpose's retention (no signal older than the purpose keeps). Only the
//! flavour is chosen here: which identifier kinds a theme's signals are about, which sector
//! reports a theme most, and how the gemeenten of a district weigh.
//!
//! The shape, per hot (district, theme) cell: [`Picture::subjects_per_hot_cell`] subjects, each
//! signalled by one or two suppliers of the district (the RIEC included), one to three signals
//! each, the dates rising towards today (a trend to see). Cold cells (the district's other
//! themes) get a handful of subjects from one supplier each. A subject has one home gemeente;
//! a municipality only reports subjects in its own gemeente. In Utrecht-Stad most subjects of
//! the kwetsbare-gebieden and criminele-families themes also carry a (synthetic) wijk, weighted
//! to WK034405 (standing in for Overvecht).

use std::collections::{BTreeMap, BTreeSet};

use kruispunt_sdk::wire::SignalIn;
use kruispunt_sdk::{CoalitionKey, IdentifierKind};

use crate::synthetic::{Dataset, RegistryView, Rng, adres, date, kenteken, kvk};

/// The purpose the picture's signals are registered for.
pub const PURPOSE: &str = "ondermijningsbeeld";

/// The unit's RIEC: supplies in every district (it has none of its own).
const RIEC: &str = "riec-midden-nederland";

/// Days of history the picture spans (two years), unless the purpose keeps signals shorter.
const HISTORY_DAYS: i64 = 730;

/// The synthetic wijken of Utrecht (GM0344) and their weights; WK034405 stands in for Overvecht.
const UTRECHT_WIJKEN: [(&str, u64); 10] = [
    ("WK034401", 1),
    ("WK034402", 2),
    ("WK034403", 1),
    ("WK034404", 1),
    ("WK034405", 6),
    ("WK034406", 1),
    ("WK034407", 1),
    ("WK034408", 2),
    ("WK034409", 1),
    ("WK034410", 1),
];

/// Themes whose Utrecht subjects mostly carry a wijk.
const WIJK_THEMES: [&str; 2] = ["kwetsbare-gebieden", "criminele-families"];

/// The true content of one (district, theme) cell, as generated: what the picture should
/// approximate (before disclosure control).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CellTruth {
    /// Distinct subjects (kind, identifier).
    pub subjects: usize,
    /// Signals.
    pub signals: usize,
    /// Per supplying organisation, its subject–supplier pairs in the cell.
    pub pairs: BTreeMap<String, usize>,
}

impl CellTruth {
    /// The largest share (0–1) one supplier has of the cell's subject–supplier pairs.
    pub fn top_share(&self) -> f64 {
        let total: usize = self.pairs.values().sum();
        let top = self.pairs.values().max().copied().unwrap_or(0);
        if total == 0 {
            0.0
        } else {
            top as f64 / total as f64
        }
    }
}

/// The generated picture: the signals per supplier, and the truth per cell.
#[derive(Debug, Clone, PartialEq)]
pub struct Picture {
    /// Subjects in each hot cell.
    pub subjects_per_hot_cell: usize,
    /// Per supplying partner, its signals (pseudonymised), ready to upload.
    pub uploads: BTreeMap<String, Vec<SignalIn>>,
    /// Per (district, theme): what was generated.
    pub cells: BTreeMap<(String, String), CellTruth>,
    /// Per (gemeente code, theme): distinct subjects.
    pub gemeente_subjects: BTreeMap<(String, String), usize>,
    /// Per wijk code: distinct subjects.
    pub wijk_subjects: BTreeMap<String, usize>,
    /// The (district, theme) cells of the plan.
    pub hot: BTreeSet<(String, String)>,
}

impl Picture {
    /// Every signal of the picture.
    pub fn signal_count(&self) -> usize {
        self.uploads.values().map(Vec::len).sum()
    }
}

/// Which identifier kinds a theme's signals are about, with weights (kinds the
/// `ondermijningsbeeld` purpose allows).
fn kinds_of(theme: &str) -> &'static [(IdentifierKind, u64)] {
    use IdentifierKind::{Adres, Kenteken, Kvk};
    match theme {
        "autobranche" => &[(Kenteken, 3), (Kvk, 1)],
        "outlaw-motorcycle-gangs" => &[(Kenteken, 2), (Kvk, 1), (Adres, 1)],
        "horeca" | "bedrijventerreinen" => &[(Kvk, 2), (Adres, 1)],
        "criminele-families" => &[(Kvk, 1), (Kenteken, 1), (Adres, 1)],
        "vastgoed" | "buitengebied" | "risicolocaties" | "kwetsbare-gebieden" => {
            &[(Adres, 2), (Kvk, 1)]
        }
        _ => &[(Kvk, 1)],
    }
}

/// How much a supplier of `sector` reports on `theme`: its own line of business most.
fn affinity(sector: &str, theme: &str) -> u64 {
    match (sector, theme) {
        ("horeca", "horeca")
        | ("vastgoed", "vastgoed")
        | ("autobranche", "autobranche")
        | ("kvo", "buitengebied" | "bedrijventerreinen") => 2,
        ("gemeente", _) => 2,
        _ => 1,
    }
}

fn weighted<'a, T>(rng: &mut Rng, items: &'a [(T, u64)]) -> &'a T {
    let total: u64 = items.iter().map(|(_, w)| w).sum();
    let mut x = rng.below(total.max(1));
    for (item, w) in items {
        if x < *w {
            return item;
        }
        x -= w;
    }
    &items[items.len() - 1].0
}

/// A supplier of the picture.
#[derive(Debug, Clone)]
struct Supplier {
    id: String,
    sector: String,
    /// A municipality's own gemeente: it reports only there.
    gemeente: Option<String>,
}

/// The partners that may supply under [`PURPOSE`] in `district`: of a source sector, party to
/// the purpose (controller or member of a coalition working under it), home in the district —
/// and the RIEC, which works in all of them.
fn suppliers(reg: &RegistryView, district: &str) -> Vec<Supplier> {
    let Some(purpose) = reg.purposes.iter().find(|p| p.id == PURPOSE) else {
        return Vec::new();
    };
    reg.partners
        .iter()
        .filter(|p| purpose.source_sectors.contains(&p.sector))
        .filter(|p| {
            purpose.controller == p.id
                || reg
                    .coalitions
                    .iter()
                    .any(|c| c.members.contains(&p.id) && c.purposes.iter().any(|x| x == PURPOSE))
        })
        .filter(|p| p.district.as_deref() == Some(district) || p.id == RIEC)
        .map(|p| Supplier {
            id: p.id.clone(),
            sector: p.sector.clone(),
            gemeente: p.gemeente.clone(),
        })
        .collect()
}

/// One subject of a cell: who it is and where it lives.
struct Subject {
    kind: IdentifierKind,
    raw: String,
    gemeente: String,
    wijk: Option<String>,
}

impl Dataset {
    /// The demo's ondermijningsbeeld signals, pseudonymised with `key`, observed up to two
    /// years before `today` (days since the Unix epoch). Hot cells get `max(250,
    /// vehicles / 40)` subjects (250 at the small scale, 2 500 at the full one). Deterministic
    /// per (seed, scale, key, today).
    ///
    /// ```
    /// use kruispunt_examples::synthetic::{Dataset, Scale};
    /// let d = Dataset::generate(3, Scale::SMALL);
    /// let key = kruispunt_sdk::CoalitionKey::new([7; 32], 1);
    /// let p = d.picture(&key, 20_000);
    /// assert_eq!(p.hot.len(), 10);
    /// assert!(p.hot.iter().all(|c| p.cells[c].subjects >= 250));
    /// ```
    pub fn picture(&self, key: &CoalitionKey, today: i64) -> Picture {
        let reg = &self.registry;
        let n = (self.vehicles.len() / 40).max(250);
        let history = reg
            .purposes
            .iter()
            .find(|p| p.id == PURPOSE)
            .map_or(HISTORY_DAYS, |p| {
                HISTORY_DAYS.min(i64::from(p.retention_days) - 2)
            })
            .max(1);
        let mut rng = Rng::new(self.seed ^ 0x6265_656c_6421); // "beeld!"
        let mut picture = Picture {
            subjects_per_hot_cell: n,
            uploads: BTreeMap::new(),
            cells: BTreeMap::new(),
            gemeente_subjects: BTreeMap::new(),
            wijk_subjects: BTreeMap::new(),
            hot: BTreeSet::new(),
        };
        let mut gemeente_sets: BTreeMap<(String, String), BTreeSet<(IdentifierKind, String)>> =
            BTreeMap::new();
        let mut wijk_sets: BTreeMap<String, BTreeSet<(IdentifierKind, String)>> = BTreeMap::new();
        let all_themes: Vec<&String> = reg.taxonomy.keys().collect();
        for district in &reg.districts {
            let suppliers = suppliers(reg, &district.id);
            // The district's gemeenten, each with a weight of 1–4 (some towns see more).
            let gemeenten: Vec<(String, u64)> = reg
                .gemeenten
                .iter()
                .filter(|g| g.district == district.id)
                .map(|g| (g.code.clone(), 1 + rng.below(4)))
                .collect();
            if suppliers.is_empty() || gemeenten.is_empty() {
                continue;
            }
            for theme in &all_themes {
                let hot = district.themes.contains(theme);
                let key_cell = (district.id.clone(), (*theme).clone());
                let count = if hot { n } else { rng.below(7) as usize };
                if hot {
                    picture.hot.insert(key_cell.clone());
                }
                let codes: Vec<&String> = reg.taxonomy[*theme].codes.keys().collect();
                let mut truth = CellTruth::default();
                let mut seen = BTreeSet::new();
                for _ in 0..count {
                    let subject = new_subject(&mut rng, theme, &gemeenten);
                    if !seen.insert((subject.kind, subject.raw.clone())) {
                        continue;
                    }
                    gemeente_sets
                        .entry((subject.gemeente.clone(), (*theme).clone()))
                        .or_default()
                        .insert((subject.kind, subject.raw.clone()));
                    if let Some(w) = &subject.wijk {
                        wijk_sets
                            .entry(w.clone())
                            .or_default()
                            .insert((subject.kind, subject.raw.clone()));
                    }
                    // Who reports it: a municipality only in its own gemeente.
                    let eligible: Vec<(&Supplier, u64)> = suppliers
                        .iter()
                        .filter(|s| s.gemeente.as_ref().is_none_or(|g| *g == subject.gemeente))
                        .map(|s| (s, affinity(&s.sector, theme)))
                        .collect();
                    let reporters = if hot && eligible.len() > 1 && rng.below(10) < 3 {
                        2
                    } else {
                        1
                    };
                    let mut chosen: Vec<&Supplier> = Vec::new();
                    while chosen.len() < reporters {
                        let s = *weighted(&mut rng, &eligible);
                        if !chosen.iter().any(|c| c.id == s.id) {
                            chosen.push(s);
                        }
                    }
                    let pseudonym = key
                        .pseudonymiser(subject.kind)
                        .pseudonymise(&subject.raw)
                        .expect("generated identifiers are valid")
                        .to_hex();
                    for s in chosen {
                        *truth.pairs.entry(s.id.clone()).or_default() += 1;
                        let signals = if hot { 1 + rng.below(3) } else { 1 };
                        for _ in 0..signals {
                            // Hot themes rise towards today: the later of two uniform days.
                            let back = if hot {
                                rng.below(history as u64).min(rng.below(history as u64))
                            } else {
                                rng.below(history as u64)
                            };
                            truth.signals += 1;
                            picture
                                .uploads
                                .entry(s.id.clone())
                                .or_default()
                                .push(SignalIn {
                                    kind: subject.kind.as_str().to_string(),
                                    pseudonym: pseudonym.clone(),
                                    key_version: key.version(),
                                    code: rng.pick(&codes).to_string(),
                                    observed: date(today - 1 - back as i64),
                                    district: district.id.clone(),
                                    gemeente: Some(subject.gemeente.clone()),
                                    wijk: subject.wijk.clone(),
                                    purposes: vec![PURPOSE.to_string()],
                                    expires: None,
                                });
                        }
                    }
                }
                truth.subjects = seen.len();
                picture.cells.insert(key_cell, truth);
            }
        }
        picture.gemeente_subjects = gemeente_sets
            .into_iter()
            .map(|(k, v)| (k, v.len()))
            .collect();
        picture.wijk_subjects = wijk_sets.into_iter().map(|(k, v)| (k, v.len())).collect();
        picture
    }
}

fn new_subject(rng: &mut Rng, theme: &str, gemeenten: &[(String, u64)]) -> Subject {
    let kind = *weighted(rng, kinds_of(theme));
    let raw = match kind {
        IdentifierKind::Kenteken => kenteken(rng),
        IdentifierKind::Adres => adres(rng),
        _ => kvk(rng),
    };
    let gemeente = weighted(rng, gemeenten).clone();
    let wijk = (gemeente == "GM0344" && WIJK_THEMES.contains(&theme) && rng.below(10) < 8)
        .then(|| weighted(rng, &UTRECHT_WIJKEN).to_string());
    Subject {
        kind,
        raw,
        gemeente,
        wijk,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synthetic::Scale;

    #[test]
    fn hot_cells_are_releasable_and_cold_ones_are_not() {
        let d = Dataset::generate(11, Scale::SMALL);
        let key = CoalitionKey::new([5; 32], 1);
        let today = 20_400;
        let p = d.picture(&key, today);
        let plan: BTreeSet<(String, String)> = d
            .registry
            .districts
            .iter()
            .flat_map(|x| x.themes.iter().map(|t| (x.id.clone(), t.clone())))
            .collect();
        assert_eq!(p.hot, plan, "the hot cells are the plan's");
        for (cell, truth) in &p.cells {
            if p.hot.contains(cell) {
                // k = 10 subjects from ≥ 3 suppliers, no one over 60 % of the pairs.
                assert!(truth.subjects >= 240, "{cell:?}: {truth:?}");
                assert!(truth.pairs.len() >= 3, "{cell:?}: {truth:?}");
                assert!(truth.top_share() <= 0.6, "{cell:?}: {truth:?}");
            } else {
                assert!(truth.subjects < 10, "{cell:?} is cold: {truth:?}");
            }
        }
        // Overvecht (synthetic) is thick enough for the stricter wijk threshold (k ≥ 50).
        assert!(p.wijk_subjects["WK034405"] >= 50, "{:?}", p.wijk_subjects);
        assert_eq!(p, d.picture(&key, today), "deterministic");
    }

    #[test]
    fn every_signal_is_one_the_broker_accepts() {
        let d = Dataset::generate(12, Scale::SMALL);
        let reg = &d.registry;
        let key = CoalitionKey::new([6; 32], 1);
        let today = 20_400;
        let p = d.picture(&key, today);
        let mut days = BTreeSet::new();
        for (org, signals) in &p.uploads {
            let partner = reg.partners.iter().find(|x| &x.id == org).unwrap();
            for s in signals {
                let g = s
                    .gemeente
                    .as_deref()
                    .expect("every picture signal has a gemeente");
                let gm = reg
                    .gemeenten
                    .iter()
                    .find(|x| x.code == g)
                    .expect("a registry gemeente");
                assert_eq!(gm.district, s.district, "{s:?}");
                if let Some(own) = &partner.gemeente {
                    assert_eq!(own, g, "a municipality reports in its own gemeente");
                }
                if let Some(w) = &s.wijk {
                    assert!(
                        w.len() == 8 && w.starts_with("WK") && w[2..6] == g[2..],
                        "{w} in {g}"
                    );
                }
                assert!(
                    reg.taxonomy.values().any(|t| t.codes.contains_key(&s.code)),
                    "{}",
                    s.code
                );
                let day = kruispunt_sdk::civil::parse_date(&s.observed).unwrap();
                assert!(day < today && day >= today - 730, "{}", s.observed);
                days.insert(day);
                assert_eq!(s.purposes, [PURPOSE]);
            }
        }
        // Spread over two years: both the first and the last quarter of the span are used.
        assert!(
            days.iter().any(|&x| x < today - 640),
            "oldest {:?}",
            days.first()
        );
        assert!(days.iter().any(|&x| x > today - 90));
        assert!(p.signal_count() > 10 * 250, "{}", p.signal_count());
    }
}
