//! Taking pods away: decommission (a lower count or a removed pod type, with
//! `allow-decommission`) and uninstall (everything).
//!
//! Both are derived from the state like every plan, so a restart continues where the last run
//! stopped without a progress record of their own:
//!
//! 1. **kill**: a pod instance that has stored tasks but is not in the target (a decommission)
//!    or any pod instance at all (an uninstall) has its live tasks killed.
//! 2. **erase + queue**: once none of its tasks is live, one batch deletes its task records and
//!    queues each of its reservations and volumes under `Properties/reclaim/<resource-id>`
//!    (issue 5's reclaim list). From then on those entries are the memory of what is left;
//!    erasing in the same batch means no restart can see the pod half-gone. (dcos-commons
//!    erases last; cairn erases with the queueing because the reclaim entries carry the
//!    resources the task records held.)
//! 3. **unreserve**: each queued resource is DESTROYed (volumes) and UNRESERVEd when its agent
//!    offers it again (`scheduler/recovery.rs`), and its entry goes.
//!
//! Raising the count again before step 2 cancels a decommission: the instance is back in the
//! target and the deploy plan keeps (or relaunches) it on its own reservations.
//!
//! An uninstall starts by persisting `Properties/uninstalling` (its start time): once set, every
//! later start continues it. Agents the master removed (a TASK_GONE named them and its list of
//! agents no longer has them) hold nothing to release; agents that stay silent (stopped,
//! unreachable, or removed with nothing but reservations on them: an agent FAILURE alone does
//! not tell removed from unreachable) are waited for, up to `uninstall_agent_timeout`, or until
//! an operator forces them (`ForceCompleteUninstall`). When no task and no reclaim entry is
//! left, the scheduler sends TEARDOWN and then one batch deleting the service's whole state,
//! and [`Scheduler::is_uninstalled`] turns true.

use std::collections::{BTreeMap, BTreeSet};

use cairn_proto::scheduler::Call;
use cairn_proto::Offer;

use crate::decide::is_active;
use crate::labels::{resource_id, resource_pod_instance, task_pod_instance};
use crate::plan::{CommandRefusal, PhaseStatus, PlanStatus, Status, StepStatus};
use crate::recovery::ReclaimEntry;
use crate::spec::PodInstanceName;
use crate::store::ConfigId;
use crate::store::{
    property_key, StoredState, WriteOp, CONFIGURATIONS, CONFIG_TARGET, FRAMEWORK_ID, PROPERTIES,
    SCHEMA_VERSION_KEY, TASKS,
};
use crate::time::Time;

use super::Scheduler;

/// How long an uninstall waits for agents to offer their reservations before its plan calls
/// the wait an error (naming the agents and `--force-agent`).
const UNINSTALL_WAIT_REPORTED_AFTER: std::time::Duration = std::time::Duration::from_secs(30);

/// Property: the uninstall started at (ms). Never deleted but by the final batch.
pub const UNINSTALLING: &str = "uninstalling";
/// Property prefix: agents an operator forced past during an uninstall.
pub const UNINSTALL_FORCED: &str = "uninstall-forced/";
/// Property: the first deploy completed; later config changes roll out by the `update` plan.
pub const DEPLOY_COMPLETED: &str = "deploy-completed";
/// The decommission plan's name.
pub const DECOMMISSION_PLAN: &str = "decommission";
/// The uninstall plan's name. It is shown instead of every other plan while uninstalling.
pub const UNINSTALL_PLAN: &str = "uninstall";

/// What decommission and uninstall remember.
#[derive(Debug, Clone, Default)]
pub(super) struct Teardown {
    /// When the uninstall started, if the service is uninstalling.
    pub uninstall_since: Option<Time>,
    /// Agents an operator forced past (persisted).
    pub forced: BTreeSet<String>,
    /// The final batch is queued: nothing more happens.
    pub uninstalled: bool,
}

impl Teardown {
    /// Reads the persisted part from the stored properties.
    pub fn from_properties(props: &BTreeMap<String, Vec<u8>>) -> Teardown {
        let since = props.get(UNINSTALLING).map(|v| {
            let ms = std::str::from_utf8(v)
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            Time::from_millis(ms)
        });
        let forced = props
            .keys()
            .filter_map(|k| k.strip_prefix(UNINSTALL_FORCED))
            .map(str::to_string)
            .collect();
        Teardown {
            uninstall_since: since,
            forced,
            ..Teardown::default()
        }
    }
}

