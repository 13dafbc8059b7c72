//! From extract files to a typed, validated [`Extract`].
//!
//! Each of the five canonical files is read record by record
//! ([`records::read_table`]); every value is checked against contract
//! sections 1, 5 and 7; every record is either used or rejected with its
//! file, line, column, value and reason, and the counts reconcile. Only a
//! missing or unreadable file, or a missing required column, stops the run.

pub mod records;
mod tables;

use crate::model::Extract;
pub use records::{FileReport, InputError, Rejected, Warning};
use std::collections::BTreeMap;
use std::path::Path;

/// The five canonical file names, in reading order (cases first: the other
/// files' case references are checked against it).
pub const INPUT_FILES: &[&str] = &["cases.csv", "staff.csv", "allocations.csv", "events.csv", "absences.csv"];
/// Files without which nothing can be audited.
pub const REQUIRED_FILES: &[&str] = &["cases.csv", "events.csv"];

/// What ingest produced: the extract and the account of every row.
#[derive(Debug, Default)]
pub struct Ingest {
    pub extract: Extract,
    pub files: BTreeMap<String, FileReport>,
    pub rejected: Vec<Rejected>,
    pub warnings: Vec<Warning>,
    pub ignored_files: Vec<String>,
}

impl Ingest {
    pub fn rows_rejected(&self) -> u64 {
        self.files.values().map(|f| f.rows_rejected).sum()
    }
}

/// Reads a canonical extract folder.
pub fn load(folder: &Path) -> Result<Ingest, InputError> {
    let unusable = |file: &str, message: String| InputError { file: file.to_string(), message };
    let entries = std::fs::read_dir(folder).map_err(|e| {
        unusable(&folder.display().to_string(), format!("cannot read the input folder: {e}; give the extract folder with --input DIR"))
    })?;
    let mut ignored_files = Vec::new();
    let mut present = BTreeMap::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if INPUT_FILES.contains(&name.as_str()) {
            present.insert(name, entry.path());
        } else {
            ignored_files.push(crate::text::escape_value(&name));
        }
    }
    ignored_files.sort();
    for required in REQUIRED_FILES {
        if !present.contains_key(*required) {
            return Err(unusable(required, format!("is missing from {}: every extract needs cases.csv and events.csv", folder.display())));
        }
    }
    let mut ingest = tables::read_all(&present)?;
    ingest.ignored_files = ignored_files;
    Ok(ingest)
}
