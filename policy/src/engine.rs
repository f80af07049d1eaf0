//! The policy engine: evaluates `data.kruispunt.decision` once per request.
//!
//! Hot path: the prepared state (parsed bundle + registry data) sits behind an [`ArcSwap`];
//! `decide` takes a lock-free snapshot and evaluates on regorus' bytecode VM (`rvm`), taking a
//! VM from a small pool (a mutex held only to pop/push). The VM program is compiled once per
//! bundle and used only if it gives exactly the interpreter's decision on every self-check
//! input; otherwise, and whenever the VM fails on a request, the prepared interpreter is cloned
//! (cheap: the parsed modules and data are shared `Arc`s) and decides, as before. The
//! interpreter stays the reference: the Rego tests run on it.
//! `reload` builds and tests the new state completely before one atomic pointer swap, so a
//! request is always decided by exactly one bundle, whose hash it records.
//!
//! The VM, its pool and the request-facts path live in `vm.rs`; the inputs of the self-check
//! in `self_check.rs`.

use std::sync::Arc;

use arc_swap::ArcSwap;
use regorus::Value;

use crate::bundle::Bundle;
use crate::decision::Decision;
use crate::error::PolicyError;
use crate::input::PolicyInput;
use crate::registry::Registry;
use crate::rego_tests::try_run_tests;
use crate::rego_value::{decision_from_value, input_value};
use crate::self_check::self_check_inputs;
use crate::vm::{FactsPath, FastPath, VmEntry};

/// The rule every bundle must define.
pub const ENTRY_POINT: &str = "data.kruispunt.decision";

/// Build a regorus engine holding the bundle's modules (tests only if asked) and the
/// registry as `data`.
pub(crate) fn build_engine(
    bundle: &Bundle,
    registry: &Registry,
    with_tests: bool,
) -> Result<regorus::Engine, PolicyError> {
    let mut engine = regorus::Engine::new();
    // Reject a rule's runtime error (e.g. a type error in a built-in) instead of treating it
    // as undefined: a policy bug must surface, not silently drop a deny rule.
    engine.set_strict_builtin_errors(true);
    for f in bundle.files() {
        if f.is_test() && !with_tests {
            continue;
        }
        engine
            .add_policy(f.name.clone(), f.text.clone())
            .map_err(|e| PolicyError::from_regorus(e, &f.name))?;
    }
    let data = Value::from(registry.to_data());
    engine
        .add_data(data)
        .map_err(|e| PolicyError::Bundle(format!("registry data: {e}")))?;
    Ok(engine)
}

/// Everything a decision needs, prepared once per bundle/registry.
struct Prepared {
    /// The tree-walking interpreter: the reference semantics (the Rego tests run on it) and
    /// the fallback whenever the fast path is unavailable or fails.
    engine: regorus::Engine,
    /// The bytecode VM, used only when it agreed with the interpreter on every self-check input
    /// (see [`Prepared::build`]).
    fast: Option<FastPath>,
    bundle: Arc<Bundle>,
    registry: Arc<Registry>,
    bundle_hash: String,
    registry_hash: String,
}

impl Prepared {
    fn build(bundle: Bundle, registry: Registry) -> Result<Prepared, PolicyError> {
        registry.validate()?;
        let mut engine = build_engine(&bundle, &registry, false)?;
        // Evaluating once forces regorus to finish preparing (analysis, scheduling) now, and
        // proves the entry point exists, before the state is shared.
        engine.set_input(Value::new_object());
        engine
            .eval_rule(ENTRY_POINT.to_string())
            .map_err(|e| PolicyError::Bundle(format!("entry point {ENTRY_POINT}: {e}")))?;
        let mut prepared = Prepared {
            engine,
            fast: None,
            bundle_hash: bundle.hash(),
            registry_hash: registry.hash(),
            bundle: Arc::new(bundle),
            registry: Arc::new(registry),
        };
        // The VM is an optimisation, never a different policy: it is used only if it compiles
        // this bundle and agrees with the interpreter on every self-check input. Otherwise
        // every decision is made by the interpreter, as before. The same holds, separately,
        // for the request-facts cache.
        let data = Value::from(prepared.registry.to_data());
        if let Ok(decision) = VmEntry::compile(&prepared.engine, data.clone(), ENTRY_POINT) {
            let inputs = self_check_inputs(&prepared.registry);
            let expected: Vec<Option<Value>> = inputs
                .iter()
                .map(|i| prepared.eval_interpreted(&input_value(i)).ok())
                .collect();
            let agrees = inputs
                .iter()
                .zip(&expected)
                .all(|(i, e)| *e == decision.eval(input_value(i)));
            if agrees {
                let facts = FactsPath::compile(&prepared.engine, data).filter(|f| {
                    inputs
                        .iter()
                        .zip(&expected)
                        .all(|(i, e)| f.eval(i).is_none_or(|got| Some(got) == *e))
                });
                prepared.fast = Some(FastPath { decision, facts });
            }
        }
        Ok(prepared)
    }

