//! The rule registry: rule files under `rules/`, validated once.
//!
//! Every rule is a TOML file: a code, a title in a manager's words, the
//! policy citation and text it comes from, an explanation, and exactly one
//! table naming its kind (`[deadline]`, `[recorded]`, `[before]`,
//! `[recurring]`, `[duration]`) with the kind's parameters. Unknown keys are
//! errors. All problems across all files are collected and reported
//! together, each with file, line and column, and a suggestion for typos.

use crate::kinds::{self, Kind, Problems};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use toml::Spanned;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    code: Spanned<String>,
    version: Option<String>,
    in_force_from: Option<Spanned<String>>,
    in_force_until: Option<Spanned<String>>,
    title: String,
    citation: String,
    policy: String,
    quote: String,
    explanation: String,
    example: Option<String>,
    applies_to: Option<kinds::select::CaseFilterSpec>,
    local_choices: Option<BTreeMap<Spanned<String>, String>>,
    recorded: Option<kinds::recorded::Spec>,
    deadline: Option<kinds::deadline::Spec>,
    before: Option<kinds::before::Spec>,
    recurring: Option<kinds::recurring::Spec>,
    duration: Option<kinds::duration::Spec>,
    allocation: Option<kinds::allocation::Spec>,
}

const TOP_LEVEL_KEYS: &[&str] = &[
    "code",
    "version",
    "in_force_from",
    "in_force_until",
    "title",
    "citation",
    "policy",
    "quote",
    "explanation",
    "example",
    "applies_to",
    "local_choices",
    "recorded",
    "deadline",
    "before",
    "recurring",
    "duration",
    "allocation",
];

/// A validated rule.
#[derive(Debug)]
pub struct Rule {
    pub code: String,
    /// The policy version this file states, when a rule has several.
    pub version: Option<String>,
    /// The dates this version is in force (inclusive); an obligation is
    /// judged by the version in force when its clock started.
    pub in_force: (Option<chrono::NaiveDate>, Option<chrono::NaiveDate>),
    pub title: String,
    /// Short citation, e.g. "NC 1.3".
    pub citation: String,
    /// The policy document and section.
    pub policy: String,
    /// The policy's own words.
    pub quote: String,
    pub explanation: String,
    pub example: Option<String>,
    /// Which cases the rule looks at (case-level rules only).
    pub applies_to: kinds::select::CaseFilter,
    /// Parameters that are a local reading of a vague policy, with why.
    pub local_choices: BTreeMap<String, String>,
    /// Parameters a service's configuration changed, with their defaults.
    pub overridden: BTreeMap<String, String>,
    pub kind: Kind,
    pub file: PathBuf,
}

impl Rule {
    /// Whether this version was in force on a date.
    pub fn in_force_on(&self, date: chrono::NaiveDate) -> bool {
        self.in_force.0.is_none_or(|from| date >= from) && self.in_force.1.is_none_or(|until| date <= until)
    }

    /// "CMM003" or "CMM003 (2023 policy)".
    pub fn label(&self) -> String {
        match &self.version {
            Some(v) => format!("{} ({v})", self.code),
            None => self.code.clone(),
        }
    }

    /// Input files this rule cannot be assessed without.
    pub fn needs(&self) -> &'static [&'static str] {
        self.kind.needs()
    }
}

/// Rule files that could not be loaded: every problem, located.
#[derive(Debug, thiserror::Error)]
#[error("{}", .problems.join("\n"))]
pub struct RuleError {
    pub problems: Vec<String>,
}

/// The loaded rules, in code order, with the hashes of the files read.
#[derive(Debug)]
pub struct RuleSet {
    pub rules: Vec<Rule>,
    /// Every rule and calendar file read, with its SHA-256.
    pub files: BTreeMap<String, String>,
}

impl RuleSet {
    pub fn get(&self, code: &str) -> Option<&Rule> {
        self.rules.iter().find(|r| r.code.eq_ignore_ascii_case(code))
    }

