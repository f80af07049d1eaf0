//! The ondermijningsbeeld's readers against a real broker with real signals: `kruispunt beeld`
//! (table and CSV) and the `/beeld/` page in chromium (see `browser.rs`). Three organisations
//! of Utrecht-Stad signal enough distinct subjects in that district under the theme horeca for
//! the cell to be released; three subjects under vastgoed stay below k and must be shown as
//! "< k", never as a number. The heat map is asked per district; the page's local picture per
//! gemeente (Utrecht, GM0344, where every signal lies). What the readers show is compared with what the API answers
//! for the same question from the same snapshot (a repeat, which spends no budget).

use kruispunt_sdk::{CoalitionKey, IdentifierKind};
use serde_json::{Value, json};

use crate::audit_common::{Broker, kruispunt, now};
use crate::browser::Browser;

const ANALYST_ORG: &str = "riec-midden-nederland";
const DISTRICT: &str = "utrecht-stad";
/// Utrecht, in Utrecht-Stad: the gemeente of every signal, for the local picture.
const GEMEENTE: &str = "GM0344";
/// The suppliers: three sectors of Utrecht-Stad.
const SUPPLIERS: [(&str, &str); 3] = [
    ("horeca-utrecht", "signaleerder"),
    ("gemeente-utrecht", "signaleerder"),
    ("riec-midden-nederland", "signaleerder"),
];
/// Distinct subjects each supplier signals under horeca (3 × 12 = 36 ≥ k).
const HORECA_PER_SUPPLIER: usize = 12;

fn pseudonym(kvk: usize) -> String {
    CoalitionKey::new([9u8; 32], 1)
        .pseudonymiser(IdentifierKind::Kvk)
        .pseudonymise(&format!("{:08}", 10_000_000 + kvk))
        .unwrap()
        .to_hex()
}

fn signal(kvk: usize, code: &str, observed: &str) -> Value {
    json!({
        "kind": "kvk", "pseudonym": pseudonym(kvk), "key_version": 1, "code": code,
        "observed": observed, "district": DISTRICT, "gemeente": GEMEENTE,
        "purposes": ["ondermijningsbeeld"]
    })
}

/// Uploads the picture's signals: 36 horeca subjects from three organisations, three vastgoed
/// subjects from one. Answers the observation day used.
async fn fill(b: &Broker) -> String {
    let observed = kruispunt_broker::civil::format_date(now() / 86_400 - 2);
    for (i, (org, role)) in SUPPLIERS.iter().enumerate() {
        let mut batch: Vec<Value> = (0..HORECA_PER_SUPPLIER)
            .map(|n| signal(i * 100 + n, "cash-loan-offer", &observed))
            .collect();
        if i == 0 {
            batch.extend((0..3).map(|n| signal(900 + n, "abc-transaction", &observed)));
        }
        let t = b.token(org, &[role]);
        let (st, v) = b
            .post("/v1/signals", Some(&t), &json!({ "signals": batch }))
            .await;
        assert_eq!(st, 200, "{v}");
        assert_eq!(v["rejected"], json!(0), "{org}: {v}");
    }
    observed
}

/// The heat map's question, as the page asks it (the period is the page's default).
fn heat_map_question(from: &str, to: &str) -> Value {
    json!({
        "purpose": "ondermijningsbeeld", "measure": "subjects",
        "group_by": ["district", "theme"], "from": from, "to": to
    })
}

/// Asks `question` as `token` until the answer's snapshot holds the uploads (the horeca cell is
/// released); answers it.
async fn released(b: &Broker, token: &str, question: &Value) -> Value {
    for _ in 0..600 {
        let (st, v) = b.post("/v1/aggregates", Some(token), question).await;
        assert_eq!(st, 200, "{v}");
        if cell(&v, "horeca")["suppressed"] == json!(false) {
            return v;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    panic!("no snapshot released the horeca cell");
}

/// The cell of Utrecht-Stad × `theme` in an answer.
fn cell<'a>(answer: &'a Value, theme: &str) -> &'a Value {
    answer["cells"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["district"] == DISTRICT && c["theme"] == theme)
        .unwrap_or(&Value::Null)
}

