//! Ranking the offers that passed every check: the best one gets the pod.

use crate::ids::{mix, stable_hash};

use super::placement::PlacementContext;
use super::requirement::PodRequirement;
use super::view::OfferView;
use super::Rank;

/// The built-in ranking: offers holding the pod's own reservations first (a relaunch goes
/// home), then spread (the fewest instances of this pod type on the agent), then a seeded hash
/// of pod and agent, so ties break the same way in every run with the same seed but do not
/// always favour the same agent.
#[derive(Debug, Clone, Copy, Default)]
pub struct SpreadRank;

impl Rank for SpreadRank {
    fn rank(
        &self,
        req: &PodRequirement,
        candidates: &[&OfferView],
        ctx: &PlacementContext,
    ) -> Vec<usize> {
        let pod_hash = stable_hash(req.pod_instance.to_string().as_bytes());
        let key = |o: &OfferView| {
            let home = req.reuses()
                && req
                    .resource_ids
                    .iter()
                    .all(|id| o.reserved.contains_key(id));
            let load = ctx.count_on_agent(req.pod_instance.pod_type(), &o.agent_id.value);
            let tie = mix(ctx.seed ^ pod_hash ^ stable_hash(o.agent_id.value.as_bytes()));
            (!home, load, tie)
        };
        let mut order: Vec<usize> = (0..candidates.len()).collect();
        order.sort_by_cached_key(|i| key(candidates[*i]));
        order
    }
}
