//! The canonical tables: their columns, how each value is checked, and how
//! the accepted rows become the indexed [`Extract`].

use super::Ingest;
use super::profile::{Profile, TableSource};
use super::records::{ColumnSpec, FileReport, InputError, Rejected, Row, RowReject, Warning, read_table, reason_token};
use crate::model::*;
use crate::time::{Moment, parse_date, parse_moment};
use chrono::NaiveDate;
use foldhash::HashMap;
use rayon::prelude::*;
use std::collections::BTreeMap;
use std::path::PathBuf;

const fn col(name: &'static str, required: bool) -> ColumnSpec<'static> {
    ColumnSpec { name, required }
}

pub const CASE_COLUMNS: &[ColumnSpec<'static>] = &[
    col("case_id", true),
    col("child_id", false),
    col("initials", false),
    col("gender", false),
    col("team", false),
    col("case_type", true),
    col("opened_on", true),
    col("closed_on", false),
    col("looked_after", false),
    col("next_steps", false),
    col("iss", false),
];

pub const STAFF_COLUMNS: &[ColumnSpec<'static>] = &[
    col("worker_id", true),
    col("name", false),
    col("team", false),
    col("role", true),
    col("gender", false),
    col("manager_id", false),
    col("buddy_id", false),
    col("started_on", false),
    col("left_on", false),
];

pub const ALLOCATION_COLUMNS: &[ColumnSpec<'static>] =
    &[col("case_id", true), col("worker_id", true), col("role", true), col("from", true), col("to", false)];

pub const EVENT_COLUMNS: &[ColumnSpec<'static>] = &[
    col("event_id", true),
    col("case_id", false),
    col("worker_id", false),
    col("event_type", true),
    col("occurred_at", true),
    col("recorded_at", false),
    col("rosh", false),
    col("saw", false),
    col("lor", false),
    col("mode", false),
    col("psr", false),
];

pub const ABSENCE_COLUMNS: &[ColumnSpec<'static>] =
    &[col("worker_id", true), col("kind", true), col("starts_on", true), col("ends_on", false), col("cover_recorded_at", false)];

/// One canonical table read from its source file through a profile.
pub struct Source<'p> {
    /// The name rows are reported under (the source file's name).
    pub label: String,
    pub path: PathBuf,
    pub table: &'p TableSource,
    pub profile: &'p Profile,
    pub canonical: &'static [ColumnSpec<'static>],
}

impl Source<'_> {
    /// Reads the file, handing typed cells to `parse`.
    fn read(&self, mut parse: impl FnMut(&Cells) -> Result<(), RowReject>) -> Result<(FileReport, Vec<Rejected>), InputError> {
        let conditions = self.table.condition_columns();
        let mut columns: Vec<ColumnSpec> =
            self.canonical.iter().map(|c| ColumnSpec { name: self.table.header(c.name), required: c.required }).collect();
        columns.extend(conditions.iter().map(|name| ColumnSpec { name, required: false }));
        let skip = self.table.rows_without.as_deref().and_then(|c| self.canonical.iter().position(|spec| spec.name == c));
        read_table(&self.path, &self.label, &columns, self.profile.encoding, |row| {
            let cells = Cells { row, src: self };
            if let Some(i) = skip
                && cells.optional(i).is_none()
            {
                return Err(RowReject::new(self.canonical[i].name, "", "not a row of this table: no value in the column that marks one"));
            }
            parse(&cells).map_err(|mut r| {
                if let Some(spec) = self.canonical.iter().find(|c| c.name == r.column) {
                    r.column = self.table.header(spec.name).to_string();
                }
                r
            })
        })
    }
}

/// Typed access to a row's cells through the profile, producing the
/// contract's reject reasons.
pub struct Cells<'r, 'a> {
    row: &'r Row<'a>,
    src: &'r Source<'r>,
}

