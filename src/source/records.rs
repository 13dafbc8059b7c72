//! The record layer: one CSV file into verdicts, record by record.
//!
//! The `csv` crate splits records (RFC 4180 quoting, any line end); this
//! layer adds what contract section 7 asks of every record and that a
//! dataframe reader cannot give: the physical line it starts on, blank lines
//! skipped, field-count and unterminated-quote verdicts, and per-cell UTF-8,
//! NUL and length checks on the columns that are used (other columns are
//! never decoded). A bad record becomes a [`Rejected`] row; only a file that
//! cannot be read at all is an [`InputError`].

use super::profile::Encoding;
use crate::text::{escape_bytes, escape_value};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::Path;

/// Longest value accepted in a used column.
pub const MAX_VALUE_BYTES: usize = 64 * 1024;

/// A column a table reads; `required` columns must be in the header.
#[derive(Clone, Copy, Debug)]
pub struct ColumnSpec<'a> {
    /// The header name matched (trimmed, case-insensitive).
    pub name: &'a str,
    pub required: bool,
}

/// An input problem that makes the extract unusable (exit 3).
#[derive(Debug, thiserror::Error)]
#[error("{file}: {message}")]
pub struct InputError {
    pub file: String,
    pub message: String,
}

/// One rejected record, as written to rejected.csv.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Rejected {
    pub file: String,
    pub line: u64,
    pub column: String,
    pub value: String,
    pub reason: String,
}

/// A warning: a row used as it is, but worth a person's look.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct Warning {
    pub file: String,
    pub line: u64,
    pub kind: &'static str,
    pub detail: String,
}

/// Why a table's parser refused a record.
#[derive(Debug)]
pub struct RowReject {
    pub column: String,
    pub value: String,
    pub reason: String,
}

impl RowReject {
    pub fn new(column: &str, value: &str, reason: impl Into<String>) -> RowReject {
        RowReject { column: column.to_string(), value: value.to_string(), reason: reason.into() }
    }
}

/// Per-file counts for the manifest. rows_read = rows_used + rows_rejected.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct FileReport {
    pub sha256: String,
    pub rows_read: u64,
    pub rows_used: u64,
    pub rows_rejected: u64,
    pub rejected_by_reason: BTreeMap<String, u64>,
    pub warnings: BTreeMap<String, u64>,
    pub ignored_columns: Vec<String>,
    pub ignored_columns_count: u64,
    /// Event labels the profile does not map, with their row counts.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub unmapped_labels: BTreeMap<String, u64>,
    /// Used columns found in the header, and those not found (for `check`).
    #[serde(skip)]
    pub matched_columns: Vec<String>,
    #[serde(skip)]
    pub absent_columns: Vec<String>,
}

/// A record handed to a table parser: trimmed cells of the used columns.
pub struct Row<'a> {
    pub line: u64,
    text: &'a str,
    cells: &'a [Option<(u32, u32)>],
}

impl<'a> Row<'a> {
    /// The trimmed value of used column `index` (None when empty or absent).
    pub fn get(&self, index: usize) -> Option<&'a str> {
        self.cells[index].map(|(start, end)| &self.text[start as usize..end as usize])
    }
}

/// Checked records on their way from the splitting thread to the parser:
/// the used cells' text in one buffer, with each row's cells and line.
#[derive(Default)]
struct Batch {
    text: String,
    cells: Vec<Option<(u32, u32)>>,
    lines: Vec<u64>,
}

impl Batch {
    /// Rows per batch, and the text size at which a batch goes early.
    const ROWS: usize = 8192;
    const TEXT: usize = 1 << 20;

    fn is_full(&self) -> bool {
        self.lines.len() >= Self::ROWS || self.text.len() >= Self::TEXT
    }

    fn push_cell(&mut self, text: &str) {
        if text.is_empty() {
            self.cells.push(None);
        } else {
            let start = self.text.len() as u32;
            self.text.push_str(text);
            self.cells.push(Some((start, self.text.len() as u32)));
        }
    }

