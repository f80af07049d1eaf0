//! A partner's spreadsheet as rows of text cells, each with the row number the partner sees:
//! CSV (as Dutch Excel writes it: "CSV UTF-8" with a byte-order mark, `;` as the separator,
//! quoted cells) and Excel `.xlsx`.
//!
//! Why row numbers from the file and not a count: every rejection is reported to a person who
//! goes back to the file, so "row 12" must be the row Excel shows as 12. For CSV that is the
//! line the record starts on (the header is row 1); for xlsx the sheet's own row number. Empty
//! rows (every cell blank, as Excel leaves `;;;` lines) are skipped, but their numbers are kept
//! by the rows after them.
//!
//! Dates in xlsx cells are Excel serial numbers with a date format; they become `YYYY-MM-DD`
//! here, so the mapping sees the same text it would see in a CSV written as ISO.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::rc::Rc;

use anyhow::{Context, anyhow, bail};

/// One non-empty row: its number in the file (1-based, as the spreadsheet shows it) and its
/// cells, trimmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub number: u64,
    pub cells: Vec<String>,
}

/// An open spreadsheet: the header's cells and an iterator over the data rows.
pub struct Sheet {
    pub header: Vec<String>,
    pub rows: Box<dyn Iterator<Item = anyhow::Result<Row>>>,
}

/// Opens `path` by its extension: `.xlsx` (first worksheet) or anything else as CSV.
pub fn open(path: &Path) -> anyhow::Result<Sheet> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("xlsx") | Some("xlsm") => open_xlsx(path),
        Some("xls") | Some("ods") => bail!(
            "{}: save the sheet as .xlsx or CSV (UTF-8) first; .xls and .ods are not read",
            path.display()
        ),
        _ => open_csv(path),
    }
}

/// The separator of a CSV file, from its header line: the most frequent of `;`, `,` and tab
/// outside quotes (Dutch Excel writes `;`, most other tools `,`).
pub fn detect_separator(header_line: &str) -> u8 {
    let mut counts = [0usize; 3];
    let mut quoted = false;
    for c in header_line.chars() {
        match c {
            '"' => quoted = !quoted,
            ';' if !quoted => counts[0] += 1,
            ',' if !quoted => counts[1] += 1,
            '\t' if !quoted => counts[2] += 1,
            _ => {}
        }
    }
    let seps = [b';', b',', b'\t'];
    let best = (0..3).max_by_key(|&i| (counts[i], 3 - i)).unwrap_or(0);
    match counts[best] {
        0 => b',',
        _ => seps[best],
    }
}

fn open_csv(path: &Path) -> anyhow::Result<Sheet> {
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut reader = BufReader::with_capacity(1 << 16, file);
    // The byte-order mark Excel writes for "CSV UTF-8": not part of the first header.
    let starts_with_bom = reader.fill_buf()?.starts_with(b"\xEF\xBB\xBF");
    if starts_with_bom {
        reader.consume(3);
    }
    let first_line = {
        let buf = reader.fill_buf()?;
        let end = buf.iter().position(|b| *b == b'\n').unwrap_or(buf.len());
        String::from_utf8_lossy(&buf[..end]).into_owned()
    };
    let sep = detect_separator(&first_line);
    // The csv crate's own line numbers go wrong on CRLF lines, so the row number is counted
    // here: the newlines before or at the byte where the record starts (after a CRLF the crate
    // starts the next record at the `\n`, the `\r` having ended the previous one).
    let newlines = Rc::new(RefCell::new(VecDeque::new()));
    let counting = NewlineCounter {
        inner: reader,
        pos: 0,
        newlines: newlines.clone(),
    };
    let csv = csv::ReaderBuilder::new()
        .delimiter(sep)
        .has_headers(false)
        .flexible(true)
        .from_reader(counting);
    let mut records = csv.into_byte_records();
    let header = match records.next() {
        Some(r) => cells_of(&r.with_context(|| format!("{}: row 1", path.display()))?, 1)?,
        None => bail!("{}: the file is empty (no header row)", path.display()),
    };
    let name = path.display().to_string();
    let mut line = 1u64;
    let rows = records.filter_map(move |r| match r {
        Ok(rec) => {
            let start = rec.position().map_or(0, |p| p.byte());
            let mut seen = newlines.borrow_mut();
            while seen.front().is_some_and(|&n| n <= start) {
                seen.pop_front();
                line += 1;
            }
            let number = line;
            match cells_of(&rec, number) {
                Ok(cells) if cells.iter().all(String::is_empty) => None,
                Ok(cells) => Some(Ok(Row { number, cells })),
                Err(e) => Some(Err(anyhow!("{name}: {e}"))),
            }
        }
        Err(e) => Some(Err(anyhow!("{name}: {e}"))),
    });
    Ok(Sheet {
        header,
        rows: Box::new(rows),
    })
}

