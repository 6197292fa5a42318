//! A spec handed to a running scheduler (`cairn update`): judged against the target in force
//! by the same validators a restart runs, so that a refusal changes nothing and an acceptance
//! is known to roll out when the scheduler restarts with it.

use crate::config::{violations_of, ConfigViolation};
use crate::plan::CommandRefusal;
use crate::spec::ServiceSpec;

use super::{Overrides, Scheduler};

/// What a running scheduler says of a new spec.
#[derive(Debug, Clone, PartialEq)]
pub enum UpdateCheck {
    /// The spec is the target already: there is nothing to roll out.
    Unchanged,
    /// Every validator passes: a scheduler started with it makes it the target.
    Accepted,
    /// Every violation; the target in force stays.
    Refused(Vec<ConfigViolation>),
}

impl Scheduler {
    /// Judges `new` against the target in force, as a restart with it would (built-in
    /// validators, then the author's). Changes nothing. Refused outright while uninstalling,
    /// when no spec has anything left to deploy.
    pub fn check_update(&self, new: &ServiceSpec) -> Result<UpdateCheck, CommandRefusal> {
        if self.is_uninstalling() {
            return Err(CommandRefusal(
                "the service is uninstalling; it takes no new spec".into(),
            ));
        }
        // Judged as the next scheduler will run it: with this scheduler's TASKCFG_* settings.
        let new = &super::with_taskcfg(new.clone(), &self.cfg.taskcfg);
        if new == &self.spec {
            return Ok(UpdateCheck::Unchanged);
        }
        // The settings may give a new pod type's tasks variables the spec's rules refuse (a
        // name that is no variable name, too many): the next scheduler would not start.
        crate::spec::validate(new).map_err(|e| {
            CommandRefusal(format!(
                "with this scheduler's TASKCFG_* settings routed in, the spec is invalid: {e}"
            ))
        })?;
        let violations = violations_of(Some(&self.spec), new, &self.config_validators);
        Ok(if violations.is_empty() {
            UpdateCheck::Accepted
        } else {
            UpdateCheck::Refused(violations)
        })
    }

    /// The author's overrides this scheduler was built with, for building the next one (a
    /// restart with a new spec keeps the service's replaced defaults).
    pub fn into_overrides(mut self) -> Overrides {
        let authors = self
            .checks
            .split_off(self.builtin_checks.min(self.checks.len()));
        Overrides {
            checks: authors,
            rank: self.rank,
            plan_customizer: self.plan_customizer,
            recovery: self.recovery,
            config_validators: self.config_validators,
        }
    }
}
