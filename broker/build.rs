//! Stamps the binary with the commit it was built from, for `kruispunt --version` and the
//! start-up log line: `KRUISPUNT_COMMIT` from the environment (a packager's build), else
//! `git rev-parse`, else `unknown` (a source tarball). Reruns only when HEAD or the branch it
//! points at moves, so ordinary edits do not rerun it.

use std::path::Path;
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let s = String::from_utf8(out.stdout).ok()?.trim().to_owned();
    (!s.is_empty()).then_some(s)
}

fn main() {
    println!("cargo:rerun-if-env-changed=KRUISPUNT_COMMIT");
    let commit = std::env::var("KRUISPUNT_COMMIT")
        .ok()
        .filter(|c| !c.is_empty())
        .or_else(|| git(&["rev-parse", "--short=12", "HEAD"]))
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=KRUISPUNT_COMMIT={commit}");
    // Watch only files that exist: a missing one would rerun this script on every build.
    let mut watched = false;
    if let Some(dir) = git(&["rev-parse", "--git-dir"]) {
        let head = Path::new(&dir).join("HEAD");
        if head.exists() {
            println!("cargo:rerun-if-changed={}", head.display());
            watched = true;
        }
        if let (Some(common), Some(branch)) = (
            git(&["rev-parse", "--git-common-dir"]),
            git(&["symbolic-ref", "-q", "HEAD"]),
        ) {
            let r = Path::new(&common).join(branch);
            if r.exists() {
                println!("cargo:rerun-if-changed={}", r.display());
            }
        }
    }
    if !watched {
        println!("cargo:rerun-if-changed=build.rs");
    }
}
