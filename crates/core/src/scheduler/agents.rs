//! What the master says of its agents, and what the scheduler makes of it.
//!
//! A task status alone never says that an agent was removed. TASK_GONE also comes for a task
//! that a registered agent forgot (its executor checkpoints were lost), and from reconciliation
//! for a task the master does not know on a registered agent; taking either for a removal moved
//! pods off a healthy agent onto empty volumes. Only the master's list of registered agents
//! (the operator API's `GET_AGENTS`) tells. So a TASK_GONE or TASK_GONE_BY_OPERATOR makes the
//! scheduler read that list ([`Action::ReadAgents`](super::Action::ReadAgents)), and its agent
//! is taken for removed only when an answer read after the status no longer lists it.
//!
//! The same answer says whether a task the master reported stopped (a terminal status of the
//! master's own making: reconciliation, agent removal) still has its reservations. A registered
//! agent holding none of them never got them (the launch never reached it): its pod is not
//! pinned there any more. In every other case (the agent holds them, is away, or no answer
//! came yet) the pod stays pinned to its reservations and is relaunched in place, or waits for
//! the permanent-failure timer.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use cairn_proto::master::GetAgents;
use cairn_proto::{Reason, Source, TaskState, TaskStatus};

use crate::labels::resource_id;
use crate::store::TaskRecord;
use crate::time::Time;

use super::Scheduler;

/// What the scheduler knows of the master's agents.
#[derive(Debug, Clone, Default)]
pub(super) struct Agents {
    /// The latest answer: each registered agent with the `resource_id`s of the service role's
    /// reservations it holds. `None` until one came.
    registered: Option<BTreeMap<String, BTreeSet<String>>>,
    /// The agents of the latest answer, and those that offered since (a returning agent).
    listed: Option<BTreeSet<String>>,
    /// Agents the master removed: named by a TASK_GONE (or TASK_GONE_BY_OPERATOR) and missing
    /// from an answer read after it. Nothing there will be offered or killed again.
    pub removed: BTreeSet<String>,
    /// Agents named by a TASK_GONE or TASK_GONE_BY_OPERATOR, for the next answer to judge.
    suspects: BTreeSet<String>,
    /// Task ids with a terminal status the master made, for the next answer to judge.
    pending: BTreeSet<String>,
    /// Task ids the master showed to hold none of their reservations: nothing pins their pod.
    pub unheld: HashSet<String>,
    /// A read is out (`Some`); `true` when a question came after it was sent, which that
    /// answer may predate.
    reading: Option<bool>,
    /// When the tasks last heard unreachable are asked about next (none: no such task).
    ask_back_at: Option<Time>,
}

/// How often a task last heard unreachable is asked about (well inside the permanent-failure
/// timeout, which would move its pod).
const ASK_BACK_EVERY: std::time::Duration = std::time::Duration::from_secs(30);

/// `resource_id` → nothing: the resource ids of the role's reservations on one agent.
fn held_ids(agent: &cairn_proto::master::Agent, roles: &[String]) -> BTreeSet<String> {
    agent
        .total_resources
        .iter()
        .filter(|r| {
            r.reservation_role()
                .is_some_and(|x| roles.iter().any(|o| o == x))
        })
        .filter_map(|r| resource_id(r).map(str::to_string))
        .collect()
}

/// The registered agents of an answer, with the reservation ids each holds for the service's
/// roles (its own and its pods' refined pre-reserved roles).
pub(super) fn registered_agents(
    answer: &GetAgents,
    roles: &[String],
) -> BTreeMap<String, BTreeSet<String>> {
    answer
        .agents
        .iter()
        .filter_map(|a| Some((a.agent_info.id.as_ref()?.value.clone(), held_ids(a, roles))))
        .collect()
}

/// The `resource_id`s a stored task's launch reserved (its own and its executor's).
pub(super) fn reservation_ids(record: &TaskRecord) -> impl Iterator<Item = &str> {
    let executor = record.info.executor.iter().flat_map(|e| &e.resources);
    record
        .info
        .resources
        .iter()
        .chain(executor)
        .filter_map(resource_id)
}

/// Whether the master made this terminal status itself (it speaks of the task's agent, not of
/// what the task did), and the agent must be asked whether the reservations are still there.
/// A refused ACCEPT (REASON_INVALID_OFFERS) needs no asking: nothing of it was applied.
fn made_by_master(status: &TaskStatus) -> bool {
    status.state.is_terminal()
        && status.source == Some(Source::Master)
        && status.reason != Some(Reason::InvalidOffers)
}

