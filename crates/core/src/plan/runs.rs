//! The spec's plans beyond deploy and update (a backup, a repair, a sidecar): idle until an
//! operator starts them, and what each start, stop, force-complete and restart left behind,
//! kept in the store so that a restarted scheduler carries on where the last one was.
//!
//! A plan's state is not its steps' statuses (those are derived from the stored tasks like the
//! deploy plan's) but the few facts no task can tell: whether the plan is started, with which
//! parameters, which steps an operator force-completed, and the *run*: a number bumped by every
//! start, stop and restart. Every task a plan launches carries `<plan>:<run>` in its
//! [`crate::labels::PLAN_RUN`] label; a step counts only launches of its plan at or after the
//! run it was last (re)started in. So a backup that finished yesterday leaves its step complete
//! until the plan is started again, and then the same task runs again on the pod's own agent,
//! reservations and volumes.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

/// The store property holding [`PlanRuns`].
pub const PLAN_RUNS_PROPERTY: &str = "plan-runs";

/// At most this many parameters per start.
pub const MAX_PARAMETERS: usize = 64;
/// A parameter's name: at most this many characters.
pub const MAX_PARAMETER_NAME: usize = 128;
/// A parameter's value: at most this many bytes.
pub const MAX_PARAMETER_VALUE: usize = 4096;

/// Why parameters were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ParameterError(pub String);

/// Checks start parameters: each name an environment variable name (`[A-Za-z_][A-Za-z0-9_]*`,
/// as the SDK requires), each value without a NUL byte (no environment can carry one), within
/// the bounds above. Every problem is named; the first is returned.
pub fn check_parameters(parameters: &BTreeMap<String, String>) -> Result<(), ParameterError> {
    if parameters.len() > MAX_PARAMETERS {
        return Err(ParameterError(format!(
            "{} parameters; at most {MAX_PARAMETERS} are taken",
            parameters.len()
        )));
    }
    for (name, value) in parameters {
        let mut chars = name.chars();
        let good_start = chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
        if !good_start || !chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(ParameterError(format!(
                "parameter `{name}` is not an environment variable name \
                 (letters, digits and `_`, not starting with a digit)"
            )));
        }
        if name.len() > MAX_PARAMETER_NAME {
            return Err(ParameterError(format!(
                "parameter name `{name}` is longer than {MAX_PARAMETER_NAME} characters"
            )));
        }
        if value.len() > MAX_PARAMETER_VALUE {
            return Err(ParameterError(format!(
                "the value of parameter `{name}` is longer than {MAX_PARAMETER_VALUE} bytes"
            )));
        }
        if value.contains('\0') {
            return Err(ParameterError(format!(
                "the value of parameter `{name}` holds a NUL byte, which no environment can carry"
            )));
        }
    }
    Ok(())
}

/// One plan's state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanRun {
    /// Started by an operator (and not stopped since). A complete plan stays started.
    pub started: bool,
    /// The current run: launches of this plan carry it.
    pub run: u64,
    /// Every step needs a launch from this run or later.
    pub since: u64,
    /// Steps (`phase/step`) restarted after the plan's own start: they need a launch from
    /// this run or later.
    pub step_since: BTreeMap<String, u64>,
    /// The parameters of the start: every task the plan launches gets them as environment
    /// variables.
    pub parameters: BTreeMap<String, String>,
    /// Steps (`phase/step`) an operator force-completed in this run.
    pub forced: BTreeSet<String>,
}

/// The key of step `step` of phase `phase`.
pub fn step_key(phase: &str, step: &str) -> String {
    format!("{phase}/{step}")
}

impl PlanRun {
    /// The run a launch must be from (at least) to count for `phase`/`step`.
    pub fn needs(&self, phase: &str, step: &str) -> u64 {
        // Derived for every step after every event: no key is built when no step has its own.
        if self.step_since.is_empty() {
            return self.since;
        }
        self.step_since
            .get(&step_key(phase, step))
            .copied()
            .unwrap_or(0)
            .max(self.since)
    }

    /// Whether an operator force-completed the step.
    pub fn is_forced(&self, phase: &str, step: &str) -> bool {
        !self.forced.is_empty() && self.forced.contains(&step_key(phase, step))
    }

