//! **recorded**: an event's own `recorded_at` within a time of its
//! `occurred_at` (REC001, REC003, REC004).
//!
//! The event is its own trigger and its own done event. A case event is a
//! case finding; an event with no case is worker-level, owed by the event's
//! worker.

use super::select::{EventsSpec, Selector};
use super::{Context, Obligation, Problems, Unit, counting};
use crate::model::{Event, EventIdx};
use crate::time::Span;
use serde::Deserialize;
use toml::Spanned;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    pub events: Spanned<EventsSpec>,
    pub within: Spanned<String>,
}

#[derive(Clone, Debug)]
pub struct Recorded {
    pub events: Selector,
    pub within: Span,
}

impl Recorded {
    pub fn compile(spec: &Spec, problems: &mut Problems) -> Option<Recorded> {
        let events = problems.plain_selector(&spec.events);
        let within = problems.span(&spec.within)?;
        Some(Recorded { events, within })
    }

    pub fn evaluate(&self, ctx: &Context, unit: Unit, out: &mut Vec<Obligation>) {
        let mut judge = |index: EventIdx, event: &Event, worker_level: bool| {
            let case = event.case.map(|c| &ctx.extract.cases[c as usize]);
            if !self.events.matches(event, case, &Default::default()) {
                return;
            }
            out.push(Obligation {
                case: event.case,
                worker: if worker_level { event.worker } else { None },
                trigger_event: Some(index),
                trigger_record: None,
                trigger_at: event.occurred,
                due: ctx.due_after(event.occurred, self.within, event.recorded),
                done_event: event.recorded.map(|_| index),
                done_at: event.recorded,
            });
        };
        match unit {
            // Most cases hold none of some rules' types: look before reading their events.
            Unit::Case(case) if ctx.case_has_any(case, self.events.types) => ctx.case_events(case).for_each(|(i, e)| judge(i, e, false)),
            Unit::Case(_) => {}
            Unit::Caseless(part) => ctx.caseless_events(part).for_each(|(i, e)| judge(i, e, true)),
            Unit::Worker(_) => {}
        }
    }

    pub fn describe(&self) -> Vec<String> {
        vec![
            format!("Starts: each {} event. It is met when the event's own recorded_at is no later than {} after its occurred_at.", self.events.describe(), self.within),
            format!("Counted in {}.", counting(self.within)),
            "An event with no recorded_at is not done: overdue once its due date has passed. An event with a case_id is owed by the primary worker holding the case at the due time; one without a case_id by the event's own worker.".into(),
        ]
    }

    pub fn parameters(&self) -> Vec<(&'static str, String)> {
        vec![("events", self.events.types.names().join(", ")), ("within", self.within.to_string())]
    }
}
