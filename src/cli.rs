//! The command line (contract section 2): what the user typed, resolved into
//! a [`Plan`], then run. Exit statuses: 0 finished, 2 usage or rule-file
//! error, 3 input unusable, 4 output cannot be written, 5 locked.

use crate::rules::RuleSet;
use crate::{Failure, Plan};
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

const AFTER_HELP: &str = "\
Examples:
  yjaudit run                                  audit the bundled sample data
  yjaudit run --input /data/extract --as-of 2026-11-23
  yjaudit run --input /data/extract --from 2026-04-01 --to 2026-09-30 --out reports/qa-h1
  yjaudit run --input /data/childview-export --profile childview
  yjaudit run --quiet --fail-on-new-overdue --keep 30       nightly, from cron
  yjaudit run --input /data/region --no-findings-json        a region's history: CSV only
  yjaudit check --input /data/extract          validate an extract, write nothing
  yjaudit profile draft --input /data/new-export --out ours.toml
  yjaudit rules list
  yjaudit rules explain CMM001

Exit status:
  0  the run finished (whatever it found)
  2  usage error; invalid rule, configuration, profile or exceptions file
  3  input unusable (missing file or required column, unreadable encoding)
  4  output cannot be written
  5  another run holds the lock on the same reports folder
  6  (only with --fail-on-new-overdue) items became overdue since the last run
  128+N  interrupted by signal N (130 Ctrl-C, 143 SIGTERM): nothing published";

#[derive(Debug, Parser)]
#[command(
    name = "yjaudit",
    version,
    about = "Audit youth justice case records against the timescales in the service's policies.",
    long_about = "Audit youth justice case records against the timescales in the service's policies.\n\n\
yjaudit reads the CSV extracts of a case system (cases, staff, allocations, events, absences), \
applies every timescale rule under rules/ (each citing its policy section) and writes \
findings.csv, findings.json, rejected.csv, changes.csv, manifest.json and an HTML report.",
    after_help = AFTER_HELP
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Audit an extract and write the reports.
    #[command(after_help = AFTER_HELP)]
    Run(RunArgs),
    /// Validate an extract: report rows read, used and rejected; write nothing.
    #[command(
        after_help = "Examples:\n  yjaudit check --input /data/extract                   exit 0: usable (rows may still be rejected)\n  yjaudit check --input /data/export --profile mosaic   a Mosaic export, read through its profile\n\nExit status: 0 usable, 3 unusable (missing file or column, unreadable encoding), 2 usage error."
    )]
    Check(InputArgs),
    /// List or explain the rules.
    #[command(
        after_help = "Examples:\n  yjaudit rules list\n  yjaudit rules list --format json --config yjaudit.toml\n  yjaudit rules explain CMM001"
    )]
    Rules {
        #[command(subcommand)]
        command: RulesCommand,
    },
    /// Write a synthetic canonical extract (seeded, reproducible) for trials and benchmarks.
    #[command(
        after_help = "Examples:\n  yjaudit generate --cases 100000 --seed 1 --as-of 2026-11-23 --out /tmp/extract\n  yjaudit run --input /tmp/extract --as-of 2026-11-23\n  yjaudit generate --from sample-data/canonical --layout childview --out /tmp/childview   the same extract as ChildView lays it out"
    )]
    Generate(GenerateArgs),
    /// Start a source profile for a new export.
    Profile {
        #[command(subcommand)]
        command: ProfileCommand,
    },
}

#[derive(Debug, Subcommand)]
enum ProfileCommand {
    /// Read an export's headers and labels and write a draft profile to finish by hand.
    #[command(
        after_help = "Example:\n  yjaudit profile draft --input /data/new-export --name ourcms --out rules/sources/ourcms.toml\n  (edit it, then) yjaudit check --profile ourcms --input /data/new-export"
    )]
    Draft {
        /// Folder holding the export's CSV files.
        #[arg(long, value_name = "DIR")]
        input: PathBuf,
        /// The profile's name.
        #[arg(long, default_value = "draft")]
        name: String,
        /// Write here (never over an existing file) instead of standard output.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
}

