//! The takeover check: before it subscribes, a scheduler compares what its store says with what
//! the master holds (the operator API's `GET_STATE`), and refuses to act on a store it cannot
//! trust.
//!
//! A store that lost its `FrameworkID` (deleted, emptied, garbled) used to register a second
//! framework and deploy the whole service again beside the first; one that lost a task's
//! `TaskInfo` launched that pod a second time on fresh volumes; a framework an operator tore
//! down was retried forever. The rules, in order:
//!
//! 1. **The framework.** The stored id must name a framework of this service (its name and
//!    role, and principal when the master reports one) that the master knows and has not torn
//!    down. A torn-down one stops the start (`cairn uninstall` releases what the role still
//!    holds; `--force` registers anew and relaunches the pods on their reservations; an
//!    uninstall goes on with a new framework by itself). A missing, damaged or unknown id stops
//!    the start while the master runs a framework of this service (`--adopt-framework ID`
//!    takes it over, `--force` registers beside it); with none, the id is the master's to
//!    have forgotten (a master that lost its state re-registers it on SUBSCRIBE) or there was
//!    none yet (a first start).
//! 2. **Its tasks.** A live task of that framework, labelled by cairn, whose record the store
//!    lost is rebuilt from what the master reports (id, name, agent, labels, reserved
//!    resources, executor): reconciled, not launched twice.
//! 3. **The role's reservations.** A cairn reservation of a pod instance of the target, on a
//!    registered agent, that no stored task or reclaim entry knows, and that lies where the
//!    pod lives (or the pod has no stored task at all), means the store lost that pod's
//!    records. When a persistent volume is among them the start stops, since relaunching
//!    would put the pod on a fresh volume (`--force` releases them and deploys the pods
//!    afresh). Without one nothing is at stake: they are released and the lost tasks launched
//!    again (seed 88942 of the simulator: a sidecar's record lost, then its agent forgot it).
//!    One on another agent than the pod's home is a leftover of an earlier home, not a lost
//!    pod. An uninstall releases them as offered, like every leftover.
//!
//! What survives the check becomes the scheduler's picture of the agents too (see `agents`).

use std::collections::{BTreeMap, BTreeSet};

use cairn_proto::master::{Framework, GetState};
use cairn_proto::{FrameworkId, FrameworkInfo, Resource, Task, TaskInfo, TaskState, TaskStatus};

use crate::labels::{labels_pod_instance, resource_id, resource_pod_instance, task_pod_instance};
use crate::recovery::ReclaimEntry;
use crate::spec::ServiceSpec;
use crate::store::{task_info_key, task_status_key, TaskRecord, WriteOp, FRAMEWORK_ID};
use crate::time::Time;

use super::agents::{registered_agents, reservation_ids};
use super::{Scheduler, TakeoverChoice};

