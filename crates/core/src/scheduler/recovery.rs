//! The scheduler's side of recovery: failure timers, replacement, reclaiming old reservations,
//! the crash-loop backoff's inputs, and the `restart` / `replace` commands. The decisions are
//! in [`crate::recovery`]; this file turns them into writes and calls.

use std::collections::BTreeMap;

use cairn_proto::scheduler::Call;
use cairn_proto::{Filters, Offer, OfferOperation, Resource, TaskStatus};

use crate::labels::{resource_id, task_pod_instance};
use crate::offer::DecisionRecord;
use crate::plan::assess::task_name;
use crate::plan::CommandRefusal;
use crate::recovery::plan::{derive, RecoveryInput, RecoveryPlan};
use crate::recovery::state::ReplaceReason;
use crate::recovery::ReclaimEntry;
use crate::spec::Goal;
use crate::store::{WriteOp, TASKS};
use crate::time::Time;

use super::Scheduler;

/// Marking a pod can make another pass necessary (marked → replaceable); a few passes settle
/// any state, and the bound keeps a bug from looping.
const MAX_PASSES: usize = 3;

/// How long after a reclaiming ACCEPT an offer of the same agent without the reclaimed
/// resources counts as proof that the operations were applied. Not at once: an offer already
/// on its way when the ACCEPT went out lacks them only because they were in the offer being
/// accepted (a Mesos master allocates every second).
pub(super) const RECLAIM_CONFIRM: std::time::Duration = std::time::Duration::from_secs(2);

/// How long after a reclaiming ACCEPT, with no offer carrying the reclaimed resources again,
/// they are taken for released. Resources reserved to the service's role are offered to no one
/// else, so a failed ACCEPT shows within a few allocation cycles; an agent whose freed
/// resources all went to other frameworks may offer nothing to confirm it at all.
pub(super) const RECLAIM_ASSUME: std::time::Duration = std::time::Duration::from_secs(60);

impl Scheduler {
    /// The recovery plan, derived from the current state.
    pub(super) fn recovery_plan(&self) -> RecoveryPlan {
        derive(&RecoveryInput {
            spec: &self.spec,
            context: self.decide_context(),
            tasks: &self.tasks,
            deploy: &self.deploy,
            state: &self.recovery_state,
            backoff: &self.backoff,
            replacement: &self.replacement,
            now: self.last_now,
        })
    }

    /// After every input: keep the failure timers, mark pods whose timer ran out, kill what
    /// recovery needs dead, and replace the pods that may be replaced now. Returns the recovery
    /// plan of the state this leaves, so that the input's work is derived once: the last pass
    /// changed nothing the plan reads (its timer writes only start timers of pods already in
    /// it and end those of pods outside it).
    pub(super) fn refresh_recovery(&mut self, now: Time) -> RecoveryPlan {
        for _ in 0..MAX_PASSES {
            let plan = self.recovery_plan();
            let mut writes = self.failure_timers(now, &plan);
            let marked = self.expired_timers(now, &mut writes);
            for pod in &plan.pods {
                for (task, agent) in &pod.kills {
                    if self.kills.request(now, task, agent) {
                        self.send_kill(task.clone(), Some(agent.clone()));
                    }
                }
            }
            let mut replaced = false;
            let mut automatic_done = false;
            for pod in plan.pods.iter().filter(|p| p.replaceable) {
                let name = pod.pod.to_string();
                // One automatic replacement per pass: it restarts the min replace delay, which
                // the next pass's plan then applies to the others.
                let automatic = self
                    .recovery_state
                    .replace
                    .get(&name)
                    .is_some_and(|why| why.is_automatic());
                if automatic && automatic_done {
                    continue;
                }
                automatic_done |= automatic;
                writes.extend(self.replace_pod(now, &name));
                replaced = true;
            }
            if !writes.is_empty() {
                self.outbox.persist(writes);
            }
            if !marked && !replaced {
                return plan;
            }
        }
        self.recovery_plan()
    }