#[derive(Debug, Args)]
struct GenerateArgs {
    /// Number of cases (about 20 events each).
    #[arg(long, default_value_t = 1000)]
    cases: usize,
    /// Number of workers [default: one per 12 cases].
    #[arg(long)]
    workers: Option<usize>,
    /// Seed: the same seed and sizes give byte-identical files.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// The extract's date; nothing happens after it [default: today].
    #[arg(long, value_name = "DATE", value_parser = parse_date_arg)]
    as_of: Option<chrono::NaiveDate>,
    /// Days of history before the as-of date in which cases open.
    #[arg(long, default_value_t = 548)]
    history_days: u64,
    /// Folder to write the five CSV files into.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Write the extract as this source system lays it out (a profile name or file).
    #[arg(long, value_name = "PROFILE")]
    layout: Option<String>,
    /// Convert this canonical extract instead of generating one (with --layout).
    #[arg(long, value_name = "DIR", requires = "layout")]
    from: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct InputArgs {
    /// Folder holding the extract's CSV files [default: the bundled sample-data/canonical].
    #[arg(long, value_name = "DIR")]
    input: Option<PathBuf>,
    /// Source profile describing the extract's layout.
    #[arg(long, value_name = "NAME", default_value = "canonical")]
    profile: String,
}

#[derive(Debug, Args)]
struct RunArgs {
    #[command(flatten)]
    input: InputArgs,
    /// Folder of rule files (and calendar/) [default: the bundled rules/].
    #[arg(long, value_name = "DIR")]
    rules: Option<PathBuf>,
    /// The date the audit is judged at (YYYY-MM-DD) [default: today].
    #[arg(long, value_name = "DATE", value_parser = parse_date_arg)]
    as_of: Option<chrono::NaiveDate>,
    /// Report only obligations falling due on or after this date.
    #[arg(long, value_name = "DATE", value_parser = parse_date_arg)]
    from: Option<chrono::NaiveDate>,
    /// Report only obligations falling due on or before this date.
    #[arg(long, value_name = "DATE", value_parser = parse_date_arg)]
    to: Option<chrono::NaiveDate>,
    /// Output folder [default: reports/<as-of>].
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Days after the as-of date in which an open obligation counts as `due` [default: the configuration's, else 7].
    #[arg(long, value_name = "DAYS", value_parser = clap::value_parser!(u32).range(0..=366))]
    look_ahead: Option<u32>,
    /// Service name shown in the report [default: the configuration's].
    #[arg(long, value_name = "NAME")]
    service: Option<String>,
    /// Service configuration [default: yjaudit.toml in the input folder, if present].
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Register of accepted exceptions [default: exceptions.csv in the input folder, if present].
    #[arg(long, value_name = "FILE")]
    exceptions: Option<PathBuf>,
    /// Say more on standard error: time and memory per phase.
    #[arg(short, long)]
    verbose: bool,
    /// Say nothing on standard error unless something failed (for cron).
    #[arg(short, long, conflicts_with = "verbose")]
    quiet: bool,
    /// Exit with status 6 when items became overdue since the previous run
    /// in the same reports folder (so cron can mail someone).
    #[arg(long)]
    fail_on_new_overdue: bool,
    /// Write the CSVs for Excel: a UTF-8 byte-order mark and date-times as
    /// `YYYY-MM-DD HH:MM` (a space for the contract's `T`).
    #[arg(long)]
    excel: bool,
    /// Do not write findings.json: it holds the same rows as findings.csv in
    /// more than twice the bytes (8.6 GB at a million cases). For regional
    /// and national runs whose users read the CSV; the manifest lists it
    /// under `outputs_left_out`.
    #[arg(long)]
    no_findings_json: bool,
    /// Seed of the period view's audit sample [default: the as-of date, YYYYMMDD].
    #[arg(long, value_name = "N")]
    sample_seed: Option<u64>,
    /// Keep only the N most recent report folders in the reports folder (never the current or latest one).
    #[arg(long, value_name = "N")]
    keep: Option<usize>,
    /// Replace case references with pseudonyms keyed by the secret in
    /// $YJAUDIT_PSEUDONYM_KEY, drop initials and withhold rejected values:
    /// for outputs shared beyond the service.
    #[arg(long)]
    pseudonymise: bool,
}

#[derive(Debug, Subcommand)]
enum RulesCommand {
    /// List the rules with their citations and parameters.
    List {
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
        /// Folder of rule files [default: the bundled rules/].
        #[arg(long, value_name = "DIR")]
        rules: Option<PathBuf>,
        /// Service configuration to show the rules under (enabled, parameters).
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// Explain one rule: what it checks, how time is counted, its policy text.
    Explain {
        /// Rule code, e.g. CMM001.
        code: String,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
        /// Folder of rule files [default: the bundled rules/].
        #[arg(long, value_name = "DIR")]
        rules: Option<PathBuf>,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Json,
}

fn parse_date_arg(text: &str) -> Result<chrono::NaiveDate, String> {
    crate::time::parse_date(text.trim()).map_err(|_| format!("`{text}` is not a date: use YYYY-MM-DD between 1990 and 2100"))
}

/// A bundled folder: as given, else relative to the current folder, else
/// beside the source the binary was built from.
fn bundled(given: Option<PathBuf>, relative: &str) -> PathBuf {
    if let Some(path) = given {
        return path;
    }
    let here = PathBuf::from(relative);
    if here.exists() {
        return here;
    }
    let built = Path::new(env!("CARGO_MANIFEST_DIR")).join(relative);
    if built.exists() { built } else { here }
}

fn today_in_london() -> chrono::NaiveDate {
    chrono::Utc::now().with_timezone(&chrono_tz::Europe::London).date_naive()
}

/// Runs the command line and returns the exit status.
pub fn main(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    let args: Vec<OsString> = args.into_iter().collect();
    let cli = match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    let command_line: Vec<String> = args.iter().map(|a| a.to_string_lossy().into_owned()).collect();
    match execute(cli.command, command_line) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("yjaudit: error: {}", crate::text::escape_controls(&failure.to_string()));
            ExitCode::from(failure.exit_code())
        }
    }
}

fn execute(command: Command, command_line: Vec<String>) -> Result<(), Failure> {
    match command {
        Command::Run(args) => run(args, command_line),
        Command::Check(args) => check(args),
        Command::Profile { command: ProfileCommand::Draft { input, name, out } } => {
            let text = crate::source::draft::draft(&input, &name).map_err(|e| {
                Failure::Input(crate::source::InputError { file: input.display().to_string(), message: format!("cannot read: {e}") })
            })?;
            match out {
                Some(path) => {
                    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).open(&path).map_err(|e| {
                        Failure::Output(format!("cannot write {}: {e} (an existing file is never overwritten)", path.display()))
                    })?;
                    file.write_all(text.as_bytes()).map_err(|e| Failure::Output(format!("cannot write {}: {e}", path.display())))?;
                    eprintln!("yjaudit: info: draft profile written to {}: review every guess and TODO", path.display());
                    Ok(())
                }
                None => print_out(&text),
            }
        }
        Command::Generate(args) => {
            let spec = crate::generate::Spec {
                cases: args.cases,
                seed: args.seed,
                as_of: args.as_of.unwrap_or_else(today_in_london),
                history_days: args.history_days.clamp(30, 36_500),
                workers: args.workers,
            };
            let failed = |e: std::io::Error| Failure::Output(format!("cannot write {}: {e}", args.out.display()));
            let Some(layout) = &args.layout else {
                return crate::generate::generate(&spec, &args.out).map_err(failed);
            };
            let profile = crate::source::profile::Profile::resolve(layout, &bundled(None, "rules"))?;
            let canonical = match &args.from {
                Some(from) => from.clone(),
                None => {
                    let scratch = std::env::temp_dir().join(format!("yjaudit-generate-{}", std::process::id()));
                    crate::generate::generate(&spec, &scratch).map_err(failed)?;
                    scratch
                }
            };
            let written = crate::layout::write(&canonical, &profile, &args.out).map_err(failed);
            if args.from.is_none() {
                let _ = std::fs::remove_dir_all(&canonical);
            }
            written
        }
        Command::Rules { command: RulesCommand::List { format, rules, config } } => {
            let all = RuleSet::load(&bundled(rules.clone(), "rules"))?;
            let (enabled, _, _) = crate::load_rules(&bundled(rules, "rules"), config.as_deref())?;
            print_out(&list_rules(&all, &enabled, format))
        }
        Command::Rules { command: RulesCommand::Explain { code, format, rules } } => {
            let set = RuleSet::load(&bundled(rules, "rules"))?;
            let versions: Vec<&crate::rules::Rule> = set.rules.iter().filter(|r| r.code.eq_ignore_ascii_case(&code)).collect();
            if versions.is_empty() {
                let hint = crate::text::nearest(&code, set.rules.iter().map(|r| r.code.as_str()))
                    .map(|c| format!("; did you mean {c}?"))
                    .unwrap_or_default();
                return Err(Failure::Usage(format!(
                    "no rule has the code `{}`{hint} (see `yjaudit rules list`)",
                    crate::text::escape_value(&code)
                )));
            }
            print_out(&versions.iter().map(|rule| explain(rule, format)).collect::<Vec<_>>().join("\n"))
        }
    }
}

/// Prints to stdout (control characters escaped); a closed pipe (`| head`)
/// is not an error.
fn print_out(text: &str) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    match out.write_all(crate::text::escape_controls(text).as_bytes()).and_then(|_| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(Failure::Output(format!("cannot write to standard output: {e}"))),
        _ => Ok(()),
    }
}