/// Why a scheduler must not act on its store: what was lost or done, and how to go on.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum TakeoverRefusal {
    /// The stored framework was torn down on the master.
    #[error(
        "framework {framework_id} of service `{service}` was torn down on the master (an \
         operator's TEARDOWN, or its failover timeout ran out): its tasks were killed, and the \
         role `{role}` still holds {reservations} reservations of the service. Run `cairn \
         uninstall` to release them and delete the service's state, or start again with \
         --force to register a new framework and relaunch the pods on their reservations and \
         volumes"
    )]
    TornDown {
        /// The service.
        service: String,
        /// The torn-down framework.
        framework_id: String,
        /// The service's role.
        role: String,
        /// How many reservations of the service the role still holds.
        reservations: usize,
    },
    /// The store has no usable framework id, or one the master does not know, while the master
    /// runs a framework of the service.
    #[error(
        "the state store of service `{service}` {what}, but the master runs framework {} of \
         this service: starting from this store would deploy the service a second time beside \
         it. Start again with --adopt-framework {} to take it over (its tasks are reconciled \
         with the store, and task records the store lost are rebuilt from the master), or with \
         --force to register a new framework beside it anyway",
        running.join(", "),
        running.first().map_or("<id>", String::as_str)
    )]
    FrameworkLost {
        /// The service.
        service: String,
        /// What is wrong with the stored id, in words.
        what: String,
        /// The service's frameworks the master runs.
        running: Vec<String>,
    },
    /// The stored framework id names another service's framework.
    #[error(
        "the state store of service `{service}` names framework {framework_id}, which the \
         master knows as `{name}` (roles {roles}): not this service's. The store is not this \
         service's, or was damaged; start again with --force to register a new framework"
    )]
    NotOurs {
        /// The service.
        service: String,
        /// The stored id.
        framework_id: String,
        /// The name the master has for it.
        name: String,
        /// Its roles.
        roles: String,
    },
    /// `--adopt-framework` named a framework that cannot be adopted.
    #[error("cannot adopt framework {framework_id} for service `{service}`: {why}")]
    AdoptRefused {
        /// The service.
        service: String,
        /// The id given.
        framework_id: String,
        /// Why not.
        why: String,
    },
    /// The role holds reservations of the service's pods that the store does not know.
    #[error(
        "the role `{role}` holds {count} reservations of pods {} of service `{service}` (on \
         agents {}) that its state store does not know: the store lost those pods' records, or \
         an earlier install left them behind. Starting would deploy those pods a second time on \
         fresh volumes. Start again with --force to deploy them afresh and release the old \
         reservations (their volumes' data is deleted), or, while the store still names the \
         service, run `cairn uninstall` to release everything",
        pods.join(", "),
        agents.join(", ")
    )]
    UnknownReservations {
        /// The service.
        service: String,
        /// The service's role.
        role: String,
        /// The pod instances they are labelled for.
        pods: Vec<String>,
        /// The agents holding them.
        agents: Vec<String>,
        /// How many.
        count: usize,
    },
    /// A task the master runs lost its record and cannot be rebuilt.
    #[error(
        "the master runs task {task_id} ({name}) of service `{service}` whose record the state \
         store lost, and it cannot be rebuilt: {why}. Start again with --force to go on \
         without it (it is killed as unknown and its pod deployed afresh)"
    )]
    TaskUnrecoverable {
        /// The service.
        service: String,
        /// The task id.
        task_id: String,
        /// The task name.
        name: String,
        /// Why.
        why: String,
    },
}

/// What a passed takeover check did, for the operator to read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Takeover {
    /// The framework adopted (`--adopt-framework`).
    pub adopted: Option<String>,
    /// A stored framework id dropped (a torn-down framework, or `--force`): a new framework
    /// is registered.
    pub dropped: Option<String>,
    /// Task names whose lost records were rebuilt from the master.
    pub rebuilt: Vec<String>,
    /// Reservations the store did not know, queued for releasing (`--force`).
    pub released: usize,
}

/// Whether `info` is a framework of `spec`'s service: its name and role (and principal, when
/// both say one).
fn is_ours(info: &FrameworkInfo, spec: &ServiceSpec) -> bool {
    info.name == spec.name
        && info.effective_roles().contains(&spec.role)
        && info
            .principal
            .as_deref()
            .is_none_or(|p| p == spec.principal)
}

fn id_of(f: &Framework) -> Option<&str> {
    f.framework_info.id.as_ref().map(|i| i.value.as_str())
}