    fn rows(&self, width: usize) -> impl Iterator<Item = Row<'_>> {
        self.lines.iter().enumerate().map(move |(i, &line)| Row { line, text: &self.text, cells: &self.cells[i * width..(i + 1) * width] })
    }
}

/// Trim ASCII whitespace and no-break spaces (contract section 7).
pub fn trim_value(text: &str) -> &str {
    text.trim_matches(|c: char| c.is_ascii_whitespace() || c == '\u{a0}')
}

fn trim_bytes(bytes: &[u8]) -> &[u8] {
    let is_space = |b: &u8| b.is_ascii_whitespace();
    let start = bytes.iter().position(|b| !is_space(b)).unwrap_or(bytes.len());
    let end = bytes.iter().rposition(|b| !is_space(b)).map_or(start, |i| i + 1);
    &bytes[start..end.max(start)]
}

/// Reads one input file and hands each acceptable record to `parse`.
///
/// Returns the file's counts and its rejected rows; `Err` only when the file
/// is unusable (not a regular file, empty, wrong encoding, header unusable).
pub fn read_table(
    path: &Path,
    file_name: &str,
    columns: &[ColumnSpec],
    encoding: Encoding,
    mut parse: impl FnMut(&Row) -> Result<(), RowReject>,
) -> Result<(FileReport, Vec<Rejected>), InputError> {
    let unusable = |message: String| InputError { file: file_name.to_string(), message };
    let metadata = std::fs::metadata(path).map_err(|e| unusable(format!("cannot open: {e}")))?;
    if !metadata.is_file() {
        return Err(unusable("is not a regular file (a folder, FIFO or device cannot be an extract)".into()));
    }
    let file = std::fs::File::open(path).map_err(|e| unusable(format!("cannot read: {e}")))?;
    // Mapped, not copied: a national events.csv is gigabytes. (An extract
    // rewritten while the run reads it would give a wrong hash and rows; the
    // nightly job copies extracts in before the run.)
    let mapped = if metadata.len() == 0 {
        None
    } else {
        // SAFETY: the mapping is only read, and lives while `bytes` is used.
        Some(unsafe { memmap2::Mmap::map(&file) }.map_err(|e| unusable(format!("cannot read: {e}")))?)
    };
    let bytes: &[u8] = mapped.as_deref().unwrap_or(&[]);
    check_encoding(bytes).map_err(unusable)?;
    let body = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    // Excel's "CSV" is Windows-1252: decoded whole (such exports are small).
    let decoded;
    let body = match encoding {
        Encoding::Windows1252 => {
            decoded = encoding_rs::WINDOWS_1252.decode_without_bom_handling(body).0;
            decoded.as_bytes()
        }
        Encoding::Auto if std::str::from_utf8(body).is_err() => {
            decoded = encoding_rs::WINDOWS_1252.decode_without_bom_handling(body).0;
            decoded.as_bytes()
        }
        _ => body,
    };
    std::thread::scope(|scope| {
        let hashing = scope.spawn(|| format!("{:x}", Sha256::digest(bytes)));
        let read = read_records(body, file_name, columns, &mut parse);
        read.map(|(mut report, rejected)| {
            report.sha256 = hashing.join().expect("hashing does not panic");
            (report, rejected)
        })
    })
}

/// Splits and checks records on one thread while `parse` types them on
/// this one: the two halves of the work take about as long as each other.
fn read_records(
    body: &[u8],
    file: &str,
    columns: &[ColumnSpec],
    parse: &mut impl FnMut(&Row) -> Result<(), RowReject>,
) -> Result<(FileReport, Vec<Rejected>), InputError> {
    let (send, receive) = std::sync::mpsc::sync_channel::<Batch>(4);
    std::thread::scope(|scope| {
        let splitter = scope.spawn(move || split_records(body, file, columns, send));
        let mut rejected = Vec::new();
        let mut reasons: BTreeMap<String, u64> = BTreeMap::new();
        for batch in receive {
            for row in batch.rows(columns.len()) {
                if let Err(r) = parse(&row) {
                    *reasons.entry(reason_token(&r.reason).to_string()).or_default() += 1;
                    rejected.push(Rejected {
                        file: file.to_string(),
                        line: row.line,
                        column: r.column,
                        value: escape_value(&r.value),
                        reason: r.reason,
                    });
                }
            }
        }
        let (mut report, mut split_rejected) = splitter.join().expect("the record splitter does not panic")?;
        report.rows_rejected += rejected.len() as u64;
        for (reason, n) in reasons {
            *report.rejected_by_reason.entry(reason).or_default() += n;
        }
        report.rows_used = report.rows_read - report.rows_rejected;
        split_rejected.append(&mut rejected);
        split_rejected.sort_by_key(|r| r.line);
        Ok((report, split_rejected))
    })
}

