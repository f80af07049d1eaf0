//! The shared command line of the example programs:
//! `--data-dir DIR` (default `./kruispunt-data`), `--url URL` (default: the configured listen
//! address), `--scale small|full` (default `small`).

use std::path::PathBuf;
use std::process::ExitCode;

use crate::synthetic::Scale;
use crate::{Env, Story};
use kruispunt_sdk::words::counted;

/// Parsed options.
#[derive(Debug, Clone)]
pub struct Options {
    /// The broker's data directory.
    pub data_dir: PathBuf,
    /// Broker URL override.
    pub url: Option<String>,
    /// Data set scale.
    pub scale: Scale,
}

/// Parses `std::env::args`, naming the option at fault.
pub fn parse() -> Result<Options, String> {
    let mut o = Options {
        data_dir: std::env::var_os("KRUISPUNT_DATA_DIR")
            .map_or_else(|| PathBuf::from("kruispunt-data"), PathBuf::from),
        url: None,
        scale: Scale::SMALL,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
        match a.as_str() {
            "--data-dir" => o.data_dir = PathBuf::from(value("--data-dir")?),
            "--url" => o.url = Some(value("--url")?),
            "--scale" => {
                o.scale = match value("--scale")?.as_str() {
                    "small" => Scale::SMALL,
                    "full" => Scale::FULL,
                    other => return Err(format!("--scale: `{other}` is not small or full")),
                }
            }
            "-h" | "--help" => {
                return Err(
                    "options: --data-dir DIR  --url https://HOST:PORT  --scale small|full".into(),
                );
            }
            other => return Err(format!("unknown option `{other}`")),
        }
    }
    Ok(o)
}

/// Runs one scenario against the broker named by the command line, printing its narrative.
pub fn main_for(scenario: &str) -> ExitCode {
    let opts = match parse() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    rt.block_on(async {
        let env = match Env::from_data_dir(&opts.data_dir, opts.url.as_deref(), opts.scale) {
            Ok(e) => e,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        };
        let mut story = Story::new(true);
        match crate::run(scenario, &env, &mut story).await {
            Ok(o) => {
                println!(
                    "\n{scenario}: {} stored, {}, {} as expected.",
                    counted(o.stored, "signal", "signals"),
                    counted(o.disclosures, "disclosure", "disclosures"),
                    counted(o.refusals, "refusal", "refusals")
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("\n{scenario} failed: {e}");
                ExitCode::FAILURE
            }
        }
    })
}
