//! The ondermijningsbeeld over HTTPS: `POST /v1/aggregates` (wire types in [`crate::beeld`]).
//!
//! A refusal comes back as [`ClientError::Problem`] like every other call: slug, status and
//! reason codes as the broker sent them, e.g. 403 `privacy-budget-exhausted` (reason
//! `privacy_budget_exhausted`, the ε left in its detail) when the question would overspend this
//! organisation's monthly ε, or 403 `policy-denied` (docs/API.md lists the slugs).

use super::{Client, ClientError};
use crate::beeld::{AggregateRequest, AggregateResponse};

impl Client {
    /// `POST /v1/aggregates`: asks for the disclosure-controlled picture — counts per area,
    /// theme and period, each cell either a noisy value rounded to `rounding` or suppressed
    /// with its reason. The same question within one snapshot is answered again at no ε;
    /// `epsilon_left` is what remains this calendar month. Not retried on failure except for
    /// 429/503 (see [`super::RetryPolicy`]): a repeated question is free within a snapshot.
    ///
    /// ```no_run
    /// use kruispunt_sdk::beeld::{AggregateRequest, Dimension, Measure};
    /// # async fn f(c: &kruispunt_sdk::client::Client) -> Result<(), kruispunt_sdk::client::ClientError> {
    /// let picture = c
    ///     .aggregates(&AggregateRequest {
    ///         purpose: "ondermijningsbeeld".into(),
    ///         measure: Measure::Subjects,
    ///         group_by: vec![Dimension::Gemeente, Dimension::Theme],
    ///         from: "2026-01-01".into(),
    ///         to: "2026-12-31".into(),
    ///         filter: None,
    ///         totals: false,
    ///     })
    ///     .await?;
    /// for cell in &picture.cells {
    ///     match cell.value {
    ///         Some(v) => println!("{:?}: {v}", cell.dims),
    ///         None => println!("{:?}: < {}", cell.dims, picture.k),
    ///     }
    /// }
    /// println!("ε left this month: {}", picture.epsilon_left);
    /// # Ok(()) }
    /// ```
    pub async fn aggregates(
        &self,
        request: &AggregateRequest,
    ) -> Result<AggregateResponse, ClientError> {
        self.post_json("/v1/aggregates", request, "the question")
            .await
    }
}
