//! The privacy officers' page at `/audit/` in a real browser (chromium headless, driven by
//! chromedriver: see `browser.rs`). The officer opens a link carrying the token in the URL
//! fragment (which never reaches the server), confirms the organisation it names, and the page
//! checks the checkpoint's signature with WebCrypto and lists the officer's entries.

use crate::audit_common::*;
use crate::browser::Browser;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_signs_in_verifies_and_lists_entries_in_chromium() {
    let Some(browser) = Browser::start("the audit page").await else {
        return;
    };
    let b = Broker::start(None).await;
    b.traffic().await;
    b.sync().await;
    let officer = b.token(DEALER_C, &[OFFICER]);
    // The page itself: no external resources, a strict CSP.
    let resp = b.get("/audit/", None::<&str>).await;
    let csp = resp.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        csp.contains("default-src 'none'") && csp.contains("script-src 'self'"),
        "{csp}"
    );
    let html = resp.text().await.unwrap();
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "external resource"
    );

    browser
        .open(&format!("{}/audit/#token={officer}", b.base))
        .await;
    browser
        .wait_for(
            "!document.getElementById('signin-confirm').hidden",
            "the sign-in question",
        )
        .await;
    browser.click("#signin-accept").await;
    let verified = browser
        .wait_for(
            "(document.getElementById('verify-result').textContent.startsWith('VERIFIED') \
             || document.getElementById('verify-result').textContent.startsWith('NOT')) \
             && / entries$/.test(document.getElementById('status').textContent) \
             && document.body.innerText",
            "the verification and the entries",
        )
        .await;
    let dom = verified.as_str().unwrap();
    assert!(dom.contains("VERIFIED: signature valid"), "{dom}");
    assert!(
        dom.contains("user@autoschade-almere"),
        "the officer's own match is listed: {dom}"
    );
    assert!(
        browser
            .text("#signin-who")
            .await
            .contains("Signed in as user@autoschade-almere of autoschade-almere"),
        "{dom}"
    );
    // The page's reads went through the API and are on the trail.
    let reads = b
        .audit_of("audit.read")
        .await
        .into_iter()
        .filter(|e| e.actor_org.as_deref() == Some(DEALER_C))
        .count();
    assert!(reads >= 1);
    browser.stop();
    b.stop().await;
}