/// The record layer proper: every record split, lined, counted and its
/// used cells checked; rejects kept here, accepted rows sent on in batches.
fn split_records(
    body: &[u8],
    file: &str,
    columns: &[ColumnSpec],
    send: std::sync::mpsc::SyncSender<Batch>,
) -> Result<(FileReport, Vec<Rejected>), InputError> {
    let unusable = |message: String| InputError { file: file.to_string(), message };

    let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(body);
    let mut lines = LineCounter::default();
    let mut report = FileReport::default();
    let mut rejected = Vec::new();
    let mut batch = Batch::default();

    // The header is the first non-blank record.
    let mut record = csv::ByteRecord::new();
    let mut header: Option<Header> = None;
    let mut next = csv::ByteRecord::new();
    let mut have_next = read_record(&mut reader, &mut next, file)?;
    while have_next {
        std::mem::swap(&mut record, &mut next);
        have_next = read_record(&mut reader, &mut next, file)?;
        if is_blank(&record) {
            continue;
        }
        let start = record_start(body, record.position().map_or(0, |p| p.byte() as usize));
        let line = lines.line_at(body, start);
        let Some(header) = header.as_ref() else {
            header = Some(Header::read(&record, columns, file, &mut report)?);
            continue;
        };
        report.rows_read += 1;
        let mut reject = |column: &str, value: &[u8], reason: String| {
            *report.rejected_by_reason.entry(reason_token(&reason).to_string()).or_default() += 1;
            report.rows_rejected += 1;
            rejected.push(Rejected { file: file.to_string(), line, column: column.to_string(), value: escape_bytes(value), reason });
        };
        if !have_next && ends_inside_quotes(&body[start..]) {
            // The lines after its own, up to the end of the file (a line
            // end as the file's last bytes ends a line, it starts none).
            let rest = &body[start..];
            let last_line_end = if rest.ends_with(b"\r\n") { 2 } else { usize::from(rest.ends_with(b"\n") || rest.ends_with(b"\r")) };
            let swallowed = LineCounter::default().line_at(rest, rest.len() - last_line_end) - 1;
            reject(
                "",
                b"",
                format!(
                    "unterminated quote: the quote opened on this line runs to the end of the file, swallowing {swallowed} more line(s)"
                ),
            );
            continue;
        }
        if let Some(message) = header.field_count_problem(&record) {
            reject("", b"", message);
            continue;
        }
        let (text_before, cells_before) = (batch.text.len(), batch.cells.len());
        let mut problem = None;
        for (spec, index) in columns.iter().zip(&header.positions) {
            let raw = index.and_then(|i| record.get(i)).unwrap_or(b"");
            match check_cell(raw) {
                Ok(text) => batch.push_cell(text),
                Err(reason) => {
                    problem = Some((spec.name, trim_bytes(raw), reason.to_string()));
                    break;
                }
            }
        }
        if let Some((column, value, reason)) = problem {
            batch.text.truncate(text_before);
            batch.cells.truncate(cells_before);
            reject(column, value, reason);
            continue;
        }
        batch.lines.push(line);
        if batch.is_full() && send.send(std::mem::take(&mut batch)).is_err() {
            break; // the parser stopped; nothing more to do
        }
    }
    if header.is_none() {
        return Err(unusable("has no header row (the file is blank): re-export it with its column names on the first line".into()));
    }
    let _ = send.send(batch);
    Ok((report, rejected))
}

