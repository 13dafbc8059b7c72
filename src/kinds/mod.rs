//! The rule kinds of the catalogue, one file each.
//!
//! A kind owns three things: the shape of its table in a rule file (serde,
//! unknown keys refused), its validation into a compiled form, and its
//! evaluation over one unit of the extract (a case, a worker, or the events
//! recorded against no case). Evaluation yields [`Obligation`]s: ids and
//! times only; statuses, attribution and text come later, in `findings`.

pub mod allocation;
pub mod before;
pub mod deadline;
pub mod duration;
pub mod recorded;
pub mod recurring;
pub mod select;

use crate::calendar::Calendar;
use crate::model::{CaseIdx, Event, EventIdx, EventSet, EventType, Extract, WorkerIdx};
use crate::time::{Due, Moment, Span, add_days, add_months};
pub use select::EventsSpec;
use std::ops::Range;
use toml::Spanned;

/// What a rule is evaluated over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    Case(CaseIdx),
    Worker(WorkerIdx),
    /// Events with no case_id (worker-level records): the `n`th part of
    /// them (see [`Context::caseless_parts`]), so that a national extract's
    /// million are shared between cores.
    Caseless(u32),
}

pub struct Context<'a> {
    pub extract: &'a Extract,
    pub calendar: &'a Calendar,
    pub as_of: chrono::NaiveDate,
    /// Every worker's holding periods, made once: several rules ask for
    /// them for every worker, and each making looks up every allocation's
    /// case (a cache miss each at national scale: a tenth of the rules
    /// phase when made on every asking).
    holding: recurring::HoldingPeriods,
    /// Every case's event types, made once: most rules start on a few
    /// types, and asking each case's events whether they hold one read
    /// every event (at national scale the whole 1.2 GB list, once a rule).
    case_types: Vec<EventSet>,
    /// Events with no case a [`Unit::Caseless`] part holds.
    caseless_part: usize,
}

impl<'a> Context<'a> {
    pub fn new(extract: &'a Extract, calendar: &'a Calendar, as_of: chrono::NaiveDate) -> Context<'a> {
        use rayon::prelude::*;
        let case_types = (0..extract.cases.len() as CaseIdx)
            .into_par_iter()
            .map(|case| {
                let mut types = EventSet::default();
                for e in extract.events_of_case(case) {
                    types.insert(e.kind);
                }
                types
            })
            .collect();
        Context {
            extract,
            calendar,
            as_of,
            holding: recurring::HoldingPeriods::of_every_worker(extract),
            case_types,
            caseless_part: 1 << 16,
        }
    }

    /// The event types of the whole extract (from every case's, made in
    /// parallel, not by reading 20 million events again on one thread).
    pub fn types_present(&self) -> EventSet {
        let mut present = self.case_types.iter().fold(EventSet::default(), |all, &types| all.union(types));
        for e in self.extract.events_without_case() {
            present.insert(e.kind);
        }
        present
    }

    /// Whether any of a case's events is of one of `types`.
    pub fn case_has_any(&self, case: CaseIdx, types: EventSet) -> bool {
        self.case_types[case as usize].intersects(types)
    }

    /// The periods a worker holds any case, merged, in start order, as
    /// (start, exclusive end): their allocations of any role, each cut at
    /// its case's closure and the worker's leaving date.
    pub fn holding_periods(&self, worker: WorkerIdx) -> &[(Moment, Option<chrono::NaiveDateTime>)] {
        self.holding.of(worker)
    }

    /// A case's events with their global indices.
    pub fn case_events(&self, case: CaseIdx) -> impl Iterator<Item = (EventIdx, &'a Event)> + Clone {
        let start = self.extract.case_events[case as usize].start;
        self.extract.events_of_case(case).iter().enumerate().map(move |(i, e)| (start + i as u32, e))
    }

    /// Events naming a worker, in section 5 order, with their global indices.
    pub fn worker_events(&self, worker: WorkerIdx) -> impl Iterator<Item = (EventIdx, &'a Event)> {
        let extract = self.extract;
        let r = &extract.worker_events[worker as usize];
        extract.worker_event_order[r.start as usize..r.end as usize].iter().map(move |&i| (i, &extract.events[i as usize]))
    }

    /// The parts of the events with no case, in order (at least one).
    pub fn caseless_parts(&self) -> impl Iterator<Item = Unit> + use<> {
        (0..self.extract.events_without_case().len().div_ceil(self.caseless_part).max(1) as u32).map(Unit::Caseless)
    }

    /// Part `part` of the events with no case, with their global indices.
    pub fn caseless_events(&self, part: u32) -> impl Iterator<Item = (EventIdx, &'a Event)> {
        let caseless = self.extract.events_without_case();
        let start = self.extract.events.len() - caseless.len();
        let from = (part as usize * self.caseless_part).min(caseless.len());
        let to = (from + self.caseless_part).min(caseless.len());
        caseless[from..to].iter().enumerate().map(move |(i, e)| ((start + from + i) as u32, e))
    }

    /// The due of a deadline counted from `trigger` (contract section 3).
    /// `answer` matters only for hour limits: a bare date on either side
    /// turns the due into a date.
    pub fn due_after(&self, trigger: Moment, span: Span, answer: Option<Moment>) -> Due {
        let date = trigger.date();
        let clamp = |d: Option<chrono::NaiveDate>| Due::Date(d.unwrap_or(crate::calendar::CALENDAR_END));
        match span {
            Span::Hours(h) if trigger.bare() || answer.is_some_and(|a| a.bare()) => clamp(add_days(date, h.div_ceil(24))),
            Span::Hours(h) => Due::hours_after(trigger.at(), h as i64),
            Span::Days(n) => clamp(add_days(date, n)),
            Span::Months(n) => clamp(add_months(date, n)),
            Span::WorkingDays(n) => clamp(self.calendar.working_days_after(date, n)),
        }
    }
}

