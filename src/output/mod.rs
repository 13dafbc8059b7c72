//! The run's files: findings.csv and .json, rejected.csv, changes.csv, manifest.json and
//! the HTML report, written into a folder that is published atomically.

mod direct;
pub mod publish;
pub mod report;
mod rows;

use crate::engine::NotAssessed;
use crate::findings::{Finding, Status};
use crate::model::Extract;
use crate::rules::Rule;
use crate::source::{Ingest, Rejected};
use crate::text::spreadsheet_safe;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

/// Everything the writers need about one run.
pub struct RunRecord<'a> {
    pub ingest: &'a Ingest,
    pub rules: &'a [&'a Rule],
    pub rule_files: &'a BTreeMap<String, String>,
    pub not_assessed: &'a [NotAssessed],
    pub findings: &'a [Finding],
    /// [`crate::findings::status_totals`] of `findings` (counted once: a
    /// national run's findings are gigabytes to read).
    pub status_totals: [u64; Status::ALL.len()],
    pub as_of: chrono::NaiveDate,
    pub period: (Option<chrono::NaiveDate>, Option<chrono::NaiveDate>),
    pub look_ahead_days: u32,
    pub profile: &'a str,
    pub command_line: Vec<String>,
    pub service: &'a str,
    pub config: &'a crate::config::Config,
    pub register: &'a crate::exceptions::Register,
    pub previous: &'a Previous,
    /// Ids overdue now (for the resolved list).
    pub overdue_ids: &'a foldhash::HashSet<u64>,
    /// Case references replaced by keyed pseudonyms (for sharing outside the service).
    pub pseudonym_key: Option<&'a str>,
    /// Findings overdue now that were not overdue in the previous run: their
    /// places in `findings` and their ids, in findings order.
    pub new_overdue: &'a [(u32, u64)],
    /// Seed of the period view's audit sample.
    pub sample_seed: u64,
    /// CSVs for Excel: byte-order mark, date-times with a space.
    pub excel: bool,
    /// Write findings.json (else it is left out, and the manifest says so).
    pub findings_json: bool,
    /// The source profile file read, with its SHA-256 (none for canonical).
    pub profile_file: Option<(String, String)>,
}

/// A case reference's pseudonym under a service's secret key: stable for
/// the key, meaningless without it.
pub fn pseudonym(key: &str, case_id: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::new().chain_update(key.as_bytes()).chain_update([0]).chain_update(case_id.as_bytes()).finalize();
    format!("P-{}", digest[..6].iter().map(|b| format!("{b:02x}")).collect::<String>())
}

/// What pseudonymised outputs show in place of text taken from the extract.
pub const WITHHELD: &str = "(withheld)";

/// Columns after the contract's fixed ones.
/// Only what the inputs, rules and as-of date decide (contract section 4:
/// the same three give byte-identical files), so nothing that depends on an
/// earlier run: what changed since then is in changes.csv.
pub const EXTRA_COLUMNS: [&str; 5] = ["finding_id", "accepted", "accepted_note", "trigger_source", "done_source"];

/// The previous run's overdue findings in the same reports folder, by id.
#[derive(Debug, Default)]
pub struct Previous {
    pub folder: Option<std::path::PathBuf>,
    /// finding id -> the row's number in `rows`.
    overdue: foldhash::HashMap<u64, u32>,
    /// rule, case_id, worker_id, team, due_at of each overdue row, five
    /// texts a row (a national run has millions: one buffer, not strings).
    rows: crate::model::Texts,
}

