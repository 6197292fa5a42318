//! The allocator: what each agent has free, offered per framework and role, filtered by what a
//! framework declined, rescinded when the agent goes away.

use std::time::Duration;

use cairn_proto::{
    scheduler, AllocationInfo, CapabilityType, FrameworkId, Offer, OfferId, Resources,
};

use super::{AgentSlot, AgentStatus, ClusterState, Now, OfferFilter, OutstandingOffer, Stopwatch};

/// Where an offer's agent is reached (`Offer.url`): its own address, under the path of its
/// process as Mesos names it (`/slave(1)`, which cairn's agents serve as well as `/`).
pub(crate) fn agent_url(slot: &AgentSlot) -> cairn_proto::Url {
    cairn_proto::Url {
        scheme: "http".to_string(),
        address: cairn_proto::Address {
            hostname: Some(slot.ip.to_string()),
            ip: Some(slot.ip.to_string()),
            port: i32::from(slot.port),
        },
        path: Some(AGENT_PATH.to_string()),
        ..Default::default()
    }
}

/// The path prefix of an agent's endpoints in Mesos: its process id.
pub(crate) const AGENT_PATH: &str = "/slave(1)";

/// Mesos' default `refuse_seconds`.
const DEFAULT_REFUSE: f64 = 5.0;
/// Mesos caps `refuse_seconds` at a year.
const MAX_REFUSE: f64 = 365.0 * 24.0 * 3600.0;

/// What a framework can be offered beyond plain resources.
#[derive(Debug, Clone, Copy)]
struct Capable {
    /// GPU_RESOURCES: an agent with GPUs.
    gpus: bool,
    /// RESERVATION_REFINEMENT: a resource with a refined reservation (a reservation stack of
    /// more than one), which the legacy format cannot say.
    refined: bool,
}

impl ClusterState {
    /// Resources an agent's tasks and executors hold.
    pub(crate) fn used(&self, agent: usize) -> Resources {
        let mut used = Resources::new();
        self.for_each_used(agent, |r| used.add(&super::strip(r)));
        used
    }

    /// Calls `f` with every resource an agent's tasks and executors hold.
    pub(crate) fn for_each_used(&self, agent: usize, mut f: impl FnMut(&cairn_proto::Resource)) {
        if let Some(rt) = &self.agents[agent].runtime {
            for e in rt.executors.values() {
                for r in e.used_resources() {
                    f(r);
                }
            }
        } else {
            // A stopped agent's tasks still run; the master keeps counting them as used.
            for fw in self.master.frameworks.values() {
                for t in fw.tasks.values() {
                    if t.agent == agent && !t.state.is_terminal() {
                        for r in &t.info.resources {
                            f(r);
                        }
                    }
                }
            }
        }
    }

    /// What an agent has that nobody uses or has been offered.
    pub(crate) fn available(&self, agent: usize) -> Resources {
        let mut free = self.agents[agent].total.clone();
        // Subtracted one by one, not summed first: summing is itself quadratic when every
        // reservation is its own kind (per-pod labels), and a thousand pods made it most of
        // the cluster's CPU.
        let mut taken: Vec<cairn_proto::Resource> = Vec::new();
        self.for_each_used(agent, |r| taken.push(super::strip(r)));
        for o in self.master.offers.values().filter(|o| o.agent == agent) {
            taken.extend(o.resources.iter().map(super::strip));
        }
        for e in free.subtract_each(&taken) {
            // The books disagree (e.g. a volume destroyed under a recovered task); better to
            // offer a little less than to crash the allocator.
            tracing::warn!("agent {}: {e}", self.agents[agent].id);
        }
        free
    }

    /// One allocation pass, if one is due.
    pub(crate) fn allocate(&mut self, now: Now, stopwatch: Stopwatch) {
        if now.instant < self.master.next_allocation {
            return;
        }
        let late = now.instant.duration_since(self.master.next_allocation);
        // The next pass is due one interval after this one was due, not after the (slightly
        // late) tick that ran it: otherwise every other tick falls a hair short and the
        // interval doubles in practice.
        self.master.next_allocation =
            (self.master.next_allocation + self.cfg.allocation_interval).max(now.instant);
        let started = stopwatch();
        self.allocation_pass(now);
        let ran = stopwatch().duration_since(started);
        self.master.metrics.allocation(ran, late);
    }

