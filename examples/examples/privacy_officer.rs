//! `cargo run -p kruispunt-examples --example privacy_officer -- --data-dir ./kruispunt-data`
//!
//! Runs the `privacy_officer` scenario (see `kruispunt_examples::scenarios::privacy_officer`) against a running
//! `kruispunt serve`, printing who asked what, what the policy decided and why, and what was
//! disclosed.

fn main() -> std::process::ExitCode {
    kruispunt_examples::cli::main_for("privacy_officer")
}
