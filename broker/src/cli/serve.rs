//! `kruispunt serve` and `kruispunt init`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use crate::config::{Config, DEFAULT_LISTEN};
use crate::devpki::DevPki;
use crate::server;

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Directory holding kruispunt.toml, the database, certificates and keys.
    #[arg(long, env = "KRUISPUNT_DATA_DIR", default_value_os_t = super::default_data_dir())]
    pub data_dir: PathBuf,
    /// Address to listen on; overrides the configuration file.
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// Address for the operator's `GET /metrics` (plain HTTP, OpenMetrics text); overrides
    /// `[metrics] listen` in the configuration file. Keep it on loopback or a management network.
    #[arg(long)]
    pub metrics_listen: Option<SocketAddr>,
    /// Log lines as text for people or as one JSON object per line for a log collector. The
    /// filter is KRUISPUNT_LOG (tracing's EnvFilter syntax, default `info`; e.g.
    /// `KRUISPUNT_LOG=info,kruispunt::request=warn` silences the per-request lines).
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

/// The log's format on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    #[arg(long, env = "KRUISPUNT_DATA_DIR", default_value_os_t = super::default_data_dir())]
    pub data_dir: PathBuf,
    #[arg(long, default_value = DEFAULT_LISTEN)]
    pub listen: SocketAddr,
    /// A production set-up: the configuration, the broker's own keys and a TLS key with a
    /// certificate request — no development CA, no demo partner keys.
    #[arg(long, requires_all = ["deployment", "tls_name"])]
    pub production: bool,
    /// The deployment's name (production): the tokens' audience and the audit log's origin
    /// `kruispunt/<deployment>`.
    #[arg(long)]
    pub deployment: Option<String>,
    /// A DNS name (or IP address) partners reach the broker by, for the certificate request
    /// (production; repeat for several).
    #[arg(long = "tls-name")]
    pub tls_name: Vec<String>,
    /// The database (production): `postgres://…`; SQLite in the data directory when absent.
    #[arg(long)]
    pub database: Option<String>,
}

/// `kruispunt init --production`: writes the set-up and prints the public halves and what is
/// left to do.
fn init_production(args: &InitArgs) -> anyhow::Result<ExitCode> {
    let deployment = args.deployment.as_deref().unwrap_or_default();
    let keys = Config::init_production(
        &args.data_dir,
        deployment,
        args.listen,
        args.database.as_deref(),
        &args.tls_name,
    )?;
    let origin = format!("kruispunt/{deployment}");
    let vkey = kruispunt_sdk::transparency::verifier_key(&origin, keys.audit_public_key())
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let dir = args.data_dir.display();
    println!("Created a production set-up in {dir} (no development material):");
    println!("  {dir}/kruispunt.toml            the configuration (development = false)");
    println!(
        "  {dir}/keys/at-rest.key          the at-rest key (secret; back it up apart from the database)"
    );
    println!("  {dir}/keys/audit-signing.pk8    the audit log's signing key (secret)");
    println!("  {dir}/tls/server.key            the broker's TLS key (secret)");
    println!(
        "  {dir}/tls/server.csr            its certificate request for {}",
        args.tls_name.join(", ")
    );
    println!();
    println!("The audit log's verifier key (give it to partners, privacy officers and witnesses):");
    println!("  {vkey}");
    println!();
    println!("Still to do before /readyz says ready:");
    println!(
        "  1. have your CA sign tls/server.csr and put the chain (leaf first) at {dir}/tls/server.pem;"
    );
    println!(
        "  2. add `registry = \"…\"` to kruispunt.toml: the registry with each partner's token key"
    );
    println!(
        "     (each partner runs `kruispunt partner keygen` and sends you the printed entry);"
    );
    println!("  3. add `client_ca` under [tls] if a partner must use mTLS;");
    println!(
        "  4. `kruispunt serve --data-dir {dir}` and check `curl https://<name>:<port>/readyz`."
    );
    Ok(ExitCode::SUCCESS)
}

pub fn init(args: InitArgs) -> anyhow::Result<ExitCode> {
    if args.production {
        return init_production(&args);
    }
    let created = Config::init_development(&args.data_dir, args.listen)?;
    if created {
        println!(
            "Created a development set-up in {}",
            args.data_dir.display()
        );
    } else {
        println!(
            "{} already holds a configuration; nothing changed",
            args.data_dir.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    init_tracing(args.log_format);
    let listen = args
        .listen
        .unwrap_or_else(|| DEFAULT_LISTEN.parse().expect("default address"));
    if Config::init_development(&args.data_dir, listen)? {
        println!(
            "First start: created a development set-up in {}",
            args.data_dir.display()
        );
    }
    let mut config = Config::load(&args.data_dir)?;
    if let Some(l) = args.listen {
        config.listen = l;
    }
    if let Some(m) = args.metrics_listen {
        config.metrics = Some(crate::config::MetricsConfig { listen: m });
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let running = server::start(&config).await?;
        let ca = DevPki::in_dir(&args.data_dir).ca_cert;
        tracing::info!(
            version = super::VERSION,
            listen = %running.addr,
            database = running.state.store.backend(),
            development = config.development,
            "broker started"
        );
        // The metrics line comes first: a supervisor (or a test) that waits for the
        // "listening" line has read every address by then.
        if let Some(m) = &running.metrics {
            println!("Metrics (OpenMetrics text) at http://{}/metrics", m.addr);
        }
        println!("Kruispunt broker listening on https://{}", running.addr);
        if config.development && ca.exists() {
            println!("Development CA to trust: {}", ca.display());
            println!(
                "Try:  curl --cacert {} https://{}/healthz",
                ca.display(),
                running.addr
            );
            println!(
                "Mint a token:  cargo run --release -- token --data-dir {} --partner autobedrijf-de-vecht --role compliance",
                args.data_dir.display()
            );
            println!("Then follow the tour in README.md; the API is described at https://{}/v1/openapi.json", running.addr);
        }
        println!("Stop with Ctrl-C.");
        server::shutdown_signal().await;
        println!("Shutting down: finishing in-flight requests…");
        running.shutdown().await?;
        println!("Stopped.");
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Logs to stderr, filtered by KRUISPUNT_LOG; colour codes only when stderr is a terminal
/// (a journal or a file gets plain text).
pub(crate) fn init_tracing(format: LogFormat) {
    use std::io::IsTerminal;
    use tracing_subscriber::EnvFilter;
    let filter =
        EnvFilter::try_from_env("KRUISPUNT_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().with_current_span(false).try_init(),
        LogFormat::Text => builder
            .with_ansi(std::io::stderr().is_terminal())
            .try_init(),
    };
}