impl Previous {
    /// Reads `<reports>/latest/findings.csv`, keeping its overdue rows.
    /// Only a run made the same way counts: a pseudonymised run's ids are
    /// made from pseudonyms, and its changes must never show the real case
    /// references of a run that was not (nor the reverse).
    pub fn load(reports: &Path, pseudonymised: bool) -> Previous {
        let folder = reports.join("latest");
        let manifest: Option<serde_json::Value> =
            std::fs::read(folder.join("manifest.json")).ok().and_then(|bytes| serde_json::from_slice(&bytes).ok());
        let was_pseudonymised = manifest.as_ref().and_then(|m| m["pseudonymised"].as_bool()).unwrap_or(false);
        if manifest.is_none() || was_pseudonymised != pseudonymised {
            return Previous::default();
        }
        let Ok(mut reader) = csv::Reader::from_path(folder.join("findings.csv")) else { return Previous::default() };
        let Ok(header) = reader.headers().cloned() else { return Previous::default() };
        let at = |name: &str| header.iter().position(|h| h == name);
        let (Some(id), Some(status)) = (at("finding_id"), at("status")) else { return Previous::default() };
        let columns = ["rule", "case_id", "worker_id", "team", "due_at"].map(|c| at(c).unwrap_or(0));
        let mut previous = Previous { folder: Some(folder), ..Previous::default() };
        let mut record = csv::ByteRecord::new();
        let mut stored = 0u32;
        while let Ok(true) = reader.read_byte_record(&mut record) {
            if record.get(status) != Some(b"overdue") {
                continue;
            }
            let Some(number) = record.get(id).and_then(|t| std::str::from_utf8(t).ok()).and_then(|t| u64::from_str_radix(t, 16).ok())
            else {
                continue;
            };
            for c in columns {
                let text = String::from_utf8_lossy(record.get(c).unwrap_or(b""));
                previous.rows.push(text.trim_start_matches('\''));
            }
            // A repeated id (two rows for one obligation) keeps its last row.
            previous.overdue.insert(number, stored);
            stored += 1;
        }
        previous
    }

    pub fn was_overdue(&self, id: u64) -> bool {
        self.overdue.contains_key(&id)
    }

    /// The previous run's overdue rows whose ids are not in `still_overdue`:
    /// rule, case_id, worker_id, team, due_at, then the id; sorted.
    pub fn resolved(&self, still_overdue: &foldhash::HashSet<u64>) -> Vec<([&str; 5], u64)> {
        let mut resolved: Vec<([&str; 5], u64)> = self
            .overdue
            .iter()
            .filter(|(id, _)| !still_overdue.contains(*id))
            .map(|(&id, &row)| (std::array::from_fn(|i| self.rows.nth(row * 5 + i as u32)), id))
            .collect();
        resolved.sort();
        resolved
    }
}

impl<'a> RunRecord<'a> {
    /// A finding's row as written (case references pseudonymised if asked).
    pub fn row(&self, f: &Finding) -> [String; 11] {
        let mut row = crate::findings::row(f, self.rules, self.extract());
        row[1] = self.case_reference(f).into_owned();
        row
    }