/// One obligation found by a rule: the raw material of a findings row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Obligation {
    pub case: Option<CaseIdx>,
    /// Set for worker-level rows (else the primary at the due time is named).
    pub worker: Option<WorkerIdx>,
    pub trigger_event: Option<EventIdx>,
    /// The allocation or absence that started the clock, for rows started
    /// by one (to trace the row to its line, and tell two apart).
    pub trigger_record: Option<TriggerRecord>,
    pub trigger_at: Moment,
    pub due: Due,
    pub done_event: Option<EventIdx>,
    pub done_at: Option<Moment>,
}

/// A record other than an event that starts a clock: its index in the
/// extract's `allocations` or `absences`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TriggerRecord {
    Allocation(u32),
    Absence(u32),
}

/// Problems found while validating a rule file, each with its byte span.
#[derive(Debug, Default)]
pub struct Problems(pub Vec<(Range<usize>, String)>);

impl Problems {
    pub fn add(&mut self, span: Range<usize>, message: impl Into<String>) {
        self.0.push((span, message.into()));
    }

    pub fn span(&mut self, text: &Spanned<String>) -> Option<Span> {
        match Span::parse(text.get_ref()) {
            Ok(span) => Some(span),
            Err(message) => {
                self.add(text.span(), message);
                None
            }
        }
    }

    /// Event names, `prefix.*` patterns allowed, with suggestions for typos.
    pub fn events(&mut self, spec: &EventsSpec) -> EventSet {
        let mut set = EventSet::default();
        let known_before = self.0.len();
        for name in &spec.types {
            for t in self.expand(name) {
                set.insert(t);
            }
        }
        for name in &spec.except {
            for t in self.expand(name) {
                set.remove(t);
            }
        }
        if set.is_empty() && !spec.types.is_empty() && self.0.len() == known_before {
            self.add(spec.types[0].span(), "this list matches no event type");
        }
        set
    }

    fn expand(&mut self, name: &Spanned<String>) -> Vec<EventType> {
        let text = name.get_ref().trim();
        let vocabulary = crate::model::EVENT_TYPES;
        let found: Vec<EventType> = if let Some(prefix) = text.strip_suffix('*') {
            vocabulary.iter().enumerate().filter(|(_, t)| t.starts_with(prefix)).map(|(i, _)| EventType(i as u8)).collect()
        } else {
            EventType::named(text).into_iter().collect()
        };
        if found.is_empty() {
            let hint = crate::text::nearest(text, vocabulary.iter().copied()).map(|n| format!("; did you mean `{n}`?")).unwrap_or_default();
            self.add(name.span(), format!("unknown event type `{text}`{hint} (the vocabulary is in data-contract.md section 1)"));
        }
        found
    }
}

