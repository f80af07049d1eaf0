//! `kruispunt match FILE --purpose P --column KIND=HEADER`: asks the broker about every
//! identifier in a column of a partner's spreadsheet and writes the rows back with the answer
//! per row, joined here: the broker only ever sees pseudonyms and answers by position, so the
//! join of answers to rows is done on the partner's machine.
//!
//! Each distinct identifier is asked once (a list with the same plate on ten rows costs one
//! identifier of the daily budget, not ten), in requests of the purpose's
//! `max_identifiers_per_request` (from `GET /v1/registry`). The output (`FILE.kruispunt-match.csv`
//! unless `--out`) is the input's columns followed by `kruispunt_hit` (`ja`/`nee`, empty where
//! the row could not be asked), `kruispunt_categories` and `kruispunt_sectors` (where the
//! purpose and level disclose them) and `kruispunt_note` (why a row was not asked); UTF-8 with
//! a byte-order mark and `;` between cells, as Dutch Excel opens it.

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Args;
use kruispunt_sdk::identifiers;
use kruispunt_sdk::registry::RegistryView;
use kruispunt_sdk::wire::{IdentifierRef, Level, MatchRequest, MatchResult};

use super::mapping::Values;
use super::remote::Remote;
use super::sheet;
use super::signals::{MappingArgs, beside};

