//! `kruispunt._native`: the Rust half of the Python package `kruispunt` (docs/PYTHON.md). Every function here calls the SDK (`kruispunt-sdk`): normalisation, the
//! pseudonym construction, the log verifier and the HTTPS client exist once, in Rust; this
//! crate only converts between Python objects and the SDK's types, releases the GIL around the
//! work, and turns the SDK's typed errors into the package's exceptions (defined in
//! `kruispunt/errors.py`, so that they are ordinary Python classes with attributes).

// PyO3's generated glue is unsafe (and allows itself); this crate writes no unsafe code.
#![deny(unsafe_code)]

use std::path::PathBuf;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use kruispunt_sdk::client::{
    ApiProblem, Client as SdkClient, ClientError, RetryPolicy, TokenSource,
};
use kruispunt_sdk::identifiers::{self, IdentifierKind, Persoon};
use kruispunt_sdk::transparency::{
    self, Export, ExportError, LogError, LogLine, LogReport as SdkLogReport,
};
use kruispunt_sdk::wire::Level;
use kruispunt_sdk::{
    CoalitionKey as SdkKey, IdentifierError, Pseudonym, Pseudonymiser as SdkPseudonymiser,
};
use pyo3::BoundObject as _;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedStr;
use pyo3::types::{PyDict, PyList, PyString};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Columns shorter than this are pseudonymised on the calling thread: starting threads costs
/// more than it saves.
const PARALLEL_FROM: usize = 16 * 1024;

// ---------------------------------------------------------------------------------------------
// Exceptions: the classes live in kruispunt/errors.py; these build instances of them.

/// An instance of `kruispunt.errors.<class>` built with `message` and keyword attributes, as a
/// `PyErr` (or the error met importing it, which only a broken installation gives).
fn raise(py: Python<'_>, class: &str, message: String, attrs: &[(&str, Py<PyAny>)]) -> PyErr {
    let build = || -> PyResult<PyErr> {
        let kwargs = PyDict::new(py);
        for (k, v) in attrs {
            kwargs.set_item(k, v)?;
        }
        let cls = py.import("kruispunt.errors")?.getattr(class)?;
        Ok(PyErr::from_value(cls.call((message,), Some(&kwargs))?))
    };
    build().unwrap_or_else(|e| e)
}

fn obj<'py, T>(py: Python<'py>, v: T) -> Py<PyAny>
where
    T: IntoPyObject<'py>,
{
    match v.into_pyobject(py) {
        Ok(o) => o.into_any().unbind(),
        Err(_) => py.None(),
    }
}

/// `IdentifierError(kind, rule, part, message, index)`; `index` is the value's position in a
/// column.
fn identifier_error(py: Python<'_>, e: &IdentifierError, index: Option<usize>) -> PyErr {
    let message = match index {
        Some(i) => format!("value {i}: {e}"),
        None => e.to_string(),
    };
    raise(
        py,
        "IdentifierError",
        message,
        &[
            ("kind", obj(py, e.kind.as_str())),
            ("rule", obj(py, e.rule)),
            ("part", obj(py, e.part.as_str())),
            ("reason", obj(py, e.message.as_str())),
            ("index", obj(py, index)),
        ],
    )
}

/// The kind named `name` (any ASCII case); a `ValueError` naming the accepted kinds otherwise.
fn kind(name: &str) -> PyResult<IdentifierKind> {
    name.parse::<IdentifierKind>()
        .map_err(|e| PyValueError::new_err(e.to_string()))
}

fn key_error(py: Python<'_>, e: impl std::fmt::Display) -> PyErr {
    raise(py, "CoalitionKeyError", e.to_string(), &[])
}

fn verification_error(py: Python<'_>, e: &LogError) -> PyErr {
    let index = match e {
        LogError::Missing { expected, .. } => Some(*expected),
        LogError::EntryMismatch { index }
        | LogError::EntryMissing { index }
        | LogError::Incomplete { index }
        | LogError::ErasedWithoutRecord { index }
        | LogError::ErasedTooRecent { index, .. } => Some(*index),
        _ => None,
    };
    raise(
        py,
        "VerificationError",
        e.to_string(),
        &[("index", obj(py, index))],
    )
}

fn export_error(py: Python<'_>, e: &ExportError) -> PyErr {
    raise(py, "ExportError", e.to_string(), &[])
}

