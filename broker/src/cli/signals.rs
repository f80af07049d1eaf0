//! `kruispunt signals upload FILE`: a partner's spreadsheet (CSV or .xlsx) to signals at a
//! broker, without code.
//!
//! Every row is mapped ([`super::mapping`]), checked against what `GET /v1/registry` grants
//! the organisation, normalised and pseudonymised here — the clear identifiers never leave the
//! machine — and sent in batches of [`BATCH`] to `POST /v1/signals`. Each rejected row is
//! reported by the file's own row number with the field and the reason, whether this command
//! refused it or the broker did (the broker's per-item answers are mapped back to rows). The
//! ids of the stored signals go to `FILE.kruispunt-ids.csv` (`row,kind,status,id`), so they
//! can be withdrawn; running the command again is safe: the broker answers `duplicate` with the
//! id of the first upload.
//!
//! Why the JSON batch route and not the NDJSON bulk route: the bulk answer lists only up to
//! 1000 rejected lines and no ids, while the partner needs every rejection and every id. A
//! batch of 10 000 is one request and one transaction with its audit entry, the same unit the
//! bulk route commits in.
//!
//! Exit status: 0 when every row was accepted (stored or duplicate), 2 when some rows were
//! rejected and the others accepted, 1 when no row was accepted or the upload failed.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use kruispunt_sdk::IdentifierKind;
use kruispunt_sdk::pseudonym::CoalitionKey;
use kruispunt_sdk::registry::RegistryView;
use kruispunt_sdk::wire::{ItemStatus, SignalIn};

use super::mapping::{Mapping, MappingFile, Values};
use super::remote::Remote;
use super::sheet;

/// Signals per request: the broker's largest JSON batch.
pub const BATCH: usize = 10_000;

// Parsed once per process: the size of the larger variant costs nothing worth a box.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum SignalsCommand {
    /// Upload the rows of a CSV or .xlsx file as signals (pseudonymised here), reporting every
    /// rejected row by its row number and writing the stored signals' ids beside the file.
    Upload(UploadArgs),
    /// Withdraw the signals listed in an ids file written by `signals upload`.
    Withdraw(WithdrawArgs),
}

#[derive(Debug, Args)]
pub struct WithdrawArgs {
    /// The ids file (`FILE.kruispunt-ids.csv`: row,kind,status,id).
    pub ids: PathBuf,
    #[command(flatten)]
    pub remote: Remote,
}

/// The columns and values of a mapping, as flags (shared with `kruispunt match`).
#[derive(Debug, Clone, Args)]
pub struct MappingArgs {
    /// FIELD=HEADER: the column holding an identifier kind (kenteken, kvk, iban, …) or a field
    /// (code, observed, gemeente, district, wijk, purposes). Repeat for every column.
    #[arg(long = "column", value_name = "FIELD=HEADER")]
    pub columns: Vec<String>,
    /// A TOML mapping file with [columns] and [values] (see docs/PARTNERS.md); flags win.
    #[arg(long, value_name = "FILE")]
    pub mapping: Option<PathBuf>,
    /// The coalition key, 64 hex characters. Prefer KRUISPUNT_COALITION_KEY over the command
    /// line; or take it from the membership state with --coalition and --coalition-state.
    #[arg(long, env = "KRUISPUNT_COALITION_KEY", hide_env_values = true)]
    pub key_hex: Option<String>,
    /// The coalition key's version (with --key-hex).
    #[arg(long, default_value_t = 1)]
    pub key_version: u32,
    /// The coalition whose current key pseudonymises (from `kruispunt coalition join`).
    #[arg(long, value_name = "ID", requires = "coalition_state")]
    pub coalition: Option<String>,
    /// The member state file of `kruispunt coalition join` (with --coalition).
    #[arg(long, value_name = "FILE", requires = "coalition")]
    pub coalition_state: Option<PathBuf>,
}

impl MappingArgs {
    /// The key: the coalition's current one from the membership state, or the given hex.
    pub fn key(&self) -> anyhow::Result<CoalitionKey> {
        if let (Some(id), Some(state)) = (&self.coalition, &self.coalition_state) {
            return super::coalition::coalition_key(state, id);
        }
        let hex = self.key_hex.as_deref().ok_or_else(|| {
            anyhow::anyhow!(
                "no coalition key: give --coalition ID --coalition-state FILE (from `kruispunt \
                 coalition join`), or --key-hex / KRUISPUNT_COALITION_KEY"
            )
        })?;
        CoalitionKey::from_hex(hex, self.key_version)
            .map_err(|e| anyhow::anyhow!("--key-hex (or KRUISPUNT_COALITION_KEY): {e}"))
    }

