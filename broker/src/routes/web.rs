//! What the broker's web pages share: the response headers (a strict Content-Security-Policy,
//! no sniffing, no referrer) and the one sign-in script, `/web/signin.js`, that `/audit/` and
//! `/beeld/` both load. The pages are static HTML, CSS and JavaScript embedded in the binary
//! (`broker/web/`), with no external resources: everything they show comes from the API with
//! the signed-in user's token.

use axum::http::header;
use axum::response::IntoResponse;

/// The CSP of every page: scripts and styles from this origin only (no inline script, no
/// `eval`), requests to this origin only, nothing may frame the page or post a form elsewhere.
/// `inline_style` admits a page's inline `<style>` (styles only; scripts are never inline);
/// otherwise styles too come from this origin only.
const fn csp(inline_style: bool) -> &'static str {
    if inline_style {
        "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; \
         connect-src 'self'; img-src 'self'; form-action 'none'; frame-ancestors 'none'; \
         base-uri 'none'"
    } else {
        "default-src 'none'; script-src 'self'; style-src 'self'; \
         connect-src 'self'; img-src 'self'; form-action 'none'; frame-ancestors 'none'; \
         base-uri 'none'"
    }
}

/// An HTML page with the headers every page carries.
pub fn html(body: &'static str, inline_style: bool) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CONTENT_SECURITY_POLICY, csp(inline_style)),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "no-referrer"),
            (header::X_FRAME_OPTIONS, "DENY"),
        ],
        body,
    )
}

/// A static asset of a page (script or style sheet).
pub fn asset(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
}

/// `/web/signin.js`: the sign-in shared by the pages (a token from a link is only used after
/// the visitor confirms the organisation it names; see the script's header).
pub async fn signin_script() -> impl IntoResponse {
    asset(
        "text/javascript; charset=utf-8",
        include_str!("../../web/signin.js"),
    )
}
