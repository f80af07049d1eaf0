//! A case's history on one screen (`GET /v1/audit/cases/{reference}`, the audit page's case
//! view; docs/AUDIT.md, "A case's history") and the embargo tied to a case (docs/CASES.md,
//! "Embargoes tied to a case"), on both backends:
//!
//! - a participant's privacy officer reads the case's moves, its consents, the police queries
//!   under it and its channel, in log order, as far as the audit trail's access rules let its
//!   organisation see them (the police see their queries, the RIEC its channel);
//! - an organisation that does not take part — a public body outside the case, or the supplier
//!   whose data a police query under it disclosed, under embargo — gets the answer a case that
//!   does not exist gets, byte for byte, and its own read is recorded alike;
//! - an embargo tied to a case holds past its fixed days while the case is open, ends at the
//!   audited closure, never outlives its latest end, and is not lifted by an operator setting
//!   the case row to `closed` behind the broker's back.

use kruispunt_broker::audit::entry::{AuditEntry, Operation};
use kruispunt_sdk::Pseudonym;
use kruispunt_sdk::cases::{CaseResult, CaseState, CaseStateRequest};
use kruispunt_sdk::coalition::Member;
use kruispunt_sdk::coalition::wire::b64;
use kruispunt_sdk::wire::{IdentifierRef, Level, MatchRequest};
use kruispunt_test_kit::{Broker, now};
use serde_json::{Value, json};

use crate::audit_common::{DEALER_A, OFFICER, behind_the_back, pseudonym, signal};
use crate::cases::{
    ALMERE, OM, OVJ, POLICE, REGISSEUR, RIEC, WPG19, client_of, consent_request, open_request,
    police_query, refusal, scope,
};

const CASE: &str = "MN-2026-0600";
/// A reference nobody registered: what an outsider's guess is compared with.
const GHOST: &str = "MN-2026-0999";
const GROUP: &str = "case.mn-2026-0600";
const CASUS: &str = "politie-casus-riec-midden-nederland";
const DAY: i64 = 86_400;

kruispunt_test_kit::per_backend_tests!(on_broker:
    a_case_history_on_one_screen_on_sqlite, a_case_history_on_one_screen_on_postgres = a_case_history_on_one_screen;
    a_case_history_tells_an_outsider_nothing_on_sqlite, a_case_history_tells_an_outsider_nothing_on_postgres = a_case_history_tells_an_outsider_nothing;
    an_embargo_follows_its_case_on_sqlite, an_embargo_follows_its_case_on_postgres = an_embargo_follows_its_case;
);

