//! Police scoped queries: every way out of the token's scope is refused with its own reason;
//! inside it the detective gets hit/no-hit first and categories only after recording a
//! justification. The case's walk ends in its channel: a detail among the participants, then
//! the closure, after which the channel and the queries under the case are refused.

use kruispunt_sdk::IdentifierKind::{Kenteken, Kvk};
use kruispunt_sdk::client::TokenScope;
use kruispunt_sdk::wire::Level;

use super::{ask, case_with_consent, ensure, expect_refusal, ident, request, signal, upload};
use crate::{Env, Outcome, ScenarioError, Story};

const POLICE: &str = "politie-opsporing-wpg19";

/// Runs the scenario; see the module documentation.
pub async fn police_scoped_query(env: &Env, story: &mut Story) -> Result<Outcome, ScenarioError> {
    let mut out = Outcome {
        name: "police_scoped_query",
        ..Outcome::default()
    };
    let d = &env.data;
    let case = &d.cases[6];
    let plates: Vec<String> = d.vehicles[10..16].to_vec();
    story.title(format!(
        "Police: a scoped query in case {} ({})",
        case.reference, case.municipality
    ));
    let kvo = env.client(
        "kvo-buitengebied-flevoland",
        "coordinator.kvo",
        &["signaleerder"],
        None,
    )?;
    story.say(
        "KVO Buitengebied Flevoland had reported night-time traffic to a remote farm by two vans:",
    );
    let purposes = ["kvo-buitengebied-signalering", POLICE];
    upload(
        env,
        &kvo,
        "kvo-buitengebied-flevoland",
        vec![
            signal(
                env,
                Kenteken,
                &plates[0],
                "night-traffic",
                8,
                "flevoland",
                &purposes,
            )?,
            signal(
                env,
                Kenteken,
                &plates[1],
                "night-traffic",
                8,
                "flevoland",
                &purposes,
            )?,
        ],
        story,
        &mut out,
    )
    .await?;

    let consent = case_with_consent(
        env,
        case,
        POLICE,
        &["kenteken"],
        5,
        Level::Categories,
        story,
    )
    .await?;
    let scope = TokenScope::new(POLICE)
        .case_reference(case.reference.clone())
        .legal_basis("wpg-art-19")
        .consent_id(consent)
        .kinds(["kenteken"])
        .sectors(["kvo", "autobranche"])
        .max_identifiers(5);
    let police = env.client(
        "politie-midden-nederland",
        "rechercheur.jansen",
        &["rechercheur"],
        Some(scope),
    )?;
    story.say(format!(
        "The detective's token: purpose {POLICE}, case {}, Wpg art. 19 with consent, plates only, KVO and autobranche sources, at most 5 per request.",
        case.reference
    ));
    story.say("Outside the scope — a KvK number:");
    expect_refusal(
        &police,
        &request(POLICE, vec![ident(env, Kvk, &d.companies[4])?], Level::Hit),
        "consent-scope-exceeded",
        Some("scope_exceeded_kinds"),
        story,
        &mut out,
    )
    .await?;
    story.say("Outside the scope — another case:");
    let mut other = request(POLICE, vec![ident(env, Kenteken, &plates[0])?], Level::Hit);
    other.case_reference = Some("MN-2026-0999".into());
    expect_refusal(
        &police,
        &other,
        "case-unknown",
        Some("scope_case_mismatch"),
        story,
        &mut out,
    )
    .await?;
    story.say("Outside the scope — six plates at once:");
    let six = plates
        .iter()
        .map(|p| ident(env, Kenteken, p))
        .collect::<Result<Vec<_>, _>>()?;
    expect_refusal(
        &police,
        &request(POLICE, six, Level::Hit),
        "policy-denied",
        Some("scope_exceeded_identifiers"),
        story,
        &mut out,
    )
    .await?;
    story.say("Outside the scope — another purpose (Wpg art. 20):");
    expect_refusal(
        &police,
        &request(
            "politie-opsporing-wpg20",
            vec![ident(env, Kenteken, &plates[0])?],
            Level::Hit,
        ),
        "policy-denied",
        Some("scope_purpose_mismatch"),
        story,
        &mut out,
    )
    .await?;
    let unscoped = env.client(
        "politie-midden-nederland",
        "rechercheur.jansen",
        &["rechercheur"],
        None,
    )?;
    story.say("Without a scoped token at all:");
    expect_refusal(
        &unscoped,
        &request(POLICE, vec![ident(env, Kenteken, &plates[0])?], Level::Hit),
        "policy-denied",
        Some("scope_missing"),
        story,
        &mut out,
    )
    .await?;

    story.say("Inside the scope — three plates seen near the farm, hit/no-hit:");
    let labels: Vec<String> = plates[..3].to_vec();
    let ids = plates[..3]
        .iter()
        .map(|p| ident(env, Kenteken, p))
        .collect::<Result<Vec<_>, _>>()?;
    let r = ask(
        env,
        &police,
        &request(POLICE, ids.clone(), Level::Hit),
        &labels,
        story,
        &mut out,
    )
    .await?;
    let hits: Vec<bool> = r.results.iter().map(|x| x.hit).collect();
    ensure(hits == [true, true, false], || {
        format!("police hits: {hits:?}")
    })?;
    story.say("Categories without a recorded justification:");
    expect_refusal(
        &police,
        &request(POLICE, ids[..2].to_vec(), Level::Categories),
        "policy-denied",
        Some("justification_required"),
        story,
        &mut out,
    )
    .await?;
    story.say("Categories with the justification recorded:");
    let mut req = request(POLICE, ids[..2].to_vec(), Level::Categories);
    req.justification =
        Some("Vermoedelijk drugslab: voertuigen bij locatie, nodig voor observatieplan".into());
    let r = ask(env, &police, &req, &labels[..2], story, &mut out).await?;
    ensure(
        r.results.iter().all(|x| x.categories == ["night-traffic"]),
        || format!("police categories: {:?}", r.results),
    )?;
    super::case_channel::case_channel(
        env,
        &case.reference,
        &police,
        &request(POLICE, ids[..1].to_vec(), Level::Hit),
        story,
        &mut out,
    )
    .await?;
    Ok(out)
}
