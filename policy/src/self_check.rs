//! Inputs for differential checks of the fast path against the interpreter.
//!
//! Why: the bytecode VM and the request-facts cache ([`crate::vm`]) are only trusted after they
//! decided exactly like the interpreter on a spread of inputs. The engine checks every freshly
//! built bundle on [`self_check_inputs`]; the differential tests, the facts-cache tests and the
//! `decide_loop` example draw many more from [`generated_inputs`] and [`volatile_variants`].
//! Deterministic (a seeded xorshift), so a failure replays.

use kruispunt_sdk::wire::Level;

use crate::input::{Action, CaseFacts, ConsentFacts, PolicyInput, Requester, TokenScope, Usage};
use crate::registry::Registry;

/// Inputs on which a freshly built VM program must give exactly the interpreter's answer
/// before it is used: the schema examples and variations of them that reach every rule of the
/// default bundle (the differential tests of `crate::engine` check many more), each also with the
/// clock, usage counters, request size and oldest signal changed, so that the request-facts
/// cache is checked on hits as well as misses.
pub(crate) fn self_check_inputs(registry: &Registry) -> Vec<PolicyInput> {
    let mut out: Vec<PolicyInput> = EXAMPLE_INPUTS
        .iter()
        .filter_map(|text| serde_json::from_str::<PolicyInput>(text).ok())
        .collect();
    out.extend(generated_inputs(
        registry,
        SELF_CHECK_GENERATED,
        0x6b72_7569_7370_756e,
    ));
    let variants: Vec<PolicyInput> = out
        .iter()
        .enumerate()
        .flat_map(|(n, i)| volatile_variants(i, n as u64))
        .collect();
    out.extend(variants);
    out
}

/// Copies of `input` that differ only in the fields the request facts must not depend on
/// (clock, usage counters, request size, oldest signal, user), near and across the limits of
/// the default registry.
#[doc(hidden)]
pub fn volatile_variants(input: &PolicyInput, seed: u64) -> Vec<PolicyInput> {
    let mut out = Vec::new();
    for (k, (dt, count, today, minute, queries)) in [
        (0i64, 1u64, 0u64, 0u64, 0u64),
        (3_600, 10, 990, 59, 100),
        (86_400 * 400, 11, 5_000, 60, 200),
        (-86_400 * 30, 0, 3, 1, 25),
    ]
    .into_iter()
    .enumerate()
    {
        let mut v = input.clone();
        v.now = input.now.saturating_add(dt);
        v.identifier_count = count + (seed + k as u64) % 7;
        v.usage.identifiers_today = today;
        v.usage.requests_last_minute = minute;
        v.usage.queries_today = queries;
        v.usage.no_hits_today = queries.saturating_sub((seed + k as u64) % 5);
        v.oldest_signal_at = match k % 3 {
            0 => None,
            1 => Some(v.now - 86_400 * 30),
            _ => Some(v.now - 86_400 * 800),
        };
        v.requester.user = format!("gebruiker-{k}");
        out.push(v);
    }
    out
}

/// The example inputs shipped in `policy/schema/examples/`.
const EXAMPLE_INPUTS: &[&str] = &[
    include_str!("../schema/examples/input-audit-read.json"),
    include_str!("../schema/examples/input-autobranche-bsn.json"),
    include_str!("../schema/examples/input-kvo-upload.json"),
    include_str!("../schema/examples/input-police-match.json"),
];

/// Every `input-*.json` in `policy/schema/examples/` as the tests find it on disk (so that a
/// new example is tested even before it is added to [`EXAMPLE_INPUTS`]); at least four.
#[cfg(test)]
pub(crate) fn example_inputs_on_disk() -> Vec<PolicyInput> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schema/examples");
    let mut inputs: Vec<PolicyInput> = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        if name.starts_with("input-") && name.ends_with(".json") {
            let text = std::fs::read_to_string(&path).unwrap();
            inputs.push(serde_json::from_str(&text).unwrap());
        }
    }
    assert!(inputs.len() >= 4);
    inputs
}

