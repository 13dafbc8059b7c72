//! Choosing events and cases: the shared vocabulary of every rule kind.
//!
//! An event selector names event types (`prefix.*` allowed) and may narrow
//! them by a value the event carries (`psr`, `mode`), by the case being
//! already open (`on_open_case`), or by the case's latest risk levels at
//! that event (`risk_at_least` with `risk_track`). A case filter
//! (`[applies_to]` in a rule file) limits a rule to some cases.

use super::Problems;
use crate::model::{Case, CaseType, ContactMode, Event, EventSet, Level};
use serde::Deserialize;
use toml::Spanned;

/// `{ types = [...], except = [...], psr = true, mode = "face_to_face",
/// on_open_case = true, risk_at_least = "medium", risk_track = ["rosh", "saw"] }`
///
/// The same table names the other things a rule can start from or be
/// answered by; each kind says which it accepts: `allocations = ["co_allocated"]`
/// (each such allocation, or as an answer the earliest current or later
/// one), `senior = true`, `case_opened = true`, `first_allocation = "primary"`,
/// `absences = "unplanned"` with `lasting_over = "2 weeks"`,
/// `linked_to_absence = true`, `cover_recorded = true`, and
/// `all_of = [{...}, {...}]` (every one of several answers).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventsSpec {
    #[serde(default)]
    pub types: Vec<Spanned<String>>,
    #[serde(default)]
    pub except: Vec<Spanned<String>>,
    pub psr: Option<bool>,
    pub mode: Option<Spanned<String>>,
    pub on_open_case: Option<bool>,
    pub risk_at_least: Option<Spanned<String>>,
    pub risk_track: Option<Vec<Spanned<String>>>,
    pub allocations: Option<Vec<Spanned<String>>>,
    pub senior: Option<bool>,
    pub case_opened: Option<bool>,
    pub first_allocation: Option<Spanned<String>>,
    pub absences: Option<Spanned<String>>,
    pub lasting_over: Option<Spanned<String>>,
    pub linked_to_absence: Option<bool>,
    pub cover_recorded: Option<bool>,
    pub all_of: Option<Vec<EventsSpec>>,
}

impl EventsSpec {
    /// The keys set besides the event selector's, for "not allowed here" checks.
    pub fn source_keys(&self) -> Vec<&'static str> {
        let mut keys = Vec::new();
        for (key, set) in [
            ("allocations", self.allocations.is_some()),
            ("senior", self.senior.is_some()),
            ("case_opened", self.case_opened.is_some()),
            ("first_allocation", self.first_allocation.is_some()),
            ("absences", self.absences.is_some()),
            ("lasting_over", self.lasting_over.is_some()),
            ("linked_to_absence", self.linked_to_absence.is_some()),
            ("cover_recorded", self.cover_recorded.is_some()),
            ("all_of", self.all_of.is_some()),
        ] {
            if set {
                keys.push(key);
            }
        }
        keys
    }
}

/// A risk dimension carried by events.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dimension {
    Rosh,
    Saw,
    Lor,
}

impl Dimension {
    pub const ALL: [Dimension; 3] = [Dimension::Rosh, Dimension::Saw, Dimension::Lor];
    pub const NAMES: [&'static str; 3] = ["rosh", "saw", "lor"];

    pub fn of(self, e: &Event) -> Option<Level> {
        match self {
            Dimension::Rosh => e.rosh,
            Dimension::Saw => e.saw,
            Dimension::Lor => e.lor,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Dimension::Rosh => "RoSH",
            Dimension::Saw => "SaW",
            Dimension::Lor => "LoR",
        }
    }

    pub fn name(self) -> &'static str {
        Self::NAMES[self as usize]
    }
}

/// The latest non-empty level of each dimension, updated event by event.
#[derive(Clone, Copy, Debug, Default)]
pub struct Levels([Option<Level>; 3]);

impl Levels {
    pub fn update(&mut self, e: &Event) {
        for d in Dimension::ALL {
            if let Some(level) = d.of(e) {
                self.0[d as usize] = Some(level);
            }
        }
    }

    /// Whether any tracked dimension is at or above `threshold`.
    pub fn reaches(&self, track: &[Dimension], threshold: Level) -> bool {
        track.iter().any(|d| self.0[*d as usize].is_some_and(|l| l >= threshold))
    }
}

/// A risk threshold over some dimensions.
#[derive(Clone, Debug)]
pub struct RiskThreshold {
    pub track: Vec<Dimension>,
    pub at_least: Level,
}

impl RiskThreshold {
    pub fn describe(&self) -> String {
        format!(
            "the latest {} is {} or above",
            self.track.iter().map(|d| d.label()).collect::<Vec<_>>().join(" or "),
            self.at_least.name().replace('_', " ")
        )
    }
}

impl Problems {
    /// Parses `track` and `at_least` for a risk threshold.
    pub fn risk(
        &mut self,
        at_least: &Spanned<String>,
        track: Option<&Vec<Spanned<String>>>,
        anchor: std::ops::Range<usize>,
    ) -> Option<RiskThreshold> {
        let level = Level::parse(at_least.get_ref());
        if level.is_none() {
            self.add(at_least.span(), format!("`{}` is not a level: use low, medium, high or very_high", at_least.get_ref()));
        }
        let mut dims = Vec::new();
        for name in track.into_iter().flatten() {
            match Dimension::NAMES.iter().position(|n| n == name.get_ref()) {
                Some(i) => dims.push(Dimension::ALL[i]),
                None => self.add(name.span(), format!("`{}` is not a risk dimension: use rosh, saw or lor", name.get_ref())),
            }
        }
        if dims.is_empty() {
            self.add(anchor, "a risk threshold needs the dimensions it tracks (rosh, saw and/or lor)");
            return None;
        }
        Some(RiskThreshold { track: dims, at_least: level? })
    }