impl Scheduler {
    /// The takeover check (see the module docs), with what the master holds now: its
    /// frameworks, agents, tasks and executors (the operator API's `GET_STATE`). Call it before
    /// every SUBSCRIBE. On success the scheduler may subscribe; what it decided (an adopted or
    /// dropped framework id, rebuilt task records, reservations to release) is queued as one
    /// write batch, persisted before any call, and reported. A refusal changes nothing: the
    /// driver stops and says why.
    ///
    /// # Errors
    /// [`TakeoverRefusal`], with what the operator can do (`SchedulerConfig::takeover`).
    pub fn handle_master_state(
        &mut self,
        now: Time,
        state: &GetState,
    ) -> Result<Takeover, TakeoverRefusal> {
        self.last_now = self.last_now.max(now);
        let mut report = Takeover::default();
        let mut writes = Vec::new();
        let framework_id = self.choose_framework(state, &mut report)?;
        let mut tasks = self.tasks.clone();
        if let Some(fid) = &framework_id {
            self.rebuild_tasks(state, fid, &mut tasks, &mut report)?;
        }
        let unknown = self.unknown_reservations(state, &tasks);
        let forced = self.cfg.takeover == TakeoverChoice::Force;
        // Only a volume holds data. Lost plain reservations (cpus, memory, ports, disk) are
        // released whatever the choice: their tasks are dead (the master would have had them
        // rebuilt), and launching them again on new reservations loses nothing.
        let holds_data = unknown.iter().any(|(_, _, r)| r.is_persistent_volume());
        if holds_data && !self.is_uninstalling() && !forced {
            let pods: BTreeSet<String> = unknown.iter().map(|(_, p, _)| p.clone()).collect();
            let agents: BTreeSet<String> = unknown.iter().map(|(a, _, _)| a.clone()).collect();
            return Err(TakeoverRefusal::UnknownReservations {
                service: self.spec.name.clone(),
                role: self.spec.role.clone(),
                pods: pods.into_iter().collect(),
                agents: agents.into_iter().collect(),
                count: unknown.len(),
            });
        }
        // Decided: nothing below refuses.
        match (&framework_id, &self.framework_id) {
            (Some(new), old) if old.as_ref() != Some(new) => writes.push(WriteOp::Put {
                key: FRAMEWORK_ID.to_string(),
                value: new.value.as_bytes().to_vec(),
            }),
            (None, Some(_)) => writes.push(WriteOp::Delete {
                key: FRAMEWORK_ID.to_string(),
            }),
            _ => {}
        }
        self.framework_id = framework_id;
        for name in &report.rebuilt {
            let record = tasks[name].clone();
            writes.push(WriteOp::Put {
                key: task_info_key(name),
                value: serde_json::to_vec(&record.info).unwrap_or_default(),
            });
            if let Some(status) = &record.status {
                writes.push(WriteOp::Put {
                    key: task_status_key(name),
                    value: serde_json::to_vec(status).unwrap_or_default(),
                });
            }
            if let Some(old) = self.tasks.get(name) {
                self.task_ids.remove(&old.info.task_id.value);
            }
            self.task_ids
                .insert(record.info.task_id.value.clone(), name.clone());
            self.tasks.insert(name.clone(), record);
        }
        if !self.is_uninstalling() && !unknown.is_empty() {
            // `--force`, or no volume among them: the store does not know them, and a fresh
            // launch is what comes next; they are released as offered, like a replaced pod's.
            report.released = unknown.len();
            let entries = unknown
                .into_iter()
                .filter_map(|(agent, _, resource)| {
                    let id = resource_id(&resource)?.to_string();
                    Some((
                        id,
                        ReclaimEntry {
                            agent_id: agent,
                            resource,
                            sent_at: None,
                        },
                    ))
                })
                .collect();
            writes.extend(self.recovery_state.queue_reclaims(entries));
        }
        self.outbox.persist(writes);
        let agents = state.get_agents.clone().unwrap_or_default();
        self.learn_agents(registered_agents(&agents, &self.spec.roles()));
        // The operator's answer was for this start: a later check (a reconnection) judges
        // afresh, so a framework torn down meanwhile stops the scheduler again.
        self.cfg.takeover = TakeoverChoice::Check;
        Ok(report)
    }

