//! The `kruispunt` binary: see `kruispunt --help`.
#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    kruispunt_broker::cli::main()
}
