//! From obligations to findings: status against the as-of date, the worker
//! owed it, the team, the contract's sort, and the row as text.

use crate::kinds::{Obligation, TriggerRecord};
use crate::model::{CaseIdx, Extract, WorkerIdx};
use crate::rules::Rule;
use crate::time::{Due, days_between};
use chrono::NaiveDate;
use rayon::prelude::*;

/// The fixed leading columns of findings.csv (contract section 4).
pub const COLUMNS: [&str; 11] = [
    "rule",
    "case_id",
    "worker_id",
    "team",
    "trigger_event_id",
    "trigger_at",
    "due_at",
    "done_event_id",
    "done_at",
    "status",
    "overdue_days",
];

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Met,
    Late,
    Overdue,
    Due,
    Pending,
}

impl Status {
    pub const ALL: [Status; 5] = [Status::Met, Status::Late, Status::Overdue, Status::Due, Status::Pending];

    pub fn name(self) -> &'static str {
        match self {
            Status::Met => "met",
            Status::Late => "late",
            Status::Overdue => "overdue",
            Status::Due => "due",
            Status::Pending => "pending",
        }
    }
}

/// What the findings are judged against.
#[derive(Clone, Copy, Debug)]
pub struct Judgement {
    pub as_of: NaiveDate,
    /// Days ahead of as-of in which an open obligation is `due`.
    pub look_ahead_days: u32,
    /// Only obligations falling due in this period (inclusive) are kept.
    pub period: (Option<NaiveDate>, Option<NaiveDate>),
}

impl Judgement {
    /// Status and overdue days (contract sections 4 and 5).
    pub fn status(&self, due: Due, done_at: Option<crate::time::Moment>) -> (Status, Option<i32>) {
        let due_date = due.date();
        // Days between any two dates chrono holds (a few hundred thousand
        // years) fit an i32.
        let days = |from, to| days_between(from, to) as i32;
        match done_at {
            Some(done) if due.is_met_by(done) => (Status::Met, None),
            Some(done) => (Status::Late, Some(days(due_date, done.date()))),
            None if due_date < self.as_of => (Status::Overdue, Some(days(due_date, self.as_of))),
            None if days_between(self.as_of, due_date) <= self.look_ahead_days as i64 => (Status::Due, None),
            None => (Status::Pending, None),
        }
    }

    fn in_period(&self, due: Due) -> bool {
        let date = due.date();
        self.period.0.is_none_or(|from| date >= from) && self.period.1.is_none_or(|to| date <= to)
    }
}

/// One findings row, still as ids and times. A national run holds 25
/// million of them: each byte here is 25 MB of memory touched, moved and
/// read again. So the obligation is held packed (60 bytes in all, where
/// the obligation alone is 64 unpacked), and read through
/// [`Finding::obligation`].
#[derive(Clone, Debug)]
pub struct Finding {
    /// Index into the assessed rules.
    pub rule: u16,
    pub status: Status,
    /// Which list `trigger_record` indexes: 0 none, 1 allocations, 2 absences.
    record_kind: u8,
    /// The worker owed the obligation (see contract section 5).
    worker: Slot,
    /// The accepted exception (index in the register) covering it, if any.
    accepted: Slot,
    /// Days overdue or late; [`Finding::NO_DAYS`] when neither.
    overdue_days: i32,
    case: Slot,
    obligation_worker: Slot,
    trigger_event: Slot,
    trigger_record: Slot,
    done_event: Slot,
    trigger_at: crate::time::Moment,
    due: Due,
    done_at: Option<crate::time::Moment>,
}

/// An index into one of the extract's lists, or none, in 4 bytes where
/// `Option<u32>` takes 8. `u32::MAX` is none: the extract's rows are
/// numbered in `u32`, and no list comes near four billion rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Slot(u32);

impl Slot {
    const NONE: Slot = Slot(u32::MAX);

    fn of(index: Option<u32>) -> Slot {
        index.map_or(Slot::NONE, |i| {
            debug_assert_ne!(i, u32::MAX, "an index at the end of u32");
            Slot(i)
        })
    }

    fn get(self) -> Option<u32> {
        (self != Slot::NONE).then_some(self.0)
    }
}