#[derive(Debug, Args)]
pub struct MatchArgs {
    /// The spreadsheet: .csv or .xlsx.
    pub file: PathBuf,
    #[command(flatten)]
    pub remote: Remote,
    /// KIND=HEADER of the identifier column, e.g. --column kenteken=Kenteken (--mapping works too).
    #[command(flatten)]
    pub mapping: MappingArgs,
    /// The purpose to ask under.
    #[arg(long, value_name = "P")]
    pub purpose: String,
    /// Disclosure level to ask for: hit or categories (details need the broker's API).
    #[arg(long, default_value = "hit", value_parser = parse_level)]
    pub level: Level,
    /// Why categories are necessary (the policy requires it above `hit`, at least 20
    /// characters).
    #[arg(long, value_name = "TEXT")]
    pub justification: Option<String>,
    /// The case or dossier the question is for (the policy requires it above `hit`).
    #[arg(long = "case", value_name = "REF")]
    pub case_reference: Option<String>,
    /// Where to write the rows with their answers (default: FILE.kruispunt-match.csv).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

fn parse_level(s: &str) -> Result<Level, String> {
    match s {
        "hit" => Ok(Level::Hit),
        "categories" => Ok(Level::Categories),
        _ => Err(format!("{s:?}: choose hit or categories")),
    }
}

pub fn run(args: MatchArgs) -> anyhow::Result<ExitCode> {
    let key = args.mapping.key()?;
    let sheet = sheet::open(&args.file)?;
    let file = args.mapping.file(Values::default())?;
    let mut columns = file
        .columns
        .iter()
        .filter(|(f, _)| f.parse::<identifiers::IdentifierKind>().is_ok());
    let (Some((kind, header)), None) = (columns.next(), columns.next()) else {
        bail!("--column: name exactly one identifier column, e.g. --column kenteken=Kenteken");
    };
    let kind: identifiers::IdentifierKind = kind.parse().expect("filtered above");
    let want = header.trim().to_lowercase();
    let Some(col) = sheet
        .header
        .iter()
        .position(|h| h.trim().to_lowercase() == want)
    else {
        bail!(
            "column {header:?} is not in the header row; the columns are: {}",
            sheet.header.join(", ")
        );
    };

    let client = args.remote.sdk_client()?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let registry = rt
        .block_on(client.get_json::<RegistryView>("/v1/registry"))
        .context("GET /v1/registry")?;
    let Some(purpose) = registry.purposes.iter().find(|p| p.id == args.purpose) else {
        let mine: Vec<&str> = registry
            .purposes
            .iter()
            .filter(|p| !p.ask_roles.is_empty())
            .map(|p| p.id.as_str())
            .collect();
        bail!(
            "--purpose {:?}: not a purpose this organisation may ask under; its purposes: {}",
            args.purpose,
            mine.join(", ")
        );
    };
    if !purpose.identifier_kinds.iter().any(|k| k == kind.as_str()) {
        bail!(
            "--column {}: purpose {} does not process {} (it processes {})",
            kind.as_str(),
            purpose.id,
            kind.as_str(),
            purpose.identifier_kinds.join(", ")
        );
    }
    let per_request = usize::try_from(purpose.max_identifiers_per_request.max(1))?;

    // Rows, each with its pseudonym or why it has none; distinct pseudonyms in first-seen order.
    let pseudonymiser = key.pseudonymiser(kind);
    let mut rows: Vec<(sheet::Row, Result<String, String>)> = Vec::new();
    let mut distinct: Vec<String> = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut canonical = String::new();
    for row in sheet.rows {
        let row = row?;
        let p = match row.cells.get(col).filter(|c| !c.is_empty()) {
            None => Err(format!("no {} in column {header}", kind.as_str())),
            Some(raw) => identifiers::normalise_into(kind, raw, &mut canonical)
                .map(|()| pseudonymiser.pseudonymise_canonical(&canonical).to_hex())
                .map_err(|e| format!("{}: {e}", kind.as_str())),
        };
        if let Ok(p) = &p
            && !seen.contains_key(p)
        {
            seen.insert(p.clone(), distinct.len());
            distinct.push(p.clone());
        }
        rows.push((row, p));
    }

    let mut answers: Vec<Option<MatchResult>> = vec![None; distinct.len()];
    let mut level = args.level;
    for (n, chunk) in distinct.chunks(per_request).enumerate() {
        let request = MatchRequest {
            purpose: args.purpose.clone(),
            coalition: None,
            identifiers: chunk
                .iter()
                .map(|p| IdentifierRef {
                    kind: kind.as_str().to_string(),
                    pseudonym: p.clone(),
                    key_version: key.version(),
                })
                .collect(),
            level: args.level,
            case_reference: args.case_reference.clone(),
            legal_basis: None,
            consent_id: None,
            justification: args.justification.clone(),
        };
        let answer = rt
            .block_on(client.match_identifiers(&request))
            .context("POST /v1/matches")?;
        level = level.min(answer.level);
        for r in answer.results {
            if let Some(slot) = answers.get_mut(n * per_request + r.index) {
                *slot = Some(r);
            }
        }
    }

    let out_path = args
        .out
        .clone()
        .unwrap_or_else(|| beside(&args.file, "kruispunt-match.csv"));
    let file = std::fs::File::create(&out_path)
        .with_context(|| format!("cannot write {}", out_path.display()))?;
    let mut raw = std::io::BufWriter::new(file);
    raw.write_all(b"\xEF\xBB\xBF")?;
    let mut w = csv::WriterBuilder::new()
        .delimiter(b';')
        .flexible(true)
        .from_writer(raw);
    let mut head = sheet.header.clone();
    head.extend(
        [
            "kruispunt_hit",
            "kruispunt_categories",
            "kruispunt_sectors",
            "kruispunt_note",
        ]
        .map(String::from),
    );
    w.write_record(&head)?;
    let (mut hits, mut asked, mut not_asked) = (0u64, 0u64, 0u64);
    for (row, p) in &rows {
        let mut cells = row.cells.clone();
        cells.resize(sheet.header.len(), String::new());
        match p {
            Ok(p) => {
                let r = answers[seen[p]].as_ref();
                let hit = r.is_some_and(|r| r.hit);
                asked += 1;
                hits += u64::from(hit);
                cells.push(if hit { "ja" } else { "nee" }.to_string());
                cells.push(r.map(|r| r.categories.join(",")).unwrap_or_default());
                cells.push(r.map(|r| r.sectors.join(",")).unwrap_or_default());
                cells.push(String::new());
            }
            Err(e) => {
                not_asked += 1;
                cells.extend([String::new(), String::new(), String::new(), e.clone()]);
            }
        }
        w.write_record(&cells)?;
    }
    w.flush()?;
    println!(
        "{} rows: {asked} asked ({} distinct identifiers), {hits} with a hit, {not_asked} not \
         asked (see kruispunt_note); disclosed level {}; written to {}",
        rows.len(),
        distinct.len(),
        level.as_str(),
        out_path.display()
    );
    Ok(ExitCode::SUCCESS)
}
