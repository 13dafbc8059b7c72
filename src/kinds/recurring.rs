//! **recurring**: while a condition holds, answers at most a fixed time
//! apart; the first is due that time after the condition starts.
//!
//! Conditions (`while = ...`):
//! - `risk` (CMM003, SUP005): the case's latest levels (each of `track`
//!   kept separately) reach `at_least` while the case is open. An answer
//!   while it holds closes the open obligation and opens the next; its own
//!   levels apply after it answers. When the condition ends, an open
//!   obligation stays only if it held to the end of its due date.
//! - periods: `holding_cases` (SUP001, worker-level: a worker's allocations
//!   of any role, merged), `co_allocated` (SUP004: a case's co-allocations,
//!   merged), `case_open` (CMM009, CRT003, CRT004: opened_on through
//!   closed_on), `after_event` (JNT003: from each `start` event until the
//!   first `stop` event, `at_most` after it, or the day after closure).
//!   Every answer inside a period closes the open obligation and opens the
//!   next; the one open at the period's end is kept only if the period
//!   lasts to the end of its due date.

use super::select::{Dimension, EventsSpec, Levels, RiskThreshold, Selector};
use super::{Context, Obligation, Problems, Unit, counting};
use crate::model::{Allocation, AllocationRole, CaseIdx, Event, EventIdx, Extract, WorkerIdx, end_of_day_exclusive};
use crate::time::{Due, Moment, Span};
use chrono::{NaiveDate, NaiveDateTime};
use serde::Deserialize;
use toml::Spanned;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    #[serde(rename = "while")]
    pub condition: Spanned<String>,
    /// `risk`: which of `rosh`, `saw`, `lor` are tracked.
    pub track: Option<Vec<Spanned<String>>>,
    /// `risk`: the lowest level at which the condition holds.
    pub at_least: Option<Spanned<String>>,
    /// `after_event`: the events that start a period.
    pub start: Option<Spanned<EventsSpec>>,
    /// `after_event`: the events that end it.
    pub stop: Option<Spanned<EventsSpec>>,
    /// `after_event`: the longest a period lasts.
    pub at_most: Option<Spanned<String>>,
    pub answer: Spanned<EventsSpec>,
    pub every: Spanned<String>,
}

#[derive(Clone, Debug)]
pub enum Condition {
    Risk(RiskThreshold),
    HoldingCases,
    CoAllocated,
    CaseOpen,
    AfterEvent { start: Selector, stop: Selector, at_most: Span },
}

const CONDITIONS: &[&str] = &["risk", "holding_cases", "co_allocated", "case_open", "after_event"];

#[derive(Clone, Debug)]
pub struct Recurring {
    pub condition: Condition,
    pub answer: Selector,
    pub every: Span,
}

/// The obligation currently open: what started it and when it falls due.
#[derive(Clone, Copy)]
struct Open {
    trigger_event: Option<EventIdx>,
    trigger_at: Moment,
    due: Due,
}

/// A period: where it starts (as written, for trigger_at), the start
/// event if any, and its exclusive end (None = still running).
struct Period {
    start: Moment,
    start_event: Option<EventIdx>,
    end: Option<NaiveDateTime>,
}

impl Recurring {
    pub fn compile(spec: &Spec, problems: &mut Problems) -> Option<Recurring> {
        let answer = problems.plain_selector(&spec.answer);
        let every = problems.span(&spec.every);
        let name = spec.condition.get_ref().as_str();
        let allowed: &[&str] = match name {
            "risk" => &["track", "at_least"],
            "after_event" => &["start", "stop", "at_most"],
            _ => &[],
        };
        for (key, present) in [
            ("track", spec.track.is_some()),
            ("at_least", spec.at_least.is_some()),
            ("start", spec.start.is_some()),
            ("stop", spec.stop.is_some()),
            ("at_most", spec.at_most.is_some()),
        ] {
            if present && !allowed.contains(&key) {
                problems.add(spec.condition.span(), format!("`{key}` does not apply to a `{name}` condition"));
            }
        }
        let condition = match name {
            "risk" => {
                let Some(at_least) = &spec.at_least else {
                    problems.add(
                        spec.condition.span(),
                        "a `risk` condition needs `at_least = \"medium\"` (or another level) and `track = [...]`",
                    );
                    return None;
                };
                Condition::Risk(problems.risk(at_least, spec.track.as_ref(), spec.condition.span())?)
            }
            "holding_cases" => Condition::HoldingCases,
            "co_allocated" => Condition::CoAllocated,
            "case_open" => Condition::CaseOpen,
            "after_event" => {
                let (Some(start), Some(stop), Some(at_most)) = (&spec.start, &spec.stop, &spec.at_most) else {
                    problems.add(spec.condition.span(), "an `after_event` condition needs `start`, `stop` and `at_most`");
                    return None;
                };
                Condition::AfterEvent {
                    start: problems.plain_selector(start),
                    stop: problems.plain_selector(stop),
                    at_most: problems.span(at_most)?,
                }
            }
            other => {
                let hint =
                    crate::text::nearest(other, CONDITIONS.iter().copied()).map(|n| format!("; did you mean `{n}`?")).unwrap_or_default();
                problems.add(spec.condition.span(), format!("unknown condition `{other}`{hint} (known: {})", CONDITIONS.join(", ")));
                return None;
            }
        };
        Some(Recurring { condition, answer, every: every? })
    }

