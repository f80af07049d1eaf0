//! `cargo run -p kruispunt-examples --example horeca_bibob -- --data-dir ./kruispunt-data`
//!
//! Runs the `horeca_bibob` scenario (see `kruispunt_examples::scenarios::horeca_bibob`) against a running
//! `kruispunt serve`, printing who asked what, what the policy decided and why, and what was
//! disclosed.

fn main() -> std::process::ExitCode {
    kruispunt_examples::cli::main_for("horeca_bibob")
}
