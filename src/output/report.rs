//! The HTML report: index.html (the summary, what needs action, compliance
//! by rule and team, trends and the audit sample in a period view, data
//! quality) and a page per team, worker and rule. Rendered by handlebars
//! from templates compiled into the binary, every value HTML-escaped; one
//! small inline script (sorting and filtering tables) allowed by its hash in
//! the Content-Security-Policy; nothing loaded from anywhere.

use super::{RunRecord, Teams};
use crate::findings::{Finding, Status};
use serde::Serialize;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

const TEMPLATE: &str = include_str!("templates/index.hbs");
const PAGE: &str = include_str!("templates/page.hbs");
const HEAD: &str = include_str!("templates/head.hbs");
const SCRIPT: &str = include_str!("templates/tables.js");

/// Longest list shown in the page; the CSVs hold everything.
const MAX_LISTED: usize = 2_000;
/// Most team pages and worker pages written (the worst first): a national
/// run has tens of thousands of workers, whose rows are in findings.csv.
const MAX_PAGES: usize = 500;

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
    /// Rows of the item tables, rendered by [`item_rows`].
    action: String,
    action_cut: bool,
    action_shown: usize,
    action_total: usize,
    late: String,
    late_cut: bool,
    late_shown: usize,
    late_total: usize,
    files: Vec<FileRow<'a>>,
    ignored_files: &'a [String],
    warning_lines: Vec<super::WarningLine<'a>>,
    warnings_cut: bool,
    warnings_shown: usize,
    warnings_total: usize,
    accepted: String,
    expired: Vec<crate::exceptions::Acceptance>,
    has_previous: bool,
    new_overdue: usize,
    resolved: Vec<[&'a str; 5]>,
    resolved_total: usize,
    /// The team rows ([`summary_rows`]).
    teams: String,
    trends: Vec<Trend>,
    samples: Vec<Sample>,
    sample_seed: u64,
    script: &'static str,
    head: Head,
    max_pages: usize,
    /// findings.json was written (not left out with --no-findings-json).
    findings_json: bool,
}

/// A row of counts for a rule, team or worker.
#[derive(Clone, Serialize)]
struct SummaryRow {
    name: String,
    link: String,
    assessed: u64,
    met: u64,
    late: u64,
    overdue: u64,
    due: u64,
    compliance: String,
    #[serde(skip)]
    ratio: f64,
}

#[derive(Default, Clone, Copy)]
struct Counts {
    met: u64,
    late: u64,
    overdue: u64,
    due: u64,
    pending: u64,
}

impl Counts {
    fn add(&mut self, status: Status) {
        match status {
            Status::Met => self.met += 1,
            Status::Late => self.late += 1,
            Status::Overdue => self.overdue += 1,
            Status::Due => self.due += 1,
            Status::Pending => self.pending += 1,
        }
    }

    fn assessed(&self) -> u64 {
        self.met + self.late + self.overdue
    }

    /// No finding counted at all.
    fn is_empty(&self) -> bool {
        self.assessed() + self.due + self.pending == 0
    }

    fn merge(&mut self, other: &Counts) {
        self.met += other.met;
        self.late += other.late;
        self.overdue += other.overdue;
        self.due += other.due;
        self.pending += other.pending;
    }

    /// "120 obligations assessed, 90 met on time (75.0%), 10 overdue, 2 due within 7 days."
    fn sentence(&self, look_ahead_days: u32) -> String {
        format!(
            "{} obligations assessed, {} met on time ({}), {} overdue, {} due within {look_ahead_days} days.",
            self.assessed(),
            self.met,
            compliance(self.met, self.assessed()),
            self.overdue,
            self.due
        )
    }

    fn row(&self, name: String, link: String) -> SummaryRow {
        let assessed = self.assessed();
        SummaryRow {
            name,
            link,
            assessed,
            met: self.met,
            late: self.late,
            overdue: self.overdue,
            due: self.due,
            compliance: compliance(self.met, assessed),
            ratio: if assessed == 0 { 2.0 } else { self.met as f64 / assessed as f64 },
        }
    }
}

/// What the one pass over the findings sums per worker: their counts per
/// rule, and per team (for the team pages' worker rows: a worker's share
/// of that team, not their totals), from which their totals follow.
///
/// A national run's findings name a hundred thousand workers in no useful
/// order, so each finding costs a cache miss per table it touches; the
/// sums it needs at once therefore sit together in one [`WorkerTally`] a
/// worker. Findings come rule by rule, so the rule in hand is summed there
/// and folded into the worker-by-rule table when the rule changes; a
/// worker's findings in a team other than the first seen with them (a
/// case of another team's, or a move) are summed in a map.
struct WorkerTallies {
    rules: usize,
    tally: Vec<WorkerTally>,
    other_teams: foldhash::HashMap<(u32, usize), Counts>,
    /// The last key looked up in `other_teams` and its counts so far, not
    /// yet added in: a case's findings come together (two or three of a
    /// rule at a time), each a lookup of the same key in a large map.
    other_in_hand: Option<((u32, usize), Counts)>,
    /// Findings with no worker (slot 0), whatever the team.
    unassigned: Counts,
    /// Each worker slot's row in `by_rule`, or `u32::MAX` for none yet.
    row: Vec<u32>,
    by_rule: Vec<Counts>,
    rule_in_hand: usize,
    touched: Vec<usize>,
}

#[derive(Default, Clone, Copy)]
struct WorkerTally {
    /// The first team seen with the worker, or `u32::MAX` for none yet.
    team: u32,
    in_team: Counts,
    in_rule: Counts,
}

impl WorkerTallies {
    fn new(slots: usize, rules: usize) -> WorkerTallies {
        WorkerTallies {
            rules,
            tally: vec![WorkerTally { team: u32::MAX, ..WorkerTally::default() }; slots],
            other_teams: Default::default(),
            other_in_hand: None,
            unassigned: Counts::default(),
            row: vec![u32::MAX; slots],
            by_rule: Vec::new(),
            rule_in_hand: 0,
            touched: Vec::new(),
        }
    }

    /// A finding of `rule` in `team` for worker `slot` (0 for none).
    fn add(&mut self, rule: usize, team: u32, slot: usize, status: Status) {
        if rule != self.rule_in_hand {
            self.fold_in();
            self.rule_in_hand = rule;
        }
        let tally = &mut self.tally[slot];
        if tally.in_rule.is_empty() {
            self.touched.push(slot);
        }
        tally.in_rule.add(status);
        if slot == 0 {
            self.unassigned.add(status);
            return;
        }
        if tally.team == u32::MAX {
            tally.team = team;
        }
        if tally.team == team {
            tally.in_team.add(status);
        } else {
            match &mut self.other_in_hand {
                Some((key, counts)) if *key == (team, slot) => counts.add(status),
                _ => {
                    self.put_down_other();
                    let mut counts = Counts::default();
                    counts.add(status);
                    self.other_in_hand = Some(((team, slot), counts));
                }
            }
        }
    }

