//! **allocation**: who holds a case must satisfy a condition (ALC001 to
//! ALC007).
//!
//! A row per allocation the check applies to (per case, or per worker for
//! `buddy`), trigger_at = the allocation's `from` as written and due_at =
//! its date, so a fix the same day is `met`. Already compliant: `met` with
//! done_at = the `from` of the allocation that makes it so. Fixed later:
//! done_at = the fix, `late` by the days since. Never fixed: not done.
//!
//! Each check is a general capability with parameters (`check = ...`):
//! - `senior_when_risk`: primary allocations made while `track` levels are
//!   at least `at_least` go to a senior worker (ALC001).
//! - `senior_after_risk_rise`: a case whose levels rise to `at_least` while
//!   a junior (`junior_roles`) primary holds it gets a senior co-allocated
//!   or primary worker `within` a time (ALC002).
//! - `worker_gender`: primary allocations go to a worker of `gender` unless
//!   an `unless` event (a recorded rationale) follows (ALC003).
//! - `worker_not_absent`: no allocation to a worker absent that day (ALC004).
//! - `student_has_primary`: a student's allocation has a non-student
//!   primary alongside (ALC005).
//! - `has_role`: the case has an allocation in `role` from its opening
//!   (ALC006: a paired worker).
//! - `buddy`: every worker holding a case on the as-of date has a buddy
//!   who is still in post (ALC007, worker-level).

use super::deadline::is_senior;
use super::select::{EventsSpec, Levels, RiskThreshold, Selector};
use super::{Context, Obligation, Problems, TriggerRecord, Unit};
use crate::model::{Allocation, AllocationRole, CaseIdx, Gender, StaffRole, WorkerIdx, end_of_day_exclusive};
use crate::time::{Due, Moment, Span};
use serde::Deserialize;
use toml::Spanned;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    pub check: Spanned<String>,
    pub track: Option<Vec<Spanned<String>>>,
    pub at_least: Option<Spanned<String>>,
    pub junior_roles: Option<Vec<Spanned<String>>>,
    pub within: Option<Spanned<String>>,
    pub gender: Option<Spanned<String>>,
    pub unless: Option<Spanned<EventsSpec>>,
    pub role: Option<Spanned<String>>,
}

#[derive(Clone, Debug)]
pub enum Check {
    SeniorWhenRisk(RiskThreshold),
    SeniorAfterRiskRise { threshold: RiskThreshold, junior: Vec<StaffRole>, within: Span },
    WorkerGender { gender: Gender, unless: Selector },
    WorkerNotAbsent,
    StudentHasPrimary,
    HasRole(AllocationRole),
    Buddy,
}

const CHECKS: &[&str] =
    &["senior_when_risk", "senior_after_risk_rise", "worker_gender", "worker_not_absent", "student_has_primary", "has_role", "buddy"];

#[derive(Clone, Debug)]
pub struct AllocationRule {
    pub check: Check,
}

