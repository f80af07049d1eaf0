//! Horeca and Wet Bibob: Gemeente Hilversum screens an applicant for a hospitality permit (the
//! company, its director and the premises) and receives only what Wet Bibob art. 28 permits;
//! a private party asking the same is refused.

use kruispunt_sdk::IdentifierKind::{Adres, Kvk, Persoon};
use kruispunt_sdk::wire::Level;

use super::{ask, ensure, expect_refusal, ident, request, signal, upload};
use crate::{Env, Outcome, ScenarioError, Story};

const PURPOSE: &str = "horeca-bibob-screening";
const DISTRICT: &str = "gooi-en-vechtstreek";

/// Runs the scenario; see the module documentation.
pub async fn horeca_bibob(env: &Env, story: &mut Story) -> Result<Outcome, ScenarioError> {
    let mut out = Outcome {
        name: "horeca_bibob",
        ..Outcome::default()
    };
    let d = &env.data;
    let company = d.companies[3].clone();
    let premises = d.addresses[3].clone();
    let director = "Bakker|Hendrik Jan|de|1979-04-23";
    story.title("Horeca Bibob: screening a permit applicant in Hilversum");
    story.say(format!(
        "A company (KvK {company}) applies for an exploitatievergunning for a café at {premises}; its director is H.J. de Bakker."
    ));
    let purposes = [PURPOSE];
    let horeca = env.client("horeca-gooi", "secretaris", &["signaleerder"], None)?;
    story.say("Earlier, members of KHN Gooi had reported a cash loan offered by this company and a front-man operator:");
    upload(
        env,
        &horeca,
        "horeca-gooi",
        vec![
            signal(
                env,
                Kvk,
                &company,
                "cash-loan-offer",
                40,
                DISTRICT,
                &purposes,
            )?,
            signal(
                env,
                Kvk,
                &company,
                "front-man-operator",
                10,
                DISTRICT,
                &purposes,
            )?,
        ],
        story,
        &mut out,
    )
    .await?;
    let vastgoed = env.client("vastgoed-gooi", "makelaar", &["signaleerder"], None)?;
    story.say("A real-estate broker had flagged the premises as bought through a straw owner:");
    upload(
        env,
        &vastgoed,
        "vastgoed-gooi",
        vec![signal(
            env,
            Adres,
            &premises,
            "straw-owner",
            60,
            DISTRICT,
            &purposes,
        )?],
        story,
        &mut out,
    )
    .await?;
    let gm = env.client(
        "gemeente-gooise-meren",
        "bibob.coordinator",
        &["signaleerder"],
        None,
    )?;
    story.say("Gemeente Gooise Meren had noted an unclear change of operator involving the same director:");
    upload(
        env,
        &gm,
        "gemeente-gooise-meren",
        vec![signal(
            env,
            Persoon,
            director,
            "unclear-ownership-change",
            90,
            DISTRICT,
            &purposes,
        )?],
        story,
        &mut out,
    )
    .await?;

    let hilversum = env.client(
        "gemeente-hilversum",
        "bibob.adviseur",
        &["bibob-adviseur"],
        None,
    )?;
    let labels = vec![
        format!("company KvK {company}"),
        format!("premises {premises}"),
        "director H.J. de Bakker (1979)".to_string(),
    ];
    let ids = vec![
        ident(env, Kvk, &company)?,
        ident(env, Adres, &premises)?,
        ident(env, Persoon, director)?,
    ];
    story.say("The Bibob adviser of Gemeente Hilversum screens company, premises and director; hit/no-hit first:");
    let r = ask(
        env,
        &hilversum,
        &request(PURPOSE, ids.clone(), Level::Hit),
        &labels,
        story,
        &mut out,
    )
    .await?;
    ensure(r.results.iter().all(|x| x.hit), || {
        format!("bibob hits: {:?}", r.results)
    })?;
    story.say("For the Bibob advice the adviser records the file number, the legal basis and why the details are needed:");
    let mut req = request(PURPOSE, ids.clone(), Level::Details);
    req.case_reference = Some("BIBOB-HLV-2026-014".into());
    req.legal_basis = Some("wet-bibob".into());
    req.justification = Some(
        "Bibob-toets art. 3 lid 1 sub a en b: ernstig gevaar bij exploitatievergunning café".into(),
    );
    let r = ask(env, &hilversum, &req, &labels, story, &mut out).await?;
    ensure(
        r.level == Level::Details && r.results.iter().all(|x| !x.signals.is_empty()),
        || format!("bibob details: {:?}", r.results),
    )?;
    story.detail("Wet Bibob art. 28 lets only the bodies it names (gemeente, RIEC, OM, politie) receive this; the purpose's recipients say so");

    let utrecht = env.client("horeca-utrecht", "secretaris", &["signaleerder"], None)?;
    story.say("KHN Utrecht, a private association, tries to look up the same company under the Bibob purpose:");
    expect_refusal(
        &utrecht,
        &request(PURPOSE, ids[..1].to_vec(), Level::Hit),
        "policy-denied",
        Some("sector_not_allowed"),
        story,
        &mut out,
    )
    .await?;
    Ok(out)
}