    /// Starts the timers of pods newly failing, and remembers the survivors of a whole-pod
    /// relaunch beginning; ends those of pods healthy again (and starts their healthy spell for
    /// the backoff).
    fn failure_timers(&mut self, now: Time, plan: &RecoveryPlan) -> Vec<WriteOp> {
        let mut writes = Vec::new();
        for pod in &plan.pods {
            let name = pod.pod.to_string();
            if !pod.healthy {
                writes.extend(self.recovery_state.start_failure(&name, now));
                if let Some(ids) = &pod.survivors {
                    writes.extend(self.recovery_state.begin_whole_relaunch(&name, ids));
                }
            }
        }
        let ended = self
            .recovery_state
            .failure_since
            .keys()
            .chain(self.recovery_state.survivors.keys())
            .filter(|p| {
                !plan
                    .pods
                    .iter()
                    .any(|r| r.pod.to_string() == **p && !r.healthy)
            })
            .cloned()
            .collect::<std::collections::BTreeSet<String>>();
        for pod in ended {
            self.backoff.healthy(&pod, now);
            writes.extend(self.recovery_state.end_failure(&pod));
        }
        writes
    }

    /// Marks for replacement every pod failing for longer than the permanent-failure
    /// timeout. True when one was marked.
    fn expired_timers(&mut self, now: Time, writes: &mut Vec<WriteOp>) -> bool {
        let due: Vec<String> = self
            .recovery_state
            .failure_since
            .iter()
            .filter(|(pod, since)| {
                !self.recovery_state.replace.contains_key(*pod)
                    && self.replacement.due(**since).is_some_and(|d| d <= now)
            })
            .map(|(pod, _)| pod.clone())
            .collect();
        for pod in &due {
            writes.push(
                self.recovery_state
                    .mark_replace(pod, ReplaceReason::FailureTimeout),
            );
        }
        !due.is_empty()
    }

    /// Replaces `pod`: forgets its tasks (the deploy plan then launches it afresh, anywhere its
    /// placement allows) and queues its reservations and volumes for reclaiming.
    fn replace_pod(&mut self, now: Time, pod: &str) -> Vec<WriteOp> {
        let names: Vec<String> = self
            .tasks
            .iter()
            .filter(|(_, r)| pod_of(&r.info).as_deref() == Some(pod))
            .map(|(n, _)| n.clone())
            .collect();
        let mut reclaim = BTreeMap::new();
        let mut writes = Vec::new();
        for name in names {
            let Some(record) = self.tasks.remove(&name) else {
                continue;
            };
            writes.push(WriteOp::Delete {
                key: format!("{TASKS}/{name}"),
            });
            self.task_ids.remove(&record.info.task_id.value);
            // Its task id is unknown from now on: if it ever speaks again it is killed then.
            self.kills.forget(&record.info.task_id.value);
            let executor = record.info.executor.iter().flat_map(|e| &e.resources);
            // An agent the master removed will never offer its reservations again: queueing
            // them would only leave entries nothing can clear.
            if self.agent_removed(&record.info.agent_id.value) {
                continue;
            }
            for r in record.info.resources.iter().chain(executor) {
                if let Some(id) = resource_id(r) {
                    reclaim.insert(
                        id.to_string(),
                        ReclaimEntry {
                            sent_at: None,
                            agent_id: record.info.agent_id.value.clone(),
                            resource: r.clone(),
                        },
                    );
                }
            }
        }
        self.backoff.reset(pod);
        // The last offer cycle's refusal spoke of the old reservations ("holds reservations
        // on agent ..."): shown on the fresh step it would say the pod is still pinned.
        self.refusals.remove(pod);
        writes.extend(self.recovery_state.replaced(pod, now, reclaim));
        writes
    }

    /// A task stopped without being asked to: feed the crash-loop backoff (RUNNING-goal tasks
    /// only; FINISH and ONCE tasks are the deploy plan's).
    pub(super) fn note_failure(&mut self, now: Time, name: &str, status: &TaskStatus) {
        let Some(record) = self.tasks.get(name) else {
            return;
        };
        // A stale update of an older incarnation says nothing about the current one.
        if record.info.task_id != status.task_id {
            return;
        }
        let Some(pod) = task_pod_instance(&record.info) else {
            return;
        };
        // The task's spec is found by the name it would be given, not by splitting its name.
        let goal = self.spec.pod(pod.pod_type()).and_then(|p| {
            p.tasks
                .iter()
                .find(|t| task_name(&pod, &t.name) == name)
                .map(|t| t.goal)
        });
        if goal == Some(Goal::Running) {
            self.backoff
                .failed(&self.cfg.backoff, &pod.to_string(), now);
        }
    }

