//! `kruispunt witness`: run a witness for Kruispunt audit logs (or any C2SP transparency log).
//!
//! `keygen` creates the witness's signer key (owner-only) and prints its verifier key, which the
//! brokers and verifiers that rely on this witness list in their quorum policy. `serve` answers
//! C2SP `tlog-witness` `add-checkpoint` requests for the logs given with `--log` (see
//! [`crate::witness`] and docs/AUDIT.md).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use kruispunt_sdk::transparency::{Verifier, parse_verifier_key};

use crate::config::Connections;
use crate::witness::{Witness, WitnessKey};

#[derive(Debug, Subcommand)]
pub enum WitnessCommand {
    /// Create a witness signer key (owner-only) and print its verifier key.
    Keygen(KeygenArgs),
    /// Run the witness: cosign checkpoints of the given logs that extend what it cosigned before.
    Serve(ServeArgs),
}

#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// The witness's key name, a schema-less URL naming it (e.g. `riec.example/witness`).
    #[arg(long)]
    name: String,
    /// Where to write the signer key (refuses to overwrite).
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The witness's signer key file (from `kruispunt witness keygen`).
    #[arg(long, value_name = "FILE")]
    key: PathBuf,
    /// Folder of the witness's state: the latest cosigned checkpoint per log, and the evidence
    /// of refused requests (`evidence.jsonl`).
    #[arg(long, value_name = "DIR")]
    state: PathBuf,
    /// A log to witness: its origin and its verifier key (`GET /v1/audit/key` of a broker).
    /// Repeat for several logs (or several keys of one log).
    #[arg(long = "log", value_name = "ORIGIN=VKEY", required = true)]
    logs: Vec<String>,
    /// Address to listen on (port 0 picks a free one; the address is printed).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:7380")]
    listen: SocketAddr,
    /// Connections served at once; one beyond it is closed as soon as it is accepted (as the
    /// broker's `[connections] max_connections`).
    #[arg(long, value_name = "N", default_value_t = Connections::default().max_connections)]
    max_connections: usize,
    /// Seconds a connection has to send each request head, and may stay idle between requests.
    #[arg(long, value_name = "SECS", default_value_t = Connections::default().header_read_timeout_secs)]
    header_read_timeout_secs: u64,
    /// Seconds a whole request (its body included) may take; a slower one is answered 503.
    #[arg(long, value_name = "SECS", default_value_t = Connections::default().request_timeout_secs)]
    request_timeout_secs: u64,
}

pub fn run(cmd: WitnessCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        WitnessCommand::Keygen(a) => keygen(a),
        WitnessCommand::Serve(a) => serve(a),
    }
}

fn keygen(a: KeygenArgs) -> anyhow::Result<ExitCode> {
    let key = WitnessKey::generate(&a.name).map_err(|e| anyhow::anyhow!("--name: {e}"))?;
    crate::secret_file::write_secret(&a.out, key.to_skey().as_bytes())
        .with_context(|| format!("--out: cannot create {}", a.out.display()))?;
    println!("{}", key.verifier());
    Ok(ExitCode::SUCCESS)
}

/// `ORIGIN=VKEY`, the key checked and named for the origin.
fn parse_log(arg: &str) -> anyhow::Result<(String, Verifier)> {
    let (origin, vkey) = arg
        .split_once('=')
        .with_context(|| format!("--log {arg:?}: expected ORIGIN=VKEY"))?;
    let verifier =
        parse_verifier_key(vkey).with_context(|| format!("--log {origin}: the verifier key"))?;
    if origin.is_empty() {
        anyhow::bail!("--log {arg:?}: the origin is empty");
    }
    Ok((origin.to_string(), verifier))
}

fn serve(a: ServeArgs) -> anyhow::Result<ExitCode> {
    super::serve::init_tracing(super::serve::LogFormat::Text);
    let key = WitnessKey::load(&a.key).context("--key")?;
    let logs = a
        .logs
        .iter()
        .map(|l| parse_log(l))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let witness = Arc::new(Witness::open(key, &a.state, logs).context("--state")?);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(a.listen)
            .await
            .with_context(|| format!("--listen: cannot listen on {}", a.listen))?;
        println!(
            "Kruispunt witness {} listening on http://{}",
            witness.key().verifier(),
            listener.local_addr()?
        );
        let connections = Connections {
            max_connections: a.max_connections,
            header_read_timeout_secs: a.header_read_timeout_secs,
            request_timeout_secs: a.request_timeout_secs,
            ..Connections::default()
        };
        crate::witness::http::serve(
            witness,
            listener,
            &connections,
            crate::server::shutdown_signal(),
        )
        .await?;
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(ExitCode::SUCCESS)
}
