//! A service's configuration: one TOML file (`yjaudit.toml` next to the
//! data, or `--config FILE`) choosing rules, overriding parameters, adding
//! closure days, setting the look-ahead window and naming the service.
//!
//! ```toml
//! service = "Nottinghamshire YJS"
//! look_ahead_days = 7
//! select = ["REC", "CMM", "SUP001"]   # codes or prefixes; default: all
//! ignore = ["SUP005"]
//! closure_days = [{ date = "2026-12-29", reason = "Council closure" }]
//!
//! [rules.SUP005]
//! every = "14 days"
//! ```
//!
//! Parsed raw, then validated against the loaded rules in one pass: every
//! problem (unknown key, unknown code, bad value) is reported with the file,
//! line and the nearest valid name.

use crate::calendar::{DaySource, NonWorkingDay};
use crate::rules::RuleSet;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use toml::Spanned;

pub const FILE_NAME: &str = "yjaudit.toml";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    service: Option<String>,
    look_ahead_days: Option<Spanned<i64>>,
    select: Option<Vec<Spanned<String>>>,
    ignore: Option<Vec<Spanned<String>>>,
    closure_days: Option<Vec<RawClosure>>,
    rules: Option<BTreeMap<Spanned<String>, BTreeMap<Spanned<String>, Spanned<String>>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawClosure {
    date: Spanned<String>,
    reason: Option<String>,
}

const KEYS: &[&str] = &["service", "look_ahead_days", "select", "ignore", "closure_days", "rules"];

/// A validated configuration.
#[derive(Debug, Default, Clone)]
pub struct Config {
    pub path: Option<PathBuf>,
    pub sha256: Option<String>,
    pub service: Option<String>,
    pub look_ahead_days: Option<u32>,
    pub select: Vec<String>,
    pub ignore: Vec<String>,
    pub closure_days: Vec<NonWorkingDay>,
    /// code -> parameter -> value
    pub overrides: BTreeMap<String, BTreeMap<String, String>>,
}

impl Config {
    /// The config to use: the given file, else `yjaudit.toml` in the input
    /// folder, else none.
    pub fn find(given: Option<&Path>, input: &Path) -> Option<PathBuf> {
        given.map(Path::to_path_buf).or_else(|| Some(input.join(FILE_NAME)).filter(|p| p.is_file()))
    }

    /// Reads and validates a configuration against the rules it configures.
    pub fn load(path: &Path, rules: &RuleSet) -> Result<Config, crate::rules::RuleError> {
        let shown = path.display().to_string();
        let fail = |problems: Vec<String>| crate::rules::RuleError { problems };
        let text = std::fs::read_to_string(path).map_err(|e| fail(vec![format!("{shown}: cannot read the configuration: {e}")]))?;
        let locate = |span: std::ops::Range<usize>, message: String| {
            let (line, column) = crate::rules::line_col(&text, span.start);
            format!("{shown}:{line}:{column}: {message}")
        };
        let raw: RawConfig = toml::from_str(&text).map_err(|e| {
            let message = crate::rules::with_suggestion(e.message(), KEYS);
            fail(vec![match e.span() {
                Some(span) => locate(span, message),
                None => format!("{shown}: {message}"),
            }])
        })?;
        let mut problems = Vec::new();
        let codes: Vec<&str> = rules.rules.iter().map(|r| r.code.as_str()).collect();
        let nearest_code =
            |wrong: &str| crate::text::nearest(wrong, codes.iter().copied()).map(|c| format!("; did you mean {c}?")).unwrap_or_default();
        let patterns = |list: &Option<Vec<Spanned<String>>>, problems: &mut Vec<String>| -> Vec<String> {
            let mut out = Vec::new();
            for p in list.iter().flatten() {
                let pattern = p.get_ref().trim().to_ascii_uppercase();
                if codes.iter().any(|c| c.starts_with(&pattern)) && !pattern.is_empty() {
                    out.push(pattern);
                } else {
                    problems.push(locate(p.span(), format!("`{}` matches no rule code{}", p.get_ref(), nearest_code(p.get_ref()))));
                }
            }
            out
        };
        let select = patterns(&raw.select, &mut problems);
        let ignore = patterns(&raw.ignore, &mut problems);
        let look_ahead_days = match raw.look_ahead_days {
            Some(days) if (0..=366).contains(days.get_ref()) => Some(*days.get_ref() as u32),
            Some(days) => {
                problems.push(locate(days.span(), "look_ahead_days is a number of days from 0 to 366".into()));
                None
            }
            None => None,
        };
        let mut closure_days = Vec::new();
        for c in raw.closure_days.iter().flatten() {
            match crate::time::parse_date(c.date.get_ref()) {
                Ok(date) => closure_days.push(NonWorkingDay {
                    date,
                    title: c.reason.clone().unwrap_or_else(|| "Service closure day".into()),
                    source: DaySource::Closure,
                }),
                Err(_) => problems.push(locate(c.date.span(), format!("`{}` is not a date (YYYY-MM-DD)", c.date.get_ref()))),
            }
        }
        let mut overrides = BTreeMap::new();
        for (code, params) in raw.rules.iter().flatten() {
            let Some(rule) = rules.get(code.get_ref()) else {
                problems.push(locate(code.span(), format!("no rule has the code `{}`{}", code.get_ref(), nearest_code(code.get_ref()))));
                continue;
            };
            let settable = rule.kind.settable();
            let mut chosen = BTreeMap::new();
            for (key, value) in params {
                if !settable.contains(&key.get_ref().as_str()) {
                    let hint = crate::text::nearest(key.get_ref(), settable.iter().copied())
                        .map(|n| format!("; did you mean `{n}`?"))
                        .unwrap_or_default();
                    let has = if settable.is_empty() { "none".to_string() } else { settable.join(", ") };
                    problems.push(locate(key.span(), format!("{} has no parameter `{}`{hint} (it has: {has})", rule.code, key.get_ref())));
                    continue;
                }
                // Check the value now, on a scratch copy of the rule.
                if let Err(message) = rule.kind.clone().set(key.get_ref(), value.get_ref()) {
                    problems.push(locate(value.span(), message));
                    continue;
                }
                chosen.insert(key.get_ref().clone(), value.get_ref().clone());
            }
            overrides.insert(rule.code.clone(), chosen);
        }
        if !problems.is_empty() {
            return Err(fail(problems));
        }
        use sha2::Digest;
        Ok(Config {
            path: Some(path.to_path_buf()),
            sha256: Some(format!("{:x}", sha2::Sha256::digest(text.as_bytes()))),
            service: raw.service,
            look_ahead_days,
            select,
            ignore,
            closure_days,
            overrides,
        })
    }

    /// Whether a rule is enabled by `select` and `ignore` (prefixes match).
    pub fn enables(&self, code: &str) -> bool {
        (self.select.is_empty() || self.select.iter().any(|p| code.starts_with(p.as_str())))
            && !self.ignore.iter().any(|p| code.starts_with(p.as_str()))
    }

    /// Applies the overrides to the rules and drops the disabled ones.
    pub fn apply(&self, rules: &mut RuleSet) {
        rules.rules.retain(|r| self.enables(&r.code));
        for rule in &mut rules.rules {
            if let Some(params) = self.overrides.get(&rule.code) {
                let defaults: BTreeMap<&str, String> = rule.kind.parameters().into_iter().collect();
                for (key, value) in params {
                    rule.kind.set(key, value).expect("validated when the configuration was loaded");
                    rule.overridden.insert(key.clone(), defaults.get(key.as_str()).cloned().unwrap_or_default());
                }
            }
        }
    }
}
