//! KVO Buitengebied Oost-Utrecht: farmers report unsolicited offers to rent their empty barns;
//! a municipality checks the KvK number of a prospective tenant.

use kruispunt_sdk::IdentifierKind::{Adres, Kvk};
use kruispunt_sdk::wire::Level;

use super::{ask, ensure, expect_refusal, ident, request, signal, upload};
use crate::{Env, Outcome, ScenarioError, Story};

const PURPOSE: &str = "kvo-buitengebied-signalering";
const COALITION: &str = "kvo-buitengebied-oost-utrecht";
const DISTRICT: &str = "oost-utrecht";

/// Runs the scenario; see the module documentation.
pub async fn kvo_buitengebied(env: &Env, story: &mut Story) -> Result<Outcome, ScenarioError> {
    let mut out = Outcome {
        name: "kvo_buitengebied",
        ..Outcome::default()
    };
    let d = &env.data;
    let tenant = d.companies[1].clone();
    let unknown = d.companies[2].clone();
    let barn = d.addresses[1].clone();
    story.title("KVO Buitengebied Oost-Utrecht: who wants to rent the empty barn?");
    story.say(format!(
        "Three farmers near Leersum tell the KVO coordinator that a company (KvK {tenant}) offered to rent \
         their empty barns, once with cash up front; one saw vans at night at {barn}."
    ));
    story.say("The coordinator pseudonymises the KvK number and the address locally with the coalition key: the broker never sees them.");

    let kvo = env.client(
        "kvo-buitengebied-oost-utrecht",
        "coordinator.kvo",
        &["signaleerder"],
        None,
    )?;
    let purposes = [PURPOSE];
    upload(
        env,
        &kvo,
        "kvo-buitengebied-oost-utrecht",
        vec![
            signal(
                env,
                Kvk,
                &tenant,
                "barn-rental-unsolicited",
                12,
                DISTRICT,
                &purposes,
            )?,
            signal(env, Kvk, &tenant, "cash-rent", 5, DISTRICT, &purposes)?,
            signal(env, Adres, &barn, "night-traffic", 3, DISTRICT, &purposes)?,
        ],
        story,
        &mut out,
    )
    .await?;

    let heuvelrug = env.client(
        "gemeente-utrechtse-heuvelrug",
        "toezicht.buitengebied",
        &["signaleerder"],
        None,
    )?;
    story.say("Gemeente Utrechtse Heuvelrug independently noted that the same company sublets a shed to an unknown party.");
    upload(
        env,
        &heuvelrug,
        "gemeente-utrechtse-heuvelrug",
        vec![signal(
            env,
            Kvk,
            &tenant,
            "subletting-unknown-party",
            20,
            DISTRICT,
            &purposes,
        )?],
        story,
        &mut out,
    )
    .await?;

    let amersfoort = env.client(
        "gemeente-amersfoort",
        "analist.ondermijning",
        &["analist"],
        None,
    )?;
    story.say(format!(
        "Gemeente Amersfoort receives a rental request for a farm building from KvK {tenant} and asks — \
         hit/no-hit only — about it and about another applicant, KvK {unknown}."
    ));
    let labels = vec![format!("KvK {tenant}"), format!("KvK {unknown}")];
    let mut req = request(
        PURPOSE,
        vec![ident(env, Kvk, &tenant)?, ident(env, Kvk, &unknown)?],
        Level::Hit,
    );
    req.coalition = Some(COALITION.into());
    let r = ask(env, &amersfoort, &req, &labels, story, &mut out).await?;
    ensure(r.results[0].hit && !r.results[1].hit, || {
        format!("expected hit/no-hit, got {:?}", r.results)
    })?;
    ensure(r.results[0].categories.is_empty(), || {
        "hit level leaked categories".into()
    })?;
    story.detail("two independent sources (a KVO and a municipality) reported the tenant: the purpose asks for at least two");

    story.say("To decide on the rental permit the analyst asks for the categories, recording the case and why it is necessary.");
    let mut req = request(PURPOSE, vec![ident(env, Kvk, &tenant)?], Level::Categories);
    req.coalition = Some(COALITION.into());
    req.case_reference = Some("AMF-2026-031".into());
    req.justification = Some(
        "Aanvraag omgevingsvergunning schuur Leusderweg: toets op misbruik van vastgoed".into(),
    );
    let r = ask(env, &amersfoort, &req, &labels[..1], story, &mut out).await?;
    ensure(
        r.level == Level::Categories
            && r.results[0]
                .categories
                .iter()
                .any(|c| c == "barn-rental-unsolicited")
            && r.results[0].sectors == ["gemeente", "kvo"],
        || {
            format!(
                "expected categories from gemeente and kvo, got {:?}",
                r.results[0]
            )
        },
    )?;

    story.say(
        "Asking for the individual signals (details) goes beyond what this purpose ever discloses:",
    );
    req.level = Level::Details;
    expect_refusal(
        &amersfoort,
        &req,
        "policy-denied",
        Some("level_above_ceiling"),
        story,
        &mut out,
    )
    .await?;
    Ok(out)
}
