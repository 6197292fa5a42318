//! The scheduler API's answers about plans and pods, in bounded sizes.
//!
//! A service of 10,000 pods has a deploy plan of 10,000 steps; listed whole, `/v1/plans` was a
//! megabyte per look (62 MB at a million instances, before specs were bounded), and every
//! poll of `cairn update` asked for it again. So plans are summarised (each phase with its
//! steps counted by status), and steps and pods are listed a page at a time:
//!
//! * `GET /v1/plans`: every plan as a [`PlanSummary`]: status, errors, steps counted by status,
//!   and its first [`PHASES_LISTED`] phases, each with its own counts.
//! * `GET /v1/plans/{plan}`: that plan's [`PlanSummary`]; with `?offset=&limit=` also a
//!   [`StepPage`] of its steps in plan order, each naming its phase.
//! * `GET /v1/pods?offset=&limit=`: a [`PodPage`].
//!
//! A page holds [`DEFAULT_LIMIT`] entries unless `limit` says otherwise, and at most
//! [`MAX_LIMIT`].

use std::collections::BTreeMap;

use cairn_core::plan::{PlanStatus, Status};
use cairn_core::scheduler::PodStatus;
use serde::{Deserialize, Serialize};

/// Phases listed in a plan summary; the rest are counted in `phases_total` (every step, with
/// its phase, is in the step pages).
pub const PHASES_LISTED: usize = 100;

/// Entries in a page when `limit` is not given.
pub const DEFAULT_LIMIT: usize = 100;

/// The most entries one page holds.
pub const MAX_LIMIT: usize = 1_000;

/// Steps counted by status: `{"total": 10000, "COMPLETE": 9812, "PENDING": 188}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepCounts {
    /// Every step.
    pub total: usize,
    /// Steps by status (`COMPLETE`, `PENDING`, ...); statuses no step has are left out.
    #[serde(flatten)]
    pub by_status: BTreeMap<String, usize>,
}

impl StepCounts {
    fn add(&mut self, status: Status) {
        self.total += 1;
        *self
            .by_status
            .entry(status.as_str().to_string())
            .or_default() += 1;
    }

    /// How many steps have `status`.
    pub fn count(&self, status: Status) -> usize {
        self.by_status.get(status.as_str()).copied().unwrap_or(0)
    }

    /// `9812 COMPLETE, 1 STARTING, 187 PENDING`: the counts in words, most advanced first.
    pub fn words(&self) -> String {
        const ORDER: [Status; 9] = [
            Status::Complete,
            Status::Started,
            Status::Starting,
            Status::Prepared,
            Status::Delayed,
            Status::InProgress,
            Status::Waiting,
            Status::Pending,
            Status::Error,
        ];
        ORDER
            .iter()
            .filter(|s| self.count(**s) > 0)
            .map(|s| format!("{} {s}", self.count(*s)))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// A phase without its steps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhaseSummary {
    /// Phase name.
    pub name: String,
    /// Derived from its steps.
    pub status: Status,
    /// Across its steps.
    pub strategy: String,
    /// Its steps, counted.
    pub steps: StepCounts,
}

/// A plan without its steps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanSummary {
    /// `deploy`, ...
    pub name: String,
    /// Derived from the phases.
    pub status: Status,
    /// Across phases.
    pub strategy: String,
    /// Problems that keep the plan from progressing.
    pub errors: Vec<String>,
    /// For a started plan beyond deploy and update: the parameters of its start.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub parameters: BTreeMap<String, String>,
    /// An operator interrupted the plan, or one of its phases.
    #[serde(default)]
    pub interrupted: bool,
    /// Every step of the plan, counted.
    pub steps: StepCounts,
    /// How many phases the plan has.
    pub phases_total: usize,
    /// Its first [`PHASES_LISTED`] phases.
    pub phases: Vec<PhaseSummary>,
}

impl PlanSummary {
    /// The summary of `plan`.
    pub fn of(plan: &PlanStatus) -> PlanSummary {
        let mut steps = StepCounts::default();
        let phases = plan
            .phases
            .iter()
            .enumerate()
            .filter_map(|(i, phase)| {
                let mut counts = StepCounts::default();
                for step in &phase.steps {
                    counts.add(step.status);
                    steps.add(step.status);
                }
                (i < PHASES_LISTED).then(|| PhaseSummary {
                    name: phase.name.clone(),
                    status: phase.status,
                    strategy: phase.strategy.clone(),
                    steps: counts,
                })
            })
            .collect();
        PlanSummary {
            name: plan.name.clone(),
            status: plan.status,
            strategy: plan.strategy.clone(),
            errors: plan.errors.clone(),
            parameters: plan.parameters.clone(),
            interrupted: plan.interrupted,
            steps,
            phases_total: plan.phases.len(),
            phases,
        }
    }
}

/// A step with the phase it belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepEntry {
    /// Its phase.
    pub phase: String,
    /// `data-2:[node]`.
    pub name: String,
    /// Its status.
    pub status: Status,
    /// Why, in words.
    pub message: String,
}

/// Steps `offset..offset + limit` of a plan, in plan order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepPage {
    /// Index of the first step listed.
    pub offset: usize,
    /// The most steps this page could hold.
    pub limit: usize,
    /// Steps of the plan.
    pub total: usize,
    /// The steps.
    pub steps: Vec<StepEntry>,
}