impl<'r, 'a> Cells<'r, 'a> {
    fn name(&self, i: usize) -> &'static str {
        self.src.canonical[i].name
    }

    fn optional(&self, i: usize) -> Option<&'a str> {
        self.row.get(i).filter(|text| !self.src.profile.is_null(text))
    }

    /// A source column read only for a label condition.
    fn condition(&self, header: &str) -> Option<&'a str> {
        let at = self.src.canonical.len() + self.src.table.condition_columns().iter().position(|c| c == header)?;
        self.row.get(at).filter(|text| !self.src.profile.is_null(text))
    }

    fn required(&self, i: usize) -> Result<&'a str, RowReject> {
        self.optional(i).ok_or_else(|| RowReject::new(self.name(i), "", "missing value"))
    }

    fn vocabulary<T>(&self, i: usize, parse: fn(&str) -> Option<T>, names: &[&str]) -> Result<Option<T>, RowReject> {
        let Some(text) = self.optional(i) else {
            return Ok(None);
        };
        let mapped = self.src.table.values.get(self.name(i)).and_then(|map| map.get(&text.to_lowercase())).map(String::as_str);
        parse(mapped.unwrap_or(text))
            .map(Some)
            .ok_or_else(|| RowReject::new(self.name(i), text, format!("not in vocabulary: expected one of {}", names.join(", "))))
    }

    /// The event type: the profile's label map (with its conditions), or a
    /// canonical name as it is.
    fn event_type(&self, i: usize) -> Result<EventType, RowReject> {
        let text = self.required(i)?;
        let labels = &self.src.table.labels;
        let found = labels.iter().find(|l| {
            l.label.eq_ignore_ascii_case(text)
                && l.when.as_ref().is_none_or(|(column, values)| self.condition(column).is_some_and(|v| values.contains(&v.to_lowercase())))
        });
        match found {
            Some(l) => Ok(l.event_type),
            None => EventType::named(text).ok_or_else(|| {
                if labels.is_empty() {
                    RowReject::new(self.name(i), text, format!("not in vocabulary: expected one of {}", EVENT_TYPES.join(", ")))
                } else {
                    RowReject::new(self.name(i), text, "unmapped label: the profile does not map this label (or its condition)")
                }
            }),
        }
    }

    fn boolean(&self, i: usize) -> Result<Option<bool>, RowReject> {
        let Some(text) = self.optional(i) else {
            return Ok(None);
        };
        let lower = text.to_lowercase();
        if lower == "true" || self.src.profile.true_values.contains(&lower) {
            Ok(Some(true))
        } else if lower == "false" || self.src.profile.false_values.contains(&lower) {
            Ok(Some(false))
        } else {
            Err(RowReject::new(self.name(i), text, "not in vocabulary: expected true or false"))
        }
    }

    /// The profile's own date formats, tried when the canonical shape fails.
    fn profile_moment(&self, text: &str) -> Option<Result<Moment, crate::time::DateError>> {
        for format in &self.src.profile.date_formats {
            let has_time = format.contains("%H") || format.contains("%M") || format.contains("%T") || format.contains("%R");
            let parsed = if has_time {
                chrono::NaiveDateTime::parse_from_str(text, format).ok().map(Moment::timed)
            } else {
                NaiveDate::parse_from_str(text, format).ok().map(Moment::date_only)
            };
            if let Some(m) = parsed {
                let in_range = (crate::time::FIRST_DATE..=crate::time::LAST_DATE).contains(&m.date());
                return Some(if in_range { Ok(m) } else { Err(crate::time::DateError::OutOfRange) });
            }
        }
        None
    }

    fn date(&self, i: usize) -> Result<Option<NaiveDate>, RowReject> {
        let Some(text) = self.optional(i) else {
            return Ok(None);
        };
        let parsed = match parse_date(text) {
            Err(crate::time::DateError::Invalid) => match self.profile_moment(text) {
                // Spreadsheets write a date as midnight: that is the date.
                Some(Ok(m)) if m.bare() || m.at().time() == chrono::NaiveTime::MIN => Ok(m.date()),
                Some(Ok(_)) => Err(crate::time::DateError::Invalid),
                Some(Err(e)) => Err(e),
                None => Err(crate::time::DateError::Invalid),
            },
            other => other,
        };
        parsed.map(Some).map_err(|e| {
            RowReject::new(self.name(i), text, format!("{}: expected YYYY-MM-DD between 1990-01-01 and 2100-12-31", e.token(false)))
        })
    }

    fn moment(&self, i: usize) -> Result<Option<Moment>, RowReject> {
        let Some(text) = self.optional(i) else {
            return Ok(None);
        };
        let parsed = match parse_moment(text) {
            Err(crate::time::DateError::Invalid) => self.profile_moment(text).unwrap_or(Err(crate::time::DateError::Invalid)),
            other => other,
        };
        parsed.map(Some).map_err(|e| {
            RowReject::new(self.name(i), text, format!("{}: expected YYYY-MM-DD or YYYY-MM-DDTHH:MM (local time, no zone)", e.token(true)))
        })
    }
}

