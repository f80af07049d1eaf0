//! `kruispunt id …` as a user runs it: exit codes, one output line per input line, stderr.

use std::io::Write;
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_kruispunt");
const KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

/// `kruispunt id ARGS…` with no input (`output` gives the child an empty stdin).
fn id(args: &[&str]) -> Output {
    Command::new(BIN).arg("id").args(args).output().unwrap()
}

#[test]
fn normalise_prints_the_canonical_form() {
    let out = id(&["normalise", "--type", "kenteken", "gb-001-b"]);
    assert!(out.status.success());
    assert_eq!(String::from_utf8(out.stdout).unwrap(), "GB001B\n");
}

#[test]
fn normalise_of_an_invalid_value_exits_2_naming_the_rule() {
    let out = id(&["normalise", "--type", "bsn", "123456789"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("bsn") && err.contains("elfproef"), "{err}");
}

#[test]
fn unknown_kind_is_refused() {
    let out = id(&["normalise", "--type", "paspoort", "X"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8(out.stderr).unwrap().contains("kenteken"));
}

fn pseudonymise(input: &str, extra: &[&str]) -> (Option<i32>, String) {
    let mut child = Command::new(BIN)
        .args(["id", "pseudonymise", "--type", "kenteken", "--key-hex", KEY])
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (out.status.code(), String::from_utf8(out.stdout).unwrap())
}

#[test]
fn pseudonymise_writes_one_line_per_input_line_and_never_stops() {
    let (code, out) = pseudonymise("GB-001-B\nnot a plate\ngb001b\r\n\n", &[]);
    assert_eq!(code, Some(1), "a failed line makes the exit status 1");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "{out}");
    assert_eq!(lines[0].len(), 64);
    assert_eq!(
        lines[0], lines[2],
        "same plate written differently, same pseudonym"
    );
    assert!(lines[1].starts_with("error: "), "{}", lines[1]);
    assert!(
        lines[3].starts_with("error: "),
        "an empty line is an error line too"
    );
    // The pseudonym agrees with the library.
    let key = kruispunt_sdk::CoalitionKey::from_hex(KEY, 1).unwrap();
    let p = key
        .pseudonymiser(kruispunt_sdk::IdentifierKind::Kenteken)
        .pseudonymise_canonical("GB001B");
    assert_eq!(lines[0], p.to_hex());
}

#[test]
fn pseudonymise_all_good_exits_0_and_jsonl_carries_the_version() {
    let (code, out) = pseudonymise("GB-001-B\n", &["--format", "jsonl", "--key-version", "3"]);
    assert_eq!(code, Some(0));
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["key_version"], 3);
    assert_eq!(v["line"], 1);
    assert_eq!(v["pseudonym"].as_str().unwrap().len(), 64);
}

#[test]
fn a_bad_key_is_refused_before_reading_input() {
    let out = id(&["pseudonymise", "--type", "kvk", "--key-hex", "abcd"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8(out.stderr).unwrap().contains("32 bytes"));
}