    /// Folds the rule in hand into the table (call once more at the end).
    fn fold_in(&mut self) {
        self.put_down_other();
        for slot in self.touched.drain(..) {
            if self.row[slot] == u32::MAX {
                self.row[slot] = (self.by_rule.len() / self.rules) as u32;
                self.by_rule.resize(self.by_rule.len() + self.rules, Counts::default());
            }
            let counts = std::mem::take(&mut self.tally[slot].in_rule);
            self.by_rule[self.row[slot] as usize * self.rules + self.rule_in_hand].merge(&counts);
        }
    }

    /// Adds the counts in hand to `other_teams`.
    fn put_down_other(&mut self) {
        if let Some((key, counts)) = self.other_in_hand.take() {
            self.other_teams.entry(key).or_default().merge(&counts);
        }
    }

    fn of_rule(&self, slot: usize, rule: usize) -> Option<Counts> {
        let row = *self.row.get(slot).filter(|&&row| row != u32::MAX)? as usize;
        Some(self.by_rule[row * self.rules + rule])
    }

    /// ((team, worker slot), counts) for every worker with findings in a team.
    fn in_teams(&self) -> impl Iterator<Item = ((u32, usize), Counts)> + '_ {
        let first = self.tally.iter().enumerate().skip(1).filter(|(_, t)| t.team != u32::MAX).map(|(slot, t)| ((t.team, slot), t.in_team));
        first.chain(self.other_teams.iter().map(|(&key, &counts)| (key, counts)))
    }

    /// Each worker slot's totals (slot 0: the findings with no worker).
    fn totals(&self) -> Vec<Counts> {
        let mut totals: Vec<Counts> = self.tally.iter().map(|t| t.in_team).collect();
        totals[0] = self.unassigned;
        for (&(_, slot), counts) in &self.other_teams {
            totals[slot].merge(counts);
        }
        totals
    }
}

/// Met and assessed obligations per rule and month due, for the trends: a
/// flat table (months since 1900) rather than a map, since every assessed
/// finding of a national run adds to it.
struct Monthly {
    counts: Vec<(u64, u64)>,
}

impl Monthly {
    const FIRST_YEAR: i32 = 1900;
    const MONTHS: usize = 300 * 12;

    fn new(rules: usize) -> Monthly {
        Monthly { counts: vec![(0, 0); rules * Self::MONTHS] }
    }

    fn add(&mut self, rule: usize, due: chrono::NaiveDate, met: bool) {
        use chrono::Datelike;
        let month = ((due.year() - Self::FIRST_YEAR) * 12 + due.month0() as i32).clamp(0, Self::MONTHS as i32 - 1) as usize;
        let cell = &mut self.counts[rule * Self::MONTHS + month];
        cell.0 += met as u64;
        cell.1 += 1;
    }

    /// ((year, month), (met, assessed)) for each month with obligations.
    fn of_rule(&self, rule: usize) -> Vec<((i32, u32), (u64, u64))> {
        let months = &self.counts[rule * Self::MONTHS..(rule + 1) * Self::MONTHS];
        months
            .iter()
            .enumerate()
            .filter(|(_, c)| c.1 > 0)
            .map(|(i, &c)| ((Self::FIRST_YEAR + (i / 12) as i32, (i % 12) as u32 + 1), c))
            .collect()
    }
}

#[derive(Serialize)]
struct Trend {
    code: String,
    title: String,
    width: usize,
    summary: String,
    bars: Vec<Bar>,
}

#[derive(Serialize)]
struct Bar {
    x: usize,
    y: usize,
    height: usize,
    label: String,
}

#[derive(Serialize)]
struct Sample {
    code: String,
    of: usize,
    cases: String,
}

/// One team, worker or rule page.
#[derive(Serialize)]
struct SubPage<'a> {
    service: &'a str,
    tool_version: &'static str,
    as_of: String,
    title: String,
    intro: Vec<String>,
    explanation: Option<String>,
    summary_title: &'static str,
    summary_caption: &'static str,
    summary_first: &'static str,
    /// The summary table's rows ([`summary_rows`]).
    summary: String,
    items_title: &'static str,
    items: String,
    items_cut: bool,
    items_shown: usize,
    items_total: usize,
    script: &'static str,
    head: Head,
}

/// What the `head` partial shows. Handed to it alone: a partial given the
/// whole page copies the page's data first (handlebars 6), thousands of
/// items on a national run's pages.
#[derive(Serialize)]
struct Head {
    csp_script_hash: String,
}

/// A file name for a page about `name`: readable, and unique by a hash.
fn slug(name: &str) -> String {
    use sha2::Digest;
    let readable: String = name.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' }).take(40).collect();
    let hash = sha2::Sha256::digest(name.as_bytes());
    let readable = readable.trim_matches('-');
    // 64 bits of the name's hash: two names never share a page (24 bits let
    // a crafted team name collide with a real one and stop the run).
    let hex: String = hash[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!("{}-{hex}", if readable.is_empty() { "none" } else { readable })
}

fn team_label(team: &str) -> &str {
    if team.is_empty() { "(no team)" } else { team }
}

#[derive(Serialize)]
struct RuleRow {
    code: String,
    link: String,
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

/// One finding as the report lists it. Borrowed from the extract and the
/// rules where the text is theirs as it stands (a national run's pages list
/// millions of items, each once made and written).
struct Item<'a> {
    team: Cow<'a, str>,
    worker: Cow<'a, str>,
    case_id: Cow<'a, str>,
    initials: &'a str,
    rule: &'a str,
    title: &'a str,
    trigger: String,
    due_at: String,
    done_at: String,
    status: &'static str,
    days: String,
    note: String,
    new: bool,
    source: String,
    team_link: String,
    worker_link: String,
}

/// The item tables, whose columns differ.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Table {
    /// The index's action list: team and worker linked to their pages.
    Action,
    Late,
    Accepted,
    /// A team, worker or rule page's list.
    Page,
}

/// A summary table's rows (rules, teams or workers) as HTML, written here
/// for the reason [`item_rows`] is: thousands of rows over a national
/// run's pages.
fn summary_rows(rows: &[SummaryRow]) -> String {
    let mut html = String::with_capacity(rows.len() * 200);
    for row in rows {
        html.push_str("<tr><th scope=\"row\">");
        push_linked(&mut html, &row.link, &row.name);
        html.push_str("</th>");
        for n in [row.assessed, row.met, row.late, row.overdue, row.due] {
            html.push_str("<td class=\"n\">");
            html.push_str(itoa::Buffer::new().format(n));
            html.push_str("</td>");
        }
        html.push_str("<td class=\"n\">");
        push_escaped(&mut html, &row.compliance);
        html.push_str("</td></tr>\n");
    }
    html
}