    /// What one allocation pass offers.
    fn allocation_pass(&mut self, now: Now) {
        let mut clients: Vec<(FrameworkId, String, Capable)> = Vec::new();
        for fw in self.master.frameworks.values() {
            if fw.stream.is_none() {
                continue;
            }
            let capable = Capable {
                gpus: fw.info.has_capability(CapabilityType::GpuResources),
                refined: fw
                    .info
                    .has_capability(CapabilityType::ReservationRefinement),
            };
            for role in fw.info.effective_roles() {
                if !fw.suppressed.contains(&role) {
                    clients.push((fw.id.clone(), role, capable));
                }
            }
        }
        if clients.is_empty() {
            return;
        }
        let start = self.master.allocation_cursor % clients.len();
        clients.rotate_left(start);
        self.master.allocation_cursor = self.master.allocation_cursor.wrapping_add(1);
        let mut made: Vec<(FrameworkId, Offer)> = Vec::new();
        for agent in 0..self.agents.len() {
            let slot = &self.agents[agent];
            // An agent still sweeping for processes it has no checkpoint for may not know what
            // is in use yet.
            let ready = slot
                .runtime
                .as_ref()
                .is_some_and(|rt| rt.sweeping.is_none());
            if slot.status != AgentStatus::Running || !ready {
                continue;
            }
            let mut free = self.available(agent);
            // Mesos' `--filter_gpu_resources` (on by default): an agent with GPUs is offered
            // only to frameworks that can use them, so GPU machines are kept for GPU work.
            let has_gpus = self.agents[agent].total.scalar("gpus") > 0.0;
            for (fid, role, capable) in &clients {
                if free.is_empty() {
                    break;
                }
                if has_gpus && !capable.gpus {
                    continue;
                }
                // What Mesos may offer to `role`: unreserved, or reserved to it or to an
                // ancestor; a refined reservation only to a framework that can read one.
                let offerable = free.filter(|r| {
                    r.is_allocatable_to(role) && (capable.refined || r.reservations.len() < 2)
                });
                if offerable.is_empty() {
                    continue;
                }
                let filtered = self.master.frameworks.get(fid).is_some_and(|fw| {
                    fw.filters.iter().any(|f| {
                        f.agent == agent
                            && &f.role == role
                            && f.until > now.instant
                            && f.resources.contains(&offerable)
                    })
                });
                if filtered {
                    continue;
                }
                // Offerable is a subset of free by construction.
                let _ = free.subtract_each(offerable.iter());
                let id = self.next_offer_id();
                let resources = offerable.with_allocation_info(role);
                let slot = &self.agents[agent];
                let executor_ids = slot
                    .runtime
                    .as_ref()
                    .map(|rt| {
                        rt.executors
                            .values()
                            .filter(|e| {
                                &e.framework_id == fid
                                    && !e.command_task
                                    && e.phase != super::ExecutorPhase::Terminated
                            })
                            .map(|e| e.info.executor_id.clone())
                            .collect()
                    })
                    .unwrap_or_default();
                let offer = Offer {
                    id: id.clone(),
                    framework_id: fid.clone(),
                    agent_id: slot.id.clone(),
                    hostname: slot.ip.to_string(),
                    url: Some(agent_url(slot)),
                    resources: resources.to_vec(),
                    attributes: slot.attributes.clone(),
                    executor_ids,
                    allocation_info: Some(AllocationInfo::role(role.clone())),
                    ..Default::default()
                };
                self.master.offers.insert(
                    id,
                    OutstandingOffer {
                        offer: offer.clone(),
                        framework: fid.clone(),
                        agent,
                        role: role.clone(),
                        resources,
                        expires: self.cfg.offer_timeout.map(|t| now.instant + t),
                    },
                );
                made.push((fid.clone(), offer));
            }
        }
        // One OFFERS event per framework per pass, as the Mesos master batches them.
        let mut by_framework: std::collections::BTreeMap<FrameworkId, Vec<Offer>> =
            Default::default();
        for (fid, offer) in made {
            by_framework.entry(fid).or_default().push(offer);
        }
        for (fid, offers) in by_framework {
            self.send_to_framework(&fid, &scheduler::Event::offers(offers));
        }
    }

    /// Adds a decline filter for the resources of an offer (to `role`) being given back.
    pub(crate) fn filter_resources(
        &mut self,
        now: Now,
        fid: &FrameworkId,
        agent: usize,
        role: &str,
        resources: Resources,
        refuse_seconds: Option<f64>,
    ) {
        let secs = refuse_seconds.unwrap_or(DEFAULT_REFUSE);
        if secs.is_nan() || secs <= 0.0 || resources.is_empty() {
            return;
        }
        let until = now.instant + Duration::from_secs_f64(secs.min(MAX_REFUSE));
        if let Some(fw) = self.master.frameworks.get_mut(fid) {
            fw.filters.push(OfferFilter {
                agent,
                role: role.to_string(),
                resources: resources.without_allocation_info(),
                until,
            });
        }
    }

