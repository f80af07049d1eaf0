//! Crash test of the audit trail: the real `kruispunt serve` process is killed with SIGKILL at
//! an arbitrary moment during a load of matches and uploads, several times, and restarted on the
//! same data directory. Afterwards:
//!
//! - every 2xx response a client received has its entry in the log, with the content the
//!   response stands for (a match's `audit_seq` names an entry of that requester with the
//!   request's justification; every signal an upload reported `stored` is named by an upload
//!   entry of its supplier);
//! - the whole log verifies (every leaf recomputed from its salt and entry, the root against a
//!   checkpoint signed by the broker);
//! - every checkpoint any client saw is consistent with the final tree: the broker's
//!   consistency proof from it to the final checkpoint verifies, and so does a recomputation of
//!   the tree from the exported entries with that checkpoint as the trusted one.
//!
//! On SQLite always, on PostgreSQL when `KRUISPUNT_TEST_POSTGRES_URL` is set.

use kruispunt_test_kit::ServeProcess;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::audit_common::*;
use kruispunt_sdk::transparency::{Checkpoint, LogVerifier, empty_root, open_checkpoint};
use serde_json::{Value, json};
use tokio::sync::Mutex;

/// How many times the broker is killed under load.
const KILLS: usize = 4;
/// Upper bound of the requests one load task sends per round (the kill comes much earlier).
const MAX_REQUESTS: usize = 2_000;
/// Signals per upload request.
const SIGNALS_PER_UPLOAD: usize = 3;

/// A small deterministic generator (xorshift64*) for the kill moments, seeded from the clock and
/// printed, so a failing run can be told apart from another.
struct Rng(u64);

impl Rng {
    fn new() -> Rng {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64
            | 1;
        eprintln!("crash test seed {seed}");
        Rng(seed)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    }
}

/// A running `kruispunt serve` process and how to reach it.
struct Serve {
    /// Killed (SIGKILL) and reaped when dropped, also when a test fails.
    _process: ServeProcess,
    base: String,
    client: reqwest::Client,
}

