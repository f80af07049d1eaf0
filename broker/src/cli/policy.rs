//! `kruispunt policy test|eval|check`: the privacy officer's tools for the policy bundle and
//! the registry. Wired into `main.rs` as the `policy` subcommand.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use kruispunt_policy::{Bundle, PolicyEngine, PolicyError, PolicyInput, Registry, run_tests};

/// Subcommands of `kruispunt policy`.
#[derive(Debug, clap::Subcommand)]
pub enum PolicyCommand {
    /// Run every `test_*` rule in the bundle's `*_test.rego` files (default: the embedded
    /// bundle); prints each test and `N passed, M failed`.
    Test {
        /// Bundle directory (e.g. `policy/policies`).
        dir: Option<PathBuf>,
    },
    /// Decide one input file and print the decision as JSON.
    Eval {
        /// Policy input JSON (see policy/schema/policy-input.schema.json).
        #[arg(long)]
        input: PathBuf,
        /// Registry TOML (default: the embedded Midden-Nederland registry).
        #[arg(long)]
        registry: Option<PathBuf>,
        /// Bundle directory (default: the embedded bundle).
        #[arg(long)]
        bundle: Option<PathBuf>,
    },
    /// Validate a registry; prints each problem as `file:line: field: message`.
    Check {
        /// Registry TOML (default: the embedded Midden-Nederland registry).
        #[arg(long)]
        registry: Option<PathBuf>,
    },
}

fn load_registry(path: Option<&PathBuf>) -> Result<Registry, PolicyError> {
    match path {
        Some(p) => Registry::load(p),
        None => Ok(Registry::embedded()),
    }
}

fn load_bundle(path: Option<&PathBuf>) -> Result<Bundle, PolicyError> {
    match path {
        Some(p) => Bundle::load_dir(p),
        None => Ok(Bundle::embedded()),
    }
}

/// Run a `kruispunt policy` subcommand. Exit code 1 on failing tests, a refused input file or
/// an invalid registry.
pub fn run(cmd: PolicyCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        PolicyCommand::Test { dir } => {
            let bundle = load_bundle(dir.as_ref())?;
            let outcomes = run_tests(&bundle, &Registry::embedded());
            let mut passed = 0usize;
            let mut failed = 0usize;
            for o in &outcomes {
                if o.passed {
                    passed += 1;
                    println!("PASS {}", o.name);
                } else {
                    failed += 1;
                    println!("FAIL {}", o.name);
                    if let Some(e) = &o.error {
                        for line in e.lines() {
                            println!("     {line}");
                        }
                    }
                }
            }
            println!("{passed} passed, {failed} failed");
            Ok(if failed == 0 && passed > 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        PolicyCommand::Eval {
            input,
            registry,
            bundle,
        } => {
            let text = std::fs::read_to_string(&input)
                .with_context(|| format!("cannot read {}", input.display()))?;
            let input_doc: PolicyInput = serde_json::from_str(&text)
                .with_context(|| format!("{}: not a valid policy input", input.display()))?;
            let registry = load_registry(registry.as_ref())?;
            let engine = match bundle {
                None => PolicyEngine::embedded_with_registry(registry)?,
                Some(dir) => PolicyEngine::new(Bundle::load_dir(dir)?, registry)?,
            };
            let decision = engine.decide(&input_doc)?;
            println!("{}", serde_json::to_string_pretty(&decision)?);
            Ok(ExitCode::SUCCESS)
        }
        PolicyCommand::Check { registry } => {
            let reg = match load_registry(registry.as_ref()) {
                Ok(r) => r,
                Err(e @ PolicyError::RegistryParse { .. }) => {
                    eprintln!("{e}");
                    eprintln!("1 problem");
                    return Ok(ExitCode::FAILURE);
                }
                Err(e) => return Err(e.into()),
            };
            let issues = reg.issues();
            for i in &issues {
                eprintln!("{i}");
            }
            if issues.is_empty() {
                println!(
                    "{}: ok ({} partners, {} purposes, {} coalitions, {} districts)",
                    reg.source_name(),
                    reg.partners.len(),
                    reg.purposes.len(),
                    reg.coalitions.len(),
                    reg.districts.len()
                );
                Ok(ExitCode::SUCCESS)
            } else {
                eprintln!(
                    "{}",
                    kruispunt_sdk::words::counted(issues.len(), "problem", "problems")
                );
                Ok(ExitCode::FAILURE)
            }
        }
    }
}
