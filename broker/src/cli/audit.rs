//! `kruispunt audit verify` and `kruispunt audit export`: check the broker's audit log from the
//! outside, and write it out so that any tool can check it without Kruispunt.
//!
//! `verify` downloads (or reads from an export) the signed checkpoint, the verifier key and
//! every entry, recomputes every leaf from its salt and entry where the reader may see them, the
//! tree and its root, checks the signature, and checks that the log still extends the last
//! checkpoint it trusted (kept in `--trusted FILE`, trust on first use). When someone edited the
//! database it names the first entry that does not match.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, anyhow, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use clap::{Args, Subcommand};
use kruispunt_sdk::transparency::{
    Checkpoint, CosignedCheckpoint, ERASE_ACTION, Export, LogError, LogLine, WitnessPolicy,
    open_checkpoint, parse_verifier_key, verify_consistency,
};

use crate::audit::access::Viewer;
use crate::config::Config;
use crate::keys::BrokerKeys;
use crate::routes::audit::MAX_ENTRIES;

use super::remote::Remote;

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Verify the audit log: signature, every leaf, the root, and consistency with the last
    /// checkpoint trusted. Exits 1 and names the first entry that does not match.
    Verify(VerifyArgs),
    /// Write the log out: OUT/checkpoint, OUT/key and OUT/entries.jsonl.
    Export(ExportArgs),
    /// Erase the entries recorded before a date (at least the audit retention period ago):
    /// their content and salt go, their leaves stay, and the erasure is itself an entry.
    Erase(EraseArgs),
    /// One person's disclosure history: the identifier is pseudonymised here, with the
    /// coalition key, and only the pseudonym is sent (a privacy officer's token).
    Subject(super::audit_subject::SubjectArgs),
}

/// How long audit entries are kept at least: five years. The Wpg (art. 25, 32a) asks that the
/// disclosure accounting of police data reach back at least four years; a year more covers the
/// review of the last of them. `kruispunt audit erase` refuses a date later than this allows.
pub const AUDIT_RETENTION_DAYS: i64 = 5 * 365 + 1;

#[derive(Debug, Clone, Args)]
pub struct EraseArgs {
    /// The broker's data directory (kruispunt.toml, keys, database).
    #[arg(long, value_name = "DIR")]
    pub data_dir: PathBuf,
    /// Erase the entries recorded before this day (YYYY-MM-DD, UTC); it must lie at least the
    /// audit retention period (five years) in the past.
    #[arg(long, value_name = "DATE")]
    pub before: String,
}

#[derive(Debug, Clone, Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub remote: Remote,
    /// Verify an export (a directory written by `kruispunt audit export`) offline instead.
    #[arg(long, value_name = "DIR", conflicts_with = "url")]
    pub dir: Option<PathBuf>,
    /// File keeping the verifier key and the last checkpoint that verified (created on first
    /// use; updated after every successful verification).
    #[arg(long, value_name = "FILE")]
    pub trusted: Option<PathBuf>,
    /// A witness quorum policy (docs/AUDIT.md, "Witnesses and cosigned checkpoints"): accept
    /// the checkpoint only if the policy's quorum of witnesses cosigned it.
    #[arg(long, value_name = "POLICY")]
    pub witnesses: Option<PathBuf>,
    /// With `--witnesses`: a cosignature dated more than this many seconds ahead of this
    /// machine's clock is not counted towards the quorum.
    #[arg(long, value_name = "SECS", requires = "witnesses",
          default_value_t = kruispunt_sdk::transparency::DEFAULT_MAX_CLOCK_SKEW_SECS)]
    pub max_clock_skew: u64,
}

#[derive(Debug, Clone, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub remote: Remote,
    /// Export straight from a broker's data directory (kruispunt.toml, keys, database) with
    /// every entry in full, signing a checkpoint over the stored tree with the broker's key.
    #[arg(long, value_name = "DIR", conflicts_with = "url")]
    pub data_dir: Option<PathBuf>,
    /// Directory to write checkpoint, key and entries.jsonl into (created if missing).
    #[arg(long, value_name = "OUT")]
    pub out: PathBuf,
}

