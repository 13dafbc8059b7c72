//! From obligations to findings: status against the as-of date, the worker
//! owed it, the team, the contract's sort, and the row as text.

use crate::kinds::Obligation;
use crate::model::{CaseIdx, Extract, WorkerIdx};
use crate::rules::Rule;
use crate::time::{Due, days_between};
use chrono::NaiveDate;
use rayon::prelude::*;
use std::cmp::Ordering;

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
    pub fn status(&self, due: Due, done_at: Option<crate::time::Moment>) -> (Status, Option<i64>) {
        let due_date = due.date();
        match done_at {
            Some(done) if due.is_met_by(done) => (Status::Met, None),
            Some(done) => (Status::Late, Some(days_between(due_date, done.date()))),
            None if due_date < self.as_of => (Status::Overdue, Some(days_between(due_date, self.as_of))),
            None if days_between(self.as_of, due_date) <= self.look_ahead_days as i64 => (Status::Due, None),
            None => (Status::Pending, None),
        }
    }

    fn in_period(&self, due: Due) -> bool {
        let date = due.date();
        self.period.0.is_none_or(|from| date >= from) && self.period.1.is_none_or(|to| date <= to)
    }
}

/// One findings row, still as ids and times.
#[derive(Clone, Debug)]
pub struct Finding {
    /// Index into the assessed rules.
    pub rule: u16,
    pub case: Option<CaseIdx>,
    /// The worker owed the obligation (see contract section 5).
    pub worker: Option<WorkerIdx>,
    pub obligation: Obligation,
    pub status: Status,
    pub overdue_days: Option<i64>,
    /// The accepted exception (index in the register) covering it, if any.
    pub accepted: Option<u32>,
}

/// Judges, attributes, filters to the period and sorts.
pub fn judge(
    found: Vec<(u16, Obligation)>,
    rules: &[&Rule],
    extract: &Extract,
    judgement: &Judgement,
    register: &crate::exceptions::Register,
) -> Vec<Finding> {
    let acceptances: Vec<(usize, &crate::exceptions::Acceptance)> = register.in_force(judgement.as_of).collect();
    let mut findings: Vec<Finding> = found
        .into_par_iter()
        .filter(|(_, o)| judgement.in_period(o.due))
        .map(|(rule, o)| {
            let worker = match (o.worker, o.case) {
                (Some(w), _) => Some(w),
                (None, Some(case)) => extract.primary_at(case, o.due.last_moment()),
                (None, None) => None,
            };
            let (status, overdue_days) = judgement.status(o.due, o.done_at);
            let mut finding = Finding { rule, case: o.case, worker, obligation: o, status, overdue_days, accepted: None };
            if !acceptances.is_empty() {
                let text = row(&finding, rules, extract);
                finding.accepted =
                    acceptances.iter().find(|(_, a)| a.matches(&text[0], &text[1], &text[2], &text[4])).map(|(i, _)| *i as u32);
            }
            finding
        })
        .collect();
    findings.par_sort_unstable_by(|a, b| compare(a, b, rules, extract));
    findings
}

/// Sorts by rule, case_id, worker_id, due_at, trigger_event_id as byte
/// strings (empty first), then the remaining columns.
fn compare(a: &Finding, b: &Finding, rules: &[&Rule], extract: &Extract) -> Ordering {
    let case_id = |f: &Finding| f.case.map_or("", |c| &*extract.cases[c as usize].id);
    let worker_id = |f: &Finding| f.worker.map_or("", |w| &*extract.workers[w as usize].id);
    let event_id = |e: Option<u32>| e.map_or("", |e| &*extract.events[e as usize].id);
    rules[a.rule as usize]
        .code
        .cmp(&rules[b.rule as usize].code)
        .then_with(|| case_id(a).cmp(case_id(b)))
        .then_with(|| worker_id(a).cmp(worker_id(b)))
        .then_with(|| due_key(a.obligation.due).cmp(&due_key(b.obligation.due)))
        .then_with(|| event_id(a.obligation.trigger_event).cmp(event_id(b.obligation.trigger_event)))
        .then_with(|| row(a, rules, extract).cmp(&row(b, rules, extract)))
}

/// Orders dues as their text sorts: a date before any date-time that day.
fn due_key(due: Due) -> (NaiveDate, bool, chrono::NaiveTime) {
    match due {
        Due::Date(d) => (d, false, chrono::NaiveTime::MIN),
        Due::At(at) => (at.date(), true, at.time()),
    }
}

/// The row's text, column by column, as in findings.csv (before any
/// spreadsheet guard).
pub fn row(f: &Finding, rules: &[&Rule], extract: &Extract) -> [String; 11] {
    let o = &f.obligation;
    let event_id = |e: Option<u32>| e.map_or(String::new(), |e| extract.events[e as usize].id.to_string());
    let team = match (f.case, f.worker) {
        (Some(c), _) => extract.cases[c as usize].team.as_deref().unwrap_or(""),
        (None, Some(w)) => extract.staff(w).and_then(|s| s.team.as_deref()).unwrap_or(""),
        (None, None) => "",
    };
    [
        rules[f.rule as usize].code.clone(),
        f.case.map_or(String::new(), |c| extract.cases[c as usize].id.to_string()),
        f.worker.map_or(String::new(), |w| extract.workers[w as usize].id.to_string()),
        team.to_string(),
        event_id(o.trigger_event),
        o.trigger_at.to_string(),
        o.due.to_string(),
        event_id(o.done_event),
        o.done_at.map_or(String::new(), |d| d.to_string()),
        f.status.name().to_string(),
        f.overdue_days.map_or(String::new(), |d| d.to_string()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::{Moment, parse_date, parse_moment};

    fn judgement() -> Judgement {
        Judgement { as_of: parse_date("2024-06-10").unwrap(), look_ahead_days: 7, period: (None, None) }
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
        let due = Due::At(parse_moment("2024-06-05T10:00").unwrap().at);
        assert_eq!(j.status(due, Some(parse_moment("2024-06-05T10:00").unwrap())), (Status::Met, None));
        assert_eq!(j.status(due, Some(parse_moment("2024-06-05T10:01").unwrap())), (Status::Late, Some(0)));
        assert_eq!(j.status(due, Some(Moment::date_only(parse_date("2024-06-05").unwrap()))), (Status::Met, None));
    }

    #[test]
    fn due_keys_sort_like_their_text() {
        let mut dues = vec![
            Due::At(parse_moment("2024-06-05T10:00:30").unwrap().at),
            Due::At(parse_moment("2024-06-05T10:00").unwrap().at),
            Due::Date(parse_date("2024-06-05").unwrap()),
            Due::Date(parse_date("2024-06-04").unwrap()),
        ];
        dues.sort_by_key(|d| due_key(*d));
        let text: Vec<String> = dues.iter().map(|d| d.to_string()).collect();
        let mut sorted = text.clone();
        sorted.sort();
        assert_eq!(text, sorted);
    }
}