fn problem_error(py: Python<'_>, p: &ApiProblem) -> PyErr {
    let d = &p.details;
    raise(
        py,
        "ProblemError",
        p.to_string(),
        &[
            ("status", obj(py, p.status)),
            ("type", obj(py, d.type_uri.as_str())),
            ("title", obj(py, d.title.as_str())),
            ("detail", obj(py, d.detail.as_str())),
            ("reasons", obj(py, d.reasons.clone())),
            ("request_id", obj(py, d.request_id.clone())),
            (
                "retry_after",
                obj(py, p.retry_after.map(|d| d.as_secs_f64())),
            ),
        ],
    )
}

fn client_error(py: Python<'_>, e: ClientError) -> PyErr {
    match &e {
        ClientError::Problem(p) => problem_error(py, p),
        ClientError::Transport(_) => raise(py, "TransportError", e.to_string(), &[]),
        ClientError::Config(_) | ClientError::Token(_) => {
            raise(py, "ClientConfigError", e.to_string(), &[])
        }
        ClientError::Unexpected { status, .. } => raise(
            py,
            "UnexpectedAnswer",
            e.to_string(),
            &[("status", obj(py, *status))],
        ),
    }
}

// ---------------------------------------------------------------------------------------------
// JSON between Python objects and the SDK's wire types (through Python's own json module, so
// that what a notebook holds — dicts, lists — is read exactly as the broker would read it).

fn from_py<T: DeserializeOwned>(value: &Bound<'_, PyAny>, what: &str) -> PyResult<T> {
    let py = value.py();
    let text: String = py
        .import("json")?
        .call_method1("dumps", (value,))?
        .extract()?;
    serde_json::from_str(&text).map_err(|e| {
        raise(
            py,
            "ClientConfigError",
            format!("{what} does not match the API: {e}"),
            &[],
        )
    })
}

fn to_py<T: Serialize>(py: Python<'_>, value: &T) -> PyResult<Py<PyAny>> {
    let text = serde_json::to_string(value)
        .map_err(|e| PyValueError::new_err(format!("cannot encode the answer: {e}")))?;
    Ok(py.import("json")?.call_method1("loads", (text,))?.unbind())
}

// ---------------------------------------------------------------------------------------------
// Normalisation.

/// A canonical form with the findings that did not make it invalid.
#[pyclass(frozen, module = "kruispunt")]
struct Canonical {
    /// The kind it was normalised as.
    #[pyo3(get)]
    kind: String,
    /// The canonical form: the exact input of the pseudonym.
    #[pyo3(get)]
    value: String,
    /// Findings shown to people (e.g. a VIN whose position 9 is no check digit); the value is
    /// still valid.
    #[pyo3(get)]
    warnings: Vec<String>,
}

#[pymethods]
impl Canonical {
    fn __repr__(&self) -> String {
        format!(
            "Canonical(kind={:?}, value={:?}, warnings={:?})",
            self.kind, self.value, self.warnings
        )
    }

    fn __str__(&self) -> String {
        self.value.clone()
    }
}

/// The canonical form of `value` read as identifier `kind` (`kenteken`, `kvk`, …).
///
/// Raises `IdentifierError` (a `ValueError`) naming the kind, the rule and the offending part.
#[pyfunction]
fn normalise(py: Python<'_>, kind_name: &str, value: &str) -> PyResult<String> {
    let k = kind(kind_name)?;
    let mut out = String::with_capacity(value.len());
    identifiers::normalise_into(k, value, &mut out).map_err(|e| identifier_error(py, &e, None))?;
    Ok(out)
}

/// Like `normalise`, with the warnings (`Canonical.kind`, `.value`, `.warnings`).
#[pyfunction]
fn canonical(py: Python<'_>, kind_name: &str, value: &str) -> PyResult<Canonical> {
    let k = kind(kind_name)?;
    let c = identifiers::normalise(k, value).map_err(|e| identifier_error(py, &e, None))?;
    Ok(Canonical {
        kind: c.kind.as_str().to_owned(),
        value: c.value,
        warnings: c.warnings,
    })
}

