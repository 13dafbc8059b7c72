//! Source profiles: how a case system's export maps onto the canonical
//! tables, kept as data (`rules/sources/<name>.toml`) so a service can
//! adjust it without a rebuild. The canonical profile is the identity.
//!
//! A profile names, per canonical table, the file it comes from, the source
//! column for each canonical column, value maps for vocabulary columns
//! ("Referral Order" -> `referral_order`), and for events the label map
//! from the system's contact/event types to the canonical vocabulary (many
//! labels to one type, optionally on a condition on a second column). It
//! also declares the encoding, extra date formats, null markers and the
//! words for true and false. `docs/profiles.md` tells how to write one.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The canonical tables, in reading order.
pub const TABLES: &[&str] = &["cases", "staff", "allocations", "events", "absences"];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProfile {
    name: String,
    description: String,
    #[serde(default)]
    assumptions: Vec<String>,
    encoding: Option<String>,
    #[serde(default)]
    date_formats: Vec<String>,
    #[serde(default)]
    null_values: Vec<String>,
    #[serde(default)]
    true_values: Vec<String>,
    #[serde(default)]
    false_values: Vec<String>,
    #[serde(default)]
    tables: BTreeMap<String, RawTable>,
    /// How `yjaudit generate --layout` writes a sample of this layout.
    export: Option<RawExport>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExport {
    #[serde(default)]
    bom: bool,
    #[serde(default)]
    crlf: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTable {
    file: String,
    #[serde(default)]
    columns: BTreeMap<String, String>,
    #[serde(default)]
    values: BTreeMap<String, BTreeMap<String, String>>,
    #[serde(default)]
    labels: Vec<RawLabel>,
    /// Rows where this canonical column is empty are not rows of this table
    /// (one wide export holding cases and events together).
    rows_without: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLabel {
    label: String,
    event_type: String,
    when: Option<RawCondition>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCondition {
    column: String,
    #[serde(default)]
    equals: Vec<String>,
}

/// How text files are decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    /// UTF-8 (BOM allowed); a cell that is not valid UTF-8 is rejected.
    Utf8,
    /// Windows-1252, Excel's "CSV" on a UK machine.
    Windows1252,
    /// UTF-8 if the whole file is valid UTF-8, else Windows-1252.
    Auto,
}

/// One event label and the canonical type it means.
#[derive(Clone, Debug)]
pub struct Label {
    pub label: String,
    pub event_type: crate::model::EventType,
    /// Source column and the values (any of, lower case) it must hold.
    pub when: Option<(String, Vec<String>)>,
    /// The first condition value as written (for writing samples).
    pub when_written: Option<String>,
}

/// A canonical table's source.
#[derive(Clone, Debug, Default)]
pub struct TableSource {
    pub file: String,
    /// canonical column -> source header
    pub columns: BTreeMap<String, String>,
    /// canonical column -> lower-case source value -> canonical value
    pub values: BTreeMap<String, BTreeMap<String, String>>,
    /// canonical column -> (source value as written, canonical value)
    pub values_written: BTreeMap<String, Vec<(String, String)>>,
    pub labels: Vec<Label>,
    pub rows_without: Option<String>,
}

impl TableSource {
    /// The source header for a canonical column.
    pub fn header<'a>(&'a self, canonical: &'a str) -> &'a str {
        self.columns.get(canonical).map_or(canonical, String::as_str)
    }

    /// Extra source columns the label conditions read.
    pub fn condition_columns(&self) -> Vec<String> {
        let mut columns: Vec<String> = self.labels.iter().filter_map(|l| l.when.as_ref().map(|(c, _)| c.clone())).collect();
        columns.sort();
        columns.dedup();
        columns
    }
}

#[derive(Clone, Debug)]
pub struct Profile {
    pub name: String,
    pub description: String,
    pub assumptions: Vec<String>,
    pub path: Option<PathBuf>,
    pub encoding: Encoding,
    pub date_formats: Vec<String>,
    pub null_values: Vec<String>,
    pub true_values: Vec<String>,
    pub false_values: Vec<String>,
    /// The first true and false words as written (for writing samples).
    pub booleans_written: (String, String),
    pub bom: bool,
    pub crlf: bool,
    pub tables: BTreeMap<String, TableSource>,
}

impl Profile {
    /// The identity profile of data-contract.md section 1.
    pub fn canonical() -> Profile {
        Profile {
            name: "canonical".into(),
            description: "The canonical layout of data-contract.md section 1.".into(),
            assumptions: Vec::new(),
            path: None,
            encoding: Encoding::Utf8,
            date_formats: Vec::new(),
            null_values: Vec::new(),
            true_values: Vec::new(),
            false_values: Vec::new(),
            booleans_written: ("true".into(), "false".into()),
            bom: false,
            crlf: false,
            tables: TABLES.iter().map(|t| (t.to_string(), TableSource { file: format!("{t}.csv"), ..TableSource::default() })).collect(),
        }
    }

    pub fn is_canonical(&self) -> bool {
        self.path.is_none()
    }

    /// `canonical`, a name under `<rules>/sources/`, or a path to a file.
    pub fn resolve(name: &str, rules: &Path) -> Result<Profile, crate::rules::RuleError> {
        if name.eq_ignore_ascii_case("canonical") {
            return Ok(Profile::canonical());
        }
        let as_path = PathBuf::from(name);
        let path = if as_path.is_file() { as_path } else { rules.join("sources").join(format!("{}.toml", name.to_ascii_lowercase())) };
        if !path.is_file() {
            let known = std::fs::read_dir(rules.join("sources"))
                .map(|d| d.flatten().filter_map(|e| e.path().file_stem().map(|s| s.to_string_lossy().into_owned())).collect::<Vec<_>>())
                .unwrap_or_default();
            return Err(crate::rules::RuleError {
                problems: vec![format!("unknown profile `{name}`: use canonical, {}, or the path of a profile file", known.join(", "))],
            });
        }
        Profile::load(&path)
    }

    pub fn load(path: &Path) -> Result<Profile, crate::rules::RuleError> {
        let shown = path.display().to_string();
        let fail = |problems: Vec<String>| crate::rules::RuleError { problems };
        let text = std::fs::read_to_string(path).map_err(|e| fail(vec![format!("{shown}: cannot read the profile: {e}")]))?;
        let raw: RawProfile = toml::from_str(&text).map_err(|e| {
            let message = crate::rules::with_suggestion(e.message(), &[]);
            let at = e.span().map(|s| crate::rules::line_col(&text, s.start));
            fail(vec![match at {
                Some((line, column)) => format!("{shown}:{line}:{column}: {message}"),
                None => format!("{shown}: {message}"),
            }])
        })?;
        let mut problems = Vec::new();
        let encoding = match raw.encoding.as_deref().map(str::to_ascii_lowercase).as_deref() {
            None | Some("auto") => Encoding::Auto,
            Some("utf-8" | "utf8") => Encoding::Utf8,
            Some("windows-1252" | "cp1252" | "latin1") => Encoding::Windows1252,
            Some(other) => {
                problems.push(format!("{shown}: unknown encoding `{other}`: use utf-8, windows-1252 or auto"));
                Encoding::Auto
            }
        };
        for format in &raw.date_formats {
            if chrono::format::StrftimeItems::new(format).any(|item| matches!(item, chrono::format::Item::Error)) {
                problems.push(format!("{shown}: `{format}` is not a date format (use chrono/strftime codes such as %d/%m/%Y %H:%M)"));
            }
        }
        let mut tables = BTreeMap::new();
        for (name, table) in raw.tables {
            let Some(columns) = canonical_columns(&name) else {
                let hint =
                    crate::text::nearest(&name, TABLES.iter().copied()).map(|n| format!("; did you mean `{n}`?")).unwrap_or_default();
                problems.push(format!("{shown}: unknown table `{name}`{hint} (tables: {})", TABLES.join(", ")));
                continue;
            };
            for canonical in table.columns.keys().chain(table.values.keys()).chain(table.rows_without.iter()) {
                if !columns.contains(&canonical.as_str()) {
                    let hint = crate::text::nearest(canonical, columns.iter().copied())
                        .map(|n| format!("; did you mean `{n}`?"))
                        .unwrap_or_default();
                    problems.push(format!(
                        "{shown}: [tables.{name}] has no canonical column `{canonical}`{hint} (columns: {})",
                        columns.join(", ")
                    ));
                }
            }
            let mut labels = Vec::new();
            for label in table.labels {
                match crate::model::EventType::named(&label.event_type) {
                    Some(event_type) => labels.push(Label {
                        label: label.label,
                        event_type,
                        when_written: label.when.as_ref().and_then(|w| w.equals.first().cloned()),
                        when: label.when.map(|w| (w.column, w.equals.into_iter().map(|v| v.trim().to_lowercase()).collect())),
                    }),
                    None => {
                        let hint = crate::text::nearest(&label.event_type, crate::model::EVENT_TYPES.iter().copied())
                            .map(|n| format!("; did you mean `{n}`?"))
                            .unwrap_or_default();
                        problems.push(format!("{shown}: label `{}` maps to unknown event type `{}`{hint}", label.label, label.event_type));
                    }
                }
            }
            let values_written: BTreeMap<String, Vec<(String, String)>> = table
                .values
                .iter()
                .map(|(column, map)| (column.clone(), map.iter().map(|(a, b)| (a.clone(), b.clone())).collect()))
                .collect();
            let values = table
                .values
                .into_iter()
                .map(|(column, map)| (column, map.into_iter().map(|(from, to)| (from.trim().to_lowercase(), to)).collect()))
                .collect();
            tables.insert(
                name,
                TableSource { file: table.file, columns: table.columns, values, values_written, labels, rows_without: table.rows_without },
            );
        }
        for required in ["cases", "events"] {
            if !tables.contains_key(required) {
                problems.push(format!("{shown}: a profile needs a [tables.{required}] section"));
            }
        }
        if !problems.is_empty() {
            return Err(fail(problems));
        }
        Ok(Profile {
            name: raw.name,
            description: raw.description,
            assumptions: raw.assumptions,
            path: Some(path.to_path_buf()),
            encoding,
            date_formats: raw.date_formats,
            booleans_written: (
                raw.true_values.first().cloned().unwrap_or_else(|| "true".into()),
                raw.false_values.first().cloned().unwrap_or_else(|| "false".into()),
            ),
            bom: raw.export.as_ref().is_some_and(|e| e.bom),
            crlf: raw.export.as_ref().is_some_and(|e| e.crlf),
            null_values: raw.null_values.into_iter().map(|v| v.trim().to_lowercase()).collect(),
            true_values: raw.true_values.into_iter().map(|v| v.trim().to_lowercase()).collect(),
            false_values: raw.false_values.into_iter().map(|v| v.trim().to_lowercase()).collect(),
            tables,
        })
    }

    /// Whether a trimmed cell means "no value".
    pub fn is_null(&self, text: &str) -> bool {
        !self.null_values.is_empty() && self.null_values.iter().any(|n| n.eq_ignore_ascii_case(text))
    }
}

/// The canonical column names of a table.
pub fn canonical_columns(table: &str) -> Option<Vec<&'static str>> {
    let specs = match table {
        "cases" => super::tables::CASE_COLUMNS,
        "staff" => super::tables::STAFF_COLUMNS,
        "allocations" => super::tables::ALLOCATION_COLUMNS,
        "events" => super::tables::EVENT_COLUMNS,
        "absences" => super::tables::ABSENCE_COLUMNS,
        _ => return None,
    };
    Some(specs.iter().map(|c| c.name).collect())
}
