//! yjaudit: a batch compliance auditor for youth justice services.
//!
//! The data flows one way, one module per stage:
//! `source` (CSV extract → typed [`model::Extract`], every row used or
//! rejected) → `calendar` (working days) → `rules` (rule files → compiled
//! [`kinds`]) → `engine` (rules × cases and workers, in parallel) →
//! `findings` (status, attribution, sort) → `output` (CSV, JSON, manifest,
//! HTML, published atomically).

pub mod calendar;
pub mod cli;
pub mod config;
pub mod engine;
pub mod exceptions;
pub mod findings;
pub mod generate;
pub mod kinds;
pub mod layout;
pub mod memory;
pub mod model;
pub mod output;
pub mod pieces;
pub mod rules;
pub mod source;
pub mod text;
pub mod time;

use std::path::PathBuf;

/// Why a run stopped, and the exit status it maps to (contract section 2).
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    #[error("{0}")]
    Usage(String),
    #[error("rule files are not valid:\n{0}")]
    Rules(#[from] rules::RuleError),
    #[error("calendar data is not valid: {0}")]
    Calendar(#[from] calendar::CalendarError),
    #[error("input unusable: {0}")]
    Input(#[from] source::InputError),
    #[error("{0}")]
    Output(String),
    #[error("{0}")]
    Locked(String),
    #[error("{0} item(s) became overdue since the previous run (see the report's action list)")]
    NewOverdue(usize),
}

impl Failure {
    pub fn exit_code(&self) -> u8 {
        match self {
            Failure::Usage(_) | Failure::Rules(_) | Failure::Calendar(_) => 2,
            Failure::Input(_) => 3,
            Failure::Output(_) => 4,
            Failure::Locked(_) => 5,
            Failure::NewOverdue(_) => 6,
        }
    }
}

impl From<output::publish::PublishError> for Failure {
    fn from(e: output::publish::PublishError) -> Failure {
        match e {
            output::publish::PublishError::Locked(_) => Failure::Locked(e.to_string()),
            other => Failure::Output(other.to_string()),
        }
    }
}

/// A resolved plan for one audit run: paths found, dates fixed.
#[derive(Clone, Debug)]
pub struct Plan {
    pub input: PathBuf,
    pub rules: PathBuf,
    pub out: PathBuf,
    pub profile: String,
    pub as_of: chrono::NaiveDate,
    pub period: (Option<chrono::NaiveDate>, Option<chrono::NaiveDate>),
    /// From the command line; else the configuration's; else 7.
    pub look_ahead_days: Option<u32>,
    /// From the command line; else the configuration's.
    pub service: Option<String>,
    /// `--config`; else `yjaudit.toml` in the input folder, if any.
    pub config: Option<PathBuf>,
    /// `--exceptions`; else `exceptions.csv` in the input folder, if any.
    pub exceptions: Option<PathBuf>,
    /// Replace case references with keyed pseudonyms (and drop initials).
    pub pseudonym_key: Option<String>,
    /// Keep this many report folders in the reports folder, pruning older ones.
    pub keep: Option<usize>,
    /// Seed of the period view's audit sample [default: the as-of date as YYYYMMDD].
    pub sample_seed: Option<u64>,
    /// Show progress on standard error (only when it is a terminal).
    pub progress: bool,
    /// Write the CSVs for Excel: a UTF-8 byte-order mark, and date-times
    /// with a space (`YYYY-MM-DD HH:MM`) rather than `T`.
    pub excel: bool,
    /// Write findings.json beside findings.csv (the contract's default); a
    /// national run may leave it out: it repeats the CSV in twice the bytes.
    pub findings_json: bool,
    pub command_line: Vec<String>,
}

impl Plan {
    /// A plan with every option at its default: canonical profile, no
    /// period, no configuration or exceptions beyond what sits beside the data.
    pub fn new(input: PathBuf, rules: PathBuf, out: PathBuf, as_of: chrono::NaiveDate) -> Plan {
        Plan {
            input,
            rules,
            out,
            profile: "canonical".into(),
            as_of,
            period: (None, None),
            look_ahead_days: None,
            service: None,
            config: None,
            exceptions: None,
            pseudonym_key: None,
            keep: None,
            sample_seed: None,
            progress: false,
            excel: false,
            findings_json: true,
            command_line: Vec::new(),
        }
    }
}

/// Default look-ahead window for `due`, in days.
pub const DEFAULT_LOOK_AHEAD_DAYS: u32 = 7;

/// Loads the rules with a service's configuration applied, and the
/// calendar with its closure days: what `run` and `rules list` both use.
pub fn load_rules(
    rules: &std::path::Path,
    config: Option<&std::path::Path>,
) -> Result<(rules::RuleSet, config::Config, calendar::Calendar), Failure> {
    let mut rule_set = rules::RuleSet::load(rules)?;
    let config = match config {
        Some(path) => config::Config::load(path, &rule_set)?,
        None => config::Config::default(),
    };
    config.apply(&mut rule_set);
    let calendar = calendar::Calendar::load(&rules.join("calendar"))?.with_closures(config.closure_days.clone());
    Ok((rule_set, config, calendar))
}

/// Wall time, processor time and peak memory (so far) at the end of each phase.
struct Phases(Vec<Phase>, Option<std::time::Instant>);

#[derive(Clone, Debug)]
pub struct Phase {
    pub name: &'static str,
    pub seconds: f64,
    /// Processor time the phase took on all cores: (user, system) seconds
    /// (Unix only). Against the wall time it says whether both cores were
    /// busy, and the system part how much went to the kernel (page faults,
    /// copies into files).
    pub cpu_seconds: Option<(f64, f64)>,
    /// The process's peak resident memory so far, in MiB (Linux only).
    pub peak_mib: Option<f64>,
}

impl Phases {
    fn start() -> Phases {
        Phases(Vec::new(), Some(std::time::Instant::now()))
    }

    fn done(&mut self, name: &'static str) {
        let started = *self.1.get_or_insert_with(std::time::Instant::now);
        let now = std::time::Instant::now();
        let before: f64 = self.0.iter().map(|p| p.seconds).sum();
        let cpu_before = self.0.iter().filter_map(|p| p.cpu_seconds).fold((0.0, 0.0), |a, b| (a.0 + b.0, a.1 + b.1));
        let cpu_seconds = processor_seconds().map(|(user, system)| (user - cpu_before.0, system - cpu_before.1));
        self.0.push(Phase { name, seconds: (now - started).as_secs_f64() - before, cpu_seconds, peak_mib: peak_memory_mib() });
    }
}

/// The process's (user, system) processor time so far, in seconds.
fn processor_seconds() -> Option<(f64, f64)> {
    #[cfg(unix)]
    {
        let mut usage = std::mem::MaybeUninit::<libc::rusage>::uninit();
        // SAFETY: getrusage fills the struct it is given, and reports failure.
        if unsafe { libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) } != 0 {
            return None;
        }
        // SAFETY: filled by the successful call above.
        let usage = unsafe { usage.assume_init() };
        let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
        Some((seconds(usage.ru_utime), seconds(usage.ru_stime)))
    }
    #[cfg(not(unix))]
    None
}

/// VmHWM from /proc/self/status.
pub fn peak_memory_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// What a finished run tells the operator.
#[derive(Clone, Debug)]
pub struct Summary {
    /// Time and memory by phase: ingest, rules, findings, outputs.
    pub phases: Vec<Phase>,
    pub findings: usize,
    pub counts: std::collections::BTreeMap<&'static str, u64>,
    pub rows_rejected: u64,
    pub not_assessed: usize,
    /// Overdue now, not overdue in the previous run in the same reports folder.
    pub new_overdue: usize,
}

/// The pipeline: load rules and calendar, read the extract, evaluate,
/// judge, and publish the outputs.
pub fn audit(plan: &Plan) -> Result<Summary, Failure> {
    let config_path = config::Config::find(plan.config.as_deref(), &plan.input);
    let (rule_set, config, calendar) = load_rules(&plan.rules, config_path.as_deref())?;
    let look_ahead_days = plan.look_ahead_days.or(config.look_ahead_days).unwrap_or(DEFAULT_LOOK_AHEAD_DAYS);
    let service = plan.service.clone().or(config.service.clone()).unwrap_or_else(|| "Youth Justice Service".into());
    let register = match exceptions::Register::find(plan.exceptions.as_deref(), &plan.input) {
        Some(path) => exceptions::Register::load(&path, &rule_set)?,
        None => exceptions::Register::default(),
    };
    // Refused before the extract is read (and again under the lock).
    output::publish::check_replaceable(&plan.out)?;
    let mut phases = Phases::start();
    let progress = |what: &str| {
        if plan.progress {
            eprint!("\r\x1b[2Kyjaudit: {what}…");
        }
    };
    let profile = source::profile::Profile::resolve(&plan.profile, &plan.rules)?;
    progress("reading the extract");
    let ingest = source::load(&plan.input, &profile)?;
    phases.done("ingest");
    progress("applying the rules");
    let extract = &ingest.extract;
    let ctx = kinds::Context::new(extract, &calendar, plan.as_of);
    let (assessed, not_assessed) = engine::assessable(&rule_set.rules, &ctx);
    let obligations = engine::evaluate(&assessed, &ctx);
    let judgement = findings::Judgement { as_of: plan.as_of, look_ahead_days, period: plan.period };
    phases.done("rules");
    let findings = findings::judge(obligations, &assessed, extract, &judgement, &register);
    phases.done("findings");
    let reports = plan.out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
    let previous = output::Previous::load(reports, plan.pseudonym_key.is_some());
    let mut run = output::RunRecord {
        ingest: &ingest,
        rules: &assessed,
        rule_files: &rule_set.files,
        not_assessed: &not_assessed,
        findings: &findings,
        status_totals: findings::status_totals(&findings),
        as_of: plan.as_of,
        period: plan.period,
        look_ahead_days,
        profile: &profile.name,
        command_line: plan.command_line.clone(),
        service: &service,
        config: &config,
        register: &register,
        previous: &previous,
        overdue_ids: &Default::default(),
        pseudonym_key: plan.pseudonym_key.as_deref(),
        new_overdue: &[],
        excel: plan.excel,
        findings_json: plan.findings_json,
        profile_file: profile.path.as_ref().map(|p| {
            (
                p.display().to_string(),
                std::fs::read(p)
                    .map(|b| {
                        use sha2::Digest;
                        format!("{:x}", sha2::Sha256::digest(b))
                    })
                    .unwrap_or_default(),
            )
        }),
        sample_seed: plan.sample_seed.unwrap_or_else(|| plan.as_of.format("%Y%m%d").to_string().parse().unwrap_or(1)),
    };
    // Overdue now, by place and id (only to compare with a previous run).
    let overdue: Vec<(u32, u64)> = if previous.folder.is_some() {
        use rayon::prelude::*;
        (0..findings.len() as u32)
            .into_par_iter()
            .filter(|&i| findings[i as usize].status == findings::Status::Overdue)
            .map(|i| (i, run.id_number(&findings[i as usize])))
            .collect()
    } else {
        Vec::new()
    };
    let overdue_ids: foldhash::HashSet<u64> = overdue.iter().map(|&(_, id)| id).collect();
    let new_overdue: Vec<(u32, u64)> = overdue.into_iter().filter(|&(_, id)| !previous.was_overdue(id)).collect();
    run.new_overdue = &new_overdue;
    run.overdue_ids = &overdue_ids;
    progress("writing the reports");
    output::publish::publish(&plan.out, |folder| output::write_all(folder, &run))?;
    if plan.progress {
        eprint!("\r\x1b[2K");
    }
    if let Some(keep) = plan.keep {
        output::publish::prune(reports, &plan.out, keep);
    }
    phases.done("outputs");
    Ok(Summary {
        phases: phases.0,
        findings: findings.len(),
        counts: run.status_counts(),
        rows_rejected: ingest.rows_rejected(),
        not_assessed: not_assessed.len(),
        new_overdue: run.new_overdue.len(),
    })
}