/// The canonical form of a natural person given as four separate fields (BRP style).
#[pyfunction]
fn normalise_persoon(
    py: Python<'_>,
    geslachtsnaam: &str,
    voornamen: &str,
    tussenvoegsel: &str,
    geboortedatum: &str,
) -> PyResult<String> {
    Persoon::from_parts(geslachtsnaam, voornamen, tussenvoegsel, geboortedatum)
        .map(|p| p.as_str().to_owned())
        .map_err(|e| identifier_error(py, &e, None))
}

/// How a column treats invalid values.
#[derive(Clone, Copy, PartialEq, Eq)]
enum OnError {
    Raise,
    Null,
}

fn on_error(name: &str) -> PyResult<OnError> {
    match name {
        "raise" => Ok(OnError::Raise),
        "null" => Ok(OnError::Null),
        other => Err(PyValueError::new_err(format!(
            "errors={other:?}: expected \"raise\" (stop at the first invalid value) or \"null\" (None in its place)"
        ))),
    }
}

/// A column as Python hands it over: each value borrowed (no copy), `None` kept as missing.
type Column = Vec<Option<PyBackedStr>>;

fn column(values: &Bound<'_, PyAny>) -> PyResult<Column> {
    if values.is_instance_of::<PyString>() {
        return Err(PyTypeError::new_err(
            "expected a sequence of str (a column), got one str",
        ));
    }
    values.extract()
}

/// Runs `f` over `values` on up to `threads` threads (in order), without the GIL. `f` answers
/// `None` for a missing value; the first error in column order is kept with its index.
fn map_column<T, F>(
    py: Python<'_>,
    values: &Column,
    threads: usize,
    f: F,
) -> Vec<Option<Result<T, IdentifierError>>>
where
    T: Send,
    F: Fn(&str, &mut String) -> Result<T, IdentifierError> + Sync,
{
    py.detach(|| {
        let run = |part: &[Option<PyBackedStr>]| {
            let mut buf = String::new();
            part.iter()
                .map(|v| v.as_deref().map(|s| f(s, &mut buf)))
                .collect::<Vec<_>>()
        };
        let threads = threads.clamp(1, values.len().div_ceil(PARALLEL_FROM).max(1));
        if threads == 1 {
            return run(values);
        }
        let size = values.len().div_ceil(threads);
        std::thread::scope(|s| {
            let handles: Vec<_> = values
                .chunks(size)
                .map(|part| s.spawn(move || run(part)))
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().expect("a column thread panicked"))
                .collect()
        })
    })
}

fn threads(requested: Option<usize>) -> usize {
    requested.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    })
}

/// Builds the Python list of a mapped column: `to_str` writes each result's text; missing and
/// (with `errors="null"`) invalid values become `None`.
fn column_list<'py, T>(
    py: Python<'py>,
    results: Vec<Option<Result<T, IdentifierError>>>,
    on: OnError,
    to_str: impl Fn(&T, &mut dyn FnMut(&str) -> Py<PyAny>) -> Py<PyAny>,
) -> PyResult<Bound<'py, PyList>> {
    if on == OnError::Raise
        && let Some((i, e)) = results.iter().enumerate().find_map(|(i, r)| match r {
            Some(Err(e)) => Some((i, e)),
            _ => None,
        })
    {
        return Err(identifier_error(py, e, Some(i)));
    }
    let mut make = |s: &str| PyString::new(py, s).into_any().unbind();
    let items: Vec<Py<PyAny>> = results
        .iter()
        .map(|r| match r {
            Some(Ok(v)) => to_str(v, &mut make),
            _ => py.None(),
        })
        .collect();
    PyList::new(py, items)
}

/// The canonical forms of a column (a list, tuple or other sequence of `str`; `None` stays
/// `None`), without the GIL and on up to `threads` threads (default: every core).
///
/// `errors="raise"` (default) raises `IdentifierError` for the first invalid value, with its
/// `index`; `errors="null"` puts `None` in its place.
#[pyfunction]
#[pyo3(signature = (kind_name, values, *, errors = "raise", threads = None))]
fn normalise_column<'py>(
    py: Python<'py>,
    kind_name: &str,
    values: &Bound<'py, PyAny>,
    errors: &str,
    threads: Option<usize>,
) -> PyResult<Bound<'py, PyList>> {
    let k = kind(kind_name)?;
    let on = on_error(errors)?;
    let values = column(values)?;
    let results = map_column(py, &values, self::threads(threads), |raw, buf| {
        identifiers::normalise_into(k, raw, buf).map(|()| buf.clone())
    });
    column_list(py, results, on, |s, make| make(s))
}