/// Numbers the rows that share a key: 0, 1, ... in the order of the rest of
/// their content (`order`), then of the file, so that reordering a file's
/// rows changes no number unless the rows are identical.
fn count_repeats<T, K: std::hash::Hash + Eq, O: Ord>(
    rows: &mut [T],
    key: impl Fn(&T) -> K,
    order: impl Fn(&T) -> O,
    repeat: impl Fn(&mut T) -> &mut u32,
) {
    // Counted first, so that only repeated keys (rare) get a list.
    let mut counts: foldhash::HashMap<K, u32> = foldhash::HashMap::default();
    for row in rows.iter_mut() {
        *counts.entry(key(row)).or_default() += 1;
        *repeat(row) = 0;
    }
    let mut groups: foldhash::HashMap<K, Vec<usize>> = foldhash::HashMap::default();
    for (i, row) in rows.iter().enumerate() {
        let k = key(row);
        if counts[&k] > 1 {
            groups.entry(k).or_default().push(i);
        }
    }
    for mut group in groups.into_values() {
        group.sort_by_key(|&i| order(&rows[i]));
        for (n, i) in group.into_iter().enumerate() {
            *repeat(&mut rows[i]) = n as u32;
        }
    }
}

fn required<T>(value: Option<T>, column: &'static str) -> Result<T, RowReject> {
    value.ok_or_else(|| RowReject::new(column, "", "missing value"))
}

fn boxed(text: Option<&str>) -> Option<Box<str>> {
    text.map(Box::from)
}

/// Collects files' reports, rejects and warnings as the tables are read.
struct Ledger {
    files: BTreeMap<String, FileReport>,
    rejected: Vec<Rejected>,
    warnings: Vec<Warning>,
}

impl Ledger {
    fn warn(&mut self, file: &str, line: u64, kind: &'static str, detail: String) {
        self.warnings.push(Warning { file: file.to_string(), line, kind, detail });
    }

    /// Rejects a row after the record layer had counted it as used.
    fn reject_late(&mut self, file: &str, line: u64, column: &str, value: &str, reason: String) {
        let report = self.files.get_mut(file).expect("file read before its rows are judged");
        report.rows_used -= 1;
        report.rows_rejected += 1;
        *report.rejected_by_reason.entry(reason_token(&reason).to_string()).or_default() += 1;
        self.rejected.push(Rejected {
            file: file.to_string(),
            line,
            column: column.to_string(),
            value: crate::text::escape_value(value),
            reason,
        });
    }
}

/// Interns worker ids seen anywhere.
#[derive(Default)]
struct Workers {
    list: Vec<Worker>,
    index: HashMap<Box<str>, WorkerIdx>,
}

impl Workers {
    fn intern(&mut self, id: &str) -> WorkerIdx {
        if let Some(&i) = self.index.get(id) {
            return i;
        }
        let i = self.list.len() as WorkerIdx;
        self.list.push(Worker { id: id.into(), staff: None });
        self.index.insert(id.into(), i);
        i
    }
}

