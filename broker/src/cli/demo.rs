//! `kruispunt demo`: the whole Midden-Nederland story in one command. Starts a broker in this
//! process on a fresh temporary data directory (development PKI, demo partner keys, SQLite),
//! over real HTTPS on a free loopback port, runs every scenario of the `kruispunt-examples`
//! crate through the SDK — the same code `cargo run -p kruispunt-examples --example …` runs —
//! and ends with a summary and the verification of the audit log.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, ValueEnum};
use kruispunt_examples::synthetic::Scale;
use kruispunt_examples::{Env, Outcome, SCENARIOS, Story};

use crate::config::Config;
use crate::server;

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum DemoScale {
    /// 2 000 vehicles, 500 companies, 200 addresses (seconds).
    Small,
    /// 100 000 vehicles, 20 000 companies, 5 000 addresses (the unit's scale).
    Full,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Keep the broker's data in DIR (created if needed) instead of a temporary directory that
    /// is removed afterwards.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Size of the synthetic data set.
    #[arg(long, value_enum, default_value_t = DemoScale::Small)]
    pub scale: DemoScale,
    /// Print only the summary, not each scenario's narrative.
    #[arg(long)]
    pub quiet: bool,
}

/// A directory removed on drop (the demo's data unless `--data-dir` was given).
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let kept = args.data_dir.is_some();
    let (dir, _cleanup) = match &args.data_dir {
        Some(d) => (d.clone(), None),
        None => {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos());
            let d = std::env::temp_dir()
                .join(format!("kruispunt-demo-{}-{nanos:08x}", std::process::id()));
            (d.clone(), Some(TempDir(d)))
        }
    };
    let listen = "127.0.0.1:0".parse().expect("a socket address");
    Config::init_development(&dir, listen)?;
    let mut config = Config::load(&dir)?;
    config.listen = listen;
    let scale = match args.scale {
        DemoScale::Small => Scale::SMALL,
        DemoScale::Full => Scale::FULL,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let running = server::start(&config).await?;
        let url = format!("https://{}", running.addr);
        println!("Kruispunt demo: broker listening on {url} (data in {})", dir.display());
        let env = Env::from_data_dir(&dir, Some(&url), scale)?;
        let mut results: Vec<(&str, Result<Outcome, String>)> = Vec::new();
        for name in SCENARIOS {
            let mut story = Story::new(!args.quiet);
            let r = kruispunt_examples::run(name, &env, &mut story).await;
            if let Err(e) = &r {
                eprintln!("\n{name} failed: {e}");
            }
            results.push((name, r.map_err(|e| e.to_string())));
        }

        // Publish a checkpoint over everything so far, then verify as an outside party would.
        running
            .state
            .audit_log
            .sync(&*running.state.store, &running.state.keys)
            .await?;
        let riec = env.client("riec-midden-nederland", "fg.riec", &["privacy-officer"], None)?;
        let verified = kruispunt_examples::verify::verify_log(&riec).await;

        println!("\n== Summary ==");
        println!("  {:<22} {:>8} {:>12} {:>9}  result", "scenario", "stored", "disclosures", "refusals");
        let mut failed = 0;
        for (name, r) in &results {
            match r {
                Ok(o) => println!(
                    "  {name:<22} {:>8} {:>12} {:>9}  ok",
                    o.stored, o.disclosures, o.refusals
                ),
                Err(e) => {
                    failed += 1;
                    println!("  {name:<22} {:>8} {:>12} {:>9}  FAILED: {e}", "-", "-", "-");
                }
            }
        }
        match &verified {
            Ok(log) => println!(
                "  Audit log `{}`: VERIFIED. The checkpoint's signature is valid and the Merkle root of all {} \
                 (root {}) matches it, so none was changed, removed or reordered. {} the RIEC's privacy officer \
                 may read were recomputed from their salt and text; the other {} were checked as leaves only \
                 (their content is not this reader's to see).",
                log.checkpoint.origin,
                kruispunt_sdk::words::counted(log.report.size, "entry", "entries"),
                &hex::encode(log.report.root)[..16],
                kruispunt_sdk::words::counted(log.report.entries_checked, "entry", "entries"),
                log.report.leaves_only,
            ),
            Err(e) => println!("  Audit log: NOT verified: {e}"),
        }
        println!("\n{}", heat_map_hint(&dir, kept));
        tokio::time::timeout(Duration::from_secs(15), running.shutdown())
            .await
            .context("the broker did not stop in time")??;
        Ok::<_, anyhow::Error>(if failed == 0 && verified.is_ok() {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        })
    })
}

/// Where to open the ondermijningsbeeld's heat map after the demo. The demo's broker stops
/// when it ends; with a temporary data directory its data goes too, so the hint says so and
/// gives the commands that keep the same synthetic data and serve it on the default address.
fn heat_map_hint(dir: &std::path::Path, kept: bool) -> String {
    let (mut out, dir) = if kept {
        (
            format!(
                "== The heat map ==\n  The demo's data is kept in {0}. To open the ondermijningsbeeld's \
                 heat map, serve it and sign in as the RIEC's analyst:\n",
                dir.display()
            ),
            dir.display().to_string(),
        )
    } else {
        (
            "== The heat map ==\n  This demo's broker and its data were temporary: both are gone \
             when it ends. To open the ondermijningsbeeld's heat map of the same synthetic data, \
             keep the data, serve it and sign in as the RIEC's analyst:\n    \
             kruispunt demo --data-dir kruispunt-demo\n"
                .to_string(),
            "kruispunt-demo".to_string(),
        )
    };
    out.push_str(&format!(
        "    kruispunt serve --data-dir {dir} --listen {listen}\n    \
         T=$(kruispunt token --data-dir {dir} --partner riec-midden-nederland --role analist)\n  \
         then open https://localhost:{port}/beeld/#token=$T in a browser that trusts \
         {dir}/tls/ca.pem, choose gemeenten or districts and press \"Draw heat map\".",
        listen = crate::config::DEFAULT_LISTEN,
        port = crate::config::DEFAULT_LISTEN
            .rsplit(':')
            .next()
            .unwrap_or("8443"),
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hint_says_whether_the_data_is_gone_and_how_to_serve_it() {
        let temp = heat_map_hint(std::path::Path::new("/tmp/kruispunt-demo-1"), false);
        assert!(temp.contains("were temporary"), "{temp}");
        assert!(
            temp.contains("kruispunt demo --data-dir kruispunt-demo\n"),
            "{temp}"
        );
        assert!(
            temp.contains("kruispunt serve --data-dir kruispunt-demo --listen 127.0.0.1:8443"),
            "{temp}"
        );
        assert!(!temp.contains("/tmp/kruispunt-demo-1"), "{temp}");
        let kept = heat_map_hint(std::path::Path::new("demo-data"), true);
        assert!(kept.contains("kept in demo-data"), "{kept}");
        assert!(!kept.contains("kruispunt demo --data-dir"), "{kept}");
        assert!(
            kept.contains("https://localhost:8443/beeld/#token=$T"),
            "{kept}"
        );
        assert!(kept.contains("trusts demo-data/tls/ca.pem"), "{kept}");
    }
}