// ---------------------------------------------------------------------------------------------
// Keys and pseudonyms.

/// The 32-byte secret shared by the partners of one coalition, with its version. Never
/// printed: `repr` shows the version only.
#[pyclass(frozen, module = "kruispunt")]
struct CoalitionKey {
    key: SdkKey,
}

#[pymethods]
impl CoalitionKey {
    /// A key given as 64 hex characters (as `KRUISPUNT_COALITION_KEY` holds it).
    #[new]
    #[pyo3(signature = (hex_key, version = 1))]
    fn new(py: Python<'_>, hex_key: &str, version: u32) -> PyResult<Self> {
        SdkKey::from_hex(hex_key, version)
            .map(|key| CoalitionKey { key })
            .map_err(|e| key_error(py, e))
    }

    /// A fresh random key (what a coalition administrator makes; for trying things out).
    #[staticmethod]
    #[pyo3(signature = (version = 1))]
    fn generate(version: u32) -> Self {
        CoalitionKey {
            key: SdkKey::generate(version),
        }
    }

    /// The current key of `coalition` from the organisation's member state file, as
    /// `kruispunt coalition join|sync` keeps it (the key arrives over MLS; nobody copies it).
    #[staticmethod]
    fn from_member_state(py: Python<'_>, path: PathBuf, coalition: &str) -> PyResult<Self> {
        let member = kruispunt_sdk::coalition::Member::open(&path).map_err(|e| {
            key_error(
                py,
                format!(
                    "{}: {e} (make it with `kruispunt coalition join --org ORG --state {}`)",
                    path.display(),
                    path.display()
                ),
            )
        })?;
        member
            .coalition_key(coalition)
            .map(|key| CoalitionKey { key })
            .ok_or_else(|| {
                key_error(
                    py,
                    format!(
                        "{} holds no key of coalition {coalition:?} (groups held: {}); run `kruispunt coalition sync`",
                        path.display(),
                        member.groups().join(", ")
                    ),
                )
            })
    }

    /// The key version sent with every pseudonym as `key_version`.
    #[getter]
    fn version(&self) -> u32 {
        self.key.version()
    }

    /// The pseudonymiser of one identifier kind (derives the per-kind key once).
    fn pseudonymiser(&self, kind_name: &str) -> PyResult<Pseudonymiser> {
        Ok(Pseudonymiser {
            inner: self.key.pseudonymiser(kind(kind_name)?),
        })
    }

    /// The pseudonym (64 lowercase hex characters) of `value` read as `kind`.
    fn pseudonymise(&self, py: Python<'_>, kind_name: &str, value: &str) -> PyResult<String> {
        self.pseudonymiser(kind_name)?.pseudonymise(py, value)
    }

    fn __repr__(&self) -> String {
        format!("CoalitionKey(version={}, <secret>)", self.key.version())
    }
}

/// A per-kind key derived from a coalition key: pseudonymises single values and whole columns.
#[pyclass(frozen, module = "kruispunt")]
struct Pseudonymiser {
    inner: SdkPseudonymiser,
}

fn hex_of(p: &Pseudonym, make: &mut dyn FnMut(&str) -> Py<PyAny>) -> Py<PyAny> {
    let mut buf = [0u8; 64];
    hex::encode_to_slice(p.as_bytes(), &mut buf).expect("64 bytes hold 32 bytes as hex");
    make(std::str::from_utf8(&buf).expect("hex is ASCII"))
}