    pub fn file(&self, values: Values) -> anyhow::Result<MappingFile> {
        let file = match &self.mapping {
            Some(path) => MappingFile::load(path)?,
            None => MappingFile::default(),
        };
        file.with_flags(&self.columns, values)
    }
}

#[derive(Debug, Args)]
pub struct UploadArgs {
    /// The spreadsheet: .csv (`,` or `;`, UTF-8 with or without byte-order mark) or .xlsx.
    pub file: PathBuf,
    #[command(flatten)]
    pub remote: Remote,
    #[command(flatten)]
    pub mapping: MappingArgs,
    /// The signal code of every row (instead of a code column).
    #[arg(long, value_name = "CODE")]
    pub code: Option<String>,
    /// The district of every row (instead of a district or gemeente column).
    #[arg(long, value_name = "ID")]
    pub district: Option<String>,
    /// The gemeente (CBS code) of every row (instead of a gemeente column).
    #[arg(long, value_name = "GM....")]
    pub gemeente: Option<String>,
    /// Purpose(s) of every row, comma-separated or repeated (instead of a purposes column).
    #[arg(long = "purpose", value_name = "P", value_delimiter = ',')]
    pub purposes: Vec<String>,
    /// Check and count every row without sending a signal (with --url, against the broker's
    /// registry for this organisation; without, only the forms).
    #[arg(long)]
    pub dry_run: bool,
    /// Where to write the ids of the stored signals (default: FILE.kruispunt-ids.csv).
    #[arg(long, value_name = "FILE")]
    pub ids_out: Option<PathBuf>,
}

pub fn run(cmd: SignalsCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        SignalsCommand::Upload(args) => upload(args),
        SignalsCommand::Withdraw(args) => withdraw(args),
    }
}

/// A row refused, by this command or by the broker.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Rejected {
    pub row: u64,
    pub field: String,
    pub reason: String,
}

/// What an upload did, in rows and signals.
#[derive(Debug, Default)]
pub struct Outcome {
    pub rows: u64,
    pub signals: u64,
    pub stored: u64,
    pub duplicates: u64,
    pub rejected: Vec<Rejected>,
}