/// How many findings have each status, in the order of [`Status::ALL`].
pub fn status_totals(findings: &[Finding]) -> [u64; Status::ALL.len()] {
    findings
        .par_chunks(1 << 16)
        .map(|chunk| {
            let mut totals = [0u64; Status::ALL.len()];
            for f in chunk {
                totals[f.status as usize] += 1;
            }
            totals
        })
        .reduce(|| [0; Status::ALL.len()], |a, b| std::array::from_fn(|i| a[i] + b[i]))
}

/// A finding as the engine first makes it: not yet judged or attributed.
pub fn unjudged(rule: u16, obligation: Obligation) -> Finding {
    let (record_kind, trigger_record) = match obligation.trigger_record {
        None => (0, None),
        Some(TriggerRecord::Allocation(a)) => (1, Some(a)),
        Some(TriggerRecord::Absence(a)) => (2, Some(a)),
    };
    Finding {
        rule,
        status: Status::Pending,
        record_kind,
        worker: Slot::of(obligation.worker),
        accepted: Slot::NONE,
        overdue_days: Finding::NO_DAYS,
        case: Slot::of(obligation.case),
        obligation_worker: Slot::of(obligation.worker),
        trigger_event: Slot::of(obligation.trigger_event),
        trigger_record: Slot::of(trigger_record),
        done_event: Slot::of(obligation.done_event),
        trigger_at: obligation.trigger_at,
        due: obligation.due,
        done_at: obligation.done_at,
    }
}

impl Finding {
    /// Days are counted between dates chrono holds, never this many.
    const NO_DAYS: i32 = i32::MIN;

    /// The obligation as the rule found it.
    pub fn obligation(&self) -> Obligation {
        Obligation {
            case: self.case.get(),
            worker: self.obligation_worker.get(),
            trigger_event: self.trigger_event.get(),
            trigger_record: self.trigger_record.get().and_then(|i| match self.record_kind {
                1 => Some(TriggerRecord::Allocation(i)),
                2 => Some(TriggerRecord::Absence(i)),
                _ => None,
            }),
            trigger_at: self.trigger_at,
            due: self.due,
            done_event: self.done_event.get(),
            done_at: self.done_at,
        }
    }

    pub fn case(&self) -> Option<CaseIdx> {
        self.case.get()
    }

    pub fn due(&self) -> Due {
        self.due
    }

    /// The trigger event, then the event that met it (either may be none).
    pub fn events(&self) -> [Option<crate::model::EventIdx>; 2] {
        [self.trigger_event.get(), self.done_event.get()]
    }

    /// The worker owed the obligation (see contract section 5).
    pub fn worker(&self) -> Option<WorkerIdx> {
        self.worker.get()
    }

    pub fn set_worker(&mut self, worker: Option<WorkerIdx>) {
        self.worker = Slot::of(worker);
    }

    pub fn overdue_days(&self) -> Option<i32> {
        (self.overdue_days != Finding::NO_DAYS).then_some(self.overdue_days)
    }

    pub fn set_overdue_days(&mut self, days: Option<i32>) {
        self.overdue_days = days.unwrap_or(Finding::NO_DAYS);
    }

    /// The accepted exception (index in the register) covering it, if any.
    pub fn accepted(&self) -> Option<u32> {
        self.accepted.get()
    }

    pub fn set_accepted(&mut self, accepted: Option<u32>) {
        self.accepted = Slot::of(accepted);
    }

    /// The row's team (contract section 5): the case's team for case rows,
    /// the worker's own for worker-level rows.
    pub fn team<'a>(&self, extract: &'a Extract) -> &'a str {
        let team = match (self.case(), self.worker()) {
            (Some(c), _) => extract.cases[c as usize].team.as_deref(),
            (None, Some(w)) => extract.staff(w).and_then(|s| s.team.as_deref()),
            (None, None) => None,
        };
        team.unwrap_or("")
    }
}

