//! Typed errors of the policy crate.
//!
//! Every error that concerns a file names the file and, where it can be known, the line, so
//! that a privacy officer editing the registry or a Rego module can go straight to the spot.

use std::fmt;
use std::path::PathBuf;

/// A place in a source file: `file:line` (line is 1-based; 0 when unknown).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// File name as given when the source was loaded (path or embedded name).
    pub file: String,
    /// 1-based line; 0 when the line could not be determined.
    pub line: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}", self.file)
        } else {
            write!(f, "{}:{}", self.file, self.line)
        }
    }
}

/// One problem found in a registry: where, which field, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryIssue {
    /// Where the problem is.
    pub location: Location,
    /// Dotted field path, e.g. `purposes[horeca-bibob-screening].recipients`.
    pub field: String,
    /// Human-readable explanation.
    pub message: String,
}

impl fmt::Display for RegistryIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}: {}", self.location, self.field, self.message)
    }
}

/// Errors from loading, validating and evaluating policy.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The registry TOML does not parse or does not have the expected shape.
    #[error("{location}: {field}: {message}")]
    RegistryParse {
        /// Where the parser stopped.
        location: Location,
        /// The key being read, when known.
        field: String,
        /// The parser's message.
        message: String,
    },
    /// The registry parses but is inconsistent (unknown sector, partner, purpose, ...).
    #[error("registry is invalid ({} problem(s)):\n{}", .0.len(), join_issues(.0))]
    RegistryInvalid(Vec<RegistryIssue>),
    /// A Rego module does not parse or compile.
    #[error("{location}: {message}")]
    Rego {
        /// The module and line regorus reported.
        location: Location,
        /// regorus's message.
        message: String,
    },
    /// The bundle is not usable as a whole (empty, no entry point, ...).
    #[error("bundle: {0}")]
    Bundle(String),
    /// A new bundle was refused because its own Rego tests fail.
    #[error("bundle refused: {} Rego test(s) failed: {}", .0.len(), .0.join(", "))]
    TestsFailed(Vec<String>),
    /// Evaluation failed (a built-in error, a conflict between rules, ...).
    #[error("policy evaluation failed: {0}")]
    Eval(String),
    /// The policy gave no decision for the input: the broker must refuse (fail closed).
    #[error("policy returned no decision (undefined) for this input")]
    Undefined,
    /// The decision document does not match the `Decision` type.
    #[error("policy decision has an unexpected shape: {0}")]
    DecisionShape(String),
    /// JSON (de)serialisation of an input or decision failed.
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
}

fn join_issues(issues: &[RegistryIssue]) -> String {
    issues
        .iter()
        .map(|i| format!("  {i}"))
        .collect::<Vec<_>>()
        .join("\n")
}

impl PolicyError {
    /// Turn a regorus error into a located error. regorus formats parse errors as
    /// `file:line:col: error: message` (followed by a source excerpt); we keep file and line.
    pub(crate) fn from_regorus(err: impl fmt::Display, fallback_file: &str) -> Self {
        let text = err.to_string();
        // regorus: "file: \n--> file:line:col\n  | excerpt\nerror: message"; older forms put
        // "file:line:col: error: message" on the first line.
        if let Some(arrow) = text
            .lines()
            .find_map(|l| l.trim_start().strip_prefix("--> "))
        {
            let mut parts = arrow.rsplitn(3, ':');
            let (_col, line, file) = (parts.next(), parts.next(), parts.next());
            if let (Some(line), Some(file)) = (line.and_then(|l| l.trim().parse().ok()), file) {
                let message = text
                    .lines()
                    .find_map(|l| l.strip_prefix("error: "))
                    .unwrap_or(&text)
                    .trim()
                    .to_string();
                return PolicyError::Rego {
                    location: Location {
                        file: file.trim().to_string(),
                        line,
                    },
                    message,
                };
            }
        }
        let first = text.lines().next().unwrap_or_default().to_string();
        let mut parts = first.splitn(4, ':');
        if let (Some(file), Some(line), Some(_col), Some(rest)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
            && let Ok(line) = line.trim().parse::<usize>()
        {
            let message = rest.trim().trim_start_matches("error:").trim().to_string();
            return PolicyError::Rego {
                location: Location {
                    file: file.trim().to_string(),
                    line,
                },
                message: if message.is_empty() { text } else { message },
            };
        }
        PolicyError::Rego {
            location: Location {
                file: fallback_file.to_string(),
                line: 0,
            },
            message: text,
        }
    }
}