impl AllocationRule {
    pub fn compile(spec: &Spec, problems: &mut Problems) -> Option<AllocationRule> {
        let name = spec.check.get_ref().as_str();
        let anchor = spec.check.span();
        let allowed: &[&str] = match name {
            "senior_when_risk" => &["track", "at_least"],
            "senior_after_risk_rise" => &["track", "at_least", "junior_roles", "within"],
            "worker_gender" => &["gender", "unless"],
            "has_role" => &["role"],
            _ => &[],
        };
        for (key, present) in [
            ("track", spec.track.is_some()),
            ("at_least", spec.at_least.is_some()),
            ("junior_roles", spec.junior_roles.is_some()),
            ("within", spec.within.is_some()),
            ("gender", spec.gender.is_some()),
            ("unless", spec.unless.is_some()),
            ("role", spec.role.is_some()),
        ] {
            if present && !allowed.contains(&key) {
                problems.add(anchor.clone(), format!("`{key}` does not apply to the `{name}` check"));
            }
        }
        let threshold = |problems: &mut Problems| match &spec.at_least {
            Some(level) => problems.risk(level, spec.track.as_ref(), anchor.clone()),
            None => {
                problems.add(anchor.clone(), format!("the `{name}` check needs `at_least` and `track`"));
                None
            }
        };
        let check = match name {
            "senior_when_risk" => Check::SeniorWhenRisk(threshold(problems)?),
            "senior_after_risk_rise" => {
                let threshold = threshold(problems);
                let junior: Vec<StaffRole> = spec
                    .junior_roles
                    .iter()
                    .flatten()
                    .filter_map(|r| {
                        StaffRole::parse(r.get_ref()).or_else(|| {
                            problems.add(r.span(), format!("`{}` is not a staff role", r.get_ref()));
                            None
                        })
                    })
                    .collect();
                let Some(within) = &spec.within else {
                    problems.add(anchor, "the `senior_after_risk_rise` check needs `within`");
                    return None;
                };
                Check::SeniorAfterRiskRise { threshold: threshold?, junior, within: problems.span(within)? }
            }
            "worker_gender" => {
                let gender = spec.gender.as_ref().and_then(|g| Gender::parse(g.get_ref()));
                let Some(gender) = gender else {
                    problems.add(anchor, "the `worker_gender` check needs `gender = \"F\"` (F, M or X)");
                    return None;
                };
                let unless = match &spec.unless {
                    Some(u) => problems.plain_selector(u),
                    None => Selector::default(),
                };
                Check::WorkerGender { gender, unless }
            }
            "worker_not_absent" => Check::WorkerNotAbsent,
            "student_has_primary" => Check::StudentHasPrimary,
            "has_role" => {
                let role = spec.role.as_ref().and_then(|r| AllocationRole::parse(r.get_ref()));
                let Some(role) = role else {
                    problems.add(anchor, "the `has_role` check needs `role` (primary, co_allocated, paired or student)");
                    return None;
                };
                Check::HasRole(role)
            }
            "buddy" => Check::Buddy,
            other => {
                let hint =
                    crate::text::nearest(other, CHECKS.iter().copied()).map(|n| format!("; did you mean `{n}`?")).unwrap_or_default();
                problems.add(anchor, format!("unknown check `{other}`{hint} (known: {})", CHECKS.join(", ")));
                return None;
            }
        };
        Some(AllocationRule { check })
    }

