//! What a service author can replace (DESIGN.md principle 5). `Default` is the built-in
//! behaviour.

use crate::config::ConfigValidator;
use crate::offer::{OfferCheck, Rank, SpreadRank};
use crate::plan::PlanCustomizer;
use crate::recovery::{InPlaceRecovery, RecoveryPolicy};

/// Author overrides of the scheduler's policies.
pub struct Overrides {
    /// Offer checks run after the built-in ones, in order.
    pub checks: Vec<Box<dyn OfferCheck>>,
    /// Replaces the built-in ranking ([`SpreadRank`]).
    pub rank: Box<dyn Rank>,
    /// Reshapes the deploy plan (strategies, phases, steps).
    pub plan_customizer: Option<Box<dyn PlanCustomizer>>,
    /// How failed tasks are recovered (default: relaunch in place).
    pub recovery: Box<dyn RecoveryPolicy>,
    /// Rules a config change must pass (run in `Scheduler::new`).
    pub config_validators: Vec<Box<dyn ConfigValidator>>,
}

impl Default for Overrides {
    fn default() -> Self {
        Self {
            checks: Vec::new(),
            rank: Box::new(SpreadRank),
            plan_customizer: None,
            recovery: Box::new(InPlaceRecovery),
            config_validators: Vec::new(),
        }
    }
}

impl std::fmt::Debug for Overrides {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Overrides")
            .field(
                "checks",
                &self
                    .checks
                    .iter()
                    .map(|c| c.name().to_string())
                    .collect::<Vec<_>>(),
            )
            .field("plan_customizer", &self.plan_customizer.is_some())
            .field(
                "config_validators",
                &self
                    .config_validators
                    .iter()
                    .map(|v| v.name().to_string())
                    .collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}