/// A pod instance being taken away: its remaining task records and reclaim entries.
#[derive(Debug, Clone, Default)]
struct Leaving {
    tasks: Vec<String>,
    reclaims: Vec<String>,
}

/// A pod instance as its type and index, for ordering.
fn type_and_index(pod: PodInstanceName) -> (String, u32) {
    (pod.pod_type().to_string(), pod.index())
}

/// The writes that start an uninstall at `now`.
pub(super) fn uninstall_write(now: Time) -> WriteOp {
    WriteOp::Put {
        key: property_key(UNINSTALLING),
        value: now.as_millis().to_string().into_bytes(),
    }
}

/// The final batch: everything the service ever stored goes (each top-level key deletes
/// everything under it).
fn erase_everything() -> Vec<WriteOp> {
    [
        FRAMEWORK_ID,
        SCHEMA_VERSION_KEY,
        CONFIG_TARGET,
        CONFIGURATIONS,
        TASKS,
        PROPERTIES,
    ]
    .into_iter()
    .map(|k| WriteOp::Delete { key: k.to_string() })
    .collect()
}

/// Configs neither the target nor referenced by a stored task: deleted at start (they can
/// never be needed again; a task's config is kept for as long as the task record is).
pub(super) fn unused_configs(stored: &StoredState, target: &ConfigId) -> Vec<WriteOp> {
    let used: BTreeSet<ConfigId> = stored
        .tasks
        .values()
        .filter_map(|r| crate::labels::task_config(&r.info))
        .collect();
    stored
        .configs
        .keys()
        .filter(|id| *id != target && !used.contains(*id))
        .flat_map(|id| {
            [
                WriteOp::Delete {
                    key: crate::store::config_key(id),
                },
                WriteOp::Delete {
                    key: property_key(&crate::store::config_stored_property(id)),
                },
            ]
        })
        .collect()
}

impl Scheduler {
    /// Whether the service is uninstalling (persisted; cannot be undone).
    pub fn is_uninstalling(&self) -> bool {
        self.teardown.uninstall_since.is_some()
    }

    /// Whether the uninstall finished: TEARDOWN and the batch deleting the state are queued.
    /// The driver polls the remaining actions, then exits.
    pub fn is_uninstalled(&self) -> bool {
        self.teardown.uninstalled
    }

    /// Whether pod instance `(type, index)` belongs to the target.
    fn in_target(&self, pod_type: &str, index: u32) -> bool {
        !self.is_uninstalling() && self.spec.pod(pod_type).is_some_and(|p| index < p.count)
    }

    /// An agent nothing more is waited for: gone, forced past, or (uninstalling) silent past
    /// the timeout.
    fn abandoned(&self, agent: &str) -> bool {
        self.agent_removed(agent)
            || self.teardown.forced.contains(agent)
            || self.uninstall_timed_out()
    }

    fn uninstall_timed_out(&self) -> bool {
        match (
            self.teardown.uninstall_since,
            self.cfg.uninstall_agent_timeout,
        ) {
            (Some(since), Some(t)) => self.last_now >= since.plus(t),
            _ => false,
        }
    }

    /// Pod instances leaving, in the order they go: pod types the spec no longer has first,
    /// then pod types in reverse spec order, the highest index first (dcos-commons' order: the
    /// last pods added are the first taken away).
    fn leaving(&self) -> Vec<(String, Leaving)> {
        let mut pods: BTreeMap<(String, u32), Leaving> = BTreeMap::new();
        for (name, r) in &self.tasks {
            if let Some((t, i)) = task_pod_instance(&r.info).map(type_and_index) {
                if !self.in_target(&t, i) {
                    pods.entry((t, i)).or_default().tasks.push(name.clone());
                }
            }
        }
        for (id, e) in &self.recovery_state.reclaim {
            let pod = resource_pod_instance(&e.resource).map(type_and_index);
            if let Some((t, i)) = pod {
                if !self.in_target(&t, i) {
                    pods.entry((t, i)).or_default().reclaims.push(id.clone());
                }
            }
        }
        let rank = |t: &str| {
            let pos = self.spec.pods.iter().position(|p| p.type_name == t);
            // Unknown types first (rank 0), then reverse spec order.
            pos.map_or(0, |p| self.spec.pods.len() - p)
        };
        let mut out: Vec<_> = pods.into_iter().collect();
        out.sort_by(|((ta, ia), _), ((tb, ib), _)| {
            rank(ta)
                .cmp(&rank(tb))
                .then_with(|| ta.cmp(tb))
                .then_with(|| ib.cmp(ia))
        });
        out.into_iter()
            .map(|((t, i), l)| (format!("{t}-{i}"), l))
            .collect()
    }