    /// A finding's case_id as written: its pseudonym when asked, empty for
    /// worker-level rows.
    pub fn case_reference(&self, f: &Finding) -> std::borrow::Cow<'a, str> {
        self.case_reference_of(f.case())
    }

    /// A case's case_id as written (see [`RunRecord::case_reference`]).
    pub fn case_reference_of(&self, case: Option<crate::model::CaseIdx>) -> std::borrow::Cow<'a, str> {
        let case = case.map_or("", |c| &*self.extract().cases[c as usize].id);
        match self.pseudonym_key {
            Some(key) if !case.is_empty() => pseudonym(key, case).into(),
            _ => case.into(),
        }
    }

    /// A finding's id as a number (see `findings::identity`).
    pub fn id_number(&self, f: &Finding) -> u64 {
        let extract = self.extract();
        let rule = &self.rules[f.rule as usize].code;
        let case = self.case_reference(f);
        let worker = f.worker().map_or("", |w| &*extract.workers[w as usize].id);
        let trigger_event = f.obligation().trigger_event.map_or("", |e| extract.event_id(&extract.events[e as usize]));
        let mut trigger_at = String::with_capacity(16);
        crate::time::push_moment(&mut trigger_at, f.obligation().trigger_at);
        crate::findings::identity_number(&crate::findings::Identity {
            rule,
            case_id: &case,
            worker_id: worker,
            trigger_event_id: trigger_event,
            trigger_at: &trigger_at,
            trigger_record: &crate::findings::trigger_record_text(extract, &f.obligation()),
        })
    }

    /// Overdue now and not overdue in the previous run (none without one).
    pub fn is_new_overdue(&self, f: &Finding) -> bool {
        if f.status != Status::Overdue || self.previous.folder.is_none() {
            return false;
        }
        // A finding of this run's list is looked up by its place in
        // `new_overdue` (worked out once for all): the report asks for up
        // to two million items, and an id is hashed from its row's text.
        let place = (f as *const Finding as usize).wrapping_sub(self.findings.as_ptr() as usize) / std::mem::size_of::<Finding>();
        match self.findings.get(place) {
            Some(listed) if std::ptr::eq(listed, f) => self.new_overdue.binary_search_by_key(&(place as u32), |&(p, _)| p).is_ok(),
            _ => !self.previous.was_overdue(self.id_number(f)),
        }
    }

    /// An accepted exception's note as written out: its reason, free text
    /// that may name a child, withheld from pseudonymised outputs.
    pub fn acceptance_note(&self, entry: u32) -> String {
        let acceptance = &self.register.entries[entry as usize];
        acceptance.note_with_reason(if self.pseudonym_key.is_some() { WITHHELD } else { &acceptance.reason })
    }

    /// The register's expired entries as shown (case references
    /// pseudonymised and reasons withheld when asked).
    pub fn expired_acceptances(&self) -> Vec<crate::exceptions::Acceptance> {
        self.register
            .expired(self.as_of)
            .map(|a| {
                let mut a = a.clone();
                if let Some(key) = self.pseudonym_key {
                    a.case_id = a.case_id.map(|c| pseudonym(key, &c));
                    a.reason = WITHHELD.into();
                }
                a
            })
            .collect()
    }

    /// The first `n` input warnings as shown: their details quote the
    /// extract (case references among them), so they are withheld when
    /// pseudonymised.
    pub fn warning_lines(&self, n: usize) -> Vec<WarningLine<'_>> {
        let withhold = self.pseudonym_key.is_some();
        let warnings = self.ingest.warnings.iter().take(n);
        warnings
            .map(|w| WarningLine { file: &w.file, line: w.line, kind: w.kind, detail: if withhold { WITHHELD } else { &w.detail } })
            .collect()
    }

    pub fn extract(&self) -> &'a Extract {
        &self.ingest.extract
    }

    pub fn status_counts(&self) -> BTreeMap<&'static str, u64> {
        Status::ALL.iter().map(|&s| (s.name(), self.status_totals[s as usize])).collect()
    }
}

/// The file and line of the event, allocation or absence that started an
/// obligation's clock.
pub fn trigger_line<'e>(extract: &'e Extract, o: &crate::kinds::Obligation) -> Option<(&'e str, u32)> {
    use crate::kinds::TriggerRecord;
    match (o.trigger_event, o.trigger_record) {
        (Some(e), _) => Some((&extract.events_file, extract.events[e as usize].line)),
        (None, Some(TriggerRecord::Allocation(a))) => Some((&extract.allocations_file, extract.allocations[a as usize].line)),
        (None, Some(TriggerRecord::Absence(a))) => Some((&extract.absences_file, extract.absences[a as usize].line)),
        (None, None) => None,
    }
}

pub fn create(path: &Path) -> std::io::Result<BufWriter<File>> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    Ok(BufWriter::with_capacity(1 << 20, options.open(path)?))
}

/// rejected.csv: file, line, column, value, reason (values withheld when
/// the outputs are pseudonymised: they may be anything from the extract).
pub fn write_rejected_csv(path: &Path, rejected: &[Rejected], withhold: bool, excel: bool) -> std::io::Result<()> {
    let mut file = create(path)?;
    if excel {
        file.write_all(b"\xEF\xBB\xBF")?;
    }
    let mut writer = csv::Writer::from_writer(file);
    writer.write_record(["file", "line", "column", "value", "reason"])?;
    for r in rejected {
        let line = r.line.to_string();
        let value = if withhold && !r.value.is_empty() { WITHHELD } else { r.value.as_str() };
        writer.write_record([r.file.as_str(), &line, &r.column, value, &r.reason].map(|c| spreadsheet_safe(c).into_owned()))?;
    }
    writer.into_inner().map_err(|e| e.into_error())?.flush()
}

