//! `GET /v1/debug/offers[?step=]`: the recent offers and what each check said of them, with
//! each failing check counted across agents ([`cairn_core::offer::why`]), so that "why does my
//! step wait" is answered by data.

use cairn_core::offer::{report, DecisionRecord, OfferReport};
use cairn_core::plan::{PlanStatus, Status};
use serde::{Deserialize, Serialize};

/// The most offers an answer lists (the newest); the counts cover every recent one.
pub const OFFERS_LISTED: usize = 50;

/// The answer of `GET /v1/debug/offers`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OffersAnswer {
    /// The step asked about, as named (`data-0:[node]` or `data-0`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    /// Its pod instance: only evaluations of it are counted and listed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod: Option<String>,
    /// The verdict in one line: the failing checks with their counts, or what else is so.
    pub summary: String,
    /// The counts behind it.
    pub report: OfferReport,
    /// Recent offers (newest last, at most [`OFFERS_LISTED`]), each with every check's
    /// verdict; for a step, only the offers that evaluated its pod, with its evaluation alone.
    pub offers: Vec<DecisionRecord>,
}

/// Why `step` was not found: the steps there are that wait for an offer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownStep(pub String);

/// The answer for `step` (every pod when `None`) from the snapshot's `plans` and `records`.
pub fn offers(
    plans: &[PlanStatus],
    records: &[DecisionRecord],
    step: Option<&str>,
) -> Result<OffersAnswer, UnknownStep> {
    let pod = match step {
        Some(s) => Some(pod_of(plans, s)?),
        None => None,
    };
    let report = report(records, pod.as_deref());
    let mut offers: Vec<DecisionRecord> = records
        .iter()
        .filter_map(|r| match &pod {
            None => Some(r.clone()),
            Some(p) => {
                let mine: Vec<_> = r
                    .evaluations
                    .iter()
                    .filter(|e| &e.pod_instance == p)
                    .cloned()
                    .collect();
                (!mine.is_empty()).then(|| DecisionRecord {
                    evaluations: mine,
                    ..r.clone()
                })
            }
        })
        .collect();
    let skip = offers.len().saturating_sub(OFFERS_LISTED);
    offers.drain(..skip);
    let mut summary = summary(&report, pod.as_deref(), records.len());
    if let (Some(p), 0) = (&pod, report.offers) {
        // No offer was weighed for it: say what the step waits for instead, if not an offer.
        let unfinished = plans
            .iter()
            .flat_map(|p| &p.phases)
            .flat_map(|ph| &ph.steps)
            .filter(|s| s.name.split(':').next() == Some(p.as_str()))
            .find(|s| s.status != Status::Complete);
        if let Some(s) = unfinished.filter(|s| s.status != Status::Prepared) {
            summary = format!("{} is {}, not waiting for an offer", s.name, s.status);
            if !s.message.is_empty() {
                summary = format!("{summary}: {}", s.message);
            }
        }
    }
    Ok(OffersAnswer {
        summary,
        step: step.map(str::to_string),
        pod,
        report,
        offers,
    })
}

/// The pod instance of a step named in full (`data-0:[node]`) or by its pod (`data-0`), if a
/// plan has such a step.
fn pod_of(plans: &[PlanStatus], step: &str) -> Result<String, UnknownStep> {
    let pod = step.split(':').next().unwrap_or_default();
    let steps = || {
        plans
            .iter()
            .flat_map(|p| &p.phases)
            .flat_map(|ph| &ph.steps)
    };
    if steps().any(|s| s.name == step || s.name.split(':').next() == Some(pod)) {
        return Ok(pod.to_string());
    }
    let waiting: Vec<&str> = steps()
        .filter(|s| s.status == Status::Prepared)
        .map(|s| s.name.as_str())
        .take(10)
        .collect();
    Err(UnknownStep(if waiting.is_empty() {
        format!("no step `{step}` in any plan (no step waits for an offer now)")
    } else {
        format!(
            "no step `{step}` in any plan (waiting for an offer: {})",
            waiting.join(", ")
        )
    }))
}

fn summary(report: &OfferReport, pod: Option<&str>, recent: usize) -> String {
    let whom = pod.map_or("any pod".to_string(), str::to_string);
    if let Some(s) = report.summary() {
        return s;
    }
    if report.offers == 0 {
        return format!("no offer was evaluated for {whom} among the last {recent} offers");
    }
    format!(
        "every check passed for {whom} on {} of {} agents' latest offers",
        report.accepted, report.agents
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_core::plan::{PhaseStatus, StepStatus};

    #[test]
    fn a_step_that_waits_for_something_other_than_an_offer_says_what() {
        let plans = vec![PlanStatus {
            name: "deploy".into(),
            status: Status::InProgress,
            strategy: "serial".into(),
            phases: vec![PhaseStatus {
                name: "big".into(),
                status: Status::Pending,
                strategy: "serial".into(),
                steps: vec![StepStatus {
                    name: "big-0:[server]".into(),
                    status: Status::Pending,
                    message: "waiting for phase web to complete (the plan is serial)".into(),
                }],
            }],
            errors: vec![],
            parameters: Default::default(),
            interrupted: false,
        }];
        let answer = offers(&plans, &[], Some("big-0")).unwrap();
        assert_eq!(
            answer.summary,
            "big-0:[server] is PENDING, not waiting for an offer: waiting for phase web to \
             complete (the plan is serial)"
        );
    }
}
