//! One decision cycle: every requirement against every offer, checks then ranking.
//!
//! Requirements are served in plan order. For each, every offer (what is left of it after the
//! pods placed earlier in the cycle) runs the ordered checks until one fails; the offers that
//! pass are ranked and the best takes the pod. An offer that already took
//! [`Pipeline::max_pods_per_offer`] pods takes no more: the requirements it would have served
//! wait for the next offers (real Mesos handles one ACCEPT as one step that blocks its master,
//! and its cost grows with the operations it carries). Nothing here does IO or keeps state
//! between cycles: the outcome, explanations included, is the return value.

use std::collections::HashMap;

use cairn_proto::Resource;

use crate::time::Time;

use super::checks::{pick_mounts, pick_ports};
use super::explain::{CheckOutcome, DecisionRecord, Evaluation, MAX_EVALUATIONS_PER_RECORD};
use super::placement::{Placed, PlacementContext};
use super::requirement::PodRequirement;
use super::view::OfferView;
use super::{OfferCheck, Rank};

/// The checks and the ranking of a pipeline.
pub struct Pipeline<'a> {
    /// Checks in order: the built-ins, then an author's.
    pub checks: &'a [Box<dyn OfferCheck>],
    /// The ranking.
    pub rank: &'a dyn Rank,
    /// The most pod instances one offer takes in a cycle (at least 1).
    pub max_pods_per_offer: usize,
}

/// A pod placed on an offer, with what it takes from it.
#[derive(Debug, Clone)]
pub struct Match {
    /// Index into the requirements.
    pub req: usize,
    /// Index into the offers.
    pub offer: usize,
    /// Numbers of the fresh ports, in [`PodRequirement::fresh_ports`] order.
    pub ports: Vec<u64>,
    /// The MOUNT disks for the fresh MOUNT volumes, in order.
    pub mounts: Vec<Resource>,
    /// The offer's reserved resources the pod reuses, by resource id or persistence id.
    pub reused: HashMap<String, Resource>,
}

/// What a cycle decided.
#[derive(Debug, Clone, Default)]
pub struct Cycle {
    /// Pods placed, in requirement order.
    pub matches: Vec<Match>,
    /// Requirements no offer fitted, with a summary of why.
    pub unplaced: Vec<(usize, String)>,
    /// One record per offer.
    pub records: Vec<DecisionRecord>,
    /// (requirement, offer) pairs evaluated.
    pub evaluations: usize,
    /// Requirements left waiting because offers they might fit were full (part of
    /// `unplaced`): the full offers' leftovers are wanted back at once.
    pub capped: usize,
}

/// One evaluation, compact: the checks that passed before the first failure.
struct Verdict {
    req: usize,
    passed: usize,
    failure: Option<String>,
}

/// Evaluates `reqs` against `offers`, consuming what is placed from the offers and recording
/// placements in `ctx`.
pub fn evaluate(
    now: Time,
    reqs: &[PodRequirement],
    offers: &mut [OfferView],
    ctx: &mut PlacementContext,
    pipeline: &Pipeline<'_>,
) -> Cycle {
    let mut cycle = Cycle::default();
    let max = pipeline.max_pods_per_offer.max(1);
    let mut verdicts: Vec<Vec<Verdict>> = offers.iter().map(|_| Vec::new()).collect();
    for (ri, req) in reqs.iter().enumerate() {
        let full = offers.iter().filter(|o| o.pods >= max).count();
        if full > 0 && full == offers.len() {
            // Every offer is full: the rest waits, unevaluated, which also keeps a large
            // deploy's cycles short.
            cycle
                .unplaced
                .push((ri, capped_reason(full, offers.len(), max, None)));
            cycle.capped += 1;
            continue;
        }
        let mut survivors = Vec::new();
        let mut failures = Failures::default();
        for (oi, offer) in offers.iter().enumerate() {
            if offer.pods >= max {
                continue;
            }
            let v = run_checks(ri, req, offer, ctx, pipeline.checks);
            cycle.evaluations += 1;
            match &v.failure {
                None => survivors.push(oi),
                Some(f) => failures.add(v.passed, pipeline.checks[v.passed].name(), || {
                    let check = pipeline.checks[v.passed].name();
                    format!("{}: {check}: {f}", offer.facts.hostname)
                }),
            }
            keep(&mut verdicts[oi], v);
        }
        if survivors.is_empty() {
            let why = if full > 0 {
                cycle.capped += 1;
                capped_reason(full, offers.len(), max, failures.summary())
            } else {
                unplaced_reason(offers.len(), failures.summary())
            };
            cycle.unplaced.push((ri, why));
            continue;
        }
        let candidates: Vec<&OfferView> = survivors.iter().map(|i| &offers[*i]).collect();
        let best = pipeline
            .rank
            .rank(req, &candidates, ctx)
            .first()
            .map_or(survivors[0], |i| survivors[*i]);
        cycle.matches.push(take(ri, req, &mut offers[best], ctx));
    }
    cycle.records = records(
        now,
        offers,
        &verdicts,
        &cycle.matches,
        reqs,
        pipeline.checks,
        (cycle.capped > 0).then_some(max),
    );
    cycle
}