/// `GET path` as `org`'s user with `roles`, presenting the organisation's development client
/// certificate when it has one (the police and the OM must: mTLS).
pub(crate) async fn get_as(b: &Broker, org: &str, roles: &[&str], path: &str) -> (u16, Value) {
    let has_cert = b.data_dir().join(format!("tls/clients/{org}.pem")).exists();
    let client = if has_cert {
        b.mtls_client(org)
    } else {
        b.client.clone()
    };
    let resp = client
        .get(format!("{}{path}", b.base))
        .bearer_auth(b.token(org, roles))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

fn history(reference: &str) -> String {
    format!("/v1/audit/cases/{reference}")
}

fn entries(v: &Value) -> &Vec<Value> {
    v["entries"].as_array().unwrap_or_else(|| panic!("{v}"))
}

/// The actions of the lines shown in full, in order.
fn actions(v: &Value) -> Vec<String> {
    entries(v)
        .iter()
        .map(|l| {
            l["entry"]["action"]
                .as_str()
                .unwrap_or("(withheld)")
                .to_string()
        })
        .collect()
}

/// Dealer A supplies the plate GB-001-B to the Wpg art. 19 purpose.
async fn supply(b: &Broker) {
    let mut s = signal("GB-001-B", "cash-car-purchase");
    s["purposes"] = json!([WPG19]);
    let (st, v) = b
        .post(
            "/v1/signals",
            Some(&b.token(DEALER_A, &["compliance"])),
            &json!({ "signals": [s] }),
        )
        .await;
    assert_eq!((st, &v["stored"]), (200, &json!(1)), "{v}");
}

/// A police question about GB-001-B (dealer A's signal).
fn plate_query() -> MatchRequest {
    let mut q = police_query(Level::Hit);
    q.identifiers = vec![IdentifierRef {
        kind: "kenteken".into(),
        pseudonym: pseudonym("GB-001-B"),
        key_version: 1,
    }];
    q
}

/// Case [`CASE`] opened by the RIEC with the police and the OM, under a consent of the OM, and a
/// police query under it that hits dealer A's signal (under embargo). Answers the consent's id.
async fn a_case_with_a_police_hit(b: &Broker) -> String {
    supply(b).await;
    let riec = client_of(b, RIEC, &[REGISSEUR], None);
    let om = client_of(b, OM, &[OVJ], None);
    riec.open_case(&open_request(CASE, &[POLICE, OM]))
        .await
        .unwrap();
    let consent = om.issue_consent(&consent_request(CASE)).await.unwrap();
    let detective = client_of(
        b,
        POLICE,
        &["rechercheur"],
        Some(scope(CASE, &consent.id, 5)),
    );
    let answer = detective.match_identifiers(&plate_query()).await.unwrap();
    assert!(answer.results[0].hit, "{answer:?}");
    consent.id
}

async fn close(b: &Broker, reference: &str) {
    client_of(b, RIEC, &[REGISSEUR], None)
        .move_case(
            reference,
            &CaseStateRequest {
                state: CaseState::Closed,
                intervention: None,
                result: Some(CaseResult::Intervened),
            },
        )
        .await
        .unwrap();
}

/// The whole story: [`a_case_with_a_police_hit`], a second consent issued and withdrawn and a
/// query under it refused, the case's channel registered, the closure, a post to the channel
/// refused after it.
async fn a_case_with_a_history(b: &Broker) {
    a_case_with_a_police_hit(b).await;
    let om = client_of(b, OM, &[OVJ], None);
    let withdrawn = om.issue_consent(&consent_request(CASE)).await.unwrap();
    om.withdraw_consent(&withdrawn.id).await.unwrap();
    let detective = client_of(
        b,
        POLICE,
        &["rechercheur"],
        Some(scope(CASE, &withdrawn.id, 5)),
    );
    assert_eq!(
        refusal(detective.match_identifiers(&plate_query()).await).0,
        "consent-withdrawn"
    );
    let riec = b.token(RIEC, &[REGISSEUR]);
    let info = Member::new(RIEC, None)
        .unwrap()
        .create_group(GROUP)
        .unwrap();
    let (st, v) = b
        .post(
            "/v1/mls/groups",
            &riec,
            &json!({
                "group_id": GROUP, "kind": "case", "coalition": CASUS, "case_reference": CASE,
                "group_info": b64(&info),
            }),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    close(b, CASE).await;
    let (st, v) = b
        .post(
            &format!("/v1/mls/groups/{GROUP}/messages"),
            &riec,
            &json!({ "message": b64(b"after the closure") }),
        )
        .await;
    assert_eq!(st, 403, "{v}");
    assert!(
        v["type"].as_str().unwrap().ends_with("case-channel-closed"),
        "{v}"
    );
}

async fn a_case_history_on_one_screen(b: &Broker) {
    a_case_with_a_history(b).await;

    // The police's privacy officer: the case's moves and consents (the police take part), and
    // its own queries under the case, allowed and refused, in the order they happened.
    let (st, v) = get_as(b, POLICE, &[OFFICER], &history(CASE)).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["case"]["reference"], CASE, "{v}");
    assert_eq!(v["case"]["state"], "closed", "{v}");
    assert_eq!(
        actions(&v),
        [
            "case.open",
            "consent.issue",
            "match",
            "consent.issue",
            "consent.withdraw",
            "match",
            "case.state",
        ],
        "{v}"
    );
    let lines = entries(&v);
    let indices: Vec<u64> = lines.iter().map(|l| l["index"].as_u64().unwrap()).collect();
    assert!(indices.windows(2).all(|w| w[0] < w[1]), "{indices:?}");
    assert_eq!(lines[2]["entry"]["decision"], "allow");
    assert_eq!(lines[2]["entry"]["source_orgs"], json!([DEALER_A]));
    assert_eq!(lines[5]["entry"]["reasons"], json!(["consent_withdrawn"]));
    assert_eq!(lines[6]["entry"]["detail"]["to"], "closed");
    assert_eq!(lines[6]["entry"]["detail"]["channels"], json!([GROUP]));
    assert!(v["next"].is_null(), "{v}");

    // The RIEC's: the moves, the consents and its channel — registered, ended by the closure,
    // a post refused after it — but not the police's queries, which do not concern it.
    let (st, v) = get_as(b, RIEC, &[OFFICER], &history(CASE)).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(
        actions(&v),
        [
            "case.open",
            "consent.issue",
            "consent.issue",
            "consent.withdraw",
            "mls.group.create",
            "case.state",
            "mls.message.refused",
        ],
        "{v}"
    );
    let refused = &entries(&v)[6]["entry"];
    assert_eq!(refused["reasons"], json!(["case_closed"]), "{v}");
    assert_eq!(refused["detail"]["group"], GROUP, "{v}");

    // Pages: one entry at a time, the walk bounded by the first page's tree size, the same
    // lines as one page.
    let mut walked = Vec::new();
    let (mut after, mut before): (Option<u64>, Option<u64>) = (None, None);
    loop {
        let mut path = format!("{}?limit=1", history(CASE));
        if let (Some(a), Some(t)) = (after, before) {
            path += &format!("&after={a}&before={t}");
        }
        let (st, page) = get_as(b, RIEC, &[OFFICER], &path).await;
        assert_eq!(st, 200, "{page}");
        before = before.or(page["tree_size"].as_u64());
        walked.extend(entries(&page).iter().map(|l| l["index"].clone()));
        match page["next"].as_u64() {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    let whole: Vec<Value> = entries(&v).iter().map(|l| l["index"].clone()).collect();
    assert_eq!(walked, whole);

    // CSV: a header and one row per line.
    let resp = b
        .get(
            &format!("{}?format=csv", history(CASE)),
            Some(&b.token(RIEC, &[OFFICER])),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let csv = resp.text().await.unwrap();
    assert_eq!(csv.lines().count(), 1 + whole.len(), "{csv}");

    // Bad input: a specific problem, nothing read.
    let (st, v) = get_as(b, RIEC, &[OFFICER], &format!("{}?limit=0", history(CASE))).await;
    assert_eq!(st, 400, "{v}");
    let (st, v) = get_as(
        b,
        RIEC,
        &[OFFICER],
        &format!("{}?colour=red", history(CASE)),
    )
    .await;
    assert_eq!(st, 400, "{v}");
}

/// An entry's `detail` without the token id (`jti`), which differs per token.
fn detail_without_jti(e: &AuditEntry) -> Value {
    let mut d = e.detail.clone();
    if let Some(m) = d.as_object_mut() {
        m.remove("jti");
    }
    d
}

async fn a_case_history_tells_an_outsider_nothing(b: &Broker) {
    a_case_with_a_history(b).await;

    // A public body outside the case, and the supplier whose data the police received under
    // it: the registered case answers exactly as a reference nobody registered — status, type,
    // title, detail — and each read is recorded alike, in the reader's own trail.
    for org in [ALMERE, DEALER_A] {
        let (real_status, real) = get_as(b, org, &[OFFICER], &history(CASE)).await;
        let (ghost_status, ghost) = get_as(b, org, &[OFFICER], &history(GHOST)).await;
        assert_eq!(
            (real_status, ghost_status),
            (404, 404),
            "{org}: {real} {ghost}"
        );
        assert_eq!(
            real.to_string().replace(CASE, "REF"),
            ghost.to_string().replace(GHOST, "REF"),
            "{org}"
        );
        let reads: Vec<AuditEntry> = b
            .audit_of("audit.read")
            .await
            .into_iter()
            .filter(|e| e.actor_org.as_deref() == Some(org))
            .collect();
        let [.., real_read, ghost_read] = reads.as_slice() else {
            panic!("{org}: {reads:?}")
        };
        assert_eq!(real_read.detail["case"], CASE);
        assert_eq!(
            detail_without_jti(real_read)
                .to_string()
                .replace(CASE, "REF"),
            detail_without_jti(ghost_read)
                .to_string()
                .replace(GHOST, "REF"),
        );
        assert_eq!(real_read.case_reference, None, "the read names no case");
    }

    // The supplier's review still shows the police disclosure of its data as the embargo
    // summary only, and no filter on the case finds it.
    let (_, v) = get_as(
        b,
        DEALER_A,
        &[OFFICER],
        "/v1/audit/review?operation=disclose,combine",
    )
    .await;
    let police: Vec<&Value> = entries(&v)
        .iter()
        .filter(|l| l["withheld"] == "embargo")
        .collect();
    assert_eq!(police.len(), 1, "{v}");
    assert!(police[0].get("entry").is_none(), "{v}");
    let (_, v) = get_as(
        b,
        DEALER_A,
        &[OFFICER],
        &format!("/v1/audit/review?case={CASE}"),
    )
    .await;
    assert!(entries(&v).is_empty(), "{v}");

    // A participant's user without the privacy officer's role: 403, audited.
    let before = b.audit_of("audit.read").await.len();
    let (st, v) = get_as(b, RIEC, &[REGISSEUR], &history(CASE)).await;
    assert_eq!(st, 403, "{v}");
    assert!(
        v["type"].as_str().unwrap().ends_with("policy-denied"),
        "{v}"
    );
    let reads = b.audit_of("audit.read").await;
    assert_eq!(reads.len(), before + 1);
    assert_eq!(reads.last().unwrap().operation, Operation::Refuse);

    // A reference that is not well formed: not found, and not recorded as asked.
    let (st, v) = get_as(b, RIEC, &[OFFICER], &history("MN%202026")).await;
    assert_eq!(st, 404, "{v}");
    let last = b.audit_of("audit.read").await.pop().unwrap();
    assert_eq!(last.detail["case"], Value::Null, "{last:?}");
}

/// A police disclosure of dealer A's data about the plate (`at_rest`, the broker's form of its
/// pseudonym) under case `case`, as the broker records one, with the fixed end `until` and the
/// latest end `latest` of its embargo (none: an entry of before, not tied to its case).
fn tied_disclosure(at_rest: &str, case: &str, until: i64, latest: Option<i64>) -> AuditEntry {
    let mut e = AuditEntry::new(
        kruispunt_broker::civil::now_millis(),
        Operation::Disclose,
        "match",
    );
    e.actor_org = Some(POLICE.into());
    e.actor_user = Some(format!("rechercheur@{POLICE}"));
    e.recipients = vec![POLICE.into()];
    e.source_orgs = vec![DEALER_A.into()];
    e.purpose = Some(WPG19.into());
    e.legal_basis = Some("wpg-art-19".into());
    e.case_reference = Some(case.into());
    e.decision = Some("allow".into());
    e.pseudonyms = vec![at_rest.into()];
    e.detail = match latest {
        Some(latest) => json!({
            "hits": 1, "embargo_until": until, "embargo_case": case, "embargo_max_until": latest,
        }),
        None => json!({ "hits": 1, "embargo_until": until }),
    };
    e
}

/// What dealer A's privacy officer sees of the police's disclosures of its data, by case
/// reference and fixed end: `Some(embargo_until)` for an embargo summary, `None` in full.
async fn supplier_view(b: &Broker) -> Vec<Option<i64>> {
    let (st, v) = get_as(
        b,
        DEALER_A,
        &[OFFICER],
        "/v1/audit/review?operation=disclose,combine",
    )
    .await;
    assert_eq!(st, 200, "{v}");
    entries(&v)
        .iter()
        .map(|l| match l["withheld"].as_str() {
            Some("embargo") => Some(l["embargo_until"].as_i64().unwrap()),
            None => None,
            Some(other) => panic!("{other}: {l}"),
        })
        .collect()
}

async fn an_embargo_follows_its_case(b: &Broker) {
    a_case_with_a_police_hit(b).await;
    // The query recorded its embargo tied to the case: the fixed end (30 days) and the latest
    // end (the purpose's retention, 365 days), both from the query time.
    let query = b
        .audit_of("match")
        .await
        .into_iter()
        .rfind(|e| e.decision.as_deref() == Some("allow"))
        .unwrap();
    let fixed = query.detail["embargo_until"].as_i64().unwrap();
    let latest = query.detail["embargo_max_until"].as_i64().unwrap();
    assert_eq!(query.detail["embargo_case"], CASE, "{:?}", query.detail);
    assert_eq!(latest - fixed, (365 - 30) * DAY, "{:?}", query.detail);
    // The supplier is shown the latest end from the start, not the fixed one: the summary
    // tells nothing of the case's progress.
    assert_eq!(supplier_view(b).await, [Some(latest)]);

    // Disclosures whose fixed days are over: tied to the open case (held), tied to a case
    // nobody registered (held), tied to the open case but past their latest end (shown: an
    // embargo ends), and one of before (no case named: its fixed end, shown).
    let t = now();
    let st = b.state();
    let plate = Pseudonym::from_hex(&pseudonym("GB-001-B")).unwrap();
    let at_rest = hex::encode(st.keys.at_rest(plate.as_bytes()));
    st.store
        .audit()
        .append_audit(&[
            tied_disclosure(&at_rest, CASE, t - 1, Some(t + DAY)),
            tied_disclosure(&at_rest, GHOST, t - 1, Some(t + DAY)),
            tied_disclosure(&at_rest, CASE, t - 2 * DAY, Some(t - 1)),
            tied_disclosure(&at_rest, CASE, t - 1, None),
        ])
        .await
        .unwrap();
    b.sync().await;
    let open = [Some(latest), Some(t + DAY), Some(t + DAY), None, None];
    assert_eq!(supplier_view(b).await, open);

    // An operator sets the case row to closed behind the broker's back — without the closing
    // entry, then pointing at another entry of the case: no embargo ends.
    let dir = b.data_dir();
    behind_the_back(
        dir,
        &format!("UPDATE cases SET state = 'closed' WHERE reference = '{CASE}'"),
        None,
    )
    .await;
    assert_eq!(supplier_view(b).await, open);
    let opened = b.audit_of("case.open").await.len();
    assert_eq!(opened, 1);
    let seq_of_open = b
        .audit()
        .await
        .iter()
        .position(|e| e.action == "case.open")
        .unwrap();
    behind_the_back(
        dir,
        &format!("UPDATE cases SET closed_seq = {seq_of_open} WHERE reference = '{CASE}'"),
        None,
    )
    .await;
    assert_eq!(supplier_view(b).await, open);
    behind_the_back(
        dir,
        &format!("UPDATE cases SET state = 'open', closed_seq = NULL WHERE reference = '{CASE}'"),
        None,
    )
    .await;

    // The audited closure ends the embargo whose fixed days are over; the query's own, whose
    // fixed end is still ahead, holds until then (shown with its latest end, as before); the
    // one tied to the unregistered case holds.
    close(b, CASE).await;
    assert_eq!(
        supplier_view(b).await,
        [Some(latest), None, Some(t + DAY), None, None]
    );
    // The disclosure accounting of the plate lists exactly the disclosures shown in full: the
    // three under the closed case whose embargo ended, not the query's (fixed end ahead) nor
    // the one tied to the unregistered case.
    let (status, v) = get_as(
        b,
        DEALER_A,
        &[OFFICER],
        &format!("/v1/audit/disclosures?pseudonym={}", pseudonym("GB-001-B")),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    let listed: Vec<(Value, Value)> = entries(&v)
        .iter()
        .map(|l| {
            let e = &l["entry"];
            (
                e["case_reference"].clone(),
                e["detail"]["embargo_until"].clone(),
            )
        })
        .collect();
    assert_eq!(
        listed,
        [
            (json!(CASE), json!(t - 1)),
            (json!(CASE), json!(t - 2 * DAY)),
            (json!(CASE), json!(t - 1)),
        ],
        "{v}"
    );
}

/// The audit page's case view in chromium: the RIEC's privacy officer types the reference and
/// sees the case and its history in words, in time order — a consent's expiry at its
/// `valid_until` among them (the page's clock moved two days on) — and the entries' rows; a
/// reference nobody registered shows the refusal and no case.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_case_history_in_chromium() {
    let Some(browser) = crate::browser::Browser::start("the audit page's case view").await else {
        return;
    };
    let b = Broker::start(None).await;
    a_case_with_a_history(&b).await;
    b.sync().await;
    let officer = b.token(RIEC, &[OFFICER]);
    browser
        .sign_in_by_link(&format!("{}/audit/#token={officer}", b.base))
        .await;
    browser
        .wait_for(
            "/match(es)? \\(all of them/.test(document.getElementById('status').textContent)",
            "the first review",
        )
        .await;
    browser
        .eval("window.KpAuditClock.now = () => Date.now() + 2 * 86400000; return true;")
        .await;
    browser.type_into("#case-ref", CASE).await;
    browser.click("#case-history").await;
    browser
        .wait_for(
            "/in the history of case/.test(document.getElementById('status').textContent)",
            "the case's history",
        )
        .await;
    let (_, api) = get_as(&b, RIEC, &[OFFICER], &history(CASE)).await;
    let shown = entries(&api).len();
    assert_eq!(shown, 7, "{api}");
    assert_eq!(
        browser.text("#status").await,
        format!("{shown} entries in the history of case {CASE}")
    );
    assert_eq!(
        browser.text("#case-title").await,
        format!("Case {CASE}: closed")
    );
    let facts = browser.text("#case-facts").await;
    assert!(
        facts.contains("Gemeente GM0344") && facts.contains("result intervened"),
        "{facts}"
    );
    let timeline: Vec<String> = serde_json::from_value(
        browser
            .eval(
                "return [...document.querySelectorAll('#case-timeline li')].map((li) => li.textContent);",
            )
            .await,
    )
    .unwrap();
    // Every entry in words, and the one consent not withdrawn expired after them all.
    assert_eq!(timeline.len(), shown + 1, "{timeline:#?}");
    let said = |i: usize, words: &[&str]| {
        assert!(
            words.iter().all(|w| timeline[i].contains(w)),
            "line {i} should say {words:?}: {timeline:#?}"
        );
    };
    said(
        0,
        &[
            "Case registered by",
            "gemeente GM0344",
            "criminele-families",
        ],
    );
    said(1, &["Consent ovj-", "issued by", "valid until"]);
    said(2, &["Consent ovj-", "issued by"]);
    said(3, &["Consent ovj-", "withdrawn by"]);
    let registered = format!("Channel {GROUP} registered by");
    let ends = format!("its channels end: {GROUP}");
    let post = format!("Channel {GROUP}: a post by");
    said(4, &[registered.as_str()]);
    said(
        5,
        &["from open to closed", "result: intervened", ends.as_str()],
    );
    said(6, &[post.as_str(), "refused (case_closed)"]);
    said(7, &["Consent ovj-", "expired"]);
    let consent_in = |line: &str| {
        let at = line.find("ovj-").unwrap();
        line[at..at + 36].to_string()
    };
    let withdrawn = consent_in(&timeline[3]);
    assert_eq!(consent_in(&timeline[2]), withdrawn, "{timeline:#?}");
    assert_eq!(consent_in(&timeline[7]), consent_in(&timeline[1]));
    assert!(
        !timeline[7].contains(&withdrawn),
        "the withdrawn consent does not expire: {timeline:#?}"
    );
    assert!(
        timeline
            .iter()
            .all(|l| l.contains(" CET —") || l.contains(" CEST —")),
        "Amsterdam time: {timeline:#?}"
    );
    let rows = browser
        .eval("return document.querySelectorAll('#rows tr').length;")
        .await;
    assert_eq!(rows, json!(shown));
    browser.screenshot("audit-page-case-history").await;

    // A reference nobody registered: the refusal, no case shown.
    browser
        .eval("document.getElementById('case-ref').value = ''; return true;")
        .await;
    browser.type_into("#case-ref", GHOST).await;
    browser.click("#case-history").await;
    let status = browser
        .wait_for(
            "document.getElementById('status').textContent.startsWith('Case history failed') \
             && document.getElementById('status').textContent",
            "the refusal",
        )
        .await;
    assert!(status.as_str().unwrap().contains(GHOST), "{status}");
    assert_eq!(
        browser
            .eval("return document.getElementById('case-view').hidden;")
            .await,
        json!(true)
    );
    browser.stop();
    b.stop().await;
}