fn read_record(reader: &mut csv::Reader<&[u8]>, record: &mut csv::ByteRecord, file: &str) -> Result<bool, InputError> {
    // Reading from memory cannot fail with I/O; the byte-record reader does
    // not decode UTF-8, so an error here would be a csv crate surprise.
    reader.read_byte_record(record).map_err(|e| InputError { file: file.to_string(), message: format!("cannot split into records: {e}") })
}

/// The key of `rejected_by_reason`: the reason up to any `: ` detail.
pub fn reason_token(reason: &str) -> &str {
    reason.split(": ").next().unwrap_or(reason)
}

fn check_encoding(bytes: &[u8]) -> Result<(), String> {
    if bytes.is_empty() {
        return Err("is empty (0 bytes): a file must hold at least its header row; export it again (an optional file, such as absences.csv, may instead be left out when the system has no such data)".into());
    }
    let boms: [(&[u8], &str); 4] = [
        (b"\x00\x00\xFE\xFF", "UTF-32 (big-endian)"),
        (b"\xFF\xFE\x00\x00", "UTF-32 (little-endian)"),
        (b"\xFE\xFF", "UTF-16 (big-endian)"),
        (b"\xFF\xFE", "UTF-16 (little-endian)"),
    ];
    for (bom, name) in boms {
        if bytes.starts_with(bom) {
            return Err(format!("is encoded as {name}: re-save it as \"CSV UTF-8\" (in Excel: Save As, CSV UTF-8 (Comma delimited))"));
        }
    }
    let head = &bytes[..bytes.len().min(4096)];
    let nuls = head.iter().filter(|&&b| b == 0).count();
    if nuls * 10 > head.len() {
        return Err("looks like UTF-16 or a binary file (over 10% NUL bytes at its start): re-save it as \"CSV UTF-8\"".into());
    }
    Ok(())
}

/// A used cell: at most 64 KiB, no NUL, valid UTF-8; trimmed.
fn check_cell(raw: &[u8]) -> Result<&str, &'static str> {
    if raw.len() > MAX_VALUE_BYTES && trim_bytes(raw).len() > MAX_VALUE_BYTES {
        return Err("value too long");
    }
    if raw.contains(&0) {
        return Err("control character");
    }
    let text = std::str::from_utf8(raw).map_err(|_| "invalid UTF-8")?;
    Ok(trim_value(text))
}

/// A line of nothing but whitespace, as values are trimmed (ASCII
/// whitespace and U+00A0): not a row.
fn is_blank(record: &csv::ByteRecord) -> bool {
    record.len() == 1 && (trim_bytes(&record[0]).is_empty() || std::str::from_utf8(&record[0]).is_ok_and(|t| trim_value(t).is_empty()))
}

/// The csv reader reports a record's position as the end of the previous
/// one; skip the line ends (and blank lines) between them.
fn record_start(body: &[u8], position: usize) -> usize {
    let mut start = position.min(body.len());
    while start < body.len() && matches!(body[start], b'\r' | b'\n') {
        start += 1;
    }
    start
}

/// Counts physical lines (LF, CRLF or bare CR) incrementally, so the whole
/// file is walked once however many records ask.
#[derive(Default)]
struct LineCounter {
    offset: usize,
    lines_before: u64,
}

impl LineCounter {
    fn line_at(&mut self, body: &[u8], offset: usize) -> u64 {
        let offset = offset.min(body.len());
        if offset < self.offset {
            *self = LineCounter::default();
        }
        for (i, &b) in body[self.offset..offset].iter().enumerate() {
            let at = self.offset + i;
            if b == b'\n' || (b == b'\r' && body.get(at + 1) != Some(&b'\n')) {
                self.lines_before += 1;
            }
        }
        self.offset = offset;
        self.lines_before + 1
    }
}

