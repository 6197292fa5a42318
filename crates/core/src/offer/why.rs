//! Why a step cannot be placed, from the decision records: each failing check counted across
//! the agents whose offers were looked at, so that "cpus: 3 of 3 agents short; largest offer
//! 3.7 of 100.05" says at once whether the cluster is too small or one rule is too strict.
//!
//! Each agent counts once, by its latest offer that was evaluated (an agent offers again
//! every few seconds; counting offers would make one busy agent look like many). For one pod
//! instance, an agent counts against the check that refused that pod on it; for every pod,
//! against each check that refused any pod on it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::checks::scalar_shortfall;
use super::explain::DecisionRecord;

/// What the recent offers say of a pod instance (or of every waiting one).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OfferReport {
    /// Records looked at (the recent offers that evaluated the pod, or any pod).
    pub offers: usize,
    /// Distinct agents among them.
    pub agents: usize,
    /// Agents whose latest offer took the pod (or, for every pod, some pod).
    pub accepted: usize,
    /// Each check that refused, the most agents first (ties in the order first seen).
    pub checks: Vec<CheckCount>,
}

/// One check that refused, counted across agents.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckCount {
    /// The check's name (`cpus`, `placement`, ...).
    pub check: String,
    /// Agents whose latest offer it refused.
    pub agents: usize,
    /// For a resource check: the most any of those offers had.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub largest_offered: Option<f64>,
    /// For a resource check: what the pod needs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub needed: Option<f64>,
    /// The check's words: the least common of them when agents differ (the one agent that
    /// holds a pod's reservations says why it refuses; the others only that it is not that
    /// agent), the first seen among equals.
    pub example: String,
}

impl OfferReport {
    /// One line per refusing check: `cpus: 3 of 3 agents short; largest offer 3.7 of
    /// 100.05`, `placement: 2 of 3 agents refuse: <the check's words>`.
    pub fn lines(&self) -> Vec<String> {
        self.checks
            .iter()
            .map(|c| match (c.largest_offered, c.needed) {
                (Some(offered), Some(needed)) => format!(
                    "{}: {} of {} agents short; largest offer {offered} of {needed}",
                    c.check, c.agents, self.agents
                ),
                _ => format!(
                    "{}: {} of {} agents refuse: {}",
                    c.check, c.agents, self.agents, c.example
                ),
            })
            .collect()
    }

    /// The lines joined, or `None` when no check refused.
    pub fn summary(&self) -> Option<String> {
        (!self.checks.is_empty()).then(|| self.lines().join("; "))
    }
}

/// The report of the pod instance `pod` (`data-2`), or of every pod when `None`, from
/// `records` (oldest first, as the scheduler keeps them).
pub fn report(records: &[DecisionRecord], pod: Option<&str>) -> OfferReport {
    let mut latest: BTreeMap<&str, &DecisionRecord> = BTreeMap::new();
    let mut offers = 0;
    for r in records {
        let relevant = match pod {
            Some(p) => r.evaluations.iter().any(|e| e.pod_instance == p),
            None => !r.evaluations.is_empty(),
        };
        if relevant {
            offers += 1;
            latest.insert(r.agent_id.as_str(), r);
        }
    }
    let mut out = OfferReport {
        offers,
        agents: latest.len(),
        ..OfferReport::default()
    };
    // Each check's words, with how many agents said them, in the order first seen.
    let mut words: BTreeMap<&str, Vec<(&str, usize)>> = BTreeMap::new();
    for record in latest.values() {
        let mut refused_here: Vec<&str> = Vec::new();
        let mut accepted = false;
        for e in &record.evaluations {
            if pod.is_some_and(|p| e.pod_instance != p) {
                continue;
            }
            match e.checks.iter().find(|c| !c.passed) {
                None => accepted = true,
                Some(c) if !refused_here.contains(&c.check.as_str()) => {
                    refused_here.push(&c.check);
                    count(&mut out.checks, &c.check, &c.reason);
                    let said = words.entry(c.check.as_str()).or_default();
                    match said.iter_mut().find(|(w, _)| *w == c.reason) {
                        Some((_, n)) => *n += 1,
                        None => said.push((&c.reason, 1)),
                    }
                }
                Some(_) => {}
            }
        }
        out.accepted += usize::from(accepted);
    }
    for c in &mut out.checks {
        // `min_by_key` keeps the first of equals: the order first seen.
        if let Some((rarest, _)) = words
            .get(c.check.as_str())
            .and_then(|w| w.iter().min_by_key(|(_, n)| *n))
        {
            c.example = rarest.to_string();
        }
    }
    // Most agents first; a stable sort keeps the order first seen among equals.
    out.checks.sort_by_key(|c| std::cmp::Reverse(c.agents));
    out
}