    /// Whether a stored task still needs killing: live, on an agent still waited for.
    fn needs_kill(&self, name: &str) -> bool {
        self.tasks.get(name).is_some_and(|r| {
            is_active(r.status.as_ref()) && !self.abandoned(&r.info.agent_id.value)
        })
    }

    /// After every input: kill, erase and queue what is leaving; finish an uninstall. A
    /// decommission goes one pod instance at a time (serial phases); an uninstall all at once.
    pub(super) fn refresh_teardown(&mut self, now: Time) {
        if self.teardown.uninstalled {
            return;
        }
        let serial = !self.is_uninstalling();
        let mut writes = Vec::new();
        for (pod, leaving) in self.leaving() {
            let live: Vec<String> = leaving
                .tasks
                .iter()
                .filter(|n| self.needs_kill(n))
                .cloned()
                .collect();
            for name in &live {
                let r = &self.tasks[name];
                let (task, agent) = (r.info.task_id.clone(), r.info.agent_id.clone());
                if self.kills.request(now, &task, &agent) {
                    self.send_kill(task, Some(agent));
                }
            }
            let erased = live.is_empty() && !leaving.tasks.is_empty();
            if erased {
                writes.extend(self.erase_pod(&pod, &leaving.tasks));
            }
            // Done: nothing of the pod is left to kill, erase or unreserve.
            let done = (erased && self.recovery_state.reclaims_of(&pod).is_empty())
                || (leaving.tasks.is_empty() && leaving.reclaims.is_empty());
            if serial && !done {
                break;
            }
        }
        if self.is_uninstalling() {
            writes.extend(self.forget_abandoned_reclaims());
        }
        self.outbox.persist(writes);
        if self.is_uninstalling() && self.tasks.is_empty() && self.recovery_state.reclaim.is_empty()
        {
            self.finish_uninstall();
        }
    }

    /// Deletes `pod`'s task records and queues its reservations and volumes for reclaiming
    /// (none for tasks on an abandoned agent: nothing will be offered there). A task the master
    /// reported gone from a registered agent (its executor forgot it, or its framework was torn
    /// down) left its reservations there: they are queued like any other.
    fn erase_pod(&mut self, pod: &str, names: &[String]) -> Vec<WriteOp> {
        let mut writes = Vec::new();
        let mut reclaim = BTreeMap::new();
        for name in names {
            let Some(record) = self.tasks.remove(name) else {
                continue;
            };
            writes.push(WriteOp::Delete {
                key: format!("{TASKS}/{name}"),
            });
            self.task_ids.remove(&record.info.task_id.value);
            self.kills.forget(&record.info.task_id.value);
            let agent = record.info.agent_id.value.clone();
            if self.abandoned(&agent) {
                continue;
            }
            let executor = record.info.executor.iter().flat_map(|e| &e.resources);
            for r in record.info.resources.iter().chain(executor) {
                if let Some(id) = resource_id(r) {
                    let entry = ReclaimEntry {
                        sent_at: None,
                        agent_id: agent.clone(),
                        resource: r.clone(),
                    };
                    reclaim.insert(id.to_string(), entry);
                }
            }
        }
        self.backoff.reset(pod);
        writes.extend(self.recovery_state.end_failure(pod));
        if self.recovery_state.replace.remove(pod).is_some() {
            writes.push(WriteOp::Delete {
                key: property_key(&format!("{}{pod}", crate::recovery::state::REPLACE)),
            });
        }
        writes.extend(self.recovery_state.queue_reclaims(reclaim));
        writes
    }

    /// Uninstalling: reclaim entries on agents nothing is waited for any more are dropped
    /// (their reservations stay behind; the plan said which agents those were).
    fn forget_abandoned_reclaims(&mut self) -> Vec<WriteOp> {
        let ids: Vec<String> = self
            .recovery_state
            .reclaim
            .iter()
            .filter(|(_, e)| self.abandoned(&e.agent_id))
            .map(|(id, _)| id.clone())
            .collect();
        self.recovery_state.forget_reclaims(&ids)
    }

