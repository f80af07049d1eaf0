//! The six scenarios, and the few helpers they share: pseudonymising locally, uploading with
//! a narrated answer, and checking that a refusal is the one the policy promises.

mod autobranche;
mod case_channel;
mod horeca_bibob;
mod kvo_buitengebied;
mod ondermijningsbeeld;
mod police_scoped_query;
mod privacy_officer;

pub use autobranche::autobranche;
pub use horeca_bibob::horeca_bibob;
pub use kvo_buitengebied::kvo_buitengebied;
pub use ondermijningsbeeld::ondermijningsbeeld;
pub use police_scoped_query::police_scoped_query;
pub use privacy_officer::privacy_officer;

use kruispunt_sdk::IdentifierKind;
use kruispunt_sdk::client::{Client, ClientError};
use kruispunt_sdk::wire::{
    IdentifierRef, ItemStatus, Level, MatchRequest, MatchResponse, SignalIn, UploadResponse,
};
use kruispunt_sdk::words::counted;

use crate::synthetic::{date, today};
use crate::{Env, Outcome, ScenarioError, Story};

/// What to check when the broker refuses police requests for set-up reasons.
const MTLS_HINT: &str = "the registry marks the police and the OM `require_mtls`: the \
     development set-up issues their client certificates under DIR/tls/clients/ and names the \
     development CA as `client_ca` in the [tls] section of DIR/kruispunt.toml; a data directory \
     created by an older broker lacks that line (add `client_ca = \"tls/ca.pem\"` and restart, \
     or start on a fresh --data-dir)";

/// Maps the set-up refusals to an explanation; everything else stays the client's error.
pub(crate) fn explain(e: ClientError) -> ScenarioError {
    if e.slug() == Some("mtls-required") {
        return ScenarioError::Setup(format!("{e}: {MTLS_HINT}"));
    }
    ScenarioError::Client(e)
}

pub(crate) fn ensure(cond: bool, what: impl FnOnce() -> String) -> Result<(), ScenarioError> {
    if cond {
        Ok(())
    } else {
        Err(ScenarioError::Unexpected(what()))
    }
}

/// The pseudonym (hex) of `raw` read as `kind`, with the coalition key.
pub(crate) fn pseudonym(
    env: &Env,
    kind: IdentifierKind,
    raw: &str,
) -> Result<String, ScenarioError> {
    env.key
        .pseudonymiser(kind)
        .pseudonymise(raw)
        .map(|p| p.to_hex())
        .map_err(|e| ScenarioError::Setup(format!("{raw:?}: {e}")))
}

pub(crate) fn ident(
    env: &Env,
    kind: IdentifierKind,
    raw: &str,
) -> Result<IdentifierRef, ScenarioError> {
    Ok(IdentifierRef {
        kind: kind.as_str().into(),
        pseudonym: pseudonym(env, kind, raw)?,
        key_version: env.key.version(),
    })
}

/// A signal observed `days_ago` days before today.
pub(crate) fn signal(
    env: &Env,
    kind: IdentifierKind,
    raw: &str,
    code: &str,
    days_ago: i64,
    district: &str,
    purposes: &[&str],
) -> Result<SignalIn, ScenarioError> {
    Ok(SignalIn {
        kind: kind.as_str().into(),
        pseudonym: pseudonym(env, kind, raw)?,
        key_version: env.key.version(),
        code: code.into(),
        observed: date(today() - days_ago),
        district: district.into(),
        gemeente: None,
        wijk: None,
        purposes: purposes.iter().map(|p| p.to_string()).collect(),
        expires: None,
    })
}