/// A compiled rule kind with its parameters.
#[derive(Clone, Debug)]
pub enum Kind {
    Recorded(recorded::Recorded),
    Deadline(deadline::Deadline),
    Before(before::Before),
    Recurring(recurring::Recurring),
    Duration(duration::Duration),
    Allocation(allocation::AllocationRule),
}

impl Kind {
    pub fn name(&self) -> &'static str {
        match self {
            Kind::Recorded(_) => "recorded",
            Kind::Deadline(_) => "deadline",
            Kind::Before(_) => "before",
            Kind::Recurring(_) => "recurring",
            Kind::Duration(_) => "duration",
            Kind::Allocation(_) => "allocation",
        }
    }

    pub fn evaluate(&self, ctx: &Context, unit: Unit, out: &mut Vec<Obligation>) {
        match self {
            Kind::Recorded(k) => k.evaluate(ctx, unit, out),
            Kind::Deadline(k) => k.evaluate(ctx, unit, out),
            Kind::Before(k) => k.evaluate(ctx, unit, out),
            Kind::Recurring(k) => k.evaluate(ctx, unit, out),
            Kind::Duration(k) => k.evaluate(ctx, unit, out),
            Kind::Allocation(k) => k.evaluate(ctx, unit, out),
        }
    }

    /// Input files the kind cannot be assessed without (besides cases and
    /// events, which every extract has).
    pub fn needs(&self) -> &'static [&'static str] {
        match self {
            Kind::Recurring(k) => k.needs(),
            Kind::Deadline(k) => k.needs(),
            Kind::Before(k) => k.needs(),
            Kind::Allocation(k) => k.needs(),
            Kind::Recorded(_) | Kind::Duration(_) => &[],
        }
    }

    /// Plain-language description of how the kind is judged, for `explain`.
    pub fn describe(&self) -> Vec<String> {
        match self {
            Kind::Recorded(k) => k.describe(),
            Kind::Deadline(k) => k.describe(),
            Kind::Before(k) => k.describe(),
            Kind::Recurring(k) => k.describe(),
            Kind::Duration(k) => k.describe(),
            Kind::Allocation(k) => k.describe(),
        }
    }

    /// The event types that start this rule's obligations, when events do:
    /// an extract with none of them cannot be assessed for it.
    pub fn trigger_types(&self) -> Option<crate::model::EventSet> {
        match self {
            Kind::Recorded(k) => Some(k.events.types),
            Kind::Deadline(k) => match &k.trigger {
                deadline::Trigger::Events(s) => Some(s.types),
                _ => None,
            },
            Kind::Before(k) => match &k.anchor {
                before::Anchor::Events(s) => Some(s.types),
                before::Anchor::Absences(_) => None,
            },
            Kind::Duration(k) => Some(k.start.types),
            Kind::Recurring(k) => match &k.condition {
                recurring::Condition::AfterEvent { start, .. } => Some(start.types),
                _ => None,
            },
            Kind::Allocation(_) => None,
        }
    }

    /// The parameters a service may override in its configuration.
    pub fn settable(&self) -> &'static [&'static str] {
        match self {
            Kind::Recorded(_) | Kind::Deadline(_) | Kind::Duration(_) => &["within"],
            Kind::Before(_) => &["lead"],
            Kind::Recurring(r) if matches!(r.condition, recurring::Condition::Risk(_)) => &["every", "at_least"],
            Kind::Recurring(_) => &["every"],
            Kind::Allocation(a) => match a.check {
                allocation::Check::SeniorWhenRisk(_) => &["at_least"],
                allocation::Check::SeniorAfterRiskRise { .. } => &["within", "at_least"],
                _ => &[],
            },
        }
    }

    /// Overrides one parameter (a service's local choice).
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), String> {
        let span = || Span::parse(value);
        let level =
            || crate::model::Level::parse(value).ok_or_else(|| format!("`{value}` is not a level: use low, medium, high or very_high"));
        match (self, key) {
            (Kind::Recorded(k), "within") => k.within = span()?,
            (Kind::Deadline(k), "within") => k.within = span()?,
            (Kind::Duration(k), "within") => k.within = span()?,
            (Kind::Before(k), "lead") => match span()? {
                s @ (Span::Hours(_) | Span::Days(_)) => k.lead = Some(s),
                _ => return Err("a lead time is counted in hours, days or weeks".into()),
            },
            (Kind::Recurring(k), "every") => k.every = span()?,
            (Kind::Recurring(k), "at_least") => match &mut k.condition {
                recurring::Condition::Risk(t) => t.at_least = level()?,
                _ => return Err("`at_least` applies only to a risk condition".into()),
            },
            (Kind::Allocation(k), key) => match (&mut k.check, key) {
                (allocation::Check::SeniorWhenRisk(t), "at_least") => t.at_least = level()?,
                (allocation::Check::SeniorAfterRiskRise { threshold, .. }, "at_least") => threshold.at_least = level()?,
                (allocation::Check::SeniorAfterRiskRise { within, .. }, "within") => *within = span()?,
                _ => return Err(format!("`{key}` cannot be set for this rule")),
            },
            (_, key) => return Err(format!("`{key}` cannot be set for this rule")),
        }
        Ok(())
    }

    /// Parameters as (name, value) for `rules list` and the manifest.
    pub fn parameters(&self) -> Vec<(&'static str, String)> {
        match self {
            Kind::Recorded(k) => k.parameters(),
            Kind::Deadline(k) => k.parameters(),
            Kind::Before(k) => k.parameters(),
            Kind::Recurring(k) => k.parameters(),
            Kind::Duration(k) => k.parameters(),
            Kind::Allocation(k) => k.parameters(),
        }
    }
}

