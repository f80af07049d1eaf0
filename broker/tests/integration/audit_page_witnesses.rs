//! The `/audit/` page checks the witnesses' cosignatures against the officer's own witness
//! policy (docs/AUDIT.md, "The web page"), in chromium (`browser.rs`) with real `kruispunt
//! witness serve` processes cosigning the broker's checkpoints (`witness.rs`):
//!
//! * without a policy the page says that cosignatures are not checked; a policy that does not
//!   parse is not kept, and the refusal names its line;
//! * the officer pastes a policy (2 of riec, ap, gemeente, with the log's key); the page names
//!   its witnesses and quorum, and accepts the checkpoint cosigned by riec and ap, saying so;
//! * a policy requiring all three is refused in words (too few cosignatures);
//! * a checkpoint whose riec cosignature was altered (the page's fetch of the checkpoint is
//!   intercepted, as a lying broker would serve it) is refused as forged;
//! * a cosignature by gemeente (a key the test holds, signed in the page) dated exactly the
//!   allowed 300 s ahead of the page's clock counts, one second more does not.

use std::time::{SystemTime, UNIX_EPOCH};

use kruispunt_sdk::transparency::WitnessVerifier;
use ring::signature::{Ed25519KeyPair, KeyPair as _};

use crate::audit_common::*;
use crate::browser::Browser;
use crate::witness::{TwoWitnesses, cosigned_by_riec_and_ap};

/// The seed of the witness key the test holds (gemeente's).
const GEMEENTE_SEED: [u8; 32] = [7; 32];
const GEMEENTE: &str = "gemeente.test/witness";

/// Clicks "Check now" and answers the verification's words once they are there.
async fn check(browser: &Browser) -> String {
    browser
        .eval("document.getElementById('verify-result').textContent = ''; return true;")
        .await;
    browser.click("#verify").await;
    let v = browser
        .wait_for(
            "/^(NOT )?VERIFIED/.test(document.getElementById('verify-result').textContent) \
             && document.getElementById('verify-result').textContent",
            "the verification's result",
        )
        .await;
    v.as_str().unwrap().to_string()
}

/// Pastes `text` as the officer's witness policy and keeps it; waits for the check that
/// keeping starts (so that it cannot answer for a later [`check`]).
async fn keep_policy(browser: &Browser, text: &str) {
    browser
        .eval(
            "document.getElementById('witness-edit').open = true; \
             document.getElementById('verify-result').textContent = ''; return true;",
        )
        .await;
    browser.type_into("#witness-policy", text).await;
    browser.click("#witness-keep").await;
    browser
        .wait_for(
            "document.getElementById('witness-policy-result').textContent === 'Kept.' \
             && /^(NOT )?VERIFIED/.test(document.getElementById('verify-result').textContent)",
            "the policy kept and checked",
        )
        .await;
}

