//! **deadline**: after each trigger, an answer within a time (CMM001 and
//! most of the catalogue).
//!
//! Triggers are events (optionally narrowed, see `select`), a case's
//! allocations in some roles, the case opening, its first allocation in a
//! role, or a worker's absences. Answers are events (the case's first at or
//! after the trigger, so one answer serves every earlier open trigger), all
//! of several events (done when the last arrives), an allocation (the
//! earliest current at the trigger or starting later), or, for absences,
//! events linked to the absent worker or their cases. Closure cancels
//! nothing, unless `until` bounds the window (TRF002).

use super::select::{EventsSpec, Levels, Selector};
use super::{Context, Obligation, Problems, TriggerRecord, Unit, counting};
use crate::model::{AbsenceKind, Allocation, AllocationRole, CaseIdx, Event, EventIdx, StaffRole, WorkerIdx};
use crate::time::{Moment, Span};
use chrono::NaiveDate;
use serde::Deserialize;
use toml::Spanned;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    pub trigger: Spanned<EventsSpec>,
    pub answer: Spanned<EventsSpec>,
    pub within: Spanned<String>,
    /// The window closes when one of these events (or closure) ends it;
    /// an answer after that never counts, and an unanswered window that
    /// closed by its due date gives no row.
    pub until: Option<Spanned<EventsSpec>>,
    pub until_closure: Option<bool>,
}

#[derive(Clone, Debug)]
pub enum Trigger {
    Events(Selector),
    Allocations(Vec<AllocationRole>),
    CaseOpened,
    FirstAllocation(AllocationRole),
    Absences { kind: AbsenceKind, lasting_over: Option<u32> },
}

#[derive(Clone, Debug)]
pub enum Answer {
    Events(Selector),
    AllOf(Vec<Selector>),
    Allocation { roles: Vec<AllocationRole>, senior: bool },
    LinkedEvents(Selector),
}

#[derive(Clone, Debug)]
pub struct Deadline {
    pub trigger: Trigger,
    pub answer: Answer,
    pub within: Span,
    pub until: Option<(Selector, bool)>,
}

/// Senior means `senior_case_manager`, `advanced_practitioner` or
/// `team_manager` (contract section 6).
pub fn is_senior(role: Option<StaffRole>) -> bool {
    matches!(role, Some(StaffRole::SeniorCaseManager | StaffRole::AdvancedPractitioner | StaffRole::TeamManager))
}

/// The first of `answers` (in case order) at or after `from`.
pub fn first_at_or_after<'a>(answers: &[(EventIdx, &'a Event)], from: Moment) -> Option<(EventIdx, &'a Event)> {
    let start = answers.partition_point(|(_, e)| e.occurred.date() < from.date());
    answers[start..].iter().find(|(_, e)| e.occurred.at_or_after(from)).copied()
}

