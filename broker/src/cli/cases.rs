//! `kruispunt case open|advance|close|list` and `kruispunt consent issue|withdraw`: the case
//! register and the public prosecutor's consents at a running broker (docs/CASES.md), through
//! the SDK. Flags are checked here first, each error naming the flag and the rule; the broker
//! checks everything again (and answers a refusal with its problem type).

use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use kruispunt_sdk::cases::{
    Case, CaseOpenRequest, CaseResult, CaseState, CaseStateRequest, Consent, ConsentRequest,
    InterventionKind, LegalFrame, valid_case_reference,
};
use kruispunt_sdk::wire::Level;

use super::remote::Remote;
use crate::civil::amsterdam;
use crate::civil::now_secs;

#[derive(Debug, Subcommand)]
pub enum CaseCommand {
    /// Register a case (role casusregisseur at the RIEC, a municipality or the police).
    Open(OpenArgs),
    /// Move a case to `intervention` with the kind of intervention.
    Advance(AdvanceArgs),
    /// Close a case with its result (from `open` or `intervention`).
    Close(CloseArgs),
    /// List the cases this organisation opened or takes part in (or show one with --reference).
    List(ListArgs),
    /// Show how many of this organisation's own signals contributed to cases and
    /// interventions, per month (noisy, rounded counts; suppliers only).
    Feedback(FeedbackArgs),
}

#[derive(Debug, Args)]
pub struct FeedbackArgs {
    #[command(flatten)]
    pub remote: Remote,
    /// The first month, YYYY-MM.
    #[arg(long, value_name = "YYYY-MM")]
    pub from: String,
    /// The last month, YYYY-MM (included).
    #[arg(long, value_name = "YYYY-MM")]
    pub to: String,
}

#[derive(Debug, Args)]
pub struct OpenArgs {
    #[command(flatten)]
    pub remote: Remote,
    /// The case reference: 1 to 128 ASCII letters, digits, '-', '_' or '.'.
    #[arg(long, value_parser = parse_reference, value_name = "REF")]
    pub reference: String,
    /// The gemeente as a CBS code of the registry, e.g. GM0344.
    #[arg(long, value_parser = parse_gemeente, value_name = "GM....")]
    pub gemeente: String,
    /// Themes of the registry's taxonomy, comma-separated.
    #[arg(long, value_delimiter = ',', required = true, value_name = "THEME,..")]
    pub themes: Vec<String>,
    /// The legal frame, comma-separated: riec-convenant, wpg-art-19, wpg-art-20, wet-bibob.
    #[arg(long = "legal-frame", value_delimiter = ',', required = true, value_parser = parse_frame, value_name = "FRAME,..")]
    pub legal_frame: Vec<LegalFrame>,
    /// The organisations taking part (registry partner ids), comma-separated.
    #[arg(long, value_delimiter = ',', value_name = "ORG,..")]
    pub participants: Vec<String>,
}

#[derive(Debug, Args)]
pub struct AdvanceArgs {
    #[command(flatten)]
    pub remote: Remote,
    /// The case reference.
    #[arg(long, value_parser = parse_reference, value_name = "REF")]
    pub reference: String,
    /// The kind of intervention: bestuurlijk, strafrechtelijk, fiscaal or other.
    #[arg(long, value_parser = parse_intervention, value_name = "KIND")]
    pub intervention: InterventionKind,
}

