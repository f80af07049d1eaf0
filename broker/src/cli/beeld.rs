//! `kruispunt beeld`: ask a broker for the ondermijningsbeeld (`POST /v1/aggregates`) and print
//! it as a table, or write it as CSV for a spreadsheet or a report (docs/BEELD-CLIENTS.md has
//! the columns).
//!
//! The flags are checked here before anything is sent, each error naming the flag and the rule,
//! so that a typo costs no privacy budget; the broker checks everything again. A suppressed
//! cell is never printed as a number: it is shown as `< k` (fewer than `k` subjects) or as
//! `suppressed` with its reason.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Args;
use kruispunt_sdk::beeld::{
    AggregateFilter, AggregateRequest, AggregateResponse, Dimension, MAX_FILTER_VALUES,
    MAX_GROUP_BY, Measure, SuppressionReason,
};

use super::remote::Remote;
use crate::audit::csv::{field, utc};
use crate::civil::{civil_from_days, days_from_civil, format_date, parse_date};

/// The purpose asked under unless `--purpose` says otherwise.
pub const DEFAULT_PURPOSE: &str = "ondermijningsbeeld";

#[derive(Debug, Clone, Args)]
pub struct BeeldArgs {
    #[command(flatten)]
    pub remote: Remote,
    /// Purpose asked under (an aggregate purpose of the registry).
    #[arg(long, default_value = DEFAULT_PURPOSE, value_name = "P")]
    pub purpose: String,
    /// What to count: subjects, multi_source, cross_sector or signals.
    #[arg(long, default_value = "subjects", value_parser = parse_measure, value_name = "M")]
    pub measure: Measure,
    /// Dimensions to group by, comma-separated: at most one area (unit, district, gemeente,
    /// wijk), one of theme/code/intervention and one period (week, month, quarter). None: one cell.
    #[arg(long = "group-by", value_delimiter = ',', value_parser = parse_dimension, value_name = "DIM,..")]
    pub group_by: Vec<Dimension>,
    /// First observation day counted (default: the first day of the month eleven months
    /// before --to's, so that the default range is twelve calendar months).
    #[arg(long, value_parser = parse_day, value_name = "YYYY-MM-DD")]
    pub from: Option<String>,
    /// Last observation day counted, inclusive (default: today, UTC).
    #[arg(long, value_parser = parse_day, value_name = "YYYY-MM-DD")]
    pub to: Option<String>,
    /// Count only these districts (registry ids), comma-separated.
    #[arg(long, value_delimiter = ',', value_name = "ID,..")]
    pub district: Vec<String>,
    /// Count only these municipalities (CBS codes such as GM0344), comma-separated.
    #[arg(long, value_delimiter = ',', value_parser = parse_gemeente, value_name = "GM....,..")]
    pub gemeente: Vec<String>,
    /// Count only these themes of the taxonomy, comma-separated.
    #[arg(long, value_delimiter = ',', value_name = "THEME,..")]
    pub theme: Vec<String>,
    /// Also release the total over the whole question (its own noisy number, never a sum).
    #[arg(long)]
    pub totals: bool,
    /// Write the answer as CSV to FILE (`-` for standard output) instead of printing a table.
    #[arg(long, value_name = "FILE")]
    pub csv: Option<PathBuf>,
}

fn parse_measure(s: &str) -> Result<Measure, String> {
    Measure::ALL
        .into_iter()
        .find(|m| m.as_str() == s)
        .ok_or_else(|| {
            format!(
                "`{s}` is not a measure; use one of {}",
                names(&Measure::ALL)
            )
        })
}

fn parse_dimension(s: &str) -> Result<Dimension, String> {
    Dimension::ALL
        .into_iter()
        .find(|d| d.as_str() == s.trim())
        .ok_or_else(|| {
            format!(
                "`{s}` is not a dimension; use {}",
                names(&Dimension::ALL).replace(", ", ",")
            )
        })
}

