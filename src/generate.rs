//! A seeded generator of synthetic canonical extracts, for the bundled
//! sample data and for benchmarks at any scale.
//!
//! The shape follows a real service: about 12 cases per worker, 15 to 25
//! events per case, risk levels that change over time, and for every rule a
//! mix of obligations met on time, met late, missed, and still to come. The
//! same seed and size always give byte-identical files.

use crate::model::EVENT_TYPES;
use chrono::{Days, NaiveDate, NaiveDateTime, NaiveTime};
use std::io::{BufWriter, Write};
use std::path::Path;

/// SplitMix64: small, fast and reproducible across platforms, which is all
/// synthetic data needs.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n`.
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    /// True with probability `p` percent.
    fn chance(&mut self, p: u64) -> bool {
        self.below(100) < p
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// What to generate.
#[derive(Clone, Debug)]
pub struct Spec {
    pub cases: usize,
    pub seed: u64,
    /// The extract's date: nothing happens after it.
    pub as_of: NaiveDate,
    /// How far back cases open.
    pub history_days: u64,
    /// Workers (default: one per 12 cases, at least 4).
    pub workers: Option<usize>,
}

const TEAMS: &[&str] = &["North Locality", "South Locality", "City Team", "County Team", "Intervention Team"];
const ROLES: &[&str] = &["case_manager", "case_manager", "case_manager", "senior_case_manager", "yjso", "advanced_practitioner", "student"];
const CASE_TYPES: &[&str] = &[
    "yro",
    "yro",
    "referral_order",
    "referral_order",
    "oocd",
    "dto",
    "bail",
    "my_future",
    "crown_court_tracking",
    "specific_intervention",
];
const LEVELS: &[&str] = &["low", "low", "medium", "medium", "high", "very_high"];
const LETTERS: &[u8] = b"ABCDEFGHJKLMNPRSTW";

struct Writers {
    cases: BufWriter<std::fs::File>,
    staff: BufWriter<std::fs::File>,
    allocations: BufWriter<std::fs::File>,
    events: BufWriter<std::fs::File>,
    absences: BufWriter<std::fs::File>,
    /// Events written for the case being generated.
    case_events: usize,
}

fn at(date: NaiveDate, minutes: u64) -> NaiveDateTime {
    date.and_time(NaiveTime::MIN) + chrono::Duration::minutes(minutes as i64)
}

fn stamp(t: NaiveDateTime) -> String {
    t.format("%Y-%m-%dT%H:%M").to_string()
}

/// Writes cases.csv, staff.csv, allocations.csv, events.csv and
/// absences.csv into `folder`.
pub fn generate(spec: &Spec, folder: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(folder)?;
    let open = |name: &str| -> std::io::Result<BufWriter<std::fs::File>> {
        Ok(BufWriter::with_capacity(1 << 20, std::fs::File::create(folder.join(name))?))
    };
    let mut w = Writers {
        cases: open("cases.csv")?,
        staff: open("staff.csv")?,
        allocations: open("allocations.csv")?,
        events: open("events.csv")?,
        absences: open("absences.csv")?,
        case_events: 0,
    };
    writeln!(w.cases, "case_id,child_id,initials,gender,team,case_type,opened_on,closed_on,looked_after,next_steps,iss")?;
    writeln!(w.staff, "worker_id,name,team,role,gender,manager_id,buddy_id,started_on,left_on")?;
    writeln!(w.allocations, "case_id,worker_id,role,from,to")?;
    writeln!(w.events, "event_id,case_id,worker_id,event_type,occurred_at,recorded_at,rosh,saw,lor,mode,psr")?;
    writeln!(w.absences, "worker_id,kind,starts_on,ends_on,cover_recorded_at")?;

    let mut rng = Random(spec.seed ^ 0x5EED_CA5E);
    let workers = spec.workers.unwrap_or(spec.cases / 12).max(4);
    let teams = (workers / 5).clamp(2, TEAMS.len() * 1000);
    let team_name = |t: usize| {
        if t < TEAMS.len() { TEAMS[t].to_string() } else { format!("{} {}", TEAMS[t % TEAMS.len()], t / TEAMS.len() + 1) }
    };
    let first_day = spec.as_of - Days::new(spec.history_days);
    let mut event_id = 0u64;
    let mut next_event = || {
        event_id += 1;
        format!("E{event_id:08}")
    };

    // Staff: each team has a manager; workers report to them.
    let worker_team: Vec<usize> = (0..workers).map(|i| i % teams).collect();
    let mut worker_role: Vec<&str> = Vec::with_capacity(workers);
    for i in 0..workers {
        let team = worker_team[i];
        let is_manager = i < teams;
        let role = if is_manager { "team_manager" } else { *rng.pick(ROLES) };
        worker_role.push(role);
        let manager = if is_manager { String::new() } else { format!("W{:05}", team) };
        let buddy = if rng.chance(85) { format!("W{:05}", (i + teams) % workers) } else { String::new() };
        let gender = if rng.chance(65) { "F" } else { "M" };
        let left = if rng.chance(4) { (spec.as_of - Days::new(rng.below(200))).to_string() } else { String::new() };
        writeln!(
            w.staff,
            "W{i:05},Worker {i},{},{role},{gender},{manager},{buddy},{},{left}",
            team_name(team),
            first_day - Days::new(365)
        )?;
        // Supervision of the worker: roughly every 5-7 weeks, with gaps.
        let mut day = first_day + Days::new(rng.below(40));
        // Some workers' supervision has lapsed.
        // Some workers' supervision has lapsed; some are due supervision now.
        let last_supervision = match i % 7 {
            5 => spec.as_of - Days::new(60),
            3 => spec.as_of - Days::new(80),
            _ => spec.as_of,
        };
        while day <= last_supervision {
            let held = at(day, 600 + rng.below(300));
            let longest_delay = if rng.chance(80) { 47 } else { 120 };
            let recorded =
                if rng.chance(8) { String::new() } else { stamp(held + chrono::Duration::hours(rng.below(longest_delay) as i64)) };
            if recorded.is_empty() || held + chrono::Duration::hours(1) <= at(spec.as_of, 0) {
                writeln!(w.events, "{},,W{i:05},supervision,{},{recorded},,,,,", next_event(), stamp(held))?;
            }
            day = day + Days::new(if rng.chance(75) { 28 + rng.below(14) } else { 43 + rng.below(40) });
        }
        if i % 7 == 3 {
            let held = at(spec.as_of - Days::new(38), 600);
            writeln!(w.events, "{},,W{i:05},supervision,{},{},,,,,", next_event(), stamp(held), stamp(held + chrono::Duration::hours(3)))?;
        }
        for _ in 0..(1 + rng.below(3)) {
            let start = first_day + Days::new(rng.below(spec.history_days));
            let kind = if rng.chance(50) { "planned" } else { "unplanned" };
            let end = start + Days::new(1 + rng.below(30));
            let cover = if kind == "planned" && rng.chance(70) { stamp(at(start - Days::new(rng.below(3)), 540)) } else { String::new() };
            writeln!(w.absences, "W{i:05},{kind},{start},{end},{cover}")?;
            if kind == "unplanned" && rng.chance(80) {
                let review = start + Days::new(rng.below(10));
                writeln!(w.events, "{},,W{i:05},absence.case_review,{review},,,,,,", next_event())?;
            }
            if kind == "unplanned" && end >= start + Days::new(14) && rng.chance(70) {
                let decision = start + Days::new(7 + rng.below(14));
                writeln!(w.events, "{},,W{i:05},absence.reallocation_decision,{decision},,,,,,", next_event())?;
            }
        }
    }

    for c in 0..spec.cases {
        let case_id = format!("C{c:07}");
        let worker = teams + rng.below((workers - teams) as u64) as usize;
        let team = team_name(worker_team[worker]);
        // One case in ten is open with recent activity, so that every rule
        // has work due at the as-of date.
        let showcase = c % 10 == 3;
        let opened = if showcase {
            spec.as_of - Days::new(120 + rng.below(200))
        } else {
            first_day + Days::new(rng.below(spec.history_days.saturating_sub(14)))
        };
        let length = 60 + rng.below(400);
        let closed = opened + Days::new(length);
        let closed_text = if !showcase && closed < spec.as_of && rng.chance(80) { closed.to_string() } else { String::new() };
        let last_day = if closed_text.is_empty() { spec.as_of } else { closed };
        let case_type = *rng.pick(CASE_TYPES);
        let initials = format!(
            "{}{}",
            LETTERS[rng.below(LETTERS.len() as u64) as usize] as char,
            LETTERS[rng.below(LETTERS.len() as u64) as usize] as char
        );
        let gender = if rng.chance(20) { "F" } else { "M" };
        let (looked_after, next_steps, iss) = (rng.chance(15), rng.chance(if case_type == "dto" { 60 } else { 12 }), rng.chance(10));
        writeln!(
            w.cases,
            "{case_id},Y{c:07},{initials},{gender},{team},{case_type},{opened},{closed_text},{looked_after},{next_steps},{iss}"
        )?;

        // Allocations: a primary, sometimes reallocated; sometimes a co-worker.
        let worker_id = |w: usize| format!("W{w:05}");
        if rng.chance(20) && length > 120 {
            let switch = opened + Days::new(30 + rng.below(length - 60));
            let second = teams + rng.below((workers - teams) as u64) as usize;
            writeln!(w.allocations, "{case_id},{},primary,{opened},{}", worker_id(worker), switch - Days::new(1))?;
            writeln!(w.allocations, "{case_id},{},primary,{switch},", worker_id(second))?;
        } else if case_type == "crown_court_tracking" && rng.chance(40) {
            let later = opened + Days::new(1 + rng.below(4));
            writeln!(w.allocations, "{case_id},{},primary,{later},", worker_id(worker))?;
        } else {
            writeln!(w.allocations, "{case_id},{},primary,{opened},", worker_id(worker))?;
        }
        if worker_role[worker] == "student" && rng.chance(60) {
            let supervisor = teams + rng.below((workers - teams) as u64) as usize;
            if worker_role[supervisor] != "student" {
                let from = opened + Days::new(if rng.chance(70) { 0 } else { 1 + rng.below(5) });
                writeln!(w.allocations, "{case_id},{},primary,{from},", worker_id(supervisor))?;
            }
        }
        let mut co_allocation = None;
        if rng.chance(12) {
            let co = rng.below(workers as u64) as usize;
            let from = opened + Days::new(rng.below(20));
            let to = rng.chance(50).then(|| from + Days::new(30 + rng.below(120)));
            writeln!(w.allocations, "{case_id},{},co_allocated,{from},{}", worker_id(co), to.map(|d| d.to_string()).unwrap_or_default())?;
            co_allocation = Some((from, to));
        }
        if case_type == "dto" && rng.chance(80) {
            let paired = rng.below(workers as u64) as usize;
            writeln!(
                w.allocations,
                "{case_id},{},paired,{},",
                worker_id(paired),
                opened + Days::new(if rng.chance(70) { 0 } else { 1 + rng.below(10) })
            )?;
        }

        let event = |w: &mut Writers, id: String, kind: &str, occurred: String, recorded: String, extra: &str| -> std::io::Result<()> {
            debug_assert!(EVENT_TYPES.contains(&kind));
            w.case_events += 1;
            writeln!(w.events, "{id},{case_id},{},{kind},{occurred},{recorded},{extra}", worker_id(worker))
        };
        let extract_taken = at(spec.as_of, 24 * 60);
        let recorded_after = |rng: &mut Random, t: NaiveDateTime| -> String {
            let delay = if rng.chance(7) {
                return String::new();
            } else if rng.chance(80) {
                rng.below(47 * 60)
            } else {
                48 * 60 + rng.below(5 * 24 * 60)
            };
            let recorded = t + chrono::Duration::minutes(delay as i64);
            if recorded < extract_taken { stamp(recorded) } else { String::new() }
        };
        let day_in = |rng: &mut Random, from: NaiveDate, span: u64| from + Days::new(rng.below(span.max(1)));
        // 15 to 25 events in all: the rule-specific ones below, then case
        // work to the total. `budget` caps the risk and compliance cycles.
        w.case_events = 0;
        let events_wanted = 15 + rng.below(11) as usize;
        let mut budget = events_wanted;

        // Assessments and risk: levels change over time.
        let mut day = opened + Days::new(rng.below(14));
        let mut reviews = Vec::new();
        while day <= last_day && budget > 0 {
            let (rosh, saw, lor) = (rng.pick(LEVELS), rng.pick(LEVELS), rng.pick(LEVELS));
            let t = at(day, 540 + rng.below(480));
            let occurred = if rng.chance(15) { day.to_string() } else { stamp(t) };
            event(&mut w, next_event(), "assessment", occurred, String::new(), &format!("{rosh},{saw},{lor},,"))?;
            budget -= 1;
            let gap = if rng.chance(70) { 60 + rng.below(17) } else { 78 + rng.below(40) };
            day = day + Days::new(gap);
            if day <= last_day && budget > 0 {
                let t = at(day, 600 + rng.below(300));
                reviews.push(t);
                let (rosh, saw) = (rng.pick(LEVELS), rng.pick(LEVELS));
                let recorded = recorded_after(&mut rng, t);
                event(&mut w, next_event(), "cmm.risk_review", stamp(t), recorded, &format!("{rosh},{saw},,,"))?;
                budget -= 1;
                if rng.chance(85) {
                    let review = t + chrono::Duration::days(rng.below(10) as i64);
                    if review.date() <= spec.as_of {
                        event(&mut w, next_event(), "assessment.review", stamp(review), String::new(), ",,,,")?;
                        budget = budget.saturating_sub(1);
                    }
                }
                day = day + Days::new(gap / 2);
            }
        }

        // Compliance: failures, reports and compliance CMMs.
        if rng.chance(35) && budget > 3 {
            let failure = day_in(&mut rng, opened, length.min(200));
            if failure < spec.as_of {
                let kind = if rng.chance(75) { "compliance.unacceptable_failure" } else { "compliance.unacceptable_behaviour" };
                event(&mut w, next_event(), kind, stamp(at(failure, 600)), String::new(), ",,,,")?;
                let wait = if rng.chance(75) { 3 + rng.below(10) } else { 14 + rng.below(20) };
                let cmm = failure + Days::new(wait);
                if rng.chance(90) && cmm <= spec.as_of {
                    let cmm_at = at(cmm, 600);
                    if rng.chance(80) {
                        let lead = if rng.chance(80) { 26 + rng.below(72) } else { 1 + rng.below(20) };
                        event(
                            &mut w,
                            next_event(),
                            "compliance.report",
                            stamp(cmm_at - chrono::Duration::hours(lead as i64)),
                            String::new(),
                            ",,,,",
                        )?;
                    }
                    let recorded = recorded_after(&mut rng, cmm_at);
                    event(&mut w, next_event(), "cmm.compliance", stamp(cmm_at), recorded, ",,,,")?;
                    if rng.chance(80) {
                        let minutes = cmm_at + chrono::Duration::days(rng.below(9) as i64);
                        if minutes.date() <= spec.as_of {
                            event(&mut w, next_event(), "cmm.minutes", stamp(minutes), stamp(minutes), ",,,,")?;
                        }
                    }
                }
            }
        }

        // Caretaking.
        if rng.chance(8) {
            let start = day_in(&mut rng, opened, length.min(120));
            if start < spec.as_of {
                event(&mut w, next_event(), "caretaking.start", start.to_string(), String::new(), ",,,,")?;
                let months = rng.below(6);
                let end = start + Days::new(months * 30 + rng.below(30));
                if end <= spec.as_of && rng.chance(70) {
                    let kind = if rng.chance(50) { "caretaking.end" } else { "transfer.full" };
                    event(&mut w, next_event(), kind, end.to_string(), String::new(), ",,,,")?;
                }
            }
        }

        // The rest of the catalogue: each rule's events, mostly on time.
        let on_time =
            |rng: &mut Random, limit: u64, late_by: u64| if rng.chance(75) { rng.below(limit + 1) } else { limit + 1 + rng.below(late_by) };
        let mut extra = |w: &mut Writers, kind: &str, day: NaiveDate, fields: &str| -> std::io::Result<()> {
            if day <= spec.as_of {
                event(w, next_event(), kind, stamp(at(day, 630)), String::new(), fields)?;
            }
            Ok(())
        };
        let during = (last_day - opened).num_days().max(1) as u64;
        if rng.chance(18) {
            let application = opened + Days::new(rng.below(during));
            if rng.chance(80) {
                extra(&mut w, "cmm.bail", application - Days::new(1 + rng.below(5)), ",,,,")?;
            }
            extra(&mut w, "bail.application", application, ",,,,")?;
        }
        if rng.chance(25) {
            let sentence = opened + Days::new(1 + rng.below(during));
            let psr = rng.chance(50);
            extra(&mut w, "court.sentence", sentence, &format!(",,,,{psr}"))?;
            if psr && rng.chance(75) {
                extra(&mut w, "cmm.reoffending", sentence - Days::new(1 + rng.below(10)), ",,,,")?;
            } else if !psr && rng.chance(85) {
                extra(&mut w, "cmm.reoffending", sentence + Days::new(on_time(&mut rng, 20, 15)), ",,,,")?;
            }
        }
        if case_type == "dto" || rng.chance(if next_steps { 30 } else { 5 }) {
            let custody = opened + Days::new(rng.below(20));
            extra(&mut w, "custody.start", custody, ",,,,")?;
            let release = custody + Days::new(60 + rng.below(300));
            if next_steps {
                let mut visit = custody + Days::new(on_time(&mut rng, 7, 10));
                while visit < release.min(last_day) {
                    extra(&mut w, "visit.next_steps", visit, ",,,,")?;
                    visit = visit + Days::new(on_time(&mut rng, 42, 20).max(7));
                }
            }
            if release <= last_day {
                extra(&mut w, "custody.release", release, ",,,,")?;
                if rng.chance(85) {
                    extra(&mut w, "cmm.release", release + Days::new(on_time(&mut rng, 28, 20)), ",,,,")?;
                }
            }
        }
        if rng.chance(12) {
            let agreed = opened + Days::new(rng.below(during));
            extra(&mut w, "transfer.agreed", agreed, ",,,,")?;
            extra(&mut w, "transfer.request_out", agreed + Days::new(on_time(&mut rng, 1, 4)), ",,,,")?;
            let allocated = agreed + Days::new(on_time(&mut rng, 2, 4));
            extra(&mut w, "transfer.allocated", allocated, ",,,,")?;
            if rng.chance(85) {
                extra(&mut w, "meeting.three_way", allocated + Days::new(on_time(&mut rng, 6, 8)), ",,,,")?;
            }
            let docs = agreed + Days::new(rng.below(10));
            extra(&mut w, "transfer.docs_received", docs, ",,,,")?;
            extra(&mut w, "transfer.home_contacted", docs + Days::new(on_time(&mut rng, 2, 4)), ",,,,")?;
        }
        if rng.chance(15) {
            let mam = opened + Days::new(rng.below(during));
            extra(&mut w, "csc.mam", mam, &format!("{},,,,", rng.pick(LEVELS)))?;
            extra(&mut w, "assessment.review", mam + Days::new(on_time(&mut rng, 6, 8)), ",,,,")?;
            if rng.chance(85) {
                extra(&mut w, "plan.intervention_review", mam + Days::new(on_time(&mut rng, 6, 8)), ",,,,")?;
            }
        }
        match case_type {
            "oocd" => {
                let panel = opened + Days::new(rng.below(10));
                extra(&mut w, "oocd.panel", panel, ",,,,")?;
                if rng.chance(85) {
                    extra(&mut w, "case_discussion", panel + Days::new(on_time(&mut rng, 42, 20)), ",,,,")?;
                }
            }
            "my_future" if rng.chance(85) => extra(&mut w, "case_discussion", opened + Days::new(on_time(&mut rng, 42, 20)), ",,,,")?,
            "specific_intervention" => {
                extra(&mut w, "meeting.initial", opened + Days::new(on_time(&mut rng, 5, 5)), ",,,,")?;
                if rng.chance(85) {
                    extra(&mut w, "plan.action_plan", opened + Days::new(on_time(&mut rng, 12, 10)), ",,,,")?;
                }
            }
            "crown_court_tracking" => {
                extra(&mut w, "court.first_appearance", opened, ",,,,")?;
                let mut contact = opened + Days::new(on_time(&mut rng, 5, 5));
                while contact <= last_day {
                    let mode = if rng.chance(40) { "face_to_face" } else { "phone" };
                    extra(&mut w, "contact", contact, &format!(",,,{mode},"))?;
                    contact = contact + Days::new(on_time(&mut rng, 28, 15).max(3));
                }
            }
            _ => {}
        }
        if next_steps && rng.chance(85) {
            extra(&mut w, "meeting.joint_services", opened + Days::new(on_time(&mut rng, 20, 15)), ",,,,")?;
        }
        if iss {
            let mut review = opened + Days::new(on_time(&mut rng, 28, 10));
            while review <= last_day {
                extra(&mut w, "plan.intervention_review", review, ",,,,")?;
                review = review + Days::new(on_time(&mut rng, 28, 15).max(5));
            }
        }
        if gender == "F" && rng.chance(50) {
            extra(&mut w, "allocation.rationale", opened + Days::new(rng.below(5)), ",,,,")?;
        }
        if let Some((from, to)) = co_allocation {
            if rng.chance(85) {
                extra(&mut w, "coallocation.agreement", from + Days::new(on_time(&mut rng, 5, 5)), ",,,,")?;
            }
            let end = to.unwrap_or(last_day).min(last_day);
            let mut discussion = from + Days::new(on_time(&mut rng, 42, 15));
            while discussion <= end {
                extra(&mut w, "coallocation.discussion", discussion, ",,,,")?;
                discussion = discussion + Days::new(on_time(&mut rng, 42, 15).max(7));
            }
        }
        if rng.chance(12) {
            let start = opened + Days::new(rng.below(during));
            extra(&mut w, "caretaking.start", start, ",,,,")?;
            if rng.chance(70) {
                extra(&mut w, "caretaking.review", start + Days::new(on_time(&mut rng, 88, 30)), ",,,,")?;
            }
            if rng.chance(60) {
                extra(
                    &mut w,
                    if rng.chance(50) { "caretaking.end" } else { "transfer.full" },
                    start + Days::new(30 + rng.below(150)),
                    ",,,,",
                )?;
            }
        }

        // Recent activity on open cases, so every rule has work due now.
        if showcase {
            let days_ago = |n: u64| spec.as_of - Days::new(n);
            let none = String::new();
            match (c / 10) % 7 {
                0 => event(&mut w, next_event(), "cmm.significant_event", stamp(at(days_ago(1), 900)), none, ",,,,")?,
                1 => event(&mut w, next_event(), "case_discussion", stamp(at(days_ago(1), 660)), none, ",,,,")?,
                2 => event(&mut w, next_event(), "management_oversight", stamp(at(spec.as_of, 570)), none, ",,,,")?,
                3 => event(&mut w, next_event(), "compliance.unacceptable_failure", stamp(at(days_ago(8), 600)), none, ",,,,")?,
                4 => event(&mut w, next_event(), "cmm.compliance", stamp(at(spec.as_of + Days::new(3), 600)), none, ",,,,")?,
                5 => event(
                    &mut w,
                    next_event(),
                    "caretaking.start",
                    (spec.as_of - chrono::Months::new(3) + Days::new(4)).to_string(),
                    none,
                    ",,,,",
                )?,
                _ => event(&mut w, next_event(), "assessment", stamp(at(days_ago(74), 600)), none, "medium,high,low,,")?,
            }
        }

        // Case work: contacts, discussions and oversight to the total.
        while w.case_events < events_wanted {
            let d = day_in(&mut rng, opened, (last_day - opened).num_days().max(1) as u64);
            let t = at(d, 540 + rng.below(540));
            let (kind, recorded, extra) = match rng.below(10) {
                0 | 1 => ("case_discussion", recorded_after(&mut rng, t), ",,,,".to_string()),
                2 => ("management_oversight", recorded_after(&mut rng, t), ",,,,".to_string()),
                3 => ("plan.intervention_review", String::new(), ",,,,".to_string()),
                _ => ("contact", String::new(), format!(",,,{},", rng.pick(&["face_to_face", "face_to_face", "phone", "virtual"]))),
            };
            if t.date() <= spec.as_of {
                event(&mut w, next_event(), kind, stamp(t), recorded, &extra)?;
            } else {
                break;
            }
        }
    }
    for mut writer in [w.cases, w.staff, w.allocations, w.events, w.absences] {
        writer.flush()?;
    }
    Ok(())
}

/// A generated extract of `cases` cases as of 23 November 2026 (900 days
/// of history), read back as a run reads it: the benchmark's shape at a
/// test's size, for tests anywhere in the crate.
#[cfg(test)]
pub fn generated_ingest(cases: usize, seed: u64) -> crate::source::Ingest {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let as_of = NaiveDate::from_ymd_opt(2026, 11, 23).expect("a date");
    generate(&Spec { cases, seed, as_of, history_days: 900, workers: None }, dir.path()).expect("the extract is written");
    crate::source::load(dir.path(), &crate::source::profile::Profile::canonical()).expect("the extract is read")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(seed: u64) -> Spec {
        Spec { cases: 600, seed, as_of: NaiveDate::from_ymd_opt(2026, 11, 23).unwrap(), history_days: 540, workers: None }
    }

    #[test]
    fn the_same_seed_gives_the_same_files_and_another_seed_does_not() {
        let (a, b, c) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        generate(&spec(7), a.path()).unwrap();
        generate(&spec(7), b.path()).unwrap();
        generate(&spec(8), c.path()).unwrap();
        for file in ["cases.csv", "staff.csv", "allocations.csv", "events.csv", "absences.csv"] {
            let read = |dir: &tempfile::TempDir| std::fs::read(dir.path().join(file)).unwrap();
            assert_eq!(read(&a), read(&b), "{file}");
        }
        assert_ne!(std::fs::read(a.path().join("events.csv")).unwrap(), std::fs::read(c.path().join("events.csv")).unwrap());
    }

    #[test]
    fn cases_have_15_to_25_events_on_average_and_workers_about_12_cases() {
        let dir = tempfile::tempdir().unwrap();
        generate(&spec(3), dir.path()).unwrap();
        let events = std::fs::read_to_string(dir.path().join("events.csv")).unwrap();
        let mut per_case = std::collections::HashMap::<&str, usize>::new();
        for line in events.lines().skip(1) {
            let case = line.split(',').nth(1).unwrap();
            if !case.is_empty() {
                *per_case.entry(case).or_default() += 1;
            }
        }
        assert_eq!(per_case.len(), 600, "every case has events");
        let mean = per_case.values().sum::<usize>() as f64 / per_case.len() as f64;
        assert!((15.0..=25.0).contains(&mean), "mean {mean} events per case");
        assert!(per_case.values().filter(|&&n| (15..=25).contains(&n)).count() * 10 >= per_case.len() * 8, "most cases have 15 to 25");
        let staff = std::fs::read_to_string(dir.path().join("staff.csv")).unwrap();
        assert_eq!(staff.lines().count() - 1, 50, "one worker per 12 cases");
    }
}