fn run(args: RunArgs, command_line: Vec<String>) -> Result<(), Failure> {
    crate::output::publish::clean_up_when_interrupted();
    let verbose = args.verbose;
    let args_quiet = args.quiet;
    let fail_on_new = args.fail_on_new_overdue;
    let pseudonym_key = if args.pseudonymise {
        match std::env::var("YJAUDIT_PSEUDONYM_KEY") {
            Ok(key) if key.len() >= 16 => Some(key),
            _ => return Err(Failure::Usage("--pseudonymise needs a secret of at least 16 characters in $YJAUDIT_PSEUDONYM_KEY (keep it: the same key gives the same pseudonyms)".into())),
        }
    } else {
        None
    };
    if let (Some(from), Some(to)) = (args.from, args.to)
        && from > to
    {
        return Err(Failure::Usage(format!("--from {from} is after --to {to}")));
    }
    let as_of = args.as_of.unwrap_or_else(today_in_london);
    let plan = Plan {
        input: bundled(args.input.input, "sample-data/canonical"),
        rules: bundled(args.rules, "rules"),
        out: args.out.unwrap_or_else(|| PathBuf::from("reports").join(as_of.to_string())),
        profile: args.input.profile.clone(),
        as_of,
        period: (args.from, args.to),
        look_ahead_days: args.look_ahead,
        service: args.service,
        config: args.config,
        exceptions: args.exceptions,
        pseudonym_key,
        keep: args.keep,
        sample_seed: args.sample_seed,
        progress: !args_quiet && std::io::IsTerminal::is_terminal(&std::io::stderr()),
        excel: args.excel,
        findings_json: !args.no_findings_json,
        command_line,
    };
    let started = std::time::Instant::now();
    let summary = crate::audit(&plan)?;
    let quiet = args_quiet;
    if verbose {
        for phase in &summary.phases {
            eprintln!(
                "yjaudit: debug: phase {:<9} {:>7.2} s, processor {}, peak memory so far {}",
                phase.name,
                phase.seconds,
                phase
                    .cpu_seconds
                    .map_or("unknown".into(), |(user, system)| format!("{:.2} s (user {user:.2}, system {system:.2})", user + system)),
                phase.peak_mib.map_or("unknown".into(), |m| format!("{m:.0} MiB"))
            );
        }
    }
    if !quiet {
        eprintln!(
            "yjaudit: info: {} findings ({} overdue, {} newly overdue, {} due, {} late, {} met, {} pending), {} rows rejected, {} rule(s) not assessed; written to {} in {:.1} s",
            summary.findings,
            summary.counts["overdue"],
            summary.new_overdue,
            summary.counts["due"],
            summary.counts["late"],
            summary.counts["met"],
            summary.counts["pending"],
            summary.rows_rejected,
            summary.not_assessed,
            crate::text::escape_controls(&plan.out.display().to_string()),
            started.elapsed().as_secs_f64()
        );
    }
    if fail_on_new && summary.new_overdue > 0 {
        return Err(Failure::NewOverdue(summary.new_overdue));
    }
    Ok(())
}

