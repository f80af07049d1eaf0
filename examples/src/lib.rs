//! Runnable partner scenarios for the Kruispunt broker in Midden-Nederland, each also a library
//! function so that `kruispunt demo` and the end-to-end tests run the very same code:
//!
//! | scenario | who | what |
//! |---|---|---|
//! | [`scenarios::kvo_buitengebied`] | KVO Buitengebied Oost-Utrecht, gemeenten | barn-rental offers; a municipality checks a prospective tenant's KvK |
//! | [`scenarios::autobranche`] | car dealers, police | cash purchases (bulk upload); dealer and police queries with tiered disclosure |
//! | [`scenarios::horeca_bibob`] | Gemeente Hilversum, horeca, vastgoed | Bibob screening of a permit applicant (Wet Bibob art. 28) |
//! | [`scenarios::police_scoped_query`] | police, RIEC, OM | queries outside the token's scope refused; inside it hit/no-hit, then categories after a justification; the case's channel among its participants, and after the closure the channel and the queries refused |
//! | [`scenarios::privacy_officer`] | a dealer's privacy officer | verifies the log, lists disclosures about its organisation, answers a data-subject request |
//! | [`scenarios::ondermijningsbeeld`] | every district's partners, the RIEC | two years of signals per gemeente under the `ondermijningsbeeld` purpose: the data of the unit's picture ([`picture`]) |
//!
//! The examples (`cargo run -p kruispunt-examples --example NAME -- --data-dir ./kruispunt-data`)
//! read the development CA, the deployment name and the demo partners' keys from the data
//! directory of a running `kruispunt serve`. This crate depends on the SDK only — never on the
//! broker — exactly like a partner's own software.
#![forbid(unsafe_code)]

pub mod cli;
pub mod env;
pub mod picture;
pub mod scenarios;
pub mod story;
pub mod synthetic;
pub mod verify;

pub use env::Env;
pub use story::{Outcome, Story};

use kruispunt_sdk::client::ClientError;

/// Why a scenario could not tell its story.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// A request failed in a way the scenario did not expect.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The data directory or broker is not set up as the scenario needs.
    #[error("set-up: {0}")]
    Setup(String),
    /// The broker answered, but not as the policy promises.
    #[error("unexpected outcome: {0}")]
    Unexpected(String),
}

/// Every scenario in the order the demo runs them.
pub const SCENARIOS: [&str; 6] = [
    "kvo_buitengebied",
    "autobranche",
    "horeca_bibob",
    "police_scoped_query",
    "privacy_officer",
    "ondermijningsbeeld",
];

/// Runs the scenario called `name`.
pub async fn run(name: &str, env: &Env, story: &mut Story) -> Result<Outcome, ScenarioError> {
    match name {
        "kvo_buitengebied" => scenarios::kvo_buitengebied(env, story).await,
        "autobranche" => scenarios::autobranche(env, story).await,
        "horeca_bibob" => scenarios::horeca_bibob(env, story).await,
        "police_scoped_query" => scenarios::police_scoped_query(env, story).await,
        "privacy_officer" => scenarios::privacy_officer(env, story).await,
        "ondermijningsbeeld" => scenarios::ondermijningsbeeld(env, story).await,
        other => Err(ScenarioError::Setup(format!(
            "unknown scenario {other:?}; known: {}",
            SCENARIOS.join(", ")
        ))),
    }
}