/// Uploads `signals` as `partner`, narrates the answer, keeps the ids in the partner's
/// register, and insists that nothing was rejected.
pub(crate) async fn upload(
    env: &Env,
    client: &Client,
    partner: &str,
    signals: Vec<SignalIn>,
    story: &mut Story,
    outcome: &mut Outcome,
) -> Result<UploadResponse, ScenarioError> {
    let r = client.upload(&signals).await.map_err(explain)?;
    story.say(format!(
        "{} uploads {}: {} stored, {} already known (idempotent re-upload), {} rejected",
        env.data.registry.partner_name(partner),
        counted(
            signals.len(),
            "pseudonymised signal",
            "pseudonymised signals"
        ),
        r.stored,
        r.duplicates,
        r.rejected
    ));
    for item in &r.results {
        if let (ItemStatus::Rejected, Some(reason)) = (&item.status, &item.reason) {
            story.detail(format!("item {}: {reason}", item.index));
        }
    }
    ensure(r.rejected == 0, || {
        format!(
            "{partner}: {} rejected",
            counted(r.rejected, "item", "items")
        )
    })?;
    env.remember(
        partner,
        r.results.iter().filter_map(|i| {
            i.id.clone()
                .map(|id| (signals[i.index].pseudonym.clone(), id))
        }),
    );
    outcome.stored += r.stored;
    Ok(r)
}

pub(crate) fn request(
    purpose: &str,
    identifiers: Vec<IdentifierRef>,
    level: Level,
) -> MatchRequest {
    MatchRequest {
        purpose: purpose.into(),
        coalition: None,
        identifiers,
        level,
        case_reference: None,
        legal_basis: None,
        consent_id: None,
        justification: None,
    }
}

/// Asks, narrates the answer per identifier (with `labels` as the asker knows them), and counts
/// a disclosure when anything hit.
pub(crate) async fn ask(
    env: &Env,
    client: &Client,
    req: &MatchRequest,
    labels: &[String],
    story: &mut Story,
    outcome: &mut Outcome,
) -> Result<MatchResponse, ScenarioError> {
    let r = client.match_identifiers(req).await.map_err(explain)?;
    story.say(format!(
        "policy allowed (bundle {}); disclosed level `{}` (asked `{}`), audit entry #{}",
        &r.policy_hash.get(..12).unwrap_or(&r.policy_hash),
        level_name(r.level),
        level_name(req.level),
        r.audit_seq
    ));
    for res in &r.results {
        let label = labels.get(res.index).map_or("?", String::as_str);
        if !res.hit {
            story.detail(format!("{label}: no hit"));
            continue;
        }
        let mut line = format!("{label}: HIT");
        if !res.categories.is_empty() {
            let titles: Vec<String> = res
                .categories
                .iter()
                .map(|c| format!("{c} ({})", env.data.registry.code_title(c)))
                .collect();
            line.push_str(&format!(
                " — {}; from {} {}",
                titles.join(", "),
                if res.sectors.len() == 1 {
                    "sector"
                } else {
                    "sectors"
                },
                res.sectors.join(", ")
            ));
        }
        story.detail(line);
        for s in &res.signals {
            story.detail(format!(
                "  signal …{} by {} on {} in {}: {}",
                // The id's end: its start is the upload time, the same for a batch.
                &s.id[s.id.len().saturating_sub(8)..],
                env.data.registry.partner_name(&s.source),
                s.observed,
                s.district,
                s.code
            ));
        }
    }
    outcome.audit_seqs.push(r.audit_seq);
    if r.results.iter().any(|x| x.hit) {
        outcome.disclosures += 1;
    }
    Ok(r)
}

/// Asks and insists on the refusal `slug` carrying `reason` (when given); narrates it.
pub(crate) async fn expect_refusal(
    client: &Client,
    req: &MatchRequest,
    slug: &str,
    reason: Option<&str>,
    story: &mut Story,
    outcome: &mut Outcome,
) -> Result<(), ScenarioError> {
    match client.match_identifiers(req).await {
        Ok(r) => Err(ScenarioError::Unexpected(format!(
            "expected a `{slug}` refusal, got an answer at level {:?}",
            r.level
        ))),
        Err(e) => {
            let Some(p) = e.problem() else {
                return Err(ScenarioError::Client(e));
            };
            if p.slug() == "mtls-required" && slug != "mtls-required" {
                return Err(explain(e));
            }
            ensure(p.slug() == slug, || format!("expected `{slug}`, got {p}"))?;
            if let Some(r) = reason {
                ensure(p.has_reason(r), || {
                    format!("expected reason `{r}`, got {p}")
                })?;
            }
            story.say(format!(
                "REFUSED ({} {}): {}",
                p.status,
                p.slug(),
                p.details.detail
            ));
            if !p.reasons().is_empty() {
                story.detail(format!("reason codes: {}", p.reasons().join(", ")));
            }
            outcome.refusals += 1;
            Ok(())
        }
    }
}

