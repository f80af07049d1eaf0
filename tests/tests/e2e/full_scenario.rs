//! The whole Midden-Nederland story through the SDK against an in-process broker over HTTPS,
//! on SQLite and on PostgreSQL, ending with the audit log verified as a partner would.

use crate::common;

use kruispunt_examples::{SCENARIOS, Story};

async fn full_scenario(postgres: Option<String>) {
    let b = common::start(common::Options {
        postgres,
        ..Default::default()
    })
    .await;
    let mut outcomes = Vec::new();
    for name in SCENARIOS {
        let mut story = Story::new(false);
        let o = kruispunt_examples::run(name, &b.env, &mut story)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}\n{}", story.lines().join("\n")));
        outcomes.push(o);
    }
    let [kvo, auto, horeca, police, fg, beeld] = &outcomes[..] else {
        unreachable!()
    };
    assert_eq!((kvo.stored, kvo.disclosures, kvo.refusals), (4, 2, 1));
    assert_eq!((auto.disclosures, auto.refusals), (3, 0));
    assert!(
        auto.stored >= 6 + 100,
        "dealer reports plus the bulk backlog: {auto:?}"
    );
    assert_eq!(
        (horeca.stored, horeca.disclosures, horeca.refusals),
        (4, 2, 1)
    );
    assert_eq!(
        (police.stored, police.disclosures, police.refusals),
        (2, 2, 8)
    );
    assert!(
        fg.disclosures >= 2,
        "the dealer's data were disclosed to a dealer and the police"
    );
    // The picture's data: several hundred subjects in each of the plan's ten district themes,
    // all accepted (the scenario insists on no rejection).
    assert!(beeld.stored >= 10 * 250, "{beeld:?}");
    // Every decision got its own audit entry, in order.
    let seqs: Vec<u64> = outcomes.iter().flat_map(|o| o.audit_seqs.clone()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");

    // Running a scenario again changes nothing: uploads are idempotent by content.
    let mut story = Story::new(false);
    let again = kruispunt_examples::run("kvo_buitengebied", &b.env, &mut story)
        .await
        .expect("second run");
    assert_eq!(again.stored, 0);

    b.publish_checkpoint().await;
    let fg = b
        .env
        .client(
            "autobedrijf-de-vecht",
            "fg.de.vecht",
            &["privacy-officer"],
            None,
        )
        .unwrap();
    let log = kruispunt_examples::verify::verify_log(&fg)
        .await
        .expect("the audit log verifies");
    assert!(
        log.report.size > *seqs.last().unwrap(),
        "the checkpoint covers every decision"
    );
    assert!(
        log.report.entries_checked > 0,
        "the dealer's own entries were recomputed from salt and entry"
    );
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_scenario_on_sqlite() {
    full_scenario(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_scenario_on_postgres() {
    if let Some(url) = common::postgres_url("full_scenario_on_postgres") {
        full_scenario(Some(url)).await;
    }
}
