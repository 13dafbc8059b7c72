//! `yjaudit profile draft`: a first profile for an unknown export, from its
//! headers and values, for a person to finish.
//!
//! Each CSV in the folder is matched to the canonical table whose column
//! names its headers resemble most; each header to the nearest canonical
//! column; the event-type column's distinct values become label entries
//! (with a guess where a label resembles a canonical type, `TODO` where it
//! does not); date shapes seen in the data become date formats. Everything
//! guessed is marked for review.

use super::profile::{TABLES, canonical_columns};
use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;

fn normalise(text: &str) -> String {
    text.chars().filter(|c| c.is_ascii_alphanumeric()).collect::<String>().to_ascii_lowercase()
}

/// Words exports use for canonical columns, beyond the names themselves.
const SYNONYMS: &[(&str, &[&str])] = &[
    ("case_id", &["caseref", "casenumber", "caseno", "referralid", "involvementid"]),
    ("child_id", &["personid", "clientid", "childref"]),
    ("worker_id", &["staffid", "workerref", "userid", "responsibleworkerid"]),
    ("event_id", &["contactid", "eventref", "workflowstepid", "stepid"]),
    ("event_type", &["contacttype", "eventtype", "steptype", "steptypedescription", "type"]),
    ("occurred_at", &["contactdate", "eventdate", "date", "startedon"]),
    ("recorded_at", &["enteredon", "entrydate", "completedon", "createdon"]),
    ("opened_on", &["startdate", "opendate", "referraldate"]),
    ("closed_on", &["enddate", "closuredate", "closedate"]),
    ("from", &["allocatedfrom", "startdate"]),
    ("to", &["allocatedto", "enddate"]),
    ("role", &["jobtitle", "allocationtype", "type"]),
    ("team", &["teamname", "orgname", "managingteam"]),
];

fn column_score(header: &str, canonical: &str) -> f64 {
    let h = normalise(header);
    let c = normalise(canonical);
    if h == c {
        return 1.0;
    }
    if SYNONYMS.iter().any(|(name, words)| *name == canonical && words.iter().any(|w| h.ends_with(w))) {
        return 0.95;
    }
    strsim::jaro_winkler(&h, &c)
}

fn date_format(sample: &str) -> Option<&'static str> {
    let b = sample.as_bytes();
    let digits = |r: std::ops::Range<usize>| r.clone().all(|i| b.get(i).is_some_and(u8::is_ascii_digit));
    match b.len() {
        10 if b[2] == b'/' && b[5] == b'/' && digits(0..2) => Some("%d/%m/%Y"),
        16 if b[2] == b'/' && b[5] == b'/' && b[13] == b':' => Some("%d/%m/%Y %H:%M"),
        19 if b[4] == b'-' && b[13] == b':' && b[16] == b':' => Some("%Y-%m-%d %H:%M:%S"),
        11 if b[2] == b'-' && b[6] == b'-' && b[3].is_ascii_alphabetic() => Some("%d-%b-%Y"),
        17 if b[2] == b'-' && b[6] == b'-' && b[14] == b':' => Some("%d-%b-%Y %H:%M"),
        _ => None,
    }
}

struct FileSample {
    name: String,
    headers: Vec<String>,
    rows: Vec<Vec<String>>,
    utf8: bool,
}

fn sample(path: &Path) -> Option<FileSample> {
    let bytes = std::fs::read(path).ok()?;
    let utf8 = std::str::from_utf8(&bytes).is_ok();
    let text = if utf8 { String::from_utf8_lossy(&bytes).into_owned() } else { encoding_rs::WINDOWS_1252.decode(&bytes).0.into_owned() };
    let text = text.trim_start_matches('\u{feff}');
    let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(text.as_bytes());
    let headers = reader.headers().ok()?.iter().map(|h| h.trim().to_string()).collect();
    let rows = reader.records().take(20_000).filter_map(Result::ok).map(|r| r.iter().map(|c| c.trim().to_string()).collect()).collect();
    Some(FileSample { name: path.file_name()?.to_string_lossy().into_owned(), headers, rows, utf8 })
}