    pub fn needs(&self) -> &'static [&'static str] {
        match self.check {
            Check::WorkerNotAbsent => &["allocations.csv", "absences.csv"],
            Check::HasRole(_) => &["allocations.csv"],
            _ => &["allocations.csv", "staff.csv"],
        }
    }

    pub fn evaluate(&self, ctx: &Context, unit: Unit, out: &mut Vec<Obligation>) {
        match (&self.check, unit) {
            (Check::Buddy, Unit::Worker(worker)) => buddy(ctx, worker, out),
            (Check::Buddy, _) => {}
            (check, Unit::Case(case)) => {
                let row = |a: &Allocation, done: Option<(Option<u32>, Moment)>| Obligation {
                    case: Some(case),
                    worker: None,
                    trigger_event: None,
                    trigger_record: Some(TriggerRecord::Allocation(ctx.extract.allocation_index(a))),
                    trigger_at: a.from,
                    due: Due::Date(a.from.date()),
                    done_event: done.and_then(|d| d.0),
                    done_at: done.map(|d| d.1),
                };
                let allocations: Vec<&Allocation> = ctx.extract.allocations_of_case(case).iter().filter(|a| a.holds_anything()).collect();
                let role_of = |w: WorkerIdx| ctx.extract.staff(w).map(|s| s.role);
                match check {
                    Check::SeniorWhenRisk(threshold) => {
                        for a in allocations.iter().filter(|a| a.role == AllocationRole::Primary) {
                            let mut levels = Levels::default();
                            for (_, e) in ctx.case_events(case).filter(|(_, e)| a.from.at_or_after(e.occurred)) {
                                levels.update(e);
                            }
                            if !levels.reaches(&threshold.track, threshold.at_least) {
                                continue;
                            }
                            let fix = if is_senior(role_of(a.worker)) {
                                Some(a.from)
                            } else {
                                allocations
                                    .iter()
                                    .filter(|b| {
                                        b.role == AllocationRole::Primary && a.from.strictly_before(b.from) && is_senior(role_of(b.worker))
                                    })
                                    .min_by_key(|b| b.from.at())
                                    .map(|b| b.from)
                            };
                            out.push(row(a, fix.map(|m| (None, m))));
                        }
                    }
                    Check::SeniorAfterRiskRise { threshold, junior, within } => {
                        senior_after_rise(ctx, case, threshold, junior, *within, &allocations, out)
                    }
                    Check::WorkerGender { gender, unless } => {
                        let record = &ctx.extract.cases[case as usize];
                        let none = Levels::default();
                        let rationales: Vec<(u32, Moment)> = ctx
                            .case_events(case)
                            .filter(|(_, e)| unless.matches(e, Some(record), &none))
                            .map(|(i, e)| (i, e.occurred))
                            .collect();
                        for a in allocations.iter().filter(|a| a.role == AllocationRole::Primary) {
                            let done = if ctx.extract.staff(a.worker).and_then(|s| s.gender) == Some(*gender) {
                                Some((None, a.from))
                            } else {
                                rationales.iter().find(|(_, at)| at.date() >= a.from.date()).map(|(i, at)| (Some(*i), *at))
                            };
                            out.push(row(a, done));
                        }
                    }
                    Check::WorkerNotAbsent => {
                        let closed_next = ctx.extract.cases[case as usize].closed_on.and_then(|c| c.succ_opt());
                        for a in &allocations {
                            let date = a.from.date();
                            let covering: Vec<_> = ctx
                                .extract
                                .absences_of_worker(a.worker)
                                .iter()
                                .filter(|x| x.starts_on <= date && x.ends_on.is_none_or(|end| date <= end))
                                .collect();
                            if covering.is_empty() {
                                out.push(row(a, Some((None, a.from))));
                                continue;
                            }
                            let absence_over = if covering.iter().any(|x| x.ends_on.is_none()) {
                                None
                            } else {
                                covering.iter().filter_map(|x| x.ends_on).max().and_then(|d| d.succ_opt())
                            };
                            // Candidates by date; on an equal date a day-after (bare) wins.
                            let mut fixes: Vec<Moment> = [absence_over, closed_next].into_iter().flatten().map(Moment::date_only).collect();
                            fixes.extend(a.to);
                            let fix = fixes.into_iter().min_by_key(|m| (m.date(), !m.bare()));
                            out.push(row(a, fix.map(|m| (None, m))));
                        }
                    }
                    Check::StudentHasPrimary => {
                        let is_student = |w: WorkerIdx| role_of(w) == Some(StaffRole::Student);
                        let closed = ctx.extract.cases[case as usize].closed_after();
                        for s in allocations.iter().filter(|a| a.role == AllocationRole::Student || is_student(a.worker)) {
                            let others = || {
                                allocations
                                    .iter()
                                    .filter(|p| p.role == AllocationRole::Primary && !is_student(p.worker) && !std::ptr::eq(**p, *s))
                            };
                            let current = others().filter(|p| p.is_current_at(s.start())).max_by_key(|p| p.from.at()).map(|p| p.from);
                            let ends = [s.end(), closed].into_iter().flatten().min();
                            let later = || {
                                others()
                                    .filter(|p| p.start() > s.start() && ends.is_none_or(|end| p.start() < end))
                                    .min_by_key(|p| p.from.at())
                                    .map(|p| p.from)
                            };
                            out.push(row(s, current.or_else(later).map(|m| (None, m))));
                        }
                    }
                    Check::HasRole(role) => {
                        let record = &ctx.extract.cases[case as usize];
                        let opened = Moment::date_only(record.opened_on);
                        let fix = allocations
                            .iter()
                            .filter(|a| a.role == *role && a.end().is_none_or(|end| end > opened.at()))
                            .min_by_key(|a| a.from.at())
                            .map(|a| a.from);
                        out.push(Obligation {
                            case: Some(case),
                            worker: None,
                            trigger_event: None,
                            trigger_record: None,
                            trigger_at: opened,
                            due: Due::Date(record.opened_on),
                            done_event: None,
                            done_at: fix,
                        });
                    }
                    Check::Buddy => {}
                }
            }
            _ => {}
        }
    }

    pub fn describe(&self) -> Vec<String> {
        let common = "Judged at the allocation's start: fixed the same day is met; fixed later is late by the days since; never fixed is not done (overdue once that date has passed).".to_string();
        match &self.check {
            Check::SeniorWhenRisk(t) => vec![
                format!("Each primary allocation made while {} (events at or before its start) must go to a senior worker (senior case manager, advanced practitioner or team manager).", t.describe()),
                "Met when its worker is senior; otherwise fixed by the earliest later primary allocation to a senior worker.".into(),
                common,
            ],
            Check::SeniorAfterRiskRise { threshold, junior, within } => vec![
                format!(
                    "When a case event makes {} where neither was before, and the primary holding the case then is a {}, a senior worker must be allocated (co-allocated or as the new primary) within {within}.",
                    threshold.describe(),
                    junior.iter().map(|r| r.name()).collect::<Vec<_>>().join(" or ")
                ),
                "Answered by the senior co-allocated or primary allocation with the earliest start among those current at the event or starting later. Events after the case closed are ignored.".into(),
                format!("Counted in {}.", super::counting(*within)),
            ],
            Check::WorkerGender { gender, unless } => vec![
                format!("Each primary allocation goes to a worker whose gender is {}.", gender.name()),
                format!("Otherwise answered by the case's earliest {} dated on or after the allocation (one rationale answers all earlier allocations).", unless.describe()),
                common,
            ],
            Check::WorkerNotAbsent => vec![
                "Each allocation (any role) made on a date its worker is absent (planned or unplanned leave covering that date) is a breach; others are met.".into(),
                "Fixed at the first of: the day after the covering absence that ends last, the allocation's end, the day after the case closed.".into(),
                common,
            ],
            Check::StudentHasPrimary => vec![
                "Each allocation in the student role, or held by a student, needs another primary allocation held by a non-student current at its start.".into(),
                "Otherwise fixed by the earliest such primary starting later, before the student's allocation ends (closure ends it).".into(),
                common,
            ],
            Check::HasRole(role) => vec![
                format!("Each case needs a {} allocation from the date it opened (one already ended before that date does not count).", role.name()),
                common,
            ],
            Check::Buddy => vec![
                "Every worker holding a case on the as-of date must have a nominated buddy (buddy_id) who is another worker still in post (in staff.csv, not left before the as-of date).".into(),
                "The row starts when the worker's current holding period began; without a buddy it is overdue from then.".into(),
            ],
        }
    }

    pub fn parameters(&self) -> Vec<(&'static str, String)> {
        let mut p = vec![(
            "check",
            match &self.check {
                Check::SeniorWhenRisk(_) => "senior_when_risk",
                Check::SeniorAfterRiskRise { .. } => "senior_after_risk_rise",
                Check::WorkerGender { .. } => "worker_gender",
                Check::WorkerNotAbsent => "worker_not_absent",
                Check::StudentHasPrimary => "student_has_primary",
                Check::HasRole(_) => "has_role",
                Check::Buddy => "buddy",
            }
            .to_string(),
        )];
        match &self.check {
            Check::SeniorWhenRisk(t) => {
                p.push(("track", t.track.iter().map(|d| d.name()).collect::<Vec<_>>().join(", ")));
                p.push(("at_least", t.at_least.name().into()));
            }
            Check::SeniorAfterRiskRise { threshold, junior, within } => {
                p.push(("track", threshold.track.iter().map(|d| d.name()).collect::<Vec<_>>().join(", ")));
                p.push(("at_least", threshold.at_least.name().into()));
                p.push(("junior_roles", junior.iter().map(|r| r.name()).collect::<Vec<_>>().join(", ")));
                p.push(("within", within.to_string()));
            }
            Check::WorkerGender { gender, unless } => {
                p.push(("gender", gender.name().into()));
                p.push(("unless", unless.types.names().join(", ")));
            }
            Check::HasRole(role) => p.push(("role", role.name().into())),
            _ => {}
        }
        p
    }
}