/// Whether the text of a final record ends inside a quoted field, read with
/// the same rules as the csv crate: a quote opens a quoted field only at the
/// start of a field, `""` inside one is a literal quote.
fn ends_inside_quotes(text: &[u8]) -> bool {
    let mut in_quotes = false;
    let mut at_field_start = true;
    let mut i = 0;
    while i < text.len() {
        let b = text[i];
        if in_quotes {
            if b == b'"' {
                if text.get(i + 1) == Some(&b'"') {
                    i += 1;
                } else {
                    in_quotes = false;
                }
            }
        } else if b == b'"' && at_field_start {
            in_quotes = true;
        }
        at_field_start = !in_quotes && matches!(b, b',' | b'\n' | b'\r');
        i += 1;
    }
    in_quotes
}

/// Where each used column sits in this file's header.
struct Header {
    positions: Vec<Option<usize>>,
    width: usize,
}

impl Header {
    fn read(record: &csv::ByteRecord, columns: &[ColumnSpec], file: &str, report: &mut FileReport) -> Result<Header, InputError> {
        let unusable = |message: String| InputError { file: file.to_string(), message };
        let mut positions = vec![None; columns.len()];
        for (index, raw) in record.iter().enumerate() {
            let name = String::from_utf8_lossy(raw);
            let name = trim_value(&name);
            match columns.iter().position(|c| c.name.eq_ignore_ascii_case(name)) {
                Some(c) if !name.is_empty() => {
                    if positions[c].is_some() {
                        return Err(unusable(format!(
                            "column `{}` appears twice in the header: remove or rename one of them",
                            columns[c].name
                        )));
                    }
                    positions[c] = Some(index);
                }
                _ => {
                    report.ignored_columns_count += 1;
                    if report.ignored_columns.len() < 100 {
                        report.ignored_columns.push(escape_value(name));
                    }
                }
            }
        }
        let missing: Vec<&str> = columns.iter().zip(&positions).filter(|(c, p)| c.required && p.is_none()).map(|(c, _)| c.name).collect();
        if !missing.is_empty() {
            let found: Vec<String> = record.iter().map(|r| escape_value(trim_value(&String::from_utf8_lossy(r)))).collect();
            return Err(unusable(format!(
                "required column{} {} missing from the header (found: {}); export {} or map {} in a source profile",
                if missing.len() == 1 { " is" } else { "s are" },
                missing.iter().map(|m| format!("`{m}`")).collect::<Vec<_>>().join(", "),
                found.join(", "),
                if missing.len() == 1 { "it" } else { "them" },
                if missing.len() == 1 { "it" } else { "them" },
            )));
        }
        report.matched_columns = columns.iter().zip(&positions).filter(|(_, p)| p.is_some()).map(|(c, _)| c.name.to_string()).collect();
        report.absent_columns = columns.iter().zip(&positions).filter(|(_, p)| p.is_none()).map(|(c, _)| c.name.to_string()).collect();
        Ok(Header { positions, width: record.len() })
    }

    /// Short records are rejected; long ones only when the extras hold data.
    fn field_count_problem(&self, record: &csv::ByteRecord) -> Option<String> {
        let n = record.len();
        let extras_hold_data = n > self.width && record.iter().skip(self.width).any(|f| !trim_bytes(f).is_empty());
        (n < self.width || extras_hold_data).then(|| format!("{n} fields, header has {}", self.width))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COLUMNS: &[ColumnSpec] = &[ColumnSpec { name: "id", required: true }, ColumnSpec { name: "value", required: false }];

    fn read(content: &[u8]) -> Result<(FileReport, Vec<Rejected>, Vec<(u64, Vec<Option<String>>)>), InputError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.csv");
        std::fs::write(&path, content).unwrap();
        let mut rows = Vec::new();
        let (report, rejected) = read_table(&path, "t.csv", COLUMNS, Encoding::Utf8, |row| {
            rows.push((row.line, (0..2).map(|i| row.get(i).map(str::to_string)).collect()));
            Ok(())
        })?;
        Ok((report, rejected, rows))
    }

