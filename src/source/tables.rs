//! The canonical tables: their columns, how each value is checked, and how
//! the accepted rows become the indexed [`Extract`].

use super::Ingest;
use super::records::{ColumnSpec, FileReport, InputError, Rejected, Row, RowReject, Warning, read_table, reason_token};
use crate::model::*;
use crate::time::{Moment, parse_date, parse_moment};
use chrono::NaiveDate;
use rayon::prelude::*;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

const fn col(name: &'static str, required: bool) -> ColumnSpec {
    ColumnSpec { name, required }
}

pub const CASE_COLUMNS: &[ColumnSpec] = &[
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

pub const STAFF_COLUMNS: &[ColumnSpec] = &[
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

pub const ALLOCATION_COLUMNS: &[ColumnSpec] =
    &[col("case_id", true), col("worker_id", true), col("role", true), col("from", true), col("to", false)];

pub const EVENT_COLUMNS: &[ColumnSpec] = &[
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

pub const ABSENCE_COLUMNS: &[ColumnSpec] =
    &[col("worker_id", true), col("kind", true), col("starts_on", true), col("ends_on", false), col("cover_recorded_at", false)];

/// Typed access to a row's cells, producing the contract's reject reasons.
struct Cells<'r, 'a> {
    row: &'r Row<'a>,
    columns: &'static [ColumnSpec],
}

impl<'r, 'a> Cells<'r, 'a> {
    fn optional(&self, i: usize) -> Option<&'a str> {
        self.row.get(i)
    }

    fn required(&self, i: usize) -> Result<&'a str, RowReject> {
        self.row.get(i).ok_or_else(|| RowReject::new(self.columns[i].name, "", "missing value"))
    }

    fn vocabulary<T>(&self, i: usize, parse: fn(&str) -> Option<T>, names: &[&str]) -> Result<Option<T>, RowReject> {
        let Some(text) = self.optional(i) else {
            return Ok(None);
        };
        parse(text)
            .map(Some)
            .ok_or_else(|| RowReject::new(self.columns[i].name, text, format!("not in vocabulary: expected one of {}", names.join(", "))))
    }

    fn boolean(&self, i: usize) -> Result<Option<bool>, RowReject> {
        let Some(text) = self.optional(i) else {
            return Ok(None);
        };
        if text.eq_ignore_ascii_case("true") {
            Ok(Some(true))
        } else if text.eq_ignore_ascii_case("false") {
            Ok(Some(false))
        } else {
            Err(RowReject::new(self.columns[i].name, text, "not in vocabulary: expected true or false"))
        }
    }

    fn date(&self, i: usize) -> Result<Option<NaiveDate>, RowReject> {
        let Some(text) = self.optional(i) else {
            return Ok(None);
        };
        parse_date(text).map(Some).map_err(|e| {
            RowReject::new(self.columns[i].name, text, format!("{}: expected YYYY-MM-DD between 1990-01-01 and 2100-12-31", e.token(false)))
        })
    }

    fn moment(&self, i: usize) -> Result<Option<Moment>, RowReject> {
        let Some(text) = self.optional(i) else {
            return Ok(None);
        };
        parse_moment(text).map(Some).map_err(|e| {
            RowReject::new(
                self.columns[i].name,
                text,
                format!("{}: expected YYYY-MM-DD or YYYY-MM-DDTHH:MM (local time, no zone)", e.token(true)),
            )
        })
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

pub fn read_all(present: &BTreeMap<String, PathBuf>) -> Result<Ingest, InputError> {
    let mut ledger = Ledger { files: BTreeMap::new(), rejected: Vec::new(), warnings: Vec::new() };
    fn absorb(ledger: &mut Ledger, file: &str, (report, rejected): (FileReport, Vec<Rejected>)) {
        ledger.files.insert(file.to_string(), report);
        ledger.rejected.extend(rejected);
    }

    // cases.csv
    let mut cases: Vec<Case> = Vec::new();
    let mut case_index: HashMap<Box<str>, CaseIdx> = HashMap::new();
    let mut rejected_case_lines: HashMap<Box<str>, u64> = HashMap::new();
    let mut closed_before_opened = Vec::new();
    let result = read_table(&present["cases.csv"], "cases.csv", CASE_COLUMNS, |row| {
        let outcome = parse_case(row, &case_index);
        match outcome {
            Ok(case) => {
                if case.closed_on.is_some_and(|c| c < case.opened_on) {
                    closed_before_opened.push((row.line, case.id.to_string()));
                }
                case_index.insert(case.id.clone(), cases.len() as CaseIdx);
                cases.push(case);
                Ok(())
            }
            Err(reject) => {
                if let Some(id) = row.get(0) {
                    rejected_case_lines.entry(id.into()).or_insert(row.line);
                }
                Err(reject)
            }
        }
    })?;
    absorb(&mut ledger, "cases.csv", result);
    rejected_case_lines.retain(|id, _| !case_index.contains_key(id));
    for (line, id) in closed_before_opened {
        ledger.warn("cases.csv", line, "closed before opened", format!("case {}", crate::text::escape_value(&id)));
    }
    let case_ref = |id: &str| -> Result<CaseIdx, RowReject> {
        if let Some(&i) = case_index.get(id) {
            Ok(i)
        } else if let Some(line) = rejected_case_lines.get(id) {
            Err(RowReject::new("case_id", id, format!("case rejected at line {line}")))
        } else {
            Err(RowReject::new("case_id", id, "unknown case: not in cases.csv"))
        }
    };

    // staff.csv
    let mut workers = Workers::default();
    let staff_present = present.contains_key("staff.csv");
    if let Some(path) = present.get("staff.csv") {
        let mut staff_refs = Vec::new();
        let result = read_table(path, "staff.csv", STAFF_COLUMNS, |row| {
            let (id, record) = parse_staff(row)?;
            if let Some(&existing) = workers.index.get(id) {
                let first = workers.list[existing as usize].staff.as_ref().map_or(0, |s| s.line);
                return Err(RowReject::new("worker_id", id, format!("duplicate key: worker_id first used on line {first}")));
            }
            staff_refs.push((row.line, record.manager_id.clone(), record.buddy_id.clone()));
            let i = workers.intern(id);
            workers.list[i as usize].staff = Some(record);
            Ok(())
        })?;
        absorb(&mut ledger, "staff.csv", result);
        for (line, manager, buddy) in staff_refs {
            for (kind, id) in [("manager not in staff.csv", manager), ("buddy not in staff.csv", buddy)] {
                if let Some(id) = id.filter(|id| !workers.index.contains_key(id)) {
                    ledger.warn("staff.csv", line, kind, format!("worker {}", crate::text::escape_value(&id)));
                }
            }
        }
    }
    let staff_count = workers.list.len();
    let mut unknown_workers: Vec<(&'static str, u64, String)> = Vec::new();
    let mut note_worker = |workers: &mut Workers, file: &'static str, line: u64, id: &str| -> WorkerIdx {
        let i = workers.intern(id);
        if staff_present && (i as usize) >= staff_count {
            unknown_workers.push((file, line, id.to_string()));
        }
        i
    };

    // allocations.csv
    let mut allocations = Vec::new();
    if let Some(path) = present.get("allocations.csv") {
        let result = read_table(path, "allocations.csv", ALLOCATION_COLUMNS, |row| {
            let c = Cells { row, columns: ALLOCATION_COLUMNS };
            let case_id = c.required(0)?;
            let worker_id = c.required(1)?;
            let role = required(c.vocabulary(2, AllocationRole::parse, AllocationRole::NAMES)?, "role")?;
            let from = required(c.moment(3)?, "from")?;
            let to = c.moment(4)?;
            let case = case_ref(case_id)?;
            let worker = note_worker(&mut workers, "allocations.csv", row.line, worker_id);
            allocations.push(Allocation { line: row.line as u32, case, worker, role, from, to });
            Ok(())
        })?;
        absorb(&mut ledger, "allocations.csv", result);
        for a in &allocations {
            if a.to.is_some_and(|to| to.at <= a.from.at) {
                ledger.warn(
                    "allocations.csv",
                    a.line as u64,
                    "allocation ends at or before it starts",
                    format!("case {}", cases[a.case as usize].id),
                );
            }
        }
    }

    // events.csv (sized from the file: a growing Vec of millions copies itself)
    let mut events = Vec::with_capacity(std::fs::metadata(&present["events.csv"]).map_or(0, |m| m.len() as usize / 64));
    let result = read_table(&present["events.csv"], "events.csv", EVENT_COLUMNS, |row| {
        let c = Cells { row, columns: EVENT_COLUMNS };
        let id = c.required(0)?;
        let kind = required(c.vocabulary(3, EventType::named, EVENT_TYPES)?, "event_type")?;
        let occurred = required(c.moment(4)?, "occurred_at")?;
        let recorded = c.moment(5)?;
        let level = |i| c.vocabulary(i, Level::parse, Level::NAMES);
        let (rosh, saw, lor) = (level(6)?, level(7)?, level(8)?);
        let mode = c.vocabulary(9, ContactMode::parse, ContactMode::NAMES)?;
        let psr = c.boolean(10)?;
        let case = c.optional(1).map(case_ref).transpose()?;
        let worker = c.optional(2).map(|w| note_worker(&mut workers, "events.csv", row.line, w));
        events.push(Event { id: id.into(), rank: 0, line: row.line as u32, case, worker, kind, occurred, recorded, rosh, saw, lor, mode, psr });
        Ok(())
    })?;
    absorb(&mut ledger, "events.csv", result);
    reject_duplicate_events(&mut events, &mut ledger);
    for e in &events {
        if e.recorded.is_some_and(|r| r.at < e.occurred.at) {
            ledger.warn("events.csv", e.line as u64, "recorded before it occurred", format!("event {}", crate::text::escape_value(&e.id)));
        }
    }

    // absences.csv
    let mut absences = Vec::new();
    if let Some(path) = present.get("absences.csv") {
        let result = read_table(path, "absences.csv", ABSENCE_COLUMNS, |row| {
            let c = Cells { row, columns: ABSENCE_COLUMNS };
            let worker_id = c.required(0)?;
            let kind = required(c.vocabulary(1, AbsenceKind::parse, AbsenceKind::NAMES)?, "kind")?;
            let starts_on = required(c.date(2)?, "starts_on")?;
            let ends_on = c.date(3)?;
            let cover_recorded_at = c.moment(4)?;
            let worker = note_worker(&mut workers, "absences.csv", row.line, worker_id);
            absences.push(Absence { line: row.line as u32, worker, kind, starts_on, ends_on, cover_recorded_at });
            Ok(())
        })?;
        absorb(&mut ledger, "absences.csv", result);
    }
    for (file, line, id) in unknown_workers {
        ledger.warn(file, line, "worker not in staff.csv", format!("worker {}", crate::text::escape_value(&id)));
    }
    for warning in &ledger.warnings {
        *ledger.files.get_mut(&warning.file).expect("warned file was read").warnings.entry(warning.kind.to_string()).or_default() += 1;
    }

    let present_flags = FilesPresent {
        staff: staff_present,
        allocations: present.contains_key("allocations.csv"),
        absences: present.contains_key("absences.csv"),
    };
    let extract = index(cases, workers, events, allocations, absences, present_flags);
    let mut rejected = ledger.rejected;
    rejected.sort_by(|a, b| (a.file.as_str(), a.line).cmp(&(b.file.as_str(), b.line)));
    let mut warnings = ledger.warnings;
    warnings.sort();
    Ok(Ingest { extract, files: ledger.files, rejected, warnings, ignored_files: Vec::new() })
}

fn parse_case(row: &Row, index: &HashMap<Box<str>, CaseIdx>) -> Result<Case, RowReject> {
    let c = Cells { row, columns: CASE_COLUMNS };
    let id = c.required(0)?;
    let gender = c.vocabulary(3, Gender::parse, Gender::NAMES)?;
    let case_type = required(c.vocabulary(5, CaseType::parse, CaseType::NAMES)?, "case_type")?;
    let opened_on = required(c.date(6)?, "opened_on")?;
    let closed_on = c.date(7)?;
    let (looked_after, next_steps, iss) = (c.boolean(8)?, c.boolean(9)?, c.boolean(10)?);
    if index.contains_key(id) {
        return Err(RowReject::new("case_id", id, "duplicate key: case_id already used by an earlier row"));
    }
    Ok(Case {
        id: id.into(),
        line: row.line as u32,
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

fn parse_staff<'a>(row: &Row<'a>) -> Result<(&'a str, StaffRecord), RowReject> {
    let c = Cells { row, columns: STAFF_COLUMNS };
    let id = c.required(0)?;
    let role = required(c.vocabulary(3, StaffRole::parse, StaffRole::NAMES)?, "role")?;
    Ok((
        id,
        StaffRecord {
            line: row.line as u32,
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
fn reject_duplicate_events(events: &mut Vec<Event>, ledger: &mut Ledger) {
    let mut order: Vec<u32> = (0..events.len() as u32).collect();
    order.par_sort_unstable_by(|&a, &b| {
        let (a, b) = (&events[a as usize], &events[b as usize]);
        a.id.cmp(&b.id).then(a.line.cmp(&b.line))
    });
    let mut duplicate = vec![false; events.len()];
    for pair in order.windows(2) {
        let (first, next) = (&events[pair[0] as usize], &events[pair[1] as usize]);
        if first.id == next.id {
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
    let mut first_line: HashMap<&str, u32> = HashMap::new();
    for e in events.iter() {
        first_line.entry(&e.id).or_insert(e.line);
    }
    let rejects: Vec<(u64, String, String)> = events
        .iter()
        .zip(&duplicate)
        .filter(|(_, d)| **d)
        .map(|(e, _)| (e.line as u64, e.id.to_string(), format!("duplicate key: event_id first used on line {}", first_line[&*e.id])))
        .collect();
    for (line, id, reason) in rejects {
        ledger.reject_late("events.csv", line, "event_id", &id, reason);
    }
    let mut keep = duplicate.iter().map(|d| !d);
    events.retain(|_| keep.next().unwrap());
}

/// Sorts and slices the accepted rows for the rules.
fn index(
    cases: Vec<Case>,
    workers: Workers,
    mut events: Vec<Event>,
    mut allocations: Vec<Allocation>,
    absences: Vec<Absence>,
    present: FilesPresent,
) -> Extract {
    let no_case = CaseIdx::MAX;
    events.par_sort_unstable_by(|a, b| {
        (a.case.unwrap_or(no_case), a.occurred.at, a.rank).cmp(&(b.case.unwrap_or(no_case), b.occurred.at, b.rank))
    });
    let case_events = ranges(cases.len(), events.iter().map_while(|e| e.case));
    allocations.sort_by(|a, b| (a.case, a.from.at, a.line).cmp(&(b.case, b.from.at, b.line)));
    let case_allocations = ranges(cases.len(), allocations.iter().map(|a| a.case));

    let mut worker_event_order: Vec<EventIdx> = (0..events.len() as u32).filter(|&i| events[i as usize].worker.is_some()).collect();
    worker_event_order.par_sort_unstable_by(|&a, &b| {
        let (a, b) = (&events[a as usize], &events[b as usize]);
        (a.worker, a.occurred.at, a.rank).cmp(&(b.worker, b.occurred.at, b.rank))
    });
    let worker_events = ranges(workers.list.len(), worker_event_order.iter().filter_map(|&i| events[i as usize].worker));
    let mut worker_allocation_order: Vec<u32> = (0..allocations.len() as u32).collect();
    worker_allocation_order.sort_by_key(|&i| (allocations[i as usize].worker, allocations[i as usize].from.at, i));
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
        present,
        worker_index: workers.index,
        case_rank,
        worker_rank,
    }
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