/// Reads every table the profile names and the folder holds
/// (`files`: table name -> path).
pub fn read_all(files: &BTreeMap<String, PathBuf>, profile: &Profile) -> Result<Ingest, InputError> {
    let mut ledger = Ledger { files: BTreeMap::new(), rejected: Vec::new(), warnings: Vec::new() };
    fn absorb(ledger: &mut Ledger, file: &str, (report, rejected): (FileReport, Vec<Rejected>)) {
        ledger.files.insert(file.to_string(), report);
        ledger.rejected.extend(rejected);
    }
    // A file holding two tables (a wide export) is reported once per table.
    let shared = |table: &str| {
        let file = &profile.tables[table].file;
        profile.tables.iter().filter(|(t, _)| files.contains_key(t.as_str())).filter(|(_, s)| &s.file == file).count() > 1
    };
    let source = |table: &str, canonical: &'static [ColumnSpec<'static>]| {
        files.get(table).map(|path| {
            let file = profile.tables[table].file.clone();
            Source {
                label: if shared(table) { format!("{file} ({table})") } else { file },
                path: path.clone(),
                table: &profile.tables[table],
                profile,
                canonical,
            }
        })
    };
    let cases_source = source("cases", CASE_COLUMNS).expect("cases are required");
    let events_source = source("events", EVENT_COLUMNS).expect("events are required");
    let staff_source = source("staff", STAFF_COLUMNS);
    let allocations_source = source("allocations", ALLOCATION_COLUMNS);
    let absences_source = source("absences", ABSENCE_COLUMNS);
    let cases_file = cases_source.label.clone();

    let mut cases: Vec<Case> = Vec::new();
    let mut case_index: HashMap<Box<str>, CaseIdx> = HashMap::default();
    let mut rejected_case_lines: HashMap<Box<str>, u64> = HashMap::default();
    let mut closed_before_opened = Vec::new();
    let mut repeats = 0u64;
    let result = cases_source.read(|c| {
        let outcome = parse_case(c);
        match outcome {
            Ok(case) => {
                if let Some(&first) = case_index.get(&case.id) {
                    // A wide export repeats a case on each of its rows: the
                    // same case again is a repeat, a different one a duplicate.
                    if cases_source.table.rows_without.is_some() || shared("cases") {
                        let same = cases[first as usize].same_as(&case);
                        repeats += same as u64;
                        return Err(RowReject::new(
                            "case_id",
                            &case.id,
                            if same {
                                "repeated row: this case again (a wide export repeats it on each row)"
                            } else {
                                "duplicate key: case_id already used by an earlier row"
                            },
                        ));
                    }
                    return Err(RowReject::new("case_id", &case.id, "duplicate key: case_id already used by an earlier row"));
                }
                if case.closed_on.is_some_and(|c| c < case.opened_on) {
                    closed_before_opened.push((c.row.line, case.id.to_string()));
                }
                case_index.insert(case.id.clone(), cases.len() as CaseIdx);
                cases.push(case);
                Ok(())
            }
            Err(reject) => {
                if let Some(id) = c.optional(0) {
                    rejected_case_lines.entry(id.into()).or_insert(c.row.line);
                }
                Err(reject)
            }
        }
    })?;
    let _ = repeats;
    absorb(&mut ledger, &cases_file, result);
    rejected_case_lines.retain(|id, _| !case_index.contains_key(id));
    for (line, id) in closed_before_opened {
        ledger.warn(&cases_file, line, "closed before opened", format!("case {}", crate::text::escape_value(&id)));
    }
    let case_ref = |id: &str| -> Result<CaseIdx, RowReject> {
        if let Some(&i) = case_index.get(id) {
            Ok(i)
        } else if let Some(line) = rejected_case_lines.get(id) {
            Err(RowReject::new("case_id", id, format!("case rejected at line {line}")))
        } else {
            Err(RowReject::new("case_id", id, "unknown case: not in the cases file"))
        }
    };

    let mut workers = Workers::default();
    let staff_present = staff_source.is_some();
    if let Some(src) = &staff_source {
        let mut staff_refs = Vec::new();
        let result = src.read(|c| {
            let (id, record) = parse_staff(c)?;
            if let Some(&existing) = workers.index.get(id) {
                let first = workers.list[existing as usize].staff.as_ref().map_or(0, |s| s.line);
                return Err(RowReject::new("worker_id", id, format!("duplicate key: worker_id first used on line {first}")));
            }
            staff_refs.push((c.row.line, record.manager_id.clone(), record.buddy_id.clone()));
            let i = workers.intern(id);
            workers.list[i as usize].staff = Some(record);
            Ok(())
        })?;
        absorb(&mut ledger, &src.label, result);
        for (line, manager, buddy) in staff_refs {
            for (kind, id) in [("manager not in staff", manager), ("buddy not in staff", buddy)] {
                if let Some(id) = id.filter(|id| !workers.index.contains_key(id)) {
                    ledger.warn(&src.label, line, kind, format!("worker {}", crate::text::escape_value(&id)));
                }
            }
        }
    }
    let staff_count = workers.list.len();
    let mut unknown_workers: Vec<(String, u64, String)> = Vec::new();
    let mut note_worker = |workers: &mut Workers, file: &str, line: u64, id: &str| -> WorkerIdx {
        let i = workers.intern(id);
        if staff_present && (i as usize) >= staff_count {
            unknown_workers.push((file.to_string(), line, id.to_string()));
        }
        i
    };

    let mut allocations = Vec::new();
    if let Some(src) = &allocations_source {
        let result = src.read(|c| {
            let case_id = c.required(0)?;
            let worker_id = c.required(1)?;
            let role = required(c.vocabulary(2, AllocationRole::parse, AllocationRole::NAMES)?, "role")?;
            let from = required(c.moment(3)?, "from")?;
            let to = c.moment(4)?;
            let case = case_ref(case_id)?;
            let worker = note_worker(&mut workers, &src.label, c.row.line, worker_id);
            allocations.push(Allocation { line: c.row.line as u32, case, worker, role, from, to, repeat: 0 });
            Ok(())
        })?;
        absorb(&mut ledger, &src.label, result);
        count_repeats(
            &mut allocations,
            |a| (a.case, a.worker, a.from.at()),
            |a| (a.role.name(), a.to.map(|t| (t.at(), t.bare())), a.from.bare()),
            |a| &mut a.repeat,
        );
        for a in &allocations {
            if a.to.is_some_and(|to| to.at() <= a.from.at()) {
                ledger.warn(
                    &src.label,
                    a.line as u64,
                    "allocation ends at or before it starts",
                    format!("case {}", cases[a.case as usize].id),
                );
            }
        }
    }

    // Sized from the file: a growing Vec of millions copies itself. (Rows
    // of the canonical layout are over 60 bytes, their ids under a quarter.)
    let events_bytes = std::fs::metadata(&events_source.path).map_or(0, |m| m.len() as usize);
    let mut events = Vec::with_capacity(events_bytes / 64);
    let events_file = events_source.label.clone();
    let mut event_ids = Texts::with_capacity(events_bytes / 64, events_bytes / 4);
    let result = events_source.read(|c| {
        let id = c.required(0)?;
        let kind = c.event_type(3)?;
        let occurred = required(c.moment(4)?, "occurred_at")?;
        let recorded = c.moment(5)?;
        let level = |i| c.vocabulary(i, Level::parse, Level::NAMES);
        let (rosh, saw, lor) = (level(6)?, level(7)?, level(8)?);
        let mode = c.vocabulary(9, ContactMode::parse, ContactMode::NAMES)?;
        let psr = c.boolean(10)?;
        let case = c.optional(1).map(case_ref).transpose()?;
        let worker = c.optional(2).map(|w| note_worker(&mut workers, &events_file, c.row.line, w));
        events.push(Event {
            id: event_ids.push(id),
            rank: 0,
            line: c.row.line as u32,
            case,
            worker,
            kind,
            occurred,
            recorded,
            rosh,
            saw,
            lor,
            mode,
            psr,
        });
        Ok(())
    })?;
    absorb(&mut ledger, &events_file, result);
    reject_duplicate_events(&mut events, &event_ids, &mut ledger, &events_file);
    for e in &events {
        if e.recorded.is_some_and(|r| r.at() < e.occurred.at()) {
            let id = crate::text::escape_value(event_ids.get(e.id));
            ledger.warn(&events_file, e.line as u64, "recorded before it occurred", format!("event {id}"));
        }
    }

    let mut absences = Vec::new();
    if let Some(src) = &absences_source {
        let result = src.read(|c| {
            let worker_id = c.required(0)?;
            let kind = required(c.vocabulary(1, AbsenceKind::parse, AbsenceKind::NAMES)?, "kind")?;
            let starts_on = required(c.date(2)?, "starts_on")?;
            let ends_on = c.date(3)?;
            let cover_recorded_at = c.moment(4)?;
            let worker = note_worker(&mut workers, &src.label, c.row.line, worker_id);
            absences.push(Absence { line: c.row.line as u32, worker, kind, starts_on, ends_on, cover_recorded_at, repeat: 0 });
            Ok(())
        })?;
        absorb(&mut ledger, &src.label, result);
        count_repeats(
            &mut absences,
            |a| (a.worker, a.kind, a.starts_on, a.ends_on),
            |a| a.cover_recorded_at.map(|c| (c.at(), c.bare())),
            |a| &mut a.repeat,
        );
    }
    for (file, line, id) in unknown_workers {
        ledger.warn(&file, line, "worker not in staff", format!("worker {}", crate::text::escape_value(&id)));
    }
    for warning in &ledger.warnings {
        *ledger.files.get_mut(&warning.file).expect("warned file was read").warnings.entry(warning.kind.to_string()).or_default() += 1;
    }
    // Unmapped labels, counted per label for the manifest and the report.
    for r in ledger.rejected.iter().filter(|r| r.reason.starts_with("unmapped label")) {
        *ledger.files.get_mut(&r.file).expect("rejecting file was read").unmapped_labels.entry(r.value.clone()).or_default() += 1;
    }

    let present_flags =
        FilesPresent { staff: staff_present, allocations: allocations_source.is_some(), absences: absences_source.is_some() };
    let mut extract = index(cases, workers, events, allocations, absences, present_flags);
    extract.events_file = events_file;
    extract.allocations_file = allocations_source.as_ref().map_or(String::new(), |s| s.label.clone());
    extract.absences_file = absences_source.as_ref().map_or(String::new(), |s| s.label.clone());
    extract.event_ids = event_ids;
    let mut rejected = ledger.rejected;
    rejected.sort_by(|a, b| (a.file.as_str(), a.line).cmp(&(b.file.as_str(), b.line)));
    let mut warnings = ledger.warnings;
    warnings.sort();
    Ok(Ingest { extract, files: ledger.files, rejected, warnings, ignored_files: Vec::new() })
}

