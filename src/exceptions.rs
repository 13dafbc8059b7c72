//! Accepted exceptions: a manager's register of breaches accepted "for very
//! good reasons" (caretaking beyond three months, a girl allocated a male
//! worker with a recorded rationale).
//!
//! `exceptions.csv` (next to the data, or `--exceptions FILE`) has the
//! columns `rule, case_id, worker_id, trigger_event_id, reason, accepted_by,
//! accepted_on, until`. A finding of that rule matching every id given is
//! marked accepted: it keeps its status and still counts in the compliance
//! figures, but leaves the action list. An acceptance whose `until` has
//! passed at the as-of date stops applying and is listed as expired.

use crate::rules::{RuleError, RuleSet};
use chrono::NaiveDate;
use std::path::{Path, PathBuf};

pub const FILE_NAME: &str = "exceptions.csv";

#[derive(Clone, Debug, serde::Serialize)]
pub struct Acceptance {
    pub line: u64,
    pub rule: String,
    pub case_id: Option<String>,
    pub worker_id: Option<String>,
    pub trigger_event_id: Option<String>,
    pub reason: String,
    pub accepted_by: String,
    pub accepted_on: Option<NaiveDate>,
    pub until: Option<NaiveDate>,
}

impl Acceptance {
    /// Accepted by the as-of date and not yet expired: an audit as of a
    /// date knows only what had been accepted by then.
    pub fn in_force(&self, as_of: NaiveDate) -> bool {
        self.accepted_on.is_none_or(|on| on <= as_of) && !self.has_expired(as_of)
    }

    pub fn has_expired(&self, as_of: NaiveDate) -> bool {
        self.until.is_some_and(|until| until < as_of)
    }

    /// "by A. Manager on 2024-05-01, until 2024-12-31: reason"
    pub fn note(&self) -> String {
        self.note_with_reason(&self.reason)
    }

    /// [`Acceptance::note`] with another reason shown (withheld, say).
    pub fn note_with_reason(&self, reason: &str) -> String {
        let mut text = format!("accepted by {}", self.accepted_by);
        if let Some(on) = self.accepted_on {
            text += &format!(" on {on}");
        }
        if let Some(until) = self.until {
            text += &format!(" until {until}");
        }
        format!("{text}: {reason}")
    }

    pub fn matches(&self, rule: &str, case_id: &str, worker_id: &str, trigger_event_id: &str) -> bool {
        self.rule == rule
            && self.case_id.as_deref().is_none_or(|c| c == case_id)
            && self.worker_id.as_deref().is_none_or(|w| w == worker_id)
            && self.trigger_event_id.as_deref().is_none_or(|t| t == trigger_event_id)
    }
}

#[derive(Clone, Debug, Default)]
pub struct Register {
    pub path: Option<PathBuf>,
    pub sha256: Option<String>,
    pub entries: Vec<Acceptance>,
}

impl Register {
    pub fn find(given: Option<&Path>, input: &Path) -> Option<PathBuf> {
        given.map(Path::to_path_buf).or_else(|| Some(input.join(FILE_NAME)).filter(|p| p.is_file()))
    }

    /// Reads a register; every problem is reported with its line.
    pub fn load(path: &Path, rules: &RuleSet) -> Result<Register, RuleError> {
        let shown = path.display().to_string();
        let bytes =
            std::fs::read(path).map_err(|e| RuleError { problems: vec![format!("{shown}: cannot read the exceptions register: {e}")] })?;
        let text = String::from_utf8_lossy(bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes)).into_owned();
        let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(text.as_bytes());
        let mut problems = Vec::new();
        let header: Vec<String> = match reader.headers() {
            Ok(h) => h.iter().map(|c| c.trim().to_ascii_lowercase()).collect(),
            Err(e) => return Err(RuleError { problems: vec![format!("{shown}:1: {e}")] }),
        };
        let column = |name: &str| header.iter().position(|h| h == name);
        for required in ["rule", "reason", "accepted_by"] {
            if column(required).is_none() {
                problems.push(format!("{shown}:1: the register needs a `{required}` column (columns: rule, case_id, worker_id, trigger_event_id, reason, accepted_by, accepted_on, until)"));
            }
        }
        if !problems.is_empty() {
            return Err(RuleError { problems });
        }
        let mut entries = Vec::new();
        for record in reader.records() {
            let record = match record {
                Ok(r) => r,
                Err(e) => {
                    problems.push(format!("{shown}: {e}"));
                    continue;
                }
            };
            let line = record.position().map_or(0, |p| p.line());
            let get = |name: &str| {
                column(name)
                    .and_then(|i| record.get(i))
                    .map(crate::source::records::trim_value)
                    .filter(|v| !v.is_empty())
                    .map(str::to_string)
            };
            let date = |name: &str, problems: &mut Vec<String>| {
                get(name).and_then(|v| match crate::time::parse_date(&v) {
                    Ok(d) => Some(d),
                    Err(_) => {
                        problems.push(format!("{shown}:{line}: `{}` in {name} is not a date (YYYY-MM-DD)", crate::text::escape_value(&v)));
                        None
                    }
                })
            };
            let Some(rule) = get("rule").map(|r| r.to_ascii_uppercase()) else {
                problems.push(format!("{shown}:{line}: the rule code is missing"));
                continue;
            };
            if rules.get(&rule).is_none() {
                let hint = crate::text::nearest(&rule, rules.rules.iter().map(|r| r.code.as_str()))
                    .map(|c| format!("; did you mean {c}?"))
                    .unwrap_or_default();
                problems.push(format!("{shown}:{line}: no rule has the code `{}`{hint}", crate::text::escape_value(&rule)));
                continue;
            }
            let (case_id, worker_id) = (get("case_id"), get("worker_id"));
            if case_id.is_none() && worker_id.is_none() {
                problems.push(format!("{shown}:{line}: name the case_id or worker_id the acceptance is for"));
                continue;
            }
            let (Some(reason), Some(accepted_by)) = (get("reason"), get("accepted_by")) else {
                problems.push(format!("{shown}:{line}: an acceptance needs its reason and who accepted it (accepted_by)"));
                continue;
            };
            let accepted_on = date("accepted_on", &mut problems);
            let until = date("until", &mut problems);
            entries.push(Acceptance {
                line,
                rule,
                case_id,
                worker_id,
                trigger_event_id: get("trigger_event_id"),
                reason,
                accepted_by,
                accepted_on,
                until,
            });
        }
        if !problems.is_empty() {
            return Err(RuleError { problems });
        }
        use sha2::Digest;
        Ok(Register { path: Some(path.to_path_buf()), sha256: Some(format!("{:x}", sha2::Sha256::digest(&bytes))), entries })
    }

    /// Acceptances in force at the as-of date.
    pub fn in_force(&self, as_of: NaiveDate) -> impl Iterator<Item = (usize, &Acceptance)> {
        self.entries.iter().enumerate().filter(move |(_, a)| a.in_force(as_of))
    }

    pub fn expired(&self, as_of: NaiveDate) -> impl Iterator<Item = &Acceptance> {
        self.entries.iter().filter(move |a| a.has_expired(as_of))
    }
}
