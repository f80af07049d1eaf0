//! Kruispunt's signed notes against an independent implementation: Go's
//! `golang.org/x/mod/sumdb/note` (Debian's `golang-golang-x-mod-dev`, built in GOPATH mode by
//! `broker/tests/interop/note_check.go`; `.ci/run` installs `golang-go` and it). Without Go or
//! the package a test says SKIPPED and checks nothing.
//!
//! * Go's `note.Open` verifies the broker's cosigned checkpoint with the broker's verifier key
//!   (`GET /v1/audit/key`), reads the same text, and leaves the two witnesses' cosignature lines
//!   as signatures it does not know (as the signed-note specification wants of a verifier that
//!   does not know a key).
//! * A checkpoint signed by a key Go generated (`note.GenerateKey`, `note.Sign`) opens with the
//!   SDK, and a real `kruispunt witness serve` witnessing that key cosigns it; Go still opens
//!   the note with the cosignature appended.
//!
//! What it does not check: the cosignatures themselves. The x/mod version Debian packages
//! (0.7) knows only Ed25519 log keys (type 0x01), not the timestamped cosignature keys (0x04);
//! those are checked against the C2SP specification's example instead
//! (`sdk/src/transparency/cosignature.rs`).

use std::path::{Path, PathBuf};
use std::process::Command;

use kruispunt_sdk::transparency::{
    Checkpoint, WitnessPolicy, open_note, parse_verifier_key, split_note,
};

use crate::audit_common::*;
use crate::witness::{TwoWitnesses, WitnessProcess, cosigned_by_riec_and_ap, cosigned_checkpoint};

/// Where Debian puts the Go sources of its golang-* packages (GOPATH mode).
const GOPATH: &str = "/usr/share/gocode";

/// `note_check.go` built into `dir`, or `None` (after saying SKIPPED) without Go or x/mod.
fn build_note_check(dir: &Path) -> Option<PathBuf> {
    let note = Path::new(GOPATH).join("src/golang.org/x/mod/sumdb/note");
    let go_found = Command::new("go").arg("version").output().is_ok();
    if !go_found || !note.is_dir() {
        eprintln!(
            "SKIPPED: go or golang.org/x/mod/sumdb/note ({}) is not installed — the Go cross-check was not run",
            note.display()
        );
        return None;
    }
    let out = dir.join("note_check");
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/note_check.go");
    let built = Command::new("go")
        .arg("build")
        .arg("-o")
        .arg(&out)
        .arg(&src)
        .env("GOPATH", GOPATH)
        .env("GO111MODULE", "off")
        .env("GOFLAGS", "")
        .env("GOCACHE", dir.join("gocache"))
        .output()
        .unwrap();
    assert!(
        built.status.success(),
        "go build: {}",
        String::from_utf8_lossy(&built.stderr)
    );
    Some(out)
}

/// Runs the Go program: (success, stdout and stderr).
fn go(program: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new(program).args(args).output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn go_sumdb_note_and_kruispunt_read_each_others_notes() {
    let dir = tempfile::tempdir().unwrap();
    let Some(note_check) = build_note_check(dir.path()) else {
        return;
    };

    // The broker's checkpoint, cosigned by two real witnesses, opened by Go.
    let TwoWitnesses {
        b,
        log_vkey,
        log,
        policy,
        ..
    } = cosigned_by_riec_and_ap(Broker::start(None).await, dir.path()).await;
    let note = cosigned_checkpoint(&b, &WitnessPolicy::parse(&policy).unwrap(), &log).await;
    let file = dir.path().join("checkpoint");
    std::fs::write(&file, &note).unwrap();
    let (ok, out) = go(&note_check, &["open", &log_vkey, file.to_str().unwrap()]);
    assert!(ok, "{out}");
    let (text, _) = split_note(note.as_bytes()).unwrap();
    assert_eq!(
        out,
        format!(
            "verified {} {:08x}\nunverified 2\n{text}",
            log.name(),
            log.key_id()
        )
    );
    // A byte of the body changed: Go refuses it too.
    let size = Checkpoint::parse_body(text).unwrap().size;
    let altered = note.replacen(&format!("\n{size}\n"), &format!("\n{}\n", size + 1), 1);
    std::fs::write(&file, &altered).unwrap();
    let (ok, out) = go(&note_check, &["open", &log_vkey, file.to_str().unwrap()]);
    assert!(!ok, "{out}");
    b.stop().await;

    // A checkpoint Go signed, with a key Go generated: the SDK opens it, a witness cosigns it.
    let origin = "kruispunt/go-interop";
    let root = "q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA=";
    let (ok, out) = go(&note_check, &["sign", origin, "5", root]);
    assert!(ok, "{out}");
    let (go_vkey, go_note) = out.split_once('\n').unwrap();
    let go_key = parse_verifier_key(go_vkey).unwrap();
    let opened = open_note(go_note.as_bytes(), std::slice::from_ref(&go_key)).unwrap();
    let cp = Checkpoint::parse_body(&opened.text).unwrap();
    assert_eq!((cp.origin.as_str(), cp.size), (origin, 5));
    let w = WitnessProcess::start(
        dir.path(),
        "go.test/witness",
        &[format!("{origin}={go_vkey}")],
    );
    let (status, _, line) = w
        .add(kruispunt_broker::witness::request::encode(0, &[], go_note))
        .await;
    assert_eq!(status, 200, "{line}");
    let cosigned = format!("{go_note}{line}");
    let one = format!("witness w {}\nquorum w\n", w.vkey);
    WitnessPolicy::parse(&one)
        .unwrap()
        .verify(&cosigned, std::slice::from_ref(&go_key))
        .unwrap();
    std::fs::write(&file, &cosigned).unwrap();
    let (ok, out) = go(&note_check, &["open", go_vkey, file.to_str().unwrap()]);
    assert!(ok, "{out}");
    assert!(out.contains("unverified 1\n"), "{out}");
}
