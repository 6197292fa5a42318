//! The offer cycle: released steps → requirements → decisions → one Persist, then ACCEPTs and
//! DECLINEs.

use std::collections::{BTreeMap, HashSet};

use cairn_proto::scheduler::Call;
use cairn_proto::{Filters, Offer, OfferId, OfferOperation, TaskInfo};

use crate::labels::{self, parse_attributes, task_label};
use crate::offer::{
    evaluate, launch, requirement, AgentFacts, Cycle, DecisionRecord, LaunchContext, OfferView,
    Pipeline, Placed, PlacementContext, PodRequirement,
};
use crate::plan::Work;
use crate::store::{task_info_key, task_status_key, TaskRecord, WriteOp};
use crate::time::Time;

use super::{Scheduler, SchedulerConfig};

impl Scheduler {
    /// One batch of offers: every offer is accepted or declined before this returns.
    pub(super) fn on_offers(&mut self, now: Time, offers: Vec<Offer>) {
        if !self.subscribed || offers.is_empty() {
            return;
        }
        let agents: Vec<String> = offers.iter().map(|o| o.agent_id.value.clone()).collect();
        self.agents_offered(agents.iter().map(String::as_str));
        if !self.reconciler.is_settled() {
            // Until the master has told us what runs, a launch could duplicate a live task.
            self.decline_all(
                now,
                &offers,
                self.cfg.short_decline_secs,
                "declined: reconciling task states first",
            );
            return;
        }
        self.adopt_leftovers(&offers);
        let offers = self.reclaim(now, offers);
        if offers.is_empty() {
            return;
        }
        if self.is_uninstalling() {
            self.decline_all(
                now,
                &offers,
                self.cfg.long_decline_secs,
                "declined: the service is uninstalling",
            );
            return;
        }
        let work = self.work();
        // Reasons are for the current cycle's requirements only; stale ones would mislead.
        self.refusals.clear();
        let reqs = self.requirements(&work);
        // A step that cannot ask yet (its resource set is busy) will soon: its agent's offers
        // must come back without a REVIVE, which only new work triggers.
        let blocked = !self.refusals.is_empty();
        if reqs.is_empty() {
            let (refuse, outcome) = if blocked {
                (
                    self.cfg.short_decline_secs,
                    "declined: waiting steps cannot use offers yet",
                )
            } else {
                (
                    self.cfg.long_decline_secs,
                    "declined: no step needs resources",
                )
            };
            self.decline_all(now, &offers, refuse, outcome);
            return;
        }
        let mut views: Vec<OfferView> = offers
            .iter()
            .enumerate()
            .map(|(i, o)| OfferView::new(i, o, &self.spec.role))
            .collect();
        let mut ctx = self.placement_context(&views);
        let cycle = evaluate(
            now,
            &reqs,
            &mut views,
            &mut ctx,
            &Pipeline {
                checks: &self.checks,
                rank: self.rank.as_ref(),
                max_pods_per_offer: self.cfg.max_pods_per_offer,
            },
        );
        self.act(&offers, &views, &reqs, cycle, blocked);
    }

    /// Requirements of the released steps: one per pod instance, none while old tasks are
    /// still being killed.
    fn requirements(&mut self, work: &Work) -> Vec<PodRequirement> {
        let mut seen = HashSet::new();
        let mut reqs = Vec::new();
        for step in &work.released {
            if !step.kills.is_empty() || !seen.insert(step.pod_instance.clone()) {
                continue;
            }
            let rules = self
                .placement
                .get(step.pod_instance.pod_type())
                .cloned()
                .unwrap_or_else(|| Vec::new().into());
            match requirement(
                step,
                &self.spec,
                &self.tasks,
                &self.agents.unheld,
                rules,
                self.executor_size(),
            ) {
                Ok(r) => reqs.push(r),
                Err(why) => {
                    self.refusals.insert(step.pod_instance.to_string(), why);
                }
            }
        }
        reqs
    }

    /// Where every pod instance with stored tasks lives, and the agents on offer now.
    fn placement_context(&self, views: &[OfferView]) -> PlacementContext {
        let mut ctx = PlacementContext::new(self.cfg.seed);
        let mut seen = HashSet::new();
        for r in self.tasks.values() {
            let Some(instance) = labels::task_pod_instance(&r.info) else {
                continue;
            };
            if seen.insert(instance.clone()) {
                ctx.place(Placed {
                    pod_instance: instance,
                    facts: stored_facts(&r.info),
                });
            }
        }
        for v in views {
            ctx.offered(v.facts.clone());
        }
        ctx
    }

