//! Runs every assessable rule over every case, every worker and the
//! caseless events, in parallel. Order of results does not depend on thread
//! timing: findings are sorted afterwards.

use crate::kinds::{Context, Unit};
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
pub fn assessable<'r>(rules: &'r [Rule], ctx: &Context) -> (Vec<&'r Rule>, Vec<NotAssessed>) {
    let extract = ctx.extract;
    let mut assessed = Vec::new();
    let mut not_assessed = Vec::new();
    let present = ctx.types_present();
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
    let workers: Vec<Unit> = in_id_order(&ctx.extract.worker_rank).into_iter().map(Unit::Worker).collect();
    let caseless: Vec<Unit> = ctx.caseless_parts().collect();
    let cases: Vec<Unit> = in_id_order(&ctx.extract.case_rank).into_iter().map(Unit::Case).collect();
    // Room for one and a half findings an event (national-scale extracts
    // have made 1.1): room not yet written costs address space, not memory,
    // while growing a list of gigabytes moves it, which cost a third of the
    // phase at a million cases. Where even the address space is refused, the
    // list grows as it fills.
    let mut all: Vec<crate::findings::Finding> = Vec::new();
    let _ = all.try_reserve_exact((ctx.extract.events.len() + workers.len() + cases.len()) * 3 / 2);
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
                let findings = scratch.drain(..).map(|o| crate::findings::unjudged(index as u16, o));
                if rule.in_force == (None, None) {
                    // (Counted, so reserved once: most rules have no versions.)
                    found.extend(findings);
                } else {
                    // A policy version judges only the obligations whose clock started while it was in force.
                    found.extend(findings.filter(|f| rule.in_force_on(f.obligation().trigger_at.date())));
                }
            }
            found
        };
        // The events with no case a part a task: a task of all of them (a
        // million at national scale) kept one core busy after the other's
        // tasks were done.
        let lists: Vec<Vec<crate::findings::Finding>> =
            workers.par_chunks(256).chain(caseless.par_chunks(1)).chain(cases.par_chunks(1024)).map(run).collect();
        let needed = all.len() + lists.iter().map(Vec::len).sum::<usize>();
        if needed > all.capacity() {
            // Room for the rules still to come, judged from those so far.
            let expected = needed + needed / (index + 1) * (rules.len() - index - 1) * 3 / 2;
            if all.try_reserve_exact(expected - all.len()).is_err() {
                all.reserve(needed - all.len());
            }
        }
        append_on_every_core(&mut all, lists);
    }
    // The room not used is given back (shrinking a large block moves
    // nothing): a process run under an address-space limit needs it later.
    all.shrink_to_fit();
    all
}

/// Moves `lists` onto the end of `all`, in order, each list on whichever
/// core is free. The end of `all` is memory the process has not touched
/// yet, and a first touch costs more than the copy (on a virtual machine,
/// several times more): done on one thread, as `par_extend` does, it held
/// the other core idle for a fifth of the rules phase at a million cases.
fn append_on_every_core<T: Send>(all: &mut Vec<T>, lists: Vec<Vec<T>>) {
    let total: usize = lists.iter().map(Vec::len).sum();
    all.reserve(total);
    let mut spare = &mut all.spare_capacity_mut()[..total];
    let mut places = Vec::with_capacity(lists.len());
    for list in &lists {
        let (place, rest) = spare.split_at_mut(list.len());
        places.push(place);
        spare = rest;
    }
    places.into_par_iter().zip(lists).for_each(|(place, list)| {
        for (slot, item) in place.iter_mut().zip(list) {
            slot.write(item);
        }
    });
    // SAFETY: the `total` slots after the old length were all written just
    // above (each place is exactly as long as its list).
    unsafe { all.set_len(all.len() + total) };
}

#[cfg(test)]
mod tests {
    #[test]
    fn lists_are_appended_whole_and_in_order() {
        let mut all: Vec<String> = vec!["kept".into()];
        let lists: Vec<Vec<String>> = (0..300).map(|n| (0..n % 7).map(|i| format!("{n}.{i}")).collect()).collect();
        let expected: Vec<String> = all.iter().cloned().chain(lists.iter().flatten().cloned()).collect();
        super::append_on_every_core(&mut all, lists);
        assert_eq!(all, expected);
        super::append_on_every_core(&mut all, Vec::new());
        assert_eq!(all, expected);
    }
}