/// An item table's rows as HTML. Written here rather than by a handlebars
/// `each`: handlebars renders every field through a JSON copy of the page's
/// data (about 10 µs an item, 2 million items on a national run's pages).
/// Escaped by [`escape_html`], as the templates are.
fn item_rows(items: &[Item], table: Table) -> String {
    let mut html = String::with_capacity(items.len() * 500);
    for item in items {
        item_row(&mut html, item, table);
    }
    html
}

fn item_row(html: &mut String, item: &Item, table: Table) {
    let linked = |html: &mut String, link: &str, text: &str| {
        html.push_str("<td>");
        push_linked(html, link, text);
        html.push_str("</td>");
    };
    let cell = |html: &mut String, text: &str| linked(html, "", text);
    let status = |html: &mut String, new: bool| {
        html.push_str("<td class=\"status status-");
        push_escaped(html, item.status);
        html.push_str("\">");
        push_escaped(html, item.status);
        if new {
            html.push_str(" <strong class=\"new\">(new)</strong>");
        }
        html.push_str("</td>");
    };
    let rule = |html: &mut String| {
        html.push_str("<td>");
        push_escaped(html, &item.rule);
        html.push(' ');
        push_escaped(html, &item.title);
        html.push_str("</td>");
    };
    let days_and_source = |html: &mut String| {
        html.push_str("<td class=\"n\">");
        push_escaped(html, &item.days);
        html.push_str("</td><td class=\"note\">");
        push_escaped(html, &item.source);
        html.push_str("</td>");
    };
    html.push_str("<tr>");
    match table {
        Table::Action => {
            linked(html, &item.team_link, &item.team);
            linked(html, &item.worker_link, &item.worker);
        }
        Table::Late | Table::Accepted => {
            cell(html, &item.team);
            cell(html, &item.worker);
        }
        Table::Page => cell(html, &item.worker),
    }
    cell(html, &item.case_id);
    if table != Table::Accepted {
        cell(html, &item.initials);
    }
    rule(html);
    match table {
        Table::Action | Table::Page => {
            cell(html, &item.trigger);
            cell(html, &item.due_at);
            status(html, item.new);
            days_and_source(html);
        }
        Table::Late => {
            cell(html, &item.trigger);
            cell(html, &item.due_at);
            cell(html, &item.done_at);
            days_and_source(html);
        }
        Table::Accepted => {
            cell(html, &item.due_at);
            status(html, false);
            cell(html, &item.note);
        }
    }
    html.push_str("</tr>\n");
}

/// `text`, escaped, as a link to `link` unless that is empty.
fn push_linked(html: &mut String, link: &str, text: &str) {
    if link.is_empty() {
        push_escaped(html, text);
    } else {
        html.push_str("<a href=\"");
        push_escaped(html, link);
        html.push_str("\">");
        push_escaped(html, text);
        html.push_str("</a>");
    }
}

/// `text` escaped as [`escape_html`] escapes it, without its allocation
/// when there is nothing to escape (printable ASCII but for markup).
fn push_escaped(html: &mut String, text: &str) {
    let plain = |b: u8| matches!(b, 0x20..=0x7e) && !matches!(b, b'<' | b'>' | b'"' | b'&' | b'\'' | b'`' | b'=');
    // A fold, not `all`: without an early exit it compiles to vector code.
    if text.bytes().fold(true, |all, b| all & plain(b)) {
        html.push_str(text);
    } else {
        html.push_str(&escape_html(text));
    }
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

/// The teams and workers that have a page of their own (at most
/// [`MAX_PAGES`] each), by their names in findings.csv, with their pages'
/// [`slug`]s: only those are linked. Slugs are made once here, not per
/// link (a national run's lists link millions of times).
#[derive(Default)]
struct Paged<'a> {
    teams: BTreeMap<&'a str, String>,
    workers: BTreeMap<&'a str, String>,
}

impl<'a> Paged<'a> {
    fn new(teams: impl Iterator<Item = &'a str>, workers: impl Iterator<Item = &'a str>) -> Paged<'a> {
        Paged { teams: teams.map(|t| (t, slug(t))).collect(), workers: workers.map(|w| (w, slug(w))).collect() }
    }

    fn team_link(&self, team: &str, prefix: &str) -> String {
        self.teams.get(team).map_or(String::new(), |slug| format!("{prefix}teams/{slug}.html"))
    }

    fn worker_link(&self, worker: &str, prefix: &str) -> String {
        self.workers.get(worker).map_or(String::new(), |slug| format!("{prefix}workers/{slug}.html"))
    }
}

/// Text from the extract into HTML: handlebars' escaping of markup, then
/// control and invisible characters shown as codes ([`escape_controls`]).
///
/// [`escape_controls`]: crate::text::escape_controls
fn escape_html(text: &str) -> String {
    crate::text::escape_controls(&handlebars::html_escape(text)).into_owned()
}

/// How many months a rule's chart shows, ending with the as-of month.
const MONTHS_CHARTED: usize = 24;

/// One finding as listed; `paged` links its team and worker to their pages
/// (only the index's action list links them). Made without `format!`: a
/// national run's pages list two million items.
fn item<'a>(f: &'a Finding, run: &RunRecord<'a>, paged: Option<&Paged>) -> Item<'a> {
    let extract = run.extract();
    let rule = run.rules[f.rule as usize];
    let o = f.obligation();
    let case = f.case().map(|c| &extract.cases[c as usize]);
    // The row's cells as findings.csv has them (`RunRecord::row`), made
    // here without the cells the report does not show.
    let worker_id = f.worker().map_or("", |w| &*extract.workers[w as usize].id);
    let team = f.team(extract);
    let mut trigger = String::with_capacity(40);
    trigger.push_str(o.trigger_event.map_or("start", |e| extract.events[e as usize].kind.name()));
    trigger.push_str(" on ");
    crate::time::push_moment(&mut trigger, o.trigger_at);
    let worker = f.worker().map(|w| {
        let worker = &extract.workers[w as usize];
        match worker.staff.as_ref().and_then(|s| s.name.as_deref()) {
            Some(name) => Cow::Owned([name, " (", &worker.id, ")"].concat()),
            None => Cow::Borrowed(&*worker.id),
        }
    });
    let mut due_at = String::with_capacity(16);
    crate::time::push_due(&mut due_at, o.due);
    let mut done_at = String::new();
    if let Some(done) = o.done_at {
        crate::time::push_moment(&mut done_at, done);
    }
    Item {
        team_link: paged.map_or(String::new(), |paged| paged.team_link(team, "")),
        worker_link: paged.map_or(String::new(), |paged| paged.worker_link(worker_id, "")),
        team: team_label(team).into(),
        worker: worker.unwrap_or("(unallocated)".into()),
        case_id: run.case_reference(f),
        initials: if run.pseudonym_key.is_some() { "" } else { case.and_then(|c| c.initials.as_deref()).unwrap_or("") },
        rule: &rule.code,
        title: &rule.title,
        trigger,
        due_at,
        done_at,
        status: f.status.name(),
        days: f.overdue_days().map_or(String::new(), |d| itoa::Buffer::new().format(d).to_string()),
        note: f.accepted().map_or(String::new(), |i| run.acceptance_note(i)),
        new: run.is_new_overdue(f),
        source: sources(run, f),
    }
}

