//! The offer pipeline (after Nomad, with dcos-commons' explanations): pod requirements ×
//! offers → ordered named checks → ranking → operations, each decision with its reasons.
//!
//! ```text
//! released steps ──requirement()──► PodRequirement ─┐
//! offers ──OfferView::new()─────────────────────────┼─► evaluate(): checks, rank ─► Match
//!                                                    │                              │
//! stored tasks ──► PlacementContext ─────────────────┘          launch() ◄──────────┘
//!                                                     RESERVE · CREATE · LAUNCH_GROUP
//! ```
//!
//! Everything is a pure function of its arguments; [`DecisionRecord`]s are return values.

pub mod checks;
pub mod evaluate;
pub mod explain;
pub mod operations;
pub mod placement;
pub mod rank;
pub mod requirement;
pub mod view;
pub mod why;

pub use checks::builtin_checks;
pub use evaluate::{evaluate, Cycle, Match, Pipeline};
pub use explain::{CheckOutcome, DecisionRecord, Evaluation};
pub use operations::{launch, Launch, LaunchContext};
pub use placement::{CompiledRule, Placed, PlacementContext};
pub use rank::SpreadRank;
pub use requirement::{
    requirement, ExecutorNeed, ExecutorSize, PodRequirement, TaskLaunch, TaskResources,
};
pub use view::{AgentFacts, OfferView};
pub use why::{report, CheckCount, OfferReport};

/// A named offer check. The built-ins come first ([`builtin_checks`]); an author's checks run
/// after them, in the order given.
pub trait OfferCheck: Send {
    /// The name shown in decision records, e.g. `cpus`.
    fn name(&self) -> &str;
    /// Passes, or says why `offer` cannot take `req`.
    fn check(
        &self,
        req: &PodRequirement,
        offer: &OfferView,
        ctx: &PlacementContext,
    ) -> Result<(), String>;
}

/// Orders the offers that passed every check, best first. The default is [`SpreadRank`].
pub trait Rank: Send {
    /// Indices into `candidates`, best first (the first one takes the pod).
    fn rank(
        &self,
        req: &PodRequirement,
        candidates: &[&OfferView],
        ctx: &PlacementContext,
    ) -> Vec<usize>;
}