    /// Starts the plan afresh with `parameters`: every step runs again.
    pub fn start(&mut self, parameters: BTreeMap<String, String>) {
        self.reset();
        self.started = true;
        self.parameters = parameters;
    }

    /// Back to idle: nothing new starts, and every step is to run again at the next start.
    pub fn stop(&mut self) {
        self.reset();
        self.started = false;
    }

    /// Every step to run again (keeping the plan started or idle, and its parameters).
    pub fn reset(&mut self) {
        self.run += 1;
        self.since = self.run;
        self.step_since.clear();
        self.forced.clear();
    }

    /// These steps (`phase/step` keys) to run again in a new run.
    pub fn restart_steps(&mut self, keys: &[String]) {
        self.run += 1;
        for k in keys {
            self.forced.remove(k);
            self.step_since.insert(k.clone(), self.run);
        }
    }

    /// These steps complete, whatever their tasks do.
    pub fn force_complete(&mut self, keys: &[String]) {
        self.forced.extend(keys.iter().cloned());
    }

    /// The [`crate::labels::PLAN_RUN`] label value of this plan's launches now.
    pub fn label(&self, plan: &str) -> String {
        format!("{plan}:{}", self.run)
    }
}

/// Every plan's state, by plan name: what the store keeps.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanRuns {
    /// By plan name.
    pub plans: BTreeMap<String, PlanRun>,
}

impl PlanRuns {
    /// The state read from the store; none when absent. An unreadable value is treated as
    /// absent: every plan idle, as at a first start (a plan never starts by itself).
    pub fn from_stored(stored: Option<&[u8]>) -> PlanRuns {
        stored
            .and_then(|b| serde_json::from_slice(b).ok())
            .unwrap_or_default()
    }

    /// The plan's state (idle and never started when unknown).
    pub fn get(&self, plan: &str) -> PlanRun {
        self.plans.get(plan).cloned().unwrap_or_default()
    }

    /// The stored form.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// The write that stores this state.
    pub fn write(&self) -> crate::store::WriteOp {
        crate::store::WriteOp::Put {
            key: crate::store::property_key(PLAN_RUNS_PROPERTY),
            value: self.to_bytes(),
        }
    }

    /// Forgets every plan not in `plans`; whether any was forgotten.
    pub fn keep_only<'a>(&mut self, plans: impl Iterator<Item = &'a str>) -> bool {
        let keep: BTreeSet<&str> = plans.collect();
        let before = self.plans.len();
        self.plans.retain(|name, _| keep.contains(name.as_str()));
        self.plans.len() != before
    }
}

/// Reads a [`crate::labels::PLAN_RUN`] label: the plan and the run.
pub fn parse_label(value: &str) -> Option<(&str, u64)> {
    let (plan, run) = value.rsplit_once(':')?;
    Some((plan, run.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn parameter_names_must_be_environment_variable_names() {
        assert!(check_parameters(&params(&[("PLAN_PARAM", "x"), ("_a1", "")])).is_ok());
        for bad in ["1X", "A-B", "", "A B", "É"] {
            let e = check_parameters(&params(&[(bad, "x")])).unwrap_err();
            assert!(
                e.0.contains("not an environment variable name"),
                "{bad}: {e}"
            );
        }
        assert!(check_parameters(&params(&[("A", "a\0b")])).is_err());
    }

    #[test]
    fn a_start_stop_and_restart_each_open_a_new_run_that_earlier_launches_do_not_satisfy() {
        let mut r = PlanRun::default();
        r.start(params(&[("A", "1")]));
        assert_eq!((r.run, r.needs("p", "s")), (1, 1));
        r.force_complete(&[step_key("p", "s")]);
        assert!(r.is_forced("p", "s"));
        r.restart_steps(&[step_key("p", "s")]);
        assert!(!r.is_forced("p", "s"));
        assert_eq!((r.needs("p", "s"), r.needs("p", "t")), (2, 1));
        r.stop();
        assert!(!r.started);
        assert_eq!(r.needs("p", "s"), 3);
        assert_eq!(parse_label(&r.label("back-up:x")), Some(("back-up:x", 3)));
    }
}