    pub fn needs(&self) -> &'static [&'static str] {
        match self.condition {
            Condition::HoldingCases | Condition::CoAllocated => &["allocations.csv"],
            _ => &[],
        }
    }

    pub fn evaluate(&self, ctx: &Context, unit: Unit, out: &mut Vec<Obligation>) {
        match (&self.condition, unit) {
            (Condition::Risk(threshold), Unit::Case(case)) => self.while_risk(ctx, case, threshold, out),
            (Condition::HoldingCases, Unit::Worker(worker)) => {
                let none = Levels::default();
                let answers: Vec<(EventIdx, &Event)> =
                    ctx.worker_events(worker).filter(|(_, e)| self.answer.matches(e, None, &none)).collect();
                for &(start, end) in ctx.holding_periods(worker) {
                    self.over_period(ctx, &Period { start, start_event: None, end }, &answers, None, Some(worker), out);
                }
            }
            (Condition::HoldingCases, _) | (Condition::Risk(_), _) => {}
            (_, Unit::Case(case)) => {
                let record = &ctx.extract.cases[case as usize];
                let events = ctx.case_events(case);
                let none = Levels::default();
                let periods: Vec<Period> = match &self.condition {
                    Condition::CaseOpen => {
                        vec![Period { start: Moment::date_only(record.opened_on), start_event: None, end: record.closed_after() }]
                    }
                    Condition::CoAllocated => merge(
                        ctx.extract,
                        ctx.extract.allocations_of_case(case).iter().filter(|a| a.role == AllocationRole::CoAllocated),
                        None,
                    ),
                    // Most cases have no start event: look before reading their events.
                    Condition::AfterEvent { start, .. } if !ctx.case_has_any(case, start.types) => Vec::new(),
                    Condition::AfterEvent { start, stop, at_most } => events
                        .clone()
                        .filter(|(_, e)| start.matches(e, Some(record), &none))
                        .map(|(i, e)| {
                            let date = e.occurred.date();
                            let release = events
                                .clone()
                                .find(|(_, r)| stop.matches(r, Some(record), &none) && r.occurred.at_or_after(e.occurred))
                                .map(|(_, r)| r.occurred.date());
                            let limit = ctx.due_after(Moment::date_only(date), *at_most, None).date();
                            let end = [release, Some(limit), record.closed_on.and_then(|c| c.succ_opt())]
                                .into_iter()
                                .flatten()
                                .min()
                                .expect("a limit is always set");
                            Period { start: e.occurred, start_event: Some(i), end: Some(end.and_time(chrono::NaiveTime::MIN)) }
                        })
                        .collect(),
                    _ => Vec::new(),
                };
                if periods.is_empty() {
                    return;
                }
                let answers: Vec<(EventIdx, &Event)> = events.filter(|(_, e)| self.answer.matches(e, Some(record), &none)).collect();
                for period in &periods {
                    self.over_period(ctx, period, &answers, Some(case), None, out);
                }
            }
            _ => {}
        }
    }

    fn while_risk(&self, ctx: &Context, case: CaseIdx, threshold: &RiskThreshold, out: &mut Vec<Obligation>) {
        let record = &ctx.extract.cases[case as usize];
        let closed_on = record.closed_on;
        let mut levels = Levels::default();
        let mut holds = false;
        let mut open: Option<Open> = None;
        let emit = |out: &mut Vec<Obligation>, o: Open, done: Option<(EventIdx, Moment)>| {
            out.push(Obligation {
                case: Some(case),
                worker: None,
                trigger_event: o.trigger_event,
                trigger_record: None,
                trigger_at: o.trigger_at,
                due: o.due,
                done_event: done.map(|d| d.0),
                done_at: done.map(|d| d.1),
            });
        };
        for (index, event) in ctx.case_events(case) {
            if closed_on.is_some_and(|c| event.occurred.date() > c) {
                break;
            }
            let starts_next =
                Open { trigger_event: Some(index), trigger_at: event.occurred, due: ctx.due_after(event.occurred, self.every, None) };
            if holds
                && self.answer.matches(event, Some(record), &levels)
                && let Some(o) = open.replace(starts_next)
            {
                emit(out, o, Some((index, event.occurred)));
            }
            levels.update(event);
            let now = levels.reaches(&threshold.track, threshold.at_least);
            if !holds && now {
                open = Some(starts_next);
            } else if holds && !now {
                // Ended at this event: kept only if it held to the end of the due date.
                if let Some(o) = open.take().filter(|o| event.occurred.date() > o.due.date()) {
                    emit(out, o, None);
                }
            }
            holds = now;
        }
        if let Some(o) = open.filter(|_| holds) {
            // Closure ends the condition at the end of closed_on.
            if closed_on.is_none_or(|c| c >= o.due.date()) {
                emit(out, o, None);
            }
        }
    }

    /// Period recurrence over one period.
    fn over_period(
        &self,
        ctx: &Context,
        period: &Period,
        answers: &[(EventIdx, &Event)],
        case: Option<CaseIdx>,
        worker: Option<WorkerIdx>,
        out: &mut Vec<Obligation>,
    ) {
        let due = |from: Moment| Due::Date(ctx.due_after(Moment::date_only(from.date()), self.every, None).date());
        let mut open = Open { trigger_event: period.start_event, trigger_at: period.start, due: due(period.start) };
        // A period started by an event is judged on dates (JNT003: "dated within").
        let start = if period.start_event.is_some() { Moment::date_only(period.start.date()) } else { period.start };
        for &(index, answer) in answers.iter().filter(|(_, a)| inside(a.occurred, start, period.end)) {
            out.push(Obligation {
                case,
                worker,
                trigger_event: open.trigger_event,
                trigger_record: None,
                trigger_at: open.trigger_at,
                due: open.due,
                done_event: Some(index),
                done_at: Some(answer.occurred),
            });
            open = Open { trigger_event: Some(index), trigger_at: answer.occurred, due: due(answer.occurred) };
        }
        if period.end.is_none_or(|end| end >= end_of_day_exclusive(open.due.date())) {
            out.push(Obligation {
                case,
                worker,
                trigger_event: open.trigger_event,
                trigger_record: None,
                trigger_at: open.trigger_at,
                due: open.due,
                done_event: None,
                done_at: None,
            });
        }
    }

    pub fn describe(&self) -> Vec<String> {
        let answer = self.answer.describe();
        let every = self.every;
        let periodic = format!(
            "The first {answer} is due {every} after the period starts; each one inside the period answers the open obligation and starts the next, due {every} after its own date. A period that ends before the end of a due date drops that obligation."
        );
        let mut lines = match &self.condition {
            Condition::Risk(threshold) => vec![
                format!(
                    "Applies while the case is open (to the end of its closed_on date) and {}; any event carrying a level updates it, each tracked separately.",
                    threshold.describe()
                ),
                format!(
                    "The first {answer} is due {every} after the date of the event that started the condition; each one held while the condition holds answers the open obligation and starts the next, due {every} after its own date. A level change that keeps the condition does not restart the clock."
                ),
                "When the condition ends (levels fall, or the case closes), an open obligation stays (overdue if never answered) only if the condition still held at the end of its due date; otherwise it is dropped.".into(),
            ],
            Condition::HoldingCases => vec![
                "Applies to every worker while they hold any current allocation (any role), cut at the case's closure and the worker's leaving date; overlapping or touching allocations make one period.".into(),
                periodic,
            ],
            Condition::CoAllocated => vec![
                "Applies to each case while it is co-allocated: its co_allocated allocations, cut at the end of closed_on, joined where they overlap or meet.".into(),
                periodic,
            ],
            Condition::CaseOpen => vec!["Applies to each case from the date it opened through its closed_on date (unbounded while open).".into(), periodic],
            Condition::AfterEvent { start, stop, at_most } => vec![
                format!(
                    "Applies from each {} (the first obligation's trigger) until the day before the first {} at or after it, {at_most} after it, or the day after the case closed, whichever comes first.",
                    start.describe(),
                    stop.describe()
                ),
                periodic,
            ],
        };
        lines.push(format!("Counted in {}.", counting(self.every)));
        lines
    }

    pub fn parameters(&self) -> Vec<(&'static str, String)> {
        let mut p = vec![];
        match &self.condition {
            Condition::Risk(t) => {
                p.push(("while", "risk".to_string()));
                p.push(("track", t.track.iter().map(|d: &Dimension| d.name()).collect::<Vec<_>>().join(", ")));
                p.push(("at_least", t.at_least.name().to_string()));
            }
            Condition::HoldingCases => p.push(("while", "holding_cases".to_string())),
            Condition::CoAllocated => p.push(("while", "co_allocated".to_string())),
            Condition::CaseOpen => p.push(("while", "case_open".to_string())),
            Condition::AfterEvent { start, stop, at_most } => {
                p.push(("while", "after_event".to_string()));
                p.push(("start", start.types.names().join(", ")));
                p.push(("stop", stop.types.names().join(", ")));
                p.push(("at_most", at_most.to_string()));
            }
        }
        p.push(("answer", self.answer.types.names().join(", ")));
        p.push(("every", self.every.to_string()));
        p
    }
}