    #[test]
    fn lines_are_physical_across_line_ends_and_blank_lines() {
        let (report, rejected, rows) =
            read(b"\xEF\xBB\xBFid,value\r\na,1\r\n\r\n  \nb,2\rc,\"x\ny\"\nd,4\n\xC2\xA0 \xC2\xA0\ne,5\n").unwrap();
        assert!(rejected.is_empty(), "{rejected:?}");
        let lines: Vec<u64> = rows.iter().map(|r| r.0).collect();
        assert_eq!(lines, vec![2, 5, 6, 8, 10]);
        assert_eq!(report.rows_read, 5);
        assert_eq!(rows[2].1[1].as_deref(), Some("x\ny"));
    }

    #[test]
    fn field_counts_are_checked() {
        let (report, rejected, rows) = read(b"id,value\na\nb,2,\nc,3,extra\n").unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(
            rejected.iter().map(|r| (r.line, r.reason.as_str())).collect::<Vec<_>>(),
            vec![(2, "1 fields, header has 2"), (4, "3 fields, header has 2")]
        );
        assert_eq!(report.rows_read, 3);
        assert_eq!(report.rows_used, 1);
    }

    #[test]
    fn an_open_quote_rejects_its_record() {
        let (report, rejected, rows) = read(b"id,value\na,1\nb,\"oops\nc,3\nd,4\n").unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rejected.len(), 1);
        assert_eq!(rejected[0].line, 3);
        assert!(rejected[0].reason.starts_with("unterminated quote"), "{}", rejected[0].reason);
        assert!(rejected[0].reason.contains("swallowing 2 more line"), "{}", rejected[0].reason);
        assert_eq!(report.rejected_by_reason.get("unterminated quote"), Some(&1));
        // However the last line ends, or if nothing follows the quote's own line.
        for (body, swallowed) in [
            (&b"id,value\nb,\"oops\nc,3\nd,4"[..], 2),
            (b"id,value\r\nb,\"oops\r\nc,3\r\n", 1),
            (b"id,value\rb,\"oops\rc,3\r", 1),
            (b"id,value\nb,\"oops\n", 0),
            (b"id,value\nb,\"oops", 0),
        ] {
            let (_, rejected, _) = read(body).unwrap();
            let expected = format!("swallowing {swallowed} more line");
            assert!(rejected[0].reason.contains(&expected), "{:?}: {}", String::from_utf8_lossy(body), rejected[0].reason);
        }
    }

    #[test]
    fn a_quote_inside_an_unquoted_field_is_ordinary() {
        let (_, rejected, rows) = read(b"id,value\na,5\" tall\n").unwrap();
        assert!(rejected.is_empty());
        assert_eq!(rows[0].1[1].as_deref(), Some("5\" tall"));
    }

    #[test]
    fn bad_cells_in_used_columns_are_rejected_others_never_decoded() {
        let (_, rejected, rows) = read(b"id,value,other\na,\xFF,1\nb,2,\xFF\nc,x\x00y,1\n").unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rejected[0].reason, "invalid UTF-8");
        assert_eq!(rejected[0].column, "value");
        assert_eq!(rejected[0].value, "\\xff", "the byte itself, not a replacement character");
        assert_eq!(rejected[1].reason, "control character");
        assert_eq!(rejected[1].value, "x\\x00y");
    }

    #[test]
    fn unusable_files_are_errors() {
        assert!(read(b"").is_err());
        assert!(read(b"\xFF\xFEi\x00d\x00").is_err());
        assert!(read(b"value\n1\n").unwrap_err().message.contains("`id`"));
        assert!(read(b"id,ID\n1,2\n").unwrap_err().message.contains("twice"));
        assert!(read(b"\n \n").is_err());
    }

    #[test]
    fn header_names_are_trimmed_and_case_insensitive() {
        let (report, _, rows) = read(b" ID ,Value\xC2\xA0,,extra\na,b,,\n").unwrap();
        assert_eq!(rows[0].1, vec![Some("a".into()), Some("b".into())]);
        assert_eq!(report.ignored_columns, vec!["", "extra"]);
    }
}