    fn eval_interpreted(&self, input: &Value) -> Result<Value, PolicyError> {
        let mut engine = self.engine.clone();
        engine.set_input(input.clone());
        engine
            .eval_rule(ENTRY_POINT.to_string())
            .map_err(|e| PolicyError::Eval(e.to_string()))
    }

    fn decide(&self, input: &PolicyInput, interpreted_only: bool) -> Result<Decision, PolicyError> {
        let fast = match &self.fast {
            Some(fast) if !interpreted_only => fast.eval(input),
            _ => None,
        };
        let out = match fast {
            Some(out) => out,
            None => self.eval_interpreted(&input_value(input))?,
        };
        if out == Value::Undefined {
            return Err(PolicyError::Undefined);
        }
        let mut decision = match decision_from_value(&out) {
            Some(d) => d,
            None => serde_json::from_value(serde_json::to_value(&out)?)
                .map_err(|e| PolicyError::DecisionShape(e.to_string()))?,
        };
        decision.bundle_hash.clone_from(&self.bundle_hash);
        decision.registry_hash.clone_from(&self.registry_hash);
        Ok(decision)
    }
}

/// The thread-safe policy engine. Share it (`Arc<PolicyEngine>` or `&PolicyEngine`) between
/// request handlers.
pub struct PolicyEngine {
    state: ArcSwap<Prepared>,
}

impl std::fmt::Debug for PolicyEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.state.load();
        f.debug_struct("PolicyEngine")
            .field("bundle", &s.bundle.origin())
            .field("bundle_hash", &s.bundle_hash)
            .field("registry", &s.registry.source_name())
            .finish()
    }
}

impl PolicyEngine {
    /// Prepare `bundle` with `registry`. Refuses an invalid registry, a bundle that does not
    /// parse (with file and line), a bundle without the entry point, and a bundle whose own
    /// Rego tests fail.
    pub fn new(bundle: Bundle, registry: Registry) -> Result<PolicyEngine, PolicyError> {
        let prepared = Self::checked(bundle, registry)?;
        Ok(PolicyEngine {
            state: ArcSwap::from_pointee(prepared),
        })
    }

    /// The embedded bundle with the embedded Midden-Nederland registry. Its Rego tests are run
    /// by `cargo test`, so they are not run again at every start.
    pub fn default_embedded() -> Result<PolicyEngine, PolicyError> {
        let prepared = Prepared::build(Bundle::embedded(), Registry::embedded())?;
        Ok(PolicyEngine {
            state: ArcSwap::from_pointee(prepared),
        })
    }

    /// The embedded bundle with another registry (validated; the Rego tests use their own
    /// fixtures, so they are not rerun).
    pub fn embedded_with_registry(registry: Registry) -> Result<PolicyEngine, PolicyError> {
        let prepared = Prepared::build(Bundle::embedded(), registry)?;
        Ok(PolicyEngine {
            state: ArcSwap::from_pointee(prepared),
        })
    }

    fn checked(bundle: Bundle, registry: Registry) -> Result<Prepared, PolicyError> {
        let prepared = Prepared::build(bundle, registry)?;
        let outcomes = try_run_tests(&prepared.bundle, &prepared.registry)?;
        if outcomes.is_empty() {
            return Err(PolicyError::Bundle(format!(
                "{}: no Rego tests (test_* rules in *_test.rego); a bundle must test itself",
                prepared.bundle.origin()
            )));
        }
        let failed: Vec<String> = outcomes
            .into_iter()
            .filter(|o| !o.passed)
            .map(|o| o.name)
            .collect();
        if !failed.is_empty() {
            return Err(PolicyError::TestsFailed(failed));
        }
        Ok(prepared)
    }

    /// Decide one request. Lock-free; safe from any number of threads.
    ///
    /// An `Err` means no decision could be made: the broker must refuse the request (fail
    /// closed) and audit the refusal.
    pub fn decide(&self, input: &PolicyInput) -> Result<Decision, PolicyError> {
        self.state.load().decide(input, false)
    }

