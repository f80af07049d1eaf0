//! `kruispunt audit subject`: a privacy officer asks for one person's disclosure history from
//! the organisation's own machine. The value is pseudonymised by the CLI with the coalition key;
//! only the pseudonym reaches the broker (and its audit entry), and the answer is the same
//! disclosure accounting the API gives.

use crate::audit_common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_history_of_one_plate_pseudonymised_locally() {
    let b = Broker::start(None).await;
    b.traffic().await;
    b.sync().await;
    let officer = b.token(DEALER_A, &[OFFICER]);
    let args = |value: &str, extra: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = [
            "audit",
            "subject",
            "--type",
            "kenteken",
            value,
            "--key-hex",
            &"07".repeat(32),
            "--url",
            &b.base,
            "--token",
            &officer,
            "--ca",
            &b.ca_path.display().to_string(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    // Written as a person would (lower case, spaces): normalised before pseudonymising.
    let a = args("gb 001 b", &[]);
    let (ok, out) = tokio::task::spawn_blocking(move || kruispunt(&a))
        .await
        .unwrap();
    assert!(ok, "{out}");
    assert!(out.contains("combine"), "{out}");
    assert!(
        out.contains("by autoschade-almere (user@autoschade-almere)"),
        "{out}"
    );
    assert!(out.contains(&format!("for {PURPOSE}")), "{out}");
    assert!(out.contains(" CET") || out.contains(" CEST"), "{out}");
    assert!(out.trim_end().ends_with("1 disclosure."), "{out}");
    assert!(
        !out.to_uppercase().contains("GB-001-B") && !out.contains("GB001B"),
        "{out}"
    );
    // The broker saw the pseudonym only: the read's entry names it, the clear value nowhere.
    let reads = b.audit_of("audit.read").await;
    let last = reads.last().unwrap();
    assert_eq!(last.actor_org.as_deref(), Some(DEALER_A));
    assert_eq!(last.pseudonyms.len(), 1);
    let audit_text = format!("{reads:?}");
    assert!(!audit_text.contains("GB-001-B") && !audit_text.contains("gb 001 b"));

    // A plate nobody asked about; a value that is no plate at all.
    let a = args("99-XX-99", &[]);
    let (ok, out) = tokio::task::spawn_blocking(move || kruispunt(&a))
        .await
        .unwrap();
    assert!(
        ok && out.trim_end().ends_with("No disclosure recorded."),
        "{out}"
    );
    let a = args("not a plate!", &[]);
    let (ok, out) = tokio::task::spawn_blocking(move || kruispunt(&a))
        .await
        .unwrap();
    assert!(!ok && out.contains("VALUE: not a valid kenteken"), "{out}");
    b.stop().await;
}

/// `kruispunt audit verify` says what it checked in words a privacy officer reads, with the
/// newest readable entry's Amsterdam time; against a development broker without `--ca` it
/// says what to pass instead of only a TLS error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_speaks_plainly_and_names_the_missing_ca() {
    let b = Broker::start(None).await;
    b.traffic().await;
    b.sync().await;
    let officer = b.token(DEALER_C, &[OFFICER]);
    let base = |with_ca: bool| {
        let mut v: Vec<String> = ["audit", "verify", "--url", &b.base, "--token", &officer]
            .iter()
            .map(|s| s.to_string())
            .collect();
        if with_ca {
            v.extend(["--ca".to_string(), b.ca_path.display().to_string()]);
        }
        v
    };
    let a = base(false);
    let (ok, out) = tokio::task::spawn_blocking(move || kruispunt(&a))
        .await
        .unwrap();
    assert!(!ok, "{out}");
    assert!(out.contains("pass --ca"), "{out}");
    let a = base(true);
    let (ok, out) = tokio::task::spawn_blocking(move || kruispunt(&a))
        .await
        .unwrap();
    assert!(ok, "{out}");
    assert!(out.contains("What this means: the checkpoint carries the broker's valid signature"));
    assert!(
        out.contains("the newest entry you can read was recorded ")
            && (out.contains(" CET") || out.contains(" CEST")),
        "{out}"
    );
    b.stop().await;
}