#[pymethods]
impl Pseudonymiser {
    /// The identifier kind (part of the derived key).
    #[getter]
    fn kind(&self) -> &'static str {
        self.inner.kind().as_str()
    }

    /// The coalition key's version.
    #[getter]
    fn version(&self) -> u32 {
        self.inner.version()
    }

    /// Normalises `value` and answers its pseudonym (64 lowercase hex characters).
    fn pseudonymise(&self, py: Python<'_>, value: &str) -> PyResult<String> {
        self.inner
            .pseudonymise(value)
            .map(|p| p.to_hex())
            .map_err(|e| identifier_error(py, &e, None))
    }

    /// The pseudonym of a value that is already canonical (not normalised again).
    fn pseudonymise_canonical(&self, canonical: &str) -> String {
        self.inner.pseudonymise_canonical(canonical).to_hex()
    }

    /// The pseudonyms of a column (a sequence of `str`; `None` stays `None`), in order,
    /// computed without the GIL on up to `threads` threads (default: every core).
    ///
    /// `errors="raise"` (default) raises `IdentifierError` for the first invalid value, with its
    /// `index`; `errors="null"` puts `None` in its place.
    #[pyo3(signature = (values, *, errors = "raise", threads = None))]
    fn pseudonymise_column<'py>(
        &self,
        py: Python<'py>,
        values: &Bound<'py, PyAny>,
        errors: &str,
        threads: Option<usize>,
    ) -> PyResult<Bound<'py, PyList>> {
        let on = on_error(errors)?;
        let values = column(values)?;
        let inner = &self.inner;
        let results = map_column(py, &values, self::threads(threads), |raw, buf| {
            identifiers::normalise_into(inner.kind(), raw, buf)
                .map(|()| inner.pseudonymise_canonical(buf))
        });
        column_list(py, results, on, hex_of)
    }

    fn __repr__(&self) -> String {
        format!(
            "Pseudonymiser(kind={:?}, version={})",
            self.inner.kind().as_str(),
            self.inner.version()
        )
    }
}

// ---------------------------------------------------------------------------------------------
// The audit log: checkpoints and whole logs.

/// A signed checkpoint that verified: the log `origin` had `size` entries with root `root`.
#[pyclass(frozen, module = "kruispunt")]
struct Checkpoint {
    inner: transparency::Checkpoint,
    /// The note as verified, so that it can be kept as the trusted checkpoint.
    #[pyo3(get)]
    note: String,
    /// The verifier key line it verified with.
    #[pyo3(get)]
    key: String,
}

#[pymethods]
impl Checkpoint {
    /// Which log (`kruispunt/<deployment>`).
    #[getter]
    fn origin(&self) -> &str {
        &self.inner.origin
    }

    /// Entries in the tree.
    #[getter]
    fn size(&self) -> u64 {
        self.inner.size
    }

    /// The Merkle root, standard base64 (as in the note).
    #[getter]
    fn root(&self) -> String {
        B64.encode(self.inner.root)
    }

    fn __repr__(&self) -> String {
        format!(
            "Checkpoint(origin={:?}, size={}, root={:?})",
            self.inner.origin,
            self.inner.size,
            B64.encode(self.inner.root)
        )
    }
}

/// What a log verification checked (every count is of entries).
#[pyclass(frozen, get_all, module = "kruispunt")]
struct LogReport {
    /// The log (`kruispunt/<deployment>`).
    origin: String,
    /// Entries in the verified tree (the checkpoint's size).
    size: u64,
    /// Its root, standard base64.
    root: String,
    /// Entries recomputed from their salt and content.
    entries_checked: u64,
    /// Entries taken by their leaf only (not the reader's, embargoed or erased).
    leaves_only: u64,
    /// Entries erased after their retention period.
    erased: u64,
    /// Erased entries whose erasure record this reader could not check.
    erased_unchecked: u64,
    /// Size of the checkpoint trusted earlier that the log extends, if one was given.
    trusted_size: Option<u64>,
}

#[pymethods]
impl LogReport {
    fn __repr__(&self) -> String {
        format!(
            "LogReport(origin={:?}, size={}, entries_checked={}, leaves_only={}, erased={})",
            self.origin, self.size, self.entries_checked, self.leaves_only, self.erased
        )
    }
}

fn report(
    checkpoint: &transparency::Checkpoint,
    r: &SdkLogReport,
    trusted: Option<&transparency::Checkpoint>,
) -> LogReport {
    LogReport {
        origin: checkpoint.origin.clone(),
        size: r.size,
        root: B64.encode(r.root),
        entries_checked: r.entries_checked,
        leaves_only: r.leaves_only,
        erased: r.erased,
        erased_unchecked: r.erased_unchecked,
        trusted_size: trusted.map(|t| t.size),
    }
}

