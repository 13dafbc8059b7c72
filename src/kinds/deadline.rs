//! **deadline**: after each trigger event, an answering event within a time
//! (CMM001 and most of the catalogue).
//!
//! Each trigger on a case is answered by the case's first answering event at
//! or after it (by date when either is a bare date), so one answer serves
//! every earlier open trigger. Case closure cancels nothing.

use super::{Context, EventsSpec, Obligation, Problems, Unit, counting, event_list};
use crate::model::{Event, EventIdx, EventSet};
use crate::time::{Moment, Span};
use serde::Deserialize;
use toml::Spanned;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    pub trigger: EventsSpec,
    pub answer: EventsSpec,
    pub within: Spanned<String>,
}

#[derive(Debug)]
pub struct Deadline {
    pub trigger: EventSet,
    pub answer: EventSet,
    pub within: Span,
}

/// The first of `answers` (in case order) at or after `from`.
pub fn first_at_or_after<'a>(
    answers: &[(EventIdx, &'a Event)],
    from: Moment,
) -> Option<(EventIdx, &'a Event)> {
    let start = answers.partition_point(|(_, e)| e.occurred.date() < from.date());
    answers[start..]
        .iter()
        .find(|(_, e)| e.occurred.at_or_after(from))
        .copied()
}

impl Deadline {
    pub fn compile(spec: &Spec, problems: &mut Problems) -> Option<Deadline> {
        let trigger = problems.events(&spec.trigger);
        let answer = problems.events(&spec.answer);
        let within = problems.span(&spec.within)?;
        Some(Deadline {
            trigger,
            answer,
            within,
        })
    }

    pub fn evaluate(&self, ctx: &Context, unit: Unit, out: &mut Vec<Obligation>) {
        let Unit::Case(case) = unit else { return };
        let events = ctx.case_events(case);
        let answers: Vec<(EventIdx, &Event)> = events
            .clone()
            .filter(|(_, e)| self.answer.contains(e.kind))
            .collect();
        for (index, trigger) in events.filter(|(_, e)| self.trigger.contains(e.kind)) {
            let answer = first_at_or_after(&answers, trigger.occurred);
            out.push(Obligation {
                case: Some(case),
                worker: None,
                trigger_event: Some(index),
                trigger_at: trigger.occurred,
                due: ctx.due_after(
                    trigger.occurred,
                    self.within,
                    answer.map(|(_, a)| a.occurred),
                ),
                done_event: answer.map(|(i, _)| i),
                done_at: answer.map(|(_, a)| a.occurred),
            });
        }
    }

    pub fn describe(&self) -> Vec<String> {
        vec![
            format!("Starts: each {} on a case.", event_list(self.trigger)),
            format!(
                "Met by: the case's first {} at or after it (on the same day counts when either has only a date), no later than {} after it. One answer serves every earlier open trigger; closing the case cancels nothing.",
                event_list(self.answer),
                self.within
            ),
            format!("Counted in {}.", counting(self.within)),
        ]
    }

    pub fn parameters(&self) -> Vec<(&'static str, String)> {
        vec![
            ("trigger", self.trigger.names().join(", ")),
            ("answer", self.answer.names().join(", ")),
            ("within", self.within.to_string()),
        ]
    }
}