fn check(args: InputArgs) -> Result<(), Failure> {
    let input = bundled(args.input, "sample-data/canonical");
    let profile = crate::source::profile::Profile::resolve(&args.profile, &bundled(None, "rules"))?;
    let ingest = crate::source::load(&input, &profile)?;
    let mut text = format!("Extract {} (profile {}): usable.\n", input.display(), profile.name);
    for (table, source) in &profile.tables {
        if !ingest.files.keys().any(|k| k.starts_with(source.file.as_str())) {
            text += &format!("  {table}: {} not found (optional: rules needing it are not assessed)\n", source.file);
        }
    }
    for (name, report) in &ingest.files {
        text += &format!("  {name}: {} rows read, {} used, {} rejected\n", report.rows_read, report.rows_used, report.rows_rejected);
        text += &format!("      columns matched: {}\n", report.matched_columns.join(", "));
        if !report.absent_columns.is_empty() {
            text += &format!("      optional columns not in the file: {}\n", report.absent_columns.join(", "));
        }
        for (label, count) in &report.unmapped_labels {
            text += &format!("      unmapped label `{label}`: {count} rows (add it to the profile's labels)\n");
        }
        for (reason, count) in &report.rejected_by_reason {
            text += &format!("      rejected, {reason}: {count}\n");
        }
        for (kind, count) in &report.warnings {
            text += &format!("      warning, {kind}: {count}\n");
        }
        if report.ignored_columns_count > 0 {
            text += &format!("      ignored columns: {}\n", report.ignored_columns.join(", "));
        }
    }
    if !ingest.ignored_files.is_empty() {
        text += &format!("  not read: {}\n", ingest.ignored_files.join(", "));
    }
    for r in ingest.rejected.iter().take(20) {
        text += &format!(
            "  {}:{}: {}{} (value `{}`)\n",
            r.file,
            r.line,
            if r.column.is_empty() { String::new() } else { format!("{}: ", r.column) },
            r.reason,
            r.value
        );
    }
    if ingest.rejected.len() > 20 {
        text += &format!("  … and {} more rejected rows\n", ingest.rejected.len() - 20);
    }
    print_out(&text)
}

