//! Operator overrides of plans (`continue`, `interrupt`), kept in the store so that a restart
//! does not forget them (dcos-commons lost them on restart).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::store::ConfigId;

/// The names the rollout plan goes by: the deploy plan, and the spec's `update` plan once a
/// first deploy completed.
const ROLLOUT_NAMES: [&str; 2] = ["deploy", "update"];

/// The store property holding [`PlanOverrides`].
pub const PLAN_OVERRIDES_PROPERTY: &str = "plan-overrides";

/// An operator's command to the plans.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Command {
    /// Resume an interrupted plan or phase, and advance canaries waiting for a `continue`.
    Continue {
        /// The plan, e.g. `deploy`.
        plan: String,
        /// One phase, or every phase of the plan.
        phase: Option<String>,
    },
    /// Start nothing new in the plan or phase; what is in flight carries on.
    Interrupt {
        /// The plan.
        plan: String,
        /// One phase, or the whole plan.
        phase: Option<String>,
    },
    /// Kill a pod instance's tasks and relaunch them in place (same reservations and volumes);
    /// clears its crash-loop backoff.
    Restart {
        /// The pod instance, e.g. `data-2`.
        pod: String,
    },
    /// Give up on a pod instance's home: kill its tasks and relaunch it elsewhere with fresh
    /// reservations and volumes (its data is lost); the old ones are reclaimed.
    Replace {
        /// The pod instance, e.g. `data-2`.
        pod: String,
    },
    /// Relaunch a pod instance's RUNNING tasks in place with a no-op command and no checks, so
    /// that an operator can inspect or repair its volumes; kept until `Resume`.
    Pause {
        /// The pod instance, e.g. `data-2`.
        pod: String,
    },
    /// Relaunch a paused pod instance's tasks with their own command.
    Resume {
        /// The pod instance, e.g. `data-2`.
        pod: String,
    },
    /// Start a plan of the spec beyond deploy and update (a backup, a repair): idle until
    /// started. A complete or idle plan starts afresh, every step to run again; each task it
    /// launches gets `parameters` as environment variables.
    Start {
        /// The plan, e.g. `backup`.
        plan: String,
        /// `KEY` → `VALUE`, environment variable names.
        parameters: std::collections::BTreeMap<String, String>,
    },
    /// Back to idle: nothing new starts (what is in flight carries on), and every step is to
    /// run again at the next start.
    Stop {
        /// The plan.
        plan: String,
    },
    /// Take a plan, one phase or one step as complete, whatever its tasks do (a step whose task
    /// fails for good, that an operator gave up on).
    ForceComplete {
        /// The plan.
        plan: String,
        /// One phase, or the whole plan.
        phase: Option<String>,
        /// One step of that phase, or the whole phase.
        step: Option<String>,
    },
    /// Run a plan, one phase or one step again: its tasks are launched again (after a kill if
    /// they still run), and force-completes there are undone. Restarting a whole plan starts
    /// it (with its last parameters).
    RestartPlan {
        /// The plan.
        plan: String,
        /// One phase, or the whole plan.
        phase: Option<String>,
        /// One step of that phase, or the whole phase.
        step: Option<String>,
    },
    /// Uninstall the service: kill every task, release every reservation and volume, tear
    /// the framework down and delete the stored state. Cannot be undone once accepted.
    Uninstall,
    /// Stop waiting for `agent` during an uninstall: its reservations are left behind (the
    /// agent is gone for good, or an operator cleans it by hand).
    ForceCompleteUninstall {
        /// The agent id.
        agent: String,
    },
}

/// A command that was not carried out, and why. A value the API shows, not a failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CommandRefusal(pub String);

/// Operator overrides, for one target config: a new config starts from none (its rollout gets
/// its own canary gates).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanOverrides {
    /// The config these overrides belong to.
    pub config: Option<ConfigId>,
    /// `continue`s per `plan/phase`.
    pub continues: BTreeMap<String, u32>,
    /// Interrupted `plan` and `plan/phase` names.
    pub interrupted: BTreeSet<String>,
    /// Force-completed steps of the rollout plan, `plan/phase/step`: complete for this config,
    /// whatever their tasks do.
    #[serde(default)]
    pub forced: BTreeSet<String>,
}

