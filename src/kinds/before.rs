//! **before**: an expected event ahead of each anchor, optionally by at
//! least a lead time (CMM002, CMM006, CMM007, LVE001).
//!
//! Each anchor event is answered by the earliest expected event on its case
//! lying strictly between the previous anchor (if any) and the anchor.
//! Events on or after the anchor never answer: such a row is not done,
//! never late. An anchor may also be a worker's absence (`absences =
//! "planned"`) with the cover arrangement's recorded time as its answer
//! (`cover_recorded = true`): that answer is taken as written, so a cover
//! recorded after the due date is late.

use super::select::{EventsSpec, Levels, Selector};
use super::{Context, Obligation, Problems, Unit};
use crate::model::{AbsenceKind, Event, EventIdx, WorkerIdx};
use crate::time::{Due, Moment, Span};
use chrono::Days;
use serde::Deserialize;
use toml::Spanned;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    pub anchor: Spanned<EventsSpec>,
    pub expected: Spanned<EventsSpec>,
    /// How long before the anchor the expected event must be, at least.
    pub lead: Option<Spanned<String>>,
}

#[derive(Clone, Debug)]
pub enum Anchor {
    Events(Selector),
    Absences(AbsenceKind),
}

#[derive(Clone, Debug)]
pub struct Before {
    pub anchor: Anchor,
    /// None: the absence's recorded cover arrangement.
    pub expected: Option<Selector>,
    pub lead: Option<Span>,
}

impl Before {
    pub fn compile(spec: &Spec, problems: &mut Problems) -> Option<Before> {
        let (anchor, expected) = match &spec.anchor.get_ref().absences {
            Some(kind) => {
                let Some(kind) = AbsenceKind::parse(kind.get_ref()) else {
                    problems.add(kind.span(), "absences are `planned` or `unplanned`");
                    return None;
                };
                if spec.expected.get_ref().cover_recorded != Some(true) {
                    problems.add(spec.expected.span(), "an `absences` anchor expects `cover_recorded = true`");
                }
                (Anchor::Absences(kind), None)
            }
            None => (Anchor::Events(problems.plain_selector(&spec.anchor)), Some(problems.plain_selector(&spec.expected))),
        };
        let lead = match &spec.lead {
            Some(text) => match problems.span(text)? {
                span @ (Span::Hours(_) | Span::Days(_)) => Some(span),
                _ => {
                    problems.add(text.span(), "a lead time is counted in hours, days or weeks");
                    return None;
                }
            },
            None => None,
        };
        Some(Before { anchor, expected, lead })
    }