    /// Rule 1: the framework to subscribe as (`None`: register a new one).
    fn choose_framework(
        &self,
        state: &GetState,
        report: &mut Takeover,
    ) -> Result<Option<FrameworkId>, TakeoverRefusal> {
        let frameworks = state.get_frameworks.clone().unwrap_or_default();
        let known = |id: &str| frameworks.frameworks.iter().find(|f| id_of(f) == Some(id));
        let ours: Vec<String> = frameworks
            .frameworks
            .iter()
            .filter(|f| is_ours(&f.framework_info, &self.spec))
            .filter_map(|f| id_of(f).map(str::to_string))
            .collect();
        let torn_down = |id: &str| {
            known(id).is_none()
                && frameworks
                    .completed_frameworks
                    .iter()
                    .any(|f| id_of(f) == Some(id))
        };
        let service = self.spec.name.clone();
        let stored = self.framework_id.as_ref().map(|f| f.value.clone());
        let forced = self.cfg.takeover == TakeoverChoice::Force;
        if let TakeoverChoice::Adopt(id) = &self.cfg.takeover {
            if stored.as_deref() != Some(id.as_str()) {
                let refuse = |why: String| TakeoverRefusal::AdoptRefused {
                    service: service.clone(),
                    framework_id: id.clone(),
                    why,
                };
                if let Some(s) = stored.as_ref().filter(|s| ours.contains(s)) {
                    return Err(refuse(format!(
                        "the store's own framework {s} runs on the master; adopting another \
                         would leave it running beside"
                    )));
                }
                if !ours.contains(id) {
                    let why = match known(id) {
                        Some(f) => format!(
                            "the master knows it as `{}` (roles {}), not as this service",
                            f.framework_info.name,
                            f.framework_info.effective_roles().join(",")
                        ),
                        None if torn_down(id) => "it was torn down".to_string(),
                        None => format!(
                            "the master does not know it (this service's frameworks: {})",
                            if ours.is_empty() {
                                "none".to_string()
                            } else {
                                ours.join(", ")
                            }
                        ),
                    };
                    return Err(refuse(why));
                }
                report.adopted = Some(id.clone());
                return Ok(Some(FrameworkId::new(id.clone())));
            }
        }
        let drop = |report: &mut Takeover, s: &str| {
            report.dropped = Some(s.to_string());
            Ok(None)
        };
        match stored {
            Some(s) if ours.contains(&s) => Ok(Some(FrameworkId::new(s))),
            Some(s) if torn_down(&s) => {
                if forced || self.is_uninstalling() {
                    return drop(report, &s);
                }
                Err(TakeoverRefusal::TornDown {
                    service,
                    framework_id: s,
                    role: self.spec.role.clone(),
                    reservations: self.role_reservations(state),
                })
            }
            Some(s) if known(&s).is_some() => {
                if forced {
                    return drop(report, &s);
                }
                let info = &known(&s).expect("known").framework_info;
                Err(TakeoverRefusal::NotOurs {
                    service,
                    framework_id: s,
                    name: info.name.clone(),
                    roles: info.effective_roles().join(","),
                })
            }
            // Unknown to the master, and no other framework of ours: the master forgot it
            // (lost its state); subscribing with the id registers it again.
            Some(s) if ours.is_empty() => Ok(Some(FrameworkId::new(s))),
            Some(s) => {
                if forced {
                    return drop(report, &s);
                }
                Err(TakeoverRefusal::FrameworkLost {
                    service,
                    what: format!("names framework {s}, which the master does not know"),
                    running: ours,
                })
            }
            None if ours.is_empty() || forced => Ok(None),
            None => Err(TakeoverRefusal::FrameworkLost {
                service,
                what: match &self.framework_id_problem {
                    Some(p) => format!("has lost its framework id (FrameworkID is unusable: {p})"),
                    None => "has lost its framework id (there is no FrameworkID)".to_string(),
                },
                running: ours,
            }),
        }
    }

    /// Rule 2: live tasks of `fid` the store has no record of, rebuilt into `tasks`.
    fn rebuild_tasks(
        &self,
        state: &GetState,
        fid: &FrameworkId,
        tasks: &mut BTreeMap<String, TaskRecord>,
        report: &mut Takeover,
    ) -> Result<(), TakeoverRefusal> {
        let Some(listed) = &state.get_tasks else {
            return Ok(());
        };
        let live: Vec<(&Task, bool)> = listed
            .tasks
            .iter()
            .map(|t| (t, false))
            .chain(listed.unreachable_tasks.iter().map(|t| (t, true)))
            .filter(|(t, _)| &t.framework_id == fid && !t.state.is_terminal())
            .collect();
        let live_ids: BTreeSet<&str> = live.iter().map(|(t, _)| t.task_id.value.as_str()).collect();
        let executors = state
            .get_executors
            .as_ref()
            .map(|e| e.executors.as_slice())
            .unwrap_or_default();
        for (task, unreachable) in live {
            if self.task_ids.contains_key(&task.task_id.value) {
                continue;
            }
            // An old incarnation of a replaced pod, still running where it was: its
            // reservations are queued for release, and reconciliation kills it as unknown.
            // Rebuilding it would undo the replacement.
            let replaced = task
                .resources
                .iter()
                .filter_map(resource_id)
                .any(|id| self.recovery_state.reclaim.contains_key(id));
            if replaced {
                continue;
            }
            let labelled = task.labels.as_ref().and_then(labels_pod_instance).is_some();
            if !labelled {
                // Not launched by cairn: reconciliation kills it as unknown.
                continue;
            }
            // The store's record of that name is another incarnation; if the master runs that
            // one too, this one is a stray that reconciliation kills.
            if tasks
                .get(&task.name)
                .is_some_and(|r| live_ids.contains(r.info.task_id.value.as_str()))
            {
                continue;
            }
            let refuse = |why: &str| TakeoverRefusal::TaskUnrecoverable {
                service: self.spec.name.clone(),
                task_id: task.task_id.value.clone(),
                name: task.name.clone(),
                why: why.to_string(),
            };
            let executor = match &task.executor_id {
                Some(id) => Some(
                    executors
                        .iter()
                        .find(|e| {
                            &e.executor_info.executor_id == id && e.agent_id == task.agent_id
                        })
                        .map(|e| e.executor_info.clone())
                        .ok_or_else(|| {
                            refuse("the master does not report its executor, whose reservations and volumes it needs")
                        })?,
                ),
                None => None,
            };
            let info = TaskInfo {
                name: task.name.clone(),
                task_id: task.task_id.clone(),
                agent_id: task.agent_id.clone(),
                resources: task.resources.clone(),
                executor,
                health_check: task.health_check.clone(),
                check: task.check.clone(),
                kill_policy: task.kill_policy.clone(),
                labels: task.labels.clone(),
                discovery: task.discovery.clone(),
                ..TaskInfo::default()
            };
            let last = task.statuses.last();
            let status = TaskStatus {
                agent_id: Some(task.agent_id.clone()),
                executor_id: task.executor_id.clone(),
                source: Some(cairn_proto::Source::Master),
                reason: Some(cairn_proto::Reason::Reconciliation),
                message: Some("rebuilt from the master's report".into()),
                check_status: last.and_then(|s| s.check_status.clone()),
                healthy: last.and_then(|s| s.healthy),
                ..TaskStatus::new(
                    task.task_id.value.clone(),
                    if unreachable {
                        TaskState::Unreachable
                    } else {
                        task.state
                    },
                )
            };
            tasks.insert(
                task.name.clone(),
                TaskRecord {
                    info,
                    status: Some(status),
                    history: Default::default(),
                },
            );
            report.rebuilt.push(task.name.clone());
        }
        Ok(())
    }