/// The reports of every pod instance the records evaluated, by pod instance, in one pass
/// over the records per pod (for the step messages of a plan).
pub fn report_by_pod<'a>(
    records: impl IntoIterator<Item = &'a DecisionRecord>,
) -> BTreeMap<String, OfferReport> {
    let mut by_pod: BTreeMap<&str, Vec<DecisionRecord>> = BTreeMap::new();
    for r in records {
        for e in &r.evaluations {
            let list = by_pod.entry(e.pod_instance.as_str()).or_default();
            // Only this pod's evaluation: the report then reads it alone.
            list.push(DecisionRecord {
                evaluations: vec![e.clone()],
                ..r.clone()
            });
        }
    }
    by_pod
        .into_iter()
        .map(|(pod, list)| (pod.to_string(), report(&list, Some(pod))))
        .collect()
}

fn count(checks: &mut Vec<CheckCount>, check: &str, reason: &str) {
    let shortfall = scalar_shortfall(check, reason);
    match checks.iter_mut().find(|c| c.check == check) {
        Some(c) => {
            c.agents += 1;
            if let Some((offered, needed)) = shortfall {
                c.largest_offered = Some(c.largest_offered.map_or(offered, |o| o.max(offered)));
                c.needed = Some(needed);
            }
        }
        None => checks.push(CheckCount {
            check: check.to_string(),
            agents: 1,
            largest_offered: shortfall.map(|s| s.0),
            needed: shortfall.map(|s| s.1),
            example: reason.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::offer::{CheckOutcome, Evaluation};
    use crate::time::Time;

    fn record(agent: &str, pod: &str, failed: Option<(&str, &str)>) -> DecisionRecord {
        let mut checks = vec![CheckOutcome {
            check: "role".into(),
            passed: true,
            reason: String::new(),
        }];
        if let Some((check, reason)) = failed {
            checks.push(CheckOutcome {
                check: check.into(),
                passed: false,
                reason: reason.into(),
            });
        }
        DecisionRecord {
            time: Time::from_millis(0),
            offer_id: format!("o-{agent}"),
            agent_id: agent.into(),
            hostname: agent.into(),
            outcome: "declined".into(),
            evaluations: vec![Evaluation {
                pod_instance: pod.into(),
                checks,
            }],
        }
    }

    #[test]
    fn each_agent_counts_once_by_its_latest_offer_and_resources_say_the_largest_offer() {
        // Goal: "cpus: 3 of 3 agents short; largest offer 3.7 of 100.05". Method: three
        // agents, one offering twice (an older offer refused by placement), all short of cpus.
        let records = [
            record("a1", "big-0", Some(("placement", "hostname a1 is taken"))),
            record("a1", "big-0", Some(("cpus", "offered 2.5, need 100.05"))),
            record("a2", "big-0", Some(("cpus", "offered 3.7, need 100.05"))),
            record("a3", "big-0", Some(("cpus", "offered 1.0, need 100.05"))),
            record("a3", "other-0", None),
        ];
        let r = report(&records, Some("big-0"));
        assert_eq!((r.offers, r.agents, r.accepted), (4, 3, 0));
        assert_eq!(
            r.summary().unwrap(),
            "cpus: 3 of 3 agents short; largest offer 3.7 of 100.05"
        );
        let all = report(&records, None);
        assert_eq!(all.accepted, 1, "other-0 fits a3");
        assert_eq!(report_by_pod(&records)["big-0"], r);
        assert_eq!(report_by_pod(&records)["other-0"].summary(), None);
    }

    #[test]
    fn a_rule_check_is_counted_with_its_words() {
        let records = [
            record("a1", "p-0", Some(("placement", "hostname a1 is taken"))),
            record("a2", "p-0", None),
        ];
        assert_eq!(
            report(&records, Some("p-0")).lines(),
            ["placement: 1 of 2 agents refuse: hostname a1 is taken"]
        );
        assert_eq!(report(&records, Some("q-0")), OfferReport::default());
    }

    #[test]
    fn when_agents_refuse_in_different_words_the_odd_one_out_is_shown() {
        // The agent holding a pod's reservations is the one whose words matter; every other
        // agent only says it is not that agent.
        let elsewhere = "data-1 holds reservations on agent a2, not this one";
        let records = [
            record("a1", "data-1", Some(("reservation", elsewhere))),
            record(
                "a2",
                "data-1",
                Some((
                    "reservation",
                    "the offer lacks 3 of data-1's 6 reserved resource(s) (still in use)",
                )),
            ),
            record("a3", "data-1", Some(("reservation", elsewhere))),
        ];
        assert_eq!(
            report(&records, Some("data-1")).lines(),
            ["reservation: 3 of 3 agents refuse: the offer lacks 3 of data-1's 6 reserved resource(s) (still in use)"]
        );
    }

    #[test]
    fn resource_refusals_are_read_back_as_written() {
        assert_eq!(
            scalar_shortfall("cpus", "offered 3.7, need 100.05"),
            Some((3.7, 100.05))
        );
        assert_eq!(
            scalar_shortfall("gpus", "offers no GPUs, need 2"),
            Some((0.0, 2.0))
        );
        assert_eq!(
            scalar_shortfall("gpus", "offered 1 GPUs, need 2"),
            Some((1.0, 2.0))
        );
        assert_eq!(scalar_shortfall("ports", "offered 3, need 4"), None);
    }
}
