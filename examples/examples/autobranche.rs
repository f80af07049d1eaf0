//! `cargo run -p kruispunt-examples --example autobranche -- --data-dir ./kruispunt-data`
//!
//! Runs the `autobranche` scenario (see `kruispunt_examples::scenarios::autobranche`) against a running
//! `kruispunt serve`, printing who asked what, what the policy decided and why, and what was
//! disclosed.

fn main() -> std::process::ExitCode {
    kruispunt_examples::cli::main_for("autobranche")
}