/// A reader that notes the byte offset of every newline it passes on.
struct NewlineCounter<R> {
    inner: R,
    pos: u64,
    newlines: Rc<RefCell<VecDeque<u64>>>,
}

impl<R: Read> Read for NewlineCounter<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let mut seen = self.newlines.borrow_mut();
        for (i, b) in buf[..n].iter().enumerate() {
            if *b == b'\n' {
                seen.push_back(self.pos + i as u64);
            }
        }
        self.pos += n as u64;
        Ok(n)
    }
}

fn cells_of(rec: &csv::ByteRecord, number: u64) -> anyhow::Result<Vec<String>> {
    rec.iter()
        .enumerate()
        .map(|(i, c)| match std::str::from_utf8(c) {
            Ok(s) => Ok(s.trim().to_string()),
            Err(_) => Err(anyhow!(
                "row {number}, column {}: not UTF-8 text; save the file as \"CSV UTF-8\"",
                i + 1
            )),
        })
        .collect()
}

fn open_xlsx(path: &Path) -> anyhow::Result<Sheet> {
    use calamine::{Reader, open_workbook_auto};
    let mut book =
        open_workbook_auto(path).with_context(|| format!("cannot open {}", path.display()))?;
    let range = book
        .worksheet_range_at(0)
        .ok_or_else(|| anyhow!("{}: the workbook has no worksheet", path.display()))?
        .with_context(|| format!("{}: cannot read the first worksheet", path.display()))?;
    let first_row = range.start().map_or(0, |(r, _)| u64::from(r));
    let first_col = range.start().map_or(0, |(_, c)| c as usize);
    let mut rows = range
        .rows()
        .enumerate()
        .map(|(i, cells)| {
            // Cells left of the used range are empty; keep the columns where Excel has them.
            let mut out = vec![String::new(); first_col];
            out.extend(cells.iter().map(cell_text));
            Row {
                number: first_row + i as u64 + 1,
                cells: out,
            }
        })
        .filter(|r| r.cells.iter().any(|c| !c.is_empty()))
        .collect::<Vec<_>>()
        .into_iter();
    let header = match rows.next() {
        Some(r) => r.cells,
        None => bail!("{}: the first worksheet is empty", path.display()),
    };
    Ok(Sheet {
        header,
        rows: Box::new(rows.map(Ok)),
    })
}

/// A cell as text: dates as `YYYY-MM-DD`, whole numbers without `.0`.
fn cell_text(cell: &calamine::Data) -> String {
    use calamine::Data;
    match cell {
        Data::Empty => String::new(),
        Data::String(s) => s.trim().to_string(),
        Data::Int(i) => i.to_string(),
        Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", *f as i64),
        Data::Float(f) => f.to_string(),
        Data::Bool(b) => b.to_string(),
        Data::DateTime(dt) => {
            let (y, m, d, ..) = dt.to_ymd_hms_milli();
            format!("{y:04}-{m:02}-{d:02}")
        }
        Data::DateTimeIso(s) => s.get(..10).unwrap_or(s).to_string(),
        Data::DurationIso(s) => s.clone(),
        Data::Error(e) => format!("#{e:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_separator_is_the_header_lines_most_frequent() {
        assert_eq!(detect_separator("Kenteken;Datum;Code"), b';');
        assert_eq!(detect_separator("Kenteken,Datum,Code"), b',');
        assert_eq!(detect_separator("\"Naam, voornaam\";Datum"), b';');
        assert_eq!(detect_separator("Kenteken"), b',');
    }

    #[test]
    fn a_dutch_excel_csv_reads_with_its_row_numbers() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("export.csv");
        std::fs::write(
            &path,
            "\u{feff}Kenteken;Datum\r\nGB-001-B;20-11-2026\r\n;\r\n\"GB;\n002\";21-11-2026\r\nX;1-1-2026",
        )
        .unwrap();
        let sheet = open(&path).unwrap();
        assert_eq!(sheet.header, ["Kenteken", "Datum"]);
        let rows: Vec<Row> = sheet.rows.map(Result::unwrap).collect();
        let numbers: Vec<u64> = rows.iter().map(|r| r.number).collect();
        // A quoted cell over two lines is one row that starts on line 4; the next starts on 6.
        assert_eq!(numbers, [2, 4, 6]);
        assert_eq!(rows[1].cells[0], "GB;\n002");
    }
}
