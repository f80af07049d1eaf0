//! Witnesses (docs/AUDIT.md, "Witnesses and cosigned checkpoints"): `kruispunt witness serve`
//! as a real process, the broker getting its checkpoints cosigned by them, and verifiers that
//! require a quorum.
//!
//! * A witness killed (SIGKILL) in the middle of a stream of `add-checkpoint` calls remembers,
//!   after a restart, every checkpoint it answered with a cosignature, and refuses one that is
//!   inconsistent with the last.
//! * A split view is caught: whoever holds the broker's audit key and presents a forked tree
//!   (same size, other root; or a larger tree that does not extend the cosigned one) to a
//!   witness that already cosigned the broker's view is refused (409, 422), and the refused
//!   request is kept as evidence.
//! * The broker publishes its checkpoint with a 2-of-3 quorum while the third witness hangs (a
//!   TCP listener that never answers), shows that witness failing in `/readyz`, and keeps
//!   serving; `kruispunt audit verify --witnesses` accepts the quorum and refuses a policy the
//!   cosignatures do not meet, and a forged cosignature; a cosignature dated an hour ahead is
//!   not counted unless `--max-clock-skew` allows it.
//! * A witness whose cosignatures are dated ahead of the broker's clock is shown failing, with
//!   the reason, and its lines are not published.

use std::path::{Path, PathBuf};
use std::process::Child;

use kruispunt_sdk::transparency::{
    MemoryTree, Verifier, WitnessPolicy, consistency_proof, parse_verifier_key, root_at, split_note,
};
use kruispunt_test_kit::with_backends;
use ring::signature::{Ed25519KeyPair, KeyPair as _};

use super::audit_common::{Broker, DEALER_A, OFFICER, Traffic as _, kruispunt};

const BIN: &str = env!("CARGO_BIN_EXE_kruispunt");

/// A `kruispunt witness serve` process with its key and state folder.
pub(crate) struct WitnessProcess {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub(crate) url: String,
    key: PathBuf,
    state: PathBuf,
    pub(crate) vkey: String,
    logs: Vec<String>,
    /// Further arguments of `witness serve`.
    args: Vec<String>,
}

impl WitnessProcess {
    /// A new witness named `name` in `dir`, witnessing `logs` (`ORIGIN=VKEY`).
    pub(crate) fn start(dir: &Path, name: &str, logs: &[String]) -> WitnessProcess {
        WitnessProcess::start_with(dir, name, logs, &[])
    }