pub(crate) fn level_name(l: Level) -> &'static str {
    match l {
        Level::None => "none",
        Level::Hit => "hit",
        Level::Categories => "categories",
        Level::Details => "details",
    }
}

/// Registers `case` in the broker — opened by the RIEC's case director, with the police and the
/// OM taking part — unless it is registered already (scenarios run again change nothing), and
/// has the public prosecutor's organisation issue its consent to Wpg art. 19 queries under it
/// for `purpose`: `kinds`, at most `max_identifiers`, up to `ceiling`, for 30 days. Answers the
/// consent's id, which the detective's token names (docs/CASES.md).
pub(crate) async fn case_with_consent(
    env: &Env,
    case: &crate::synthetic::Case,
    purpose: &str,
    kinds: &[&str],
    max_identifiers: u64,
    ceiling: Level,
    story: &mut Story,
) -> Result<String, ScenarioError> {
    use kruispunt_sdk::cases::{CaseOpenRequest, ConsentRequest, LegalFrame};
    let gemeente = env
        .data
        .registry
        .gemeenten
        .iter()
        .find(|g| g.name == case.municipality)
        .map(|g| g.code.clone())
        .ok_or_else(|| {
            ScenarioError::Setup(format!(
                "no CBS code for {} in the registry",
                case.municipality
            ))
        })?;
    let riec = env.client(
        "riec-midden-nederland",
        "casusregisseur.riec",
        &["casusregisseur"],
        None,
    )?;
    let open = CaseOpenRequest {
        reference: case.reference.clone(),
        gemeente: gemeente.clone(),
        themes: vec![case.theme.clone()],
        legal_frame: vec![LegalFrame::RiecConvenant, LegalFrame::WpgArt19],
        participants: vec![
            "politie-midden-nederland".into(),
            "om-midden-nederland".into(),
        ],
    };
    match riec.open_case(&open).await {
        Ok(_) => story.say(format!(
            "The RIEC's case director registers case {} ({gemeente}, {}) with the police and the OM taking part.",
            case.reference, case.theme
        )),
        Err(e) if e.slug() == Some("case-exists") => {
            story.detail(format!("case {} is registered already", case.reference));
        }
        Err(e) => return Err(explain(e)),
    }
    let om = env.client(
        "om-midden-nederland",
        "officier.van.justitie",
        &["officier-van-justitie"],
        None,
    )?;
    let consent = om
        .issue_consent(&ConsentRequest {
            case_reference: case.reference.clone(),
            purpose: purpose.into(),
            kinds: kinds.iter().map(|k| k.to_string()).collect(),
            max_identifiers,
            ceiling,
            valid_until: (today() + 30) * 86_400,
        })
        .await
        .map_err(|e| {
            if e.slug() == Some("case-closed") {
                // The police case's walk ends with its closure (scenarios::case_channel).
                return ScenarioError::Setup(format!(
                    "case {} was closed by an earlier run of this scenario; run it on a fresh \
                     --data-dir",
                    case.reference
                ));
            }
            explain(e)
        })?;
    story.say(format!(
        "The officer of justice consents (Wpg art. 19) to queries under the case: {} only, at most {max_identifiers} per request, up to {}; consent {}.",
        kinds.join(", "),
        ceiling.as_str(),
        consent.id
    ));
    Ok(consent.id)
}
