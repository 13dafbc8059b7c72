//! Rule fixtures: one folder per scenario under `tests/fixtures/<RULE>/`,
//! holding a small extract, `scenario.toml` (the as-of date and what the
//! scenario shows) and `expected.csv`, the findings rows of that rule.
//! Every scenario is audited with the bundled rules and its rule's rows in
//! findings.csv must equal `expected.csv` exactly. A scenario about more
//! than one rule (in a folder named for its subject, not a rule) lists
//! them: `rules = ["CMM001", "TRF005"]`.

use std::path::{Path, PathBuf};

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Scenario {
    as_of: String,
    about: String,
    look_ahead: Option<u32>,
    /// The rules whose rows are compared [default: the parent folder's name].
    rules: Option<Vec<String>>,
    /// The period reported on (`--from`, `--to`).
    from: Option<String>,
    to: Option<String>,
}

fn scenarios(folder: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join(folder);
    let mut found = Vec::new();
    for rule in std::fs::read_dir(&root).unwrap_or_else(|e| panic!("{}: {e}", root.display())).flatten() {
        for scenario in std::fs::read_dir(rule.path()).into_iter().flatten().flatten() {
            if scenario.path().join("scenario.toml").exists() {
                found.push(scenario.path());
            }
        }
    }
    found.sort();
    found
}

fn run(folder: &Path) -> Result<(), String> {
    let scenario: Scenario = toml::from_str(&std::fs::read_to_string(folder.join("scenario.toml")).unwrap()).map_err(|e| e.to_string())?;
    let rules =
        scenario.rules.clone().unwrap_or_else(|| vec![folder.parent().unwrap().file_name().unwrap().to_string_lossy().into_owned()]);
    let out = tempfile::tempdir().unwrap();
    let mut plan = yjaudit::Plan::new(
        folder.to_path_buf(),
        Path::new(env!("CARGO_MANIFEST_DIR")).join("rules"),
        out.path().join("report"),
        yjaudit::time::parse_date(&scenario.as_of).unwrap(),
    );
    plan.look_ahead_days = scenario.look_ahead;
    let date = |text: &Option<String>| text.as_deref().map(|t| yjaudit::time::parse_date(t).unwrap());
    plan.period = (date(&scenario.from), date(&scenario.to));
    yjaudit::audit(&plan).map_err(|e| format!("audit failed: {e}"))?;
    let findings = std::fs::read_to_string(out.path().join("report/findings.csv")).unwrap();
    let mut lines = findings.lines();
    let header = lines.next().unwrap();
    // The contract's eleven columns; the extra columns have tests of their own.
    let fixed = |l: &str| l.splitn(12, ',').take(11).collect::<Vec<_>>().join(",");
    let header = fixed(header);
    let header = header.as_str();
    let actual: Vec<String> = lines.filter(|l| rules.iter().any(|rule| l.starts_with(&format!("{rule},")))).map(fixed).collect();
    let actual: Vec<&str> = actual.iter().map(String::as_str).collect();
    let expected_text = std::fs::read_to_string(folder.join("expected.csv")).unwrap();
    let mut expected_lines = expected_text.lines();
    assert_eq!(expected_lines.next(), Some(header), "{}: expected.csv header", folder.display());
    let expected: Vec<&str> = expected_lines.filter(|l| !l.trim().is_empty()).collect();
    if actual == expected {
        return Ok(());
    }
    let mut report = format!("{}\n  {}\n", folder.display(), scenario.about.trim().replace('\n', "\n  "));
    for line in &expected {
        if !actual.contains(line) {
            report += &format!("  - expected: {line}\n");
        }
    }
    for line in &actual {
        if !expected.contains(line) {
            report += &format!("  + found:    {line}\n");
        }
    }
    if report.lines().count() <= 2 {
        report += "  (same rows, different order)\n";
    }
    Err(report)
}

#[test]
fn every_rule_scenario_gives_exactly_its_expected_findings() {
    all_agree(&scenarios("tests/fixtures"), 8);
}

/// tests/acceptance: scenarios written from the contract alone by
/// reviewers who never read the code (see its README).
#[test]
fn every_independent_acceptance_scenario_gives_exactly_its_expected_findings() {
    all_agree(&scenarios("tests/acceptance"), 315);
}

fn all_agree(all: &[PathBuf], at_least: usize) {
    assert!(all.len() >= at_least, "scenarios found: {}", all.len());
    // Two plain threads, each auditing every other scenario (an audit uses
    // rayon inside; calling it from rayon's own workers would nest pools).
    let failures: Vec<String> = std::thread::scope(|scope| {
        let halves: Vec<_> = (0..2)
            .map(|half| scope.spawn(move || all.iter().skip(half).step_by(2).filter_map(|folder| run(folder).err()).collect::<Vec<_>>()))
            .collect();
        halves.into_iter().flat_map(|h| h.join().expect("a scenario panicked")).collect()
    });
    assert!(failures.is_empty(), "{} of {} scenarios differ:\n{}", failures.len(), all.len(), failures.join("\n"));
}

#[test]
fn every_bundled_rule_has_fixtures() {
    let rules = yjaudit::rules::RuleSet::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("rules")).unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    for rule in &rules.rules {
        let count = std::fs::read_dir(root.join(&rule.code)).map(|d| d.count()).unwrap_or(0);
        assert!(count >= 1, "{} has no fixture scenarios under tests/fixtures/{}", rule.code, rule.code);
    }
}
