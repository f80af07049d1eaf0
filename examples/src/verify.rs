//! Checking the audit log as a partner can, with the SDK's verifier
//! ([`kruispunt_sdk::client::Client::verify_audit_log`]).

use kruispunt_sdk::client::{Client, VerifiedLog};

use crate::ScenarioError;
use crate::scenarios::explain;

/// Verifies the log's signed checkpoint and recomputes its Merkle root from every line.
pub async fn verify_log(client: &Client) -> Result<VerifiedLog, ScenarioError> {
    client.verify_audit_log(None).await.map_err(explain)
}
