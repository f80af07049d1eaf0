//! From an entry's commit to a cosigned checkpoint covering it:
//! `cargo bench -p kruispunt-broker --bench witness_latency` (or, in the debug build the tests
//! use, `cargo test --workspace --bench witness_latency`).
//!
//! Starts a broker in process (SQLite, over HTTPS, the test kit's) with three witnesses — real
//! `kruispunt witness serve` processes on loopback — and a 2-of-3 quorum policy in its
//! `[witnesses]` configuration. Then, `KRUISPUNT_BENCH_ROUNDS` times (default 100), after a random pause of up to
//! 2 s so that commits fall anywhere in the signing interval: commits one entry (an officer's read of the log, which is itself an audit entry; the clock starts when
//! the answer, sent after the commit, arrives) and polls `GET /v1/audit/checkpoint` every 10 ms
//! until the note served there verifies under the policy (log signature and two valid
//! cosignatures) and covers the entry. Also notes when the log task's own signed checkpoint
//! first covered it, so the figure splits into waiting for the signing interval and cosigning.
//!
//! `KRUISPUNT_BENCH_SIGN_EVERY_MS=N` also signs every N ms (beside the log task's 500 ms), to show
//! what a shorter signing interval gives.
//!
//! Prints p50, p99 and max of: commit → signed checkpoint, commit → cosigned checkpoint
//! published, and their difference (the cosigning round: three witnesses asked concurrently,
//! each verifying a consistency proof and fsyncing its state before answering).
//! Target (issue 18): cosigned checkpoint published within 2 s (p99) of the commit.
//! Figures: docs/AUDIT.md, "Witnesses and cosigned checkpoints".

use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use kruispunt_sdk::transparency::{WitnessPolicy, parse_verifier_key};
use kruispunt_test_kit::Broker;
use kruispunt_test_kit::bench::{env_or, splitmix};

const BIN: &str = env!("CARGO_BIN_EXE_kruispunt");

struct Witness {
    child: Child,
    url: String,
    vkey: String,
}

impl Drop for Witness {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn witness(dir: &Path, name: &str, log: &str) -> Witness {
    let key = dir.join(format!("{name}.skey"));
    let out = Command::new(BIN)
        .args([
            "witness",
            "keygen",
            "--name",
            &format!("{name}.example/witness"),
        ])
        .arg("--out")
        .arg(&key)
        .output()
        .unwrap();
    assert!(out.status.success());
    let vkey = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let (child, url) = kruispunt_test_kit::serve_process::spawn_witness(
        Path::new(BIN),
        &key,
        &dir.join(format!("{name}.state")),
        &[log.to_string()],
        &[],
    );
    Witness { child, url, vkey }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

fn report(name: &str, mut v: Vec<Duration>) {
    v.sort();
    println!(
        "{name:<36} p50 {:>7.1} ms   p99 {:>7.1} ms   max {:>7.1} ms",
        percentile(&v, 0.50).as_secs_f64() * 1e3,
        percentile(&v, 0.99).as_secs_f64() * 1e3,
        v.last().unwrap().as_secs_f64() * 1e3
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let rounds: usize = env_or("KRUISPUNT_BENCH_ROUNDS", 100);
    let b = Broker::start(None).await;
    let log_vkey = b.audit_key().await;
    let log = parse_verifier_key(&log_vkey).unwrap();
    let arg = format!("{}={log_vkey}", log.name());
    let dir = tempfile::tempdir().unwrap();
    let ws: Vec<Witness> = ["riec", "ap", "gemeente"]
        .iter()
        .map(|n| witness(dir.path(), n, &arg))
        .collect();
    let mut policy = String::new();
    for (w, n) in ws.iter().zip(["riec", "ap", "gemeente"]) {
        policy.push_str(&format!("witness {n} {} {}\n", w.vkey, w.url));
    }
    policy.push_str("group fg 2 riec ap gemeente\nquorum fg\n");
    let path = b.data_dir().join("kruispunt.toml");
    let mut cfg: toml::Table = std::fs::read_to_string(&path).unwrap().parse().unwrap();
    let mut t = toml::Table::new();
    t.insert("policy".into(), policy.clone().into());
    cfg.insert("witnesses".into(), t.into());
    std::fs::write(&path, toml::to_string(&cfg).unwrap()).unwrap();
    let b = b.restart().await;
    let policy = WitnessPolicy::parse(&policy).unwrap();
    let officer = b.token("autobedrijf-de-vecht", &["privacy-officer"]);
    let store = b.store().await;
    let state = b.state();
    // What a shorter signing interval would give: sign (and wake the cosigning) this often as
    // well, beside the log task's own 2 s.
    let sign_every: u64 = env_or("KRUISPUNT_BENCH_SIGN_EVERY_MS", 0);
    let signer = (sign_every > 0).then(|| {
        let st = state.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(sign_every));
            loop {
                tick.tick().await;
                if st.audit_log.sync(&*st.store, &st.keys).await.is_ok()
                    && let Some(w) = &st.witnesses
                {
                    w.checkpoint_signed();
                }
            }
        })
    });

    let (mut signed, mut cosigned, mut cosigning) = (Vec::new(), Vec::new(), Vec::new());
    // Commits arrive at random moments, not in step with the signing interval: a random pause
    // of up to 2 s (the interval) before each.
    let mut rng = 18u64;
    for _ in 0..rounds {
        tokio::time::sleep(Duration::from_millis(splitmix(&mut rng) % 2000)).await;
        let (st, _) = b
            .get_json("/v1/audit/entries?start=0&end=1", Some(&officer))
            .await;
        assert_eq!(st, 200);
        let t0 = Instant::now();
        let n = store.audit().audit_len().await.unwrap();
        let mut t_signed = None;
        loop {
            if t_signed.is_none()
                && state
                    .audit_log
                    .checkpoint()
                    .await
                    .is_some_and(|(s, _)| s >= n)
            {
                t_signed = Some(t0.elapsed());
            }
            let note = b.checkpoint_note().await;
            if let Ok(c) = policy.verify(&note, std::slice::from_ref(&log))
                && c.checkpoint.size >= n
            {
                let t = t0.elapsed();
                let s = t_signed.unwrap_or(t);
                signed.push(s);
                cosigned.push(t);
                cosigning.push(t.saturating_sub(s));
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    if let Some(t) = signer {
        t.abort();
    }
    println!(
        "{rounds} rounds, 3 witnesses (real processes), quorum 2 of 3, SQLite, signing every 500 ms (the log task){}",
        if sign_every > 0 {
            format!(" and every {sign_every} ms")
        } else {
            String::new()
        }
    );
    report("commit -> signed checkpoint", signed);
    report("commit -> cosigned checkpoint served", cosigned);
    report("signed -> cosigned (cosigning)", cosigning);
    b.stop().await;
    drop(ws);
}