#[derive(Debug, Args)]
pub struct CloseArgs {
    #[command(flatten)]
    pub remote: Remote,
    /// The case reference.
    #[arg(long, value_parser = parse_reference, value_name = "REF")]
    pub reference: String,
    /// The result: intervened, no-grounds, transferred or other.
    #[arg(long, value_parser = parse_result, value_name = "RESULT")]
    pub result: CaseResult,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub remote: Remote,
    /// Show this case only.
    #[arg(long, value_parser = parse_reference, value_name = "REF")]
    pub reference: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum ConsentCommand {
    /// Issue a consent (role officier-van-justitie at the OM, with its client certificate).
    Issue(IssueArgs),
    /// Withdraw a consent this organisation issued.
    Withdraw(WithdrawArgs),
}

#[derive(Debug, Args)]
pub struct IssueArgs {
    #[command(flatten)]
    pub remote: Remote,
    /// The registered case the consent is for.
    #[arg(long = "case", value_parser = parse_reference, value_name = "REF")]
    pub case_reference: String,
    /// The Wpg art. 19 purpose queries under it are made for.
    #[arg(long, default_value = "politie-opsporing-wpg19", value_name = "P")]
    pub purpose: String,
    /// The identifier kinds queries may use, comma-separated.
    #[arg(long, value_delimiter = ',', required = true, value_name = "KIND,..")]
    pub kinds: Vec<String>,
    /// The most identifiers per query (and per token scope).
    #[arg(long = "max-identifiers", value_parser = clap::value_parser!(u64).range(1..), value_name = "N")]
    pub max_identifiers: u64,
    /// The highest disclosure level: none, hit, categories or details.
    #[arg(long, value_parser = parse_level, value_name = "LEVEL")]
    pub ceiling: Level,
    /// How many days the consent holds (1 to 366).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=366), value_name = "DAYS")]
    pub days: u32,
}

#[derive(Debug, Args)]
pub struct WithdrawArgs {
    #[command(flatten)]
    pub remote: Remote,
    /// The consent's id, as `consent issue` printed it.
    #[arg(long, value_name = "ID")]
    pub id: String,
}

fn parse_reference(s: &str) -> Result<String, String> {
    if valid_case_reference(s) {
        Ok(s.to_string())
    } else {
        Err(format!(
            "{s:?} is not a case reference: 1 to 128 ASCII letters, digits, '-', '_' or '.'"
        ))
    }
}

fn parse_gemeente(s: &str) -> Result<String, String> {
    if s.len() == 6 && s.starts_with("GM") && s[2..].bytes().all(|b| b.is_ascii_digit()) {
        Ok(s.to_string())
    } else {
        Err(format!(
            "{s:?} is not a CBS municipality code (GM and four digits)"
        ))
    }
}

fn parse_frame(s: &str) -> Result<LegalFrame, String> {
    LegalFrame::parse(s).ok_or_else(|| {
        format!("{s:?} is not a legal frame: riec-convenant, wpg-art-19, wpg-art-20 or wet-bibob")
    })
}

fn parse_intervention(s: &str) -> Result<InterventionKind, String> {
    InterventionKind::parse(s).ok_or_else(|| {
        format!(
            "{s:?} is not a kind of intervention: bestuurlijk, strafrechtelijk, fiscaal or other"
        )
    })
}

fn parse_result(s: &str) -> Result<CaseResult, String> {
    CaseResult::parse(s).ok_or_else(|| {
        format!("{s:?} is not a result: intervened, no-grounds, transferred or other")
    })
}

fn parse_level(s: &str) -> Result<Level, String> {
    [Level::None, Level::Hit, Level::Categories, Level::Details]
        .into_iter()
        .find(|l| l.as_str() == s)
        .ok_or_else(|| format!("{s:?} is not a level: none, hit, categories or details"))
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

/// One case as lines of text.
pub fn show_case(c: &Case) -> String {
    let mut out = format!(
        "{}  {}  {}  themes {}  legal frame {}\n  participants {}\n  opened by {} at {}; last change by {} at {}\n",
        c.reference,
        c.state,
        c.gemeente,
        c.themes.join(","),
        c.legal_frame
            .iter()
            .map(|f| f.as_str())
            .collect::<Vec<_>>()
            .join(","),
        c.participants.join(","),
        c.opened_by,
        amsterdam(c.opened_at * 1000),
        c.updated_by,
        amsterdam(c.updated_at * 1000),
    );
    if let Some(i) = c.intervention {
        out.push_str(&format!("  intervention {i}\n"));
    }
    if let Some(r) = c.result {
        out.push_str(&format!("  result {r}\n"));
    }
    out
}

fn show_consent(c: &Consent) -> String {
    format!(
        "consent {}\n  case {}  purpose {}\n  kinds {}  at most {} identifiers  up to {}\n  valid until {}  issued by {} at {}{}\n",
        c.id,
        c.case_reference,
        c.purpose,
        c.kinds.join(","),
        c.max_identifiers,
        c.ceiling.as_str(),
        amsterdam(c.valid_until * 1000),
        c.issued_by,
        amsterdam(c.issued_at * 1000),
        c.withdrawn_at
            .map(|w| format!("\n  withdrawn at {}", amsterdam(w * 1000)))
            .unwrap_or_default(),
    )
}

pub fn run_case(cmd: CaseCommand) -> anyhow::Result<ExitCode> {
    let rt = runtime()?;
    let out = match cmd {
        CaseCommand::Open(a) => {
            let client = a.remote.sdk_client()?;
            let req = CaseOpenRequest {
                reference: a.reference,
                gemeente: a.gemeente,
                themes: a.themes,
                legal_frame: a.legal_frame,
                participants: a.participants,
            };
            show_case(
                &rt.block_on(client.open_case(&req))
                    .context("POST /v1/cases")?,
            )
        }
        CaseCommand::Advance(a) => {
            let client = a.remote.sdk_client()?;
            let req = CaseStateRequest {
                state: CaseState::Intervention,
                intervention: Some(a.intervention),
                result: None,
            };
            let path = format!("POST /v1/cases/{}/state", a.reference);
            show_case(
                &rt.block_on(client.move_case(&a.reference, &req))
                    .context(path)?,
            )
        }
        CaseCommand::Close(a) => {
            let client = a.remote.sdk_client()?;
            let req = CaseStateRequest {
                state: CaseState::Closed,
                intervention: None,
                result: Some(a.result),
            };
            let path = format!("POST /v1/cases/{}/state", a.reference);
            show_case(
                &rt.block_on(client.move_case(&a.reference, &req))
                    .context(path)?,
            )
        }
        CaseCommand::List(a) => {
            let client = a.remote.sdk_client()?;
            match a.reference {
                Some(r) => {
                    let path = format!("GET /v1/cases/{r}");
                    show_case(&rt.block_on(client.case(&r)).context(path)?)
                }
                None => {
                    let list = rt.block_on(client.cases()).context("GET /v1/cases")?;
                    if list.cases.is_empty() {
                        "no cases\n".to_string()
                    } else {
                        list.cases.iter().map(show_case).collect()
                    }
                }
            }
        }
        CaseCommand::Feedback(a) => {
            let client = a.remote.sdk_client()?;
            let f = rt
                .block_on(client.feedback(&a.from, &a.to))
                .context("GET /v1/feedback")?;
            show_feedback(&f)
        }
    };
    print!("{out}");
    Ok(ExitCode::SUCCESS)
}

/// One line per month and outcome: the released count, `< k` below the threshold, `—` where
/// another rule withheld it.
fn show_feedback(f: &kruispunt_sdk::cases::FeedbackResponse) -> String {
    let mut out = format!(
        "signals of {} that contributed to cases (values ± {} at 95 %, rounded to {})\n",
        f.org, f.margin_95, f.rounding
    );
    for c in &f.cells {
        let month = c.dims.get("month").map_or("", String::as_str);
        let outcome = c.dims.get("outcome").map_or("", String::as_str);
        let value = match (c.value, c.reason) {
            (Some(v), _) => v.to_string(),
            (None, Some(kruispunt_sdk::beeld::SuppressionReason::BelowK)) => format!("< {}", f.k),
            (None, _) => "—".to_string(),
        };
        out.push_str(&format!("{month}  {outcome:<16} {value}\n"));
    }
    out
}

pub fn run_consent(cmd: ConsentCommand) -> anyhow::Result<ExitCode> {
    let rt = runtime()?;
    let out = match cmd {
        ConsentCommand::Issue(a) => {
            if a.kinds.iter().any(|k| k.trim().is_empty()) {
                bail!("--kinds: an identifier kind must not be empty");
            }
            let client = a.remote.sdk_client()?;
            let req = ConsentRequest {
                case_reference: a.case_reference,
                purpose: a.purpose,
                kinds: a.kinds,
                max_identifiers: a.max_identifiers,
                ceiling: a.ceiling,
                valid_until: now_secs() + i64::from(a.days) * 86_400,
            };
            show_consent(
                &rt.block_on(client.issue_consent(&req))
                    .context("POST /v1/consents")?,
            )
        }
        ConsentCommand::Withdraw(a) => {
            let client = a.remote.sdk_client()?;
            let path = format!("DELETE /v1/consents/{}", a.id);
            show_consent(&rt.block_on(client.withdraw_consent(&a.id)).context(path)?)
        }
    };
    print!("{out}");
    Ok(ExitCode::SUCCESS)
}