/// Verifies a signed checkpoint `note` against the log's verifier key line
/// (`GET /v1/audit/key`, or `key` in an export) and answers it. The checkpoint's origin must be
/// the key's name. Raises `VerificationError` otherwise.
#[pyfunction]
fn verify_checkpoint(py: Python<'_>, note: &str, key: &str) -> PyResult<Checkpoint> {
    let (inner, _) =
        transparency::open_checkpoint(note, key).map_err(|e| verification_error(py, &e))?;
    Ok(Checkpoint {
        inner,
        note: note.to_owned(),
        key: key.trim().to_owned(),
    })
}

fn trusted_pair(trusted: Option<&Bound<'_, Checkpoint>>) -> Option<(String, String)> {
    trusted.map(|t| {
        let t = t.get();
        (t.key.clone(), t.note.clone())
    })
}

fn log_lines(py: Python<'_>, entries: &Bound<'_, PyAny>) -> PyResult<Vec<LogLine>> {
    if let Ok(text) = entries.extract::<PyBackedStr>() {
        return Export::parse_lines(&text).map_err(|e| export_error(py, &e));
    }
    from_py(entries, "the log lines")
}

/// Verifies a whole log: the checkpoint `note` against `key`, then every line (`entries`: the
/// text of an `entries.jsonl`, or a list of line dicts as `GET /v1/audit/entries` answers them)
/// recomputed into the Merkle tree and compared with the signed root. With `trusted` (a
/// `Checkpoint` verified earlier) the log must also extend it. Raises `VerificationError`
/// naming the first entry that does not match.
#[pyfunction]
#[pyo3(signature = (note, key, entries, *, trusted = None))]
fn verify_log(
    py: Python<'_>,
    note: &str,
    key: &str,
    entries: &Bound<'_, PyAny>,
    trusted: Option<&Bound<'_, Checkpoint>>,
) -> PyResult<LogReport> {
    let lines = log_lines(py, entries)?;
    let trusted = trusted_pair(trusted);
    let v = py
        .detach(|| {
            transparency::verify_log(
                note,
                key,
                trusted.as_ref().map(|(k, n)| (k.as_str(), n.as_str())),
                &lines,
            )
        })
        .map_err(|e| verification_error(py, &e))?;
    Ok(report(&v.checkpoint, &v.report, v.trusted.as_ref()))
}

/// Verifies an export directory written by `kruispunt audit export --out DIR` (its
/// `checkpoint`, `key` and `entries.jsonl`), as `kruispunt audit verify --dir DIR` does.
#[pyfunction]
#[pyo3(signature = (directory, *, trusted = None))]
fn verify_export(
    py: Python<'_>,
    directory: PathBuf,
    trusted: Option<&Bound<'_, Checkpoint>>,
) -> PyResult<LogReport> {
    let export = py
        .detach(|| Export::read_dir(&directory))
        .map_err(|e| export_error(py, &e))?;
    let trusted = trusted_pair(trusted);
    let v = py
        .detach(|| export.verify(trusted.as_ref().map(|(k, n)| (k.as_str(), n.as_str()))))
        .map_err(|e| verification_error(py, &e))?;
    Ok(report(&v.checkpoint, &v.report, v.trusted.as_ref()))
}

// ---------------------------------------------------------------------------------------------
// The client.

/// A connection to one broker as one partner user: the SDK's HTTPS client (rustls, retries of
/// 429/503) on its own runtime. Every call blocks until the answer and releases the GIL while
/// it waits. Answers are the API's JSON as dicts; a refusal raises `ProblemError` with the
/// RFC 9457 problem's `type`, `title`, `detail`, `status` and `reasons`.
#[pyclass(frozen, module = "kruispunt")]
struct Client {
    client: SdkClient,
    runtime: tokio::runtime::Runtime,
}

impl Client {
    fn run<T: Send>(
        &self,
        py: Python<'_>,
        f: impl std::future::Future<Output = Result<T, ClientError>> + Send,
    ) -> PyResult<T> {
        py.detach(|| self.runtime.block_on(f))
            .map_err(|e| client_error(py, e))
    }
}

fn read_file(py: Python<'_>, path: &PathBuf, what: &str) -> PyResult<Vec<u8>> {
    std::fs::read(path).map_err(|e| {
        raise(
            py,
            "ClientConfigError",
            format!("{what} {}: {e}", path.display()),
            &[],
        )
    })
}