    pub fn needs(&self) -> &'static [&'static str] {
        match self.anchor {
            Anchor::Absences(_) => &["absences.csv", "allocations.csv"],
            Anchor::Events(_) => &[],
        }
    }

    /// The latest moment that counts as on time for an anchor at `anchor`.
    fn due(&self, anchor: Moment, answer: Option<Moment>) -> Due {
        let by_date = anchor.bare() || answer.is_some_and(|a| a.bare());
        let date = anchor.date();
        match self.lead {
            None if by_date => Due::Date(date),
            None => Due::at(anchor.at()),
            Some(Span::Hours(h)) if by_date => Due::Date(date - Days::new(h.div_ceil(24) as u64)),
            Some(Span::Hours(h)) => Due::hours_after(anchor.at(), -(h as i64)),
            Some(Span::Days(d)) => Due::Date(date - Days::new(d as u64)),
            Some(_) => unreachable!("compile accepts only hour and day leads"),
        }
    }

    pub fn evaluate(&self, ctx: &Context, unit: Unit, out: &mut Vec<Obligation>) {
        match (&self.anchor, unit) {
            (Anchor::Events(anchor), Unit::Case(case)) => {
                if !ctx.case_has_any(case, anchor.types) {
                    return;
                }
                let expected = self.expected.as_ref().expect("event anchors expect events");
                let record = Some(&ctx.extract.cases[case as usize]);
                let mut levels = Levels::default();
                let mut anchors = Vec::new();
                let mut candidates: Vec<(EventIdx, &Event)> = Vec::new();
                for (i, e) in ctx.case_events(case) {
                    levels.update(e);
                    if anchor.matches(e, record, &levels) {
                        anchors.push((i, e));
                    }
                    if expected.matches(e, record, &levels) {
                        candidates.push((i, e));
                    }
                }
                let mut previous: Option<Moment> = None;
                for (index, anchor) in anchors {
                    let answer = candidates.iter().find(|(_, e)| {
                        e.occurred.strictly_before(anchor.occurred) && previous.is_none_or(|p| p.strictly_before(e.occurred))
                    });
                    let answered_at = answer.map(|(_, e)| e.occurred);
                    out.push(Obligation {
                        case: Some(case),
                        worker: None,
                        trigger_event: Some(index),
                        trigger_record: None,
                        trigger_at: anchor.occurred,
                        due: self.due(anchor.occurred, answered_at),
                        done_event: answer.map(|(i, _)| *i),
                        done_at: answered_at,
                    });
                    previous = Some(anchor.occurred);
                }
            }
            (Anchor::Absences(kind), Unit::Worker(worker)) => self.for_absences(ctx, worker, *kind, out),
            _ => {}
        }
    }

    fn for_absences(&self, ctx: &Context, worker: WorkerIdx, kind: AbsenceKind, out: &mut Vec<Obligation>) {
        let periods = ctx.holding_periods(worker);
        for absence in ctx.extract.absences_of_worker(worker).iter().filter(|a| a.kind == kind) {
            if !super::recurring::holds_on(&periods, absence.starts_on) {
                continue;
            }
            let start = Moment::date_only(absence.starts_on);
            let due = match self.lead {
                Some(Span::Days(d)) => Due::Date(absence.starts_on - Days::new(d as u64)),
                Some(Span::Hours(h)) => Due::Date(absence.starts_on - Days::new(h.div_ceil(24) as u64)),
                _ => Due::Date(absence.starts_on),
            };
            out.push(Obligation {
                case: None,
                worker: Some(worker),
                trigger_event: None,
                trigger_record: Some(super::TriggerRecord::Absence(ctx.extract.absence_index(absence))),
                trigger_at: start,
                due,
                done_event: None,
                done_at: absence.cover_recorded_at,
            });
        }
    }

    pub fn describe(&self) -> Vec<String> {
        let lead = match self.lead {
            Some(span) => format!(
                "at least {span} before it (elapsed time; where either has only a date, by date: the anchor's date less the lead rounded up to whole days)"
            ),
            None => "strictly before it (on an earlier day when either has only a date)".into(),
        };
        match (&self.anchor, &self.expected) {
            (Anchor::Events(anchor), Some(expected)) => vec![
                format!("Starts: each {} on a case.", anchor.describe()),
                format!("Met by: the earliest {} on the case after the previous anchor (if any) and {lead}.", expected.describe()),
                "One recorded only on or after the anchor never counts: the row stays not done rather than late. Case closure is ignored."
                    .into(),
            ],
            (Anchor::Absences(kind), _) => vec![
                format!("Starts: each {} absence of a worker who holds a case on its first day; owed by the absent worker.", kind.name()),
                format!(
                    "Met by: the cover arrangement recorded (cover_recorded_at) {lead}; a cover recorded later is late, none is not done."
                ),
            ],
            _ => vec![],
        }
    }

    pub fn parameters(&self) -> Vec<(&'static str, String)> {
        let mut p = match (&self.anchor, &self.expected) {
            (Anchor::Events(a), Some(e)) => vec![("anchor", a.types.names().join(", ")), ("expected", e.types.names().join(", "))],
            (Anchor::Absences(k), _) => vec![("anchor", format!("{} absences", k.name())), ("expected", "cover recorded".into())],
            _ => vec![],
        };
        if let Some(lead) = self.lead {
            p.push(("lead", lead.to_string()));
        }
        p
    }
}
