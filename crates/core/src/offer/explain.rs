//! Decision records: why each offer was taken or turned down, per pod and per check.
//!
//! "Why is my step stuck?" is answered by data. Every offer the scheduler looks at yields one
//! [`DecisionRecord`], kept (bounded) in memory and served by the HTTP API.

use serde::{Deserialize, Serialize};

use crate::time::Time;

/// One offer and what became of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecisionRecord {
    /// When the offer was evaluated.
    pub time: Time,
    /// The offer.
    pub offer_id: String,
    /// Its agent.
    pub agent_id: String,
    /// Its agent's hostname.
    pub hostname: String,
    /// `accepted for data-2` (or `accepted for data-2, data-5`), `declined`, or
    /// `declined: <why no pod was evaluated>`.
    pub outcome: String,
    /// Each pod requirement checked against the offer, in the order evaluated: the first
    /// [`MAX_EVALUATIONS_PER_RECORD`], plus every accepted pod.
    pub evaluations: Vec<Evaluation>,
}

/// The checks of one pod requirement against one offer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evaluation {
    /// The pod instance, e.g. `data-2`.
    pub pod_instance: String,
    /// The checks in pipeline order, up to and including the first that failed.
    pub checks: Vec<CheckOutcome>,
}

impl Evaluation {
    /// Whether every check passed.
    pub fn passed(&self) -> bool {
        self.checks.iter().all(|c| c.passed)
    }

    /// The first failed check as `check: reason`, if any.
    pub fn failure(&self) -> Option<String> {
        self.checks
            .iter()
            .find(|c| !c.passed)
            .map(|c| format!("{}: {}", c.check, c.reason))
    }
}

/// One check's verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckOutcome {
    /// `role`, `reservation`, `placement`, `cpus`, `mem`, `gpus`, `disk`, `ports`, `volumes`, or an
    /// author's check name.
    pub check: String,
    /// Whether it passed.
    pub passed: bool,
    /// Why it failed (empty when it passed).
    pub reason: String,
}

/// The most evaluations one record keeps: with a thousand pods waiting, a record listing all
/// of them would be megabytes that nobody reads; the first ones show the pattern.
pub const MAX_EVALUATIONS_PER_RECORD: usize = 32;