/// "started: events.csv:12; done: events.csv:15", either part left out
/// when there is nothing to trace.
fn sources(run: &RunRecord, f: &Finding) -> String {
    let extract = run.extract();
    let done = f.obligation().done_event.map(|e| (extract.events_file.as_str(), extract.events[e as usize].line));
    let mut text = String::with_capacity(64);
    for (what, source) in [("started: ", super::trigger_line(extract, &f.obligation())), ("done: ", done)] {
        if let Some((file, line)) = source {
            if !text.is_empty() {
                text.push_str("; ");
            }
            text.push_str(what);
            text.push_str(file);
            text.push(':');
            text.push_str(itoa::Buffer::new().format(line));
        }
    }
    text
}

/// The order items are listed in. A list cut at [`MAX_LISTED`] keeps the
/// oldest due (then by team, worker, case, and as in findings.csv, so by
/// rule); the index shows them grouped by team and worker, oldest due first
/// in each, the pages oldest due first. Compared as one integer per finding
/// (teams, workers and cases by the byte order of their names), since lists
/// are cut from millions.
struct ItemOrder<'a> {
    extract: &'a crate::model::Extract,
    teams: &'a Teams<'a>,
    team_rank: Vec<u32>,
}

impl<'a> ItemOrder<'a> {
    fn new(extract: &'a crate::model::Extract, teams: &'a Teams<'a>) -> ItemOrder<'a> {
        let team_names = &teams.names;
        let mut by_name: Vec<u32> = (0..team_names.len() as u32).collect();
        by_name.sort_by_key(|&t| team_names[t as usize]);
        let mut team_rank = vec![0; team_names.len()];
        for (rank, &t) in by_name.iter().enumerate() {
            team_rank[t as usize] = rank as u32;
        }
        ItemOrder { extract, teams, team_rank }
    }

    /// Due first, then team, worker and case.
    fn key(&self, f: &Finding) -> u128 {
        // No worker or case sorts first, as the empty name would.
        let worker = f.worker().map_or(0, |w| self.extract.worker_rank[w as usize] + 1);
        let case = f.case().map_or(0, |c| self.extract.case_rank[c as usize] + 1);
        let due = chrono::Datelike::num_days_from_ce(&f.due().date()).max(0) as u32;
        (due as u128) << 96 | (self.team_rank[self.teams.of(f) as usize] as u128) << 64 | (worker as u128) << 32 | case as u128
    }

    /// Team and worker before the due date: [`ItemOrder::key`] regrouped.
    fn grouped(key: u128) -> u128 {
        let part = |shift: u32| (key >> shift) as u32 as u128;
        part(64) << 96 | part(32) << 64 | part(96) << 32 | part(0)
    }

    /// Keeps the oldest [`MAX_LISTED`] items and sorts them (grouped by team
    /// and worker, or by due alone); returns how many there were.
    fn sort(&self, chosen: &mut Vec<&Finding>, grouped: bool) -> usize {
        let total = chosen.len();
        // Keys computed once per item, not per comparison; the index breaks
        // ties, so findings.csv's order (by rule) holds within a key.
        let mut keyed = oldest(chosen.iter().map(|f| self.key(f)), MAX_LISTED);
        if grouped {
            for entry in &mut keyed {
                entry.0 = Self::grouped(entry.0);
            }
        }
        keyed.sort_unstable();
        *chosen = keyed.iter().map(|&(_, i)| chosen[i as usize]).collect();
        total
    }
}

/// The `limit` least of `keys` as (key, place), ties to the earlier place,
/// in no particular order. Lists are cut from millions, so the least are
/// kept in a buffer cut back to `limit` whenever it doubles (a key for
/// every item was hundreds of megabytes of fresh memory); once cut, a key
/// no less than the greatest kept is passed over (its place is later).
fn oldest(keys: impl Iterator<Item = u128>, limit: usize) -> Vec<(u128, u32)> {
    let mut kept: Vec<(u128, u32)> = Vec::with_capacity(keys.size_hint().0.min(2 * limit));
    let mut greatest_kept = None;
    let cut = |kept: &mut Vec<(u128, u32)>| {
        if kept.len() > limit {
            kept.select_nth_unstable(limit);
            kept.truncate(limit);
        }
    };
    for (place, key) in keys.enumerate() {
        if greatest_kept.is_some_and(|greatest| key >= greatest) {
            continue;
        }
        kept.push((key, place as u32));
        if kept.len() == 2 * limit {
            cut(&mut kept);
            greatest_kept = kept.iter().map(|k| k.0).max();
        }
    }
    cut(&mut kept);
    kept
}

fn render(handlebars: &handlebars::Handlebars, template: &str, data: &impl Serialize, path: &Path) -> std::io::Result<()> {
    let html = handlebars.render(template, data).map_err(std::io::Error::other)?;
    let mut out = super::create(path)?;
    out.write_all(html.as_bytes())?;
    out.flush()
}

/// A deterministic sample: the `k` cases with the smallest keyed hashes.
fn sample(seed: u64, code: &str, mut cases: Vec<&str>, k: usize) -> Vec<String> {
    use sha2::Digest;
    let rank = |case: &str| {
        sha2::Sha256::new().chain_update(seed.to_le_bytes()).chain_update(code).chain_update([0]).chain_update(case).finalize()
    };
    cases.sort_by_cached_key(|c| rank(c));
    let mut chosen: Vec<String> = cases.into_iter().take(k).map(str::to_string).collect();
    chosen.sort();
    chosen
}

pub fn write_index(path: &Path, run: &RunRecord, teams: &Teams) -> std::io::Result<()> {
    let folder = path.parent().unwrap_or(Path::new("."));
    let extract = run.extract();
    // One pass over the findings with integer keys (teams interned once per
    // case and worker, workers by index), then small maps keyed by name.
    let rule_count = run.rules.len();
    let team_names = &teams.names;
    let team_count = team_names.len();
    let worker_slot = |f: &Finding| f.worker().map_or(0, |w| w as usize + 1);
    let order = ItemOrder::new(extract, teams);
    let mut per_rule = vec![Counts::default(); rule_count];
    let mut per_team_i = vec![Counts::default(); team_count];
    // By rule, then team: findings come rule by rule, so the rule in hand's
    // counts lie together (by team first, each finding was a miss).
    let mut team_rule_i = vec![Counts::default(); team_count * rule_count];
    let mut workers = WorkerTallies::new(extract.workers.len() + 1, rule_count);
    let mut monthly = Monthly::new(rule_count);
    let period_view = run.period != (None, None);
    let mut assessed_cases_i: Vec<Vec<u32>> = vec![Vec::new(); if period_view { rule_count } else { 0 }];
    let mut by_team_i: Vec<Vec<&Finding>> = vec![Vec::new(); team_count];
    let mut by_worker_i: Vec<Vec<&Finding>> = vec![Vec::new(); extract.workers.len() + 1];
    let mut by_rule: Vec<Vec<&Finding>> = vec![Vec::new(); rule_count];
    // The index's lists, gathered in the same pass (each pass over a
    // national run's findings reads 1.5 GB).
    let mut action_findings: Vec<&Finding> = Vec::new();
    let mut late_findings: Vec<&Finding> = Vec::new();
    for f in run.findings {
        let rule = f.rule as usize;
        let team = teams.of(f);
        let worker = worker_slot(f);
        per_rule[rule].add(f.status);
        per_team_i[team as usize].add(f.status);
        team_rule_i[rule * team_count + team as usize].add(f.status);
        workers.add(rule, team, worker, f.status);
        if matches!(f.status, Status::Met | Status::Late | Status::Overdue) {
            monthly.add(rule, f.due().date(), f.status == Status::Met);
            if let (true, Some(c)) = (period_view, f.case()) {
                assessed_cases_i[rule].push(c);
            }
        }
        if matches!(f.status, Status::Overdue | Status::Due) && f.accepted().is_none() {
            by_team_i[team as usize].push(f);
            by_worker_i[worker].push(f);
            action_findings.push(f);
        }
        if f.status == Status::Late && f.accepted().is_none() {
            late_findings.push(f);
        }
        if matches!(f.status, Status::Overdue | Status::Late) {
            by_rule[rule].push(f);
        }
    }
    workers.fold_in();
    let worker_name = |slot: usize| if slot == 0 { "" } else { &*extract.workers[slot - 1].id };
    let mut per_team: BTreeMap<&str, Counts> = BTreeMap::new();
    let mut team_rule: BTreeMap<(&str, usize), Counts> = BTreeMap::new();
    let mut rule_team: BTreeMap<(usize, &str), Counts> = BTreeMap::new();
    let mut by_team: BTreeMap<&str, Vec<&Finding>> = BTreeMap::new();
    for (t, name) in team_names.iter().enumerate() {
        let counts = per_team_i[t];
        if counts.is_empty() {
            continue;
        }
        per_team.insert(name, counts);
        by_team.insert(name, std::mem::take(&mut by_team_i[t]));
        for rule in 0..rule_count {
            let c = team_rule_i[rule * team_count + t];
            if !c.is_empty() {
                team_rule.insert((name, rule), c);
                rule_team.insert((rule, name), c);
            }
        }
    }
    let mut per_worker: BTreeMap<&str, Counts> = BTreeMap::new();
    let mut by_worker: BTreeMap<&str, Vec<&Finding>> = BTreeMap::new();
    for (slot, counts) in workers.totals().iter().enumerate() {
        if !counts.is_empty() {
            per_worker.insert(worker_name(slot), *counts);
            by_worker.insert(worker_name(slot), std::mem::take(&mut by_worker_i[slot]));
        }
    }
    let worker_rule = |worker: &str, rule: usize| -> Option<Counts> {
        let slot = if worker.is_empty() { 0 } else { *extract.worker_index.get(worker)? as usize + 1 };
        workers.of_rule(slot, rule).filter(|c| !c.is_empty())
    };
    let mut team_workers: BTreeMap<&str, BTreeMap<&str, Counts>> = BTreeMap::new();
    for ((team, slot), counts) in workers.in_teams() {
        team_workers.entry(team_names[team as usize]).or_default().insert(worker_name(slot), counts);
    }
    let assessed_cases: Vec<Vec<&str>> = assessed_cases_i
        .into_iter()
        .map(|mut cases| {
            cases.sort_unstable();
            cases.dedup();
            let mut ids: Vec<&str> = cases.into_iter().map(|c| &*extract.cases[c as usize].id).collect();
            ids.sort_unstable();
            ids
        })
        .collect();
    let mut rules: Vec<RuleRow> = run
        .rules
        .iter()
        .zip(&per_rule)
        .map(|(rule, n)| RuleRow {
            code: rule.label(),
            link: format!("rules/{}.html", slug(&rule.label())),
            title: rule.title.clone(),
            citation: rule.citation.clone(),
            assessed: n.assessed(),
            met: n.met,
            late: n.late,
            overdue: n.overdue,
            due: n.due,
            pending: n.pending,
            compliance: compliance(n.met, n.assessed()),
        })
        .collect();
    if run.period != (None, None) {
        // The period view puts the worst rules first.
        let ratio = |r: &RuleRow| if r.assessed == 0 { 2.0 } else { r.met as f64 / r.assessed as f64 };
        rules.sort_by(|a, b| ratio(a).total_cmp(&ratio(b)).then(a.code.cmp(&b.code)));
    }
    // Pages for the worst teams and the workers with most overdue, at most MAX_PAGES each.
    let mut team_order: Vec<(&str, SummaryRow)> =
        per_team.iter().map(|(t, n)| (*t, n.row(team_label(t).to_string(), String::new()))).collect();
    team_order.sort_by(|a, b| a.1.ratio.total_cmp(&b.1.ratio).then(a.1.name.cmp(&b.1.name)).then(a.0.cmp(b.0)));
    let mut worker_order: Vec<(&str, &Counts)> = per_worker.iter().map(|(w, c)| (*w, c)).collect();
    worker_order.sort_by(|a, b| b.1.overdue.cmp(&a.1.overdue).then(a.0.cmp(b.0)));
    let paged = Paged::new(team_order.iter().take(MAX_PAGES).map(|(t, _)| *t), worker_order.iter().take(MAX_PAGES).map(|(w, _)| *w));
    let teams: Vec<SummaryRow> =
        team_order.into_iter().take(MAX_LISTED).map(|(t, row)| SummaryRow { link: paged.team_link(t, ""), ..row }).collect();
    let teams = summary_rows(&teams);

    // The period view: trends and the audit sample.
    let mut trends = Vec::new();
    for (index, rule) in run.rules.iter().enumerate() {
        // Months after the as-of date hold only what was done early (always
        // 100%): the chart ends at the as-of month and shows the last 24.
        let as_of_month = (chrono::Datelike::year(&run.as_of), chrono::Datelike::month(&run.as_of));
        let months: Vec<_> = monthly.of_rule(index).into_iter().filter(|(month, _)| *month <= as_of_month).collect();
        let months = &months[months.len().saturating_sub(MONTHS_CHARTED)..];
        if months.len() < 2 {
            continue;
        }
        let bars = months
            .iter()
            .enumerate()
            .map(|(i, ((y, m), (met, all)))| {
                let height = (*met as f64 / (*all).max(1) as f64 * 50.0).round() as usize;
                let label = if *m == 1 { format!("1/{:02}", y % 100) } else { m.to_string() };
                Bar { x: i * 18 + 2, y: 55 - height, height: height.max(1), label }
            })
            .collect();
        let summary =
            months.iter().map(|((y, m), (met, all))| format!("{y}-{m:02} {}", compliance(*met, *all))).collect::<Vec<_>>().join(", ");
        trends.push(Trend { code: rule.label(), title: rule.title.clone(), width: months.len() * 18 + 20, summary, bars });
    }
    let sample_seed = run.sample_seed;
    let samples = if period_view {
        run.rules
            .iter()
            .zip(&assessed_cases)
            .filter(|(_, cases)| !cases.is_empty())
            .map(|(rule, cases)| {
                let n = cases.len();
                let k = if n <= 20 { n } else { (n as f64 * 0.2).ceil().max(20.0) as usize };
                let chosen = sample(sample_seed, &rule.code, cases.iter().copied().collect(), k);
                let shown: Vec<String> = match run.pseudonym_key {
                    Some(key) => chosen.iter().map(|c| super::pseudonym(key, c)).collect(),
                    None => chosen,
                };
                Sample { code: rule.label(), of: n, cases: shown.join(", ") }
            })
            .collect()
    } else {
        Vec::new()
    };

    let action_total = order.sort(&mut action_findings, true);
    let action: Vec<Item> = action_findings.into_iter().map(|f| item(f, run, Some(&paged))).collect();
    let (action_shown, action) = (action.len(), item_rows(&action, Table::Action));
    let late_total = order.sort(&mut late_findings, true);
    let late: Vec<Item> = late_findings.into_iter().map(|f| item(f, run, None)).collect();
    let (late_shown, late) = (late.len(), item_rows(&late, Table::Late));
    let period_text = match run.period {
        (None, None) => "Period: all obligations in the extract.".to_string(),
        (from, to) => format!(
            "Period view: obligations falling due from {} to {}.",
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
    let resolved: Vec<[&str; 5]> = run.previous.resolved(run.overdue_ids).into_iter().map(|(row, _)| row).collect();
    let csp_script_hash = {
        use base64::Engine;
        use sha2::Digest;
        format!("sha256-{}", base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(SCRIPT.as_bytes())))
    };
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
        action_cut: action_total > action_shown,
        action_shown,
        action_total,
        action,
        late_cut: late_total > late_shown,
        late_shown,
        late_total,
        late,
        files,
        ignored_files: &run.ingest.ignored_files,
        warning_lines: run.warning_lines(MAX_LISTED),
        warnings_cut: warnings_total > MAX_LISTED,
        warnings_shown: warnings_total.min(MAX_LISTED),
        warnings_total,
        accepted: item_rows(
            &run.findings
                .iter()
                .filter(|f| f.accepted().is_some() && f.status != Status::Met)
                .take(MAX_LISTED)
                .map(|f| item(f, run, None))
                .collect::<Vec<_>>(),
            Table::Accepted,
        ),
        expired: run.expired_acceptances(),
        has_previous: run.previous.folder.is_some(),
        new_overdue: run.new_overdue.len(),
        resolved_total: resolved.len(),
        resolved: resolved.into_iter().take(MAX_LISTED).collect(),
        teams,
        trends,
        samples,
        sample_seed,
        script: SCRIPT,
        head: Head { csp_script_hash: csp_script_hash.clone() },
        max_pages: MAX_PAGES,
        findings_json: run.findings_json,
    };
    let mut handlebars = handlebars::Handlebars::new();
    handlebars.register_escape_fn(escape_html);
    handlebars.set_strict_mode(true);
    handlebars.register_partial("head", HEAD).map_err(std::io::Error::other)?;
    handlebars.register_template_string("index", TEMPLATE).map_err(std::io::Error::other)?;
    handlebars.register_template_string("page", PAGE).map_err(std::io::Error::other)?;
    render(&handlebars, "index", &page, path)?;

    // Pages: one per team, worker and rule.
    for dir in ["teams", "workers", "rules"] {
        super::publish::create_private_dir(&folder.join(dir))?;
    }
    let sub = |title: String,
               intro: Vec<String>,
               explanation: Option<String>,
               first: &'static str,
               summary: Vec<SummaryRow>,
               items_title: &'static str,
               mut chosen: Vec<&Finding>| {
        let total = order.sort(&mut chosen, false);
        let items: Vec<Item> = chosen.into_iter().map(|f| item(f, run, None)).collect();
        let (items_shown, items) = (items.len(), item_rows(&items, Table::Page));
        SubPage {
            service: run.service,
            tool_version: env!("CARGO_PKG_VERSION"),
            as_of: run.as_of.to_string(),
            title,
            intro,
            explanation,
            summary_title: "Compliance",
            summary_caption: "Assessed = met + late + overdue; compliance = met on time ÷ assessed",
            summary_first: first,
            summary: summary_rows(&summary),
            items_title,
            items_cut: total > items_shown,
            items_shown,
            items_total: total,
            items,
            script: SCRIPT,
            head: Head { csp_script_hash: csp_script_hash.clone() },
        }
    };
    // Each rule's name and link as a page's summary shows them, made once
    // for the thousand pages.
    let rule_names: Vec<(String, String)> =
        run.rules.iter().map(|r| (format!("{} {}", r.label(), r.title), format!("../rules/{}.html", slug(&r.label())))).collect();
    let rule_rows = |pick: &(dyn Fn(usize) -> Option<Counts> + Sync)| -> Vec<SummaryRow> {
        rule_names.iter().enumerate().filter_map(|(i, (name, link))| pick(i).map(|n| n.row(name.clone(), link.clone()))).collect()
    };
    let team_pages: Vec<(&str, &Counts, Vec<&Finding>)> = per_team
        .iter()
        .filter(|(t, _)| paged.teams.contains_key(*t))
        .map(|(team, counts)| (*team, counts, by_team.remove(team).unwrap_or_default()))
        .collect();
    {
        use rayon::prelude::*;
        team_pages.into_par_iter().try_for_each(|(team, counts, chosen)| {
            let workers = team_workers.get(team).into_iter().flatten().map(|(w, n)| {
                let link = paged.worker_link(w, "../");
                n.row(if w.is_empty() { "(unallocated)".into() } else { w.to_string() }, link)
            });
            let mut summary = rule_rows(&|i| team_rule.get(&(team, i)).copied());
            summary.extend(workers);
            let intro = counts.sentence(run.look_ahead_days);
            let page = sub(
                format!("Team: {}", team_label(team)),
                vec![intro],
                None,
                "Rule or worker",
                summary,
                "Needs action: overdue and due soon",
                chosen,
            );
            render(&handlebars, "page", &page, &folder.join("teams").join(format!("{}.html", paged.teams[team])))
        })?;
    }
    // Worker pages: thousands at national scale, so rendered on every core.
    let worker_pages: Vec<(&str, &Counts, Vec<&Finding>)> = per_worker
        .iter()
        .filter(|(w, _)| paged.workers.contains_key(*w))
        .map(|(worker, counts)| (*worker, counts, by_worker.remove(worker).unwrap_or_default()))
        .collect();
    {
        use rayon::prelude::*;
        worker_pages.into_par_iter().try_for_each(|(worker, counts, chosen)| {
            let name = extract.worker_index.get(worker).and_then(|&w| extract.staff(w)).and_then(|s| s.name.as_deref());
            let title = match (worker.is_empty(), name) {
                (true, _) => "Worker: (unallocated)".to_string(),
                (false, Some(n)) => format!("Worker: {n} ({worker})"),
                (false, None) => format!("Worker: {worker}"),
            };
            let intro = counts.sentence(run.look_ahead_days);
            let summary = rule_rows(&|i| worker_rule(worker, i));
            let page = sub(title, vec![intro], None, "Rule", summary, "Needs action: overdue and due soon", chosen);
            render(&handlebars, "page", &page, &folder.join("workers").join(format!("{}.html", paged.workers[worker])))
        })?;
    }
    // Rule pages: one each, on every core (a national rule lists a million breaches).
    use rayon::prelude::*;
    by_rule.into_par_iter().enumerate().try_for_each(|(index, breaches)| {
        let rule = run.rules[index];
        let n = per_rule[index];
        let summary: Vec<SummaryRow> = rule_team
            .range((index, "")..)
            .take_while(|((i, _), _)| *i == index)
            .map(|((_, t), c)| c.row(team_label(t).to_string(), paged.team_link(t, "../")))
            .collect();
        let page = sub(
            format!("{} — {}", rule.label(), rule.title),
            vec![
                format!("{} ({})", rule.policy, rule.citation),
                format!(
                    "{} obligations assessed, {} met on time ({}), {} late, {} overdue.",
                    n.assessed(),
                    n.met,
                    compliance(n.met, n.assessed()),
                    n.late,
                    n.overdue
                ),
            ],
            Some(crate::cli::explain(rule, crate::cli::Format::Table)),
            "Team",
            summary,
            "Breaches: overdue and late",
            breaches,
        );
        render(&handlebars, "page", &page, &folder.join("rules").join(format!("{}.html", slug(&rule.label()))))
    })
}

#[cfg(test)]
mod tests {
    use super::{Item, SummaryRow, Table, escape_html, item_rows, push_escaped, summary_rows};