    /// [`WitnessProcess::start`] with further arguments of `witness serve`.
    pub(crate) fn start_with(
        dir: &Path,
        name: &str,
        logs: &[String],
        args: &[&str],
    ) -> WitnessProcess {
        let key = dir.join(format!("{}.skey", name.replace('/', "_")));
        let (ok, out) = kruispunt(&[
            "witness".into(),
            "keygen".into(),
            "--name".into(),
            name.into(),
            "--out".into(),
            key.display().to_string(),
        ]);
        assert!(ok, "{out}");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "the signer key is owner-only");
        let vkey = out.trim().to_string();
        assert!(vkey.starts_with(&format!("{name}+")), "{vkey}");
        let state = dir.join(format!("{}.state", name.replace('/', "_")));
        let args = args.iter().map(|a| a.to_string()).collect();
        WitnessProcess::spawn(key, state, vkey, logs.to_vec(), args)
    }

    fn spawn(
        key: PathBuf,
        state: PathBuf,
        vkey: String,
        logs: Vec<String>,
        args: Vec<String>,
    ) -> WitnessProcess {
        let (child, url) = kruispunt_test_kit::serve_process::spawn_witness(
            Path::new(BIN),
            &key,
            &state,
            &logs,
            &args,
        );
        WitnessProcess {
            child,
            url,
            key,
            state,
            vkey,
            logs,
            args,
        }
    }

    /// SIGKILL, then the same witness again (new port, same key and state).
    fn kill_and_restart(mut self) -> WitnessProcess {
        self.child.kill().unwrap(); // SIGKILL
        self.child.wait().unwrap();
        WitnessProcess::spawn(
            self.key.clone(),
            self.state.clone(),
            self.vkey.clone(),
            self.logs.clone(),
            self.args.clone(),
        )
    }

    fn evidence(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(self.state.join("evidence.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// POSTs an add-checkpoint body: (status, content type, body).
    pub(crate) async fn add(&self, body: String) -> (u16, String, String) {
        let r = reqwest::Client::new()
            .post(format!("{}/add-checkpoint", self.url))
            .body(body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let ct = r
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        (status, ct, r.text().await.unwrap())
    }
}

impl Drop for WitnessProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A log the test keeps itself: a tree and a key (its own, or a broker's).
struct TestLog<'k> {
    origin: String,
    key: &'k Ed25519KeyPair,
    tree: MemoryTree,
}

impl<'k> TestLog<'k> {
    /// An empty log `origin` signed by `key`.
    fn new(origin: &str, key: &'k Ed25519KeyPair) -> Self {
        TestLog {
            origin: origin.to_string(),
            key,
            tree: MemoryTree::new(),
        }
    }

    /// The log's verifier key string (`<origin>+<key id>+<key>`).
    fn vkey(&self) -> String {
        Verifier::new(&self.origin, self.key.public_key().as_ref())
            .unwrap()
            .to_string()
    }

    fn grow(&mut self, n: u64, tag: &str) {
        for _ in 0..n {
            let i = self.tree.frontier().size();
            self.tree.append_leaf(format!("{tag} {i}").as_bytes());
        }
    }

    fn note(&self, size: u64) -> String {
        let root = root_at(&self.tree, size).unwrap();
        kruispunt_broker::audit::sign_checkpoint(&self.origin, size, &root, &self.origin, self.key)
            .unwrap()
    }

    /// The add-checkpoint body from `old` to `size`, with this tree's proof.
    fn body(&self, old: u64, size: u64) -> String {
        let proof = if old == 0 || old >= size {
            Vec::new()
        } else {
            consistency_proof(&self.tree, old, size).unwrap()
        };
        kruispunt_broker::witness::request::encode(old, &proof, &self.note(size))
    }
}

/// The witness's latest cosigned size for the log: ask with old 0 (a 409 answers it).
async fn latest_size(w: &WitnessProcess, log: &TestLog<'_>) -> u64 {
    let size = log.tree.frontier().size();
    let (st, ct, body) = w.add(log.body(0, size)).await;
    assert_eq!((st, ct.as_str()), (409, "text/x.tlog.size"), "{body}");
    body.trim_end().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn witness_state_survives_sigkill_and_never_cosigns_an_inconsistent_checkpoint() {
    kruispunt_broker::tls::install_ring_provider();
    let dir = tempfile::tempdir().unwrap();
    let key = Ed25519KeyPair::from_seed_unchecked(&[42; 32]).unwrap();
    let origin = "kruispunt/witness-crash".to_string();
    let mut log = TestLog::new(&origin, &key);
    let vkey = log.vkey();
    log.grow(400, "entry");
    let w = WitnessProcess::start(
        dir.path(),
        "witness.test/crash",
        &[format!("{origin}={vkey}")],
    );

    // A stream of add-checkpoint calls, one size larger each, from a task; the witness is
    // killed once 40 of them were cosigned, while the stream goes on.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<u64>();
    let url = w.url.clone();
    let bodies: Vec<(u64, String)> = (1..=400u64).map(|s| (s, log.body(s - 1, s))).collect();
    let stream = tokio::spawn(async move {
        let http = reqwest::Client::new();
        for (size, body) in bodies {
            let r = http
                .post(format!("{url}/add-checkpoint"))
                .body(body)
                .send()
                .await;
            match r {
                Ok(r) if r.status() == 200 => {
                    let _ = tx.send(size);
                }
                _ => return,
            }
        }
    });
    let mut last_ok = 0;
    while let Some(size) = rx.recv().await {
        last_ok = size;
        if size == 40 {
            break;
        }
    }
    let w = w.kill_and_restart();
    stream.await.unwrap();
    while let Ok(size) = rx.try_recv() {
        last_ok = last_ok.max(size);
    }
    assert!(last_ok >= 40);

    // Every checkpoint answered with a cosignature was durable before the answer; at most the
    // one in flight at the kill was recorded without its answer arriving.
    let s = latest_size(&w, &log).await;
    assert!(
        s == last_ok || s == last_ok + 1,
        "cosigned {last_ok} before the kill, remembers {s}"
    );

    // A checkpoint of that size with another root, and a larger tree that does not extend the
    // one cosigned, are both refused — by the same log key.
    let mut fork = TestLog::new(&origin, &key);
    fork.grow(s, "forged");
    let (st, ct, body) = w.add(fork.body(s, s)).await;
    assert_eq!(st, 409, "{body}");
    assert!(ct.starts_with("application/problem+json"), "{ct}");
    fork.grow(5, "forged");
    let (st, _, body) = w.add(fork.body(s, s + 5)).await;
    assert_eq!(st, 422, "{body}");
    assert_eq!(w.evidence().len(), 2, "both refusals are kept as evidence");

    // The true log goes on from where the witness is.
    let (st, _, body) = w.add(log.body(s, s + 5)).await;
    assert_eq!(st, 200, "{body}");
    assert!(body.starts_with("\u{2014} witness.test/crash "), "{body}");
}

/// The add-checkpoint statuses of the specification, against the real process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn witness_answers_the_specification_statuses() {
    kruispunt_broker::tls::install_ring_provider();
    let dir = tempfile::tempdir().unwrap();
    let key = Ed25519KeyPair::from_seed_unchecked(&[43; 32]).unwrap();
    let other = Ed25519KeyPair::from_seed_unchecked(&[44; 32]).unwrap();
    let origin = "kruispunt/witness-statuses".to_string();
    let mut log = TestLog::new(&origin, &key);
    let vkey = log.vkey();
    log.grow(10, "entry");
    let w = WitnessProcess::start(dir.path(), "witness.test/s", &[format!("{origin}={vkey}")]);
    let mut unknown = TestLog::new("kruispunt/elsewhere", &key);
    unknown.grow(3, "x");
    assert_eq!(w.add(unknown.body(0, 3)).await.0, 404);
    let mut stranger = TestLog::new(&origin, &other);
    stranger.grow(3, "x");
    assert_eq!(w.add(stranger.body(0, 3)).await.0, 403);
    assert_eq!(w.add(log.body(4, 3)).await.0, 400);
    assert_eq!(w.add("old 0\n".into()).await.0, 400);
    let many = format!(
        "old 1\n{}\n{}",
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n".repeat(64),
        log.note(10)
    );
    assert_eq!(w.add(many).await.0, 400, "at most 63 proof lines");
    assert_eq!(
        w.add("x".repeat(100_000)).await.0,
        413,
        "the body is bounded"
    );
    assert_eq!(w.add(log.body(0, 4)).await.0, 200);
    let (st, ct, body) = w.add(log.body(0, 8)).await;
    assert_eq!(
        (st, ct.as_str(), body.as_str()),
        (409, "text/x.tlog.size", "4\n")
    );
    let mut bad = log.body(4, 8);
    bad.replace_range(8..10, if &bad[8..10] == "AA" { "BB" } else { "AA" });
    assert_eq!(w.add(bad).await.0, 422);
    assert_eq!(w.add(log.body(4, 8)).await.0, 200);
    assert_eq!(w.evidence().len(), 1);
}

pub(crate) fn origin_of(vkey: &str) -> String {
    vkey.split('+').next().unwrap().to_string()
}

/// A policy of the witnesses `(label, vkey, url)` with the quorum line `quorum`.
pub(crate) fn policy(witnesses: &[(&str, &str, &str)], groups: &str) -> String {
    let mut p = String::new();
    for (label, vkey, url) in witnesses {
        p.push_str(&format!("witness {label} {vkey} {url}\n"));
    }
    p.push_str(groups);
    p
}

/// Writes `[witnesses]` into the broker's configuration.
pub(crate) fn configure(dir: &Path, policy: &str, timeout_ms: u64) {
    let path = dir.join("kruispunt.toml");
    let mut cfg: toml::Table = std::fs::read_to_string(&path).unwrap().parse().unwrap();
    let mut w = toml::Table::new();
    w.insert("policy".into(), policy.into());
    w.insert("timeout_ms".into(), toml::Value::Integer(timeout_ms as i64));
    cfg.insert("witnesses".into(), w.into());
    std::fs::write(&path, toml::to_string(&cfg).unwrap()).unwrap();
}

/// Waits until the served checkpoint covers every stored entry and meets `policy`; answers it.
pub(crate) async fn cosigned_checkpoint(
    b: &Broker,
    policy: &WitnessPolicy,
    log: &Verifier,
) -> String {
    let store = b.store().await;
    // A bound on waiting on a loaded machine, not a timing the test asserts.
    for _ in 0..600 {
        let stored = store.audit().audit_len().await.unwrap();
        let note = b.checkpoint_note().await;
        if let Ok(c) = policy.verify(&note, std::slice::from_ref(log))
            && c.checkpoint.size == stored
        {
            return note;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("no cosigned checkpoint covering every entry was published");
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The broker does not use a witness's answer dated beyond the allowed clock skew ahead of its
/// own clock (verifiers would not count it): the witness is shown failing, with the reason, and
/// its line is not published.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_witness_whose_clock_runs_ahead_is_shown_failing_and_not_published() {
    let b = Broker::start(None).await;
    // A witness answering every request with a cosignature dated an hour ahead.
    let key = std::sync::Arc::new(
        kruispunt_broker::witness::WitnessKey::generate("fast-clock.test/witness").unwrap(),
    );
    let signer = key.clone();
    let app = axum::Router::new().route(
        "/add-checkpoint",
        axum::routing::post(move |body: axum::body::Bytes| async move {
            let req = kruispunt_broker::witness::request::parse(&body).unwrap();
            let (text, _) = split_note(req.note.as_bytes()).unwrap();
            signer.cosign(text, now_secs() + 3600)
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let vkey = key.verifier().to_string();
    configure(
        b.data_dir(),
        &policy(&[("fast", &vkey, &url)], "quorum fast\n"),
        3000,
    );
    let b = b.restart().await;
    b.traffic().await;
    let mut error = String::new();
    for _ in 0..600 {
        let (_, ready) = b.get_json("/readyz", None::<&str>).await;
        let w = &ready["witnesses"]["witnesses"][0];
        if w["state"] == "failing" {
            error = w["error"].as_str().unwrap_or_default().to_string();
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        error.contains("ahead of this broker's clock (at most 300 s allowed)"),
        "{error:?}"
    );
    let note = b.checkpoint_note().await;
    assert!(!note.contains("fast-clock.test/witness"), "{note}");
    b.stop().await;
    server.abort();
}

/// A broker whose checkpoints two real witnesses (riec and ap, started in a folder of `dir`)
/// must both cosign.
pub(crate) struct TwoWitnesses {
    /// The broker, restarted with that `[witnesses]` policy, after some traffic and with its
    /// first cosigned checkpoint published.
    pub(crate) b: Broker,
    /// The audit log's verifier key line, and the key.
    pub(crate) log_vkey: String,
    pub(crate) log: Verifier,
    pub(crate) riec: WitnessProcess,
    pub(crate) ap: WitnessProcess,
    /// The broker's policy: all of riec and ap.
    pub(crate) policy: String,
}

pub(crate) async fn cosigned_by_riec_and_ap(b: Broker, dir: &Path) -> TwoWitnesses {
    let log_vkey = b.audit_key().await;
    let log = parse_verifier_key(&log_vkey).unwrap();
    let logs = [format!("{}={log_vkey}", origin_of(&log_vkey))];
    let riec = WitnessProcess::start(dir, "riec.test/witness", &logs);
    let ap = WitnessProcess::start(dir, "ap.test/witness", &logs);
    let both = policy(
        &[("riec", &riec.vkey, &riec.url), ("ap", &ap.vkey, &ap.url)],
        "group fg all riec ap\nquorum fg\n",
    );
    configure(b.data_dir(), &both, 3000);
    let b = b.restart().await;
    b.traffic().await;
    cosigned_checkpoint(&b, &WitnessPolicy::parse(&both).unwrap(), &log).await;
    TwoWitnesses {
        b,
        log_vkey,
        log,
        riec,
        ap,
        policy: both,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn witness_quorum_with_a_hanging_witness_verify_and_a_split_view_caught() {
    with_backends(|b| Box::pin(quorum_hang_verify_split(b))).await;
}

async fn quorum_hang_verify_split(b: Broker) {
    let dir = tempfile::tempdir().unwrap();
    let log_vkey = b.audit_key().await;
    let log_verifier = parse_verifier_key(&log_vkey).unwrap();
    let origin = origin_of(&log_vkey);
    let logs = [format!("{origin}={log_vkey}")];
    let wa = WitnessProcess::start(dir.path(), "riec.test/witness", &logs);
    let wb = WitnessProcess::start(dir.path(), "ap.test/witness", &logs);
    // The third witness hangs: the kernel accepts the connection, nobody ever answers.
    let hang = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let hang_url = format!("http://{}", hang.local_addr().unwrap());
    let hang_key = dir.path().join("hang.skey");
    let (ok, hang_vkey) = kruispunt(&[
        "witness".into(),
        "keygen".into(),
        "--name".into(),
        "gemeente.test/witness".into(),
        "--out".into(),
        hang_key.display().to_string(),
    ]);
    assert!(ok, "{hang_vkey}");
    let hang_vkey = hang_vkey.trim().to_string();
    let members = [
        ("riec", wa.vkey.as_str(), wa.url.as_str()),
        ("ap", wb.vkey.as_str(), wb.url.as_str()),
        ("gemeente", hang_vkey.as_str(), hang_url.as_str()),
    ];
    let two_of_three = policy(&members, "group fg 2 riec ap gemeente\nquorum fg\n");
    configure(b.data_dir(), &two_of_three, 1000);
    let b = b.restart().await;

    // Entries arrive; a checkpoint covering them is published with riec's and ap's
    // cosignatures although gemeente never answers.
    b.traffic().await;
    let p2 = WitnessPolicy::parse(&two_of_three).unwrap();
    let note = cosigned_checkpoint(&b, &p2, &log_verifier).await;
    let accepted = p2
        .verify(&note, std::slice::from_ref(&log_verifier))
        .unwrap();
    let names: Vec<&str> = accepted
        .cosigned_by
        .iter()
        .map(|(n, _)| n.as_str())
        .collect();
    assert_eq!(names.len(), 2, "{note}");
    assert!(
        names.contains(&"riec") && names.contains(&"ap"),
        "{names:?}"
    );
    // It keeps serving (and signing): more entries (reading the log is itself an entry),
    // another cosigned checkpoint.
    let officer = b.token(DEALER_A, &[OFFICER]);
    let (st, v) = b
        .get_json("/v1/audit/entries?start=0&end=1", Some(&officer))
        .await;
    assert_eq!(st, 200, "{v}");
    let later = cosigned_checkpoint(&b, &p2, &log_verifier).await;
    assert_ne!(later, note);
    // The hanging witness is visible in /readyz (once its request timed out), which stays
    // ready.
    let mut shown = false;
    for _ in 0..600 {
        let (st, ready) = b.get_json("/readyz", None::<&str>).await;
        assert_eq!(st, 200, "{ready}");
        let list = ready["witnesses"]["witnesses"].as_array().unwrap();
        let state_of = |n: &str| {
            list.iter()
                .find(|w| w["name"] == n)
                .map(|w| w["state"].as_str().unwrap().to_string())
                .unwrap()
        };
        assert_eq!(state_of("riec"), "cosigning", "{ready}");
        assert_eq!(ready["witnesses"]["quorum_met"], true, "{ready}");
        if state_of("gemeente") == "failing" {
            shown = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(shown, "the hanging witness is shown failing in /readyz");

    // kruispunt audit verify --witnesses: the 2-of-3 policy is met; all three is not; a
    // forged cosignature rejects the checkpoint.
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.display().to_string()
    };
    let p_two = write("two.policy", &two_of_three);
    let p_all = write(
        "all.policy",
        &policy(&members, "group fg all riec ap gemeente\nquorum fg\n"),
    );
    let verify = |pol: String| {
        vec![
            "audit".to_string(),
            "verify".into(),
            "--url".into(),
            b.base.clone(),
            "--token".into(),
            officer.clone(),
            "--ca".into(),
            b.ca_path.display().to_string(),
            "--witnesses".into(),
            pol,
        ]
    };
    let (ok, out) = kruispunt(&verify(p_two.clone()));
    assert!(ok, "{out}");
    assert!(
        out.contains("cosigned by 2 of the policy's witnesses"),
        "{out}"
    );
    let (ok, out) = kruispunt(&verify(p_all));
    assert!(!ok, "{out}");
    assert!(out.contains("quorum is not met"), "{out}");
    // An export whose checkpoint carries a forged cosignature of riec.
    let export = dir.path().join("export");
    let mut args = verify(p_two.clone());
    args.truncate(8);
    args[1] = "export".into();
    args.extend(["--out".to_string(), export.display().to_string()]);
    let (ok, out) = kruispunt(&args);
    assert!(ok, "{out}");
    let cp_path = export.join("checkpoint");
    let exported = std::fs::read_to_string(&cp_path).unwrap();
    let at = exported.find("\u{2014} riec.test/witness ").unwrap()
        + "\u{2014} riec.test/witness ".len()
        + 20;
    let mut forged = exported.clone();
    let c = if &exported[at..at + 1] == "A" {
        "B"
    } else {
        "A"
    };
    forged.replace_range(at..at + 1, c);
    let verify_dir = |pol: &str| {
        vec![
            "audit".to_string(),
            "verify".into(),
            "--dir".into(),
            export.display().to_string(),
            "--witnesses".into(),
            pol.to_string(),
        ]
    };
    let (ok, out) = kruispunt(&verify_dir(&p_two));
    assert!(ok, "{out}");
    std::fs::write(&cp_path, &forged).unwrap();
    let (ok, out) = kruispunt(&verify_dir(&p_two));
    assert!(!ok, "{out}");
    assert!(
        out.contains("witness riec") && out.contains("does not verify"),
        "{out}"
    );
    // A cosignature dated an hour ahead of this machine's clock (a witness whose clock runs
    // ahead) is not counted, unless `--max-clock-skew` allows that much.
    let fast = kruispunt_broker::witness::WitnessKey::generate("fast-clock.test/witness").unwrap();
    let (body, _) = split_note(exported.as_bytes()).unwrap();
    let ahead = now_secs() + 3600;
    std::fs::write(&cp_path, format!("{exported}{}", fast.cosign(body, ahead))).unwrap();
    let fast_vkey = fast.verifier().to_string();
    let p_fast = write(
        "fast.policy",
        &policy(
            &[members[0], members[1], ("fast", &fast_vkey, "")],
            "group fg all riec ap fast\nquorum fg\n",
        ),
    );
    let (ok, out) = kruispunt(&verify_dir(&p_fast));
    assert!(!ok, "{out}");
    assert!(
        out.contains(&format!(
            "not counted, dated ahead of this verifier's clock by more than the allowed skew: fast at {ahead}"
        )),
        "{out}"
    );
    let mut lenient = verify_dir(&p_fast);
    lenient.extend(["--max-clock-skew".to_string(), "7200".into()]);
    let (ok, out) = kruispunt(&lenient);
    assert!(ok, "{out}");
    assert!(
        out.contains("cosigned by 3 of the policy's witnesses"),
        "{out}"
    );

    // A restarted broker serves the cosigned checkpoint it kept (keys/audit-checkpoint-cosigned)
    // at once, and goes on getting new ones cosigned.
    let b = b.restart().await;
    let kept = b.checkpoint_note().await;
    p2.verify(&kept, std::slice::from_ref(&log_verifier))
        .unwrap_or_else(|e| panic!("{e}: {kept}"));
    let (st, v) = b
        .get_json("/v1/audit/entries?start=0&end=1", Some(&officer))
        .await;
    assert_eq!(st, 200, "{v}");
    let later = cosigned_checkpoint(&b, &p2, &log_verifier).await;

    // A split view caught: whoever holds the broker's key presents riec a fork of the tree
    // riec cosigned — the same size with another root, then a larger tree that does not
    // extend it. Both are refused and kept as evidence.
    let keys = kruispunt_broker::keys::BrokerKeys::load_or_create(b.data_dir()).unwrap();
    let cosigned = p2
        .verify(&later, std::slice::from_ref(&log_verifier))
        .unwrap()
        .checkpoint;
    let mut fork = TestLog::new(&origin, keys.audit_signing_key());
    let riec_size = latest_size(&wa, &fork).await;
    assert!(riec_size >= cosigned.size);
    fork.grow(riec_size, "the other view");
    let (st, _, body) = wa.add(fork.body(riec_size, riec_size)).await;
    assert_eq!(st, 409, "{body}");
    fork.grow(
        riec_size + 3 - fork.tree.frontier().size(),
        "the other view",
    );
    let (st, _, body) = wa.add(fork.body(riec_size, riec_size + 3)).await;
    assert_eq!(st, 422, "{body}");
    let evidence = wa.evidence();
    assert_eq!(evidence.len(), 2);
    assert!(evidence[0]["request"].as_str().unwrap().contains(&origin));
    b.stop().await;
    drop(hang);
}