#[derive(Serialize)]
struct Manifest<'a> {
    as_of: String,
    period: Period,
    profile: &'a str,
    tool_version: &'static str,
    command_line: &'a [String],
    rules: &'a BTreeMap<String, String>,
    inputs: &'a BTreeMap<String, crate::source::FileReport>,
    ignored_files: &'a [String],
    not_assessed: &'a [NotAssessed],
    findings: BTreeMap<&'static str, u64>,
    service: &'a str,
    config: Option<ConfigRecord>,
    exceptions: Option<ExceptionsRecord>,
    profile_file: Option<ProfileRecord<'a>>,
    look_ahead_days: u32,
    rules_assessed: Vec<RuleSummary>,
    warning_lines: Vec<WarningLine<'a>>,
    warning_lines_count: usize,
    /// Contract outputs not written because the run was asked not to.
    outputs_left_out: Vec<&'static str>,
    /// Case references replaced by pseudonyms (`--pseudonymise`).
    pseudonymised: bool,
}

#[derive(Serialize)]
struct ConfigRecord {
    path: String,
    sha256: String,
    select: Vec<String>,
    ignore: Vec<String>,
    overrides: BTreeMap<String, BTreeMap<String, String>>,
    closure_days: Vec<String>,
}

#[derive(Serialize)]
struct ProfileRecord<'a> {
    path: &'a str,
    sha256: &'a str,
}

#[derive(Serialize)]
struct ExceptionsRecord {
    path: String,
    sha256: String,
    entries: usize,
    findings_accepted: usize,
    expired: Vec<crate::exceptions::Acceptance>,
}

#[derive(Serialize)]
struct Period {
    from: Option<String>,
    to: Option<String>,
}

#[derive(Serialize)]
struct RuleSummary {
    code: String,
    version: Option<String>,
    in_force_from: Option<String>,
    in_force_until: Option<String>,
    title: String,
    citation: String,
    kind: &'static str,
    parameters: BTreeMap<&'static str, String>,
    /// Parameters changed by the configuration: name -> the rule file's value.
    overridden: BTreeMap<String, String>,
}

/// An input warning as the manifest and the report show it.
#[derive(Serialize)]
pub struct WarningLine<'a> {
    file: &'a str,
    line: u64,
    kind: &'a str,
    detail: &'a str,
}

/// How many warning lines the manifest lists (all are counted).
const MANIFEST_WARNING_LINES: usize = 10_000;

pub fn write_manifest(path: &Path, run: &RunRecord) -> std::io::Result<()> {
    let manifest = Manifest {
        as_of: run.as_of.to_string(),
        period: Period { from: run.period.0.map(|d| d.to_string()), to: run.period.1.map(|d| d.to_string()) },
        profile: run.profile,
        tool_version: env!("CARGO_PKG_VERSION"),
        command_line: &run.command_line,
        rules: run.rule_files,
        inputs: &run.ingest.files,
        ignored_files: &run.ingest.ignored_files,
        not_assessed: run.not_assessed,
        findings: run.status_counts(),
        service: run.service,
        config: run.config.path.as_ref().map(|path| ConfigRecord {
            path: path.display().to_string(),
            sha256: run.config.sha256.clone().unwrap_or_default(),
            select: run.config.select.clone(),
            ignore: run.config.ignore.clone(),
            overrides: run.config.overrides.clone(),
            closure_days: run.config.closure_days.iter().map(|d| format!("{} {}", d.date, d.title)).collect(),
        }),
        exceptions: run.register.path.as_ref().map(|path| ExceptionsRecord {
            path: path.display().to_string(),
            sha256: run.register.sha256.clone().unwrap_or_default(),
            entries: run.register.entries.len(),
            findings_accepted: run.findings.iter().filter(|f| f.accepted().is_some()).count(),
            expired: run.expired_acceptances(),
        }),
        profile_file: run.profile_file.as_ref().map(|(path, sha256)| ProfileRecord { path, sha256 }),
        look_ahead_days: run.look_ahead_days,
        rules_assessed: run
            .rules
            .iter()
            .map(|r| RuleSummary {
                code: r.code.clone(),
                version: r.version.clone(),
                in_force_from: r.in_force.0.map(|d| d.to_string()),
                in_force_until: r.in_force.1.map(|d| d.to_string()),
                title: r.title.clone(),
                citation: r.citation.clone(),
                kind: r.kind.name(),
                parameters: r.kind.parameters().into_iter().collect(),
                overridden: r.overridden.clone(),
            })
            .collect(),
        warning_lines: run.warning_lines(MANIFEST_WARNING_LINES),
        warning_lines_count: run.ingest.warnings.len(),
        outputs_left_out: if run.findings_json { vec![] } else { vec!["findings.json"] },
        pseudonymised: run.pseudonym_key.is_some(),
    };
    let mut out = create(path)?;
    serde_json::to_writer_pretty(&mut out, &manifest)?;
    out.write_all(b"\n")?;
    out.flush()
}