pub fn run(cmd: AuditCommand) -> anyhow::Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    match cmd {
        AuditCommand::Verify(a) => rt.block_on(verify(a)),
        AuditCommand::Export(a) => rt.block_on(export(a)),
        AuditCommand::Erase(a) => rt.block_on(erase(a)),
        AuditCommand::Subject(a) => rt.block_on(super::audit_subject::run(a)),
    }
}

/// The log as fetched or read from an export: the checkpoint note, the key line and the lines
/// in order.
type Fetched = Export;

struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Client {
    fn new(remote: &Remote) -> anyhow::Result<Client> {
        let url = remote.url.clone().context("--url: required")?;
        let token = remote
            .token
            .clone()
            .context("--token: a partner token is needed to read the entries")?;
        if !url.starts_with("https://") {
            bail!("--url: must start with https:// (the log is read over TLS only)");
        }
        crate::tls::install_ring_provider();
        let mut builder = reqwest::Client::builder();
        if let Some(ca) = &remote.ca {
            let pem = std::fs::read(ca).with_context(|| format!("--ca: {}", ca.display()))?;
            let cert = reqwest::Certificate::from_pem(&pem)
                .with_context(|| format!("--ca: {} is not a PEM certificate", ca.display()))?;
            builder = builder.tls_certs_only([cert]);
        }
        Ok(Client {
            http: builder.build()?,
            base: url.trim_end_matches('/').to_string(),
            token,
        })
    }

    /// `GET path`; a `429` (the partner's request rate, met while paging through a large log)
    /// is retried as the SDK retries it: after `Retry-After`, a few times.
    async fn get(&self, path: &str, auth: bool) -> anyhow::Result<reqwest::Response> {
        let policy = kruispunt_sdk::client::RetryPolicy::default();
        let mut attempt = 1;
        let resp = loop {
            let mut req = self.http.get(format!("{}{path}", self.base));
            if auth {
                req = req.bearer_auth(&self.token);
            }
            let resp = req.send().await.with_context(|| format!("GET {path}"))?;
            if resp.status() != reqwest::StatusCode::TOO_MANY_REQUESTS
                || attempt >= policy.max_attempts
            {
                break resp;
            }
            let wait = kruispunt_sdk::client::retry_after(resp.headers());
            tokio::time::sleep(policy.delay(attempt, wait)).await;
            attempt += 1;
        };
        if !resp.status().is_success() {
            let status = resp.status();
            let body = resp.text().await.unwrap_or_default();
            bail!("GET {path}: {status}: {body}");
        }
        Ok(resp)
    }

    async fn text(&self, path: &str) -> anyhow::Result<String> {
        Ok(self.get(path, false).await?.text().await?)
    }

    async fn fetch(&self) -> anyhow::Result<Fetched> {
        let key = self.text("/v1/audit/key").await?;
        let note = self.text("/v1/audit/checkpoint").await?;
        let (cp, _) = open_checkpoint(&note, &key)?;
        let mut lines = Vec::with_capacity(cp.size.min(1 << 20) as usize);
        let mut start = 0;
        while start < cp.size {
            let end = (start + MAX_ENTRIES).min(cp.size);
            let page: serde_json::Value = self
                .get(&format!("/v1/audit/entries?start={start}&end={end}"), true)
                .await?
                .json()
                .await?;
            let got: Vec<LogLine> = serde_json::from_value(page["entries"].clone())
                .context("the broker's entries do not parse")?;
            if got.is_empty() {
                break; // the verifier reports the missing entries
            }
            start = got.last().map_or(end, |l| l.index + 1).max(start + 1);
            lines.extend(got);
        }
        Ok(Fetched { note, key, lines })
    }

    async fn consistency(&self, first: u64, second: u64) -> anyhow::Result<Vec<[u8; 32]>> {
        let v: serde_json::Value = self
            .get(
                &format!("/v1/audit/proof/consistency?first={first}&second={second}"),
                true,
            )
            .await?
            .json()
            .await?;
        v["proof"]
            .as_array()
            .context("consistency proof: no `proof`")?
            .iter()
            .map(|h| {
                h.as_str()
                    .and_then(|s| B64.decode(s).ok())
                    .and_then(|b| <[u8; 32]>::try_from(b).ok())
                    .context("consistency proof: a hash is not base64 of 32 bytes")
            })
            .collect()
    }
}