fn parse_case(c: &Cells) -> Result<Case, RowReject> {
    let id = c.required(0)?;
    let gender = c.vocabulary(3, Gender::parse, Gender::NAMES)?;
    let case_type = required(c.vocabulary(5, CaseType::parse, CaseType::NAMES)?, "case_type")?;
    let opened_on = required(c.date(6)?, "opened_on")?;
    let closed_on = c.date(7)?;
    let (looked_after, next_steps, iss) = (c.boolean(8)?, c.boolean(9)?, c.boolean(10)?);
    Ok(Case {
        id: id.into(),
        line: c.row.line as u32,
        child_id: boxed(c.optional(1)),
        initials: boxed(c.optional(2)),
        gender,
        team: boxed(c.optional(4)),
        case_type,
        opened_on,
        closed_on,
        looked_after,
        next_steps,
        iss,
    })
}

fn parse_staff<'a>(c: &Cells<'_, 'a>) -> Result<(&'a str, StaffRecord), RowReject> {
    let id = c.required(0)?;
    let role = required(c.vocabulary(3, StaffRole::parse, StaffRole::NAMES)?, "role")?;
    Ok((
        id,
        StaffRecord {
            line: c.row.line as u32,
            name: boxed(c.optional(1)),
            team: boxed(c.optional(2)),
            role,
            gender: c.vocabulary(4, Gender::parse, Gender::NAMES)?,
            manager_id: boxed(c.optional(5)),
            buddy_id: boxed(c.optional(6)),
            started_on: c.date(7)?,
            left_on: c.date(8)?,
        },
    ))
}

