//! Plans: plan → phases → steps, with strategies, all derived from the state.
//!
//! A plan is never stored and never mutated by callbacks (dcos-commons' pain). Each time the
//! state changes the scheduler derives it again from the target config, the stored tasks and
//! the operator overrides: [`deploy::derive`] gives the statuses the API shows and the steps
//! released to run. The recovery plan ([`crate::recovery::plan`]) is a second derivation over
//! the same inputs: a RUNNING task of the target config that stopped is its business (the
//! deploy step shows it STARTING, "see the recovery plan"), while FINISH/ONCE retries and
//! config rollouts stay with the deploy plan.
//!
//! The spec's other plans (a backup, a repair) are derived the same way, with what an operator
//! did to them ([`runs`]: started or idle, parameters, force-completed steps), which is the
//! one thing of a plan that is stored.

pub mod assess;
pub mod deploy;
pub mod overrides;
pub mod runs;
pub mod status;
pub mod steps;
pub mod strategy;

pub use deploy::{derive, derive_work, DerivedPlan, PlanInput, ReleasedStep, RunTag, Work};
pub use overrides::{Command, CommandRefusal, PlanOverrides};
pub use runs::{PlanRun, PlanRuns};
pub use status::{PhaseStatus, PlanStatus, Status, StepStatus};
pub use steps::{deploy_plan_spec, ExpandedPlan, StepDef};

use crate::spec::PlanSpec;

/// Lets an author reshape a plan before it runs (reorder phases, change strategies, drop
/// steps). Applied to the deploy plan spec each time it is derived.
pub trait PlanCustomizer: Send {
    /// The plan to run instead of `plan`.
    fn customize(&self, plan: PlanSpec) -> PlanSpec;
}
