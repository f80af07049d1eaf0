//! The `kruispunt` command line. Each subcommand lives in its own module.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub mod audit;
pub mod audit_subject;
pub mod beeld;
pub mod cases;
pub mod coalition;
#[cfg(feature = "demo")]
pub mod demo;
pub mod id;
pub mod mapping;
pub mod matches;
pub mod partner;
pub mod policy;
pub mod registry;
pub mod remote;
pub mod serve;
pub mod sheet;
pub mod signals;
pub mod token;
pub mod witness;

#[derive(Debug, Parser)]
#[command(
    name = "kruispunt",
    version = VERSION,
    about = "Kruispunt: a privacy-preserving data-sharing broker for the partnerships against ondermijning"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the broker over HTTPS (creates a development set-up on first start).
    Serve(serve::ServeArgs),
    /// Create the data directory (configuration, development CA and keys) without serving.
    Init(serve::InitArgs),
    /// Mint a short-lived token: with the organisation's own key (`--key`, from `partner
    /// keygen`), or with a demo partner's key (development set-ups only).
    Token(token::TokenArgs),
    /// The organisation's own keys: `partner keygen` writes its token-signing key.
    #[command(subcommand)]
    Partner(partner::PartnerCommand),
    /// What this organisation may send and ask at a broker (purposes, codes, districts,
    /// gemeenten, identifier kinds).
    #[command(subcommand)]
    Registry(registry::RegistryCommand),
    /// Upload a spreadsheet's rows (CSV or .xlsx) as signals, pseudonymised here.
    #[command(subcommand)]
    Signals(signals::SignalsCommand),
    /// The organisation's coalition membership (MLS) in a local owner-only state file, from
    /// which `signals upload` and `match` take the current coalition key.
    #[command(subcommand)]
    Coalition(coalition::CoalitionCommand),
    /// Ask about every identifier in a spreadsheet's column and write the rows back with the
    /// answer per row (joined here; the broker sees pseudonyms only).
    Match(matches::MatchArgs),
    /// Normalise and pseudonymise identifiers locally (no broker involved).
    #[command(subcommand)]
    Id(id::IdCommand),
    /// Run every Midden-Nederland scenario against an in-process broker and verify the audit log.
    #[cfg(feature = "demo")]
    Demo(demo::DemoArgs),
    /// Test, evaluate and check the purpose-limitation policy.
    #[command(subcommand)]
    Policy(policy::PolicyCommand),
    /// Verify or export the tamper-evident audit log.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// Ask a broker for the ondermijningsbeeld (counts per area, theme and period, with
    /// suppressed cells marked) and print it as a table or write it as CSV.
    Beeld(beeld::BeeldArgs),
    /// Open, move and list cases (casussen) at a broker (docs/CASES.md).
    #[command(subcommand)]
    Case(cases::CaseCommand),
    /// Issue or withdraw the public prosecutor's consent to Wpg art. 19 queries under a case.
    #[command(subcommand)]
    Consent(cases::ConsentCommand),
    /// Run a witness that cosigns audit checkpoints (C2SP tlog-witness), or create its key.
    #[command(subcommand)]
    Witness(witness::WitnessCommand),
}

/// `kruispunt --version`: the crate version and the commit it was built from (see build.rs).
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("KRUISPUNT_COMMIT"),
    ")"
);

/// The default data directory, relative to where the broker is started.
pub fn default_data_dir() -> PathBuf {
    PathBuf::from("kruispunt-data")
}

/// Parses the command line and runs it; errors print on stderr and exit non-zero.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve::serve(args),
        Command::Init(args) => serve::init(args),
        Command::Token(args) => token::run(args),
        Command::Partner(cmd) => partner::run(cmd),
        Command::Registry(cmd) => registry::run(cmd),
        Command::Signals(cmd) => signals::run(cmd),
        Command::Match(args) => matches::run(args),
        Command::Coalition(cmd) => coalition::run(cmd),
        Command::Id(cmd) => id::run(cmd),
        Command::Policy(cmd) => policy::run(cmd),
        #[cfg(feature = "demo")]
        Command::Demo(args) => demo::run(args),
        Command::Audit(cmd) => audit::run(cmd),
        Command::Beeld(args) => beeld::run(args),
        Command::Case(cmd) => cases::run_case(cmd),
        Command::Consent(cmd) => cases::run_consent(cmd),
        Command::Witness(cmd) => witness::run(cmd),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