/// Judges, attributes, filters to the period and sorts, in place (the
/// findings of a national extract are the largest thing in memory).
pub fn judge(
    mut findings: Vec<Finding>,
    rules: &[&Rule],
    extract: &Extract,
    judgement: &Judgement,
    register: &crate::exceptions::Register,
) -> Vec<Finding> {
    let acceptances: Vec<(usize, &crate::exceptions::Acceptance)> = register.in_force(judgement.as_of).collect();
    if judgement.period != (None, None) {
        findings.retain(|f| judgement.in_period(f.due()));
    }
    findings.par_iter_mut().for_each(|f| {
        if f.worker().is_none() {
            f.set_worker(f.case().and_then(|case| extract.primary_at(case, f.due.last_moment())));
        }
        let (status, overdue_days) = judgement.status(f.due, f.done_at);
        f.status = status;
        f.set_overdue_days(overdue_days);
        if !acceptances.is_empty() {
            let text = row(f, rules, extract);
            f.set_accepted(acceptances.iter().find(|(_, a)| a.matches(&text[0], &text[1], &text[2], &text[4])).map(|(i, _)| *i as u32));
        }
    });
    sort(&mut findings, rules, extract);
    findings
}

/// Sorts by rule, case_id, worker_id, due_at, trigger_event_id as byte
/// strings (empty first), then the remaining columns. Ids compare by their
/// precomputed ranks (the same order as their bytes): the sort runs on
/// compact integer keys, and strings are only compared between rows that
/// tie on all five.
/// Returns whether it sorted run by run (the engine's order, see below).
fn sort(findings: &mut [Finding], rules: &[&Rule], extract: &Extract) -> bool {
    // Versions of one rule share a place in the order (rules come sorted by code).
    let code_rank: Vec<u64> = rules.iter().map(|r| rules.iter().position(|x| x.code == r.code).unwrap_or(0) as u64).collect();
    let order = Order { code_rank, rules, extract };
    // The engine gives findings rule by rule, and case by case in id order
    // within a rule: when the first key never goes down, each run of one
    // first key is sorted where it lies, on every core, with no list of
    // keys for all (at national scale, 25 million) findings to make and sort.
    let in_runs = findings.par_windows(2).all(|pair| order.first(&pair[0]) <= order.first(&pair[1]));
    if in_runs {
        findings.par_chunk_by_mut(|a, b| order.first(a) == order.first(b)).for_each_init(Vec::new, |keys, group| {
            // Most runs come from the engine in order already.
            if !group.windows(2).all(|pair| order.strictly_before(&pair[0], &pair[1])) {
                keys.clear();
                keys.extend(group.iter().enumerate().map(|(i, f)| order.key(i, f)));
                keys.sort_unstable();
                order.apply(group, keys);
            }
        });
    } else {
        let mut keys: Vec<SortKey> = findings.par_iter().enumerate().map(|(i, f)| order.key(i, f)).collect();
        keys.par_sort_unstable();
        order.apply(findings, &mut keys);
    }
    in_runs
}

/// (rule and case, worker due and trigger event, place before sorting).
type SortKey = (u64, u128, u32);

struct Order<'a> {
    code_rank: Vec<u64>,
    rules: &'a [&'a Rule],
    extract: &'a Extract,
}