/// Keeps a verdict for the record, up to the cap (the accepted pods are added back when the
/// record is written, so they are never lost to the cap).
fn keep(list: &mut Vec<Verdict>, v: Verdict) {
    if list.len() < MAX_EVALUATIONS_PER_RECORD {
        list.push(v);
    }
}

/// Why the offers a requirement was evaluated against refused it: how many offers each check
/// refused (the first failing check of each offer), most first, and the first refusal in full.
#[derive(Default)]
struct Failures<'a> {
    /// (check index, check name, offers it refused).
    counts: Vec<(usize, &'a str, usize)>,
    first: Option<String>,
}

impl<'a> Failures<'a> {
    fn add(&mut self, check: usize, name: &'a str, detail: impl FnOnce() -> String) {
        match self.counts.iter_mut().find(|(c, _, _)| *c == check) {
            Some((_, _, n)) => *n += 1,
            None => self.counts.push((check, name, 1)),
        }
        if self.first.is_none() {
            self.first = Some(detail());
        }
    }

    /// `placement refused 3, cpus refused 2; first: host-a: placement: ...`, or None when no offer
    /// was evaluated.
    fn summary(mut self) -> Option<String> {
        let first = self.first.take()?;
        // Most refusals first; ties in pipeline order.
        self.counts
            .sort_by(|a, b| b.2.cmp(&a.2).then(a.0.cmp(&b.0)));
        let counts: Vec<String> = self
            .counts
            .iter()
            .map(|(_, name, n)| format!("{name} refused {n}"))
            .collect();
        Some(format!("{}; first: {first}", counts.join(", ")))
    }
}

fn unplaced_reason(offers: usize, failures: Option<String>) -> String {
    match failures {
        Some(f) => format!("no offer of {offers} fits ({f})"),
        None => format!("no offer of {offers} fits"),
    }
}

/// Why a requirement waits when some offers were full: it may fit one of them once the
/// master offers what is left of it again.
fn capped_reason(full: usize, offers: usize, max: usize, other: Option<String>) -> String {
    let mut why = format!(
        "waiting for the next offers: {full} of {offers} already carry {max} pods, the most one \
         offer takes in a cycle (max-pods-per-offer)"
    );
    if let Some(f) = other {
        why.push_str(&format!("; the others do not fit ({f})"));
    }
    why
}

fn run_checks(
    ri: usize,
    req: &PodRequirement,
    offer: &OfferView,
    ctx: &PlacementContext,
    checks: &[Box<dyn OfferCheck>],
) -> Verdict {
    for (i, c) in checks.iter().enumerate() {
        if let Err(reason) = c.check(req, offer, ctx) {
            return Verdict {
                req: ri,
                passed: i,
                failure: Some(reason),
            };
        }
    }
    Verdict {
        req: ri,
        passed: checks.len(),
        failure: None,
    }
}