/// A repeated event_id keeps its first valid row (the lowest line); later
/// ones are rejected. Done as a sort rather than a set of 20 million ids.
fn reject_duplicate_events(events: &mut Vec<Event>, ids: &Texts, ledger: &mut Ledger, file: &str) {
    let id = |e: &Event| ids.get(e.id);
    // Sorted on the ids' first 16 bytes as one integer (contiguous keys, no
    // pointer chasing: at 28 million events a string sort is the slowest
    // part of ingest); longer ids that tie on the prefix are then ordered
    // by the whole string. Events are in line order, so the index breaks ties.
    let prefix = |id: &str| {
        let mut key = [0u8; 16];
        let n = id.len().min(16);
        key[..n].copy_from_slice(&id.as_bytes()[..n]);
        u128::from_be_bytes(key)
    };
    let mut keys: Vec<(u128, u32)> = events.par_iter().enumerate().map(|(i, e)| (prefix(id(e)), i as u32)).collect();
    keys.par_sort_unstable();
    let mut order: Vec<u32> = keys.iter().map(|k| k.1).collect();
    let mut start = 0;
    while start < keys.len() {
        let mut end = start + 1;
        while end < keys.len() && keys[end].0 == keys[start].0 {
            end += 1;
        }
        if end - start > 1 && order[start..end].iter().any(|&i| id(&events[i as usize]).len() > 16) {
            order[start..end].sort_by(|&a, &b| id(&events[a as usize]).cmp(id(&events[b as usize])).then(a.cmp(&b)));
        }
        start = end;
    }
    drop(keys);
    let mut duplicate = vec![false; events.len()];
    for pair in order.windows(2) {
        let (first, next) = (&events[pair[0] as usize], &events[pair[1] as usize]);
        if id(first) == id(next) {
            duplicate[pair[1] as usize] = true;
        }
    }
    // Each kept event's place in event_id order: the sorts that follow
    // compare these numbers instead of the strings.
    let mut rank = 0;
    for &i in &order {
        if !duplicate[i as usize] {
            events[i as usize].rank = rank;
            rank += 1;
        }
    }
    if !duplicate.contains(&true) {
        return;
    }
    let mut first_line: HashMap<&str, u32> = HashMap::default();
    for e in events.iter() {
        first_line.entry(id(e)).or_insert(e.line);
    }
    let rejects: Vec<(u64, String, String)> = events
        .iter()
        .zip(&duplicate)
        .filter(|(_, d)| **d)
        .map(|(e, _)| (e.line as u64, id(e).to_string(), format!("duplicate key: event_id first used on line {}", first_line[id(e)])))
        .collect();
    for (line, id, reason) in rejects {
        ledger.reject_late(file, line, "event_id", &id, reason);
    }
    let mut keep = duplicate.iter().map(|d| !d);
    events.retain(|_| keep.next().unwrap());
}

