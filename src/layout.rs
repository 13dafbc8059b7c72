//! Writes a canonical extract in a source system's layout, by running its
//! profile backwards: canonical columns to the system's headers, values and
//! event types to its labels, dates in its formats, its encoding and line
//! ends. `sample-data/<system>/` is made this way from the canonical
//! sample, so that all of them describe one service (a test audits each
//! and compares the findings).

use crate::source::profile::{Profile, TableSource};
use std::collections::BTreeMap;
use std::path::Path;

type Row = BTreeMap<String, String>;

const DATE_COLUMNS: &[&str] = &["opened_on", "closed_on", "started_on", "left_on", "starts_on", "ends_on"];
const MOMENT_COLUMNS: &[&str] = &["from", "to", "occurred_at", "recorded_at", "cover_recorded_at"];
const BOOLEAN_COLUMNS: &[&str] = &["looked_after", "next_steps", "iss", "psr"];

fn read_canonical(path: &Path) -> std::io::Result<(Vec<String>, Vec<Row>)> {
    let mut reader = csv::Reader::from_path(path)?;
    let header: Vec<String> = reader.headers()?.iter().map(str::to_string).collect();
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record?;
        rows.push(header.iter().cloned().zip(record.iter().map(str::to_string)).collect());
    }
    Ok((header, rows))
}

/// Formats a canonical date or date-time value in the profile's first
/// suitable format.
fn date_text(profile: &Profile, value: &str) -> String {
    let Ok(moment) = crate::time::parse_moment(value) else { return value.to_string() };
    let timed = |f: &&String| f.contains("%H");
    let format = if moment.bare() { profile.date_formats.iter().find(|f| !timed(f)) } else { profile.date_formats.iter().find(timed) };
    match format {
        Some(f) if moment.bare() => moment.date().format(f).to_string(),
        Some(f) => moment.at().format(f).to_string(),
        None => value.to_string(),
    }
}

/// One canonical row in the source layout: header -> text.
fn source_row(profile: &Profile, table: &TableSource, row: &Row) -> Row {
    let mut out = Row::new();
    for (column, value) in row {
        let header = table.header(column).to_string();
        let text = if value.is_empty() {
            profile.null_values.first().map(|n| n.to_uppercase()).unwrap_or_default()
        } else if column == "event_type" && !table.labels.is_empty() {
            match table.labels.iter().find(|l| l.event_type.name() == value) {
                Some(label) => {
                    if let (Some((condition, _)), Some(written)) = (&label.when, &label.when_written) {
                        out.insert(condition.clone(), written.clone());
                    }
                    label.label.clone()
                }
                None => value.clone(),
            }
        } else if let Some(map) = table.values_written.get(column) {
            map.iter()
                .find(|(_, canonical)| canonical.eq_ignore_ascii_case(value))
                .map_or_else(|| value.clone(), |(source, _)| source.clone())
        } else if BOOLEAN_COLUMNS.contains(&column.as_str()) {
            if value == "true" { profile.booleans_written.0.clone() } else { profile.booleans_written.1.clone() }
        } else if DATE_COLUMNS.contains(&column.as_str()) || MOMENT_COLUMNS.contains(&column.as_str()) {
            date_text(profile, value)
        } else {
            value.clone()
        };
        out.insert(header, text);
    }
    out
}

fn write_file(profile: &Profile, path: &Path, header: &[String], rows: &[Row]) -> std::io::Result<()> {
    let terminator = if profile.crlf { csv::Terminator::CRLF } else { csv::Terminator::Any(b'\n') };
    let mut writer = csv::WriterBuilder::new().terminator(terminator).from_writer(Vec::new());
    writer.write_record(header)?;
    for row in rows {
        writer.write_record(header.iter().map(|h| row.get(h).map_or("", String::as_str)))?;
    }
    let text = String::from_utf8(writer.into_inner().map_err(|e| e.into_error())?).expect("UTF-8 in, UTF-8 out");
    let mut bytes = Vec::new();
    if profile.bom {
        bytes.extend_from_slice(b"\xEF\xBB\xBF");
    }
    match profile.encoding {
        crate::source::profile::Encoding::Windows1252 => bytes.extend_from_slice(&encoding_rs::WINDOWS_1252.encode(&text).0),
        _ => bytes.extend_from_slice(text.as_bytes()),
    }
    std::fs::write(path, bytes)
}

/// Writes the canonical extract in `input` into `out` as `profile` lays it out.
pub fn write(input: &Path, profile: &Profile, out: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(out)?;
    let mut by_file: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for (name, table) in &profile.tables {
        by_file.entry(table.file.clone()).or_default().push(name);
    }
    for (file, tables) in by_file {
        let mut header: Vec<String> = Vec::new();
        let mut per_table: BTreeMap<&str, Vec<Row>> = BTreeMap::new();
        for &name in &tables {
            let canonical = input.join(format!("{name}.csv"));
            if !canonical.exists() {
                continue;
            }
            let table = &profile.tables[name];
            let (columns, rows) = read_canonical(&canonical)?;
            for c in &columns {
                let h = table.header(c).to_string();
                if !header.contains(&h) {
                    header.push(h);
                }
            }
            for c in table.condition_columns() {
                if !header.contains(&c) {
                    header.push(c);
                }
            }
            per_table.insert(name, rows.iter().map(|r| source_row(profile, table, r)).collect());
        }
        let rows: Vec<Row> = if tables.contains(&"cases") && tables.contains(&"events") {
            // One wide export: each event row carries its case's columns; a
            // case with no events still has a row of its own.
            let case_key = profile.tables["cases"].header("case_id").to_string();
            let event_case = profile.tables["events"].header("case_id").to_string();
            let cases = per_table.remove("cases").unwrap_or_default();
            let events = per_table.remove("events").unwrap_or_default();
            let by_id: BTreeMap<String, &Row> = cases.iter().map(|c| (c[&case_key].clone(), c)).collect();
            let mut with_events = std::collections::BTreeSet::new();
            let mut rows = Vec::new();
            for event in &events {
                let mut row = event.clone();
                if let Some(case) = event.get(&event_case).and_then(|id| by_id.get(id)) {
                    with_events.insert(event[&event_case].clone());
                    for (k, v) in case.iter() {
                        row.entry(k.clone()).or_insert_with(|| v.clone());
                    }
                }
                rows.push(row);
            }
            rows.extend(cases.iter().filter(|c| !with_events.contains(&c[&case_key])).cloned());
            rows
        } else {
            per_table.into_values().flatten().collect()
        };
        write_file(profile, &out.join(&file), &header, &rows)?;
    }
    Ok(())
}
