//! `cargo run -p kruispunt-examples --example kvo_buitengebied -- --data-dir ./kruispunt-data`
//!
//! Runs the `kvo_buitengebied` scenario (see `kruispunt_examples::scenarios::kvo_buitengebied`) against a running
//! `kruispunt serve`, printing who asked what, what the policy decided and why, and what was
//! disclosed.

fn main() -> std::process::ExitCode {
    kruispunt_examples::cli::main_for("kvo_buitengebied")
}