fn upload(args: UploadArgs) -> anyhow::Result<ExitCode> {
    let key = args.mapping.key()?;
    let values = Values {
        code: args.code.clone(),
        district: args.district.clone(),
        gemeente: args.gemeente.clone(),
        purposes: args.purposes.clone(),
    };
    // The mapping is checked against the header before anything is asked of the broker.
    let sheet = sheet::open(&args.file)?;
    let mapping = Mapping::resolve(args.mapping.file(values)?, &sheet.header)?;
    drop(sheet);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let client = match (args.dry_run, &args.remote.url) {
        (true, None) => None,
        _ => Some(args.remote.sdk_client()?),
    };
    let registry: Option<RegistryView> = match &client {
        Some(c) => Some(
            rt.block_on(c.get_json::<RegistryView>("/v1/registry"))
                .context("GET /v1/registry")?,
        ),
        None => None,
    };
    let ids_path = args
        .ids_out
        .clone()
        .unwrap_or_else(|| beside(&args.file, "kruispunt-ids.csv"));
    let mut ids = match args.dry_run {
        true => None,
        false => Some(IdsFile::create(&ids_path)?),
    };
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new_spinner();
        bar.set_style(
            indicatif::ProgressStyle::with_template("{spinner} {human_pos} rows ({per_sec})")
                .expect("static template"),
        );
        bar
    });

    // Reading, checking and pseudonymising run on their own thread, a batch ahead of the
    // requests. One request at a time: two in flight measured slower (1 M rows: 60 s against
    // 49 s), the broker's cores being busy with one batch already.
    let (tx, rx) = tokio::sync::mpsc::channel::<Batch>(2);
    let reader = {
        let (file, bar) = (args.file.clone(), bar.clone());
        std::thread::spawn(move || read_rows(&file, &mapping, registry.as_ref(), &key, bar, tx))
    };
    let mut out = Outcome::default();
    rt.block_on(async {
        use futures_util::StreamExt as _;
        let batches =
            futures_util::stream::unfold(
                rx,
                |mut rx| async move { rx.recv().await.map(|b| (b, rx)) },
            );
        let answers = batches
            .map(|batch| {
                // A dry run reads and checks every row and sends nothing.
                let client = client.clone().filter(|_| !args.dry_run);
                async move {
                    let Some(client) = client else {
                        return Ok((batch, None));
                    };
                    let signals: Vec<SignalIn> = batch.iter().map(|(_, _, s)| s.clone()).collect();
                    let answer = client.upload(&signals).await?;
                    Ok::<_, kruispunt_sdk::client::ClientError>((batch, Some(answer)))
                }
            })
            .buffered(1);
        let mut answers = std::pin::pin!(answers);
        while let Some(answer) = answers.next().await {
            let (batch, answer) = answer.context("POST /v1/signals")?;
            let (Some(answer), Some(ids)) = (answer, ids.as_mut()) else {
                continue;
            };
            out.stored += answer.stored;
            out.duplicates += answer.duplicates;
            for item in answer.results {
                let Some((row, kind, _)) = batch.get(item.index) else {
                    bail!(
                        "the broker answered for item {} of {}",
                        item.index,
                        batch.len()
                    );
                };
                match item.status {
                    ItemStatus::Stored | ItemStatus::Duplicate => {
                        ids.write(*row, *kind, item.status, item.id.as_deref().unwrap_or(""))?;
                    }
                    ItemStatus::Rejected => out.rejected.push(Rejected {
                        row: *row,
                        field: item.field.unwrap_or_default(),
                        reason: item.reason.unwrap_or_default(),
                    }),
                }
            }
        }
        Ok::<_, anyhow::Error>(())
    })?;
    let read = reader
        .join()
        .map_err(|_| anyhow::anyhow!("reading {} failed", args.file.display()))??;
    out.rows = read.rows;
    out.signals = read.signals;
    out.rejected.extend(read.rejected);
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    if let Some(ids) = ids {
        ids.finish()?;
    }
    report(&args, &ids_path, &mut out)
}

/// Signals of one request, each with its row number and kind.
type Batch = Vec<(u64, IdentifierKind, SignalIn)>;

/// Reads every row of `file`, hands the signals to `tx` in batches of [`BATCH`] and answers
/// the rows read and the rows refused here. Stops early when the receiver has gone (the
/// upload failed).
fn read_rows(
    file: &Path,
    mapping: &Mapping,
    registry: Option<&RegistryView>,
    key: &CoalitionKey,
    bar: Option<indicatif::ProgressBar>,
    tx: tokio::sync::mpsc::Sender<Batch>,
) -> anyhow::Result<Outcome> {
    let sheet = sheet::open(file)?;
    let mut out = Outcome::default();
    let mut batch: Batch = Vec::with_capacity(BATCH);
    for row in sheet.rows {
        let row = row?;
        out.rows += 1;
        if let Some(bar) = &bar {
            bar.inc(1);
        }
        match mapping.signals(&row.cells, registry, key) {
            Ok(signals) => {
                for (kind, s) in signals {
                    out.signals += 1;
                    batch.push((row.number, kind, s));
                }
            }
            Err(r) => out.rejected.push(Rejected {
                row: row.number,
                field: r.field,
                reason: r.reason,
            }),
        }
        if batch.len() >= BATCH && tx.blocking_send(std::mem::take(&mut batch)).is_err() {
            return Ok(out);
        }
    }
    if !batch.is_empty() {
        let _ = tx.blocking_send(batch);
    }
    Ok(out)
}

