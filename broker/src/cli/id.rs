//! `kruispunt id normalise|pseudonymise`: the SDK's identifier handling on the command line,
//! so partners can check a value or pseudonymise a file without writing code.

use std::io::{BufRead, BufWriter, IsTerminal, Write};
use std::process::ExitCode;

use clap::{Subcommand, ValueEnum};
use kruispunt_sdk::identifiers::{self, IdentifierKind};
use kruispunt_sdk::pseudonym::CoalitionKey;

#[derive(Debug, Subcommand)]
pub enum IdCommand {
    /// Print the canonical form of one value; an invalid value exits 2 with the reason.
    Normalise {
        #[arg(long = "type", value_name = "KIND")]
        kind: IdentifierKind,
        value: String,
    },
    /// Read one value per line on stdin, write one pseudonym (or `error: …`) per line on stdout.
    Pseudonymise {
        #[arg(long = "type", value_name = "KIND")]
        kind: IdentifierKind,
        /// The coalition key, 64 hex characters. Prefer KRUISPUNT_COALITION_KEY over the command line.
        #[arg(long, env = "KRUISPUNT_COALITION_KEY", hide_env_values = true)]
        key_hex: String,
        #[arg(long, default_value_t = 1)]
        key_version: u32,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    Text,
    Jsonl,
}

pub fn run(cmd: IdCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        IdCommand::Normalise { kind, value } => match identifiers::normalise(kind, &value) {
            Ok(c) => {
                for w in &c.warnings {
                    eprintln!("warning: {w}");
                }
                println!("{}", c.value);
                Ok(ExitCode::SUCCESS)
            }
            Err(e) => {
                eprintln!("error: {e}");
                Ok(ExitCode::from(2))
            }
        },
        IdCommand::Pseudonymise {
            kind,
            key_hex,
            key_version,
            format,
        } => {
            let key = match CoalitionKey::from_hex(&key_hex, key_version) {
                Ok(k) => k,
                Err(e) => {
                    eprintln!("error: --key-hex: {e}");
                    return Ok(ExitCode::from(2));
                }
            };
            let stdin = std::io::stdin().lock();
            let stdout = std::io::stdout().lock();
            let progress = std::io::stderr().is_terminal();
            let failed = pseudonymise_stream(&key, kind, format, stdin, stdout, progress)?;
            Ok(if failed > 0 {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            })
        }
    }
}

/// Streams `input` to `output` line by line in constant memory; returns the number of failed
/// lines. A bad line never stops the stream: it becomes an `error:` line in its place.
pub fn pseudonymise_stream(
    key: &CoalitionKey,
    kind: IdentifierKind,
    format: Format,
    mut input: impl BufRead,
    output: impl Write,
    progress: bool,
) -> anyhow::Result<u64> {
    let p = key.pseudonymiser(kind);
    let mut out = BufWriter::with_capacity(1 << 16, output);
    let bar = progress.then(|| {
        let bar = indicatif::ProgressBar::new_spinner();
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} {human_pos} lines pseudonymised ({per_sec})",
            )
            .expect("static template"),
        );
        bar
    });
    let mut raw = Vec::with_capacity(256);
    let mut canonical = String::with_capacity(64);
    let (mut line_no, mut failed) = (0u64, 0u64);
    loop {
        raw.clear();
        if input.read_until(b'\n', &mut raw)? == 0 {
            break;
        }
        line_no += 1;
        while raw.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
            raw.pop();
        }
        let result = match std::str::from_utf8(&raw) {
            Ok(line) => identifiers::normalise_into(kind, line, &mut canonical)
                .map(|()| p.pseudonymise_canonical(&canonical))
                .map_err(|e| e.to_string()),
            Err(_) => Err("line is not valid UTF-8".to_string()),
        };
        match (result, format) {
            (Ok(ps), Format::Text) => writeln!(out, "{}", ps.to_hex())?,
            (Ok(ps), Format::Jsonl) => writeln!(
                out,
                "{{\"line\":{line_no},\"kind\":\"{}\",\"key_version\":{},\"pseudonym\":\"{}\"}}",
                kind.as_str(),
                key.version(),
                ps.to_hex()
            )?,
            (Err(e), Format::Text) => {
                failed += 1;
                writeln!(out, "error: {e}")?
            }
            (Err(e), Format::Jsonl) => {
                failed += 1;
                writeln!(
                    out,
                    "{}",
                    serde_json::json!({ "line": line_no, "error": e })
                )?
            }
        }
        if let Some(bar) = &bar
            && line_no % 4096 == 0
        {
            bar.set_position(line_no);
        }
    }
    out.flush()?;
    if let Some(bar) = bar {
        bar.finish_with_message("done");
        eprintln!("{line_no} lines, {failed} failed");
    }
    Ok(failed)
}
