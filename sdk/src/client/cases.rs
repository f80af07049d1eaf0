//! Cases and the public prosecutor's consents over HTTPS (wire types in [`crate::cases`];
//! docs/CASES.md). A refusal comes back as [`ClientError::Problem`]: e.g. 403
//! `case-role-not-allowed` for a token without the registry's case role, 404 for a case the
//! organisation does not take part in, 409 `case-transition-not-allowed`.

use super::{Client, ClientError};
use crate::cases::{
    Case, CaseList, CaseOpenRequest, CaseStateRequest, Consent, ConsentRequest, FeedbackResponse,
    valid_case_reference,
};

impl Client {
    /// `POST /v1/cases`: registers a case (role `casusregisseur` at the RIEC, a municipality
    /// or the police, as the registry's `[cases]` says).
    ///
    /// ```no_run
    /// use kruispunt_sdk::cases::{CaseOpenRequest, LegalFrame};
    /// # async fn f(c: &kruispunt_sdk::client::Client) -> Result<(), kruispunt_sdk::client::ClientError> {
    /// let case = c.open_case(&CaseOpenRequest {
    ///     reference: "MN-2026-0412".into(),
    ///     gemeente: "GM0344".into(),
    ///     themes: vec!["criminele-families".into()],
    ///     legal_frame: vec![LegalFrame::RiecConvenant, LegalFrame::WpgArt19],
    ///     participants: vec!["politie-midden-nederland".into(), "gemeente-utrecht".into()],
    /// }).await?;
    /// println!("{} is {}", case.reference, case.state);
    /// # Ok(()) }
    /// ```
    pub async fn open_case(&self, request: &CaseOpenRequest) -> Result<Case, ClientError> {
        self.post_json("/v1/cases", request, "the case").await
    }

    /// `POST /v1/cases/{reference}/state`: moves a case (`open` → `intervention` with its
    /// kind → `closed` with its result, or `open` → `closed`).
    pub async fn move_case(
        &self,
        reference: &str,
        request: &CaseStateRequest,
    ) -> Result<Case, ClientError> {
        check_reference(reference)?;
        self.post_json(&format!("/v1/cases/{reference}/state"), request, "the move")
            .await
    }

    /// `GET /v1/cases/{reference}`: a case this organisation opened or takes part in.
    pub async fn case(&self, reference: &str) -> Result<Case, ClientError> {
        check_reference(reference)?;
        self.get_json(&format!("/v1/cases/{reference}")).await
    }

    /// `GET /v1/cases`: the cases this organisation opened or takes part in.
    pub async fn cases(&self) -> Result<CaseList, ClientError> {
        self.get_json("/v1/cases").await
    }

    /// `GET /v1/feedback?from=YYYY-MM&to=YYYY-MM`: how many of this organisation's own
    /// signals contributed to cases, and to interventions of each kind, per month — noisy,
    /// rounded counts with small cells withheld (docs/CASES.md). Suppliers only.
    pub async fn feedback(&self, from: &str, to: &str) -> Result<FeedbackResponse, ClientError> {
        let month = |m: &str| m.len() == 7 && m.bytes().all(|b| b.is_ascii_digit() || b == b'-');
        if !month(from) || !month(to) {
            return Err(ClientError::Config(format!(
                "feedback months {from:?}..{to:?}: YYYY-MM"
            )));
        }
        self.get_json(&format!("/v1/feedback?from={from}&to={to}"))
            .await
    }

    /// `POST /v1/consents`: issues the public prosecutor's consent (role
    /// `officier-van-justitie` at the OM); the answer's `id` is what a police token's scope and
    /// match name as `consent_id`.
    pub async fn issue_consent(&self, request: &ConsentRequest) -> Result<Consent, ClientError> {
        self.post_json("/v1/consents", request, "the consent").await
    }

    /// `DELETE /v1/consents/{id}`: withdraws a consent this organisation issued; queries under
    /// it are refused from then on.
    pub async fn withdraw_consent(&self, id: &str) -> Result<Consent, ClientError> {
        if id.is_empty() || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return Err(ClientError::Config(format!(
                "consent id {id:?}: letters, digits and '-' (as the broker answered)"
            )));
        }
        let url = self.url(&format!("/v1/consents/{id}"));
        self.json(&|h, _| h.delete(url.clone()), true).await
    }
}

fn check_reference(reference: &str) -> Result<(), ClientError> {
    if valid_case_reference(reference) {
        Ok(())
    } else {
        Err(ClientError::Config(format!(
            "case reference {reference:?}: 1 to 128 ASCII letters, digits, '-', '_' or '.'"
        )))
    }
}
