//! `cargo run -p kruispunt-examples --example police_scoped_query -- --data-dir ./kruispunt-data`
//!
//! Runs the `police_scoped_query` scenario (see `kruispunt_examples::scenarios::police_scoped_query`) against a running
//! `kruispunt serve`, printing who asked what, what the policy decided and why, and what was
//! disclosed.

fn main() -> std::process::ExitCode {
    kruispunt_examples::cli::main_for("police_scoped_query")
}
