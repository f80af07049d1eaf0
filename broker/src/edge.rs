//! The HTTP edge around every route: requests refused before any handler runs (a URI or
//! headers over the limits), and the guarantee that **every** error leaves as an RFC 9457
//! problem — also the ones no handler wrote: axum's extractor rejections (a body over the limit,
//! invalid UTF-8 in a path), the request timeout, and the limits below.
//!
//! hyper itself answers, with an empty body, only requests beyond its own parser's limits
//! (more than [`HYPER_MAX_HEADERS`] headers, or a head over hyper's read buffer of about
//! 400 KiB); the limits here are well below those, so in practice every refusal is a problem.

use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::problem::Problem;

/// Longest request target (path and query) accepted: 8 KiB (RFC 9110 §4.1 recommends
/// supporting at least 8000 octets). Longer: `414 uri-too-long`.
pub const MAX_URI_BYTES: usize = 8 * 1024;
/// Most header fields accepted; more: `431 headers-too-large`.
pub const MAX_HEADERS: usize = 64;
/// Largest total size of the header fields (names and values): 16 KiB; larger: `431`.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;
/// hyper's own limit on the number of headers, set above [`MAX_HEADERS`] so that this module,
/// not hyper, answers (with a problem).
pub const HYPER_MAX_HEADERS: usize = 256;

/// Refuses a request whose target or headers are over the limits, before anything reads it.
pub async fn limit_request_head(req: Request, next: Next) -> Response {
    let target = req.uri().path_and_query().map_or(0, |pq| pq.as_str().len());
    if target > MAX_URI_BYTES {
        return Problem::new(
            StatusCode::URI_TOO_LONG,
            "uri-too-long",
            "URI too long",
            format!("the request target has {target} bytes; at most {MAX_URI_BYTES} are accepted"),
        )
        .into_response();
    }
    let headers = req.headers();
    let bytes: usize = headers
        .iter()
        .map(|(n, v)| n.as_str().len() + v.len())
        .sum();
    if headers.len() > MAX_HEADERS || bytes > MAX_HEADER_BYTES {
        return Problem::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "headers-too-large",
            "Request header fields too large",
            format!(
                "{} header fields of {bytes} bytes; at most {MAX_HEADERS} fields of \
                 {MAX_HEADER_BYTES} bytes in all are accepted",
                headers.len()
            ),
        )
        .into_response();
    }
    next.run(req).await
}

/// Turns an error response that is not a problem yet into one: the status decides the type,
/// and the text axum wrote (its rejections are short, fixed texts about the request) becomes
/// the detail. Responses that are problems already, and successes, pass untouched.
pub async fn every_error_is_a_problem(req: Request, next: Next) -> Response {
    let resp = next.run(req).await;
    let status = resp.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return resp;
    }
    let is_problem = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/problem+json"));
    if is_problem {
        return resp;
    }
    let retry_after = resp.headers().get(header::RETRY_AFTER).cloned();
    let text = axum::body::to_bytes(resp.into_body(), 4096)
        .await
        .ok()
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .filter(|t| !t.is_empty());
    let mut p = problem_for(status, text);
    if let Some(secs) = retry_after
        .as_ref()
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
    {
        p.retry_after = Some(secs);
    }
    p.into_response()
}

/// The problem of an error response that came without one.
fn problem_for(status: StatusCode, text: Option<String>) -> Problem {
    let (slug, title, default) = match status {
        StatusCode::PAYLOAD_TOO_LARGE => (
            "body-too-large",
            "Request body too large",
            "the request body is over this endpoint's limit",
        ),
        StatusCode::URI_TOO_LONG => (
            "uri-too-long",
            "URI too long",
            "the request target is too long",
        ),
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => (
            "headers-too-large",
            "Request header fields too large",
            "the request's header fields are too large",
        ),
        StatusCode::SERVICE_UNAVAILABLE | StatusCode::REQUEST_TIMEOUT => (
            "request-timeout",
            "The request took too long",
            "the request was not completed within the broker's time limit; nothing was disclosed",
        ),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => (
            "unsupported-media-type",
            "Unsupported media type",
            "the request body has a content type this endpoint does not take",
        ),
        s if s.is_server_error() => (
            "internal",
            "Internal error",
            "the broker hit an internal error; nothing was disclosed",
        ),
        _ => (
            "bad-request",
            "The request is not valid",
            "the request could not be read",
        ),
    };
    let mut p = Problem::new(status, slug, title, text.unwrap_or_else(|| default.into()));
    if slug == "request-timeout" {
        p.retry_after.get_or_insert(1);
    }
    p
}

/// Answers with `Connection: close` when the handler left the request body unread.
///
/// A refusal decided before the body is read (no token, a role the route does not take, a
/// rate limit) leaves the rest of the body on the connection, so hyper cannot reuse it and
/// closes it after the response. Without a word in the response, a keep-alive client (every
/// HTTP library's connection pool) sends its next request into the closing connection and
/// fails with an EOF it cannot retry for a POST — schemathesis met exactly that
/// (`.ci/schemathesis.sh`). Saying `Connection: close` lets the client open a new connection
/// instead; a body read to its end keeps the connection alive as before.
pub async fn close_unless_body_read(req: Request, next: Next) -> Response {
    use http_body::Body as _;
    if req.body().is_end_stream() {
        return next.run(req).await;
    }
    let read = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (parts, body) = req.into_parts();
    let body = axum::body::Body::new(ReadToEnd {
        inner: body,
        read: read.clone(),
    });
    let mut response = next.run(Request::from_parts(parts, body)).await;
    if !read.load(std::sync::atomic::Ordering::Acquire) {
        response.headers_mut().insert(
            header::CONNECTION,
            header::HeaderValue::from_static("close"),
        );
    }
    response
}

/// A request body that records when it has been read to its end.
struct ReadToEnd {
    inner: axum::body::Body,
    read: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl http_body::Body for ReadToEnd {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        let frame = std::pin::Pin::new(&mut self.inner).poll_frame(cx);
        if matches!(frame, std::task::Poll::Ready(None)) || self.inner.is_end_stream() {
            self.read.store(true, std::sync::atomic::Ordering::Release);
        }
        frame
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_get_their_problem_types() {
        for (status, slug) in [
            (StatusCode::PAYLOAD_TOO_LARGE, "body-too-large"),
            (StatusCode::URI_TOO_LONG, "uri-too-long"),
            (
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                "headers-too-large",
            ),
            (StatusCode::SERVICE_UNAVAILABLE, "request-timeout"),
            (StatusCode::BAD_REQUEST, "bad-request"),
            (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        ] {
            assert_eq!(problem_for(status, None).slug, slug, "{status}");
        }
        assert_eq!(
            problem_for(StatusCode::BAD_REQUEST, Some("Invalid URL".into())).detail,
            "Invalid URL"
        );
    }
}