    /// Rules interleave (two versions of one rule share a place in the
    /// order) and workers change teams: each change of rule folds in what
    /// was summed, and nothing is lost or counted twice, per rule, per team
    /// or in all.
    #[test]
    fn worker_tallies_add_up_whatever_the_order_of_rules_and_teams() {
        // Findings one by one, and in runs of one worker, team and rule (as
        // a case's findings come) with their statuses mixed.
        for run in [1, 3] {
            worker_tallies_add_up(run);
        }
    }

    fn worker_tallies_add_up(run: usize) {
        let statuses = crate::findings::Status::ALL;
        // (rule, team, slot, status); slot 0 is no worker.
        let findings: Vec<(usize, u32, usize, crate::findings::Status)> = (0..700)
            .map(|i| {
                let k = i / run;
                ((k / 7 + k % 3) % 4, ((k * 7) % 11 % 3) as u32, (k * 13) % 9, statuses[i % 5])
            })
            .collect();
        let mut tallies = super::WorkerTallies::new(9, 4);
        for &(rule, team, slot, status) in &findings {
            tallies.add(rule, team, slot, status);
        }
        tallies.fold_in();
        let as_tuple = |c: super::Counts| (c.met, c.late, c.overdue, c.due, c.pending);
        let sum = |keep: &dyn Fn(&(usize, u32, usize, crate::findings::Status)) -> bool| {
            let mut expected = super::Counts::default();
            findings.iter().filter(|f| keep(f)).for_each(|f| expected.add(f.3));
            as_tuple(expected)
        };
        let totals = tallies.totals();
        let in_teams: Vec<((u32, usize), super::Counts)> = tallies.in_teams().collect();
        for slot in 0..9 {
            assert_eq!(as_tuple(totals[slot]), sum(&|f| f.2 == slot), "slot {slot}");
            for rule in 0..4 {
                let got = tallies.of_rule(slot, rule).unwrap_or_default();
                assert_eq!(as_tuple(got), sum(&|f| f.0 == rule && f.2 == slot));
            }
            for team in 0..3 {
                let got: Vec<_> = in_teams.iter().filter(|(key, _)| *key == (team, slot)).collect();
                let expected = sum(&|f| f.1 == team && f.2 == slot);
                if slot == 0 || expected == (0, 0, 0, 0, 0) {
                    assert!(got.is_empty(), "team {team} slot {slot}");
                } else {
                    assert_eq!(got.len(), 1, "team {team} slot {slot}: one entry");
                    assert_eq!(as_tuple(got[0].1), expected);
                }
            }
        }
        let teams_of = |slot: usize| in_teams.iter().filter(|((_, s), _)| *s == slot).count();
        assert!((1..9).all(|slot| teams_of(slot) > 1), "the fixture gives every worker more than one team");
    }
    use proptest::prelude::*;