/// Whether an event lies inside a period: by time, or for a bare date, if
/// the period covers any part of its day.
fn inside(at: Moment, start: Moment, end: Option<NaiveDateTime>) -> bool {
    if at.bare() || start.bare() {
        let day_start = at.date().and_time(chrono::NaiveTime::MIN);
        start.date() <= at.date() && end.is_none_or(|end| end > day_start)
    } else {
        start.at() <= at.at() && end.is_none_or(|end| at.at() < end)
    }
}

/// Allocations as periods, each cut at the end of its case's closed_on and
/// at `limit`, merged where they overlap or touch. Each period starts with
/// the `from` that opened it.
fn merge<'a>(extract: &Extract, allocations: impl Iterator<Item = &'a Allocation>, limit: Option<NaiveDateTime>) -> Vec<Period> {
    let mut spans: Vec<(Moment, Option<NaiveDateTime>)> = allocations
        .filter(|a| a.holds_anything())
        .filter_map(|a| {
            let closed = extract.cases[a.case as usize].closed_after();
            let end = [a.end(), closed, limit].into_iter().flatten().min();
            end.is_none_or(|end| end > a.start()).then_some((a.from, end))
        })
        .collect();
    spans.sort_by_key(|(start, _)| start.at());
    let mut merged: Vec<Period> = Vec::new();
    for (start, end) in spans {
        if let Some(last) = merged.last_mut()
            && last.end.is_none_or(|last_end| start.at() <= last_end)
        {
            last.end = match (last.end, end) {
                (Some(a), Some(b)) => Some(a.max(b)),
                _ => None,
            };
            continue;
        }
        merged.push(Period { start, start_event: None, end });
    }
    merged
}

