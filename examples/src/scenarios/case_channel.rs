//! The case's channel, the end of the police case's walk: an MLS group among the participants
//! of the registered case carries a detail end-to-end encrypted (the broker stores ciphertext),
//! and once the case director closes the case the channel takes no more messages — and no
//! query under the case is answered either (docs/CASES.md, docs/COALITIONS.md).

use kruispunt_sdk::cases::{CaseResult, CaseState, CaseStateRequest};
use kruispunt_sdk::client::Client;
use kruispunt_sdk::coalition::http::HttpError;
use kruispunt_sdk::coalition::{CoalitionError, Event, Member};
use kruispunt_sdk::wire::MatchRequest;

use super::{ensure, expect_refusal, explain};
use crate::{Env, Outcome, ScenarioError, Story};

/// The coalition a case channel names: the RIEC's case meeting (the case decides who is in it).
const CASUS: &str = "politie-casus-riec-midden-nederland";
const RIEC: &str = "riec-midden-nederland";
const POLICE: &str = "politie-midden-nederland";
const OM: &str = "om-midden-nederland";

fn mls(e: HttpError) -> ScenarioError {
    ScenarioError::Unexpected(format!("delivery service: {e}"))
}

fn member(e: CoalitionError) -> ScenarioError {
    ScenarioError::Unexpected(format!("MLS member: {e}"))
}

/// Opens the case's channel among its participants, carries one detail, closes the case and
/// shows that the channel and the queries under the case have ended. `police` is the
/// detective's scoped client and `query` a request inside its scope.
pub(crate) async fn case_channel(
    env: &Env,
    reference: &str,
    police: &Client,
    query: &MatchRequest,
    story: &mut Story,
    out: &mut Outcome,
) -> Result<(), ScenarioError> {
    let group = format!("case.{}", reference.to_ascii_lowercase());
    let riec_api = env.mls(RIEC, "casusregisseur.riec", &["casusregisseur"])?;
    let police_api = env.mls(POLICE, "rechercheur.jansen", &["rechercheur"])?;
    let om_api = env.mls(OM, "officier.van.justitie", &["officier-van-justitie"])?;
    let mut riec = Member::new(RIEC, None).map_err(member)?;
    let mut police_member = Member::new(POLICE, None).map_err(member)?;
    let om = Member::new(OM, None).map_err(member)?;
    for (m, api) in [(&police_member, &police_api), (&om, &om_api)] {
        let kps = m.key_packages(1, true).map_err(member)?;
        api.publish_key_packages(&kps).await.map_err(mls)?;
    }

    let info = riec.create_group(&group).map_err(member)?;
    riec_api
        .create_group(
            &group,
            kruispunt_sdk::coalition::wire::GroupKind::Case,
            CASUS,
            None,
            Some(reference.into()),
            &info,
        )
        .await
        .map_err(mls)?;
    let kps = vec![
        riec_api.claim_key_package(POLICE).await.map_err(mls)?,
        riec_api.claim_key_package(OM).await.map_err(mls)?,
    ];
    let invite = riec.invite(&group, &kps).map_err(member)?;
    riec_api.post(&group, &invite).await.map_err(mls)?;
    for follow in riec.confirm(&group).map_err(member)? {
        riec_api
            .post_raw(&group, &follow, None)
            .await
            .map_err(mls)?;
    }
    story.say(format!(
        "The RIEC's case director opens the case's channel {group}: an MLS group among the case's participants (the RIEC, the police and the OM); the broker admits no one the case register does not list."
    ));
    for w in police_api.welcomes(0).await.map_err(mls)?.welcomes {
        let bytes = kruispunt_sdk::coalition::wire::unb64("welcome", &w.welcome)
            .map_err(ScenarioError::Unexpected)?;
        police_member
            .join(&w.group_id, &bytes, w.from_seq)
            .map_err(member)?;
    }
    let cursor = police_member.cursor(&group).unwrap_or_default();
    police_member
        .process(
            &group,
            &police_api.fetch(&group, cursor).await.map_err(mls)?,
        )
        .map_err(member)?;

    let text = "Observatie: beide bestelbussen 's nachts bij de boerderij, lading overgeladen";
    let detail = police_member
        .case_detail(&group, reference, text)
        .map_err(member)?;
    police_api
        .post_raw(&group, &detail, None)
        .await
        .map_err(mls)?;
    let cursor = riec.cursor(&group).unwrap_or_default();
    let events = riec
        .process(&group, &riec_api.fetch(&group, cursor).await.map_err(mls)?)
        .map_err(member)?;
    let received = events.iter().any(
        |e| matches!(e, Event::CaseDetail { from, text: t, .. } if from == POLICE && t == text),
    );
    ensure(received, || format!("the RIEC read {events:?}"))?;
    story.say(format!(
        "The police post a detail in the channel, end-to-end encrypted; the RIEC reads: \"{text}\""
    ));

    let regisseur = env.client(RIEC, "casusregisseur.riec", &["casusregisseur"], None)?;
    regisseur
        .move_case(
            reference,
            &CaseStateRequest {
                state: CaseState::Closed,
                intervention: None,
                result: Some(CaseResult::Intervened),
            },
        )
        .await
        .map_err(explain)?;
    story.say(format!(
        "The case director closes case {reference} (result: intervened)."
    ));
    story.say("The police post to the case's channel once more:");
    let late = police_member
        .case_detail(&group, reference, "nog een waarneming")
        .map_err(member)?;
    match police_api.post_raw(&group, &late, None).await {
        Ok(_) => {
            return Err(ScenarioError::Unexpected(
                "the closed case's channel took a message".into(),
            ));
        }
        Err(e @ HttpError::Problem { status, .. }) => {
            ensure(format!("{e}").contains("case-channel-closed"), || {
                format!("expected case-channel-closed, got {e}")
            })?;
            story.say(format!(
                "REFUSED ({status} case-channel-closed): the case is closed; its channel takes no more messages or commits"
            ));
            out.refusals += 1;
        }
        Err(e) => return Err(mls(e)),
    }
    story.say("And a query under the closed case:");
    expect_refusal(
        police,
        query,
        "case-closed",
        Some("case_closed"),
        story,
        out,
    )
    .await
}
