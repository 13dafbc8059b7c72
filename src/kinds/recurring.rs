//! **recurring**: while a condition holds, answering events at most a fixed
//! time apart; the first is due that time after the condition starts.
//!
//! Two families of condition:
//! - `risk` (CMM003, SUP005): the case's latest risk levels (each tracked
//!   separately, the latest non-empty value of each) reach a threshold
//!   while the case is open. An answer while it holds closes the open
//!   obligation and opens the next; its own levels apply after it answers.
//! - periods (SUP001 `holding_cases`): a worker's merged holding periods.
//!   Every answer inside a period closes the open obligation and opens the
//!   next; the one open at the period's end is kept only if the period lasts
//!   to the end of its due date.

use super::{Context, EventsSpec, Obligation, Problems, Unit, counting, event_list};
use crate::model::{CaseIdx, Event, EventIdx, EventSet, Level, WorkerIdx, end_of_day_exclusive};
use crate::time::{Due, Moment, Span};
use chrono::{NaiveDate, NaiveDateTime};
use serde::Deserialize;
use toml::Spanned;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// `risk` or `holding_cases`.
    #[serde(rename = "while")]
    pub condition: Spanned<String>,
    /// For `risk`: which of `rosh`, `saw`, `lor` are tracked.
    pub track: Option<Vec<Spanned<String>>>,
    /// For `risk`: the lowest level at which the condition holds.
    pub at_least: Option<Spanned<String>>,
    pub answer: EventsSpec,
    pub every: Spanned<String>,
}

/// Which risk dimension an event carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dimension {
    Rosh,
    Saw,
    Lor,
}

impl Dimension {
    const NAMES: [&'static str; 3] = ["rosh", "saw", "lor"];

    fn of(self, e: &Event) -> Option<Level> {
        match self {
            Dimension::Rosh => e.rosh,
            Dimension::Saw => e.saw,
            Dimension::Lor => e.lor,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Dimension::Rosh => "RoSH",
            Dimension::Saw => "SaW",
            Dimension::Lor => "LoR",
        }
    }
}

#[derive(Debug)]
pub enum Condition {
    Risk {
        track: Vec<Dimension>,
        at_least: Level,
    },
    HoldingCases,
}

const CONDITIONS: &[&str] = &["risk", "holding_cases"];

#[derive(Debug)]
pub struct Recurring {
    pub condition: Condition,
    pub answer: EventSet,
    pub every: Span,
}

/// The obligation currently open: what started it and when it falls due.
#[derive(Clone, Copy)]
struct Open {
    trigger_event: Option<EventIdx>,
    trigger_at: Moment,
    due: Due,
}

impl Recurring {
    pub fn compile(spec: &Spec, problems: &mut Problems) -> Option<Recurring> {
        let answer = problems.events(&spec.answer);
        let every = problems.span(&spec.every);
        let condition = match spec.condition.get_ref().as_str() {
            "risk" => {
                let mut track = Vec::new();
                for name in spec.track.iter().flatten() {
                    match Dimension::NAMES.iter().position(|n| n == name.get_ref()) {
                        Some(i) => track.push([Dimension::Rosh, Dimension::Saw, Dimension::Lor][i]),
                        None => problems.add(
                            name.span(),
                            format!(
                                "`{}` is not a risk dimension: use rosh, saw or lor",
                                name.get_ref()
                            ),
                        ),
                    }
                }
                if track.is_empty() {
                    problems.add(
                        spec.condition.span(),
                        "a `risk` condition needs `track = [...]` naming rosh, saw and/or lor",
                    );
                }
                let at_least = match &spec.at_least {
                    Some(level) => Level::parse(level.get_ref()).or_else(|| {
                        problems.add(
                            level.span(),
                            format!(
                                "`{}` is not a level: use low, medium, high or very_high",
                                level.get_ref()
                            ),
                        );
                        None
                    }),
                    None => {
                        problems.add(
                            spec.condition.span(),
                            "a `risk` condition needs `at_least = \"medium\"` (or another level)",
                        );
                        None
                    }
                };
                Condition::Risk {
                    track,
                    at_least: at_least?,
                }
            }
            "holding_cases" => {
                for (key, present) in [
                    ("track", spec.track.is_some()),
                    ("at_least", spec.at_least.is_some()),
                ] {
                    if present {
                        problems.add(
                            spec.condition.span(),
                            format!("`{key}` applies only to a `risk` condition"),
                        );
                    }
                }
                Condition::HoldingCases
            }
            other => {
                let hint = crate::text::nearest(other, CONDITIONS.iter().copied())
                    .map(|n| format!("; did you mean `{n}`?"))
                    .unwrap_or_default();
                problems.add(
                    spec.condition.span(),
                    format!(
                        "unknown condition `{other}`{hint} (known: {})",
                        CONDITIONS.join(", ")
                    ),
                );
                return None;
            }
        };
        Some(Recurring {
            condition,
            answer,
            every: every?,
        })
    }

