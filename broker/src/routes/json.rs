//! The request body of a JSON endpoint, parsed strictly.
//!
//! The wire types refuse unknown fields (`deny_unknown_fields`) and serde refuses a key given
//! twice, so a misspelt or smuggled field is an error rather than silently ignored; the problem
//! names the field and its position in the body.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

use crate::problem::Problem;

/// A JSON body parsed into `T`, or a `400 invalid-json` problem naming what did not fit.
///
/// The body is read as bytes first, so a body over the route's limit keeps axum's own
/// rejection (`413`). As the body extractor it comes last among a handler's arguments, after
/// [`crate::auth::Authenticated`]: an unauthenticated request is refused before its body is
/// parsed.
#[derive(Debug, Clone, Copy, Default)]
pub struct StrictJson<T>(pub T);

impl<T, S> FromRequest<S> for StrictJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Response> {
        let body = Bytes::from_request(req, state)
            .await
            .map_err(IntoResponse::into_response)?;
        parse(&body)
            .map(StrictJson)
            .map_err(IntoResponse::into_response)
    }
}

/// Parses a JSON body strictly (see the module documentation).
fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, Problem> {
    serde_json::from_slice(body)
        .map_err(|e| Problem::bad_request("invalid-json", format!("request body: {e}")))
}