/// Human list of event names: "`a`, `b` or `c`".
pub fn event_list(set: EventSet) -> String {
    let names: Vec<String> = set.names().into_iter().map(|n| format!("`{n}`")).collect();
    match names.len() {
        0 => "(none)".into(),
        1 => names[0].clone(),
        n => format!("{} or {}", names[..n - 1].join(", "), names[n - 1]),
    }
}

/// How a limit is counted, in words.
pub fn counting(span: Span) -> &'static str {
    match span {
        Span::Hours(_) => {
            "elapsed hours (clock changes count; where either side has only a date, compared by date: the due date is the start date plus the hours rounded up to whole days)"
        }
        Span::Days(_) => "calendar days from the date of the start (weekends and bank holidays count)",
        Span::Months(_) => "calendar months: the same day N months later, or the month's last day",
        Span::WorkingDays(_) => {
            "working days after the start date, not counting it: Monday to Friday except England and Wales bank holidays and the service's closure days"
        }
    }
}

#[cfg(test)]
mod tests {
    /// The events with no case evaluated in parts give the findings that
    /// one part of them all gives, in the same order.
    #[test]
    fn caseless_events_in_parts_give_what_they_give_whole() {
        let ingest = crate::generate::generated_ingest(300, 5);
        let extract = &ingest.extract;
        let as_of = crate::time::parse_date("2026-11-23").unwrap();
        let rules_folder = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
        let (rule_set, _, calendar) = crate::load_rules(&rules_folder, None).unwrap();
        let whole = super::Context::new(extract, &calendar, as_of);
        let (rules, _) = crate::engine::assessable(&rule_set.rules, &whole);
        let parted = super::Context { caseless_part: 7, ..super::Context::new(extract, &calendar, as_of) };
        assert!(extract.events_without_case().len() > 3 * 7, "the fixture has several parts of events with no case");
        assert_eq!(whole.caseless_parts().count(), 1);
        assert!(parted.caseless_parts().count() > 3);
        let found = |ctx: &super::Context| crate::engine::evaluate(&rules, ctx).iter().map(|f| format!("{f:?}")).collect::<Vec<_>>();
        assert_eq!(found(&parted), found(&whole));
    }
}