fn says_gone(status: &TaskStatus) -> bool {
    matches!(status.state, TaskState::Gone | TaskState::GoneByOperator)
}

impl Scheduler {
    /// The master's registered agents (the operator API's `GET_AGENTS`), read because the
    /// scheduler asked ([`Action::ReadAgents`](super::Action::ReadAgents)). Judges the agents
    /// named by TASK_GONE statuses since the read was asked for (removed when not listed) and
    /// the reservations of tasks the master reported stopped, then re-derives the plans.
    pub fn handle_agents(&mut self, now: Time, answer: &GetAgents) {
        let again = self.agents.reading.take() == Some(true);
        if self.failed || self.is_uninstalled() {
            return;
        }
        self.last_now = self.last_now.max(now);
        self.set_registered(registered_agents(answer, &self.spec.roles()));
        // A question that came while this read was out may be about a change the answer does
        // not show yet: those wait for the next answer.
        if !again {
            self.judge_agents();
        } else {
            self.ask_agents();
        }
        self.refresh(now);
    }

    /// Whether the master removed `agent` (see the module docs).
    pub(super) fn agent_removed(&self, agent: &str) -> bool {
        self.agents.removed.contains(agent)
    }

    /// The agents the master listed last (and those that offered since), if it was asked.
    pub(super) fn listed_agents(&self) -> Option<&BTreeSet<String>> {
        self.agents.listed.as_ref()
    }

    /// An agent FAILURE: the agent is unreachable or removed; which, and what it still holds,
    /// the master's list tells.
    pub(super) fn agent_failed(&mut self) {
        self.ask_agents();
    }