/// The twelve calendar months up to today, as the page and the CLI default to.
fn default_period() -> (String, String) {
    let today = now() / 86_400;
    let (y, m, _) = kruispunt_broker::civil::civil_from_days(today);
    let months = y * 12 + i64::from(m) - 1 - 11;
    let from = kruispunt_broker::civil::days_from_civil(
        months.div_euclid(12),
        u32::try_from(months.rem_euclid(12) + 1).unwrap(),
        1,
    );
    (
        kruispunt_broker::civil::format_date(from),
        kruispunt_broker::civil::format_date(today),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kruispunt_beeld_prints_and_writes_the_released_picture_with_markers() {
    let b = Broker::start(None).await;
    fill(&b).await;
    let t = b.token(ANALYST_ORG, &["analist"]);
    let (from, to) = default_period();
    let api = released(&b, &t, &heat_map_question(&from, &to)).await;
    assert_eq!(cell(&api, "vastgoed")["reason"], "below_k", "{api}");
    let k = api["k"].as_u64().unwrap();

    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("beeld.csv");
    let base = |extra: &[&str]| {
        let mut args: Vec<String> = [
            "beeld",
            "--url",
            &b.base,
            "--ca",
            &b.ca_path.display().to_string(),
            "--token",
            &t,
            "--group-by",
            "district,theme",
        ]
        .iter()
        .map(ToString::to_string)
        .collect();
        args.extend(extra.iter().map(ToString::to_string));
        args
    };
    // The CLI's answer and the API's repeat of the same question (no budget spent) from one
    // snapshot must agree; run again when a snapshot was published in between.
    let row = |text: &str, theme: &str| {
        text.lines()
            .find(|l| l.starts_with(DISTRICT) && l.split_whitespace().nth(1) == Some(theme))
            .map(|l| l.split_whitespace().skip(2).collect::<Vec<_>>().join(" "))
    };
    let field_of = |text: &str, theme: &str| {
        text.split("\r\n")
            .find(|l| l.starts_with(&format!("cell,{DISTRICT},{theme},")))
            .map(|l| l.split(',').map(str::to_string).collect::<Vec<_>>())
    };
    let mut checked = (false, false);
    for _ in 0..20 {
        let (ok, table) = kruispunt(&base(&[]));
        assert!(ok, "{table}");
        let (ok, out) = kruispunt(&base(&["--csv", &csv.display().to_string()]));
        assert!(ok, "{out}");
        let text = std::fs::read_to_string(&csv).unwrap();
        let (st, api) = b
            .post("/v1/aggregates", Some(&t), &heat_map_question(&from, &to))
            .await;
        assert_eq!(st, 200, "{api}");
        let snapshot = format!("snapshot {} ", api["snapshot"]["id"]);
        let value = cell(&api, "horeca")["value"].as_u64().unwrap().to_string();
        if table.contains(&snapshot) {
            assert_eq!(row(&table, "horeca"), Some(value.clone()), "{table}");
            assert_eq!(row(&table, "vastgoed"), Some(format!("< {k}")), "{table}");
            assert!(table.contains("; audit entry #"), "{table}");
            checked.0 = true;
        }
        if out.contains(&snapshot) {
            assert_eq!(
                text.split("\r\n").next(),
                Some("row,district,theme,value,shown,suppressed,reason"),
                "{text}"
            );
            let horeca_row = field_of(&text, "horeca").expect("the horeca row");
            assert_eq!(
                horeca_row[3..],
                [value.clone(), value, "false".into(), String::new()],
                "{text}"
            );
            let vastgoed_row = field_of(&text, "vastgoed").expect("the vastgoed row");
            assert_eq!(
                vastgoed_row[3..],
                [
                    String::new(),
                    format!("< {k}"),
                    "true".into(),
                    "below_k".into()
                ],
                "{text}"
            );
            checked.1 = true;
        }
        if checked == (true, true) {
            break;
        }
    }
    assert_eq!(checked, (true, true), "no run matched the API's snapshot");
    // A bad flag names the flag and the rule, and asks nothing.
    let asked = b.audit().await.len();
    // (`--group-by` accumulates: district,theme,gemeente.)
    let (ok, out) = kruispunt(&base(&["--group-by", "gemeente"]));
    assert!(!ok);
    assert!(out.contains("--group-by: at most one area"), "{out}");
    let (ok, out) = kruispunt(&base(&["--from", "2026-13-01"]));
    assert!(!ok);
    assert!(
        out.contains("--from") && out.contains("YYYY-MM-DD"),
        "{out}"
    );
    assert_eq!(b.audit().await.len(), asked);
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_beeld_page_draws_the_heat_map_from_real_data_in_chromium() {
    let Some(browser) = Browser::start("the beeld page").await else {
        return;
    };
    let b = Broker::start(None).await;
    // The page itself: no external resources, no inline script or style.
    let resp = b.get("/beeld/", None::<&str>).await;
    let csp = resp.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        csp.contains("default-src 'none'")
            && csp.contains("script-src 'self'")
            && csp.contains("style-src 'self'")
            && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    let html = resp.text().await.unwrap();
    assert!(!html.contains("http://") && !html.contains("https://"));

    fill(&b).await;
    let t = b.token(ANALYST_ORG, &["analist"]);
    let (from, to) = default_period();
    let question = heat_map_question(&from, &to);
    released(&b, &t, &question).await;

    browser.open(&format!("{}/beeld/#token={t}", b.base)).await;
    browser.click("#signin-accept").await;
    browser
        .wait_for(
            "document.getElementById('signin-who').innerText.includes('of riec-midden-nederland')",
            "the analyst signed in",
        )
        .await;
    browser
        .eval("document.getElementById('area').value = 'district'; return true;")
        .await;
    // Draw until the page's answer and the API's repeat come from one snapshot.
    let mut checked = false;
    for _ in 0..20 {
        browser.click("#draw-map").await;
        let drawn = browser
            .wait_for(
                "document.querySelector('#map td[data-row=\"utrecht-stad\"][data-col=\"horeca\"]') \
                 && document.getElementById('snapshot').textContent",
                "the heat map",
            )
            .await;
        let (st, api) = b.post("/v1/aggregates", Some(&t), &question).await;
        assert_eq!(st, 200, "{api}");
        let snapshot = format!("snapshot #{} ", api["snapshot"]["id"]);
        if !drawn.as_str().unwrap().contains(&snapshot) {
            continue; // a snapshot was published in between: ask again
        }
        let horeca = browser
            .text("#map td[data-row=\"utrecht-stad\"][data-col=\"horeca\"]")
            .await;
        assert_eq!(
            horeca,
            cell(&api, "horeca")["value"].as_u64().unwrap().to_string()
        );
        let vastgoed = browser
            .eval(
                "const td = document.querySelector('#map td[data-row=\"utrecht-stad\"][data-col=\"vastgoed\"]'); \
                 return [td.innerText, td.className];",
            )
            .await;
        assert_eq!(vastgoed, json!([format!("< {}", api["k"]), "suppressed"]));
        // The row names the district as the registry does, its code beside the name.
        let header = browser
            .eval(
                "const td = document.querySelector('#map td[data-row=\"utrecht-stad\"]'); \
                 return td.parentElement.querySelector('th').innerText;",
            )
            .await;
        assert_eq!(
            api["area_names"]["utrecht-stad"], "Utrecht-Stad",
            "the API names the area: {api}"
        );
        assert_eq!(header, "Utrecht-Stad utrecht-stad", "the row header");
        let left = browser
            .eval("return document.getElementById('budget').dataset.epsilonLeft;")
            .await;
        let expected = api["epsilon_left"].as_f64().unwrap();
        assert!(
            (left.as_str().unwrap().parse::<f64>().unwrap() - expected).abs() < 1e-3,
            "{left} vs {expected}"
        );
        assert!(
            browser
                .text("#budget")
                .await
                .starts_with("ε left this month: "),
            "{}",
            browser.text("#budget").await
        );
        checked = true;
        break;
    }
    assert!(checked, "no two consecutive answers came from one snapshot");

    // The local picture of Utrecht, and its print view: only the sheet is printed.
    browser
        .eval(&format!(
            "document.getElementById('local-gemeente').value = '{GEMEENTE}'; return true;"
        ))
        .await;
    browser.click("#draw-local").await;
    let sheet = browser
        .wait_for(
            "document.querySelector('article.local-sheet') \
             && document.querySelector('article.local-sheet').innerText",
            "the local picture",
        )
        .await;
    let sheet = sheet.as_str().unwrap();
    assert!(
        sheet.starts_with("Lokaal ondermijningsbeeld Utrecht (GM0344)"),
        "{sheet}"
    );
    assert!(
        sheet.contains("by user@riec-midden-nederland of riec-midden-nederland"),
        "{sheet}"
    );
    let local = browser
        .eval(
            "const td = (t) => document.querySelector('.local-table td[data-theme=\"' + t + '\"]'); \
             return [td('horeca').className, td('vastgoed').innerText];",
        )
        .await;
    assert_eq!(local[0], "released", "{local}");
    assert_eq!(local[1], "< 10", "{local}");
    browser.emulate_media("print").await;
    let shown = browser
        .eval(
            "const on = (q) => getComputedStyle(document.querySelector(q)).display !== 'none'; \
             return [on('#map-section'), on('#signin'), on('article.local-sheet')];",
        )
        .await;
    assert_eq!(shown, json!([false, false, true]), "print view");
    browser.emulate_media("").await;

    // Another user signs in (a dealer, a supplier the purpose does not let ask): the analyst's
    // picture is gone from the screen, and the dealer's question is refused with the reason.
    let dealer = b.token("autobedrijf-de-vecht", &["compliance"]);
    browser.type_into("#signin-token", &dealer).await;
    browser.click("#signin-go").await;
    browser
        .wait_for(
            "document.getElementById('signin-who').innerText.includes('of autobedrijf-de-vecht')",
            "the dealer signed in",
        )
        .await;
    assert_eq!(
        browser.text("#map").await,
        "",
        "the analyst's heat map stays"
    );
    assert!(
        browser
            .text("#budget")
            .await
            .contains("known after the first question")
    );
    browser.click("#draw-map").await;
    let refused = browser
        .wait_for(
            "document.getElementById('status').textContent.includes('refused') \
             && document.getElementById('status').textContent",
            "the refusal",
        )
        .await;
    let refused = refused.as_str().unwrap();
    assert!(refused.starts_with("Heat map refused: "), "{refused}");
    assert!(
        refused.contains('['),
        "the reason codes are shown: {refused}"
    );
    assert_eq!(browser.text("#map").await, "");
    browser.stop();
    b.stop().await;
}