    /// Decide with the regorus interpreter only, bypassing the bytecode VM. Same decisions
    /// as [`PolicyEngine::decide`]; for differential tests and benchmarks.
    #[doc(hidden)]
    pub fn decide_interpreted(&self, input: &PolicyInput) -> Result<Decision, PolicyError> {
        self.state.load().decide(input, true)
    }

    /// Whether decisions are made by the bytecode VM (it compiled the bundle and agreed with
    /// the interpreter on the self-check inputs) rather than by the interpreter alone.
    pub fn uses_vm(&self) -> bool {
        self.state.load().fast.is_some()
    }

    /// Whether cache hits of the request facts are decided by
    /// `data.kruispunt.decision_given_facts` (the bundle defines it and it passed the
    /// self-check). For benchmarks and tests.
    #[doc(hidden)]
    pub fn uses_request_facts(&self) -> bool {
        self.state
            .load()
            .fast
            .as_ref()
            .is_some_and(|f| f.facts.is_some())
    }

    /// Hex SHA-256 of the bundle in force.
    pub fn bundle_hash(&self) -> String {
        self.state.load().bundle_hash.clone()
    }

    /// Hex SHA-256 of the registry in force.
    pub fn registry_hash(&self) -> String {
        self.state.load().registry_hash.clone()
    }

    /// The registry in force (a snapshot; a later reload does not change it).
    pub fn registry(&self) -> Arc<Registry> {
        self.state.load().registry.clone()
    }

    /// The bundle in force (a snapshot).
    pub fn bundle(&self) -> Arc<Bundle> {
        self.state.load().bundle.clone()
    }

