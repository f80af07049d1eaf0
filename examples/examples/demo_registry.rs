//! `cargo run -p kruispunt-examples --example demo_registry -- --data-dir ./kruispunt-data`
//!
//! Writes the demo registry (see `kruispunt_examples::demo_registry`) into a development data
//! directory and points `kruispunt.toml` at it. Restart `kruispunt serve` afterwards.

fn main() -> std::process::ExitCode {
    let opts = match kruispunt_examples::cli::parse() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    match kruispunt_examples::demo_registry::install(&opts.data_dir) {
        Ok(true) => {
            println!(
                "Wrote {} and set `registry` in {}; restart the broker.",
                opts.data_dir
                    .join(kruispunt_examples::demo_registry::FILE)
                    .display(),
                opts.data_dir.join("kruispunt.toml").display()
            );
            std::process::ExitCode::SUCCESS
        }
        Ok(false) => {
            println!("kruispunt.toml already names a registry; nothing changed.");
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {}: {e}", opts.data_dir.display());
            std::process::ExitCode::FAILURE
        }
    }
}