fn read_dir(dir: &Path) -> anyhow::Result<Fetched> {
    Export::read_dir(dir).with_context(|| format!("--dir {}", dir.display()))
}

/// A TLS failure reaching the broker, with what to pass: a development broker's certificate
/// comes from its own CA, which no system trusts.
fn with_ca_hint(e: anyhow::Error, remote: &Remote) -> anyhow::Error {
    let text = format!("{e:#}").to_lowercase();
    let tls = [
        "certificate",
        "unknownissuer",
        "unknown issuer",
        "invalid peer",
    ]
    .iter()
    .any(|w| text.contains(w));
    if tls && remote.ca.is_none() {
        e.context(
            "the broker's certificate is not signed by a CA this machine trusts: pass --ca with \
             the CA that signed it (for a development broker: --ca kruispunt-data/tls/ca.pem)",
        )
    } else {
        e
    }
}

/// The trusted file: the verifier key line, then the last checkpoint note that verified.
fn read_trusted(path: &Path) -> anyhow::Result<Option<(String, String)>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(anyhow!("--trusted: {}: {e}", path.display())),
    };
    let (key, note) = text.split_once('\n').ok_or_else(|| {
        anyhow!(
            "--trusted: {}: expected a key line, then a checkpoint",
            path.display()
        )
    })?;
    Ok(Some((key.to_string(), note.to_string())))
}