/// ALC002: a risk rise while a junior primary holds the case.
fn senior_after_rise(
    ctx: &Context,
    case: CaseIdx,
    threshold: &RiskThreshold,
    junior: &[StaffRole],
    within: Span,
    allocations: &[&Allocation],
    out: &mut Vec<Obligation>,
) {
    let record = &ctx.extract.cases[case as usize];
    let mut levels = Levels::default();
    for (index, e) in ctx.case_events(case) {
        if record.closed_on.is_some_and(|c| e.occurred.date() > c) {
            break;
        }
        let before = levels.reaches(&threshold.track, threshold.at_least);
        let carries = threshold.track.iter().any(|d| d.of(e).is_some());
        levels.update(e);
        if !carries || before || !levels.reaches(&threshold.track, threshold.at_least) {
            continue;
        }
        let at = if e.occurred.bare() { e.occurred.date().and_hms_opt(23, 59, 59).expect("valid") } else { e.occurred.at() };
        let Some(primary) = ctx.extract.primary_current_at(case, at) else {
            continue;
        };
        if !ctx.extract.staff(primary).is_some_and(|s| junior.contains(&s.role)) {
            continue;
        }
        let fix = allocations
            .iter()
            .filter(|a| matches!(a.role, AllocationRole::CoAllocated | AllocationRole::Primary))
            .filter(|a| is_senior(ctx.extract.staff(a.worker).map(|s| s.role)))
            .filter(|a| a.is_current_at(at) || a.start() > at)
            .min_by_key(|a| a.from.at())
            .map(|a| a.from);
        out.push(Obligation {
            case: Some(case),
            worker: None,
            trigger_event: Some(index),
            trigger_record: None,
            trigger_at: e.occurred,
            due: ctx.due_after(e.occurred, within, None),
            done_event: None,
            done_at: fix,
        });
    }
}

/// ALC007: a worker holding a case on the as-of date has a buddy in post.
fn buddy(ctx: &Context, worker: WorkerIdx, out: &mut Vec<Obligation>) {
    let periods = ctx.holding_periods(worker);
    let day_start = ctx.as_of.and_time(chrono::NaiveTime::MIN);
    let day_end = end_of_day_exclusive(ctx.as_of);
    let Some((start, _)) = periods.iter().find(|(start, end)| start.at() < day_end && end.is_none_or(|end| end > day_start)) else {
        return;
    };
    let buddy_ok = ctx.extract.staff(worker).and_then(|s| s.buddy_id.as_deref()).is_some_and(|buddy| {
        buddy != &*ctx.extract.workers[worker as usize].id
            && ctx
                .extract
                .worker_index
                .get(buddy)
                .and_then(|&b| ctx.extract.staff(b))
                .is_some_and(|s| s.left_on.is_none_or(|left| left >= ctx.as_of))
    });
    out.push(Obligation {
        case: None,
        worker: Some(worker),
        trigger_event: None,
        trigger_record: None,
        trigger_at: *start,
        due: Due::Date(start.date()),
        done_event: None,
        done_at: buddy_ok.then_some(*start),
    });
}