/// From now on the page's fetches of the checkpoint pass through `alter` (a JavaScript
/// `async (text) => text` function body's expression), as a broker serving them would.
async fn intercept_checkpoint(browser: &Browser, alter: &str) {
    browser
        .eval(&format!(
            "window.kpRealFetch = window.kpRealFetch || window.fetch; \
             const alter = {alter}; \
             window.fetch = async (url, opts) => {{ \
               const r = await window.kpRealFetch(url, opts); \
               if (!String(url).includes('/v1/audit/checkpoint')) return r; \
               return new Response(await alter(await r.text())); }}; \
             return true;"
        ))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_accepts_a_checkpoint_only_with_the_quorum_of_cosignatures() {
    let Some(browser) = Browser::start("the audit page's witness check").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // The broker asks riec and ap (real witnesses); gemeente's key is the test's.
    let TwoWitnesses {
        b,
        log_vkey,
        riec,
        ap,
        ..
    } = cosigned_by_riec_and_ap(Broker::start(None).await, dir.path()).await;
    let gemeente_key = Ed25519KeyPair::from_seed_unchecked(&GEMEENTE_SEED).unwrap();
    let gemeente = WitnessVerifier::new(GEMEENTE, gemeente_key.public_key().as_ref()).unwrap();

    let officer = b.token(DEALER_C, &[OFFICER]);
    browser
        .sign_in_by_link(&format!("{}/audit/#token={officer}", b.base))
        .await;
    browser
        .wait_for(
            "document.getElementById('verify-result').textContent.startsWith('VERIFIED')",
            "the first verification",
        )
        .await;
    // Without a policy, the page says what it does not check.
    assert!(
        browser
            .text("#witness-summary")
            .await
            .contains("no witness policy in this browser: cosignatures are not checked")
    );
    let result = check(&browser).await;
    assert!(!result.contains("cosigned"), "{result}");

    // A policy that does not parse is not kept; the refusal names its line.
    browser
        .eval("document.getElementById('witness-edit').open = true; return true;")
        .await;
    browser
        .type_into("#witness-policy", "witness riec not-a-key\nquorum riec\n")
        .await;
    browser.click("#witness-keep").await;
    let refused = browser
        .wait_for(
            "document.getElementById('witness-policy-result').textContent.startsWith('Not kept') \
             && document.getElementById('witness-policy-result').textContent",
            "the policy refused",
        )
        .await;
    assert_eq!(
        refused,
        "Not kept: policy line 1: expected <name>+<key id>+<key>"
    );

    // The officer's own policy: 2 of riec, ap and gemeente, and the log's key.
    let officer_policy = |quorum: &str| {
        format!(
            "# our witnesses\nlog {log_vkey}\nwitness riec {}\nwitness ap {}\nwitness gemeente {gemeente}\n{quorum}",
            riec.vkey, ap.vkey
        )
    };
    keep_policy(
        &browser,
        &officer_policy("group fg 2 riec ap gemeente\nquorum fg\n"),
    )
    .await;
    let summary = browser.text("#witness-summary").await;
    assert!(
        summary
            .contains("your policy, kept in this browser: 3 witnesses (riec = riec.test/witness+")
            && summary.contains("gemeente = gemeente.test/witness+")
            && summary.contains("quorum fg: 2 of riec, ap, gemeente"),
        "{summary}"
    );
    let result = check(&browser).await;
    assert!(
        result.starts_with("VERIFIED: signature valid")
            && result.contains(
                "cosigned by 2 of the policy's 3 witnesses: riec (riec.test/witness, at "
            )
            && result.contains("ap (ap.test/witness, at ")
            && result.contains("the quorum (fg: 2 of riec, ap, gemeente) is met"),
        "{result}"
    );
    assert_eq!(
        browser
            .eval("return document.getElementById('verify-result').className;")
            .await,
        "ok"
    );
    browser.screenshot("audit-page-witnesses").await;

    // Too few: all three required, gemeente never cosigned.
    keep_policy(
        &browser,
        &officer_policy("group fg all riec ap gemeente\nquorum fg\n"),
    )
    .await;
    let result = check(&browser).await;
    assert!(
        result.starts_with("NOT VERIFIED: the witness quorum is not met: cosigned by 2 of the policy's 3 witnesses (riec")
            && result.contains("the quorum is fg: all of riec, ap, gemeente"),
        "{result}"
    );
    assert_eq!(
        browser
            .eval("return document.getElementById('verify-result').className;")
            .await,
        "bad"
    );

    // A forged cosignature: riec's line altered in what the broker serves. Refused as forged
    // even under a policy that ap's valid cosignature alone would meet (any one of three).
    keep_policy(
        &browser,
        &officer_policy("group fg any riec ap gemeente\nquorum fg\n"),
    )
    .await;
    intercept_checkpoint(
        &browser,
        "async (t) => t.split('\\n').map((l) => { \
           if (!l.startsWith('\\u2014 riec.test/witness ')) return l; \
           const at = '\\u2014 riec.test/witness '.length + 20; \
           return l.slice(0, at) + (l[at] === 'A' ? 'B' : 'A') + l.slice(at + 1); }).join('\\n')",
    )
    .await;
    let result = check(&browser).await;
    assert!(
        result.starts_with(
            "NOT VERIFIED: witness riec (riec.test/witness): the cosignature does not verify — a forged cosignature"
        ),
        "{result}"
    );

    // Clock skew, at the boundary: the page's clock is fixed at `now`; gemeente's cosignature,
    // made in the page with the key the test holds, is dated `now + 300` (counts) or
    // `now + 301` (does not).
    keep_policy(
        &browser,
        &officer_policy("group fg all riec ap gemeente\nquorum fg\n"),
    )
    .await;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let pkcs8 = format!(
        "302e020100300506032b657004220420{}",
        hex::encode(GEMEENTE_SEED)
    );
    let cosign_in_page = |ahead: u64| {
        format!(
            "async (t) => {{ \
               const hex = (h) => Uint8Array.from(h.match(/../g), (x) => parseInt(x, 16)); \
               const k = await crypto.subtle.importKey('pkcs8', hex('{pkcs8}'), {{ name: 'Ed25519' }}, false, ['sign']); \
               const cut = t.lastIndexOf('\\n\\n'); const body = t.slice(0, cut + 1); \
               const ts = {ts}n; \
               const sig = new Uint8Array(await crypto.subtle.sign({{ name: 'Ed25519' }}, k, \
                 new TextEncoder().encode('cosignature/v1\\ntime ' + ts + '\\n' + body))); \
               const raw = new Uint8Array(76); \
               raw.set(hex('{id:08x}'), 0); new DataView(raw.buffer).setBigUint64(4, ts); raw.set(sig, 12); \
               return t + '\\u2014 {GEMEENTE} ' + btoa(String.fromCharCode(...raw)) + '\\n'; }}",
            ts = now + ahead,
            id = gemeente.key_id(),
        )
    };
    browser
        .eval(&format!(
            "window.KpAuditClock.now = () => {}; return true;",
            now * 1000
        ))
        .await;
    intercept_checkpoint(&browser, &cosign_in_page(300)).await;
    let result = check(&browser).await;
    assert!(
        result.starts_with("VERIFIED: ")
            && result.contains("cosigned by 3 of the policy's 3 witnesses")
            && result.contains("gemeente (gemeente.test/witness, at "),
        "{result}"
    );
    intercept_checkpoint(&browser, &cosign_in_page(301)).await;
    let result = check(&browser).await;
    assert!(
        result.starts_with("NOT VERIFIED: the witness quorum is not met: cosigned by 2 of the policy's 3 witnesses")
            && result.contains(
                "not counted, dated more than 300 s ahead of this computer's clock: gemeente (gemeente.test/witness, at "
            ),
        "{result}"
    );

    // Forgetting the policy goes back to not checking cosignatures (and says so).
    browser.click("#witness-forget").await;
    browser
        .wait_for(
            "document.getElementById('witness-summary').textContent.startsWith('no witness policy')",
            "the policy forgotten",
        )
        .await;
    browser.stop();
    b.stop().await;
}