fn list_rules(all: &RuleSet, enabled: &RuleSet, format: Format) -> String {
    fn shown<'a>(enabled: &'a RuleSet, r: &'a crate::rules::Rule) -> &'a crate::rules::Rule {
        enabled.rules.iter().find(|e| e.code == r.code && e.version == r.version).unwrap_or(r)
    }
    match format {
        Format::Json => {
            let rules: Vec<serde_json::Value> = all
                .rules
                .iter()
                .map(|r| {
                    let r = shown(enabled, r);
                    serde_json::json!({
                        "code": r.code,
                        "version": r.version,
                        "in_force_from": r.in_force.0.map(|d| d.to_string()),
                        "in_force_until": r.in_force.1.map(|d| d.to_string()),
                        "title": r.title,
                        "kind": r.kind.name(),
                        "citation": r.citation,
                        "policy": r.policy,
                        "enabled": enabled.get(&r.code).is_some(),
                        "parameters": r.kind.parameters().into_iter().collect::<std::collections::BTreeMap<_, _>>(),
                        "local_choices": r.local_choices,
                        "overridden": r.overridden,
                        "applies_to": r.applies_to.describe(),
                    })
                })
                .collect();
            serde_json::to_string_pretty(&rules).expect("rules serialise") + "\n"
        }
        Format::Table => {
            let mut text = format!("{:<7} {:<8} {:<11} {:<18} {:<26} {}\n", "CODE", "ENABLED", "KIND", "LIMIT", "CITATION", "TITLE");
            for r in &all.rules {
                let on = enabled.get(&r.code).is_some();
                let r = shown(enabled, r);
                let code = r.label();
                let mut limit = r
                    .kind
                    .parameters()
                    .into_iter()
                    .filter(|(k, _)| matches!(*k, "within" | "every" | "lead"))
                    .map(|(_, v)| v)
                    .collect::<Vec<_>>()
                    .join(", ");
                if !r.overridden.is_empty() {
                    limit += " *";
                }
                text += &format!(
                    "{:<7} {:<8} {:<11} {:<18} {:<26} {}\n",
                    code,
                    if on { "yes" } else { "no" },
                    r.kind.name(),
                    limit,
                    r.citation,
                    r.title
                );
            }
            text += "\n* set by the service's configuration. `yjaudit rules explain CODE` tells the whole rule.\n";
            text
        }
    }
}

