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
}

#[derive(Debug, Args)]
pub struct InitArgs {
    #[arg(long, env = "KRUISPUNT_DATA_DIR", default_value_os_t = super::default_data_dir())]
    pub data_dir: PathBuf,
    #[arg(long, default_value = DEFAULT_LISTEN)]
    pub listen: SocketAddr,
}

pub fn init(args: InitArgs) -> anyhow::Result<ExitCode> {
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
    init_tracing();
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
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let running = server::start(&config).await?;
        let ca = DevPki::in_dir(&args.data_dir).ca_cert;
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

pub(crate) fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_env("KRUISPUNT_LOG").unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .try_init();
}