    /// DECLINE of one offer.
    pub(crate) fn decline_offer(
        &mut self,
        now: Now,
        fid: &FrameworkId,
        id: &OfferId,
        refuse_seconds: Option<f64>,
    ) {
        let Some(offer) = self.master.offers.get(id) else {
            return;
        };
        if &offer.framework != fid {
            return;
        }
        let offer = self.master.offers.remove(id).expect("checked above");
        self.master.metrics.offers_answered(fid, false, 1);
        self.filter_resources(
            now,
            fid,
            offer.agent,
            &offer.role,
            offer.resources,
            refuse_seconds,
        );
    }

    /// Withdraws a framework's offers; with `rescind`, tells it.
    pub(crate) fn remove_offers_of(&mut self, fid: &FrameworkId, rescind: bool) {
        let ids: Vec<OfferId> = self
            .master
            .offers
            .iter()
            .filter(|(_, o)| &o.framework == fid)
            .map(|(id, _)| id.clone())
            .collect();
        for id in ids {
            self.master.offers.remove(&id);
            if rescind {
                self.send_to_framework(fid, &scheduler::Event::rescind(id));
            }
        }
    }

    pub(crate) fn remove_offers_of_removed(&mut self, fid: &FrameworkId) {
        self.master.offers.retain(|_, o| &o.framework != fid);
    }

    /// Rescinds the offers left unanswered past the offer timeout. Their resources go back to
    /// the pool with no filter, as Mesos recovers them, so the next allocation offers them
    /// again (to the same framework, if no other wants them).
    pub(crate) fn rescind_expired_offers(&mut self, now: Now) {
        let expired: Vec<(OfferId, FrameworkId)> = self
            .master
            .offers
            .iter()
            .filter(|(_, o)| o.expires.is_some_and(|at| at <= now.instant))
            .map(|(id, o)| (id.clone(), o.framework.clone()))
            .collect();
        for (id, fid) in expired {
            tracing::info!("offer {id} to framework {fid} was not answered in time: rescinding it");
            self.master.offers.remove(&id);
            self.send_to_framework(&fid, &scheduler::Event::rescind(id));
        }
    }

    /// Rescinds every offer of an agent that went away.
    pub(crate) fn rescind_agent_offers(&mut self, agent: usize) {
        let ids: Vec<(OfferId, FrameworkId)> = self
            .master
            .offers
            .iter()
            .filter(|(_, o)| o.agent == agent)
            .map(|(id, o)| (id.clone(), o.framework.clone()))
            .collect();
        for (id, fid) in ids {
            self.master.offers.remove(&id);
            self.send_to_framework(&fid, &scheduler::Event::rescind(id));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::{Duration, UNIX_EPOCH};

    use cairn_proto::scheduler::Call;
    use cairn_proto::{Filters, FrameworkInfo, OfferId};

    use crate::config::ClusterConfig;
    use crate::state::{load, ClusterState, Now};

    #[test]
    fn a_declined_offer_is_offered_again_exactly_when_its_refuse_seconds_have_passed() {
        // Any origin will do: every time after it is the test's to choose.
        let start = Now {
            instant: crate::cluster::now().instant,
            wall: UNIX_EPOCH + Duration::from_secs(1_700_000_000),
        };
        let at = |secs: f64| Now {
            instant: start.instant + Duration::from_secs_f64(secs),
            wall: start.wall + Duration::from_secs_f64(secs),
        };
        let stopwatch = || crate::cluster::now().instant;
        // Nothing is written there: checkpoints are written by `finish`, which this never calls.
        let dir = std::env::temp_dir().join(format!("cairn-alloc-{}", uuid::Uuid::new_v4()));
        let mut cfg = ClusterConfig::new(dir);
        cfg.agents = 1;
        cfg.allow_root = true;
        let mut s = load(start, stopwatch, Arc::new(cfg)).unwrap();
        let sweep = s.agents[0].runtime.as_ref().and_then(|rt| rt.sweeping);
        s.orphans_swept(start, 0, sweep.unwrap(), &[]);
        let info = FrameworkInfo {
            user: crate::users::own_name().to_string(),
            name: "declines".to_string(),
            ..Default::default()
        };
        let sub = s.subscribe(start, Call::subscribe(info), None).unwrap();
        let offered = |s: &mut ClusterState, now: Now| -> Vec<OfferId> {
            s.allocate(now, stopwatch);
            s.master.offers.keys().cloned().collect()
        };

        let first = offered(&mut s, start);
        assert_eq!(first.len(), 1);
        let filters = Filters {
            refuse_seconds: Some(10.0),
        };
        let decline = Call::decline(sub.framework_id.clone(), first, Some(filters));
        s.handle_call(start, decline, Some(&sub.stream_id), None)
            .unwrap();

        assert!(offered(&mut s, at(9.999)).is_empty());
        assert_eq!(offered(&mut s, at(10.0)).len(), 1);
    }
}
