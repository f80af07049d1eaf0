//! A deterministic, seeded synthetic Midden-Nederland: the five districts and their themes,
//! 23 municipalities, about 130 open cases, and pools of vehicles (valid kentekens), companies
//! (KvK numbers) and addresses (BAG-style postcode + number) — realistic volumes for the
//! examples, `kruispunt demo`, the end-to-end tests and the benchmarks.
//!
//! The same seed gives the same data on every machine: the generator is a SplitMix64 stream
//! written out here, not a library RNG whose algorithm may change between versions. Districts,
//! signal codes and purposes are read from the default registry
//! (`policy/registry/midden-nederland.toml`), so the data never names a code the broker would
//! refuse. None of it is real: plates, KvK numbers and addresses are drawn at random and only
//! checked for being well-formed.

use std::collections::{BTreeMap, HashSet};

use kruispunt_sdk::identifiers::{Adres, Kenteken, Kvk, SIDECODES};
use kruispunt_sdk::wire::SignalIn;
use kruispunt_sdk::{CoalitionKey, IdentifierKind};
use serde::Deserialize;

/// The default registry the broker embeds, read here for districts, codes and purposes.
pub const REGISTRY_TOML: &str = include_str!("../../policy/registry/midden-nederland.toml");

/// SplitMix64: tiny, fast, and fixed forever (unlike a library generator).
///
/// ```
/// let mut a = kruispunt_examples::synthetic::Rng::new(7);
/// let mut b = kruispunt_examples::synthetic::Rng::new(7);
/// assert_eq!(a.next_u64(), b.next_u64());
/// ```
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed`.
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        // Multiply-shift: unbiased enough for test data, and branch-free.
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// A uniformly chosen element.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// The first `RESERVED` vehicles, companies and addresses belong to the scenarios' stories;
/// cases and background signals draw from the rest, so that a story's "no hit" stays one.
pub const RESERVED: usize = 64;

/// How much data to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scale {
    /// Vehicles (kentekens).
    pub vehicles: usize,
    /// Companies (KvK numbers).
    pub companies: usize,
    /// Addresses.
    pub addresses: usize,
    /// Open cases.
    pub cases: usize,
}

impl Scale {
    /// The unit's scale: 100 k vehicles, 20 k companies, 5 k addresses, 130 open cases.
    pub const FULL: Scale = Scale {
        vehicles: 100_000,
        companies: 20_000,
        addresses: 5_000,
        cases: 130,
    };
    /// A small set for tests and quick demos (same shape, same 130 cases).
    pub const SMALL: Scale = Scale {
        vehicles: 2_000,
        companies: 500,
        addresses: 200,
        cases: 130,
    };
}

/// The 23 municipalities with a local ondermijning consultation, by district.
pub const MUNICIPALITIES: [(&str, &str); 23] = [
    ("Hilversum", "gooi-en-vechtstreek"),
    ("Gooise Meren", "gooi-en-vechtstreek"),
    ("Huizen", "gooi-en-vechtstreek"),
    ("Wijdemeren", "gooi-en-vechtstreek"),
    ("Laren", "gooi-en-vechtstreek"),
    ("Almere", "flevoland"),
    ("Lelystad", "flevoland"),
    ("Dronten", "flevoland"),
    ("Zeewolde", "flevoland"),
    ("Noordoostpolder", "flevoland"),
    ("Urk", "flevoland"),
    ("Amersfoort", "oost-utrecht"),
    ("Utrechtse Heuvelrug", "oost-utrecht"),
    ("Zeist", "oost-utrecht"),
    ("Veenendaal", "oost-utrecht"),
    ("Rhenen", "oost-utrecht"),
    ("Wijk bij Duurstede", "oost-utrecht"),
    ("Nieuwegein", "west-utrecht"),
    ("Houten", "west-utrecht"),
    ("IJsselstein", "west-utrecht"),
    ("Stichtse Vecht", "west-utrecht"),
    ("Woerden", "west-utrecht"),
    ("Utrecht", "utrecht-stad"),
];

/// The parts of the registry the generator uses.
#[derive(Debug, Clone, Deserialize)]
pub struct RegistryView {
    /// Districts with their themes.
    pub districts: Vec<DistrictView>,
    /// Theme → codes.
    pub taxonomy: BTreeMap<String, ThemeView>,
    /// Partners.
    pub partners: Vec<PartnerView>,
    /// Purposes.
    pub purposes: Vec<PurposeView>,
}

/// A district of the registry.
#[derive(Debug, Clone, Deserialize)]
pub struct DistrictView {
    /// Id, e.g. `oost-utrecht`.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Themes of the district's plan.
    pub themes: Vec<String>,
}

/// A theme of the taxonomy.
#[derive(Debug, Clone, Deserialize)]
pub struct ThemeView {
    /// Code → description.
    pub codes: BTreeMap<String, String>,
}

/// A partner of the registry.
#[derive(Debug, Clone, Deserialize)]
pub struct PartnerView {
    /// Partner id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Sector.
    pub sector: String,
    /// Home district.
    #[serde(default)]
    pub district: Option<String>,
}

/// A purpose of the registry.
#[derive(Debug, Clone, Deserialize)]
pub struct PurposeView {
    /// Purpose id.
    pub id: String,
    /// Themes whose codes it covers.
    pub themes: Vec<String>,
    /// Sectors that may supply signals.
    pub source_sectors: Vec<String>,
    /// Identifier kinds.
    pub identifier_kinds: Vec<String>,
}

impl RegistryView {
    /// The embedded default registry.
    pub fn embedded() -> Self {
        toml::from_str(REGISTRY_TOML).expect("the embedded registry parses")
    }

    /// The display name of a partner (its id if unknown).
    pub fn partner_name<'a>(&'a self, id: &'a str) -> &'a str {
        self.partners
            .iter()
            .find(|p| p.id == id)
            .map_or(id, |p| p.name.as_str())
    }

    /// The title of a signal code (the code itself if unknown).
    pub fn code_title<'a>(&'a self, code: &'a str) -> &'a str {
        self.taxonomy
            .values()
            .find_map(|t| t.codes.get(code))
            .map_or(code, String::as_str)
    }
}

/// An open case of the unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Case {
    /// Case reference, `MN-2026-0001` …
    pub reference: String,
    /// District id.
    pub district: String,
    /// Municipality (one of [`MUNICIPALITIES`]).
    pub municipality: String,
    /// Theme of the district's plan.
    pub theme: String,
    /// Plates of interest (canonical).
    pub vehicles: Vec<String>,
    /// KvK numbers of interest.
    pub companies: Vec<String>,
    /// Addresses of interest.
    pub addresses: Vec<String>,
}

/// A generated data set.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// Seed it was generated from.
    pub seed: u64,
    /// The registry it was generated against.
    pub registry: RegistryView,
    /// Kentekens, canonical (six characters).
    pub vehicles: Vec<String>,
    /// KvK numbers (eight digits).
    pub companies: Vec<String>,
    /// Addresses as people write them (`3511AX 12`).
    pub addresses: Vec<String>,
    /// Open cases.
    pub cases: Vec<Case>,
}

const PLATE_LETTERS: &[u8] = b"BDFGHJKLNPRSTVXZ";

fn kenteken(rng: &mut Rng) -> String {
    let pattern = SIDECODES[3 + rng.below(8) as usize];
    let s: String = pattern
        .bytes()
        .filter(|b| *b != b'-')
        .map(|b| {
            if b == b'X' {
                *rng.pick(PLATE_LETTERS) as char
            } else {
                (b'0' + rng.below(10) as u8) as char
            }
        })
        .collect();
    debug_assert!(Kenteken::parse(&s).is_ok(), "{s}");
    s
}

fn kvk(rng: &mut Rng) -> String {
    loop {
        let n = rng.below(100_000_000);
        if n >= 1_000_000 {
            let s = format!("{n:08}");
            debug_assert!(Kvk::parse(&s).is_ok());
            return s;
        }
    }
}

fn adres(rng: &mut Rng) -> String {
    loop {
        let digits = 1000 + rng.below(9000);
        let a = (b'A' + rng.below(26) as u8) as char;
        let b = (b'A' + rng.below(26) as u8) as char;
        let letters = format!("{a}{b}");
        if matches!(letters.as_str(), "SA" | "SD" | "SS") {
            continue;
        }
        let number = 1 + rng.below(250);
        let s = format!("{digits}{letters} {number}");
        debug_assert!(Adres::parse(&s).is_ok(), "{s}");
        return s;
    }
}

fn unique(rng: &mut Rng, n: usize, f: fn(&mut Rng) -> String) -> Vec<String> {
    let mut seen = HashSet::with_capacity(n);
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let v = f(rng);
        if seen.insert(v.clone()) {
            out.push(v);
        }
    }
    out
}

impl Dataset {
    /// Generates the data set for `seed` at `scale`; equal inputs give equal data.
    ///
    /// ```
    /// use kruispunt_examples::synthetic::{Dataset, Scale};
    /// let a = Dataset::generate(42, Scale::SMALL);
    /// assert_eq!(a.cases.len(), 130);
    /// assert_eq!(a.vehicles, Dataset::generate(42, Scale::SMALL).vehicles);
    /// ```
    pub fn generate(seed: u64, scale: Scale) -> Self {
        assert!(
            scale.vehicles > RESERVED && scale.companies > RESERVED && scale.addresses > RESERVED,
            "each pool needs more than {RESERVED} items"
        );
        let registry = RegistryView::embedded();
        let mut rng = Rng::new(seed);
        let vehicles = unique(&mut rng, scale.vehicles, kenteken);
        let companies = unique(&mut rng, scale.companies, kvk);
        let addresses = unique(&mut rng, scale.addresses, adres);
        let mut cases = Vec::with_capacity(scale.cases);
        for i in 0..scale.cases {
            let (municipality, district) = *rng.pick(&MUNICIPALITIES);
            let themes = &registry
                .districts
                .iter()
                .find(|d| d.id == district)
                .expect("municipality districts are registry districts")
                .themes;
            let theme = rng.pick(themes).clone();
            let nv = 1 + rng.below(4) as usize;
            let nc = rng.below(3) as usize;
            let na = rng.below(2) as usize;
            cases.push(Case {
                reference: format!("MN-2026-{:04}", i + 1),
                district: district.to_string(),
                municipality: municipality.to_string(),
                theme,
                vehicles: (0..nv)
                    .map(|_| rng.pick(&vehicles[RESERVED..]).clone())
                    .collect(),
                companies: (0..nc)
                    .map(|_| rng.pick(&companies[RESERVED..]).clone())
                    .collect(),
                addresses: (0..na)
                    .map(|_| rng.pick(&addresses[RESERVED..]).clone())
                    .collect(),
            });
        }
        Dataset {
            seed,
            registry,
            vehicles,
            companies,
            addresses,
            cases,
        }
    }

    /// Background signals a partner of `sector` would report: `count` signals on identifiers
    /// from the pools, with codes of the purpose's themes, pseudonymised with `key`, observed
    /// within the last 200 days of `today` (days since the Unix epoch). Deterministic per
    /// (seed, partner, count, today).
    ///
    /// ```
    /// use kruispunt_examples::synthetic::{Dataset, Scale};
    /// let d = Dataset::generate(1, Scale::SMALL);
    /// let key = kruispunt_sdk::CoalitionKey::new([7; 32], 1);
    /// let s = d.background_signals(&key, "autohandel-amersfoort", "autobranche-contante-aankopen", 10, 20_000);
    /// assert_eq!(s.len(), 10);
    /// assert!(s.iter().all(|s| s.kind == "kenteken" || s.kind == "kvk"));
    /// ```
    pub fn background_signals(
        &self,
        key: &CoalitionKey,
        partner: &str,
        purpose: &str,
        count: usize,
        today: i64,
    ) -> Vec<SignalIn> {
        let p = self
            .registry
            .purposes
            .iter()
            .find(|p| p.id == purpose)
            .expect("a registered purpose");
        let codes: Vec<&String> = p
            .themes
            .iter()
            .filter_map(|t| self.registry.taxonomy.get(t))
            .flat_map(|t| t.codes.keys())
            .collect();
        let home = self
            .registry
            .partners
            .iter()
            .find(|x| x.id == partner)
            .and_then(|x| x.district.clone())
            .unwrap_or_else(|| "utrecht-stad".into());
        let mut kinds = Vec::new();
        for (kind, pool) in [
            (IdentifierKind::Kenteken, &self.vehicles),
            (IdentifierKind::Kvk, &self.companies),
            (IdentifierKind::Adres, &self.addresses),
        ] {
            if p.identifier_kinds.iter().any(|k| k == kind.as_str()) && pool.len() > RESERVED {
                kinds.push((key.pseudonymiser(kind), &pool[RESERVED..]));
            }
        }
        let mut seed = self.seed ^ (count as u64).rotate_left(17);
        for b in partner.bytes() {
            seed = seed.rotate_left(5) ^ u64::from(b);
        }
        let mut rng = Rng::new(seed);
        (0..count)
            .map(|_| {
                let (ps, pool) = rng.pick(&kinds);
                let raw = rng.pick(pool);
                let pseudonym = ps
                    .pseudonymise(raw)
                    .expect("generated identifiers are valid");
                SignalIn {
                    kind: ps.kind().as_str().to_string(),
                    pseudonym: pseudonym.to_hex(),
                    key_version: key.version(),
                    code: rng.pick(&codes).to_string(),
                    observed: date(today - 1 - rng.below(200) as i64),
                    district: home.clone(),
                    gemeente: None,
                    wijk: None,
                    purposes: vec![purpose.to_string()],
                    expires: None,
                }
            })
            .collect()
    }
}

