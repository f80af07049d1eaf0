//! The audit page of `kruispunt serve` in chromium: a link carrying someone's token
//! (`/audit/#token=…`, login CSRF) does not sign the visitor in until the visitor confirms the
//! organisation it names; rejected, the visitor stays signed out and nothing was read in the
//! link's name.

use super::*;
use crate::browser::Browser;

/// The reads of the audit trail by `org`'s users so far.
async fn reads_by(b: &Broker, org: &str) -> usize {
    b.audit_of("audit.read")
        .await
        .into_iter()
        .filter(|e| e.actor_org.as_deref() == Some(org))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_link_does_not_sign_the_visitor_in() {
    let Some(browser) = Browser::start("the audit page's sign-in against a token link").await
    else {
        return;
    };
    let b = serve(serve_opts()).await;
    b.traffic().await;
    b.sync().await;
    // The attacker's own valid token, in a link sent to a victim.
    let attacker = b.token(DEALER_C, &[OFFICER]);
    let reads = reads_by(&b, DEALER_C).await;
    let stored = "return sessionStorage.getItem('kp-token');";
    browser
        .open(&format!("{}/audit/#token={attacker}", b.base))
        .await;
    let question = browser
        .wait_for(
            "!document.getElementById('signin-confirm').hidden \
             && document.getElementById('signin-confirm').innerText",
            "the sign-in question",
        )
        .await;
    let question = question.as_str().unwrap();
    assert!(
        question.contains("Sign in as autoschade-almere"),
        "{question}"
    );
    // Asked, not signed in; the token is out of the address bar at once.
    assert_eq!(browser.eval(stored).await, serde_json::Value::Null);
    assert_eq!(browser.text("#signin-who").await, "Not signed in.");
    assert_eq!(browser.eval("return location.hash;").await, "");
    // The visitor says no: still signed out, and nothing was read in the link's name.
    browser.click("#signin-reject").await;
    browser
        .wait_for(
            "document.getElementById('signin-confirm').hidden",
            "the question gone",
        )
        .await;
    assert_eq!(browser.eval(stored).await, serde_json::Value::Null);
    assert_eq!(browser.text("#signin-who").await, "Not signed in.");
    assert_eq!(reads_by(&b, DEALER_C).await, reads);
    browser.stop();
    b.stop().await;
}