/// Withdraws every distinct id of the ids file (a re-run's `duplicate` lines repeat the ids of
/// the first upload). A signal already withdrawn, expired or not this organisation's is
/// reported by its row and the rest go on; the exit status is 2 when any was.
fn withdraw(args: WithdrawArgs) -> anyhow::Result<ExitCode> {
    let text = std::fs::read_to_string(&args.ids)
        .with_context(|| format!("cannot read {}", args.ids.display()))?;
    let mut lines = text.lines();
    if lines.next() != Some("row,kind,status,id") {
        bail!(
            "{}: not an ids file of `kruispunt signals upload` (header row,kind,status,id)",
            args.ids.display()
        );
    }
    let mut seen = std::collections::HashSet::new();
    let mut todo = Vec::new();
    for line in lines {
        let f: Vec<&str> = line.split(',').collect();
        let [row, _, _, id] = f[..] else {
            bail!("{}: {line:?} has not four cells", args.ids.display());
        };
        if seen.insert(id.to_string()) {
            todo.push((row.to_string(), id.to_string()));
        }
    }
    let client = args.remote.sdk_client()?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (mut withdrawn, mut failed) = (0u64, 0u64);
    for (row, id) in &todo {
        match rt.block_on(client.withdraw(id)) {
            Ok(r) if r.withdrawn => withdrawn += 1,
            Ok(_) => {
                failed += 1;
                println!("row {row}: signal {id} was not withdrawn");
            }
            Err(e) => {
                failed += 1;
                println!("row {row}: signal {id}: {e}");
            }
        }
    }
    println!("{withdrawn} withdrawn, {failed} not");
    Ok(match failed {
        0 => ExitCode::SUCCESS,
        _ => ExitCode::from(2),
    })
}

/// Prints every rejected row and the totals; the exit status follows from them.
fn report(args: &UploadArgs, ids_path: &Path, out: &mut Outcome) -> anyhow::Result<ExitCode> {
    out.rejected.sort();
    out.rejected.dedup();
    let rejected_rows = {
        let mut rows: Vec<u64> = out.rejected.iter().map(|r| r.row).collect();
        rows.dedup();
        rows.len() as u64
    };
    let stdout = std::io::stdout();
    let mut w = stdout.lock();
    for r in &out.rejected {
        writeln!(w, "row {}: {}: {}", r.row, r.field, r.reason)?;
    }
    let accepted_rows = out.rows - rejected_rows;
    if args.dry_run {
        writeln!(
            w,
            "dry run: {} rows read, {} would be sent ({} signals), {} rejected; nothing was sent",
            out.rows, accepted_rows, out.signals, rejected_rows
        )?;
    } else {
        writeln!(
            w,
            "{} rows read: {} stored, {} already there (duplicate), {} rejected; ids in {}",
            out.rows,
            out.stored,
            out.duplicates,
            rejected_rows,
            ids_path.display()
        )?;
    }
    w.flush()?;
    if out.rows == 0 {
        bail!("{}: no data rows below the header", args.file.display());
    }
    if accepted_rows == 0 {
        bail!(
            "every row of {} was rejected (see above); nothing was stored",
            args.file.display()
        );
    }
    Ok(match rejected_rows {
        0 => ExitCode::SUCCESS,
        _ => ExitCode::from(2),
    })
}

/// `FILE.SUFFIX` beside `file` (`export.csv` → `export.csv.kruispunt-ids.csv`).
pub fn beside(file: &Path, suffix: &str) -> PathBuf {
    let mut name = file.file_name().unwrap_or_default().to_os_string();
    name.push(".");
    name.push(suffix);
    file.with_file_name(name)
}

/// The ids file, written to a temporary name and renamed when complete, so an interrupted run
/// never leaves a half list under the real name.
struct IdsFile {
    tmp: PathBuf,
    path: PathBuf,
    w: std::io::BufWriter<std::fs::File>,
}

impl IdsFile {
    fn create(path: &Path) -> anyhow::Result<IdsFile> {
        let tmp = path.with_extension("csv.partial");
        let file = std::fs::File::create(&tmp)
            .with_context(|| format!("cannot write {}", tmp.display()))?;
        let mut w = std::io::BufWriter::new(file);
        writeln!(w, "row,kind,status,id")?;
        Ok(IdsFile {
            tmp,
            path: path.to_path_buf(),
            w,
        })
    }

    fn write(
        &mut self,
        row: u64,
        kind: IdentifierKind,
        status: ItemStatus,
        id: &str,
    ) -> anyhow::Result<()> {
        let status = match status {
            ItemStatus::Stored => "stored",
            ItemStatus::Duplicate => "duplicate",
            ItemStatus::Rejected => "rejected",
        };
        writeln!(self.w, "{row},{},{status},{id}", kind.as_str())?;
        Ok(())
    }

    fn finish(mut self) -> anyhow::Result<()> {
        self.w.flush()?;
        std::fs::rename(&self.tmp, &self.path)
            .with_context(|| format!("cannot write {}", self.path.display()))
    }
}