/// Sorts and slices the accepted rows for the rules.
fn index(
    cases: Vec<Case>,
    workers: Workers,
    events: Vec<Event>,
    mut allocations: Vec<Allocation>,
    mut absences: Vec<Absence>,
    present: FilesPresent,
) -> Extract {
    absences.sort_by_key(|a| (a.worker, a.starts_on, a.line));
    let worker_absences = ranges(workers.list.len(), absences.iter().map(|a| a.worker));
    let no_case = CaseIdx::MAX;
    // Sort compact keys, then move each event once (events are large).
    let order = events_in_order(&events, |e| Some(e.case.unwrap_or(no_case)));
    let events = crate::model::gather(events, &order);
    let case_events = ranges(cases.len(), events.iter().map_while(|e| e.case));
    allocations.sort_by_key(|a| (a.case, a.from.at(), a.line));
    let case_allocations = ranges(cases.len(), allocations.iter().map(|a| a.case));

    let worker_event_order = events_in_order(&events, |e| e.worker);
    let worker_events = ranges(workers.list.len(), worker_event_order.iter().filter_map(|&i| events[i as usize].worker));
    let mut worker_allocation_order: Vec<u32> = (0..allocations.len() as u32).collect();
    worker_allocation_order.sort_by_key(|&i| (allocations[i as usize].worker, allocations[i as usize].from.at(), i));
    let worker_allocations = ranges(workers.list.len(), worker_allocation_order.iter().map(|&i| allocations[i as usize].worker));

    let rank = |ids: Vec<&str>| {
        let mut order: Vec<u32> = (0..ids.len() as u32).collect();
        order.par_sort_unstable_by(|&a, &b| ids[a as usize].cmp(ids[b as usize]));
        let mut rank = vec![0; ids.len()];
        for (place, &i) in order.iter().enumerate() {
            rank[i as usize] = place as u32;
        }
        rank
    };
    let case_rank = rank(cases.iter().map(|c| &*c.id).collect());
    let worker_rank = rank(workers.list.iter().map(|w| &*w.id).collect());
    Extract {
        cases,
        workers: workers.list,
        events,
        case_events,
        worker_event_order,
        worker_events,
        allocations,
        case_allocations,
        worker_allocation_order,
        worker_allocations,
        absences,
        worker_absences,
        present,
        worker_index: workers.index,
        case_rank,
        worker_rank,
        events_file: String::new(),
        allocations_file: String::new(),
        absences_file: String::new(),
        event_ids: Texts::default(),
    }
}