impl Order<'_> {
    /// The rule's place and the case's.
    fn first(&self, f: &Finding) -> u64 {
        (self.code_rank[f.rule as usize] << 32) | f.case().map_or(0, |c| self.extract.case_rank[c as usize] as u64 + 1)
    }

    fn key(&self, place: usize, f: &Finding) -> SortKey {
        let (worker, due) = self.worker_and_due(f);
        (self.first(f), ((worker as u128) << 96) | ((due as u128) << 32) | self.trigger(f) as u128, place as u32)
    }

    /// The worker's place and the due's (the middle of [`Order::key`]).
    fn worker_and_due(&self, f: &Finding) -> (u64, u64) {
        (f.worker().map_or(0, |w| self.extract.worker_rank[w as usize] as u64 + 1), due_number(f.due()))
    }

    /// The trigger event's place (the end of [`Order::key`]).
    fn trigger(&self, f: &Finding) -> u64 {
        f.events()[0].map_or(0, |e| self.extract.events[e as usize].rank as u64 + 1)
    }

    /// Whether `a` comes before `b` by [`Order::key`] (their first keys
    /// equal) and not level with it. The trigger event is read only when
    /// the worker and due are level: at national scale each read misses the
    /// cache (the events are gigabytes).
    fn strictly_before(&self, a: &Finding, b: &Finding) -> bool {
        match self.worker_and_due(a).cmp(&self.worker_and_due(b)) {
            std::cmp::Ordering::Less => true,
            std::cmp::Ordering::Greater => false,
            std::cmp::Ordering::Equal => self.trigger(a) < self.trigger(b),
        }
    }

    /// Puts `findings` in the order of their sorted `keys`, first ordering
    /// rows equal on every key by their remaining columns.
    fn apply(&self, findings: &mut [Finding], keys: &mut [SortKey]) {
        let (rules, extract) = (self.rules, self.extract);
        let mut start = 0;
        while start < keys.len() {
            let mut end = start + 1;
            while end < keys.len() && keys[end].0 == keys[start].0 && keys[end].1 == keys[start].1 {
                end += 1;
            }
            if end - start > 1 {
                // Then rows alike but for the allocation or absence that
                // started them (a case given to two workers at once): by what
                // their ids add (the worker; the kind and end), then by repeat.
                // The line comes last, only between identical records.
                let record = |f: &Finding| match f.obligation().trigger_record {
                    Some(TriggerRecord::Allocation(a)) => {
                        let a = &extract.allocations[a as usize];
                        Some((0, extract.worker_rank[a.worker as usize], a.repeat, a.line))
                    }
                    Some(TriggerRecord::Absence(a)) => {
                        let a = &extract.absences[a as usize];
                        let ends = a.ends_on.map_or(u32::MAX, |d| chrono::Datelike::num_days_from_ce(&d).max(0) as u32);
                        Some((1 + a.kind as u32, ends, a.repeat, a.line))
                    }
                    None => None,
                };
                keys[start..end].sort_by_cached_key(|k| {
                    let f = &findings[k.2 as usize];
                    (row(f, rules, extract), record(f))
                });
            }
            start = end;
        }
        if keys.iter().enumerate().any(|(place, k)| k.2 as usize != place) {
            crate::model::apply_order(findings, keys.iter().map(|k| k.2).collect());
        }
    }
}

/// A due as a number that sorts as its text: a date before any time that day.
fn due_number(due: Due) -> u64 {
    let (date, is_time, seconds) = due_key(due);
    // Days since 1900-01-01, its day of the common era (1 January of year 1
    // is day 1) taken from the date's: chrono's date subtraction works
    // through years, once a finding.
    const FIRST_OF_1900: i32 = 693_596;
    let days = (chrono::Datelike::num_days_from_ce(&date) - FIRST_OF_1900).max(0) as u64;
    (days << 18) | ((is_time as u64) << 17) | chrono::Timelike::num_seconds_from_midnight(&seconds) as u64
}

/// What a finding's id is made of. The id is its identity across runs: the
/// same obligation keeps the same id
/// whatever else changes in the extract (its status, due date, worker).
/// Built from the rule, the case (or for worker-level rows the worker), and
/// what started the clock.
///
/// A row started by an allocation or an absence adds what tells that record
/// apart (see [`trigger_record_text`]): a case given to two workers on one
/// day has two obligations, which the contract's columns cannot separate.
/// Written as 16 lower-case hex digits of [`identity_number`].
pub struct Identity<'a> {
    pub rule: &'a str,
    pub case_id: &'a str,
    pub worker_id: &'a str,
    pub trigger_event_id: &'a str,
    pub trigger_at: &'a str,
    /// [`trigger_record_text`] of the row's obligation.
    pub trigger_record: &'a str,
}