impl PlanOverrides {
    /// The overrides read from the store, for target `config` whose rollout plan is
    /// `rollout`. Overrides of another config keep only their interrupts: an operator who
    /// interrupted a plan wants nothing new started until a `continue`, whatever spec comes
    /// meanwhile (a new config's rollout gets its own canary gates and force-completes). An
    /// interrupt of the rollout plan, under either of its names (`deploy`, or the spec's
    /// `update` once a first deploy completed), holds the new rollout.
    pub fn for_config(stored: Option<&[u8]>, config: &ConfigId, rollout: &str) -> PlanOverrides {
        let stored = stored.and_then(|b| serde_json::from_slice::<PlanOverrides>(b).ok());
        match stored {
            Some(o) if o.config.as_ref() == Some(config) => o,
            Some(o) => PlanOverrides {
                config: Some(config.clone()),
                interrupted: o
                    .interrupted
                    .into_iter()
                    .map(|name| match name.split_once('/') {
                        Some((plan, phase)) if ROLLOUT_NAMES.contains(&plan) => {
                            format!("{rollout}/{phase}")
                        }
                        None if ROLLOUT_NAMES.contains(&name.as_str()) => rollout.to_string(),
                        _ => name,
                    })
                    .collect(),
                ..PlanOverrides::default()
            },
            None => PlanOverrides {
                config: Some(config.clone()),
                ..PlanOverrides::default()
            },
        }
    }

    /// `continue`s received by a phase.
    pub fn continues(&self, plan: &str, phase: &str) -> u32 {
        self.continues
            .get(&format!("{plan}/{phase}"))
            .copied()
            .unwrap_or(0)
    }

    /// Whether the plan or any of its phases is interrupted.
    pub fn is_any_interrupted(&self, plan: &str) -> bool {
        self.interrupted
            .iter()
            .any(|k| k == plan || k.strip_prefix(plan).is_some_and(|r| r.starts_with('/')))
    }

    /// Whether the plan or the phase is interrupted.
    pub fn is_interrupted(&self, plan: &str, phase: &str) -> bool {
        self.interrupted.contains(plan) || self.interrupted.contains(&format!("{plan}/{phase}"))
    }

    /// Records a `continue` for `phases` of `plan` (all of them when `phase` is none). Only
    /// phases that are held count a continue, so a stray `continue` is not banked for later.
    pub fn resume(&mut self, plan: &str, phase: Option<&str>, held: &[String]) {
        self.interrupted.remove(plan);
        for p in held {
            if phase.is_some_and(|want| want != p) {
                continue;
            }
            self.interrupted.remove(&format!("{plan}/{p}"));
            let n = self.continues.entry(format!("{plan}/{p}")).or_insert(0);
            *n = (*n + 1).min(2);
        }
        if let Some(p) = phase {
            self.interrupted.remove(&format!("{plan}/{p}"));
        }
    }

    /// Whether an operator force-completed the step.
    pub fn is_forced(&self, plan: &str, phase: &str, step: &str) -> bool {
        !self.forced.is_empty() && self.forced.contains(&format!("{plan}/{phase}/{step}"))
    }

    /// Interrupts the plan or one phase.
    pub fn interrupt(&mut self, plan: &str, phase: Option<&str>) {
        match phase {
            Some(p) => self.interrupted.insert(format!("{plan}/{p}")),
            None => self.interrupted.insert(plan.to_string()),
        };
    }

    /// The stored form.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_interrupt_outlives_a_new_config_and_nothing_else_of_the_old_overrides_does() {
        // Goal: `cairn update` does not silently resume an interrupted rollout. Method:
        // overrides of config a with interrupts, a continue and a force-complete, read for b.
        let a = ConfigId("a".into());
        let mut old = PlanOverrides::for_config(None, &a, "deploy");
        old.interrupt("deploy", None);
        old.interrupt("deploy", Some("data"));
        old.interrupt("backup", None);
        old.continues.insert("deploy/data".into(), 1);
        old.forced.insert("deploy/data/data-0:[node]".into());
        let bytes = old.to_bytes();
        assert_eq!(PlanOverrides::for_config(Some(&bytes), &a, "deploy"), old);
        let b = ConfigId("b".into());
        let new = PlanOverrides::for_config(Some(&bytes), &b, "update");
        assert_eq!(new.config, Some(b));
        assert!(new.is_interrupted("update", "other"));
        assert!(new.is_interrupted("backup", "x"));
        assert!(new.interrupted.contains("update/data"));
        assert!(new.continues.is_empty() && new.forced.is_empty());
    }
}