/// The indices of the events that belong to a group (a case, a worker), in
/// section 5 order within each group: by group, then occurred_at, then
/// event_id. Sorted on packed integer keys, since comparing through the
/// events themselves misses the cache on every step at 28 million events.
fn events_in_order(events: &[Event], group: impl Fn(&Event) -> Option<u32> + Sync) -> Vec<EventIdx> {
    // A key for every event, written in place (a filtered list would be
    // gathered in pieces and copied: twice the fresh memory, which costs
    // more than the sort). Events in no group get a key no event in one
    // reaches (its seconds stay under 2^41), so they sort last and are cut off.
    let mut keys: Vec<(u128, u32)> = Vec::with_capacity(events.len());
    keys.par_extend(events.par_iter().enumerate().map(|(i, e)| {
        let seconds = (e.occurred.at().and_utc().timestamp() + (1i64 << 40)) as u128;
        (group(e).map_or(u128::MAX, |g| (g as u128) << 96 | seconds << 32 | e.rank as u128), i as u32)
    }));
    keys.par_sort_unstable();
    let grouped = keys.partition_point(|k| k.0 != u128::MAX);
    keys[..grouped].par_iter().map(|k| k.1).collect()
}

/// Given the group key of each item in sorted order, each group's range.
fn ranges(groups: usize, keys: impl Iterator<Item = u32>) -> Vec<std::ops::Range<u32>> {
    let mut out = vec![0..0; groups];
    let mut position = 0u32;
    for key in keys {
        let r = &mut out[key as usize];
        if r.start == r.end {
            *r = position..position;
        }
        r.end = position + 1;
        position += 1;
    }
    // Empty groups point at where they would sit, so slices stay valid.
    let mut last_end = 0;
    for r in &mut out {
        if r.start == r.end {
            *r = last_end..last_end;
        } else {
            last_end = r.end;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::count_repeats;

    #[test]
    fn repeats_are_numbered_by_content_whatever_the_file_order() {
        // (key, content, repeat): key "a" three times, "b" once.
        let number = |rows: &[(&'static str, u32)]| -> Vec<(&'static str, u32, u32)> {
            let mut rows: Vec<(&str, u32, u32)> = rows.iter().map(|&(k, c)| (k, c, u32::MAX)).collect();
            count_repeats(&mut rows, |r| r.0, |r| r.1, |r| &mut r.2);
            rows.sort();
            rows
        };
        let expected = vec![("a", 1, 0), ("a", 2, 1), ("a", 3, 2), ("b", 9, 0)];
        assert_eq!(number(&[("a", 3), ("b", 9), ("a", 1), ("a", 2)]), expected);
        assert_eq!(number(&[("a", 2), ("a", 1), ("b", 9), ("a", 3)]), expected);
    }
}