    pub fn selector(&mut self, spec: &EventsSpec) -> Selector {
        let types = self.events(spec);
        let mode = spec.mode.as_ref().and_then(|m| {
            ContactMode::parse(m.get_ref()).or_else(|| {
                self.add(m.span(), format!("`{}` is not a contact mode: use face_to_face, phone or virtual", m.get_ref()));
                None
            })
        });
        let risk = match (&spec.risk_at_least, &spec.risk_track) {
            (Some(level), track) => {
                let anchor = level.span();
                self.risk(level, track.as_ref(), anchor)
            }
            (None, Some(track)) => {
                if let Some(first) = track.first() {
                    self.add(first.span(), "`risk_track` needs `risk_at_least`");
                }
                None
            }
            (None, None) => None,
        };
        Selector { types, psr: spec.psr, mode, on_open_case: spec.on_open_case.unwrap_or(false), risk }
    }
}

/// A compiled event selector.
#[derive(Clone, Debug, Default)]
pub struct Selector {
    pub types: EventSet,
    pub psr: Option<bool>,
    pub mode: Option<ContactMode>,
    pub on_open_case: bool,
    /// Judged on the case's latest levels over this event and all before it.
    pub risk: Option<RiskThreshold>,
}

impl Selector {
    /// Whether the event is selected. `levels` must already include it.
    ///
    /// Inlined for its first test, the event's type, which turns away most
    /// events: rules ask it of every event of every case they read, half a
    /// billion times at national scale, where the call itself was a tenth
    /// of the rules phase.
    #[inline(always)]
    pub fn matches(&self, e: &Event, case: Option<&Case>, levels: &Levels) -> bool {
        self.types.contains(e.kind) && self.matches_beyond_type(e, case, levels)
    }

    /// [`Selector::matches`] for an event of one of the selector's types.
    fn matches_beyond_type(&self, e: &Event, case: Option<&Case>, levels: &Levels) -> bool {
        self.psr.is_none_or(|p| e.psr == Some(p))
            && self.mode.is_none_or(|m| e.mode == Some(m))
            && (!self.on_open_case || case.is_some_and(|c| is_on_open_case(e, c)))
            && self.risk.as_ref().is_none_or(|r| levels.reaches(&r.track, r.at_least))
    }

    pub fn describe(&self) -> String {
        let mut text = super::event_list(self.types);
        if let Some(p) = self.psr {
            text += &format!(" with psr={p}");
        }
        if let Some(m) = self.mode {
            text += &format!(" with mode {}", m.name());
        }
        if self.on_open_case {
            text += " on a case already open (dated after opened_on, and no later than closed_on)";
        }
        if let Some(r) = &self.risk {
            text += &format!(" where {} (over that event and all before it on the case)", r.describe());
        }
        text
    }
}

/// Dated after the case opened and, if it closed, on or before closed_on.
fn is_on_open_case(e: &Event, case: &Case) -> bool {
    let date = e.occurred.date();
    date > case.opened_on && case.closed_on.is_none_or(|c| date <= c)
}

/// `[applies_to]`: which cases a rule looks at.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseFilterSpec {
    pub case_types: Option<Vec<Spanned<String>>>,
    pub next_steps: Option<bool>,
    pub iss: Option<bool>,
    pub gender: Option<Spanned<String>>,
}

#[derive(Clone, Debug, Default)]
pub struct CaseFilter {
    pub case_types: Option<Vec<CaseType>>,
    pub next_steps: Option<bool>,
    pub iss: Option<bool>,
    pub gender: Option<crate::model::Gender>,
}

impl CaseFilter {
    pub fn compile(spec: &CaseFilterSpec, problems: &mut Problems) -> CaseFilter {
        let case_types = spec.case_types.as_ref().map(|types| {
            types
                .iter()
                .filter_map(|t| {
                    CaseType::parse(t.get_ref()).or_else(|| {
                        let hint = crate::text::nearest(t.get_ref(), CaseType::NAMES.iter().copied())
                            .map(|n| format!("; did you mean `{n}`?"))
                            .unwrap_or_default();
                        problems.add(t.span(), format!("unknown case type `{}`{hint}", t.get_ref()));
                        None
                    })
                })
                .collect()
        });
        let gender = spec.gender.as_ref().and_then(|g| {
            crate::model::Gender::parse(g.get_ref()).or_else(|| {
                problems.add(g.span(), "gender is F, M or X");
                None
            })
        });
        CaseFilter { case_types, next_steps: spec.next_steps, iss: spec.iss, gender }
    }

    /// Whether a case is in scope. An empty flag is not `true`.
    pub fn admits(&self, case: &Case) -> bool {
        self.case_types.as_ref().is_none_or(|t| t.contains(&case.case_type))
            && self.next_steps.is_none_or(|v| case.next_steps.unwrap_or(false) == v)
            && self.iss.is_none_or(|v| case.iss.unwrap_or(false) == v)
            && self.gender.is_none_or(|g| case.gender == Some(g))
    }

    pub fn is_everything(&self) -> bool {
        self.case_types.is_none() && self.next_steps.is_none() && self.iss.is_none() && self.gender.is_none()
    }

    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(types) = &self.case_types {
            parts.push(format!("case type {}", types.iter().map(|t| t.name()).collect::<Vec<_>>().join(" or ")));
        }
        if let Some(v) = self.next_steps {
            parts.push(format!("next_steps={v}"));
        }
        if let Some(v) = self.iss {
            parts.push(format!("iss={v}"));
        }
        if let Some(g) = self.gender {
            parts.push(format!("gender {}", g.name()));
        }
        if parts.is_empty() { "every case".into() } else { format!("cases with {}", parts.join(", ")) }
    }
}