    pub fn load(folder: &Path) -> Result<RuleSet, RuleError> {
        let mut problems = Vec::new();
        let mut rules = Vec::new();
        let mut files = BTreeMap::new();
        let entries = std::fs::read_dir(folder).map_err(|e| RuleError {
            problems: vec![format!("{}: cannot read the rules folder: {e}; give it with --rules DIR", folder.display())],
        })?;
        let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "toml")).collect();
        paths.sort();
        for path in paths {
            let shown = path.display().to_string();
            let text = match std::fs::read_to_string(&path) {
                Ok(text) => text,
                Err(e) => {
                    problems.push(format!("{shown}: cannot read: {e}"));
                    continue;
                }
            };
            files.insert(relative_name(folder, &path), format!("{:x}", Sha256::digest(text.as_bytes())));
            match parse_rule(&path, &text) {
                Ok(rule) => rules.push(rule),
                Err(mut found) => problems.append(&mut found),
            }
        }
        let calendar = folder.join("calendar");
        if let Ok(entries) = std::fs::read_dir(&calendar) {
            for entry in entries.flatten() {
                if let Ok(bytes) = std::fs::read(entry.path()) {
                    files.insert(relative_name(folder, &entry.path()), format!("{:x}", Sha256::digest(&bytes)));
                }
            }
        }
        rules.sort_by(|a, b| a.code.cmp(&b.code).then(a.in_force.0.cmp(&b.in_force.0)));
        for pair in rules.windows(2) {
            if pair[0].code != pair[1].code {
                continue;
            }
            let overlap = pair[0].in_force.1.is_none_or(|until| pair[1].in_force.0.is_none_or(|from| from <= until));
            if pair[0].version.is_none() || pair[1].version.is_none() || overlap {
                problems.push(format!(
                    "{}: code {} is already used by {}: each rule needs its own code, or each version its own `version` and non-overlapping `in_force_from`/`in_force_until` dates",
                    pair[1].file.display(),
                    pair[1].code,
                    pair[0].file.display()
                ));
            }
        }
        if rules.is_empty() && problems.is_empty() {
            problems.push(format!("{}: holds no rule files (*.toml)", folder.display()));
        }
        if problems.is_empty() { Ok(RuleSet { rules, files }) } else { Err(RuleError { problems }) }
    }
}

fn relative_name(folder: &Path, path: &Path) -> String {
    path.strip_prefix(folder).unwrap_or(path).to_string_lossy().replace('\\', "/")
}

/// Line and column (1-based) of a byte offset.
pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rfind('\n').map_or(before.len(), |i| before.len() - i - 1) + 1;
    (line, column)
}

fn parse_rule(path: &Path, text: &str) -> Result<Rule, Vec<String>> {
    let locate = |span: std::ops::Range<usize>, message: &str| {
        let (line, column) = line_col(text, span.start);
        format!("{}:{line}:{column}: {message}", path.display())
    };
    let raw: RuleFile = toml::from_str(text).map_err(|e| {
        let message = with_suggestion(e.message(), TOP_LEVEL_KEYS);
        vec![match e.span() {
            Some(span) => locate(span, &message),
            None => format!("{}: {message}", path.display()),
        }]
    })?;
    let mut problems = Problems::default();
    let code = raw.code.get_ref().trim().to_string();
    let well_formed = code.len() == 6 && code[..3].bytes().all(|b| b.is_ascii_uppercase()) && code[3..].bytes().all(|b| b.is_ascii_digit());
    if !well_formed {
        problems.add(raw.code.span(), format!("`{code}` is not a rule code: three capital letters and three digits, e.g. CMM001"));
    }
    let mut in_force_date = |field: &Option<Spanned<String>>| {
        field.as_ref().and_then(|d| match crate::time::parse_date(d.get_ref()) {
            Ok(date) => Some(date),
            Err(_) => {
                problems.add(d.span(), format!("`{}` is not a date (YYYY-MM-DD)", d.get_ref()));
                None
            }
        })
    };
    let in_force = (in_force_date(&raw.in_force_from), in_force_date(&raw.in_force_until));
    if let (Some(from), Some(until)) = in_force
        && until < from
    {
        problems.add(raw.code.span(), format!("in_force_until {until} is before in_force_from {from}"));
    }
    let applies_to = raw.applies_to.as_ref().map(|spec| kinds::select::CaseFilter::compile(spec, &mut problems)).unwrap_or_default();
    let mut kinds = Vec::new();
    if let Some(spec) = &raw.recorded {
        kinds.push(kinds::recorded::Recorded::compile(spec, &mut problems).map(Kind::Recorded));
    }
    if let Some(spec) = &raw.deadline {
        kinds.push(kinds::deadline::Deadline::compile(spec, &mut problems).map(Kind::Deadline));
    }
    if let Some(spec) = &raw.before {
        kinds.push(kinds::before::Before::compile(spec, &mut problems).map(Kind::Before));
    }
    if let Some(spec) = &raw.recurring {
        kinds.push(kinds::recurring::Recurring::compile(spec, &mut problems).map(Kind::Recurring));
    }
    if let Some(spec) = &raw.duration {
        kinds.push(kinds::duration::Duration::compile(spec, &mut problems).map(Kind::Duration));
    }
    if let Some(spec) = &raw.allocation {
        kinds.push(kinds::allocation::AllocationRule::compile(spec, &mut problems).map(Kind::Allocation));
    }
    if kinds.len() != 1 {
        problems.add(
            raw.code.span(),
            format!("a rule has exactly one kind table ([recorded], [deadline], [before], [recurring], [duration] or [allocation]); this file has {}", kinds.len()),
        );
    }
    let mut local_choices = BTreeMap::new();
    if let (Some(choices), Some(Some(kind))) = (&raw.local_choices, kinds.last()) {
        for (name, why) in choices {
            if kind.settable().contains(&name.get_ref().as_str()) {
                local_choices.insert(name.get_ref().clone(), why.trim().to_string());
            } else {
                problems.add(
                    name.span(),
                    format!("`{}` is not a parameter of this rule (it has: {})", name.get_ref(), kind.settable().join(", ")),
                );
            }
        }
    }
    let messages: Vec<String> = problems.0.iter().map(|(span, m)| locate(span.clone(), m)).collect();
    match kinds.pop().flatten() {
        Some(kind) if messages.is_empty() => Ok(Rule {
            code,
            version: raw.version,
            in_force,
            title: raw.title,
            citation: raw.citation,
            policy: raw.policy,
            quote: raw.quote,
            explanation: raw.explanation,
            example: raw.example,
            applies_to,
            local_choices,
            overridden: BTreeMap::new(),
            kind,
            file: path.to_path_buf(),
        }),
        _ => Err(if messages.is_empty() { vec![format!("{}: rule could not be compiled", path.display())] } else { messages }),
    }
}