    /// TEARDOWN, then the batch that deletes the state. In that order: a crash between the two
    /// restarts into an uninstall with nothing left but the TEARDOWN, never into a fresh
    /// install that still has a framework on the master.
    fn finish_uninstall(&mut self) {
        if let Some(fid) = self.framework_id.clone() {
            self.send(Call::teardown(fid));
        }
        self.outbox.persist(erase_everything());
        self.teardown.uninstalled = true;
    }

    /// Uninstalling: resources of the service's role that no stored task or reclaim entry
    /// knows (a launch whose task record was lost, an earlier leak) are released too, as
    /// they are offered. Resources of stored tasks are left to the kill and erase steps.
    pub(super) fn adopt_leftovers(&mut self, offers: &[Offer]) {
        if !self.is_uninstalling() {
            return;
        }
        let owned: BTreeSet<&str> = self
            .tasks
            .values()
            .flat_map(|r| {
                let executor = r.info.executor.iter().flat_map(|e| &e.resources);
                r.info.resources.iter().chain(executor)
            })
            .filter_map(resource_id)
            .collect();
        let mut adopted = Vec::new();
        for offer in offers {
            for r in &offer.resources {
                match resource_id(r) {
                    Some(id) if !owned.contains(id) => adopted.push((
                        id.to_string(),
                        ReclaimEntry {
                            sent_at: None,
                            agent_id: offer.agent_id.value.clone(),
                            resource: r.clone(),
                        },
                    )),
                    _ => {}
                }
            }
        }
        // In memory only: reclaimed in this same offer cycle, and the entry's removal write
        // is a harmless delete of a key never written.
        for (id, e) in adopted {
            self.recovery_state.reclaim.entry(id).or_insert(e);
        }
    }

    /// `Command::Uninstall`: persist the mark, then everything follows from it.
    pub(super) fn uninstall_command(&mut self, now: Time) -> Result<(), CommandRefusal> {
        if !self.is_uninstalling() {
            self.start_uninstall(now);
        }
        self.refresh(now);
        Ok(())
    }

    /// Persists `Properties/uninstalling` and switches to uninstall mode.
    pub(super) fn start_uninstall(&mut self, now: Time) {
        self.outbox.persist(vec![uninstall_write(now)]);
        self.teardown.uninstall_since = Some(now);
    }

    /// `Command::ForceCompleteUninstall`: stop waiting for `agent`.
    pub(super) fn force_agent(&mut self, now: Time, agent: &str) -> Result<(), CommandRefusal> {
        if !self.is_uninstalling() {
            return Err(CommandRefusal(
                "the service is not uninstalling; nothing to force".into(),
            ));
        }
        self.teardown.forced.insert(agent.to_string());
        self.outbox.persist(vec![WriteOp::Put {
            key: property_key(&format!("{UNINSTALL_FORCED}{agent}")),
            value: Vec::new(),
        }]);
        self.refresh(now);
        Ok(())
    }

    /// The next moment the uninstall changes on its own, if one is still ahead: its plan
    /// starts calling silent agents an error, or it stops waiting for them.
    pub(super) fn teardown_timeout(&self) -> Option<Time> {
        let since = self.teardown.uninstall_since?;
        if self.teardown.uninstalled {
            return None;
        }
        let reported = Some(since.plus(UNINSTALL_WAIT_REPORTED_AFTER));
        let gives_up = self.cfg.uninstall_agent_timeout.map(|t| since.plus(t));
        [reported, gives_up]
            .into_iter()
            .flatten()
            .filter(|t| *t > self.last_now)
            .min()
    }

    /// Agents with reclaim entries, for demand: each agent's offers are wanted back (a new
    /// agent in the set revives, clearing filters of offers declined before it had entries).
    pub(super) fn reclaim_wants(&self) -> BTreeSet<String> {
        self.recovery_state
            .reclaim
            .values()
            .map(|e| format!("reclaim@{}", e.agent_id))
            .collect()
    }

