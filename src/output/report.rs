//! index.html: the summary a manager reads, rendered by handlebars from a
//! template compiled into the binary (every value HTML-escaped).

use super::RunRecord;
use crate::findings::{Finding, Status};
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

const TEMPLATE: &str = include_str!("templates/index.hbs");

/// Longest list shown in the page; the CSVs hold everything.
const MAX_LISTED: usize = 2_000;

#[derive(Serialize)]
struct Page<'a> {
    service: &'a str,
    tool_version: &'static str,
    as_of: String,
    period_text: String,
    look_ahead_days: u32,
    totals: BTreeMap<&'static str, u64>,
    rows_rejected: u64,
    rules: Vec<RuleRow>,
    not_assessed: Vec<NotAssessedRow<'a>>,
    action: Vec<Item>,
    action_cut: bool,
    action_shown: usize,
    action_total: usize,
    late: Vec<Item>,
    late_cut: bool,
    late_shown: usize,
    late_total: usize,
    files: Vec<FileRow<'a>>,
    ignored_files: &'a [String],
    warning_lines: Vec<&'a crate::source::Warning>,
    warnings_cut: bool,
    warnings_shown: usize,
    warnings_total: usize,
    accepted: Vec<Item>,
    expired: Vec<&'a crate::exceptions::Acceptance>,
    has_previous: bool,
    new_overdue: usize,
    resolved: Vec<&'a [String; 5]>,
    resolved_total: usize,
}

#[derive(Serialize)]
struct RuleRow {
    code: String,
    title: String,
    citation: String,
    assessed: u64,
    met: u64,
    late: u64,
    overdue: u64,
    due: u64,
    pending: u64,
    compliance: String,
}

#[derive(Serialize)]
struct NotAssessedRow<'a> {
    rule: &'a str,
    title: &'a str,
    citation: &'a str,
    reason: &'a str,
}

#[derive(Serialize)]
struct Item {
    team: String,
    worker: String,
    case_id: String,
    initials: String,
    rule: String,
    title: String,
    trigger: String,
    due_at: String,
    done_at: String,
    status: &'static str,
    days: String,
    note: String,
    new: bool,
    source: String,
}

#[derive(Serialize)]
struct Count<'a> {
    reason: &'a str,
    count: u64,
}

#[derive(Serialize)]
struct FileRow<'a> {
    name: &'a str,
    read: u64,
    used: u64,
    rejected: u64,
    reasons: Vec<Count<'a>>,
    warnings: Vec<Count<'a>>,
    unmapped: Vec<Count<'a>>,
}

/// Compliance as a percentage of assessed obligations, or "–" when none.
pub fn compliance(met: u64, assessed: u64) -> String {
    if assessed == 0 { "–".into() } else { format!("{:.1}%", met as f64 * 100.0 / assessed as f64) }
}

fn item(f: &Finding, run: &RunRecord) -> Item {
    let extract = run.extract();
    let rule = run.rules[f.rule as usize];
    let o = &f.obligation;
    let case = f.case.map(|c| &extract.cases[c as usize]);
    let row = run.row(f);
    let trigger = match o.trigger_event {
        Some(e) => format!("{} on {}", extract.events[e as usize].kind.name(), o.trigger_at),
        None => format!("start on {}", o.trigger_at),
    };
    let worker = f.worker.map(|w| {
        let worker = &extract.workers[w as usize];
        match worker.staff.as_ref().and_then(|s| s.name.as_deref()) {
            Some(name) => format!("{name} ({})", worker.id),
            None => worker.id.to_string(),
        }
    });
    Item {
        team: row[3].clone(),
        worker: worker.unwrap_or_else(|| "(unallocated)".into()),
        case_id: row[1].clone(),
        initials: if run.pseudonym_key.is_some() {
            String::new()
        } else {
            case.and_then(|c| c.initials.as_deref()).unwrap_or("").to_string()
        },
        rule: rule.code.clone(),
        title: rule.title.clone(),
        trigger,
        due_at: row[6].clone(),
        done_at: row[8].clone(),
        status: f.status.name(),
        days: row[10].clone(),
        note: f.accepted.map_or(String::new(), |i| run.register.entries[i as usize].note()),
        new: run.is_new_overdue(f, &run.id(f)),
        source: [("started", o.trigger_event), ("done", o.done_event)]
            .iter()
            .filter(|(_, e)| e.is_some())
            .map(|(what, e)| format!("{what}: {}", run.source(*e)))
            .collect::<Vec<_>>()
            .join("; "),
    }
}