    proptest! {
        /// The buffer cut as it goes keeps what one sort of every key keeps.
        #[test]
        fn the_oldest_are_those_a_full_sort_keeps(keys in proptest::collection::vec(prop_oneof![0u128..40, Just(u128::MAX)], 0..300), limit in 0usize..50) {
            let mut all: Vec<(u128, u32)> = keys.iter().enumerate().map(|(i, &k)| (k, i as u32)).collect();
            all.sort_unstable();
            all.truncate(limit);
            let mut kept = super::oldest(keys.into_iter(), limit);
            kept.sort_unstable();
            prop_assert_eq!(kept, all);
        }
    }

    /// The rows as handlebars wrote them from the templates' `each` blocks
    /// before rows were rendered in Rust: the HTML must not change.
    const HANDLEBARS_ROWS: [(Table, &str); 4] = [
        (
            Table::Action,
            r#"{{#each items}}<tr><td>{{#if team_link}}<a href="{{team_link}}">{{team}}</a>{{else}}{{team}}{{/if}}</td><td>{{#if worker_link}}<a href="{{worker_link}}">{{worker}}</a>{{else}}{{worker}}{{/if}}</td><td>{{case_id}}</td><td>{{initials}}</td><td>{{rule}} {{title}}</td><td>{{trigger}}</td><td>{{due_at}}</td><td class="status status-{{status}}">{{status}}{{#if new}} <strong class="new">(new)</strong>{{/if}}</td><td class="n">{{days}}</td><td class="note">{{source}}</td></tr>
{{/each}}"#,
        ),
        (
            Table::Late,
            r#"{{#each items}}<tr><td>{{team}}</td><td>{{worker}}</td><td>{{case_id}}</td><td>{{initials}}</td><td>{{rule}} {{title}}</td><td>{{trigger}}</td><td>{{due_at}}</td><td>{{done_at}}</td><td class="n">{{days}}</td><td class="note">{{source}}</td></tr>
{{/each}}"#,
        ),
        (
            Table::Accepted,
            r#"{{#each items}}<tr><td>{{team}}</td><td>{{worker}}</td><td>{{case_id}}</td><td>{{rule}} {{title}}</td><td>{{due_at}}</td><td class="status status-{{status}}">{{status}}</td><td>{{note}}</td></tr>
{{/each}}"#,
        ),
        (
            Table::Page,
            r#"{{#each items}}<tr><td>{{worker}}</td><td>{{case_id}}</td><td>{{initials}}</td><td>{{rule}} {{title}}</td><td>{{trigger}}</td><td>{{due_at}}</td><td class="status status-{{status}}">{{status}}{{#if new}} <strong class="new">(new)</strong>{{/if}}</td><td class="n">{{days}}</td><td class="note">{{source}}</td></tr>
{{/each}}"#,
        ),
    ];

