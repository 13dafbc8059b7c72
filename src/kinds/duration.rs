//! **duration**: a state must end within a time (TRF001: caretaking no
//! longer than three months).
//!
//! Each start event is answered by the earliest of the first ending event at
//! or after it and, when `closure_ends` is set, the case's closed_on (an
//! event on the closure date wins the tie). Closure as the answer leaves the
//! done event empty with done_at = closed_on.

use super::deadline::first_at_or_after;
use super::select::{EventsSpec, Selector};
use super::{Context, Obligation, Problems, Unit, counting};
use crate::model::{Event, EventIdx};
use crate::time::{Moment, Span};
use serde::Deserialize;
use toml::Spanned;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    pub start: Spanned<EventsSpec>,
    pub end: Spanned<EventsSpec>,
    /// Whether closing the case ends the state.
    #[serde(default)]
    pub closure_ends: bool,
    pub within: Spanned<String>,
}

#[derive(Clone, Debug)]
pub struct Duration {
    pub start: Selector,
    pub end: Selector,
    pub closure_ends: bool,
    pub within: Span,
}

impl Duration {
    pub fn compile(spec: &Spec, problems: &mut Problems) -> Option<Duration> {
        let start = problems.plain_selector(&spec.start);
        let end = problems.plain_selector(&spec.end);
        let within = problems.span(&spec.within)?;
        Some(Duration { start, end, closure_ends: spec.closure_ends, within })
    }

    pub fn evaluate(&self, ctx: &Context, unit: Unit, out: &mut Vec<Obligation>) {
        let Unit::Case(case) = unit else { return };
        if !ctx.case_has_any(case, self.start.types) {
            return;
        }
        let closed_on = ctx.extract.cases[case as usize].closed_on.filter(|_| self.closure_ends);
        let events = ctx.case_events(case);
        let record = Some(&ctx.extract.cases[case as usize]);
        let none = Default::default();
        let ends: Vec<(EventIdx, &Event)> = events.clone().filter(|(_, e)| self.end.matches(e, record, &none)).collect();
        for (index, start) in events.filter(|(_, e)| self.start.matches(e, record, &none)) {
            let ended_by_event = first_at_or_after(&ends, start.occurred);
            let (done_event, done_at) = match (ended_by_event, closed_on) {
                (Some((_, e)), Some(closed)) if e.occurred.date() > closed => (None, Some(Moment::date_only(closed))),
                (Some((i, e)), _) => (Some(i), Some(e.occurred)),
                (None, Some(closed)) => (None, Some(Moment::date_only(closed))),
                (None, None) => (None, None),
            };
            out.push(Obligation {
                case: Some(case),
                worker: None,
                trigger_event: Some(index),
                trigger_record: None,
                trigger_at: start.occurred,
                due: ctx.due_after(start.occurred, self.within, None),
                done_event,
                done_at,
            });
        }
    }

    pub fn describe(&self) -> Vec<String> {
        let closure = if self.closure_ends { " or the case's closure (an ending event on the closure date counts first)" } else { "" };
        vec![
            format!("Starts: each {} on a case.", self.start.describe()),
            format!(
                "Ends: the first {} at or after it{closure}; it must end within {} of the start date.",
                self.end.describe(),
                self.within
            ),
            format!("Counted in {}. Still running at the as-of date = not done.", counting(self.within)),
        ]
    }

    pub fn parameters(&self) -> Vec<(&'static str, String)> {
        vec![
            ("start", self.start.types.names().join(", ")),
            ("end", self.end.types.names().join(", ")),
            ("closure_ends", self.closure_ends.to_string()),
            ("within", self.within.to_string()),
        ]
    }
}