    pub fn needs(&self) -> &'static [&'static str] {
        match self.condition {
            Condition::Risk { .. } => &[],
            Condition::HoldingCases => &["allocations.csv"],
        }
    }

    pub fn evaluate(&self, ctx: &Context, unit: Unit, out: &mut Vec<Obligation>) {
        match (&self.condition, unit) {
            (Condition::Risk { track, at_least }, Unit::Case(case)) => {
                self.while_risk(ctx, case, track, *at_least, out)
            }
            (Condition::HoldingCases, Unit::Worker(worker)) => {
                let answers: Vec<(EventIdx, &Event)> = ctx
                    .worker_events(worker)
                    .filter(|(_, e)| self.answer.contains(e.kind))
                    .collect();
                for (start, end) in holding_periods(ctx, worker) {
                    self.over_period(ctx, start, end, &answers, None, Some(worker), out);
                }
            }
            _ => {}
        }
    }

    fn while_risk(
        &self,
        ctx: &Context,
        case: CaseIdx,
        track: &[Dimension],
        at_least: Level,
        out: &mut Vec<Obligation>,
    ) {
        let closed_on = ctx.extract.cases[case as usize].closed_on;
        let mut levels: [Option<Level>; 3] = [None; 3];
        let mut holds = false;
        let mut open: Option<Open> = None;
        let emit = |out: &mut Vec<Obligation>, o: Open, done: Option<(EventIdx, Moment)>| {
            out.push(Obligation {
                case: Some(case),
                worker: None,
                trigger_event: o.trigger_event,
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
            let starts_next = Open {
                trigger_event: Some(index),
                trigger_at: event.occurred,
                due: ctx.due_after(event.occurred, self.every, None),
            };
            if holds && self.answer.contains(event.kind) {
                if let Some(o) = open.replace(starts_next) {
                    emit(out, o, Some((index, event.occurred)));
                }
            }
            for (slot, dimension) in [Dimension::Rosh, Dimension::Saw, Dimension::Lor]
                .into_iter()
                .enumerate()
            {
                if track.contains(&dimension) {
                    if let Some(level) = dimension.of(event) {
                        levels[slot] = Some(level);
                    }
                }
            }
            let now = levels.iter().any(|l| l.is_some_and(|l| l >= at_least));
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

    /// Period recurrence: obligations inside one period from `start` to
    /// `end` (exclusive; None = still running).
    #[allow(clippy::too_many_arguments)]
    fn over_period(
        &self,
        ctx: &Context,
        start: Moment,
        end: Option<NaiveDateTime>,
        answers: &[(EventIdx, &Event)],
        case: Option<CaseIdx>,
        worker: Option<WorkerIdx>,
        out: &mut Vec<Obligation>,
    ) {
        let mut open = Open {
            trigger_event: None,
            trigger_at: start,
            due: Due::Date(ctx.due_after(start, self.every, None).date()),
        };
        for &(index, answer) in answers
            .iter()
            .filter(|(_, a)| inside(a.occurred, start, end))
        {
            out.push(Obligation {
                case,
                worker,
                trigger_event: open.trigger_event,
                trigger_at: open.trigger_at,
                due: open.due,
                done_event: Some(index),
                done_at: Some(answer.occurred),
            });
            open = Open {
                trigger_event: Some(index),
                trigger_at: answer.occurred,
                due: Due::Date(ctx.due_after(answer.occurred, self.every, None).date()),
            };
        }
        if end.is_none_or(|end| end >= end_of_day_exclusive(open.due.date())) {
            out.push(Obligation {
                case,
                worker,
                trigger_event: open.trigger_event,
                trigger_at: open.trigger_at,
                due: open.due,
                done_event: None,
                done_at: None,
            });
        }
    }

    pub fn describe(&self) -> Vec<String> {
        let mut lines = match &self.condition {
            Condition::Risk { track, at_least } => vec![
                format!(
                    "Applies while the case is open (to the end of its closed_on date) and the latest {} is {} or above; any event carrying a level updates it, each tracked separately.",
                    track.iter().map(|d| d.label()).collect::<Vec<_>>().join(" or "),
                    at_least.name()
                ),
                format!(
                    "The first {} is due {} after the date of the event that started the condition; each one held while the condition holds answers the open obligation and starts the next, due {} after its own date. A level change that keeps the condition does not restart the clock.",
                    event_list(self.answer),
                    self.every,
                    self.every
                ),
                "When the condition ends (levels fall, or the case closes), an open obligation stays (overdue if never answered) only if the condition still held at the end of its due date; otherwise it is dropped.".into(),
            ],
            Condition::HoldingCases => vec![
                "Applies to every worker while they hold any current allocation (any role), cut at the case's closure and the worker's leaving date; overlapping or touching allocations make one period.".into(),
                format!(
                    "In each period the first {} is due {} after the period starts; each one inside the period answers the open obligation and starts the next, due {} after its own date. A period that ends before the end of a due date drops that obligation.",
                    event_list(self.answer),
                    self.every,
                    self.every
                ),
            ],
        };
        lines.push(format!("Counted in {}.", counting(self.every)));
        lines
    }

    pub fn parameters(&self) -> Vec<(&'static str, String)> {
        let mut p = vec![];
        match &self.condition {
            Condition::Risk { track, at_least } => {
                p.push(("while", "risk".to_string()));
                p.push((
                    "track",
                    track
                        .iter()
                        .map(|d| Dimension::NAMES[*d as usize])
                        .collect::<Vec<_>>()
                        .join(", "),
                ));
                p.push(("at_least", at_least.name().to_string()));
            }
            Condition::HoldingCases => p.push(("while", "holding_cases".to_string())),
        }
        p.push(("answer", self.answer.names().join(", ")));
        p.push(("every", self.every.to_string()));
        p
    }
}

/// Whether an event lies inside a period: by time, or for a bare date, if
/// the period covers any part of its day.
fn inside(at: Moment, start: Moment, end: Option<NaiveDateTime>) -> bool {
    if at.bare || start.bare {
        let day_start = at.date().and_time(chrono::NaiveTime::MIN);
        start.date() <= at.date() && end.is_none_or(|end| end > day_start)
    } else {
        start.at <= at.at && end.is_none_or(|end| at.at < end)
    }
}

/// A worker's holding periods: allocations of any role, each cut at the
/// end of its case's closed_on and the worker's left_on, merged where they
/// overlap or touch. Each period starts with the `from` that opened it.
pub fn holding_periods(ctx: &Context, worker: WorkerIdx) -> Vec<(Moment, Option<NaiveDateTime>)> {
    let left = ctx
        .extract
        .staff(worker)
        .and_then(|s| s.left_on)
        .map(end_of_day_exclusive);
    let mut spans: Vec<(Moment, Option<NaiveDateTime>)> = ctx
        .extract
        .allocations_of_worker(worker)
        .filter(|a| a.holds_anything())
        .filter_map(|a| {
            let closed = ctx.extract.cases[a.case as usize].closed_after();
            let end = [a.end(), closed, left].into_iter().flatten().min();
            end.is_none_or(|end| end > a.start())
                .then_some((a.from, end))
        })
        .collect();
    spans.sort_by_key(|(start, _)| start.at);
    let mut merged: Vec<(Moment, Option<NaiveDateTime>)> = Vec::new();
    for (start, end) in spans {
        if let Some(last) = merged.last_mut() {
            if last.1.is_none_or(|last_end| start.at <= last_end) {
                last.1 = match (last.1, end) {
                    (Some(a), Some(b)) => Some(a.max(b)),
                    _ => None,
                };
                continue;
            }
        }
        merged.push((start, end));
    }
    merged
}

/// Whether a worker holds any case on a date (any period overlaps it).
pub fn holds_on(periods: &[(Moment, Option<NaiveDateTime>)], date: NaiveDate) -> bool {
    let day_start = date.and_time(chrono::NaiveTime::MIN);
    let day_end = end_of_day_exclusive(date);
    periods
        .iter()
        .any(|(start, end)| start.at < day_end && end.is_none_or(|end| end > day_start))
}
