//! `GET /v1/health`: the service's health as an HTTP code a load balancer or a monitor
//! understands, with why in the body.
//!
//! The SDK's convention, from the rollout (deploy or update) and recovery plans: errors in
//! either is 417, either incomplete is 202, both complete 200. cairn adds two things the SDK's
//! answer missed: a crash-looping task (see `cairn_core::scheduler::CRASH_LOOP_FAILURES`) is an
//! error whatever the plans say (its relaunches keep the recovery plan busy, or even complete
//! between two failures), and a scheduler not connected to its master answers 503, since
//! nothing it says of the tasks is current then.

use axum::http::StatusCode;
use cairn_core::plan::Status;
use serde::{Deserialize, Serialize};

use crate::driver::Snapshot;

/// The plan whose state is the service's recovery.
const RECOVERY: &str = "recovery";

/// What `GET /v1/health` answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    /// `healthy` (200), `deploying` or `recovering` (202), `errors` (417), `unreachable` (503).
    pub status: String,
    /// Why, one line each: the plans' errors, the crash-looping tasks with their last exit,
    /// the plans not complete. Empty when healthy.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<String>,
}

impl Health {
    /// The HTTP code of this answer.
    pub fn code(&self) -> StatusCode {
        match self.status.as_str() {
            "healthy" => StatusCode::OK,
            "deploying" | "recovering" => StatusCode::ACCEPTED,
            "errors" => StatusCode::EXPECTATION_FAILED,
            _ => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

/// The health `snap` shows.
pub fn of(snap: &Snapshot) -> Health {
    let answer = |status: &str, reasons: Vec<String>| Health {
        status: status.to_string(),
        reasons,
    };
    if !snap.connected {
        return answer(
            "unreachable",
            vec![format!(
                "the scheduler is not connected to the master at {}",
                snap.master
            )],
        );
    }
    // The rollout plan is listed first; recovery by its name.
    let watched: Vec<_> = snap
        .plans
        .iter()
        .enumerate()
        .filter(|(i, p)| *i == 0 || p.name == RECOVERY)
        .map(|(_, p)| p)
        .collect();
    let mut errors: Vec<String> = Vec::new();
    for plan in &watched {
        errors.extend(plan.errors.iter().map(|e| format!("{}: {e}", plan.name)));
        if plan.status == Status::Error && plan.errors.is_empty() {
            for step in plan.phases.iter().flat_map(|ph| &ph.steps) {
                if step.status == Status::Error {
                    errors.push(format!("{}: {}: {}", plan.name, step.name, step.message));
                }
            }
        }
    }
    for pod in snap.pods.iter().filter(|p| p.crash_looping) {
        for task in pod.tasks.iter().filter(|t| t.crash_looping) {
            let why = task
                .last_exit
                .as_ref()
                .and_then(|e| e.message.as_deref())
                .map(|m| format!(": {}", m.replace('\n', " | ")))
                .unwrap_or_default();
            errors.push(format!(
                "pod {}: {} is crash-looping ({} failures in {} min){why}",
                pod.name,
                task.name,
                task.failures,
                cairn_core::scheduler::CRASH_LOOP_WINDOW.as_secs() / 60
            ));
        }
    }
    if !errors.is_empty() {
        return answer("errors", errors);
    }
    let incomplete: Vec<_> = watched
        .iter()
        .filter(|p| p.status != Status::Complete)
        .collect();
    if incomplete.is_empty() {
        return answer("healthy", Vec::new());
    }
    let status = if incomplete.iter().any(|p| p.name != RECOVERY) {
        "deploying"
    } else {
        "recovering"
    };
    answer(
        status,
        incomplete
            .iter()
            .map(|p| format!("{}: {}", p.name, p.status))
            .collect(),
    )
}
