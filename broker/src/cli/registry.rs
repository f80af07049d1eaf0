//! `kruispunt registry show`: what this organisation may send and ask, as the broker's
//! `GET /v1/registry` answers it — printed for a person choosing the values of a spreadsheet's
//! columns, or as JSON (`--json`) for a script.

use std::fmt::Write as _;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};
use kruispunt_sdk::registry::RegistryView;

use super::remote::Remote;

#[derive(Debug, Subcommand)]
pub enum RegistryCommand {
    /// Print the purposes, codes (with their titles), districts, gemeenten and identifier
    /// kinds this organisation may use.
    Show(ShowArgs),
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    #[command(flatten)]
    pub remote: Remote,
    /// Print the broker's JSON answer instead of the text.
    #[arg(long)]
    pub json: bool,
}

pub fn run(cmd: RegistryCommand) -> anyhow::Result<ExitCode> {
    let RegistryCommand::Show(args) = cmd;
    let view = fetch(&args.remote)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&view)?);
    } else {
        print!("{}", render(&view));
    }
    Ok(ExitCode::SUCCESS)
}

/// `GET /v1/registry` at the broker `remote` names.
pub fn fetch(remote: &Remote) -> anyhow::Result<RegistryView> {
    let client = remote.sdk_client()?;
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(client.get_json::<RegistryView>("/v1/registry"))
        .context("GET /v1/registry")
}

/// The view as text: one section per kind of value, each value with its name.
pub fn render(v: &RegistryView) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} ({}), registry {} {}\n",
        v.organisation.name, v.organisation.id, v.registry.name, v.registry.version
    );
    let _ = writeln!(out, "Purposes ({}):", v.purposes.len());
    for p in &v.purposes {
        let _ = writeln!(out, "  {}  {}", p.id, p.title);
        let _ = writeln!(
            out,
            "      legal basis {}; up to {}; {} before anything is disclosed; kept {} days",
            p.legal_basis,
            p.disclosure_ceiling.as_str(),
            kruispunt_sdk::words::counted(p.min_sources, "source", "sources"),
            p.retention_days
        );
        let roles = |r: &[String]| match r.is_empty() {
            true => "(not this organisation)".to_string(),
            false => r.join(", "),
        };
        let _ = writeln!(out, "      ask with role:    {}", roles(&p.ask_roles));
        let _ = writeln!(out, "      supply with role: {}", roles(&p.supply_roles));
        let _ = writeln!(
            out,
            "      identifier kinds: {}",
            p.identifier_kinds.join(", ")
        );
    }
    let _ = writeln!(out, "\nCodes ({}):", v.codes.len());
    for c in &v.codes {
        let _ = writeln!(
            out,
            "  {:<28} {}  [{}]",
            c.code,
            c.title,
            c.purposes.join(", ")
        );
    }
    let _ = writeln!(out, "\nDistricts ({}):", v.districts.len());
    for d in &v.districts {
        let _ = writeln!(out, "  {:<22} {}", d.id, d.name);
    }
    let _ = writeln!(out, "\nGemeenten ({}):", v.gemeenten.len());
    for g in &v.gemeenten {
        let _ = writeln!(out, "  {}  {:<22} district {}", g.code, g.name, g.district);
    }
    let _ = writeln!(out, "\nIdentifier kinds: {}", v.identifier_kinds.join(", "));
    out
}