/// A case's events that `selector` picks, with their global indices.
/// `levels` holds the case's levels after each event, or nothing when no
/// selector of the rule asks for them.
fn selected<'a, 'c>(
    ctx: &'c Context<'a>,
    case: CaseIdx,
    levels: &'c [Levels],
    selector: &'c Selector,
) -> impl Iterator<Item = (EventIdx, &'a Event)> + 'c {
    let record = &ctx.extract.cases[case as usize];
    ctx.case_events(case)
        .enumerate()
        .filter(move |&(n, (_, e))| selector.matches(e, Some(record), &levels.get(n).copied().unwrap_or_default()))
        .map(|(_, event)| event)
}

fn roles(problems: &mut Problems, names: &[Spanned<String>]) -> Vec<AllocationRole> {
    names
        .iter()
        .filter_map(|n| {
            AllocationRole::parse(n.get_ref()).or_else(|| {
                problems
                    .add(n.span(), format!("`{}` is not an allocation role: use primary, co_allocated, paired or student", n.get_ref()));
                None
            })
        })
        .collect()
}

impl Problems {
    /// An event selector and nothing else, with at least one type.
    pub fn plain_selector(&mut self, spec: &Spanned<EventsSpec>) -> Selector {
        let keys = spec.get_ref().source_keys();
        if !keys.is_empty() {
            self.add(spec.span(), format!("`{}` cannot be used here: this table selects events by `types`", keys.join("`, `")));
        }
        if spec.get_ref().types.is_empty() {
            self.add(spec.span(), "name the event types with `types = [...]`");
        }
        self.selector(spec.get_ref())
    }
}

impl Deadline {
    pub fn compile(spec: &Spec, problems: &mut Problems) -> Option<Deadline> {
        let t = spec.trigger.get_ref();
        let trigger = if let Some(names) = &t.allocations {
            Trigger::Allocations(roles(problems, names))
        } else if t.case_opened == Some(true) {
            Trigger::CaseOpened
        } else if let Some(role) = &t.first_allocation {
            Trigger::FirstAllocation(roles(problems, std::slice::from_ref(role)).into_iter().next()?)
        } else if let Some(kind) = &t.absences {
            let Some(kind) = AbsenceKind::parse(kind.get_ref()) else {
                problems.add(kind.span(), "absences are `planned` or `unplanned`");
                return None;
            };
            let lasting_over = match &t.lasting_over {
                Some(text) => match problems.span(text)? {
                    Span::Days(d) => Some(d),
                    _ => {
                        problems.add(text.span(), "`lasting_over` is counted in days or weeks");
                        None
                    }
                },
                None => None,
            };
            Trigger::Absences { kind, lasting_over }
        } else {
            Trigger::Events(problems.plain_selector(&spec.trigger))
        };
        let a = spec.answer.get_ref();
        let answer = if let Some(all) = &a.all_of {
            Answer::AllOf(all.iter().map(|s| problems.selector(s)).collect())
        } else if let Some(names) = &a.allocations {
            Answer::Allocation { roles: roles(problems, names), senior: a.senior.unwrap_or(false) }
        } else if a.linked_to_absence == Some(true) {
            Answer::LinkedEvents(problems.selector(a))
        } else {
            Answer::Events(problems.plain_selector(&spec.answer))
        };
        if matches!(trigger, Trigger::Absences { .. }) != matches!(answer, Answer::LinkedEvents(_)) {
            problems.add(spec.answer.span(), "an `absences` trigger is answered by events with `linked_to_absence = true`, and only it");
        }
        let within = problems.span(&spec.within)?;
        let until = spec.until.as_ref().map(|u| (problems.plain_selector(u), spec.until_closure.unwrap_or(false)));
        Some(Deadline { trigger, answer, within, until })
    }

    /// Every event selector the rule uses.
    fn selectors(&self) -> impl Iterator<Item = &Selector> {
        let trigger = match &self.trigger {
            Trigger::Events(s) => Some(s),
            _ => None,
        };
        let answer: &[Selector] = match &self.answer {
            Answer::Events(s) | Answer::LinkedEvents(s) => std::slice::from_ref(s),
            Answer::AllOf(all) => all,
            Answer::Allocation { .. } => &[],
        };
        trigger.into_iter().chain(answer).chain(self.until.as_ref().map(|(s, _)| s))
    }

    pub fn needs(&self) -> &'static [&'static str] {
        match (&self.trigger, &self.answer) {
            (Trigger::Absences { .. }, _) => &["absences.csv", "allocations.csv"],
            (_, Answer::Allocation { senior: true, .. }) => &["allocations.csv", "staff.csv"],
            (Trigger::Allocations(_) | Trigger::FirstAllocation(_), _) | (_, Answer::Allocation { .. }) => &["allocations.csv"],
            _ => &[],
        }
    }

    pub fn evaluate(&self, ctx: &Context, unit: Unit, out: &mut Vec<Obligation>) {
        match (unit, &self.trigger) {
            (Unit::Worker(worker), Trigger::Absences { kind, lasting_over }) => self.for_absences(ctx, worker, *kind, *lasting_over, out),
            (Unit::Case(case), trigger) if !matches!(trigger, Trigger::Absences { .. }) => self.for_case(ctx, case, out),
            _ => {}
        }
    }

    fn for_case(&self, ctx: &Context, case: CaseIdx, out: &mut Vec<Obligation>) {
        let record = &ctx.extract.cases[case as usize];
        // Most cases have no trigger for most rules: look before allocating.
        if let Trigger::Events(selector) = &self.trigger
            && !ctx.case_has_any(case, selector.types)
        {
            return;
        }
        // The case's levels after each event, made only for a rule that
        // asks for them (a selector with no risk threshold never reads them).
        let levels: Vec<Levels> = if self.selectors().any(|s| s.risk.is_some()) {
            let mut running = Levels::default();
            ctx.extract
                .events_of_case(case)
                .iter()
                .map(|e| {
                    running.update(e);
                    running
                })
                .collect()
        } else {
            Vec::new()
        };
        let chosen = |selector: &Selector| -> Vec<(EventIdx, &Event)> { selected(ctx, case, &levels, selector).collect() };
        // (trigger event, trigger allocation, trigger_at as written, moment answers are compared with)
        let mut triggers: Vec<(Option<EventIdx>, Option<TriggerRecord>, Moment, Moment)> = Vec::new();
        let index = |a: &Allocation| Some(TriggerRecord::Allocation(ctx.extract.allocation_index(a)));
        match &self.trigger {
            Trigger::Events(selector) => {
                triggers.extend(selected(ctx, case, &levels, selector).map(|(i, e)| (Some(i), None, e.occurred, e.occurred)))
            }
            Trigger::Allocations(roles) => triggers.extend(
                ctx.extract
                    .allocations_of_case(case)
                    .iter()
                    .filter(|a| roles.contains(&a.role) && a.holds_anything())
                    .map(|a| (None, index(a), a.from, a.from)),
            ),
            Trigger::CaseOpened => triggers.push((None, None, Moment::date_only(record.opened_on), Moment::date_only(record.opened_on))),
            Trigger::FirstAllocation(role) => {
                // Two made at the same moment: the lower worker id, whatever the file's order.
                if let Some(first) = ctx
                    .extract
                    .allocations_of_case(case)
                    .iter()
                    .filter(|a| a.role == *role && a.holds_anything())
                    .min_by_key(|a| (a.from.at(), ctx.extract.worker_rank[a.worker as usize]))
                {
                    triggers.push((None, index(first), first.from, Moment::date_only(first.from.date())));
                }
            }
            Trigger::Absences { .. } => return,
        }
        // Answers are looked for only where something needs one.
        if triggers.is_empty() {
            return;
        }
        let (answers, answers_of_each): (Vec<(EventIdx, &Event)>, Vec<Vec<(EventIdx, &Event)>>) = match &self.answer {
            Answer::Events(s) | Answer::LinkedEvents(s) => (chosen(s), Vec::new()),
            Answer::AllOf(all) => (Vec::new(), all.iter().map(chosen).collect()),
            Answer::Allocation { .. } => (Vec::new(), Vec::new()),
        };
        let until: Vec<(EventIdx, &Event)> = self.until.as_ref().map(|(s, _)| chosen(s)).unwrap_or_default();
        for (trigger_event, trigger_record, trigger_at, from) in triggers {
            let answer: Option<(Option<EventIdx>, Moment)> = match &self.answer {
                Answer::Events(_) | Answer::LinkedEvents(_) => first_at_or_after(&answers, from).map(|(i, e)| (Some(i), e.occurred)),
                Answer::AllOf(_) => {
                    let each: Option<Vec<(EventIdx, &Event)>> = answers_of_each.iter().map(|list| first_at_or_after(list, from)).collect();
                    each.and_then(|each| {
                        each.into_iter().max_by(|a, b| a.1.occurred.at().cmp(&b.1.occurred.at()).then_with(|| a.1.rank.cmp(&b.1.rank)))
                    })
                    .map(|(i, e)| (Some(i), e.occurred))
                }
                Answer::Allocation { roles, senior } => self.allocation_answer(ctx, case, trigger_at, roles, *senior).map(|m| (None, m)),
            };
            let due = ctx.due_after(trigger_at, self.within, answer.map(|a| a.1));
            let answer = match &self.until {
                Some((_, closure)) => {
                    let closed = record.closed_on.filter(|_| *closure);
                    let end_event = first_at_or_after(&until, from).map(|(_, e)| e.occurred.date());
                    let window_end: Option<NaiveDate> = match (end_event, closed) {
                        (Some(e), Some(c)) => Some(e.min(c)),
                        (e, c) => e.or(c),
                    };
                    let answer = answer.filter(|(_, at)| window_end.is_none_or(|end| at.date() <= end));
                    if answer.is_none() && window_end.is_some_and(|end| end <= due.date()) {
                        continue;
                    }
                    answer
                }
                None => answer,
            };
            out.push(Obligation {
                case: Some(case),
                worker: None,
                trigger_event,
                trigger_record,
                trigger_at,
                due,
                done_event: answer.and_then(|a| a.0),
                done_at: answer.map(|a| a.1),
            });
        }
    }

    /// The allocation in `roles` (to a senior worker if asked) with the
    /// earliest start among those current at the trigger (a bare date: at
    /// 23:59:59) or starting later.
    fn allocation_answer(&self, ctx: &Context, case: CaseIdx, at: Moment, roles: &[AllocationRole], senior: bool) -> Option<Moment> {
        let t = if at.bare() { at.date().and_hms_opt(23, 59, 59).expect("valid time") } else { at.at() };
        ctx.extract
            .allocations_of_case(case)
            .iter()
            .filter(|a| roles.contains(&a.role) && a.holds_anything())
            .filter(|a| !senior || is_senior(ctx.extract.staff(a.worker).map(|s| s.role)))
            .filter(|a| a.is_current_at(t) || a.start() > t)
            .min_by_key(|a| a.from.at())
            .map(|a| a.from)
    }

    fn for_absences(&self, ctx: &Context, worker: WorkerIdx, kind: AbsenceKind, lasting_over: Option<u32>, out: &mut Vec<Obligation>) {
        let Answer::LinkedEvents(selector) = &self.answer else {
            return;
        };
        let periods = ctx.holding_periods(worker);
        for absence in ctx.extract.absences_of_worker(worker).iter().filter(|a| a.kind == kind) {
            let start = absence.starts_on;
            if !super::recurring::holds_on(&periods, start) {
                continue;
            }
            if let Some(days) = lasting_over {
                let long_enough = match absence.ends_on {
                    Some(end) => end >= start + chrono::Days::new(days as u64),
                    None => ctx.as_of >= start + chrono::Days::new(days as u64),
                };
                if !long_enough {
                    continue;
                }
            }
            // The earliest answer (then the lowest id) among the worker's
            // events and those of the cases they held that day; a case with
            // no event of the answer's types is not read.
            let held = cases_held_on(ctx, worker, start);
            let held_events = held.iter().filter(|&&case| ctx.case_has_any(case, selector.types)).flat_map(|&case| ctx.case_events(case));
            let answer = ctx
                .worker_events(worker)
                .chain(held_events)
                .filter(|(_, e)| selector.types.contains(e.kind) && e.occurred.date() >= start)
                .min_by(|a, b| a.1.occurred.at().cmp(&b.1.occurred.at()).then_with(|| a.1.rank.cmp(&b.1.rank)));
            let trigger_at = Moment::date_only(start);
            out.push(Obligation {
                case: None,
                worker: Some(worker),
                trigger_event: None,
                trigger_record: Some(TriggerRecord::Absence(ctx.extract.absence_index(absence))),
                trigger_at,
                due: ctx.due_after(trigger_at, self.within, None),
                done_event: answer.map(|a| a.0),
                done_at: answer.map(|a| a.1.occurred),
            });
        }
    }

    pub fn describe(&self) -> Vec<String> {
        let mut lines = vec![match &self.trigger {
            Trigger::Events(s) => format!("Starts: each {} on a case.", s.describe()),
            Trigger::Allocations(r) => format!("Starts: each {} allocation, from its start.", role_list(r)),
            Trigger::CaseOpened => "Starts: the date the case opened.".into(),
            Trigger::FirstAllocation(r) => {
                format!("Starts: the start of the case's first {} allocation (later reallocations add nothing).", r.name())
            }
            Trigger::Absences { kind, lasting_over } => format!(
                "Starts: each {} absence of a worker holding a case on its first day{}; owed by the absent worker.",
                kind.name(),
                lasting_over
                    .map(|d| format!(
                        ", lasting over {} (ended at least {d} days after it began, or still running that long at the as-of date)",
                        Span::Days(d)
                    ))
                    .unwrap_or_default()
            ),
        }];
        lines.push(match &self.answer {
            Answer::Events(s) => format!(
                "Met by: the case's first {} at or after it (the same day counts when either has only a date), no later than {} after it. One answer serves every earlier open trigger; closing the case cancels nothing.",
                s.describe(),
                self.within
            ),
            Answer::AllOf(all) => format!(
                "Met by: all of {}, each the first at or after it; done when the last of them is recorded, no later than {} after it.",
                all.iter().map(|s| s.describe()).collect::<Vec<_>>().join(" and "),
                self.within
            ),
            Answer::Allocation { roles, senior } => format!(
                "Met by: a {}{} allocation in place: one already current at the trigger counts, else the earliest starting later; no later than {} after it.",
                if *senior { "senior (senior case manager, advanced practitioner or team manager) " } else { "" },
                role_list(roles),
                self.within
            ),
            Answer::LinkedEvents(s) => format!(
                "Met by: the earliest {} dated on or after the absence's first day, recorded against the absent worker or a case they held that day, no later than {} after it.",
                s.describe(),
                self.within
            ),
        });
        if let Some((until, closure)) = &self.until {
            lines.push(format!(
                "The window ends with the first {}{}; an answer after that does not count, and a window that ended unanswered by the due date gives no row.",
                until.describe(),
                if *closure { " or the case's closure" } else { "" }
            ));
        }
        lines.push(format!("Counted in {}.", counting(self.within)));
        lines
    }

    pub fn parameters(&self) -> Vec<(&'static str, String)> {
        let trigger = match &self.trigger {
            Trigger::Events(s) => s.types.names().join(", "),
            Trigger::Allocations(r) => format!("allocations: {}", role_list(r)),
            Trigger::CaseOpened => "case opened".into(),
            Trigger::FirstAllocation(r) => format!("first {} allocation", r.name()),
            Trigger::Absences { kind, .. } => format!("{} absences", kind.name()),
        };
        let answer = match &self.answer {
            Answer::Events(s) | Answer::LinkedEvents(s) => s.types.names().join(", "),
            Answer::AllOf(all) => all.iter().map(|s| s.types.names().join(", ")).collect::<Vec<_>>().join(" + "),
            Answer::Allocation { roles, senior } => format!("{}{} allocation", if *senior { "senior " } else { "" }, role_list(roles)),
        };
        vec![("trigger", trigger), ("answer", answer), ("within", self.within.to_string())]
    }
}

fn role_list(roles: &[AllocationRole]) -> String {
    roles.iter().map(|r| r.name()).collect::<Vec<_>>().join(" or ")
}

/// Cases a worker held (any allocation, cut at closure) on a date.
pub fn cases_held_on(ctx: &Context, worker: WorkerIdx, date: NaiveDate) -> Vec<CaseIdx> {
    let day_start = date.and_time(chrono::NaiveTime::MIN);
    let day_end = crate::model::end_of_day_exclusive(date);
    let mut cases: Vec<CaseIdx> = ctx
        .extract
        .allocations_of_worker(worker)
        .filter(|a| a.holds_anything())
        .filter(|a| {
            let closed = ctx.extract.cases[a.case as usize].closed_after();
            let end = [a.end(), closed].into_iter().flatten().min();
            a.start() < day_end && end.is_none_or(|end| end > day_start && end > a.start())
        })
        .map(|a| a.case)
        .collect();
    cases.sort_unstable();
    cases.dedup();
    cases
}