/// Adds "did you mean" to serde's "unknown field `x`, expected one of ...".
pub(crate) fn with_suggestion(message: &str, top_level: &[&str]) -> String {
    let message = message.trim_end();
    let Some(rest) = message.strip_prefix("unknown field `") else {
        return message.to_string();
    };
    let Some((wrong, expected)) = rest.split_once('`') else {
        return message.to_string();
    };
    let candidates: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
    let candidates = if candidates.is_empty() { top_level.to_vec() } else { candidates };
    match crate::text::nearest(wrong, candidates) {
        Some(best) => format!("{message}; did you mean `{best}`?"),
        None => message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems_of(text: &str) -> Vec<String> {
        parse_rule(Path::new("X.toml"), text).err().unwrap_or_default()
    }

    const GOOD: &str = r#"
code = "CMM001"
title = "t"
citation = "NC 1.3"
policy = "p"
quote = "q"
explanation = "e"

[deadline]
trigger = { types = ["compliance.unacceptable_failure"] }
answer = { types = ["cmm.compliance"] }
within = "10 working days"
"#;

    #[test]
    fn a_good_rule_loads() {
        assert!(problems_of(GOOD).is_empty());
    }

    #[test]
    fn unknown_keys_are_located_and_corrected() {
        let problems = problems_of(&GOOD.replace("within =", "withn ="));
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].starts_with("X.toml:12:1:"), "{}", problems[0]);
        assert!(problems[0].contains("did you mean `within`?"), "{}", problems[0]);
    }

    #[test]
    fn unknown_event_types_are_located_and_corrected() {
        let problems = problems_of(&GOOD.replace("\"cmm.compliance\"", "\"cmm.complaince\""));
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].starts_with("X.toml:11:21:"), "{}", problems[0]);
        assert!(problems[0].contains("did you mean `cmm.compliance`?"), "{}", problems[0]);
    }

    #[test]
    fn bad_spans_and_codes_are_reported_together() {
        let problems = problems_of(&GOOD.replace("10 working days", "10 fortnights").replace("CMM001", "cmm1"));
        assert_eq!(problems.len(), 2, "{problems:?}");
    }

    #[test]
    fn a_rule_needs_exactly_one_kind() {
        let problems = problems_of(&GOOD.replace("[deadline]", "[nothing]"));
        assert!(problems[0].contains("unknown field `nothing`"), "{problems:?}");
    }

    #[test]
    fn the_bundled_rules_load_with_unique_codes() {
        let set = RuleSet::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("rules")).unwrap();
        let mut codes: Vec<&str> = set.rules.iter().map(|r| r.code.as_str()).collect();
        codes.dedup();
        assert_eq!(codes.len(), set.rules.len());
        for code in ["REC001", "REC003", "REC004", "CMM001", "CMM002", "CMM003", "SUP001", "TRF001"] {
            assert!(set.get(code).is_some(), "{code} is bundled");
        }
    }
}