fn write_trusted(path: &Path, key: &str, note: &str) -> anyhow::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, format!("{}\n{note}", key.trim()))
        .with_context(|| format!("--trusted: cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path)
        .with_context(|| format!("--trusted: cannot write {}", path.display()))?;
    Ok(())
}

async fn verify(a: VerifyArgs) -> anyhow::Result<ExitCode> {
    let client = match &a.dir {
        Some(_) => None,
        None => Some(Client::new(&a.remote)?),
    };
    let fetched = match (&a.dir, &client) {
        (Some(dir), _) => read_dir(dir)?,
        (None, Some(c)) => c.fetch().await.map_err(|e| with_ca_hint(e, &a.remote))?,
        (None, None) => unreachable!("a client exists when there is no --dir"),
    };
    let trusted = match &a.trusted {
        Some(path) => read_trusted(path)?,
        None => None,
    };
    if let Some((key, _)) = &trusted
        && key.trim() != fetched.key.trim()
    {
        println!(
            "FAILED: the log's verifier key is not the one trusted earlier ({}): \
             the log was replaced or its key rotated",
            key.trim()
        );
        return Ok(ExitCode::FAILURE);
    }
    let cosigned = match &a.witnesses {
        Some(path) => match check_witnesses(path, a.max_clock_skew, &fetched)? {
            Ok(c) => Some(c),
            Err(e) => {
                println!("FAILED: {e}");
                return Ok(ExitCode::FAILURE);
            }
        },
        None => None,
    };
    let outcome = check(
        &fetched,
        trusted.as_ref().map(|(k, n)| (k.as_str(), n.as_str())),
    );
    let (cp, report, trusted_cp) = match outcome {
        Ok(ok) => ok,
        Err(e) => {
            println!("FAILED: {e}");
            return Ok(ExitCode::FAILURE);
        }
    };
    // Over the network, the broker must also prove consistency itself: its stored tree, not
    // only the entries it served, extends the trusted checkpoint.
    if let (Some(c), Some(t)) = (&client, &trusted_cp)
        && t.size > 0
        && t.size < cp.size
    {
        let proof = c.consistency(t.size, cp.size).await?;
        if let Err(e) = verify_consistency(t.size, cp.size, &proof, &t.root, &cp.root) {
            println!(
                "FAILED: the broker's consistency proof from {} to {} entries does not verify: {e}",
                t.size, cp.size
            );
            return Ok(ExitCode::FAILURE);
        }
    }
    println!(
        "OK: {} — {} entries, root {}",
        cp.origin,
        report.size,
        B64.encode(report.root)
    );
    println!(
        "    {} entries recomputed from their content, {} checked by their leaf only",
        report.entries_checked, report.leaves_only
    );
    if let Some(newest) = fetched
        .lines
        .iter()
        .filter_map(|l| {
            l.entry
                .as_ref()
                .map(|e| e.time_ms)
                .or(l.summary.as_ref().map(|s| s.time_ms))
        })
        .max()
    {
        println!(
            "    the newest entry you can read was recorded {}",
            crate::civil::amsterdam(newest)
        );
    }
    println!(
        "    What this means: the checkpoint carries the broker's valid signature; each entry you \
         may read was recomputed from its content and matches its fingerprint, the others were \
         taken by fingerprint; together they give exactly the signed root. So no entry of these \
         {} was changed, removed or reordered since the checkpoint was signed.",
        report.size
    );
    if let Some(c) = &cosigned {
        let names: Vec<&str> = c.cosigned_by.iter().map(|(n, _)| n.as_str()).collect();
        println!(
            "    cosigned by {} of the policy's witnesses ({}): the quorum is met",
            names.len(),
            if names.is_empty() {
                "none needed".to_string()
            } else {
                names.join(", ")
            }
        );
    }
    if report.erased > 0 {
        match report.erased_unchecked {
            0 => println!(
                "    {} entries erased after their retention period, each recorded by an {ERASE_ACTION} entry",
                report.erased
            ),
            n => println!(
                "    {n} entries erased; only a privacy officer's token can check that each erasure is recorded"
            ),
        }
    }
    match &trusted_cp {
        Some(t) => println!(
            "    extends the checkpoint trusted earlier ({} entries)",
            t.size
        ),
        None if a.trusted.is_some() => {
            println!("    first use: trusting this checkpoint from now on")
        }
        None => {
            println!("    (no --trusted file: history was not compared with an earlier checkpoint)")
        }
    }
    if let Some(path) = &a.trusted {
        write_trusted(path, &fetched.key, &fetched.note)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The checkpoint against the witness policy at `path`: an unusable policy is an error (exit
/// with a message); a checkpoint without the quorum's valid cosignatures is a failed check.
fn check_witnesses(
    path: &Path,
    max_clock_skew: u64,
    f: &Fetched,
) -> anyhow::Result<Result<CosignedCheckpoint, String>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("--witnesses: cannot read {}", path.display()))?;
    let policy = WitnessPolicy::parse(&text)
        .with_context(|| format!("--witnesses: {}", path.display()))?
        .with_max_clock_skew(max_clock_skew);
    let log = match parse_verifier_key(f.key.trim()) {
        Ok(v) => v,
        Err(e) => return Ok(Err(format!("the log's verifier key: {e}"))),
    };
    if !policy.logs().is_empty() && !policy.logs().iter().any(|(v, _)| *v == log) {
        return Ok(Err(format!(
            "the log's key {log} is not one of the log keys in {}",
            path.display()
        )));
    }
    Ok(policy
        .verify(&f.note, std::slice::from_ref(&log))
        .map_err(|e| {
            format!(
                "the checkpoint is not accepted under {}: {e}",
                path.display()
            )
        }))
}

/// Every check that needs no network: signature, trusted checkpoint, every line, the root.
fn check(
    f: &Fetched,
    trusted: Option<(&str, &str)>,
) -> Result<
    (
        Checkpoint,
        kruispunt_sdk::transparency::LogReport,
        Option<Checkpoint>,
    ),
    LogError,
> {
    let v = f.verify(trusted)?;
    Ok((v.checkpoint, v.report, v.trusted))
}

async fn export(a: ExportArgs) -> anyhow::Result<ExitCode> {
    let fetched = match &a.data_dir {
        Some(dir) => export_local(dir).await?,
        None => Client::new(&a.remote)?.fetch().await?,
    };
    // The entries are every organisation's (an operator's export) or an officer's own: owner
    // only, from the first byte, also when an earlier export is overwritten.
    crate::secret_file::create_private_dir(&a.out)
        .with_context(|| format!("--out: cannot create {}", a.out.display()))?;
    owner_only(&a.out.join("checkpoint"))?.write_all(fetched.note.as_bytes())?;
    owner_only(&a.out.join("key"))?.write_all(format!("{}\n", fetched.key.trim()).as_bytes())?;
    let file = owner_only(&a.out.join("entries.jsonl"))?;
    let mut w = BufWriter::new(file);
    for line in &fetched.lines {
        serde_json::to_writer(&mut w, line)?;
        w.write_all(b"\n")?;
    }
    w.flush()?;
    println!(
        "wrote {} entries, checkpoint and key to {}",
        fetched.lines.len(),
        a.out.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// `path` opened for writing, truncated, mode 0600 (also an existing file is narrowed to it).
fn owner_only(path: &Path) -> anyhow::Result<std::fs::File> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    Ok(f)
}

/// The operator's export: every entry in full, and a checkpoint over the stored tree signed
/// now with the broker's key (the same key, so the same verifier line, as the running broker).
async fn export_local(dir: &Path) -> anyhow::Result<Fetched> {
    let config = Config::load(dir)?;
    let keys = BrokerKeys::load_or_create(&config.data_dir)?;
    let store = config.connect_store().await?;
    // Signed like the broker signs: only over a tree consistent with the last checkpoint signed.
    let log = crate::audit::log::AuditLog::open(&config.deployment, &keys, &config.data_dir)?;
    let (size, note) = log.sign_stored(&*store, &keys).await?;
    let viewer = Viewer::operator();
    let mut lines = Vec::with_capacity(size.min(1 << 20) as usize);
    let mut start = 0;
    while start < size {
        let end = (start + 10_000).min(size);
        lines.extend(
            store
                .audit()
                .audit_tree_leaves(start, end)
                .await?
                .into_iter()
                .map(|row| viewer.line(row)),
        );
        start = end;
    }
    Ok(Fetched {
        note,
        key: log.verifier_key().to_string(),
        lines,
    })
}

async fn erase(a: EraseArgs) -> anyhow::Result<ExitCode> {
    let Some(day) = crate::civil::parse_date(&a.before) else {
        bail!("--before: {:?} is not a date YYYY-MM-DD", a.before);
    };
    let today = crate::civil::now_secs().div_euclid(86_400);
    if day > today - AUDIT_RETENTION_DAYS {
        bail!(
            "--before: entries are kept at least {AUDIT_RETENTION_DAYS} days (five years); \
             the latest date allowed today is {}",
            crate::civil::format_date(today - AUDIT_RETENTION_DAYS)
        );
    }
    let config = Config::load(&a.data_dir)?;
    let store = config.connect_store().await?;
    let before = a.before.clone();
    let record = move |erased: &[u64]| {
        let mut e = crate::audit::entry::by(
            None,
            crate::audit::entry::Operation::Erase,
            crate::audit::action::AUDIT_ERASE,
        );
        e.reasons = vec!["audit-retention".into()];
        e.detail = serde_json::json!({
            "before": before,
            "erased": erased.len(),
            "runs": kruispunt_sdk::transparency::runs(erased),
        });
        e
    };
    match store
        .audit()
        .audit_erase_before(day * 86_400_000, &record)
        .await?
    {
        None => println!("no audit entry recorded before {} to erase", a.before),
        Some((erased, seq)) => println!(
            "erased {} audit entries recorded before {} (their leaves stay); recorded as entry {seq}",
            erased.len(),
            a.before
        ),
    }
    Ok(ExitCode::SUCCESS)
}