/// `YYYY-MM-DD` of a day number (days since 1970-01-01), proleptic Gregorian.
///
/// ```
/// assert_eq!(kruispunt_examples::synthetic::date(0), "1970-01-01");
/// assert_eq!(kruispunt_examples::synthetic::date(20_000), "2024-10-04");
/// ```
pub fn date(days: i64) -> String {
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Today as days since the Unix epoch (UTC).
pub fn today() -> i64 {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    secs.div_euclid(86_400)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_scale_is_valid_and_deterministic() {
        let d = Dataset::generate(2026, Scale::FULL);
        assert_eq!(d.vehicles.len(), 100_000);
        assert_eq!(d.companies.len(), 20_000);
        assert_eq!(d.addresses.len(), 5_000);
        assert_eq!(d.cases.len(), 130);
        assert!(d.vehicles.iter().all(|v| Kenteken::parse(v).is_ok()));
        assert!(d.companies.iter().all(|v| Kvk::parse(v).is_ok()));
        assert!(d.addresses.iter().all(|v| Adres::parse(v).is_ok()));
        let districts: HashSet<&str> = d.cases.iter().map(|c| c.district.as_str()).collect();
        assert_eq!(districts.len(), 5, "cases spread over all five districts");
        let again = Dataset::generate(2026, Scale::FULL);
        assert_eq!(d.cases, again.cases);
        assert_ne!(d.vehicles, Dataset::generate(2027, Scale::FULL).vehicles);
        let municipalities: HashSet<&str> = MUNICIPALITIES.iter().map(|m| m.0).collect();
        assert_eq!(municipalities.len(), 23);
    }

    #[test]
    fn background_signals_use_registry_codes() {
        let d = Dataset::generate(5, Scale::SMALL);
        let key = CoalitionKey::new([1; 32], 1);
        let s = d.background_signals(
            &key,
            "kvo-buitengebied-oost-utrecht",
            "kvo-buitengebied-signalering",
            200,
            20_000,
        );
        let codes: HashSet<&String> = d.registry.taxonomy["buitengebied"]
            .codes
            .keys()
            .chain(d.registry.taxonomy["bedrijventerreinen"].codes.keys())
            .collect();
        assert!(s.iter().all(|x| codes.contains(&x.code)));
        assert!(s.iter().all(|x| x.district == "oost-utrecht"));
        assert_eq!(
            s,
            d.background_signals(
                &key,
                "kvo-buitengebied-oost-utrecht",
                "kvo-buitengebied-signalering",
                200,
                20_000
            )
        );
    }
}