    /// The decommission plan: one phase per leaving pod instance, in the order they go.
    pub(super) fn decommission_plan(&self) -> PlanStatus {
        let phases: Vec<PhaseStatus> = self
            .leaving()
            .into_iter()
            .map(|(pod, l)| self.leaving_phase(pod, &l))
            .collect();
        plan_status(DECOMMISSION_PLAN, "serial", phases, Vec::new())
    }

    fn leaving_phase(&self, pod: String, l: &Leaving) -> PhaseStatus {
        let mut steps: Vec<StepStatus> = l
            .tasks
            .iter()
            .map(|n| {
                let (status, message) = if self.needs_kill(n) {
                    (Status::Starting, "killing".to_string())
                } else {
                    (Status::Complete, "stopped; erased next".to_string())
                };
                step(format!("kill-{n}"), status, message)
            })
            .collect();
        steps.extend(l.reclaims.iter().map(|id| {
            let agent = self
                .recovery_state
                .reclaim
                .get(id)
                .map_or("", |e| e.agent_id.as_str());
            step(
                format!("unreserve-{id}"),
                Status::Prepared,
                format!("waiting for agent {agent} to offer it"),
            )
        }));
        let status = Status::aggregate(steps.iter().map(|s| s.status));
        PhaseStatus {
            name: pod,
            status: if status == Status::Complete {
                Status::InProgress
            } else {
                status
            },
            strategy: "serial".into(),
            steps,
        }
    }

    /// The uninstall plan: `kill-tasks`, one `unreserve-resources-<agent>` phase per agent
    /// still holding something, then `deregister-service`. Errors name the agents it waits for.
    pub(super) fn uninstall_plan(&self) -> PlanStatus {
        let kills: Vec<StepStatus> = self
            .tasks
            .keys()
            .map(|n| {
                let status = if self.needs_kill(n) {
                    Status::Starting
                } else {
                    Status::Complete
                };
                step(format!("kill-task-{n}"), status, String::new())
            })
            .collect();
        let mut phases = vec![phase("kill-tasks", kills)];
        let mut by_agent: BTreeMap<&str, Vec<StepStatus>> = BTreeMap::new();
        for (id, e) in &self.recovery_state.reclaim {
            let (status, message) = match e.sent_at {
                None => (Status::Prepared, "waiting for the agent to offer it"),
                Some(_) => (
                    Status::Starting,
                    "released; waiting for an offer to show it gone",
                ),
            };
            by_agent.entry(&e.agent_id).or_default().push(step(
                format!("unreserve-{id}"),
                status,
                message.into(),
            ));
        }
        let waiting: Vec<String> = by_agent.keys().map(|a| a.to_string()).collect();
        for (agent, steps) in by_agent {
            phases.push(phase(&format!("unreserve-resources-{agent}"), steps));
        }
        let done = if self.teardown.uninstalled {
            Status::Complete
        } else {
            Status::Pending
        };
        phases.push(phase(
            "deregister-service",
            vec![step("deregister".into(), done, String::new())],
        ));
        // Agents offer what they hold within an allocation or two: only an agent still silent
        // after a while is an error worth an operator's attention (and the way out).
        let overdue = self
            .teardown
            .uninstall_since
            .is_some_and(|since| self.last_now >= since.plus(UNINSTALL_WAIT_REPORTED_AFTER));
        let errors = if waiting.is_empty() || !overdue {
            Vec::new()
        } else {
            vec![format!(
                "waiting for agents to offer reserved resources: {} (`cairn uninstall --force-agent AGENT` stops waiting for one; its reservations stay behind)",
                waiting.join(", ")
            )]
        };
        plan_status(UNINSTALL_PLAN, "serial", phases, errors)
    }
}

fn step(name: String, status: Status, message: String) -> StepStatus {
    StepStatus {
        name,
        status,
        message,
    }
}

fn phase(name: &str, steps: Vec<StepStatus>) -> PhaseStatus {
    PhaseStatus {
        name: name.into(),
        status: Status::aggregate(steps.iter().map(|s| s.status)),
        strategy: "parallel".into(),
        steps,
    }
}

fn plan_status(
    name: &str,
    strategy: &str,
    phases: Vec<PhaseStatus>,
    errors: Vec<String>,
) -> PlanStatus {
    PlanStatus {
        name: name.into(),
        status: Status::aggregate(phases.iter().map(|p| p.status)),
        strategy: strategy.into(),
        phases,
        errors,
        parameters: Default::default(),
        interrupted: false,
    }
}
