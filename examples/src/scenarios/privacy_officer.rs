//! The privacy officer (FG) of Autobedrijf De Vecht: verifies that the audit log is complete
//! and signed, lists the disclosures that concern the organisation, and answers a data-subject
//! request about one plate.

use std::collections::BTreeSet;

use kruispunt_sdk::IdentifierKind::Kenteken;
use kruispunt_sdk::civil::amsterdam;
use kruispunt_sdk::client::VerifiedLog;
use kruispunt_sdk::transparency::{AuditEntry, Operation};
use kruispunt_sdk::words::counted;

use super::{ensure, pseudonym};
use crate::verify::verify_log;
use crate::{Env, Outcome, ScenarioError, Story};

const ORG: &str = "autobedrijf-de-vecht";

/// Runs the scenario; see the module documentation.
pub async fn privacy_officer(env: &Env, story: &mut Story) -> Result<Outcome, ScenarioError> {
    let mut out = Outcome {
        name: "privacy_officer",
        ..Outcome::default()
    };
    let fg = env.client(ORG, "fg.de.vecht", &["privacy-officer"], None)?;
    story.title("Privacy officer of Autobedrijf De Vecht: checking the broker");
    // The broker signs a new checkpoint every 500 ms while entries arrive: wait for one that
    // covers the scenarios that ran just before.
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    let log = verify_log(&fg).await?;
    let r = &log.report;
    story.say(format!(
        "Checkpoint of `{}` verified with the log's Ed25519 key: {} entries, root {}…",
        log.checkpoint.origin,
        r.size,
        &hex::encode(r.root)[..16]
    ));
    story.say(format!(
        "All {} lines fetched: {} entries concerning {ORG} in full (their leaves recomputed from salt and entry), \
         {} as leaves only; the Merkle root matches the signed checkpoint, so no entry was left out or changed.",
        r.size, r.entries_checked, r.leaves_only
    ));

    let mut disclosures = 0u64;
    story.say(format!("Disclosures of data supplied by {ORG}:"));
    for line in &log.visible {
        if let Some(e) = &line.entry
            && matches!(e.operation, Operation::Disclose | Operation::Combine)
            && e.source_orgs.iter().any(|o| o == ORG)
        {
            disclosures += 1;
            story.detail(format!(
                "#{}: to {} ({}) under {} at level {}, case {}",
                line.index,
                e.actor_org.as_deref().unwrap_or("?"),
                e.actor_user.as_deref().unwrap_or("?"),
                e.purpose.as_deref().unwrap_or("?"),
                e.detail
                    .get("disclosed_level")
                    .and_then(|v| v.as_str())
                    .unwrap_or("?"),
                e.case_reference.as_deref().unwrap_or("-"),
            ));
        } else if let Some(s) = &line.summary {
            disclosures += 1;
            story.detail(format!(
                "#{}: a {} at {}; details withheld under a police embargo until {}",
                line.index,
                s.operation,
                amsterdam(s.time_ms),
                line.embargo_until
                    .map_or_else(|| "?".to_string(), |t| amsterdam(t * 1000))
            ));
        }
    }
    ensure(disclosures > 0, || {
        "no disclosure concerns the dealer (run autobranche first)".into()
    })?;

    let plate = &env.data.vehicles[0];
    story.say(format!(
        "A customer asks (AVG art. 15) what happened with the data about their car {plate}."
    ));
    let answer = subject_access(env, &log, plate)?;
    story.say(format!(
        "The plate's pseudonym maps to {} in our own register, stored at the broker under one at-rest pseudonym; \
         {} name it:",
        counted(answer.signal_ids, "signal", "signals"),
        counted(answer.entries.len(), "audit entry", "audit entries")
    ));
    for (i, e) in &answer.entries {
        story.detail(format!(
            "#{i}: {} by {} — purpose {}, decision {}",
            e.action,
            e.actor_org.as_deref().unwrap_or("?"),
            e.purpose.as_deref().unwrap_or("-"),
            e.decision.as_deref().unwrap_or("-")
        ));
    }
    ensure(
        answer.entries.iter().any(|(_, e)| e.action == "match"),
        || "the data-subject answer lists no match on the plate".into(),
    )?;
    story.say("Reading the log is itself recorded in the log (action audit.read).");
    out.disclosures = disclosures;
    Ok(out)
}

struct SubjectAnswer {
    signal_ids: usize,
    entries: Vec<(u64, AuditEntry)>,
}

/// Plate → our pseudonym → the signal ids in our register → the at-rest pseudonym the broker
/// recorded for those ids in our upload entries → every entry we may see that names it.
fn subject_access(
    env: &Env,
    log: &VerifiedLog,
    plate: &str,
) -> Result<SubjectAnswer, ScenarioError> {
    let p = pseudonym(env, Kenteken, plate)?;
    let ids = env.recall(ORG, &p);
    ensure(!ids.is_empty(), || {
        format!("{ORG}'s register holds no signal on {plate} (run autobranche first)")
    })?;
    let mut at_rest = BTreeSet::new();
    for (_, e) in log.entries() {
        let Some(list) = e.detail.get("ids").and_then(|v| v.as_array()) else {
            continue;
        };
        for (pos, id) in list.iter().enumerate() {
            if id.as_str().is_some_and(|id| ids.iter().any(|x| x == id))
                && let Some(a) = e.pseudonyms.get(pos)
            {
                at_rest.insert(a.clone());
            }
        }
    }
    ensure(!at_rest.is_empty(), || {
        "no upload entry lists our signal ids".into()
    })?;
    let entries = log
        .entries()
        .filter(|(_, e)| e.pseudonyms.iter().any(|x| at_rest.contains(x)))
        .map(|(i, e)| (i, e.clone()))
        .collect();
    Ok(SubjectAnswer {
        signal_ids: ids.len(),
        entries,
    })
}