/// Every team name once (index 0 = no team), with each case's and
/// worker's team by number: tens of millions of rows then look a team up in
/// a table small enough to stay in cache, not through each case's string.
pub struct Teams<'a> {
    pub names: Vec<&'a str>,
    of_case: Vec<u32>,
    of_worker: Vec<u32>,
}

impl<'a> Teams<'a> {
    pub fn new(extract: &'a Extract) -> Teams<'a> {
        let mut names: Vec<&'a str> = vec![""];
        let mut index: foldhash::HashMap<&'a str, u32> = Default::default();
        index.insert("", 0);
        let mut intern = |name: Option<&'a str>| -> u32 {
            let name = name.unwrap_or("");
            *index.entry(name).or_insert_with(|| {
                names.push(name);
                names.len() as u32 - 1
            })
        };
        let of_case = extract.cases.iter().map(|c| intern(c.team.as_deref())).collect();
        let of_worker = extract.workers.iter().map(|w| intern(w.staff.as_ref().and_then(|s| s.team.as_deref()))).collect();
        Teams { names, of_case, of_worker }
    }

    /// The row's team (as [`Finding::team`]) by number.
    pub fn of(&self, f: &Finding) -> u32 {
        match (f.case(), f.worker()) {
            (Some(c), _) => self.of_case[c as usize],
            (None, Some(w)) => self.of_worker[w as usize],
            (None, None) => 0,
        }
    }
}

/// Writes every output file into `folder` (which must exist and be empty).
pub fn write_all(folder: &Path, run: &RunRecord) -> std::io::Result<()> {
    let teams = Teams::new(run.extract());
    let teams = &teams;
    // The report is built while the findings files are written: those are
    // gigabytes at national scale, and much of their time is the kernel's.
    std::thread::scope(|scope| {
        let report = scope.spawn(|| report::write_index(&folder.join("index.html"), run, teams));
        let json = run.findings_json.then(|| folder.join("findings.json"));
        let findings = rows::write_findings(&folder.join("findings.csv"), json.as_deref(), run, teams);
        let report = report.join().expect("the report does not panic");
        findings.and(report)
    })?;
    write_rejected_csv(&folder.join("rejected.csv"), &run.ingest.rejected, run.pseudonym_key.is_some(), run.excel)?;
    write_changes_csv(&folder.join("changes.csv"), run)?;
    write_manifest(&folder.join("manifest.json"), run)
}

/// changes.csv: what changed since the previous run in the same reports
/// folder (none without one): findings newly overdue, in findings.csv's
/// order, then those overdue last time and not now (done since, or no
/// longer owed). Kept out of findings.csv, which depends on the inputs alone.
pub fn write_changes_csv(path: &Path, run: &RunRecord) -> std::io::Result<()> {
    let mut file = create(path)?;
    if run.excel {
        file.write_all(b"\xEF\xBB\xBF")?;
    }
    let mut writer = csv::Writer::from_writer(file);
    writer.write_record(["change", "finding_id", "rule", "case_id", "worker_id", "team", "due_at"])?;
    let mut write = |change: &str, id: u64, fields: [&str; 5]| {
        let id = format!("{id:016x}");
        let record = [change, id.as_str()].into_iter().chain(fields);
        writer.write_record(record.map(spreadsheet_safe).collect::<Vec<_>>().iter().map(|c| c.as_bytes()))
    };
    for &(index, id) in run.new_overdue {
        let row = run.row(&run.findings[index as usize]);
        write("new_overdue", id, [&row[0], &row[1], &row[2], &row[3], &row[6]])?;
    }
    for (fields, id) in run.previous.resolved(run.overdue_ids) {
        // The previous run's cells, without the spreadsheet guard it wrote.
        write("resolved", id, fields)?;
    }
    writer.into_inner().map_err(|e| e.into_error())?.flush()
}