    /// Offers holding reservations of replaced pods: DESTROY their volumes and UNRESERVE them
    /// in one ACCEPT (the offer is used for nothing else this cycle). Returns the other
    /// offers.
    ///
    /// An entry stays queued after its ACCEPT goes out, marked sent (persisted before the
    /// ACCEPT): an ACCEPT can fail without a word (the offer was rescinded, the call lost), and
    /// the reservation would then leak. A sent entry is deleted when an offer of its agent, made
    /// at least [`RECLAIM_CONFIRM`] after the ACCEPT and after this subscription began, no
    /// longer carries it (the operations were applied), or when none carried it again for
    /// [`RECLAIM_ASSUME`]; an offer that still carries it gets the operations again. An entry
    /// never sent is only ever released by an offer carrying it: its absence from an offer
    /// may just mean a task there still holds it.
    pub(super) fn reclaim(&mut self, now: Time, offers: Vec<Offer>) -> Vec<Offer> {
        if self.recovery_state.reclaim.is_empty() {
            return offers;
        }
        let Some(fid) = self.framework_id.clone() else {
            return offers;
        };
        self.confirm_reclaims(now, &offers);
        let mut rest = Vec::new();
        for offer in offers {
            let held: Vec<&Resource> = offer
                .resources
                .iter()
                .filter(|r| {
                    resource_id(r).is_some_and(|id| self.recovery_state.reclaim.contains_key(id))
                })
                .collect();
            if held.is_empty() {
                rest.push(offer);
                continue;
            }
            let ids: Vec<String> = held
                .iter()
                .filter_map(|r| resource_id(r))
                .map(str::to_string)
                .collect();
            let ops = reclaim_operations(&held);
            let writes = self.recovery_state.mark_reclaims_sent(&ids, now);
            self.outbox.persist(writes);
            self.send(Call::accept(
                fid.clone(),
                vec![offer.id.clone()],
                ops,
                Some(Filters::refuse_seconds(self.cfg.short_decline_secs)),
            ));
            self.remember(vec![DecisionRecord {
                time: now,
                offer_id: offer.id.value.clone(),
                agent_id: offer.agent_id.value.clone(),
                hostname: offer.hostname.clone(),
                outcome: format!(
                    "accepted: reclaiming {} reservations of replaced pods",
                    ids.len()
                ),
                evaluations: Vec::new(),
            }]);
        }
        // An agent with released reservations not yet seen gone must offer again soon, to show
        // it: its other offers come back in seconds, not in an hour (the long decline of
        // offers nobody needs).
        let (confirming, rest): (Vec<Offer>, Vec<Offer>) = rest.into_iter().partition(|o| {
            self.recovery_state
                .reclaim
                .values()
                .any(|e| e.sent_at.is_some() && e.agent_id == o.agent_id.value)
        });
        self.decline_all(
            now,
            &confirming,
            self.cfg.short_decline_secs,
            "declined: its agent is to show released reservations gone",
        );
        rest
    }

    /// From when a sent reclaim may be judged by what offers carry: after its ACCEPT, and
    /// after this subscription began (offers of an earlier one may predate the ACCEPT).
    fn judged_from(&self, sent_at: Time) -> Option<Time> {
        self.subscribed_at.map(|s| s.max(sent_at))
    }

    /// Forgets the sent reclaims that `offers` show applied: an offer of their agent, made
    /// long enough after the ACCEPT, without them.
    fn confirm_reclaims(&mut self, now: Time, offers: &[Offer]) {
        let mut applied = Vec::new();
        for offer in offers {
            let carried: std::collections::HashSet<&str> =
                offer.resources.iter().filter_map(resource_id).collect();
            applied.extend(
                self.recovery_state
                    .reclaim
                    .iter()
                    .filter(|(id, e)| {
                        e.agent_id == offer.agent_id.value
                            && e.sent_at
                                .and_then(|at| self.judged_from(at))
                                .is_some_and(|from| now >= from.plus(RECLAIM_CONFIRM))
                            && !carried.contains(id.as_str())
                    })
                    .map(|(id, _)| id.clone()),
            );
        }
        // An empty batch is not queued.
        let writes = self.recovery_state.forget_reclaims(&applied);
        self.outbox.persist(writes);
    }

    /// Forgets the sent reclaims no offer carried again within [`RECLAIM_ASSUME`].
    pub(super) fn expire_reclaims(&mut self, now: Time) {
        let expired: Vec<String> = self
            .recovery_state
            .reclaim
            .iter()
            .filter(|(_, e)| {
                e.sent_at
                    .and_then(|at| self.judged_from(at))
                    .is_some_and(|from| now >= from.plus(RECLAIM_ASSUME))
            })
            .map(|(id, _)| id.clone())
            .collect();
        // An empty batch is not queued.
        let writes = self.recovery_state.forget_reclaims(&expired);
        self.outbox.persist(writes);
    }