/// What tells apart the allocation or absence that started a clock, for the
/// id: the allocated worker's id, or the absence's kind and end, and for a
/// row repeating an earlier one's key, which repeat it is ("" when an event
/// or the case's opening started it). Not its line, which differs between a
/// system's layouts of the same extract.
pub fn trigger_record_text<'e>(extract: &'e Extract, o: &Obligation) -> std::borrow::Cow<'e, str> {
    let (text, repeat): (std::borrow::Cow<'e, str>, u32) = match o.trigger_record {
        Some(TriggerRecord::Allocation(a)) => {
            let a = &extract.allocations[a as usize];
            (extract.workers[a.worker as usize].id.as_ref().into(), a.repeat)
        }
        Some(TriggerRecord::Absence(a)) => {
            let a = &extract.absences[a as usize];
            (format!("{} to {}", a.kind.name(), a.ends_on.map_or("open".to_string(), |d| d.to_string())).into(), a.repeat)
        }
        None => ("".into(), 0),
    };
    if repeat == 0 { text } else { format!("{text} repeat {repeat}").into() }
}

/// A finding's id (see [`Identity`]).
pub fn identity_number(id: &Identity) -> u64 {
    let mut bytes = Vec::new();
    identity_bytes(id, &mut bytes);
    fnv1a(&bytes)
}

/// The bytes a finding's id is the hash of: its parts, each ended by a 0.
pub fn identity_bytes(id: &Identity, out: &mut Vec<u8>) {
    out.clear();
    let worker = if id.case_id.is_empty() { id.worker_id } else { "" };
    // Only where there is a record, so other ids stay as they were.
    let record: &[&str] = if id.trigger_record.is_empty() { &[] } else { std::slice::from_ref(&id.trigger_record) };
    for part in [id.rule, id.case_id, worker, id.trigger_event_id, id.trigger_at].iter().chain(record) {
        out.extend_from_slice(part.as_bytes());
        out.push(0);
    }
}

// FNV-1a, 64 bits: stable across versions and platforms, and cheap enough
// for millions of rows (the id is a label, not a secret).
const FNV_OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

pub fn fnv1a(bytes: &[u8]) -> u64 {
    fnv1a_from(FNV_OFFSET_BASIS, bytes)
}

fn fnv1a_from(hash: u64, bytes: &[u8]) -> u64 {
    bytes.iter().fold(hash, |hash, &byte| (hash ^ byte as u64).wrapping_mul(FNV_PRIME))
}

/// [`fnv1a`] of four byte strings at once. Each byte's step waits for the
/// last one's multiply, so one hash at a time leaves the multiplier idle
/// most of the time; four side by side keep it busy (a national run hashes
/// a billion bytes).
pub fn fnv1a_four(inputs: [&[u8]; 4]) -> [u64; 4] {
    let common = inputs.iter().map(|input| input.len()).min().unwrap_or(0);
    let [a, b, c, d] = inputs.map(|input| &input[..common]);
    let mut hashes = [FNV_OFFSET_BASIS; 4];
    for (((&a, &b), &c), &d) in a.iter().zip(b).zip(c).zip(d) {
        for (hash, byte) in hashes.iter_mut().zip([a, b, c, d]) {
            *hash = (*hash ^ byte as u64).wrapping_mul(FNV_PRIME);
        }
    }
    std::array::from_fn(|k| fnv1a_from(hashes[k], &inputs[k][common..]))
}

/// Orders dues as their text sorts: a date before any date-time that day.
fn due_key(due: Due) -> (NaiveDate, bool, chrono::NaiveTime) {
    match due {
        Due::Date(d) => (d, false, chrono::NaiveTime::MIN),
        Due::At(at) => {
            let at = at.at();
            (at.date(), true, at.time())
        }
    }
}

