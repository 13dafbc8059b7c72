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
///
/// Returned rule by rule, and within a rule by worker and then by case in
/// the byte order of their ids: close to the order findings are written in,
/// so that sorting them afterwards moves little (moving tens of millions of
/// findings far costs more than evaluating the rules).
pub fn evaluate(rules: &[&Rule], ctx: &Context) -> Vec<crate::findings::Finding> {
    let in_id_order = |ranks: &[u32]| {
        let mut order = vec![0u32; ranks.len()];
        for (index, &rank) in ranks.iter().enumerate() {
            order[rank as usize] = index as u32;
        }
        order
    };
    let workers: Vec<Unit> = in_id_order(&ctx.extract.worker_rank).into_iter().map(Unit::Worker).chain([Unit::Caseless]).collect();
    let cases: Vec<Unit> = in_id_order(&ctx.extract.case_rank).into_iter().map(Unit::Case).collect();
    let mut all: Vec<crate::findings::Finding> = Vec::new();
    for (index, rule) in rules.iter().enumerate() {
        let run = |units: &[Unit]| {
            let mut found = Vec::new();
            let mut scratch = Vec::new();
            for &unit in units {
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
        // Straight into the one list (a list per rule, then joined, would
        // copy every finding twice).
        all.par_extend(workers.par_chunks(256).flat_map_iter(run));
        all.par_extend(cases.par_chunks(1024).flat_map_iter(run));
    }
    all
}