    /// When the next sent reclaim is taken for released if nothing says otherwise.
    pub(super) fn reclaim_timeout(&self) -> Option<Time> {
        self.recovery_state
            .reclaim
            .values()
            .filter_map(|e| self.judged_from(e.sent_at?))
            .map(|from| from.plus(RECLAIM_ASSUME))
            .min()
    }

    /// The agent is gone: its reservations will not be offered again.
    pub(super) fn forget_reclaims_on(&mut self, agent: &str) {
        let ids = self.recovery_state.reclaims_on(agent);
        // An empty batch is not queued.
        let writes = self.recovery_state.forget_reclaims(&ids);
        self.outbox.persist(writes);
    }

    /// The next recovery timer after the latest input: a failure timer running out, or the
    /// min replace delay passing for a pod waiting on it.
    pub(super) fn recovery_timeout(&self) -> Option<Time> {
        let s = &self.recovery_state;
        let timers = s
            .failure_since
            .iter()
            .filter(|(pod, _)| !s.replace.contains_key(*pod))
            .filter_map(|(_, since)| self.replacement.due(*since));
        let held = s
            .replace
            .values()
            .any(|why| why.is_automatic())
            .then(|| self.replacement.next_allowed(s.last_replace))
            .flatten();
        timers.chain(held).filter(|t| *t > self.last_now).min()
    }

    /// `restart <pod>`: kill its live tasks; the recovery plan relaunches them in place. A
    /// deliberate restart clears the pod's backoff and is not counted as a crash.
    pub(super) fn restart_pod(&mut self, now: Time, pod: &str) -> Result<(), CommandRefusal> {
        let live: Vec<_> = self
            .pod_records(pod)?
            .into_iter()
            .filter(|(_, r)| crate::decide::is_active(r.status.as_ref()))
            .map(|(_, r)| (r.info.task_id.clone(), r.info.agent_id.clone()))
            .collect();
        if live.is_empty() {
            return Err(CommandRefusal(format!(
                "pod `{pod}` has no live task to restart"
            )));
        }
        self.backoff.reset(pod);
        for (task, agent) in live {
            if self.kills.request(now, &task, &agent) {
                self.send_kill(task, Some(agent));
            }
        }
        self.refresh(now);
        Ok(())
    }

    /// `replace <pod>`: mark it; the recovery plan kills it and the scheduler replaces it.
    pub(super) fn replace_command(&mut self, now: Time, pod: &str) -> Result<(), CommandRefusal> {
        self.pod_records(pod)?;
        self.backoff.reset(pod);
        let write = self
            .recovery_state
            .mark_replace(pod, ReplaceReason::Operator);
        self.outbox.persist(vec![write]);
        self.refresh(now);
        Ok(())
    }

    /// The stored tasks of pod instance `pod`; refused when it has none.
    pub(super) fn pod_records(
        &self,
        pod: &str,
    ) -> Result<Vec<(String, &crate::store::TaskRecord)>, CommandRefusal> {
        if !self.has_pod_instance(pod) {
            return Err(CommandRefusal(format!("no pod instance `{pod}`")));
        }
        let records: Vec<_> = self
            .tasks
            .iter()
            .filter(|(_, r)| pod_of(&r.info).as_deref() == Some(pod))
            .map(|(n, r)| (n.clone(), r))
            .collect();
        if records.is_empty() {
            return Err(CommandRefusal(format!("pod `{pod}` was never launched")));
        }
        Ok(records)
    }
}

/// The pod instance (`data-2`) a stored TaskInfo belongs to, as the store's keys name it.
fn pod_of(info: &cairn_proto::TaskInfo) -> Option<String> {
    task_pod_instance(info).map(|p| p.to_string())
}

/// DESTROY the volumes among `held`, then UNRESERVE everything (a destroyed volume is
/// unreserved as the plain reserved disk it leaves).
fn reclaim_operations(held: &[&Resource]) -> Vec<OfferOperation> {
    let volumes: Vec<Resource> = held
        .iter()
        .filter(|r| r.persistence_id().is_some())
        .map(|r| (*r).clone())
        .collect();
    let unreserve: Vec<Resource> = held.iter().map(|r| r.without_volume()).collect();
    let mut ops = Vec::new();
    if !volumes.is_empty() {
        ops.push(OfferOperation::destroy(volumes));
    }
    ops.push(OfferOperation::unreserve(unreserve));
    ops
}
