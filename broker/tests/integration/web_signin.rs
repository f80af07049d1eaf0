//! The sign-in shared by `/audit/` and `/beeld/` (`broker/web/signin.js`) against login CSRF:
//! a link carrying `#token=` must not sign the visitor in as whoever's token it carries. The
//! page takes the token out of the address bar, shows the organisation, user and roles it
//! names, and uses it only when the visitor accepts; discarding it leaves the visitor as they
//! were. Whoever is signed in is always on screen. In chromium (see `browser.rs`).

use crate::audit_common::*;
use crate::browser::Browser;

/// The reads of the audit trail by `org`'s users so far.
async fn reads_by(b: &Broker, org: &str) -> usize {
    b.audit_of("audit.read")
        .await
        .into_iter()
        .filter(|e| e.actor_org.as_deref() == Some(org))
        .count()
}

/// The stored token (`null` when signed out).
const STORED: &str = "return sessionStorage.getItem('kp-token');";

/// Waits for the sign-in question and returns its text.
async fn signin_question(browser: &Browser) -> String {
    browser
        .wait_for(
            "!document.getElementById('signin-confirm').hidden \
             && document.getElementById('signin-confirm').innerText",
            "the sign-in question",
        )
        .await
        .as_str()
        .unwrap()
        .to_owned()
}

/// Nobody is signed in: no token stored, and the page says so.
async fn assert_signed_out(browser: &Browser, page: &str) {
    assert_eq!(
        browser.eval(STORED).await,
        serde_json::Value::Null,
        "{page}"
    );
    assert_eq!(
        browser.text("#signin-who").await,
        "Not signed in.",
        "{page}"
    );
}

/// Whether the sign-in question is hidden.
async fn question_hidden(browser: &Browser) -> bool {
    browser
        .eval("return document.getElementById('signin-confirm').hidden;")
        .await
        .as_bool()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_with_a_token_signs_in_only_after_the_visitor_confirms_its_organisation() {
    let Some(browser) = Browser::start("the shared sign-in").await else {
        return;
    };
    let b = Broker::start(None).await;
    b.traffic().await;
    b.sync().await;
    // The attacker's own, valid token, put in a link sent to a victim.
    let attacker = b.token(DEALER_C, &[OFFICER]);
    let victim = b.token(DEALER_A, &[OFFICER]);
    for page in ["/audit/", "/beeld/"] {
        let reads = reads_by(&b, DEALER_C).await;
        // A visitor who is not signed in opens the link: asked, not signed in.
        browser
            .open(&format!("{}{page}#token={attacker}", b.base))
            .await;
        let question = signin_question(&browser).await;
        for shown in [
            "sign you in as user@autoschade-almere of autoschade-almere",
            "role: privacy-officer",
            "Sign in as autoschade-almere",
        ] {
            assert!(question.contains(shown), "{page}: {question}");
        }
        assert_signed_out(&browser, page).await;
        assert_eq!(
            browser.eval("return location.hash;").await,
            "",
            "{page}: the token is taken out of the address bar at once"
        );
        // Discarding it leaves the visitor signed out, and nothing was asked in its name.
        browser.click("#signin-reject").await;
        browser
            .wait_for(
                "document.getElementById('signin-confirm').hidden",
                "the question gone",
            )
            .await;
        assert_signed_out(&browser, page).await;
        // Reloading does not bring the question back: the fragment is gone.
        browser.open(&format!("{}{page}", b.base)).await;
        assert!(question_hidden(&browser).await, "{page}");

        // A visitor signed in with their own (typed) token opens the link: still themselves
        // until they accept; the question names both organisations.
        browser.type_into("#signin-token", &victim).await;
        browser.click("#signin-go").await;
        browser
            .wait_for(
                "document.getElementById('signin-who').innerText.includes('autobedrijf-de-vecht')",
                "the visitor signed in",
            )
            .await;
        browser
            .open(&format!("{}{page}#token={attacker}", b.base))
            .await;
        let question = signin_question(&browser).await;
        assert!(
            question.contains("You are now signed in as autobedrijf-de-vecht"),
            "{page}: {question}"
        );
        assert_eq!(browser.eval(STORED).await, victim.as_str(), "{page}");
        let who = browser.text("#signin-who").await;
        assert!(
            who.starts_with("Signed in as user@autobedrijf-de-vecht of autobedrijf-de-vecht"),
            "{page}: {who}"
        );
        // Nothing was asked in the link's name so far.
        assert_eq!(reads_by(&b, DEALER_C).await, reads, "{page}");
        // Accepting is what switches, and the page then says who is signed in.
        browser.click("#signin-accept").await;
        browser
            .wait_for(
                "document.getElementById('signin-who').innerText.includes('of autoschade-almere')",
                "the new organisation on screen",
            )
            .await;
        assert_eq!(browser.eval(STORED).await, attacker.as_str(), "{page}");
        let title = browser.eval("return document.title;").await;
        assert!(
            title.as_str().unwrap().ends_with("— autoschade-almere"),
            "{page}: {title}"
        );
        if page == "/audit/" {
            // Only now does the audit page read the trail, in the accepted token's name.
            browser
                .wait_for(
                    "/ match \\(all of them/.test(document.getElementById('status').textContent)",
                    "the entries",
                )
                .await;
            assert!(reads_by(&b, DEALER_C).await > reads);
        }
        browser.click("#signin-out").await;
        assert_signed_out(&browser, page).await;
    }

    // The names shown are the token maker's text: shown as text, never run as HTML.
    let hostile = b.token_with(DEALER_C, &[OFFICER], |c| {
        c.sub = "<img id=injected src=x onerror=alert(1)>".into();
    });
    browser
        .open(&format!("{}/beeld/#token={hostile}", b.base))
        .await;
    let question = signin_question(&browser).await;
    assert!(
        question.contains(
            "sign you in as <img id=injected src=x onerror=alert(1)> of autoschade-almere"
        ),
        "{question}"
    );
    assert_eq!(
        browser
            .eval("return document.getElementById('injected') === null;")
            .await,
        true
    );
    browser.click("#signin-reject").await;

    // Nothing that is not a live token is even offered.
    let expired = b.token_with(DEALER_C, &[OFFICER], |c| {
        c.iat -= 7200;
        c.exp = c.iat + 60;
    });
    for (token, said) in [
        (expired.as_str(), "expired"),
        ("not-a-token", "not a Kruispunt token"),
    ] {
        let before = reads_by(&b, DEALER_C).await;
        browser
            .open(&format!("{}/audit/#token={token}", b.base))
            .await;
        browser
            .wait_for(
                &format!("document.getElementById('signin-message').innerText.includes('{said}')"),
                said,
            )
            .await;
        assert!(question_hidden(&browser).await);
        assert_eq!(browser.eval(STORED).await, serde_json::Value::Null);
        assert_eq!(reads_by(&b, DEALER_C).await, before);
    }
    browser.stop();
    b.stop().await;
}