/// Writes a draft profile for the export in `input`.
pub fn draft(input: &Path, name: &str) -> std::io::Result<String> {
    let mut files: Vec<FileSample> = std::fs::read_dir(input)?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x.eq_ignore_ascii_case("csv")))
        .filter_map(|p| sample(&p))
        .collect();
    files.sort_by(|a, b| a.name.cmp(&b.name));
    let mut out = String::new();
    writeln!(out, "# DRAFT profile written by `yjaudit profile draft` from {}.", input.display()).ok();
    writeln!(out, "# Every mapping below is a guess: check each one against the export, replace each TODO,").ok();
    writeln!(out, "# then run `yjaudit check --profile THIS_FILE --input {}`. See docs/profiles.md.", input.display()).ok();
    writeln!(out, "name = \"{name}\"\ndescription = \"TODO: which system and report this is\"").ok();
    writeln!(out, "assumptions = [\"TODO: what you know of this export, and what is assumed\"]").ok();
    writeln!(out, "encoding = \"{}\"", if files.iter().all(|f| f.utf8) { "auto" } else { "windows-1252" }).ok();
    let mut formats: Vec<&str> = files.iter().flat_map(|f| f.rows.iter().take(200).flatten().filter_map(|v| date_format(v))).collect();
    formats.sort();
    formats.dedup();
    formats.sort_by_key(|f| std::cmp::Reverse(f.len()));
    writeln!(out, "date_formats = [{}]", formats.iter().map(|f| format!("\"{f}\"")).collect::<Vec<_>>().join(", ")).ok();
    writeln!(out, "null_values = [\"N/A\", \"-\", \"NULL\"]\ntrue_values = [\"Y\", \"Yes\"]\nfalse_values = [\"N\", \"No\"]").ok();
    // Each table takes the file whose headers match its columns best.
    let mut taken = Vec::new();
    for table in TABLES {
        let columns = canonical_columns(table).expect("known table");
        let best = files
            .iter()
            .enumerate()
            .filter(|(i, _)| !taken.contains(i))
            .map(|(i, f)| (i, columns.iter().filter(|c| f.headers.iter().any(|h| column_score(h, c) >= 0.9)).count()))
            .max_by_key(|(_, n)| *n);
        let Some((index, _)) = best.filter(|(_, n)| *n >= 2) else {
            writeln!(out, "\n# [tables.{table}]: no file looks like it (TODO if the export has one)").ok();
            continue;
        };
        taken.push(index);
        let file = &files[index];
        writeln!(out, "\n[tables.{table}]\nfile = \"{}\"\n[tables.{table}.columns]", file.name).ok();
        for canonical in &columns {
            let guess =
                file.headers.iter().map(|h| (column_score(h, canonical), h)).filter(|(s, _)| *s >= 0.85).max_by(|a, b| a.0.total_cmp(&b.0));
            match guess {
                Some((_, header)) => writeln!(out, "{canonical} = \"{header}\"").ok(),
                None => writeln!(out, "# {canonical} = \"TODO: the header holding {canonical}\"").ok(),
            };
        }
        if *table == "events" {
            let type_column = file.headers.iter().position(|h| column_score(h, "event_type") >= 0.9);
            if let Some(at) = type_column {
                let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
                for row in &file.rows {
                    if let Some(v) = row.get(at).filter(|v| !v.is_empty()) {
                        *counts.entry(v).or_default() += 1;
                    }
                }
                writeln!(out, "\n# Event labels seen in the first {} rows, with counts.", file.rows.len()).ok();
                for (label, count) in counts {
                    let guess = crate::text::nearest(label, crate::model::EVENT_TYPES.iter().copied());
                    writeln!(out, "[[tables.events.labels]]  # {count} rows").ok();
                    writeln!(out, "label = \"{}\"", label.replace('"', "\\\"")).ok();
                    writeln!(out, "event_type = \"{}\"", guess.map_or("TODO".to_string(), |g| format!("{g}  TODO: check"))).ok();
                }
            }
        }
    }
    Ok(out)
}