#[pymethods]
impl Client {
    /// `base_url`: `https://host:port`. `token`: a bearer token (`kruispunt token …`).
    /// `ca`: the PEM file of the CA that signed the broker's certificate (a development
    /// broker's `kruispunt-data/tls/ca.pem`); the system's roots otherwise. `cert`/`key`: a
    /// client certificate and key (PEM files) for partners that must use mTLS. `timeout`:
    /// seconds per request. `retries`: attempts in total for 429/503 answers.
    #[new]
    #[pyo3(signature = (base_url, token, *, ca = None, cert = None, key = None, timeout = 60.0, retries = 5))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        base_url: &str,
        token: &str,
        ca: Option<PathBuf>,
        cert: Option<PathBuf>,
        key: Option<PathBuf>,
        timeout: f64,
        retries: u32,
    ) -> PyResult<Self> {
        let mut builder = SdkClient::builder(base_url)
            .token(TokenSource::fixed(token))
            .timeout(Duration::from_secs_f64(timeout.max(0.001)))
            .retry(RetryPolicy {
                max_attempts: retries.max(1),
                ..RetryPolicy::default()
            });
        if let Some(ca) = &ca {
            builder = builder.ca_pem(&read_file(py, ca, "ca")?);
        }
        match (&cert, &key) {
            (Some(c), Some(k)) => {
                builder = builder
                    .client_identity_pem(&read_file(py, c, "cert")?, &read_file(py, k, "key")?);
            }
            (None, None) => {}
            _ => {
                return Err(raise(
                    py,
                    "ClientConfigError",
                    "cert and key go together".into(),
                    &[],
                ));
            }
        }
        let client = builder.build().map_err(|e| client_error(py, e))?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("kruispunt-client")
            .enable_all()
            .build()
            .map_err(|e| PyValueError::new_err(format!("cannot start the client runtime: {e}")))?;
        Ok(Client { client, runtime })
    }

    /// The broker's base URL.
    #[getter]
    fn base_url(&self) -> &str {
        self.client.base_url()
    }

    /// `GET /healthz`: returns when the broker is up, raises otherwise.
    fn health(&self, py: Python<'_>) -> PyResult<()> {
        self.run(py, self.client.health())
    }

    /// `POST /v1/signals`: up to 10 000 signals (dicts with `kind`, `pseudonym`, `key_version`,
    /// `code`, `observed`, `district`, `purposes`, optional `gemeente`, `wijk`, `expires`).
    /// Answers `{"stored", "duplicates", "rejected", "results": [...]}`; each result names its
    /// `index`, `status` and, when rejected, `field` and `reason`.
    fn upload(&self, py: Python<'_>, signals: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        let signals: Vec<kruispunt_sdk::wire::SignalIn> = from_py(signals, "the signals")?;
        let answer = self.run(py, self.client.upload(&signals))?;
        to_py(py, &answer)
    }

    /// `POST /v1/signals/bulk`: any number of signals, streamed as NDJSON (the broker commits
    /// every 10 000 lines; a retried upload answers what was stored as `duplicates`). The
    /// answer's `results` list rejected lines only.
    fn upload_bulk(&self, py: Python<'_>, signals: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        let signals: Vec<kruispunt_sdk::wire::SignalIn> = from_py(signals, "the signals")?;
        let answer = self.run(py, self.client.upload_bulk(signals, |_| {}))?;
        to_py(py, &answer)
    }

    /// `POST /v1/matches`: do these pseudonyms (dicts with `kind`, `pseudonym`, `key_version`)
    /// appear in other partners' signals, for `purpose`, at `level` (`none`, `hit`,
    /// `categories`, `details`)? A refusal by the policy raises `ProblemError` (`policy-denied`, its
    /// `reasons`).
    #[pyo3(signature = (purpose, identifiers, *, level = "hit", justification = None, case_reference = None, legal_basis = None, consent_id = None, coalition = None))]
    #[allow(clippy::too_many_arguments)]
    #[pyo3(name = "match")]
    fn match_(
        &self,
        py: Python<'_>,
        purpose: &str,
        identifiers: &Bound<'_, PyAny>,
        level: &str,
        justification: Option<String>,
        case_reference: Option<String>,
        legal_basis: Option<String>,
        consent_id: Option<String>,
        coalition: Option<String>,
    ) -> PyResult<Py<PyAny>> {
        let identifiers: Vec<kruispunt_sdk::wire::IdentifierRef> =
            from_py(identifiers, "the identifiers")?;
        let level = Level::ALL
            .into_iter()
            .find(|l| l.as_str() == level)
            .ok_or_else(|| {
                let names: Vec<&str> = Level::ALL.iter().map(Level::as_str).collect();
                raise(
                    py,
                    "ClientConfigError",
                    format!("level {level:?}: expected one of {}", names.join(", ")),
                    &[],
                )
            })?;
        let request = kruispunt_sdk::wire::MatchRequest {
            purpose: purpose.to_owned(),
            coalition,
            identifiers,
            level,
            case_reference,
            legal_basis,
            consent_id,
            justification,
        };
        let answer = self.run(py, self.client.match_identifiers(&request))?;
        to_py(py, &answer)
    }

    /// `POST /v1/aggregates`: the ondermijningsbeeld — a question as a dict (`purpose`,
    /// `measure`, `group_by`, `from`, `to`, optional `filter`, `totals`; docs/BEELD.md). Answers
    /// the cells (noisy, rounded, small ones suppressed) and `epsilon_left`.
    fn aggregates(&self, py: Python<'_>, question: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        let question: kruispunt_sdk::beeld::AggregateRequest = from_py(question, "the question")?;
        let answer = self.run(py, self.client.aggregates(&question))?;
        to_py(py, &answer)
    }

    /// `DELETE /v1/signals/{id}`: withdraws a signal this partner supplied.
    fn withdraw(&self, py: Python<'_>, signal_id: &str) -> PyResult<Py<PyAny>> {
        let answer = self.run(py, self.client.withdraw(signal_id))?;
        to_py(py, &answer)
    }

    /// `GET /v1/audit/checkpoint` and `/v1/audit/key`, verified: the latest signed checkpoint.
    /// Pin the key out of band in production (compare `Checkpoint.key` with the value your
    /// organisation recorded).
    fn audit_checkpoint(&self, py: Python<'_>) -> PyResult<Checkpoint> {
        let (note, key) = self.run(py, async {
            Ok((
                self.client.audit_checkpoint().await?,
                self.client.audit_key().await?,
            ))
        })?;
        verify_checkpoint(py, &note, &key)
    }

    /// Verifies the whole audit log as this partner may see it (a privacy officer's token sees
    /// its organisation's entries in full): checkpoint, every line, the root, and — with
    /// `trusted`, a `Checkpoint` verified earlier — that the log extends it.
    #[pyo3(signature = (*, trusted = None))]
    fn verify_audit_log(
        &self,
        py: Python<'_>,
        trusted: Option<&Bound<'_, Checkpoint>>,
    ) -> PyResult<LogReport> {
        let t = trusted.map(|t| t.get().inner.clone());
        let log = self.run(py, self.client.verify_audit_log(t.clone()))?;
        Ok(report(&log.checkpoint, &log.report, t.as_ref()))
    }

    fn __repr__(&self) -> String {
        format!("Client({:?})", self.client.base_url())
    }
}

// ---------------------------------------------------------------------------------------------

/// The Rust half of `kruispunt`; import `kruispunt` instead.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("KINDS", IdentifierKind::ALL.map(|k| k.as_str()).to_vec())?;
    m.add("SDK_VERSION", env!("CARGO_PKG_VERSION"))?;
    m.add_function(wrap_pyfunction!(normalise, m)?)?;
    m.add_function(wrap_pyfunction!(canonical, m)?)?;
    m.add_function(wrap_pyfunction!(normalise_persoon, m)?)?;
    m.add_function(wrap_pyfunction!(normalise_column, m)?)?;
    m.add_function(wrap_pyfunction!(verify_checkpoint, m)?)?;
    m.add_function(wrap_pyfunction!(verify_log, m)?)?;
    m.add_function(wrap_pyfunction!(verify_export, m)?)?;
    m.add_class::<Canonical>()?;
    m.add_class::<CoalitionKey>()?;
    m.add_class::<Pseudonymiser>()?;
    m.add_class::<Checkpoint>()?;
    m.add_class::<LogReport>()?;
    m.add_class::<Client>()?;
    Ok(())
}