    fn as_json(item: &Item) -> serde_json::Value {
        serde_json::json!({
            "team": item.team, "worker": item.worker, "case_id": item.case_id, "initials": item.initials,
            "rule": item.rule, "title": item.title, "trigger": item.trigger, "due_at": item.due_at,
            "done_at": item.done_at, "status": item.status, "days": item.days, "note": item.note,
            "new": item.new, "source": item.source, "team_link": item.team_link, "worker_link": item.worker_link,
        })
    }

    fn text() -> impl Strategy<Value = String> {
        prop_oneof![4 => "[A-Za-z0-9 :./-]{0,12}", 1 => "[<>&\"'`=a \u{1}\u{7f}\u{202e}é\t\n]{0,6}", 1 => Just(String::new())]
    }

    proptest! {
        #[test]
        fn item_rows_are_the_html_the_templates_wrote(
            fields in proptest::collection::vec(text(), 15),
            new in any::<bool>(),
            status in prop_oneof![Just("overdue"), Just("due"), Just("late"), Just("met")],
        ) {
            let f = |i: usize| fields[i].clone();
            let item = Item {
                team: f(0).into(), worker: f(1).into(), case_id: f(2).into(), initials: &fields[3], rule: &fields[4], title: &fields[5], trigger: f(6),
                due_at: f(7), done_at: f(8), status, days: f(9), note: f(10), new, source: f(11),
                team_link: f(12), worker_link: f(13),
            };
            let mut second = second_item(&fields, status);
            second.new = !new;
            let items = [item, second];
            let mut handlebars = handlebars::Handlebars::new();
            handlebars.register_escape_fn(escape_html);
            handlebars.set_strict_mode(true);
            for (table, template) in HANDLEBARS_ROWS {
                let data = serde_json::json!({ "items": items.iter().map(as_json).collect::<Vec<_>>() });
                let expected = handlebars.render_template(template, &data).unwrap();
                prop_assert_eq!(item_rows(&items, table), expected);
            }
        }

        #[test]
        fn summary_rows_are_the_html_the_templates_wrote(
            texts in proptest::collection::vec((text(), text()), 0..4),
            counts in proptest::collection::vec(any::<u64>(), 5),
            compliance in prop_oneof![Just("–".to_string()), Just("97.5%".to_string()), text()],
        ) {
            const TEMPLATE: &str = r#"{{#each summary}}<tr><th scope="row">{{#if link}}<a href="{{link}}">{{name}}</a>{{else}}{{name}}{{/if}}</th><td class="n">{{assessed}}</td><td class="n">{{met}}</td><td class="n">{{late}}</td><td class="n">{{overdue}}</td><td class="n">{{due}}</td><td class="n">{{compliance}}</td></tr>
    {{/each}}"#;
            let rows: Vec<SummaryRow> = texts
                .into_iter()
                .map(|(name, link)| SummaryRow {
                    name,
                    link,
                    assessed: counts[0],
                    met: counts[1],
                    late: counts[2],
                    overdue: counts[3],
                    due: counts[4],
                    compliance: compliance.clone(),
                    ratio: 0.0,
                })
                .collect();
            let mut handlebars = handlebars::Handlebars::new();
            handlebars.register_escape_fn(escape_html);
            handlebars.set_strict_mode(true);
            let expected = handlebars.render_template(TEMPLATE, &serde_json::json!({ "summary": rows })).unwrap();
            prop_assert_eq!(summary_rows(&rows), expected);
        }

        #[test]
        fn text_is_escaped_as_the_templates_escape_it(text in "\\PC{0,12}|[<>&\"'`=\u{0}-\u{1f}\u{7f}\u{200e}\u{2066}a]{0,8}") {
            let mut html = String::new();
            push_escaped(&mut html, &text);
            prop_assert_eq!(html, escape_html(&text));
        }
    }

    /// Another item from the same texts, taken in another order.
    fn second_item<'a>(fields: &'a [String], status: &'static str) -> Item<'a> {
        let f = |i: usize| fields[(i * 7) % fields.len()].clone();
        Item {
            team: f(1).into(),
            worker: f(2).into(),
            case_id: f(3).into(),
            initials: &fields[4 * 7 % fields.len()],
            rule: &fields[5 * 7 % fields.len()],
            title: &fields[6 * 7 % fields.len()],
            trigger: f(7),
            due_at: f(8),
            done_at: f(9),
            status,
            days: f(10),
            note: f(11),
            new: false,
            source: f(12),
            team_link: f(13),
            worker_link: f(14),
        }
    }
}