fn names<T: std::fmt::Display>(all: &[T]) -> String {
    all.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

fn parse_day(s: &str) -> Result<String, String> {
    parse_date(s)
        .map(|_| s.to_string())
        .ok_or_else(|| format!("`{s}` is not a calendar day written YYYY-MM-DD"))
}

/// A CBS municipality code: `GM` and four digits.
fn parse_gemeente(s: &str) -> Result<String, String> {
    let ok = s.len() == 6 && s.starts_with("GM") && s[2..].bytes().all(|b| b.is_ascii_digit());
    if ok {
        Ok(s.to_string())
    } else {
        Err(format!(
            "`{s}` is not a CBS municipality code (GM and four digits, e.g. GM0344)"
        ))
    }
}

/// Today in days since 1970-01-01, UTC.
fn today() -> i64 {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    i64::try_from(secs / 86_400).unwrap_or(0)
}

/// The first day of the month eleven months before `to`'s month.
fn twelve_months_before(to: i64) -> i64 {
    let (y, m, _) = civil_from_days(to);
    let months = y * 12 + i64::from(m) - 1 - 11;
    days_from_civil(
        months.div_euclid(12),
        u32::try_from(months.rem_euclid(12) + 1).unwrap_or(1),
        1,
    )
}

impl BeeldArgs {
    /// The question these flags ask, or an error naming the flag and the rule it breaks.
    pub fn request(&self, today: i64) -> anyhow::Result<AggregateRequest> {
        if self.group_by.len() > MAX_GROUP_BY {
            bail!(
                "--group-by: at most {MAX_GROUP_BY} dimensions (one area, one of theme/code/intervention, one period)"
            );
        }
        type Family = (&'static str, fn(Dimension) -> bool);
        let families: [Family; 3] = [
            ("area (unit, district, gemeente, wijk)", Dimension::is_area),
            ("of theme/code/intervention", Dimension::is_category),
            ("period (week, month, quarter)", Dimension::is_period),
        ];
        for (family, member) in families {
            let of: Vec<&str> = self
                .group_by
                .iter()
                .filter(|d| member(**d))
                .map(|d| d.as_str())
                .collect();
            if of.len() > 1 {
                bail!("--group-by: at most one {family}, got {}", of.join(" and "));
            }
        }
        for (flag, values) in [
            ("--district", &self.district),
            ("--gemeente", &self.gemeente),
            ("--theme", &self.theme),
        ] {
            if values.len() > MAX_FILTER_VALUES {
                bail!("{flag}: at most {MAX_FILTER_VALUES} values");
            }
            if values.iter().any(|v| v.trim().is_empty()) {
                bail!("{flag}: an empty value (check the commas)");
            }
        }
        let to = match &self.to {
            Some(to) => parse_date(to).context("--to: not a day")?,
            None => today,
        };
        let from = match &self.from {
            Some(from) => parse_date(from).context("--from: not a day")?,
            None => twelve_months_before(to),
        };
        if from > to {
            bail!(
                "--from {} is after --to {}: the range must not be empty",
                format_date(from),
                format_date(to)
            );
        }
        let filter = AggregateFilter {
            district: self.district.clone(),
            gemeente: self.gemeente.clone(),
            theme: self.theme.clone(),
        };
        Ok(AggregateRequest {
            purpose: self.purpose.clone(),
            measure: self.measure,
            group_by: self.group_by.clone(),
            from: format_date(from),
            to: format_date(to),
            filter: (filter != AggregateFilter::default()).then_some(filter),
            totals: self.totals,
        })
    }
}

pub fn run(args: BeeldArgs) -> anyhow::Result<ExitCode> {
    let request = args.request(today())?;
    let client = args.remote.sdk_client()?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let answer = rt
        .block_on(client.aggregates(&request))
        .context("POST /v1/aggregates")?;
    match &args.csv {
        Some(path) => {
            let csv = to_csv(&request.group_by, &answer);
            if path.as_os_str() == "-" {
                print!("{csv}");
            } else {
                std::fs::write(path, csv).with_context(|| format!("--csv: {}", path.display()))?;
                let suppressed = answer.cells.iter().filter(|c| c.suppressed).count();
                eprintln!(
                    "wrote {} cells ({suppressed} suppressed) to {}",
                    answer.cells.len(),
                    path.display()
                );
            }
            eprintln!("snapshot {} · {}", answer.snapshot.id, footer(&answer));
        }
        None => print!("{}", to_table(&request, &answer)),
    }
    Ok(ExitCode::SUCCESS)
}

/// What a reader sees for a withheld number: `< k` where the cell has fewer than `k`
/// subjects, `suppressed` where another rule (sources, dominance) withheld it.
pub fn marker(
    value: Option<u64>,
    suppressed: bool,
    reason: Option<SuppressionReason>,
    k: u32,
) -> String {
    match (suppressed, value, reason) {
        (false, Some(v), _) => v.to_string(),
        (true, _, Some(SuppressionReason::BelowK)) => format!("< {k}"),
        _ => "suppressed".to_string(),
    }
}

/// The CSV columns after the dimensions.
pub const VALUE_COLUMNS: [&str; 4] = ["value", "shown", "suppressed", "reason"];

/// The answer as CSV (RFC 4180, CRLF): a `row` column (`cell`, or `total` for the total of
/// `--totals`), one column per dimension in `--group-by` order, then `value` (empty where
/// suppressed), `shown` (the value, `< k` or `suppressed`), `suppressed` (`true`/`false`) and
/// `reason` (empty unless suppressed).
pub fn to_csv(group_by: &[Dimension], answer: &AggregateResponse) -> String {
    let mut out = String::new();
    let mut header = vec!["row"];
    header.extend(group_by.iter().map(|d| d.as_str()));
    header.extend(VALUE_COLUMNS);
    out.push_str(&header.join(","));
    out.push_str("\r\n");
    let mut row = |kind: &str,
                   dims: Vec<&str>,
                   value: Option<u64>,
                   suppressed: bool,
                   reason: Option<SuppressionReason>| {
        let value_text = if suppressed {
            String::new()
        } else {
            value.map(|v| v.to_string()).unwrap_or_default()
        };
        let shown = marker(value, suppressed, reason, answer.k);
        let reason = reason.map(|r| r.as_str()).unwrap_or_default();
        let mut fields = vec![kind];
        fields.extend(dims);
        fields.extend([value_text.as_str(), shown.as_str()]);
        fields.push(if suppressed { "true" } else { "false" });
        fields.push(reason);
        for (i, f) in fields.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            field(&mut out, f);
        }
        out.push_str("\r\n");
    };
    for c in &answer.cells {
        let dims = group_by
            .iter()
            .map(|d| c.dims.get(d.as_str()).map_or("", String::as_str))
            .collect();
        row("cell", dims, c.value, c.suppressed, c.reason);
    }
    if let Some(t) = &answer.totals {
        row(
            "total",
            vec![""; group_by.len()],
            t.value,
            t.suppressed,
            t.reason,
        );
    }
    out
}

/// The answer as an aligned table with a heading (question, snapshot) and a footer (k,
/// rounding, noise margin, ε, audit entry).
pub fn to_table(request: &AggregateRequest, answer: &AggregateResponse) -> String {
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut header: Vec<String> = request.group_by.iter().map(|d| d.to_string()).collect();
    header.push(answer.measure.to_string());
    rows.push(header);
    for c in &answer.cells {
        let mut r: Vec<String> = request
            .group_by
            .iter()
            .map(|d| c.dims.get(d.as_str()).cloned().unwrap_or_default())
            .collect();
        let mut shown = marker(c.value, c.suppressed, c.reason, answer.k);
        if let (true, Some(reason)) = (c.suppressed, c.reason)
            && reason != SuppressionReason::BelowK
        {
            shown = format!("suppressed ({reason})");
        }
        r.push(shown);
        rows.push(r);
    }
    if let Some(t) = &answer.totals {
        let mut r = vec![String::new(); request.group_by.len()];
        if let Some(first) = r.first_mut() {
            *first = "total".into();
        }
        r.push(marker(t.value, t.suppressed, t.reason, answer.k));
        rows.push(r);
    }
    let columns = rows[0].len();
    let widths: Vec<usize> = (0..columns)
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = format!(
        "{} · {} · {} .. {} · snapshot {} of {}\n\n",
        answer.purpose,
        answer.measure,
        request.from,
        request.to,
        answer.snapshot.id,
        utc(answer.snapshot.published.saturating_mul(1000)).replace(".000Z", "Z"),
    );
    for r in &rows {
        let mut line = String::new();
        for (i, text) in r.iter().enumerate() {
            let pad = widths[i] - text.chars().count();
            if i + 1 == columns {
                line.push_str(&" ".repeat(pad));
                line.push_str(text);
            } else {
                line.push_str(text);
                line.push_str(&" ".repeat(pad + 2));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    if answer.cells.is_empty() {
        out.push_str("(no cells)\n");
    }
    out.push('\n');
    out.push_str(&footer(answer));
    out.push('\n');
    out
}

/// The release's terms in one line.
fn footer(answer: &AggregateResponse) -> String {
    format!(
        "k = {}, values rounded to multiples of {}, noise within ±{} (95 %); ε spent {}, \
         left this month {}; audit entry #{}",
        answer.k,
        answer.rounding,
        answer.margin_95,
        answer.epsilon_spent,
        answer.epsilon_left,
        answer.audit_seq
    )
}

#[cfg(test)]
mod tests {
    use clap::Parser;
    use kruispunt_sdk::beeld::{Cell, SnapshotInfo};

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        args: BeeldArgs,
    }

    fn args(flags: &[&str]) -> Result<BeeldArgs, String> {
        let mut argv = vec!["beeld"];
        argv.extend(flags);
        Cli::try_parse_from(argv)
            .map(|c| c.args)
            .map_err(|e| e.to_string())
    }

    fn request(flags: &[&str]) -> Result<AggregateRequest, String> {
        let today = parse_date("2026-12-07").unwrap();
        args(flags)?.request(today).map_err(|e| format!("{e:#}"))
    }

    #[test]
    fn defaults_ask_for_subjects_over_twelve_calendar_months() {
        let r = request(&["--group-by", "gemeente,theme"]).unwrap();
        assert_eq!(r.purpose, "ondermijningsbeeld");
        assert_eq!(r.measure, Measure::Subjects);
        assert_eq!(r.group_by, [Dimension::Gemeente, Dimension::Theme]);
        assert_eq!(
            (r.from.as_str(), r.to.as_str()),
            ("2026-01-01", "2026-12-07")
        );
        assert_eq!(r.filter, None);
        assert!(!r.totals);
        let r = request(&["--to", "2026-03-31"]).unwrap();
        assert_eq!(r.from, "2025-04-01");
    }

    #[test]
    fn every_flag_reaches_the_request() {
        let r = request(&[
            "--purpose",
            "other",
            "--measure",
            "cross_sector",
            "--group-by",
            "district,month",
            "--from",
            "2025-01-01",
            "--to",
            "2025-06-30",
            "--district",
            "flevoland,gooi-en-vechtstreek",
            "--gemeente",
            "GM0034",
            "--theme",
            "vastgoed",
            "--totals",
        ])
        .unwrap();
        assert_eq!(r.purpose, "other");
        assert_eq!(r.measure, Measure::CrossSector);
        assert_eq!(r.group_by, [Dimension::District, Dimension::Month]);
        assert_eq!(
            (r.from.as_str(), r.to.as_str()),
            ("2025-01-01", "2025-06-30")
        );
        let f = r.filter.unwrap();
        assert_eq!(f.district, ["flevoland", "gooi-en-vechtstreek"]);
        assert_eq!(f.gemeente, ["GM0034"]);
        assert_eq!(f.theme, ["vastgoed"]);
        assert!(r.totals);
    }

    #[test]
    fn bad_flags_name_the_flag_and_the_rule() {
        let cases: [(&[&str], &[&str]); 9] = [
            (&["--measure", "people"], &["--measure", "cross_sector"]),
            (
                &["--group-by", "gemeente,street"],
                &["--group-by", "`street`"],
            ),
            (
                &["--group-by", "gemeente,district"],
                &["--group-by", "one area", "gemeente and district"],
            ),
            (&["--group-by", "theme,code"], &["--group-by", "theme/code"]),
            (&["--group-by", "week,month"], &["--group-by", "one period"]),
            (&["--from", "2026-02-30"], &["--from", "YYYY-MM-DD"]),
            (
                &["--from", "2026-12-01", "--to", "2026-01-01"],
                &["--from 2026-12-01 is after --to 2026-01-01"],
            ),
            (
                &["--gemeente", "0344"],
                &["--gemeente", "GM and four digits"],
            ),
            (
                &["--theme", "horeca,,vastgoed"],
                &["--theme", "empty value"],
            ),
        ];
        for (flags, expected) in cases {
            let err = request(flags).unwrap_err();
            for e in expected {
                assert!(err.contains(e), "{flags:?}: {err}");
            }
        }
        let many: Vec<String> = (0..=MAX_FILTER_VALUES).map(|i| format!("t{i}")).collect();
        let many = many.join(",");
        let err = request(&["--theme", &many]).unwrap_err();
        assert!(err.contains("--theme: at most 64 values"), "{err}");
    }

    fn answer() -> AggregateResponse {
        let cell = |g: &str, t: &str, value: Option<u64>, reason: Option<SuppressionReason>| Cell {
            dims: [("gemeente", g), ("theme", t)]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            value,
            suppressed: value.is_none(),
            reason,
        };
        AggregateResponse {
            purpose: "ondermijningsbeeld".into(),
            measure: Measure::Subjects,
            cells: vec![
                cell("GM0344", "horeca", Some(35), None),
                cell("GM0344", "vastgoed", None, Some(SuppressionReason::BelowK)),
                cell("GM0307", "=cmd", None, Some(SuppressionReason::Dominance)),
            ],
            // From JSON: the total's wire shape (`{value, suppressed, reason?}`) is the
            // contract, whichever Rust type carries it.
            totals: serde_json::from_value(serde_json::json!({"value": 120, "suppressed": false}))
                .unwrap(),
            snapshot: SnapshotInfo {
                id: 12,
                published: 1_796_601_600,
                next: 1_796_601_610,
            },
            epsilon_spent: 0.5,
            epsilon_left: 9.5,
            k: 10,
            rounding: 5,
            margin_95: 6,
            audit_seq: 41,
            area_names: Default::default(),
        }
    }

    #[test]
    fn csv_marks_suppressed_cells_and_defuses_formulas() {
        let csv = to_csv(&[Dimension::Gemeente, Dimension::Theme], &answer());
        let lines: Vec<&str> = csv.split("\r\n").collect();
        assert_eq!(
            lines,
            [
                "row,gemeente,theme,value,shown,suppressed,reason",
                "cell,GM0344,horeca,35,35,false,",
                "cell,GM0344,vastgoed,,< 10,true,below_k",
                "cell,GM0307,\"'=cmd\",,suppressed,true,dominance",
                "total,,,120,120,false,",
                "",
            ]
        );
    }

    #[test]
    fn the_table_shows_values_markers_and_the_terms() {
        let mut r = request(&["--group-by", "gemeente,theme", "--totals"]).unwrap();
        r.from = "2026-01-01".into();
        let table = to_table(&r, &answer());
        assert!(table.starts_with("ondermijningsbeeld · subjects · 2026-01-01 .. 2026-12-07 · snapshot 12 of 2026-12-07T"), "{table}");
        // Columns two spaces apart, the measure right-aligned.
        let lines: Vec<&str> = table.lines().skip(2).take(5).collect();
        assert_eq!(
            lines,
            [
                "gemeente  theme                   subjects",
                "GM0344    horeca                        35",
                "GM0344    vastgoed                    < 10",
                "GM0307    =cmd      suppressed (dominance)",
                "total                                  120",
            ],
            "{table}"
        );
        assert!(table.contains("k = 10, values rounded to multiples of 5, noise within ±6 (95 %); ε spent 0.5, left this month 9.5; audit entry #41"), "{table}");
    }
}
