//! Autobranche: dealers report cash purchases (one of them streams its backlog as a bulk
//! upload); a dealer checks a cash buyer's plate; the police, with a token scoped to one case,
//! query the case's plates and get tiered disclosure.

use std::sync::{Arc, Mutex};

use kruispunt_sdk::IdentifierKind::Kenteken;
use kruispunt_sdk::client::{BulkProgress, TokenScope};
use kruispunt_sdk::identifiers::Kenteken as Plate;
use kruispunt_sdk::wire::Level;
use kruispunt_sdk::words::counted;

use super::{ask, ensure, explain, ident, request, signal, upload};
use crate::synthetic::today;
use crate::{Env, Outcome, ScenarioError, Story};

const PURPOSE: &str = "autobranche-contante-aankopen";
const POLICE: &str = "politie-opsporing-wpg19";

fn show(plate: &str) -> String {
    Plate::parse(plate).map_or_else(|_| plate.to_string(), |p| p.formatted())
}

/// Runs the scenario; see the module documentation.
pub async fn autobranche(env: &Env, story: &mut Story) -> Result<Outcome, ScenarioError> {
    let mut out = Outcome {
        name: "autobranche",
        ..Outcome::default()
    };
    let d = &env.data;
    let case = &d.cases[41];
    let p: Vec<String> = d.vehicles[..4].to_vec();
    story.title("Autobranche: cash purchases, a cautious dealer, and a police case");
    story.say(format!(
        "Plates {} keep turning up in cash deals at dealers across the unit.",
        p[..3]
            .iter()
            .map(|x| show(x))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    let both = [PURPOSE, POLICE];
    /// (plate index, signal code, days ago) as a dealer reports it.
    type Report = (usize, &'static str, i64);
    let dealers: [(&str, &str, Vec<Report>); 3] = [
        (
            "autobedrijf-de-vecht",
            "west-utrecht",
            vec![(0, "cash-car-purchase", 14), (1, "notes-500", 9)],
        ),
        (
            "autohandel-amersfoort",
            "oost-utrecht",
            vec![(0, "cash-car-purchase-20k", 6), (2, "split-payments", 30)],
        ),
        (
            "autoschade-almere",
            "flevoland",
            vec![(0, "export-cash-resale", 2), (1, "straw-buyer", 4)],
        ),
    ];
    for (dealer, district, reports) in &dealers {
        let c = env.client(dealer, "compliance.officer", &["compliance"], None)?;
        let mut signals = Vec::new();
        for (i, code, ago) in reports {
            signals.push(signal(env, Kenteken, &p[*i], code, *ago, district, &both)?);
        }
        upload(env, &c, dealer, signals, story, &mut out).await?;
    }
    story.detail("each signal is registered for the dealers' purpose and for police investigations (Wpg art. 19)");

    // The backlog: a streamed NDJSON upload with progress.
    let backlog = d.background_signals(
        &env.key,
        "autohandel-amersfoort",
        PURPOSE,
        (d.vehicles.len() / 10).max(50),
        today(),
    );
    let n = backlog.len();
    let amersfoort = env.client(
        "autohandel-amersfoort",
        "compliance.officer",
        &["compliance"],
        None,
    )?;
    let seen: Arc<Mutex<Vec<BulkProgress>>> = Arc::default();
    let sink = seen.clone();
    let r = amersfoort
        .upload_bulk(backlog, move |p| {
            sink.lock().unwrap_or_else(|e| e.into_inner()).push(p)
        })
        .await
        .map_err(explain)?;
    let chunks = seen.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let last = chunks.last().copied();
    story.say(format!(
        "Autohandel Amersfoort streams its backlog of {n} cash purchases as NDJSON: {}, {} lines, {} KiB sent; \
         {} stored, {} already known, {} rejected",
        counted(chunks.len(), "chunk", "chunks"),
        last.map_or(0, |l| l.lines),
        last.map_or(0, |l| l.bytes / 1024),
        r.stored,
        r.duplicates,
        r.rejected
    ));
    ensure(
        r.rejected == 0 && r.stored + r.duplicates == n as u64,
        || format!("bulk upload: {r:?}"),
    )?;
    ensure(last.map(|l| l.lines) == Some(n as u64), || {
        "progress did not reach the end".into()
    })?;
    out.stored += r.stored;

    // A dealer checks a cash buyer.
    let vecht = env.client(
        "autobedrijf-de-vecht",
        "verkoop.balie",
        &["compliance"],
        None,
    )?;
    story.say(format!(
        "A customer at Autobedrijf De Vecht wants to pay cash for a car and trade in {}; the compliance officer \
         also checks {} and {} (hit/no-hit).",
        show(&p[0]),
        show(&p[2]),
        show(&p[3])
    ));
    let labels: Vec<String> = [0, 2, 3].iter().map(|&i| show(&p[i])).collect();
    let req = request(
        PURPOSE,
        vec![
            ident(env, Kenteken, &p[0])?,
            ident(env, Kenteken, &p[2])?,
            ident(env, Kenteken, &p[3])?,
        ],
        Level::Hit,
    );
    let r = ask(env, &vecht, &req, &labels, story, &mut out).await?;
    ensure(
        r.results[0].hit && !r.results[1].hit && !r.results[2].hit,
        || format!("dealer answer: {:?}", r.results),
    )?;
    story.detail(format!(
        "{} was reported by one other dealer only: below the purpose's minimum of two independent sources, so no hit",
        show(&p[2])
    ));

    // The police case.
    let consent = super::case_with_consent(
        env,
        case,
        POLICE,
        &["kenteken"],
        10,
        Level::Categories,
        story,
    )
    .await?;
    let scope = TokenScope::new(POLICE)
        .case_reference(case.reference.clone())
        .legal_basis("wpg-art-19")
        .consent_id(consent)
        .kinds(["kenteken"])
        .sectors(["autobranche"])
        .max_identifiers(10);
    let police = env.client(
        "politie-midden-nederland",
        "rechercheur.de.groot",
        &["rechercheur"],
        Some(scope),
    )?;
    story.say(format!(
        "A detective on case {} ({}, {}) holds a token scoped to that case, Wpg art. 19 with the officer of \
         justice's consent, plates only, autobranche sources only, at most 10 identifiers. First: hit/no-hit on the case's plates.",
        case.reference, case.municipality, case.district
    ));
    let labels: Vec<String> = p.iter().map(|x| show(x)).collect();
    let ids = p
        .iter()
        .map(|x| ident(env, Kenteken, x))
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
    ensure(hits == [true, true, true, false], || {
        format!("police hit/no-hit: {hits:?}")
    })?;
    story.say("Three plates hit. The detective records why the categories are needed for the case and asks for them, for the hits only.");
    let mut req = request(POLICE, ids[..3].to_vec(), Level::Categories);
    req.justification = Some(
        "Witwasonderzoek: contante aankopen rond verdachte in zaak, nodig voor vordering gegevens"
            .into(),
    );
    let r = ask(env, &police, &req, &labels[..3], story, &mut out).await?;
    ensure(
        r.level == Level::Categories && r.results.iter().all(|x| x.sectors == ["autobranche"]),
        || format!("police categories: {:?}", r.results),
    )?;
    story.detail(
        "the dealers are not told of this police hit until the purpose's 30-day embargo has passed",
    );
    Ok(out)
}
