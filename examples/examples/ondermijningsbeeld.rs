//! `cargo run -p kruispunt-examples --example ondermijningsbeeld -- --data-dir ./kruispunt-data`
//!
//! Runs the `ondermijningsbeeld` scenario (see `kruispunt_examples::scenarios::ondermijningsbeeld`)
//! against a running `kruispunt serve`: every district's partners upload two years of signals per
//! gemeente under the `ondermijningsbeeld` purpose, the data of the unit's picture.

fn main() -> std::process::ExitCode {
    kruispunt_examples::cli::main_for("ondermijningsbeeld")
}