/// The text of `yjaudit rules explain CODE`.
pub fn explain(rule: &crate::rules::Rule, format: Format) -> String {
    if format == Format::Json {
        return serde_json::to_string_pretty(&serde_json::json!({
            "code": rule.code,
            "version": rule.version,
            "in_force_from": rule.in_force.0.map(|d| d.to_string()),
            "in_force_until": rule.in_force.1.map(|d| d.to_string()),
            "title": rule.title,
            "kind": rule.kind.name(),
            "citation": rule.citation,
            "policy": rule.policy,
            "quote": rule.quote,
            "explanation": rule.explanation,
            "how_it_is_judged": rule.kind.describe(),
            "example": rule.example,
            "parameters": rule.kind.parameters().into_iter().collect::<std::collections::BTreeMap<_, _>>(),
            "local_choices": rule.local_choices,
            "applies_to": rule.applies_to.describe(),
        }))
        .expect("rule serialises")
            + "\n";
    }
    let mut text = format!("{} — {}\n\n", rule.code, rule.title);
    text += &format!("Source: {} ({})\n", rule.policy, rule.citation);
    if let Some(version) = &rule.version {
        let date = |d: Option<chrono::NaiveDate>, none: &str| d.map_or(none.to_string(), |d| d.to_string());
        text += &format!(
            "Version: {version}, in force {} to {}; obligations whose clock started then are judged by it\n",
            date(rule.in_force.0, "the start"),
            date(rule.in_force.1, "now")
        );
    }
    text += &format!("Policy text: \"{}\"\n\n", rule.quote.trim());
    text += &format!("{}\n\n", rule.explanation.trim());
    if !rule.applies_to.is_everything() {
        text += &format!("Applies to: {}.\n\n", rule.applies_to.describe());
    }
    text += "How it is judged:\n";
    for line in rule.kind.describe() {
        text += &format!("  - {line}\n");
    }
    text += "\nStatuses: met (done by the due time), late (done after it), overdue (not done, due date before the as-of date), due (not done, due within the look-ahead window), pending (not done, due later).\n";
    if let Some(example) = &rule.example {
        text += &format!("\nExample: {}\n", example.trim());
    }
    text += &format!("\nParameters ({} rule):\n", rule.kind.name());
    for (name, value) in rule.kind.parameters() {
        text += &format!("  {name} = {value}\n");
        if let Some(why) = rule.local_choices.get(name) {
            text +=
                &format!("      local choice: {why} A service can change it in yjaudit.toml ([rules.{}] {name} = \"...\").\n", rule.code);
        }
        if let Some(default) = rule.overridden.get(name) {
            text += &format!("      set by the service's configuration (the rule file says {default})\n");
        }
    }
    text
}
