//! Kruispunt's embedded policy engine: purpose limitation (doelbinding) as code.
//!
//! The rules live in Rego (`policy/policies/*.rego`, package `kruispunt`, entry point
//! `data.kruispunt.decision`) so that privacy officers and auditors can read and test them with
//! the OPA tool chain; they are evaluated in-process by regorus. The facts the rules reason
//! over — partners, purposes, coalitions — come from the [`Registry`] (one TOML file).
//!
//! ```
//! use kruispunt_policy::{PolicyEngine, PolicyInput};
//! let engine = PolicyEngine::default_embedded().unwrap();
//! let input: PolicyInput = serde_json::from_str(include_str!(
//!     "../schema/examples/input-police-match.json"
//! )).unwrap();
//! let decision = engine.decide(&input).unwrap();
//! assert!(decision.allow, "{:?}", decision.reasons);
//! assert_eq!(decision.bundle_hash, engine.bundle_hash());
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod bundle;
pub mod decision;
pub mod engine;
pub mod error;
mod facts_cache;
pub mod input;
pub mod registry;
pub mod rego_tests;
mod rego_value;
#[doc(hidden)]
pub mod self_check;
mod vm;

pub use bundle::{Bundle, BundleFile, DEFAULT_BUNDLE};
pub use decision::{AggregateObligations, Decision, Obligations, REASON_CODES};
pub use engine::{ENTRY_POINT, PolicyEngine};
pub use error::{Location, PolicyError, RegistryIssue};
pub use input::{
    Action, AggregateQuestion, CaseFacts, ConsentFacts, PolicyInput, Requester, TokenScope, Usage,
};
pub use registry::{
    AggregateRules, Coalition, DEFAULT_REGISTRY_NAME, DEFAULT_REGISTRY_TOML, District,
    EnumerationGuard, Gemeente, KeyAlg, Partner, PartnerKey, PartnershipDecision, Purpose,
    Registry, Theme,
};
pub use rego_tests::{TestCase, TestOutcome, discover_tests, run_tests, try_run_tests};
