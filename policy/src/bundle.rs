//! A policy bundle: the Rego modules (`*.rego`) and their tests (`*_test.rego`).
//!
//! The default bundle is compiled into the binary so the broker works with zero files; a
//! deployment may point the broker at a directory instead (the same files, perhaps amended by
//! its privacy officer). Every decision records the bundle's SHA-256 so an auditor can tell
//! exactly which rules decided.

use std::path::Path;

use crate::error::PolicyError;

/// The default bundle, embedded: `(file name, contents)`.
pub const DEFAULT_BUNDLE: &[(&str, &str)] = &[
    ("kruispunt.rego", include_str!("../policies/kruispunt.rego")),
    (
        "fixtures_test.rego",
        include_str!("../policies/fixtures_test.rego"),
    ),
    (
        "kruispunt_test.rego",
        include_str!("../policies/kruispunt_test.rego"),
    ),
];

/// One Rego file of a bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleFile {
    /// Path relative to the bundle root, with `/` separators (used in error messages).
    pub name: String,
    /// Rego source.
    pub text: String,
}

impl BundleFile {
    /// Whether this is a test module (`*_test.rego`), loaded only by the test harness.
    pub fn is_test(&self) -> bool {
        self.name.ends_with("_test.rego")
    }
}

/// A set of Rego files, sorted by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bundle {
    files: Vec<BundleFile>,
    /// Where the bundle came from (a directory, or `embedded`), for messages.
    origin: String,
}

impl Bundle {
    /// Build a bundle from `(name, text)` pairs.
    pub fn from_files<N: Into<String>, T: Into<String>>(
        origin: &str,
        files: impl IntoIterator<Item = (N, T)>,
    ) -> Result<Bundle, PolicyError> {
        let mut files: Vec<BundleFile> = files
            .into_iter()
            .map(|(n, t)| BundleFile {
                name: n.into(),
                text: t.into(),
            })
            .collect();
        files.sort_by(|a, b| a.name.cmp(&b.name));
        if let Some(w) = files.windows(2).find(|w| w[0].name == w[1].name) {
            return Err(PolicyError::Bundle(format!("duplicate file {}", w[0].name)));
        }
        if !files.iter().any(|f| !f.is_test()) {
            return Err(PolicyError::Bundle(format!(
                "{origin}: no policy modules (*.rego other than *_test.rego)"
            )));
        }
        Ok(Bundle {
            files,
            origin: origin.to_string(),
        })
    }

    /// The bundle compiled into the binary.
    pub fn embedded() -> Bundle {
        Bundle::from_files("embedded", DEFAULT_BUNDLE.iter().copied())
            .expect("embedded bundle has policy modules")
    }

    /// Load every `*.rego` file under `dir` (recursively; names relative to `dir`).
    pub fn load_dir(dir: impl AsRef<Path>) -> Result<Bundle, PolicyError> {
        let dir = dir.as_ref();
        let mut files = Vec::new();
        collect(dir, dir, &mut files)?;
        if files.is_empty() {
            return Err(PolicyError::Bundle(format!(
                "{}: no *.rego files",
                dir.display()
            )));
        }
        Bundle::from_files(&dir.display().to_string(), files)
    }

    /// All files, sorted by name.
    pub fn files(&self) -> &[BundleFile] {
        &self.files
    }

    /// The policy modules (not tests).
    pub fn policy_files(&self) -> impl Iterator<Item = &BundleFile> {
        self.files.iter().filter(|f| !f.is_test())
    }

    /// The test modules.
    pub fn test_files(&self) -> impl Iterator<Item = &BundleFile> {
        self.files.iter().filter(|f| f.is_test())
    }

    /// Where the bundle came from.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Hex SHA-256 over every file, tests included, in name order:
    /// `"kruispunt-bundle-v1\n"` then, per file, `name "\n" len(text) "\n" text`.
    /// Anyone can recompute it from the files (documented in docs/POLICY.md).
    pub fn hash(&self) -> String {
        let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
        ctx.update(b"kruispunt-bundle-v1\n");
        for f in &self.files {
            ctx.update(f.name.as_bytes());
            ctx.update(b"\n");
            ctx.update(f.text.len().to_string().as_bytes());
            ctx.update(b"\n");
            ctx.update(f.text.as_bytes());
        }
        hex::encode(ctx.finish())
    }
}

#[cfg(test)]
impl Bundle {
    /// The embedded bundle with the file `name` added, or replaced by `text`: how the tests
    /// break, weaken or amend the policy.
    pub(crate) fn embedded_with(name: &str, text: &str) -> Bundle {
        let mut files: Vec<(String, String)> = Bundle::embedded()
            .files()
            .iter()
            .filter(|f| f.name != name)
            .map(|f| (f.name.clone(), f.text.clone()))
            .collect();
        files.push((name.to_string(), text.to_string()));
        Bundle::from_files("t", files).unwrap()
    }
}

fn collect(root: &Path, dir: &Path, out: &mut Vec<(String, String)>) -> Result<(), PolicyError> {
    let io = |source| PolicyError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(io)?
        .collect::<Result<_, _>>()
        .map_err(io)?;
    entries.sort_by_key(|e| e.path());
    for e in entries {
        let path = e.path();
        if path.is_dir() {
            collect(root, &path, out)?;
        } else if path.extension().is_some_and(|x| x == "rego") {
            let text = std::fs::read_to_string(&path).map_err(|source| PolicyError::Io {
                path: path.clone(),
                source,
            })?;
            let rel = path
                .strip_prefix(root)
                .unwrap_or(&path)
                .to_string_lossy()
                .replace('\\', "/");
            out.push((rel, text));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_matches_directory() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies");
        let on_disk = Bundle::load_dir(&dir).unwrap();
        let names: Vec<_> = on_disk.files().iter().map(|f| f.name.clone()).collect();
        let embedded: Vec<_> = Bundle::embedded()
            .files()
            .iter()
            .map(|f| f.name.clone())
            .collect();
        assert_eq!(
            names, embedded,
            "DEFAULT_BUNDLE must list every file in policies/"
        );
        assert_eq!(on_disk.hash(), Bundle::embedded().hash());
    }

    #[test]
    fn hash_changes_with_content() {
        let a = Bundle::from_files("t", [("a.rego", "package a")]).unwrap();
        let b = Bundle::from_files("t", [("a.rego", "package b")]).unwrap();
        assert_ne!(a.hash(), b.hash());
        assert_eq!(a.hash().len(), 64);
    }

    #[test]
    fn tests_only_bundle_is_refused() {
        assert!(Bundle::from_files("t", [("a_test.rego", "package a")]).is_err());
    }
}
