//! From extract files to a typed, validated [`Extract`].
//!
//! Each of the five canonical files is read record by record
//! ([`records::read_table`]); every value is checked against contract
//! sections 1, 5 and 7; every record is either used or rejected with its
//! file, line, column, value and reason, and the counts reconcile. Only a
//! missing or unreadable file, or a missing required column, stops the run.

pub mod draft;
pub mod profile;
pub mod records;
mod tables;

use crate::model::Extract;
pub use records::{FileReport, InputError, Rejected, Warning};
use std::collections::BTreeMap;
use std::path::Path;

/// Tables without which nothing can be audited.
pub const REQUIRED_TABLES: &[&str] = &["cases", "events"];

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

/// Reads an extract folder laid out as the profile says.
pub fn load(folder: &Path, profile: &profile::Profile) -> Result<Ingest, InputError> {
    let unusable = |file: &str, message: String| InputError { file: file.to_string(), message };
    let entries = std::fs::read_dir(folder).map_err(|e| {
        unusable(&folder.display().to_string(), format!("cannot read the input folder: {e}; give the extract folder with --input DIR"))
    })?;
    let wanted: Vec<&str> = profile.tables.values().map(|t| t.file.as_str()).collect();
    let mut ignored_files = Vec::new();
    let mut found = BTreeMap::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if wanted.contains(&name.as_str()) {
            found.insert(name, entry.path());
        } else {
            // The configuration and exceptions register beside the data are
            // read only when they are regular files (else listed, unread).
            let read_beside_the_data = [crate::config::FILE_NAME, crate::exceptions::FILE_NAME].contains(&name.as_str());
            if !(read_beside_the_data && entry.path().is_file()) {
                ignored_files.push(crate::text::escape_value(&name));
            }
        }
    }
    ignored_files.sort();
    let mut files = BTreeMap::new();
    for (table, source) in &profile.tables {
        match found.get(&source.file) {
            Some(path) => {
                files.insert(table.clone(), path.clone());
            }
            None if REQUIRED_TABLES.contains(&table.as_str()) => {
                return Err(unusable(
                    &source.file,
                    format!("is missing from {}: the {} profile reads the {table} from it", folder.display(), profile.name),
                ));
            }
            None => {}
        }
    }
    let mut ingest = tables::read_all(&files, profile)?;
    ingest.ignored_files = ignored_files;
    Ok(ingest)
}