    /// Rule 3: the role's cairn reservations of target pods that `tasks` and the reclaim list
    /// do not know, where they mean a lost pod: (agent, pod instance, resource).
    fn unknown_reservations(
        &self,
        state: &GetState,
        tasks: &BTreeMap<String, TaskRecord>,
    ) -> Vec<(String, String, Resource)> {
        let Some(agents) = &state.get_agents else {
            return Vec::new();
        };
        let known: BTreeSet<&str> = tasks
            .values()
            .flat_map(reservation_ids)
            .chain(self.recovery_state.reclaim.keys().map(String::as_str))
            .collect();
        let mut homes: BTreeMap<String, BTreeSet<&str>> = BTreeMap::new();
        for r in tasks.values() {
            if let Some(pod) = task_pod_instance(&r.info) {
                homes
                    .entry(pod.to_string())
                    .or_default()
                    .insert(r.info.agent_id.value.as_str());
            }
        }
        let target: BTreeSet<String> = self
            .spec
            .pods
            .iter()
            .flat_map(|p| p.instances())
            .map(|i| i.to_string())
            .collect();
        let mut out = Vec::new();
        let roles = self.spec.roles();
        let ours = |r: &Resource| {
            r.reservation_role()
                .is_some_and(|x| roles.iter().any(|o| o == x))
        };
        for agent in &agents.agents {
            let Some(agent_id) = &agent.agent_info.id else {
                continue;
            };
            for r in &agent.total_resources {
                if !ours(r) {
                    continue;
                }
                let (Some(id), Some(pod)) = (resource_id(r), resource_pod_instance(r)) else {
                    continue;
                };
                let pod = pod.to_string();
                if known.contains(id) || !target.contains(&pod) {
                    continue;
                }
                let lost = homes
                    .get(&pod)
                    .is_none_or(|h| h.contains(agent_id.value.as_str()));
                if lost {
                    let resource = Resource {
                        allocation_info: None,
                        ..r.clone()
                    };
                    out.push((agent_id.value.clone(), pod, resource));
                }
            }
        }
        out
    }

    /// How many cairn reservations the role holds on registered agents.
    fn role_reservations(&self, state: &GetState) -> usize {
        let roles = self.spec.roles();
        state.get_agents.as_ref().map_or(0, |a| {
            a.agents
                .iter()
                .flat_map(|a| &a.total_resources)
                .filter(|r| {
                    r.reservation_role()
                        .is_some_and(|x| roles.iter().any(|o| o == x))
                        && resource_id(r).is_some()
                })
                .count()
        })
    }
}