/// Every worker's holding periods (see [`Context::holding_periods`]), in
/// one list in worker order.
pub struct HoldingPeriods {
    periods: Vec<(Moment, Option<NaiveDateTime>)>,
    /// Where each worker's periods end in `periods`.
    ends: Vec<u32>,
}

impl HoldingPeriods {
    pub fn of_every_worker(extract: &Extract) -> HoldingPeriods {
        use rayon::prelude::*;
        let lists: Vec<Vec<Period>> = (0..extract.workers.len() as WorkerIdx)
            .into_par_iter()
            .map(|worker| {
                let left = extract.staff(worker).and_then(|s| s.left_on).map(end_of_day_exclusive);
                merge(extract, extract.allocations_of_worker(worker), left)
            })
            .collect();
        let mut periods = Vec::with_capacity(lists.iter().map(Vec::len).sum());
        let mut ends = Vec::with_capacity(lists.len());
        for list in lists {
            periods.extend(list.into_iter().map(|p| (p.start, p.end)));
            ends.push(periods.len() as u32);
        }
        HoldingPeriods { periods, ends }
    }

    pub fn of(&self, worker: WorkerIdx) -> &[(Moment, Option<NaiveDateTime>)] {
        let start = if worker == 0 { 0 } else { self.ends[worker as usize - 1] as usize };
        &self.periods[start..self.ends[worker as usize] as usize]
    }
}

/// Whether a worker holds any case on a date (any period overlaps it).
pub fn holds_on(periods: &[(Moment, Option<NaiveDateTime>)], date: NaiveDate) -> bool {
    let day_start = date.and_time(chrono::NaiveTime::MIN);
    let day_end = end_of_day_exclusive(date);
    periods.iter().any(|(start, end)| start.at() < day_end && end.is_none_or(|end| end > day_start))
}

#[cfg(test)]
mod tests {
    use super::{HoldingPeriods, merge};
    use crate::model::end_of_day_exclusive;

    /// The table made once gives each worker the periods made for them
    /// alone, whether they hold none, one or many.
    #[test]
    fn every_workers_holding_periods_are_their_own() {
        let ingest = crate::generate::generated_ingest(300, 3);
        let extract = &ingest.extract;
        let table = HoldingPeriods::of_every_worker(extract);
        let mut counts = [0; 3];
        for worker in 0..extract.workers.len() as u32 {
            let left = extract.staff(worker).and_then(|s| s.left_on).map(end_of_day_exclusive);
            let alone: Vec<_> = merge(extract, extract.allocations_of_worker(worker), left).into_iter().map(|p| (p.start, p.end)).collect();
            assert_eq!(table.of(worker), alone.as_slice(), "worker {worker}");
            counts[alone.len().min(2)] += 1;
        }
        assert!(counts.iter().all(|&n| n > 0), "workers holding none, one and many: {counts:?}");
    }
}