impl StepPage {
    /// The steps of `plan` in `range`.
    pub fn of(plan: &PlanStatus, range: Range) -> StepPage {
        let all = plan.phases.iter().flat_map(|phase| {
            phase.steps.iter().map(move |step| StepEntry {
                phase: phase.name.clone(),
                name: step.name.clone(),
                status: step.status,
                message: step.message.clone(),
            })
        });
        StepPage {
            offset: range.offset,
            limit: range.limit,
            total: plan.phases.iter().map(|p| p.steps.len()).sum(),
            steps: all.skip(range.offset).take(range.limit).collect(),
        }
    }
}

/// `GET /v1/plans/{plan}`: the summary, and a page of steps when one was asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanAnswer {
    /// The plan, summarised.
    #[serde(flatten)]
    pub summary: PlanSummary,
    /// The steps asked for with `?offset=&limit=`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page: Option<StepPage>,
}

/// `GET /v1/pods`: pod instances `offset..offset + limit`, in the scheduler's order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodPage {
    /// Index of the first pod listed.
    pub offset: usize,
    /// The most pods this page could hold.
    pub limit: usize,
    /// Pod instances of the service.
    pub total: usize,
    /// The pods and their tasks.
    pub pods: Vec<PodStatus>,
}

impl PodPage {
    /// The pods of `all` in `range`.
    pub fn of(all: &[PodStatus], range: Range) -> PodPage {
        PodPage {
            offset: range.offset,
            limit: range.limit,
            total: all.len(),
            pods: all
                .iter()
                .skip(range.offset)
                .take(range.limit)
                .cloned()
                .collect(),
        }
    }
}

/// Which entries a page holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    /// The first.
    pub offset: usize,
    /// How many at most.
    pub limit: usize,
}

impl Range {
    /// Reads `?offset=&limit=` (either may be absent): `Ok(None)` when neither is given, the
    /// reason when one is not a number or `limit` is more than [`MAX_LIMIT`].
    pub fn parse(offset: Option<&str>, limit: Option<&str>) -> Result<Option<Range>, String> {
        if offset.is_none() && limit.is_none() {
            return Ok(None);
        }
        let number = |name: &str, v: &str| {
            v.parse::<usize>()
                .map_err(|_| format!("{name} `{v}` is not a whole number"))
        };
        let offset = offset.map_or(Ok(0), |v| number("offset", v))?;
        let limit = limit.map_or(Ok(DEFAULT_LIMIT), |v| number("limit", v))?;
        if limit > MAX_LIMIT {
            return Err(format!(
                "limit {limit} is more than the {MAX_LIMIT} entries a page holds at most"
            ));
        }
        Ok(Some(Range { offset, limit }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_core::plan::{PhaseStatus, StepStatus};

    fn plan(phases: usize, steps: usize) -> PlanStatus {
        PlanStatus {
            name: "deploy".into(),
            status: Status::InProgress,
            strategy: "serial".into(),
            phases: (0..phases)
                .map(|p| PhaseStatus {
                    name: format!("p{p}"),
                    status: Status::InProgress,
                    strategy: "serial".into(),
                    steps: (0..steps)
                        .map(|s| StepStatus {
                            name: format!("p{p}-{s}:[node]"),
                            status: if s == 0 {
                                Status::Starting
                            } else {
                                Status::Pending
                            },
                            message: String::new(),
                        })
                        .collect(),
                })
                .collect(),
            errors: Vec::new(),
            parameters: Default::default(),
            interrupted: false,
        }
    }

    #[test]
    fn a_summary_counts_steps_by_status_and_lists_at_most_a_hundred_phases() {
        let s = PlanSummary::of(&plan(150, 3));
        assert_eq!(s.steps.total, 450);
        assert_eq!(s.steps.count(Status::Starting), 150);
        assert_eq!(s.steps.count(Status::Pending), 300);
        assert_eq!(s.phases_total, 150);
        assert_eq!(s.phases.len(), PHASES_LISTED);
        assert_eq!(s.phases[0].steps.words(), "1 STARTING, 2 PENDING");
        let json = serde_json::to_value(&s.steps).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"total": 450, "STARTING": 150, "PENDING": 300})
        );
    }

    #[test]
    fn a_step_page_runs_across_phases_in_plan_order() {
        let page = StepPage::of(
            &plan(3, 4),
            Range {
                offset: 3,
                limit: 3,
            },
        );
        assert_eq!(page.total, 12);
        let names: Vec<_> = page.steps.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["p0-3:[node]", "p1-0:[node]", "p1-1:[node]"]);
        assert_eq!(page.steps[1].phase, "p1");
        let past = StepPage::of(
            &plan(3, 4),
            Range {
                offset: 50,
                limit: 10,
            },
        );
        assert!(past.steps.is_empty());
    }

    #[test]
    fn a_range_is_optional_bounded_and_numeric() {
        assert_eq!(Range::parse(None, None), Ok(None));
        assert_eq!(
            Range::parse(Some("20"), None),
            Ok(Some(Range {
                offset: 20,
                limit: DEFAULT_LIMIT
            }))
        );
        assert_eq!(
            Range::parse(None, Some("1000")),
            Ok(Some(Range {
                offset: 0,
                limit: 1000
            }))
        );
        assert!(Range::parse(None, Some("1001"))
            .unwrap_err()
            .contains("1000 entries"));
        assert!(Range::parse(Some("-1"), None)
            .unwrap_err()
            .contains("offset `-1`"));
    }
}
