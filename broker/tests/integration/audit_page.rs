//! The privacy officers' page at `/audit/` in a real browser (chromium headless, driven by
//! chromedriver: see `browser.rs`). The officer opens a link carrying the token in the URL
//! fragment (which never reaches the server), confirms the organisation it names, and the page
//! checks the checkpoint's signature with WebCrypto and lists the officer's entries — all of
//! them, page after page (here pages of one entry, `?limit=1`), with their count, in Amsterdam
//! time, with the registry's names and what each match disclosed.

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
        .sign_in_by_link(&format!("{}/audit/?limit=1#token={officer}", b.base))
        .await;
    let verified = browser
        .wait_for(
            "(document.getElementById('verify-result').textContent.startsWith('VERIFIED') \
             || document.getElementById('verify-result').textContent.startsWith('NOT')) \
             && /match(es)? \\(all of them/.test(document.getElementById('status').textContent) \
             && document.body.innerText",
            "the verification and the entries",
        )
        .await;
    let dom = verified.as_str().unwrap();
    assert!(dom.contains("VERIFIED: signature valid"), "{dom}");
    assert!(
        dom.contains("first check in this browser: this checkpoint is trusted on first use"),
        "{dom}"
    );
    // The whole answer, page by page: as many rows as the API has entries for this officer.
    let status = browser.text("#status").await;
    let (_, api) = b
        .get_json("/v1/audit/review?limit=1000", Some(&officer))
        .await;
    let rows: usize = browser
        .eval("return document.querySelectorAll('#rows tr').length;")
        .await
        .as_u64()
        .unwrap() as usize;
    let count: usize = status.split(' ').next().unwrap().parse().unwrap();
    assert_eq!(rows, count, "{status}");
    assert!(
        count > 1 && status.contains(&format!("read in {count} pages")),
        "{status}"
    );
    // The API read came after the page's walk: it sees the page's reads too, never fewer.
    assert!(
        api["entries"].as_array().unwrap().len() >= count,
        "{status}"
    );
    // Words and times for people.
    assert!(
        dom.contains("Autoschade en -verkoop Almere (autoschade-almere)"),
        "the registry's name beside the id: {dom}"
    );
    assert!(
        dom.contains(" CET") || dom.contains(" CEST"),
        "Amsterdam time with its zone: {dom}"
    );
    assert!(
        dom.contains("1 identifier, 1 hit; asked: hit; given: hit"),
        "what the match disclosed: {dom}"
    );
    // The overview: charts of the entries, each bar linking to its entries.
    let requesters = browser.text("#chart-requesters").await;
    assert!(
        requesters.contains("Requesters with the most disclosures"),
        "{requesters}"
    );
    let bars: u64 = browser
        .eval("return document.querySelectorAll('#chart-requesters .bar').length;")
        .await
        .as_u64()
        .unwrap();
    assert_eq!(bars, 1, "one requester disclosed: dealer C");
    let tip = browser
        .eval("return document.querySelector('#chart-requesters .bar title').textContent;")
        .await;
    assert!(
        tip.as_str()
            .unwrap()
            .starts_with("Autoschade en -verkoop Almere (autoschade-almere): 1"),
        "{tip}"
    );
    assert!(
        browser
            .text("#chart-purpose-week")
            .await
            .contains("Disclosures per purpose per week")
    );
    browser.screenshot("audit-page-overview").await;
    browser.click("#chart-requesters .bar rect").await;
    browser
        .wait_for(
            "document.getElementById('partner').value === 'autoschade-almere' \
             && document.getElementById('operation').value === 'disclose,combine' \
             && /match(es)? \\(all of them/.test(document.getElementById('status').textContent)",
            "the entries behind the bar",
        )
        .await;
    let rows: u64 = browser
        .eval("return document.querySelectorAll('#rows tr').length;")
        .await
        .as_u64()
        .unwrap();
    assert!(rows >= 1);
    assert!(
        browser
            .eval(
                "return [...document.querySelectorAll('#rows tr td:nth-child(3)')] \
                 .every((td) => td.textContent === 'disclose' || td.textContent === 'combine');"
            )
            .await
            .as_bool()
            .unwrap(),
        "only disclosures are listed"
    );
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