impl Serve {
    /// Starts the binary on `dir` on a free port and waits for the line saying where it listens.
    fn start(dir: &Path) -> Serve {
        let process = ServeProcess::spawn(
            Path::new(env!("CARGO_BIN_EXE_kruispunt")),
            dir,
            &[],
            "error",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let ca = std::fs::read(kruispunt_broker::devpki::DevPki::in_dir(dir).ca_cert).unwrap();
        let client = reqwest::Client::builder()
            .tls_certs_only([reqwest::Certificate::from_pem(&ca).unwrap()])
            .timeout(Duration::from_secs(20))
            .build()
            .unwrap();
        Serve {
            base: process.base(),
            _process: process,
            client,
        }
    }

    /// The body of an unauthenticated GET of `path`.
    async fn get_text(&self, path: &str) -> String {
        let url = format!("{}{path}", self.base);
        let resp = self.client.get(url).send().await.unwrap();
        resp.text().await.unwrap()
    }

    /// SIGKILL (what `Child::kill` sends on Unix), and reap.
    fn kill(self) {
        drop(self);
    }
}

/// What the clients received with a 2xx status.
#[derive(Default)]
struct Seen {
    /// Match responses: audit_seq → (requester, justification sent).
    matches: BTreeMap<u64, (String, String)>,
    /// Signals reported stored: id → supplier.
    stored: HashMap<String, String>,
    /// Checkpoint notes, as served.
    checkpoints: BTreeSet<String>,
    /// The rounds in which a checkpoint was served.
    rounds_with_checkpoint: BTreeSet<usize>,
}

struct Env {
    dir: PathBuf,
    aud: String,
}

impl Env {
    fn token(&self, partner: &str, roles: &[&str]) -> String {
        token_in(&self.dir, &self.aud, partner, roles)
    }
}

/// A distinct licence plate (sidecode XX-999-X) per round, upload and signal in the upload.
fn plate(round: usize, n: usize, k: usize) -> String {
    let letter = |i: usize| char::from(b'A' + i as u8);
    format!(
        "C{}-{:03}-{}",
        letter(round),
        n % 1000,
        letter(k + SIGNALS_PER_UPLOAD * (n / 1000))
    )
}

/// One round of load against `serve`; returns when every load task has stopped (the broker was
/// killed under them, or they reached their bound).
async fn load(
    env: &Env,
    serve: &Serve,
    round: usize,
    seen: &Arc<Mutex<Seen>>,
    answered: &Arc<AtomicUsize>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let mut tasks = Vec::new();
    for (t, org) in [DEALER_A, DEALER_B, DEALER_C].into_iter().enumerate() {
        let (client, base, seen, answered) = (
            serve.client.clone(),
            serve.base.clone(),
            seen.clone(),
            answered.clone(),
        );
        let token = env.token(org, &["compliance"]);
        tasks.push(tokio::spawn(async move {
            for n in 0..MAX_REQUESTS {
                let justification = format!("crash test round {round} task {t} request {n}");
                let mut q = match_query(PURPOSE);
                // Plates uploaded earlier (by any round) as well as unknown ones.
                q["identifiers"][0]["pseudonym"] = json!(pseudonym(&plate(round, n / 2, 0)));
                q["justification"] = json!(justification);
                let Ok(resp) = client
                    .post(format!("{base}/v1/matches"))
                    .bearer_auth(&token)
                    .json(&q)
                    .send()
                    .await
                else {
                    return; // killed
                };
                if !resp.status().is_success() {
                    continue;
                }
                let Ok(v) = resp.json::<Value>().await else {
                    return; // killed while the body was on its way: not received
                };
                let seq = v["audit_seq"]
                    .as_u64()
                    .expect("a match answers its audit_seq");
                seen.lock()
                    .await
                    .matches
                    .insert(seq, (org.to_string(), justification));
                answered.fetch_add(1, Ordering::SeqCst);
            }
        }));
    }
    {
        let (client, base, seen, answered) = (
            serve.client.clone(),
            serve.base.clone(),
            seen.clone(),
            answered.clone(),
        );
        let suppliers = [
            (DEALER_A, env.token(DEALER_A, &["compliance"])),
            (DEALER_B, env.token(DEALER_B, &["compliance"])),
        ];
        tasks.push(tokio::spawn(async move {
            for n in 0..MAX_REQUESTS {
                let (org, token) = &suppliers[n % 2];
                let signals: Vec<Value> = (0..SIGNALS_PER_UPLOAD)
                    .map(|k| signal(&plate(round, n, k), "cash-car-purchase"))
                    .collect();
                let Ok(resp) = client
                    .post(format!("{base}/v1/signals"))
                    .bearer_auth(token)
                    .json(&json!({ "signals": signals }))
                    .send()
                    .await
                else {
                    return;
                };
                if !resp.status().is_success() {
                    continue;
                }
                let Ok(v) = resp.json::<Value>().await else {
                    return;
                };
                let mut seen = seen.lock().await;
                for r in v["results"].as_array().unwrap() {
                    if r["status"] == "stored" {
                        seen.stored
                            .insert(r["id"].as_str().unwrap().to_string(), org.to_string());
                    }
                }
                drop(seen);
                answered.fetch_add(1, Ordering::SeqCst);
            }
        }));
    }
    {
        let (client, base, seen) = (serve.client.clone(), serve.base.clone(), seen.clone());
        tasks.push(tokio::spawn(async move {
            for _ in 0..MAX_REQUESTS {
                let Ok(resp) = client
                    .get(format!("{base}/v1/audit/checkpoint"))
                    .send()
                    .await
                else {
                    return;
                };
                if resp.status().is_success() {
                    let Ok(note) = resp.text().await else { return };
                    let mut seen = seen.lock().await;
                    seen.checkpoints.insert(note);
                    seen.rounds_with_checkpoint.insert(round);
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }));
    }
    tasks
}

/// Runs a `kruispunt` command to completion; returns (success, stdout + stderr).
async fn kruispunt(args: Vec<String>) -> (bool, String) {
    tokio::task::spawn_blocking(move || crate::audit_common::kruispunt(&args))
        .await
        .unwrap()
}

async fn crash_and_check(database: Option<&str>) {
    kruispunt_broker::tls::install_ring_provider();
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("broker");
    let (ok, out) = kruispunt(vec![
        "init".into(),
        "--data-dir".into(),
        dir.display().to_string(),
        "--listen".into(),
        "127.0.0.1:0".into(),
    ])
    .await;
    assert!(ok, "{out}");
    if let Some(url) = database {
        use_database(&dir, url);
    }
    let aud = kruispunt_broker::config::Config::load(&dir)
        .unwrap()
        .deployment;
    let env = Env {
        dir: dir.clone(),
        aud,
    };

    let seen = Arc::new(Mutex::new(Seen::default()));
    let mut rng = Rng::new();
    for round in 0..KILLS {
        let serve = Serve::start(&dir);
        let answered = Arc::new(AtomicUsize::new(0));
        let tasks = load(&env, &serve, round, &seen, &answered).await;
        // Kill at an arbitrary moment once the load is well under way.
        let threshold = 50 + rng.below(200) as usize;
        while answered.load(Ordering::SeqCst) < threshold && !tasks.iter().all(|t| t.is_finished())
        {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        tokio::time::sleep(Duration::from_millis(rng.below(500))).await;
        assert!(
            !tasks.iter().all(|t| t.is_finished()),
            "the load stopped before the kill (round {round})"
        );
        tokio::task::spawn_blocking(move || serve.kill())
            .await
            .unwrap();
        for t in tasks {
            t.await.unwrap();
        }
        let n = answered.load(Ordering::SeqCst);
        eprintln!("round {round}: killed after {n} answered requests");
        assert!(n >= threshold, "round {round}: only {n} answers");
    }

    // Restart once more: the log catches up with everything committed before the last kill.
    let serve = Serve::start(&dir);
    let key = serve.get_text("/v1/audit/key").await;
    let note = serve.get_text("/v1/audit/checkpoint").await;
    let (last, _) = open_checkpoint(&note, &key).unwrap();
    let seen = Arc::try_unwrap(seen).ok().unwrap().into_inner();
    let highest = *seen.matches.keys().last().expect("some match was answered");
    assert!(
        last.size > highest,
        "the first checkpoint after restart covers every committed entry ({} ≤ {highest})",
        last.size
    );
    assert!(!seen.stored.is_empty(), "some upload was answered");

    // Every checkpoint seen is signed, and the broker proves the final tree extends it.
    let token = env.token(DEALER_C, &["compliance"]);
    let mut checkpoints: Vec<Checkpoint> = Vec::new();
    for n in &seen.checkpoints {
        let (cp, _) = open_checkpoint(n, &key).unwrap();
        assert!(
            cp.size <= last.size,
            "a checkpoint seen is beyond the final tree"
        );
        if cp.size == 0 {
            assert_eq!(cp.root, empty_root());
        } else {
            let v: Value = serve
                .client
                .get(format!(
                    "{}/v1/audit/proof/consistency?first={}&second={}",
                    serve.base, cp.size, last.size
                ))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            assert_served_consistency(&v, &cp, &last);
        }
        checkpoints.push(cp);
    }
    let sizes: BTreeSet<u64> = checkpoints.iter().map(|c| c.size).collect();
    eprintln!(
        "{} checkpoints seen ({} sizes), final tree {} entries, {} matches and {} signals answered",
        checkpoints.len(),
        sizes.len(),
        last.size,
        seen.matches.len(),
        seen.stored.len()
    );
    assert_eq!(
        seen.rounds_with_checkpoint.len(),
        KILLS,
        "every round saw a checkpoint"
    );
    serve.kill();

    // The whole log, as the operator exports it, verifies — and so does `kruispunt audit verify`.
    let export = work.path().join("export");
    let lines = {
        let (dir, export) = (dir.clone(), export.clone());
        tokio::task::spawn_blocking(move || export_and_verify(&dir, &export))
            .await
            .unwrap()
    };
    let exported = std::fs::read_to_string(export.join("checkpoint")).unwrap();
    let (exported, _) = open_checkpoint(&exported, &key).unwrap();
    assert!(exported.size >= last.size);
    // Recomputed from the entries, the tree passes through every checkpoint seen.
    for cp in checkpoints.iter().chain([&last]) {
        let mut verifier = LogVerifier::new(Some(cp.clone()));
        for line in &lines {
            verifier.push(line).unwrap_or_else(|e| panic!("{e}"));
        }
        verifier
            .finish(&exported)
            .unwrap_or_else(|e| panic!("against the checkpoint of {} entries: {e}", cp.size));
    }

    // Every answered match has its entry, with the content the response stood for.
    for (seq, (org, justification)) in &seen.matches {
        let line = &lines[*seq as usize];
        assert_eq!(line.index, *seq);
        let e = line.entry.as_ref().unwrap();
        assert_eq!(e.action, "match", "entry {seq}");
        assert_eq!(e.actor_org.as_deref(), Some(org.as_str()), "entry {seq}");
        assert_eq!(e.purpose.as_deref(), Some(PURPOSE), "entry {seq}");
        assert_eq!(
            e.detail["justification"],
            json!(justification),
            "entry {seq}"
        );
    }
    // Every signal reported stored is named by its supplier's upload entry.
    let mut uploaded: HashMap<&str, &str> = HashMap::new();
    for line in &lines {
        let e = line.entry.as_ref().unwrap();
        if e.action == "signals.upload" && e.decision.as_deref() == Some("allow") {
            for id in e.detail["ids"].as_array().unwrap() {
                uploaded.insert(id.as_str().unwrap(), e.actor_org.as_deref().unwrap());
            }
        }
    }
    for (id, org) in &seen.stored {
        assert_eq!(
            uploaded.get(id.as_str()),
            Some(&org.as_str()),
            "signal {id} reported stored has no upload entry of {org}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_under_load_loses_no_answered_entry_on_sqlite() {
    crash_and_check(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_under_load_loses_no_answered_entry_on_postgres() {
    let Some(db) = TestDatabase::create("audit_crash").await else {
        return;
    };
    crash_and_check(Some(&db.url)).await;
    db.drop_database().await;
}