    /// Offers came from these agents: they are registered, whatever an older list said.
    pub(super) fn agents_offered<'a>(&mut self, agents: impl IntoIterator<Item = &'a str>) {
        if let Some(listed) = &mut self.agents.listed {
            listed.extend(agents.into_iter().map(str::to_string));
        }
    }

    /// After every input: while a task is last heard unreachable, it is asked about every
    /// [`ASK_BACK_EVERY`] (explicit RECONCILE). An agent that comes back without a task says
    /// nothing of it, and the master, which forgot it, answers only when asked (TASK_GONE from
    /// a registered agent: relaunched in place). Without asking, the pod waited for its
    /// permanent-failure timer and was moved off its registered agent, onto an empty volume.
    pub(super) fn ask_back(&mut self, now: Time) {
        let unreachable: Vec<cairn_proto::scheduler::ReconcileTask> = self
            .tasks
            .values()
            .filter(|r| {
                r.status.as_ref().is_some_and(|s| {
                    s.task_id == r.info.task_id
                        && matches!(s.state, TaskState::Unreachable | TaskState::Unknown)
                })
            })
            .map(|r| cairn_proto::scheduler::ReconcileTask {
                task_id: r.info.task_id.clone(),
                agent_id: Some(r.info.agent_id.clone()),
            })
            .collect();
        if unreachable.is_empty() || !self.reconciler.is_settled() {
            // Nothing to ask, or the explicit pass of this subscription asks already.
            self.agents.ask_back_at = None;
            return;
        }
        match self.agents.ask_back_at {
            Some(at) if now >= at => {
                self.agents.ask_back_at = Some(now.plus(ASK_BACK_EVERY));
                self.send_reconcile(crate::reconcile::Reconcile::Explicit(unreachable));
            }
            Some(_) => {}
            None => self.agents.ask_back_at = Some(now.plus(ASK_BACK_EVERY)),
        }
    }

    /// When tasks last heard unreachable are asked about next.
    pub(super) fn ask_back_timeout(&self) -> Option<Time> {
        self.agents.ask_back_at
    }

    /// A status, of a known task or not: a TASK_GONE names an agent to ask about; a terminal
    /// status the master made leaves the task's reservations in question.
    pub(super) fn question_agents(&mut self, status: &TaskStatus) {
        let mut asked = false;
        if says_gone(status) {
            if let Some(agent) = &status.agent_id {
                if !self.agents.removed.contains(&agent.value) {
                    self.agents.suspects.insert(agent.value.clone());
                    asked = true;
                }
            }
        }
        if made_by_master(status) && self.task_ids.contains_key(&status.task_id.value) {
            self.agents.pending.insert(status.task_id.value.clone());
            self.agents.unheld.remove(&status.task_id.value);
            asked = true;
        }
        if asked {
            self.ask_agents();
        }
    }

    /// At start: what the stored statuses leave in question (agents a TASK_GONE named, tasks
    /// the master reported stopped) is asked of the master again. A restart forgets no
    /// removal: it re-learns it from the master, not from a status.
    pub(super) fn question_stored(&mut self) {
        for record in self.tasks.values() {
            let Some(status) = &record.status else {
                continue;
            };
            if says_gone(status) {
                self.agents
                    .suspects
                    .insert(record.info.agent_id.value.clone());
            }
            if made_by_master(status) {
                self.agents
                    .pending
                    .insert(record.info.task_id.value.clone());
            }
        }
        if !self.agents.suspects.is_empty() || !self.agents.pending.is_empty() {
            self.ask_agents();
        }
    }

    /// A fresh list of the master's agents from the takeover check, read after every stored
    /// status: it judges what they leave in question.
    pub(super) fn learn_agents(&mut self, registered: BTreeMap<String, BTreeSet<String>>) {
        self.set_registered(registered);
        self.judge_agents();
    }

    fn set_registered(&mut self, registered: BTreeMap<String, BTreeSet<String>>) {
        self.agents.listed = Some(registered.keys().cloned().collect());
        self.agents.registered = Some(registered);
    }

    fn ask_agents(&mut self) {
        match self.agents.reading {
            None => {
                self.outbox.read_agents();
                self.agents.reading = Some(false);
            }
            Some(_) => self.agents.reading = Some(true),
        }
    }

    /// Judges the suspects and the pending tasks with the latest answer.
    fn judge_agents(&mut self) {
        let Some(registered) = self.agents.registered.clone() else {
            return;
        };
        for agent in std::mem::take(&mut self.agents.suspects) {
            if !registered.contains_key(&agent) {
                self.agents.removed.insert(agent.clone());
                // Nothing there will be offered again: its reclaims can never be confirmed.
                self.forget_reclaims_on(&agent);
            }
        }
        for task_id in std::mem::take(&mut self.agents.pending) {
            let Some(record) = self.task_ids.get(&task_id).and_then(|n| self.tasks.get(n)) else {
                continue;
            };
            if record.info.task_id.value != task_id {
                continue;
            }
            let Some(held) = registered.get(&record.info.agent_id.value) else {
                // Away or removed: the pod stays pinned; the failure timer decides.
                continue;
            };
            let mut ids = reservation_ids(record).peekable();
            if ids.peek().is_some() && !ids.any(|id| held.contains(id)) {
                self.agents.unheld.insert(task_id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_proto::master::Agent;
    use cairn_proto::{AgentId, AgentInfo, Labels, ReservationInfo, Resource};

    #[test]
    fn an_answer_lists_registered_agents_with_the_role_s_reservation_ids_only() {
        // Goal: what the scheduler reads of GET_AGENTS. Method: one agent holding a cairn
        // reservation of the role, one of another role and an unlabelled one; an agent without
        // an id is skipped.
        let reserved = |role: &str, id: Option<&str>| {
            let labels = id.map(|id| Labels::from_pairs([("resource_id", id)]));
            let mut info = ReservationInfo::dynamic(role);
            if let Some(l) = labels {
                info = info.with_labels(l);
            }
            Resource::scalar("cpus", 1.0).with_reservation(info)
        };
        let agent = |id: Option<&str>, resources| Agent {
            agent_info: AgentInfo {
                id: id.map(AgentId::new),
                ..AgentInfo::default()
            },
            total_resources: resources,
            ..Agent::default()
        };
        let answer = GetAgents {
            agents: vec![
                agent(
                    Some("a1"),
                    vec![
                        reserved("svc-role", Some("r1")),
                        reserved("other", Some("r2")),
                        reserved("svc-role", None),
                        Resource::scalar("mem", 5.0),
                    ],
                ),
                agent(None, vec![reserved("svc-role", Some("r3"))]),
            ],
            ..GetAgents::default()
        };
        let got = registered_agents(&answer, &["svc-role".to_string()]);
        assert_eq!(got.len(), 1);
        assert_eq!(
            got["a1"].iter().collect::<Vec<_>>(),
            vec!["r1"],
            "only the role's cairn reservations"
        );
    }
}
