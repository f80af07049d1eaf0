//! The Rego test harness: runs every `test_*` rule in `*_test.rego`, like `opa test`.
//!
//! Policy tests are written in Rego so that privacy officers and auditors can read them next to
//! the rules and run them with OPA as well; this harness lets `cargo test`, the CLI and
//! [`crate::PolicyEngine::reload`] run the same tests in-process.

use regorus::Value;

use crate::bundle::Bundle;
use crate::engine::build_engine;
use crate::error::PolicyError;
use crate::registry::Registry;

/// The result of one Rego test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestOutcome {
    /// `data.<package>.<rule>` of the test, plus its file.
    pub name: String,
    /// Whether the test evaluated to `true`.
    pub passed: bool,
    /// Why it failed (undefined, false, or an evaluation error).
    pub error: Option<String>,
}

/// A `test_*` rule found in a test module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestCase {
    /// File the rule is in.
    pub file: String,
    /// 1-based line of its first definition.
    pub line: usize,
    /// Full rule path `data.<package>.<rule>`.
    pub path: String,
}

/// Every `test_*` rule in the bundle's `*_test.rego` files, in file and line order.
pub fn discover_tests(bundle: &Bundle) -> Vec<TestCase> {
    let mut out: Vec<TestCase> = Vec::new();
    for f in bundle.test_files() {
        let mut package = None;
        for (i, line) in f.text.lines().enumerate() {
            if let Some(rest) = line.strip_prefix("package ") {
                package = Some(rest.trim().to_string());
                continue;
            }
            if !line.starts_with("test_") {
                continue;
            }
            let name: String = line
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            let Some(pkg) = &package else { continue };
            let path = format!("data.{pkg}.{name}");
            if !out.iter().any(|t| t.path == path) {
                out.push(TestCase {
                    file: f.name.clone(),
                    line: i + 1,
                    path,
                });
            }
        }
    }
    out
}

/// Run every test of `bundle` with `registry` loaded as `data.registry` (tests may override
/// it with `with data.registry as ...`). Returns an error only when the bundle does not load.
pub fn try_run_tests(
    bundle: &Bundle,
    registry: &Registry,
) -> Result<Vec<TestOutcome>, PolicyError> {
    let mut engine = build_engine(bundle, registry, true)?;
    let cases = discover_tests(bundle);
    let mut out = Vec::with_capacity(cases.len());
    for case in cases {
        let name = format!("{} ({}:{})", case.path, case.file, case.line);
        let outcome = match engine.eval_rule(case.path.clone()) {
            Ok(Value::Bool(true)) => TestOutcome {
                name,
                passed: true,
                error: None,
            },
            Ok(Value::Undefined) => TestOutcome {
                name,
                passed: false,
                error: Some("undefined (a condition in the test body did not hold)".into()),
            },
            Ok(v) => TestOutcome {
                name,
                passed: false,
                error: Some(format!("evaluated to {v}, expected true")),
            },
            Err(e) => TestOutcome {
                name,
                passed: false,
                error: Some(e.to_string()),
            },
        };
        out.push(outcome);
    }
    Ok(out)
}

/// Like [`try_run_tests`], but a bundle that does not load becomes one failed outcome
/// naming the file and line, so callers can print a uniform report.
pub fn run_tests(bundle: &Bundle, registry: &Registry) -> Vec<TestOutcome> {
    match try_run_tests(bundle, registry) {
        Ok(v) => v,
        Err(e) => vec![TestOutcome {
            name: format!("load {}", bundle.origin()),
            passed: false,
            error: Some(e.to_string()),
        }],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The default bundle's Rego tests, run by `cargo test`: a failing Rego test fails here
    /// with its name.
    #[test]
    fn default_bundle_rego_tests_pass() {
        let outcomes = run_tests(&Bundle::embedded(), &Registry::embedded());
        let failed: Vec<String> = outcomes
            .iter()
            .filter(|o| !o.passed)
            .map(|o| format!("{}: {}", o.name, o.error.clone().unwrap_or_default()))
            .collect();
        assert!(
            failed.is_empty(),
            "failing Rego tests:\n{}",
            failed.join("\n")
        );
        assert!(
            outcomes.len() >= 40,
            "expected at least 40 Rego tests, found {}",
            outcomes.len()
        );
    }

    #[test]
    fn a_failing_rego_test_is_reported_by_name() {
        let bundle = Bundle::embedded_with(
            "broken_test.rego",
            "package kruispunt_test\n\nimport rego.v1\n\ntest_always_fails if {\n\t1 == 2\n}\n",
        );
        let outcomes = run_tests(&bundle, &Registry::embedded());
        let failed: Vec<_> = outcomes.iter().filter(|o| !o.passed).collect();
        assert_eq!(failed.len(), 1);
        assert!(
            failed[0].name.contains("test_always_fails"),
            "{:?}",
            failed[0]
        );
        assert!(
            failed[0].name.contains("broken_test.rego:5"),
            "{:?}",
            failed[0]
        );
    }
}

/// Mutation check: disabling any deny rule of the default bundle must make at least one
/// Rego test fail, so every reason code is covered by a test.
#[cfg(test)]
mod mutation {
    use super::*;
    use crate::decision::REASON_CODES;

    #[test]
    fn every_reason_code_is_tested() {
        let bundle = Bundle::embedded();
        let registry = Registry::embedded();
        let policy = bundle
            .files()
            .iter()
            .find(|f| f.name == "kruispunt.rego")
            .unwrap()
            .text
            .clone();
        let mut untested = Vec::new();
        for (code, _) in REASON_CODES {
            // Rules are grouped by action (`deny_match contains "..."`, ...).
            let needle = format!(" contains \"{code}\"");
            assert!(
                policy.contains(&needle),
                "{code} is documented but not in the policy"
            );
            let mutated = policy.replace(&needle, &format!(" contains \"{code}-disabled\""));
            let files = bundle.files().iter().map(|f| {
                if f.name == "kruispunt.rego" {
                    (f.name.clone(), mutated.clone())
                } else {
                    (f.name.clone(), f.text.clone())
                }
            });
            let b = Bundle::from_files("mutant", files).unwrap();
            if run_tests(&b, &registry).iter().all(|o| o.passed) {
                untested.push(*code);
            }
        }
        assert!(
            untested.is_empty(),
            "no Rego test fails when these rules are disabled: {untested:?}"
        );
        // And the policy uses no undocumented code.
        for line in policy.lines() {
            if let (true, Some((_, rest))) =
                (line.starts_with("deny_"), line.split_once(" contains \""))
            {
                let code = rest.split('"').next().unwrap();
                assert!(
                    REASON_CODES.iter().any(|(c, _)| *c == code),
                    "reason code {code} is not documented in REASON_CODES"
                );
            }
        }
    }
}