/// Generated inputs checked at every build of the prepared state.
const SELF_CHECK_GENERATED: usize = 96;

/// Deterministic policy inputs for differential checks: names from `registry` (and unknown
/// ones), every action, with and without coalition, consent, scope, justification, usage
/// near the guard thresholds, and so on. Same `seed`, same inputs.
#[doc(hidden)]
pub fn generated_inputs(registry: &Registry, n: usize, seed: u64) -> Vec<PolicyInput> {
    let data = registry.to_data();
    let keys = |section: &str| -> Vec<String> {
        data["registry"][section]
            .as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    };
    let mut partners = keys("partners");
    partners.push("onbekende-partij".into());
    let mut purposes = keys("purposes");
    purposes.push("onbekend-doel".into());
    purposes.push(String::new());
    let mut coalitions = keys("coalitions");
    coalitions.push("onbekende-coalitie".into());
    let mut decisions = keys("partnership_decisions");
    decisions.push("OvJ-MN-2025-117".into());
    decisions.push("onbekend-besluit".into());
    let mut codes: Vec<String> = Vec::new();
    if let Some(themes) = data["registry"]["taxonomy"].as_object() {
        for t in themes.values() {
            if let Some(c) = t["codes"].as_object() {
                codes.extend(c.keys().cloned());
            }
        }
    }
    codes.push("onbekende-code".into());
    let mut sectors: Vec<String> = data["registry"]["partners"]
        .as_object()
        .map(|m| {
            m.values()
                .filter_map(|p| p["sector"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    sectors.extend(["politie", "om", "riec", "kvo", "gemeente", "onbekend"].map(String::from));
    sectors.sort();
    sectors.dedup();
    let kinds: Vec<String> = [
        "kenteken", "adres", "kvk", "persoon", "bsn", "telefoon", "iban", "onbekend",
    ]
    .map(String::from)
    .to_vec();
    let bases = ["wpg-art-19", "wpg-art-20", "avg-6-1-e", "onbekend"];
    let roles = [
        "rechercheur",
        "signaleerder",
        "compliance",
        "bibob-adviseur",
        "privacy-officer",
        "coalitiebeheerder",
        "analist",
    ];
    let actions = [
        Action::Match,
        Action::Upload,
        Action::Withdraw,
        Action::AuditRead,
        Action::CoalitionAdd,
        Action::CaseChannel,
        Action::Feedback,
    ];
    let levels = [Level::None, Level::Hit, Level::Categories, Level::Details];

    // xorshift64*: small, deterministic, no dependency.
    let mut state = seed | 1;
    let mut next = move || {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        state.wrapping_mul(0x2545_f491_4f6c_dd1d)
    };
    fn pick<'a, T>(next: &mut impl FnMut() -> u64, items: &'a [T]) -> &'a T {
        &items[(next() % items.len() as u64) as usize]
    }
    fn chance(next: &mut impl FnMut() -> u64, percent: u64) -> bool {
        next() % 100 < percent
    }
    fn subset(next: &mut impl FnMut() -> u64, items: &[String], max: usize) -> Vec<String> {
        let n = (next() % (max as u64 + 1)) as usize;
        let mut v: Vec<String> = (0..n).map(|_| pick(next, items).clone()).collect();
        v.sort();
        v.dedup();
        v
    }

    let now: i64 = 1_750_000_000;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let org = pick(&mut next, &partners).clone();
        let registered = &data["registry"]["partners"][&org];
        let sector = match registered["sector"].as_str() {
            Some(s) if chance(&mut next, 85) => s.to_string(),
            _ => pick(&mut next, &sectors).clone(),
        };
        let public = match registered["public"].as_bool() {
            Some(p) if chance(&mut next, 85) => p,
            _ => chance(&mut next, 50),
        };
        let requester = Requester {
            org: org.clone(),
            sector,
            public,
            roles: subset(&mut next, &roles.map(String::from), 2),
            user: "gegenereerd".into(),
        };
        let action = *pick(&mut next, &actions);
        let purpose = pick(&mut next, &purposes).clone();
        let mut i = PolicyInput::new(action, requester, purpose.clone(), now);
        i.coalition = chance(&mut next, 60).then(|| pick(&mut next, &coalitions).clone());
        i.legal_basis = chance(&mut next, 60).then(|| pick(&mut next, &bases).to_string());
        i.case_reference = chance(&mut next, 60)
            .then(|| pick(&mut next, &["PL0900-2025-0042", "PL0900-2025-0099", " "]).to_string());
        i.consent_id = chance(&mut next, 60).then(|| pick(&mut next, &decisions).clone());
        i.justification = chance(&mut next, 50).then(|| {
            pick(
                &mut next,
                &[
                    "kort",
                    "Verdachte huurt drie schuren; nodig om de verhuurders te bepalen.",
                ],
            )
            .to_string()
        });
        i.identifier_kinds = subset(&mut next, &kinds, 3);
        i.identifier_count = next() % 120;
        i.requested_level = *pick(&mut next, &levels);
        if chance(&mut next, 55) {
            i.token_scope = Some(TokenScope {
                purpose: if chance(&mut next, 80) {
                    purpose.clone()
                } else {
                    pick(&mut next, &purposes).clone()
                },
                case_reference: if chance(&mut next, 80) {
                    i.case_reference.clone()
                } else {
                    Some("PL0900-2025-0001".into())
                },
                legal_basis: if chance(&mut next, 80) {
                    i.legal_basis.clone()
                } else {
                    None
                },
                consent_id: if chance(&mut next, 80) {
                    i.consent_id.clone()
                } else {
                    Some("ander-besluit".into())
                },
                kinds: subset(&mut next, &kinds, 4),
                sectors: subset(&mut next, &sectors, 4),
                max_identifiers: Some(next() % 60),
                not_after: Some(now + (next() % 7200) as i64 - 1800),
            });
        }
        let queries = next() % 200;
        i.usage = Usage {
            identifiers_today: next() % 3000,
            requests_last_minute: next() % 90,
            no_hits_today: if queries == 0 {
                0
            } else {
                next() % (queries + 1)
            },
            queries_today: queries,
        };
        i.target_org = chance(&mut next, 40).then(|| pick(&mut next, &partners).clone());
        if chance(&mut next, 40) {
            i.signal_codes = subset(&mut next, &codes, 3);
        }
        if chance(&mut next, 40) {
            i.oldest_signal_at = Some(now - (next() % (3 * 365 * 86_400)) as i64);
        }
        // The case and consent the broker read (docs/CASES.md): mostly the ones named, in
        // every state, sometimes another's, with the requester a participant or not.
        if chance(&mut next, 60)
            && let Some(reference) = i.case_reference.clone()
        {
            let reference = if chance(&mut next, 85) {
                reference
            } else {
                "PL0900-2025-0001".into()
            };
            let mut participants = subset(&mut next, &partners, 3);
            if chance(&mut next, 70) {
                participants.push(org.clone());
            }
            i.case = Some(CaseFacts {
                reference,
                state: pick(&mut next, &["open", "intervention", "closed"]).to_string(),
                participants,
            });
        }
        if chance(&mut next, 60)
            && let Some(id) = i.consent_id.clone()
        {
            let id = if chance(&mut next, 85) {
                id
            } else {
                "ander-besluit".into()
            };
            i.consent = Some(ConsentFacts {
                id,
                case_reference: if chance(&mut next, 85) {
                    i.case_reference.clone().unwrap_or_default()
                } else {
                    "PL0900-2025-0001".into()
                },
                purpose: if chance(&mut next, 85) {
                    purpose.clone()
                } else {
                    pick(&mut next, &purposes).clone()
                },
                kinds: subset(&mut next, &kinds, 5),
                max_identifiers: next() % 80,
                ceiling: *pick(&mut next, &levels),
                valid_until: now + (next() % 7200) as i64 - 1800,
                issuer_org: if chance(&mut next, 80) {
                    "om-midden-nederland".into()
                } else {
                    pick(&mut next, &partners).clone()
                },
                withdrawn: chance(&mut next, 20),
            });
        }
        out.push(i);
    }
    out
}
