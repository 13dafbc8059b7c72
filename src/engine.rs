//! Runs every assessable rule over every case, every worker and the
//! caseless events, in parallel. Order of results does not depend on thread
//! timing: findings are sorted afterwards.

use crate::kinds::{Context, Unit};
use crate::model::Extract;
use crate::rules::Rule;
use rayon::prelude::*;

/// A rule that could not be assessed, and why.
#[derive(Clone, Debug, serde::Serialize)]
pub struct NotAssessed {
    pub rule: String,
    pub reason: String,
    #[serde(skip)]
    pub title: String,
    #[serde(skip)]
    pub citation: String,
}

/// Splits rules into those the extract can assess and those it cannot.
pub fn assessable<'r>(rules: &'r [Rule], extract: &Extract) -> (Vec<&'r Rule>, Vec<NotAssessed>) {
    let mut assessed = Vec::new();
    let mut not_assessed = Vec::new();
    let mut present = crate::model::EventSet::default();
    for e in &extract.events {
        present.insert(e.kind);
    }
    for rule in rules {
        let missing: Vec<&str> = rule
            .needs()
            .iter()
            .copied()
            .filter(|file| match *file {
                "allocations.csv" => !extract.present.allocations,
                "staff.csv" => !extract.present.staff,
                "absences.csv" => !extract.present.absences,
                _ => false,
            })
            .collect();
        let reason = if !missing.is_empty() {
            Some(format!("no data: {} absent from the extract", missing.join(" and ")))
        } else {
            rule.kind
                .trigger_types()
                .filter(|types| !types.intersects(present))
                .map(|types| format!("no data: the extract has no {} events (the export may not include them)", types.names().join(" or ")))
        };
        if let Some(reason) = reason {
            not_assessed.push(NotAssessed { rule: rule.code.clone(), reason, title: rule.title.clone(), citation: rule.citation.clone() });
        } else {
            assessed.push(rule);
        }
    }
    (assessed, not_assessed)
}

/// Every obligation every rule finds, tagged with the rule's index in `rules`.
pub fn evaluate(rules: &[&Rule], ctx: &Context) -> Vec<crate::findings::Finding> {
    let run = |unit: Unit| {
        let mut found = Vec::new();
        let mut scratch = Vec::new();
        for (index, rule) in rules.iter().enumerate() {
            if let Unit::Case(case) = unit
                && !rule.applies_to.admits(&ctx.extract.cases[case as usize])
            {
                continue;
            }
            rule.kind.evaluate(ctx, unit, &mut scratch);
            // A policy version judges only the obligations whose clock started while it was in force.
            found.extend(
                scratch.drain(..).filter(|o| rule.in_force_on(o.trigger_at.date())).map(|o| crate::findings::unjudged(index as u16, o)),
            );
        }
        found
    };
    let cases = (0..ctx.extract.cases.len() as u32).into_par_iter().with_min_len(64).flat_map_iter(|c| run(Unit::Case(c)));
    let workers = (0..ctx.extract.workers.len() as u32).into_par_iter().with_min_len(16).flat_map_iter(|w| run(Unit::Worker(w)));
    let mut all: Vec<crate::findings::Finding> = cases.chain(workers).collect();
    all.extend(run(Unit::Caseless));
    all
}