    /// Turns a cycle's decisions into one Persist of every launched TaskInfo, then an ACCEPT
    /// per used offer and one DECLINE for the rest.
    fn act(
        &mut self,
        offers: &[Offer],
        views: &[OfferView],
        reqs: &[PodRequirement],
        cycle: Cycle,
        blocked: bool,
    ) {
        let Some(fid) = self.framework_id.clone() else {
            return;
        };
        let mut per_offer: BTreeMap<usize, Vec<OfferOperation>> = BTreeMap::new();
        let mut writes = Vec::new();
        for m in &cycle.matches {
            let req = &reqs[m.req];
            let ctx = LaunchContext {
                spec: &self.spec,
                config_id: &self.config_id,
                framework_id: &fid,
                executor: self.executor_size(),
                api: self.cfg.api.as_ref(),
                service_tld: &self.cfg.service_tld,
                paused: &self.paused,
            };
            let l = launch(
                req,
                m,
                &offers[m.offer],
                &views[m.offer].facts,
                &ctx,
                &mut self.ids,
            );
            per_offer.entry(m.offer).or_default().extend(l.operations);
            for info in l.tasks {
                writes.extend(self.record_launch(info));
            }
            self.refusals.remove(&req.pod_instance.to_string());
        }
        for (ri, why) in &cycle.unplaced {
            self.refusals
                .insert(reqs[*ri].pod_instance.to_string(), why.clone());
        }
        self.outbox.persist(writes);
        let waiting: Vec<&PodRequirement> = cycle.unplaced.iter().map(|(i, _)| &reqs[*i]).collect();
        let mut declined: BTreeMap<Refuse, Vec<OfferId>> = BTreeMap::new();
        for (i, offer) in offers.iter().enumerate() {
            let refuse = if cycle.capped > 0 && views[i].pods >= self.cfg.max_pods_per_offer.max(1)
            {
                // Pods wait only because this offer was full: what is left of it is wanted at
                // once, at the master's next allocation, not after a filter.
                Refuse::None
            } else if blocked {
                Refuse::Short
            } else {
                refuse_for(&waiting, offer)
            };
            let secs = refuse.secs(&self.cfg);
            match per_offer.remove(&i) {
                Some(ops) => self.send(Call::accept(
                    fid.clone(),
                    vec![offer.id.clone()],
                    ops,
                    Some(Filters::refuse_seconds(secs)),
                )),
                None => declined.entry(refuse).or_default().push(offer.id.clone()),
            }
        }
        for (refuse, ids) in declined {
            self.decline(ids, refuse.secs(&self.cfg));
        }
        self.remember(cycle.records);
    }

    /// Records a launched task in memory and returns its writes: the TaskInfo, and the removal
    /// of the previous launch's status (it belongs to another task id).
    fn record_launch(&mut self, info: TaskInfo) -> Vec<WriteOp> {
        let name = info.name.clone();
        let value = serde_json::to_vec(&info).unwrap_or_default();
        let mut history = Default::default();
        if let Some(old) = self.tasks.get_mut(&name) {
            self.task_ids.remove(&old.info.task_id.value);
            self.kills.forget(&old.info.task_id.value);
            // How earlier launches ended outlives this one's start: it is what says why the
            // task is starting again.
            history = std::mem::take(&mut old.history);
        }
        self.task_ids
            .insert(info.task_id.value.clone(), name.clone());
        self.tasks.insert(
            name.clone(),
            TaskRecord {
                info,
                status: None,
                history,
            },
        );
        vec![
            WriteOp::Put {
                key: task_info_key(&name),
                value,
            },
            WriteOp::Delete {
                key: task_status_key(&name),
            },
        ]
    }

    pub(super) fn decline_all(&mut self, now: Time, offers: &[Offer], refuse: f64, outcome: &str) {
        let records = offers
            .iter()
            .map(|o| DecisionRecord {
                time: now,
                offer_id: o.id.value.clone(),
                agent_id: o.agent_id.value.clone(),
                hostname: o.hostname.clone(),
                outcome: outcome.to_string(),
                evaluations: Vec::new(),
            })
            .collect();
        self.decline(offers.iter().map(|o| o.id.clone()).collect(), refuse);
        self.remember(records);
    }

    fn decline(&mut self, ids: Vec<OfferId>, refuse: f64) {
        let Some(fid) = self.framework_id.clone() else {
            return;
        };
        if !ids.is_empty() {
            self.send(Call::decline(
                fid,
                ids,
                Some(Filters::refuse_seconds(refuse)),
            ));
        }
    }

    /// Keeps the newest `decision_history` records.
    pub(super) fn remember(&mut self, records: Vec<DecisionRecord>) {
        self.decisions.extend(records);
        while self.decisions.len() > self.cfg.decision_history {
            self.decisions.pop_front();
        }
    }
}

/// How long the master should keep what we leave of an offer away: one of three choices, so
/// offers are grouped into DECLINEs by choice, not by comparing seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Refuse {
    /// Not at all: wanted back at the master's next allocation.
    None,
    /// `short_decline_secs`: a waiting requirement could use the agent soon.
    Short,
    /// `long_decline_secs`: nothing waiting can use it; a REVIVE brings it back.
    Long,
}

impl Refuse {
    fn secs(self, cfg: &SchedulerConfig) -> f64 {
        match self {
            Refuse::None => 0.0,
            Refuse::Short => cfg.short_decline_secs,
            Refuse::Long => cfg.long_decline_secs,
        }
    }
}

/// Short when a waiting requirement could use the offer's agent soon (another step may fit, a
/// pinned pod's resources may be freed); long otherwise: nothing waiting can use it (it is on
/// another agent, or allocated to a role the pod does not reserve to), and a REVIVE brings it
/// back when that changes.
fn refuse_for(waiting: &[&PodRequirement], offer: &Offer) -> Refuse {
    let role = offer
        .allocation_info
        .as_ref()
        .and_then(|a| a.role.as_deref());
    let usable = waiting.iter().any(|r| {
        let here = match &r.pinned {
            Some(pin) => pin.agent_id == offer.agent_id,
            None => true,
        };
        here && role.is_none_or(|role| role == r.role)
    });
    if usable {
        Refuse::Short
    } else {
        Refuse::Long
    }
}

/// Where a stored task was launched, from its labels.
fn stored_facts(info: &TaskInfo) -> AgentFacts {
    AgentFacts {
        agent_id: info.agent_id.value.clone(),
        hostname: task_label(info, labels::OFFER_HOSTNAME)
            .unwrap_or_default()
            .to_string(),
        attributes: task_label(info, labels::OFFER_ATTRIBUTES)
            .map(parse_attributes)
            .unwrap_or_default(),
        zone: task_label(info, labels::OFFER_ZONE).map(str::to_string),
        region: task_label(info, labels::OFFER_REGION).map(str::to_string),
    }
}
