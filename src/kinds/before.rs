//! **before**: an expected event ahead of each anchor event, optionally by
//! at least a lead time (CMM002: the compliance report at least 24 hours
//! before the compliance CMM).
//!
//! Each anchor is answered by the earliest expected event on its case lying
//! strictly between the previous anchor (if any) and the anchor. Events on
//! or after the anchor never answer: such a row is not done, never late.

use super::{Context, EventsSpec, Obligation, Problems, Unit, event_list};
use crate::model::{Event, EventIdx, EventSet};
use crate::time::{Due, Moment, Span, add_elapsed_hours};
use chrono::Days;
use serde::Deserialize;
use toml::Spanned;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    pub anchor: EventsSpec,
    pub expected: EventsSpec,
    /// How long before the anchor the expected event must be, at least.
    pub lead: Option<Spanned<String>>,
}

#[derive(Debug)]
pub struct Before {
    pub anchor: EventSet,
    pub expected: EventSet,
    pub lead: Option<Span>,
}

impl Before {
    pub fn compile(spec: &Spec, problems: &mut Problems) -> Option<Before> {
        let anchor = problems.events(&spec.anchor);
        let expected = problems.events(&spec.expected);
        let lead = match &spec.lead {
            Some(text) => match problems.span(text)? {
                span @ (Span::Hours(_) | Span::Days(_)) => Some(span),
                _ => {
                    problems.add(
                        text.span(),
                        "a lead time is counted in hours, days or weeks",
                    );
                    return None;
                }
            },
            None => None,
        };
        Some(Before {
            anchor,
            expected,
            lead,
        })
    }

    /// The latest moment that counts as on time for an anchor at `anchor`.
    fn due(&self, anchor: Moment, answer: Option<Moment>) -> Due {
        let by_date = anchor.bare || answer.is_some_and(|a| a.bare);
        let date = anchor.date();
        match self.lead {
            None if by_date => Due::Date(date),
            None => Due::At(anchor.at),
            Some(Span::Hours(h)) if by_date => Due::Date(date - Days::new(h.div_ceil(24) as u64)),
            Some(Span::Hours(h)) => Due::At(add_elapsed_hours(anchor.at, -(h as i64))),
            Some(Span::Days(d)) => Due::Date(date - Days::new(d as u64)),
            Some(_) => unreachable!("compile accepts only hour and day leads"),
        }
    }

    pub fn evaluate(&self, ctx: &Context, unit: Unit, out: &mut Vec<Obligation>) {
        let Unit::Case(case) = unit else { return };
        let events: Vec<(EventIdx, &Event)> = ctx
            .case_events(case)
            .filter(|(_, e)| self.anchor.contains(e.kind) || self.expected.contains(e.kind))
            .collect();
        let mut previous: Option<Moment> = None;
        for &(index, anchor) in events.iter().filter(|(_, e)| self.anchor.contains(e.kind)) {
            let answer = events
                .iter()
                .filter(|(_, e)| self.expected.contains(e.kind))
                .find(|(_, e)| {
                    e.occurred.strictly_before(anchor.occurred)
                        && previous.is_none_or(|p| p.strictly_before(e.occurred))
                });
            let answered_at = answer.map(|(_, e)| e.occurred);
            out.push(Obligation {
                case: Some(case),
                worker: None,
                trigger_event: Some(index),
                trigger_at: anchor.occurred,
                due: self.due(anchor.occurred, answered_at),
                done_event: answer.map(|(i, _)| *i),
                done_at: answered_at,
            });
            previous = Some(anchor.occurred);
        }
    }

    pub fn describe(&self) -> Vec<String> {
        let lead = match self.lead {
            Some(span) => format!(
                "at least {span} before it (elapsed time; where either has only a date, by date: the anchor's date less the lead rounded up to whole days)"
            ),
            None => "strictly before it (on an earlier day when either has only a date)".into(),
        };
        vec![
            format!("Starts: each {} on a case.", event_list(self.anchor)),
            format!(
                "Met by: the earliest {} on the case after the previous {} (if any) and {lead}.",
                event_list(self.expected),
                event_list(self.anchor)
            ),
            "One recorded only on or after the anchor never counts: the row stays not done rather than late. Case closure is ignored.".into(),
        ]
    }

    pub fn parameters(&self) -> Vec<(&'static str, String)> {
        let mut p = vec![
            ("anchor", self.anchor.names().join(", ")),
            ("expected", self.expected.names().join(", ")),
        ];
        if let Some(lead) = self.lead {
            p.push(("lead", lead.to_string()));
        }
        p
    }
}