/// The row's text, column by column, as in findings.csv (before any
/// spreadsheet guard).
pub fn row(f: &Finding, rules: &[&Rule], extract: &Extract) -> [String; 11] {
    let o = f.obligation();
    let event_id = |e: Option<u32>| e.map_or(String::new(), |e| extract.event_id(&extract.events[e as usize]).to_string());
    let team = f.team(extract);
    [
        rules[f.rule as usize].code.clone(),
        f.case().map_or(String::new(), |c| extract.cases[c as usize].id.to_string()),
        f.worker().map_or(String::new(), |w| extract.workers[w as usize].id.to_string()),
        team.to_string(),
        event_id(o.trigger_event),
        o.trigger_at.to_string(),
        o.due.to_string(),
        event_id(o.done_event),
        o.done_at.map_or(String::new(), |d| d.to_string()),
        f.status.name().to_string(),
        f.overdue_days().map_or(String::new(), |d| d.to_string()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::{Moment, parse_date, parse_moment};

    fn judgement() -> Judgement {
        Judgement { as_of: parse_date("2024-06-10").unwrap(), look_ahead_days: 7, period: (None, None) }
    }

    /// A finding gives back the obligation it was made from, every part
    /// present or absent, and holds it in 60 bytes.
    #[test]
    fn a_finding_keeps_its_obligation_packed() {
        assert_eq!(size_of::<Finding>(), 60);
        let at = parse_moment("2024-06-05T10:00").unwrap();
        let records =
            [None, Some(TriggerRecord::Allocation(7)), Some(TriggerRecord::Absence(0)), Some(TriggerRecord::Absence(u32::MAX - 1))];
        for (n, trigger_record) in records.into_iter().enumerate() {
            let some = |i: u32| (n % 2 == 0).then_some(i);
            let obligation = Obligation {
                case: some(3),
                worker: some(0),
                trigger_event: (n != 1).then_some(u32::MAX - 1),
                trigger_record,
                trigger_at: at,
                due: Due::hours_after(at.at(), 48),
                done_event: some(12),
                done_at: some(0).map(|_| Moment::date_only(at.date())),
            };
            let mut f = unjudged(4, obligation.clone());
            assert_eq!((f.obligation(), f.worker(), f.overdue_days(), f.accepted()), (obligation.clone(), obligation.worker, None, None));
            f.set_worker(Some(9));
            f.set_overdue_days(Some(-3));
            f.set_accepted(Some(0));
            assert_eq!((f.obligation(), f.worker(), f.overdue_days(), f.accepted()), (obligation, Some(9), Some(-3), Some(0)));
        }
    }

    /// The engine's order is sorted run by run; any other order is sorted
    /// whole; the two give the same rows in the same order.
    #[test]
    fn findings_sort_alike_from_the_engines_order_and_from_any_other() {
        let ingest = crate::generate::generated_ingest(400, 7);
        let extract = &ingest.extract;
        let as_of = parse_date("2026-11-23").unwrap();
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let (rule_set, _, calendar) = crate::load_rules(&root.join("rules"), None).unwrap();
        let ctx = crate::kinds::Context::new(extract, &calendar, as_of);
        let (rules, _) = crate::engine::assessable(&rule_set.rules, &ctx);
        let judgement = Judgement { as_of, look_ahead_days: 7, period: (None, None) };
        let judged = judge(crate::engine::evaluate(&rules, &ctx), &rules, extract, &judgement, &Default::default());
        let text = |findings: &[Finding]| -> Vec<String> {
            findings.iter().map(|f| format!("{:?} {:?}", row(f, &rules, extract), trigger_record_text(extract, &f.obligation()))).collect()
        };
        assert!(judged.len() > 5_000, "{} findings", judged.len());
        // As judge leaves them before sorting: judged, in the engine's order.
        let mut engine_order = crate::engine::evaluate(&rules, &ctx);
        for f in &mut engine_order {
            let o = f.obligation();
            f.set_worker(f.worker().or_else(|| o.case.and_then(|case| extract.primary_at(case, o.due.last_moment()))));
            let (status, overdue_days) = judgement.status(o.due, o.done_at);
            f.status = status;
            f.set_overdue_days(overdue_days);
        }
        let mut reversed = engine_order.clone();
        reversed.reverse();
        assert!(sort(&mut engine_order, &rules, extract), "the engine's order is sorted run by run");
        assert!(!sort(&mut reversed, &rules, extract), "a reversed list is sorted whole");
        let (by_runs, whole, judged) = (text(&engine_order), text(&reversed), text(&judged));
        let differ = |a: &[String], b: &[String]| a.iter().zip(b).position(|(x, y)| x != y).map(|i| (x_of(a, i), x_of(b, i)));
        fn x_of(rows: &[String], i: usize) -> String {
            format!("row {i}: {}", rows[i])
        }
        assert_eq!(by_runs.len(), whole.len());
        assert_eq!(differ(&by_runs, &whole), None);
        assert_eq!(differ(&by_runs, &judged), None);
    }

    #[test]
    fn statuses_follow_the_contract() {
        let j = judgement();
        let due = Due::Date(parse_date("2024-06-05").unwrap());
        let at = |s: &str| Some(parse_moment(s).unwrap());
        assert_eq!(j.status(due, at("2024-06-05T23:59")), (Status::Met, None));
        assert_eq!(j.status(due, at("2024-06-06")), (Status::Late, Some(1)));
        assert_eq!(j.status(due, None), (Status::Overdue, Some(5)));
        assert_eq!(j.status(Due::Date(j.as_of), None), (Status::Due, None));
        assert_eq!(j.status(Due::Date(parse_date("2024-06-17").unwrap()), None), (Status::Due, None));
        assert_eq!(j.status(Due::Date(parse_date("2024-06-18").unwrap()), None), (Status::Pending, None));
    }

    #[test]
    fn a_timed_due_is_judged_by_elapsed_time_and_counted_by_date() {
        let j = judgement();
        let due = Due::at(parse_moment("2024-06-05T10:00").unwrap().at());
        assert_eq!(j.status(due, Some(parse_moment("2024-06-05T10:00").unwrap())), (Status::Met, None));
        assert_eq!(j.status(due, Some(parse_moment("2024-06-05T10:01").unwrap())), (Status::Late, Some(0)));
        assert_eq!(j.status(due, Some(Moment::date_only(parse_date("2024-06-05").unwrap()))), (Status::Met, None));
    }

    #[test]
    fn due_numbers_count_days_from_1900() {
        let date = |y, m, d| chrono::NaiveDate::from_ymd_opt(y, m, d).unwrap();
        let days = |d| super::due_number(Due::Date(d)) >> 18;
        assert_eq!(days(date(1900, 1, 1)), 0);
        assert_eq!(days(date(1899, 12, 31)), 0);
        for d in [date(1900, 1, 2), date(2024, 2, 29), date(2026, 12, 6), date(2110, 12, 31)] {
            assert_eq!(days(d), (d - date(1900, 1, 1)).num_days() as u64, "{d}");
        }
    }

    #[test]
    fn due_keys_sort_like_their_text() {
        let mut dues = vec![
            Due::at(parse_moment("2024-06-05T10:00:30").unwrap().at()),
            Due::at(parse_moment("2024-06-05T10:00").unwrap().at()),
            Due::Date(parse_date("2024-06-05").unwrap()),
            Due::Date(parse_date("2024-06-04").unwrap()),
        ];
        dues.sort_by_key(|d| due_key(*d));
        let text: Vec<String> = dues.iter().map(|d| d.to_string()).collect();
        let mut sorted = text.clone();
        sorted.sort();
        assert_eq!(text, sorted);
    }

    /// The published FNV-1a test values, and the id of one row as the
    /// first version computed it (ids must not change between versions).
    #[test]
    fn finding_ids_are_fnv1a_of_their_parts_as_ever() {
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a(b"foobar"), 0x8594_4171_f739_67e8);
        let id = Identity {
            rule: "CMM001",
            case_id: "C1",
            worker_id: "W1",
            trigger_event_id: "E1",
            trigger_at: "2024-06-05T10:00",
            trigger_record: "",
        };
        assert_eq!(identity_number(&id), fnv1a(b"CMM001\0C1\0\0E1\02024-06-05T10:00\0"));
        let worker_row = Identity { case_id: "", trigger_record: "W2 repeat 1", ..id };
        assert_eq!(identity_number(&worker_row), fnv1a(b"CMM001\0\0W1\0E1\02024-06-05T10:00\0W2 repeat 1\0"));
    }

    proptest::proptest! {
        #[test]
        fn four_hashes_at_once_are_four_hashes(inputs in proptest::array::uniform4(proptest::collection::vec(proptest::num::u8::ANY, 0..40))) {
            let hashes = fnv1a_four(inputs.each_ref().map(|input| &input[..]));
            for (input, hash) in inputs.iter().zip(hashes) {
                proptest::prop_assert_eq!(hash, fnv1a(input));
            }
        }
    }
}