    /// Replace bundle and registry atomically, but only after the new bundle parses, the
    /// registry validates and the bundle's own Rego tests pass. On error the old state stays
    /// in force and the error names the file and line (or the failing tests).
    pub fn reload(&self, bundle: Bundle, registry: Registry) -> Result<(), PolicyError> {
        let prepared = Self::checked(bundle, registry)?;
        self.state.store(Arc::new(prepared));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::input::{Action, CaseFacts, ConsentFacts, Requester, TokenScope};
    use crate::self_check::{example_inputs_on_disk, generated_inputs, volatile_variants};
    use kruispunt_sdk::wire::Level;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn engine_is_send_and_sync() {
        assert_send_sync::<PolicyEngine>();
    }

    const NOW: i64 = 1_750_000_000;

    fn requester(org: &str, sector: &str, public: bool, roles: &[&str]) -> Requester {
        Requester {
            org: org.into(),
            sector: sector.into(),
            public,
            roles: roles.iter().map(|r| r.to_string()).collect(),
            user: "tester".into(),
        }
    }

    fn police_match() -> PolicyInput {
        let mut i = PolicyInput::new(
            Action::Match,
            requester(
                "politie-midden-nederland",
                "politie",
                true,
                &["rechercheur"],
            ),
            "politie-opsporing-wpg19",
            NOW,
        );
        i.legal_basis = Some("wpg-art-19".into());
        i.case_reference = Some("PL0900-2025-0042".into());
        i.consent_id = Some("OvJ-MN-2025-117".into());
        i.identifier_kinds = vec!["kenteken".into()];
        i.identifier_count = 3;
        i.requested_level = Level::Hit;
        i.token_scope = Some(TokenScope {
            purpose: "politie-opsporing-wpg19".into(),
            case_reference: Some("PL0900-2025-0042".into()),
            legal_basis: Some("wpg-art-19".into()),
            consent_id: Some("OvJ-MN-2025-117".into()),
            kinds: vec!["kenteken".into()],
            sectors: vec!["kvo".into(), "autobranche".into()],
            max_identifiers: Some(10),
            not_after: Some(NOW + 3600),
        });
        // The registered case and the OM's consent the broker read for it (docs/CASES.md).
        i.case = Some(CaseFacts {
            reference: "PL0900-2025-0042".into(),
            state: "open".into(),
            participants: vec!["politie-midden-nederland".into()],
        });
        i.consent = Some(ConsentFacts {
            id: "OvJ-MN-2025-117".into(),
            case_reference: "PL0900-2025-0042".into(),
            purpose: "politie-opsporing-wpg19".into(),
            kinds: vec!["kenteken".into(), "kvk".into()],
            max_identifiers: 10,
            ceiling: Level::Details,
            valid_until: NOW + 86_400,
            issuer_org: "om-midden-nederland".into(),
            withdrawn: false,
        });
        i
    }

    #[test]
    fn default_registry_police_match_is_allowed_with_obligations() {
        let engine = PolicyEngine::default_embedded().unwrap();
        let d = engine.decide(&police_match()).unwrap();
        assert!(d.allow, "{:?}", d.reasons);
        assert_eq!(d.obligations.disclosure_level, Level::Hit);
        assert_eq!(d.obligations.revealable_sectors, vec!["autobranche", "kvo"]);
        assert_eq!(d.obligations.max_identifiers, 10);
        assert_eq!(d.obligations.embargo_until, Some(NOW + 30 * 86400));
        assert_eq!(d.bundle_hash, Bundle::embedded().hash());
        assert_eq!(d.registry_hash, Registry::embedded().hash());
    }

    #[test]
    fn default_registry_scenarios() {
        let engine = PolicyEngine::default_embedded().unwrap();
        // A KVO farmer asks whether an address is known: hit only, private-safe sectors.
        let mut kvo = PolicyInput::new(
            Action::Match,
            requester(
                "kvo-buitengebied-oost-utrecht",
                "kvo",
                false,
                &["signaleerder"],
            ),
            "kvo-buitengebied-signalering",
            NOW,
        );
        kvo.coalition = Some("kvo-buitengebied-oost-utrecht".into());
        kvo.identifier_kinds = vec!["adres".into()];
        kvo.identifier_count = 1;
        kvo.requested_level = Level::Hit;
        let d = engine.decide(&kvo).unwrap();
        assert!(d.allow, "{:?}", d.reasons);
        assert_eq!(d.obligations.revealable_sectors, vec!["gemeente", "kvo"]);
        // The same farmer asking on a phone number: person-level, no AP permit.
        kvo.identifier_kinds = vec!["telefoon".into()];
        let d = engine.decide(&kvo).unwrap();
        assert!(
            d.has_reason("private_person_warning_without_permit"),
            "{d:?}"
        );
        // A car dealer querying under the police purpose.
        let mut dealer = police_match();
        dealer.requester = requester(
            "autobedrijf-de-vecht",
            "autobranche",
            false,
            &["compliance"],
        );
        let d = engine.decide(&dealer).unwrap();
        assert!(!d.allow);
        assert!(d.has_reason("private_recipient_police_data"), "{d:?}");
        assert_eq!(d.obligations.max_identifiers, 0);
        // Horeca asking for Bibob-derived data.
        let mut horeca = PolicyInput::new(
            Action::Match,
            requester("horeca-gooi", "horeca", false, &["bibob-adviseur"]),
            "horeca-bibob-screening",
            NOW,
        );
        horeca.identifier_kinds = vec!["kvk".into()];
        horeca.identifier_count = 1;
        horeca.requested_level = Level::Hit;
        let d = engine.decide(&horeca).unwrap();
        assert!(d.has_reason("private_recipient_bibob_data"), "{d:?}");
        // Police without a case reference.
        let mut p = police_match();
        p.case_reference = None;
        let d = engine.decide(&p).unwrap();
        assert!(d.has_reason("case_reference_missing"), "{d:?}");
    }

    /// The embedded registry lets private partners supply police and Bibob purposes (without
    /// letting them ask), and a police scope without sectors reveals what the purpose allows.
    #[test]
    fn default_registry_suppliers_and_scope_sectors() {
        let engine = PolicyEngine::default_embedded().unwrap();
        let upload =
            |org: &str, sector: &str, role: &str, purpose: &str, kind: &str, code: &str| {
                let mut i = PolicyInput::new(
                    Action::Upload,
                    requester(org, sector, false, &[role]),
                    purpose,
                    NOW,
                );
                i.identifier_kinds = vec![kind.into()];
                i.identifier_count = 1;
                i.signal_codes = vec![code.into()];
                engine.decide(&i).unwrap()
            };
        let d = upload(
            "autobedrijf-de-vecht",
            "autobranche",
            "compliance",
            "politie-opsporing-wpg19",
            "kenteken",
            "cash-car-purchase",
        );
        assert!(d.allow, "{d:?}");
        let d = upload(
            "kvo-buitengebied-oost-utrecht",
            "kvo",
            "signaleerder",
            "politie-opsporing-wpg19",
            "adres",
            "barn-rental-unsolicited",
        );
        assert!(d.allow, "{d:?}");
        let d = upload(
            "horeca-gooi",
            "horeca",
            "signaleerder",
            "horeca-bibob-screening",
            "kvk",
            "cash-loan-offer",
        );
        assert!(d.allow, "{d:?}");
        // Rule 3 still holds for a supplier: no BSN from a private partner.
        let d = upload(
            "autobedrijf-de-vecht",
            "autobranche",
            "compliance",
            "politie-opsporing-wpg19",
            "bsn",
            "cash-car-purchase",
        );
        assert!(d.has_reason("bsn_private_partner"), "{d:?}");
        let mut p = police_match();
        p.token_scope.as_mut().unwrap().sectors.clear();
        let d = engine.decide(&p).unwrap();
        assert!(d.allow, "{d:?}");
        assert_eq!(
            d.obligations.revealable_sectors,
            vec![
                "autobranche",
                "gemeente",
                "horeca",
                "kvo",
                "riec",
                "vastgoed"
            ]
        );
    }

    #[test]
    fn decide_from_many_threads() {
        let engine = Arc::new(PolicyEngine::default_embedded().unwrap());
        let handles: Vec<_> = (0..4)
            .map(|t| {
                let engine = engine.clone();
                std::thread::spawn(move || {
                    for i in 0..50u64 {
                        let mut input = police_match();
                        input.identifier_count = 1 + (i + t) % 20;
                        let d = engine.decide(&input).unwrap();
                        assert_eq!(d.allow, input.identifier_count <= 10, "{d:?}");
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
    }

    #[test]
    fn the_default_bundle_runs_on_the_vm() {
        let engine = PolicyEngine::default_embedded().unwrap();
        assert!(engine.uses_vm());
    }

    /// What the differential tests reached: how many inputs were allowed, and which reasons.
    #[derive(Default)]
    struct Tally {
        allowed: usize,
        reasons: std::collections::BTreeSet<String>,
    }

    impl Tally {
        /// Asserts that `engine` decides `input` on its fast path exactly as the interpreter
        /// does (decision or error), and counts the outcome.
        fn compare(&mut self, engine: &PolicyEngine, input: &PolicyInput) {
            let fast = engine.decide(input);
            let slow = engine.decide_interpreted(input);
            assert_eq!(
                format!("{fast:?}"),
                format!("{slow:?}"),
                "input {}",
                serde_json::to_string(input).unwrap()
            );
            if let Ok(d) = slow {
                self.allowed += usize::from(d.allow);
                self.reasons.extend(d.reasons);
            }
        }
    }

    /// Differential test: the bytecode VM and the interpreter must give identical decisions
    /// (or identical errors) on every example input and on many generated inputs.
    #[test]
    fn vm_and_interpreter_decide_identically() {
        let engine = PolicyEngine::default_embedded().unwrap();
        assert!(engine.uses_vm());
        let mut inputs = example_inputs_on_disk();
        inputs.push(police_match());
        inputs.extend(generated_inputs(&Registry::embedded(), 600, 42));
        let mut tally = Tally::default();
        for input in &inputs {
            tally.compare(&engine, input);
        }
        let Tally { allowed, reasons } = tally;
        // The generated inputs must reach both outcomes and most of the deny rules, or the
        // comparison above proves little.
        assert!(allowed >= 5, "only {allowed} allowed");
        assert!(
            reasons.len() >= 30,
            "only {} reason codes: {reasons:?}",
            reasons.len()
        );
    }

    /// Differential test of the request-facts cache: every generated input and its variants
    /// that differ only in clock, usage counters, request size, oldest signal and user (cache
    /// hits after the first) must be decided exactly as the interpreter decides them from the
    /// whole input.
    #[test]
    fn cached_request_facts_decide_like_a_plain_evaluation() {
        let engine = PolicyEngine::default_embedded().unwrap();
        let state = engine.state.load();
        let facts = state
            .fast
            .as_ref()
            .and_then(|f| f.facts.as_ref())
            .expect("the default bundle uses the request-facts cache");
        let mut hits = 0;
        let mut tally = Tally::default();
        for (n, input) in generated_inputs(&Registry::embedded(), 300, 99)
            .iter()
            .enumerate()
        {
            let mut all = vec![input.clone()];
            all.extend(volatile_variants(input, n as u64));
            for i in &all {
                let before = facts.cache.get(&facts.cache.key(i)).is_some();
                hits += usize::from(before);
                tally.compare(&engine, i);
            }
        }
        let Tally { allowed, reasons } = tally;
        assert!(facts.cache.len() > 0);
        assert!(hits >= 1000, "only {hits} cache hits");
        assert!(allowed >= 5, "only {allowed} allowed");
        // The clock-dependent reasons must be reached, or the variants prove little.
        for code in [
            "budget_exceeded",
            "request_too_large",
            "rate_limited",
            "scope_expired",
            "scope_exceeded_identifiers",
        ] {
            assert!(reasons.contains(code), "{code} never reached: {reasons:?}");
        }
    }

    #[test]
    fn vm_decisions_survive_reuse_and_threads() {
        let engine = Arc::new(PolicyEngine::default_embedded().unwrap());
        let inputs = Arc::new(generated_inputs(&Registry::embedded(), 80, 7));
        let expected: Vec<String> = inputs
            .iter()
            .map(|i| format!("{:?}", engine.decide_interpreted(i)))
            .collect();
        let expected = Arc::new(expected);
        let handles: Vec<_> = (0..4)
            .map(|t| {
                let (engine, inputs, expected) = (engine.clone(), inputs.clone(), expected.clone());
                std::thread::spawn(move || {
                    for round in 0..3 {
                        for k in 0..inputs.len() {
                            let k = (k * 7 + t + round) % inputs.len();
                            assert_eq!(format!("{:?}", engine.decide(&inputs[k])), expected[k]);
                        }
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
    }

    #[test]
    fn reload_refuses_a_bundle_that_does_not_parse_and_keeps_the_old_one() {
        let engine = PolicyEngine::default_embedded().unwrap();
        let before = engine.bundle_hash();
        let broken = Bundle::embedded_with(
            "extra.rego",
            "package kruispunt

import rego.v1

broken if {
	input.x ==
}
",
        );
        let err = engine.reload(broken, Registry::embedded()).unwrap_err();
        match &err {
            PolicyError::Rego { location, .. } => {
                assert_eq!(location.file, "extra.rego");
                assert!(location.line >= 6, "{err}");
            }
            other => panic!("unexpected {other}"),
        }
        assert_eq!(engine.bundle_hash(), before);
        assert!(engine.decide(&police_match()).unwrap().allow);
    }

    #[test]
    fn reload_refuses_a_bundle_whose_tests_fail() {
        let engine = PolicyEngine::default_embedded().unwrap();
        let before = engine.bundle_hash();
        // A "fix" that lets private partners read police data breaks the Rego tests.
        let weakened = Bundle::embedded()
            .files()
            .iter()
            .find(|f| f.name == "kruispunt.rego")
            .map(|f| {
                f.text.replace(
                    "deny_match contains \"private_recipient_police_data\"",
                    "ignored contains \"x\"",
                )
            })
            .unwrap();
        let bundle = Bundle::embedded_with("kruispunt.rego", &weakened);
        match engine.reload(bundle, Registry::embedded()).unwrap_err() {
            PolicyError::TestsFailed(names) => {
                assert!(
                    names
                        .iter()
                        .any(|n| n.contains("test_private_recipient_police_data_denied")),
                    "{names:?}"
                );
            }
            other => panic!("unexpected {other}"),
        }
        assert_eq!(engine.bundle_hash(), before);
    }

    #[test]
    fn reload_swaps_a_good_bundle() {
        let engine = PolicyEngine::default_embedded().unwrap();
        let before = engine.bundle_hash();
        let amended = Bundle::embedded_with(
            "notes.rego",
            "package kruispunt_notes

import rego.v1

version := \"2\"
",
        );
        let expected = amended.hash();
        engine.reload(amended, Registry::embedded()).unwrap();
        assert_ne!(engine.bundle_hash(), before);
        assert_eq!(
            engine.decide(&police_match()).unwrap().bundle_hash,
            expected
        );
    }

    #[test]
    fn invalid_registry_is_refused() {
        let text = crate::registry::DEFAULT_REGISTRY_TOML.replacen(
            "controller = \"riec-midden-nederland\"",
            "controller = \"riec-nergens\"",
            1,
        );
        let reg = Registry::from_toml_str(&text, "r.toml").unwrap();
        let err = PolicyEngine::embedded_with_registry(reg).unwrap_err();
        assert!(err.to_string().contains("r.toml:"), "{err}");
        assert!(err.to_string().contains(".controller"), "{err}");
    }
}