/// Items of the given statuses grouped by team, then worker, oldest due
/// first; only the first `MAX_LISTED` are rendered (the CSVs hold all).
fn listed(run: &RunRecord, statuses: &[Status]) -> (Vec<Item>, usize) {
    let extract = run.extract();
    let team = |f: &Finding| match (f.case, f.worker) {
        (Some(c), _) => extract.cases[c as usize].team.as_deref().unwrap_or(""),
        (None, Some(w)) => extract.staff(w).and_then(|s| s.team.as_deref()).unwrap_or(""),
        (None, None) => "",
    };
    let worker = |f: &Finding| f.worker.map_or("", |w| &*extract.workers[w as usize].id);
    let case = |f: &Finding| f.case.map_or("", |c| &*extract.cases[c as usize].id);
    let mut chosen: Vec<&Finding> = run.findings.iter().filter(|f| statuses.contains(&f.status) && f.accepted.is_none()).collect();
    let total = chosen.len();
    let key = |f: &&Finding| (team(f), worker(f), f.obligation.due.date(), case(f));
    if chosen.len() > MAX_LISTED {
        chosen.select_nth_unstable_by(MAX_LISTED, |a, b| key(a).cmp(&key(b)));
        chosen.truncate(MAX_LISTED);
    }
    chosen.sort_by(|a, b| key(a).cmp(&key(b)));
    (chosen.into_iter().map(|f| item(f, run)).collect(), total)
}

pub fn write_index(path: &Path, run: &RunRecord) -> std::io::Result<()> {
    let mut per_rule: Vec<BTreeMap<Status, u64>> = vec![BTreeMap::new(); run.rules.len()];
    for f in run.findings {
        *per_rule[f.rule as usize].entry(f.status).or_default() += 1;
    }
    let rules = run
        .rules
        .iter()
        .zip(&per_rule)
        .map(|(rule, counts)| {
            let n = |s| counts.get(&s).copied().unwrap_or(0);
            let assessed = n(Status::Met) + n(Status::Late) + n(Status::Overdue);
            RuleRow {
                code: rule.label(),
                title: rule.title.clone(),
                citation: rule.citation.clone(),
                assessed,
                met: n(Status::Met),
                late: n(Status::Late),
                overdue: n(Status::Overdue),
                due: n(Status::Due),
                pending: n(Status::Pending),
                compliance: compliance(n(Status::Met), assessed),
            }
        })
        .collect();
    let (action, action_total) = listed(run, &[Status::Overdue, Status::Due]);
    let (late, late_total) = listed(run, &[Status::Late]);
    let period_text = match run.period {
        (None, None) => "Period: all obligations in the extract.".to_string(),
        (from, to) => format!(
            "Period: obligations falling due from {} to {}.",
            from.map_or("the start".into(), |d| d.to_string()),
            to.map_or("the end".into(), |d| d.to_string())
        ),
    };
    let files = run
        .ingest
        .files
        .iter()
        .map(|(name, r)| FileRow {
            name,
            read: r.rows_read,
            used: r.rows_used,
            rejected: r.rows_rejected,
            reasons: r.rejected_by_reason.iter().map(|(reason, &count)| Count { reason, count }).collect(),
            warnings: r.warnings.iter().map(|(reason, &count)| Count { reason, count }).collect(),
            unmapped: r.unmapped_labels.iter().map(|(reason, &count)| Count { reason, count }).collect(),
        })
        .collect();
    let warnings_total = run.ingest.warnings.len();
    // Overdue last time, not overdue now: done since, or no longer owed.
    let mut resolved: Vec<&[String; 5]> =
        run.previous.overdue.iter().filter(|(id, _)| !run.overdue_ids.contains(*id)).map(|(_, row)| row).collect();
    resolved.sort();
    let page = Page {
        service: run.service,
        tool_version: env!("CARGO_PKG_VERSION"),
        as_of: run.as_of.to_string(),
        period_text,
        look_ahead_days: run.look_ahead_days,
        totals: run.status_counts(),
        rows_rejected: run.ingest.rows_rejected(),
        rules,
        not_assessed: run
            .not_assessed
            .iter()
            .map(|n| NotAssessedRow { rule: &n.rule, title: &n.title, citation: &n.citation, reason: &n.reason })
            .collect(),
        action_cut: action_total > action.len(),
        action_shown: action.len(),
        action_total,
        action,
        late_cut: late_total > late.len(),
        late_shown: late.len(),
        late_total,
        late,
        files,
        ignored_files: &run.ingest.ignored_files,
        warning_lines: run.ingest.warnings.iter().take(MAX_LISTED).collect(),
        warnings_cut: warnings_total > MAX_LISTED,
        warnings_shown: warnings_total.min(MAX_LISTED),
        warnings_total,
        accepted: run
            .findings
            .iter()
            .filter(|f| f.accepted.is_some() && f.status != Status::Met)
            .take(MAX_LISTED)
            .map(|f| item(f, run))
            .collect(),
        expired: run.register.expired(run.as_of).collect(),
        has_previous: run.previous.folder.is_some(),
        new_overdue: run.new_overdue,
        resolved_total: resolved.len(),
        resolved: resolved.into_iter().take(MAX_LISTED).collect(),
    };
    let mut handlebars = handlebars::Handlebars::new();
    handlebars.set_strict_mode(true);
    handlebars.register_template_string("index", TEMPLATE).map_err(std::io::Error::other)?;
    let html = handlebars.render("index", &page).map_err(std::io::Error::other)?;
    let mut out = super::create(path)?;
    out.write_all(html.as_bytes())?;
    out.flush()
}