/// Places `req` on `offer`: picks its ports and disks and removes what it takes.
fn take(
    ri: usize,
    req: &PodRequirement,
    offer: &mut OfferView,
    ctx: &mut PlacementContext,
) -> Match {
    // The checks passed on this very offer, so the picks succeed; empty picks would only
    // produce a launch Mesos refuses, never a wrong one.
    let ports = pick_ports(req, offer).unwrap_or_default();
    let mount_idx = pick_mounts(req, offer).unwrap_or_default();
    let mounts: Vec<Resource> = mount_idx.iter().map(|i| offer.mounts[*i].clone()).collect();
    let mut sorted = mount_idx;
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    for i in sorted {
        offer.mounts.remove(i);
    }
    offer.take_ports(&ports);
    offer.cpus -= req.cpus;
    offer.mem -= req.mem;
    offer.gpus -= req.gpus;
    offer.disk -= req.disk;
    let mut reused = HashMap::new();
    for id in &req.resource_ids {
        if let Some(r) = offer.reserved.remove(id) {
            reused.insert(id.clone(), r);
        }
    }
    for id in &req.persistence_ids {
        if let Some(r) = offer.volumes.remove(id) {
            reused.insert(id.clone(), r);
        }
    }
    offer.pods += 1;
    ctx.place(Placed {
        pod_instance: req.pod_instance.clone(),
        facts: offer.facts.clone(),
    });
    Match {
        req: ri,
        offer: offer.index,
        ports,
        mounts,
        reused,
    }
}

fn records(
    now: Time,
    offers: &[OfferView],
    verdicts: &[Vec<Verdict>],
    matches: &[Match],
    reqs: &[PodRequirement],
    checks: &[Box<dyn OfferCheck>],
    capped_at: Option<usize>,
) -> Vec<DecisionRecord> {
    offers
        .iter()
        .zip(verdicts)
        .map(|(offer, vs)| {
            let accepted: Vec<usize> = matches
                .iter()
                .filter(|m| m.offer == offer.index)
                .map(|m| m.req)
                .collect();
            let mut evaluations: Vec<Evaluation> =
                vs.iter().map(|v| evaluation(v, reqs, checks)).collect();
            for ri in &accepted {
                if !vs.iter().any(|v| v.req == *ri) {
                    let all_passed = Verdict {
                        req: *ri,
                        passed: checks.len(),
                        failure: None,
                    };
                    evaluations.push(evaluation(&all_passed, reqs, checks));
                }
            }
            let names: Vec<String> = accepted
                .iter()
                .map(|ri| reqs[*ri].pod_instance.to_string())
                .collect();
            DecisionRecord {
                time: now,
                offer_id: offer.offer_id.clone(),
                agent_id: offer.agent_id.value.clone(),
                hostname: offer.facts.hostname.clone(),
                outcome: match capped_at {
                    _ if names.is_empty() => "declined".into(),
                    Some(max) if offer.pods >= max => format!(
                        "accepted for {} ({max} pods, the most one offer takes in a cycle; \
                         more wait for the next offers)",
                        names.join(", ")
                    ),
                    _ => format!("accepted for {}", names.join(", ")),
                },
                evaluations,
            }
        })
        .collect()
}

fn evaluation(v: &Verdict, reqs: &[PodRequirement], checks: &[Box<dyn OfferCheck>]) -> Evaluation {
    let mut outcomes: Vec<CheckOutcome> = checks[..v.passed]
        .iter()
        .map(|c| CheckOutcome {
            check: c.name().to_string(),
            passed: true,
            reason: String::new(),
        })
        .collect();
    if let Some(reason) = &v.failure {
        outcomes.push(CheckOutcome {
            check: checks[v.passed].name().to_string(),
            passed: false,
            reason: reason.clone(),
        });
    }
    Evaluation {
        pod_instance: reqs[v.req].pod_instance.to_string(),
        checks: outcomes,
    }
}
