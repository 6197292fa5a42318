//! The master's v0 endpoints, in Mesos' own JSON models: `/state` (`/master/state`),
//! `/master/state-summary`, `/master/slaves`, `/master/frameworks`, `/master/tasks`,
//! `/master/roles` and `/master/flags`. Tools (the Mesos CLI, web UIs, scripts) read these;
//! they are not the v1 protobuf JSON but a model of their own: resources summed per name
//! (`{"cpus": 0.3, "ports": "[31000-31005]"}`), ids as plain strings, times in seconds.

use std::collections::{BTreeMap, BTreeSet};

use cairn_proto::{FrameworkId, Resource, Resources, Task, TaskState, TaskStatus, ValueType};
use serde_json::{json, Map, Value};

use super::views::{agent_pid, task_view, version_info, AGENT_CAPABILITIES};
use super::{AgentSlot, AgentStatus, ClusterState};

/// Tasks `/master/tasks` answers when the query names no `limit` (Mesos' `TASK_LIMIT`).
pub(crate) const TASK_LIMIT: usize = 100;

/// Resources summed by name, as Mesos' v0 endpoints write them: `cpus`, `gpus`, `mem` and
/// `disk` always (0 when there are none), scalars as numbers, ranges and sets as their text
/// (`[31000-31005, 31007-31007]`, `{a, b}`), revocable ones under `<name>_revocable`.
pub(crate) fn resources_model<'a>(resources: impl IntoIterator<Item = &'a Resource>) -> Value {
    let mut scalars: BTreeMap<String, f64> = ["cpus", "gpus", "mem", "disk"]
        .into_iter()
        .map(|n| (n.to_string(), 0.0))
        .collect();
    let mut ranges: BTreeMap<String, Vec<cairn_proto::Range>> = BTreeMap::new();
    let mut sets: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for r in resources {
        let name = if r.is_revocable() {
            format!("{}_revocable", r.name)
        } else {
            r.name.clone()
        };
        match r.type_ {
            ValueType::Scalar => *scalars.entry(name).or_default() += r.scalar_value(),
            ValueType::Ranges => {
                let all = ranges.entry(name).or_default();
                *all = cairn_proto::ranges::union(all, r.range_values());
            }
            ValueType::Set => sets
                .entry(name)
                .or_default()
                .extend(r.set_items().iter().cloned()),
            ValueType::Text | ValueType::Unknown => {}
        }
    }
    let mut out = Map::new();
    for (name, value) in scalars {
        out.insert(name, json!(value));
    }
    for (name, value) in ranges {
        let parts: Vec<String> = value
            .iter()
            .map(|r| format!("{}-{}", r.begin, r.end))
            .collect();
        out.insert(name, json!(format!("[{}]", parts.join(", "))));
    }
    for (name, value) in sets {
        let parts: Vec<String> = value.into_iter().collect();
        out.insert(name, json!(format!("{{{}}}", parts.join(", "))));
    }
    Value::Object(out)
}

/// Resources as quantities per name (`/master/roles`): scalars summed, ranges and sets counted
/// (ports as a number of ports); kinds with nothing are left out.
fn quantities<'a>(resources: impl IntoIterator<Item = &'a Resource>) -> Value {
    let mut out: BTreeMap<String, f64> = BTreeMap::new();
    for r in resources {
        let n = match r.type_ {
            ValueType::Scalar => r.scalar_value(),
            ValueType::Ranges => cairn_proto::ranges::count(r.range_values()) as f64,
            ValueType::Set => r.set_items().len() as f64,
            ValueType::Text | ValueType::Unknown => continue,
        };
        *out.entry(r.name.clone()).or_default() += n;
    }
    out.retain(|_, n| *n != 0.0);
    json!(out)
}

fn status_model(s: &TaskStatus) -> Value {
    let mut out = Map::new();
    out.insert("state".into(), json!(s.state));
    out.insert("timestamp".into(), json!(s.timestamp.unwrap_or(0.0)));
    if let Some(labels) = &s.labels {
        out.insert("labels".into(), json!(labels.labels));
    }
    if let Some(c) = &s.container_status {
        // The v0 model of a container status leaves out the executor's pid.
        let mut cs = Map::new();
        if let Some(id) = &c.container_id {
            cs.insert("container_id".into(), json!(id));
        }
        if !c.network_infos.is_empty() {
            cs.insert("network_infos".into(), json!(c.network_infos));
        }
        if let Some(cg) = &c.cgroup_info {
            cs.insert("cgroup_info".into(), cg.clone());
        }
        out.insert("container_status".into(), Value::Object(cs));
    }
    if let Some(h) = s.healthy {
        out.insert("healthy".into(), json!(h));
    }
    Value::Object(out)
}

/// A task in the v0 model.
pub(crate) fn task_model(t: &Task) -> Value {
    let role = t
        .resources
        .first()
        .and_then(|r| r.allocation_role().or_else(|| r.reservation_role()))
        .unwrap_or("*");
    let mut out = Map::new();
    out.insert("id".into(), json!(t.task_id.value));
    out.insert("name".into(), json!(t.name));
    out.insert("framework_id".into(), json!(t.framework_id.value));
    out.insert(
        "executor_id".into(),
        json!(t.executor_id.as_ref().map_or("", |e| e.value.as_str())),
    );
    out.insert("slave_id".into(), json!(t.agent_id.value));
    out.insert("state".into(), json!(t.state));
    out.insert("resources".into(), resources_model(&t.resources));
    if let Some(limits) = t.limits.as_ref().filter(|l| !l.is_empty()) {
        out.insert("limits".into(), json!(limits));
    }
    out.insert("role".into(), json!(role));
    out.insert(
        "statuses".into(),
        Value::Array(t.statuses.iter().map(status_model).collect()),
    );
    if let Some(user) = &t.user {
        out.insert("user".into(), json!(user));
    }
    if let Some(labels) = &t.labels {
        out.insert("labels".into(), json!(labels.labels));
    }
    if let Some(d) = &t.discovery {
        out.insert("discovery".into(), json!(d));
    }
    if let Some(c) = &t.container {
        out.insert("container".into(), c.clone());
    }
    if let Some(h) = &t.health_check {
        out.insert("health_check".into(), json!(h));
    }
    Value::Object(out)
}

fn executor_model(e: &cairn_proto::ExecutorInfo, slave_id: &str) -> Value {
    let command = e.command.clone().unwrap_or_default();
    let mut cmd = Map::new();
    if let Some(shell) = command.shell {
        cmd.insert("shell".into(), json!(shell));
    }
    if let Some(value) = &command.value {
        cmd.insert("value".into(), json!(value));
    }
    cmd.insert("argv".into(), json!(command.arguments));
    if let Some(env) = &command.environment {
        cmd.insert("environment".into(), json!(env));
    }
    cmd.insert(
        "uris".into(),
        Value::Array(
            command
                .uris
                .iter()
                .map(|u| json!({"value": u.value, "executable": u.executable.unwrap_or(false)}))
                .collect(),
        ),
    );
    let mut out = Map::new();
    out.insert("executor_id".into(), json!(e.executor_id.value));
    out.insert("name".into(), json!(e.name.clone().unwrap_or_default()));
    out.insert(
        "framework_id".into(),
        json!(e.framework_id.as_ref().map_or("", |f| f.value.as_str())),
    );
    out.insert("command".into(), Value::Object(cmd));
    out.insert("resources".into(), resources_model(&e.resources));
    if let Some(role) = e.resources.first().and_then(|r| r.allocation_role()) {
        out.insert("role".into(), json!(role));
    }
    if let Some(labels) = &e.labels {
        out.insert("labels".into(), json!(labels.labels));
    }
    if let Some(t) = e.type_ {
        out.insert("type".into(), json!(t));
    }
    out.insert("slave_id".into(), json!(slave_id));
    Value::Object(out)
}

impl ClusterState {
    /// An agent's `/state`, in the Mesos agent's model as far as tools use it to find a
    /// task's files: the agent (`id`, `hostname`, `pid`, `flags.work_dir`) and, per framework,
    /// its executors with their `directory` (the sandbox `/files/read` serves) and tasks.
    /// Executors whose process ended are `completed_executors` until the agent forgets them.
    pub(crate) fn agent_state_json(&self, agent: usize) -> Option<Value> {
        let slot = self.agents.get(agent)?;
        let mut frameworks: BTreeMap<&str, (Vec<Value>, Vec<Value>)> = BTreeMap::new();
        for e in slot.runtime.iter().flat_map(|rt| rt.executors.values()) {
            let tasks: Vec<Value> = e
                .tasks
                .values()
                .map(|t| {
                    json!({
                        "id": t.info.task_id.value,
                        "name": t.info.name,
                        "state": t.state,
                        "framework_id": e.framework_id.value,
                        "executor_id": e.info.executor_id.value,
                        "slave_id": slot.id.value,
                    })
                })
                .collect();
            let ended = e.phase == super::ExecutorPhase::Terminated;
            let mut model = executor_model(&e.info, &slot.id.value);
            if let Value::Object(m) = &mut model {
                m.insert("id".into(), json!(e.info.executor_id.value));
                m.insert("container".into(), json!(e.container_id));
                m.insert("directory".into(), json!(e.sandbox.display().to_string()));
                m.insert("queued_tasks".into(), json!([]));
                let (live, done) = if ended {
                    (json!([]), Value::Array(tasks))
                } else {
                    (Value::Array(tasks), json!([]))
                };
                m.insert("tasks".into(), live);
                m.insert("completed_tasks".into(), done);
            }
            let entry = frameworks.entry(e.framework_id.value.as_str()).or_default();
            if ended {
                entry.1.push(model);
            } else {
                entry.0.push(model);
            }
        }
        let frameworks: Vec<Value> = frameworks
            .into_iter()
            .map(|(id, (executors, completed))| {
                json!({"id": id, "executors": executors, "completed_executors": completed})
            })
            .collect();
        Some(json!({
            "id": slot.id.value,
            "hostname": slot.ip.to_string(),
            "pid": super::views::agent_pid(slot),
            "flags": {"work_dir": slot.dir.display().to_string()},
            "frameworks": frameworks,
            "completed_frameworks": [],
        }))
    }
}

/// Text attributes as `name: value`, scalars as numbers, ranges and sets as their text.
fn attributes_model(attributes: &[cairn_proto::Attribute]) -> Value {
    let mut out = Map::new();
    for a in attributes {
        let value = match a.type_ {
            ValueType::Scalar => json!(a.scalar.as_ref().map_or(0.0, |s| s.value)),
            ValueType::Text => json!(a.text.as_ref().map_or("", |t| t.value.as_str())),
            ValueType::Ranges => {
                let parts: Vec<String> = a
                    .ranges
                    .iter()
                    .flat_map(|r| r.range.iter())
                    .map(|r| format!("{}-{}", r.begin, r.end))
                    .collect();
                json!(format!("[{}]", parts.join(", ")))
            }
            ValueType::Set => {
                let items: Vec<String> = a.set.iter().flat_map(|s| s.item.clone()).collect();
                json!(format!("{{{}}}", items.join(", ")))
            }
            ValueType::Unknown => continue,
        };
        out.insert(a.name.clone(), value);
    }
    Value::Object(out)
}

/// How many tasks are in each state, for `/master/state-summary`.
#[derive(Default, Clone, Copy)]
struct StateCounts([u64; 10]);

impl StateCounts {
    const STATES: [TaskState; 10] = [
        TaskState::Staging,
        TaskState::Starting,
        TaskState::Running,
        TaskState::Killing,
        TaskState::Finished,
        TaskState::Killed,
        TaskState::Failed,
        TaskState::Lost,
        TaskState::Error,
        TaskState::Unreachable,
    ];

    fn count(&mut self, state: TaskState) {
        if let Some(i) = Self::STATES.iter().position(|s| *s == state) {
            self.0[i] += 1;
        }
    }

    fn write(&self, out: &mut Map<String, Value>) {
        for (state, n) in Self::STATES.iter().zip(self.0) {
            out.insert(state.as_str().to_string(), json!(n));
        }
    }
}

/// A filter on one id, from a query parameter (`framework_id=...`): no parameter takes all.
fn accepts(wanted: Option<&str>, id: &str) -> bool {
    wanted.is_none_or(|w| w == id)
}

/// The query of `/master/tasks`, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TasksQuery {
    pub limit: usize,
    pub offset: usize,
    /// Oldest first (`order=asc`); newest first otherwise, as Mesos orders by default.
    pub ascending: bool,
    pub framework_id: Option<String>,
    pub task_id: Option<String>,
}

impl TasksQuery {
    /// Reads `limit`, `offset`, `order`, `framework_id` and `task_id`; a `limit` or `offset`
    /// that is not a count is refused, saying which.
    pub(crate) fn parse(query: &BTreeMap<String, String>) -> Result<TasksQuery, String> {
        let count = |name: &str, default: usize| -> Result<usize, String> {
            match query.get(name) {
                None => Ok(default),
                Some(v) => v.trim().parse::<usize>().map_err(|_| {
                    format!("'{name}' must be a number of tasks (0 or more), not '{v}'")
                }),
            }
        };
        Ok(TasksQuery {
            limit: count("limit", TASK_LIMIT)?,
            offset: count("offset", 0)?,
            ascending: query.get("order").is_some_and(|o| o == "asc"),
            framework_id: query.get("framework_id").cloned(),
            task_id: query.get("task_id").cloned(),
        })
    }
}

impl ClusterState {
    /// Agents registered with the master: running, or stopped and not yet unreachable.
    fn registered(&self) -> impl Iterator<Item = (usize, &AgentSlot)> {
        self.agents
            .iter()
            .enumerate()
            .filter(|(_, a)| a.status != AgentStatus::Gone && !a.unreachable)
    }

    /// An agent as `/state` shows it (Mesos' `SlaveWriter`).
    fn slave_model(&self, i: usize, slot: &AgentSlot) -> Map<String, Value> {
        let mut reserved: BTreeMap<String, Vec<&Resource>> = BTreeMap::new();
        let mut unreserved = Vec::new();
        for r in slot.total.iter() {
            match r.reservation_role() {
                Some(role) => reserved.entry(role.to_string()).or_default().push(r),
                None => unreserved.push(r),
            }
        }
        let mut out = Map::new();
        out.insert("id".into(), json!(slot.id.value));
        out.insert("hostname".into(), json!(slot.ip.to_string()));
        out.insert("port".into(), json!(slot.port));
        out.insert("attributes".into(), attributes_model(&slot.attributes));
        out.insert("pid".into(), json!(agent_pid(slot)));
        out.insert("registered_time".into(), json!(slot.registered_time));
        out.insert("resources".into(), resources_model(slot.total.iter()));
        out.insert(
            "used_resources".into(),
            resources_model(self.allocated(i).iter()),
        );
        out.insert(
            "offered_resources".into(),
            resources_model(self.agent_offered(i).iter()),
        );
        out.insert(
            "reserved_resources".into(),
            Value::Object(
                reserved
                    .iter()
                    .map(|(role, rs)| (role.clone(), resources_model(rs.iter().copied())))
                    .collect(),
            ),
        );
        out.insert(
            "unreserved_resources".into(),
            resources_model(unreserved.iter().copied()),
        );
        out.insert("active".into(), json!(slot.status == AgentStatus::Running));
        out.insert("deactivated".into(), json!(false));
        out.insert("version".into(), json!(cairn_proto::MESOS_VERSION));
        out.insert(
            "capabilities".into(),
            json!(AGENT_CAPABILITIES
                .iter()
                .map(|c| c.as_str())
                .collect::<Vec<_>>()),
        );
        out
    }

    /// A framework's summary (Mesos' `Summary<Framework>`), live or completed.
    fn framework_summary(&self, fid: &FrameworkId) -> Map<String, Value> {
        let (info, connected) = match self.master.frameworks.get(fid) {
            Some(fw) => (&fw.info, fw.stream.is_some()),
            None => match self.master.completed.iter().find(|c| &c.id == fid) {
                Some(c) => (&c.info, false),
                None => return Map::new(),
            },
        };
        let live = self.master.frameworks.contains_key(fid);
        let (used, offered) = if live {
            (self.framework_used(fid), self.framework_offered(fid))
        } else {
            (Resources::new(), Resources::new())
        };
        let mut out = Map::new();
        out.insert("id".into(), json!(fid.value));
        out.insert("name".into(), json!(info.name));
        out.insert("used_resources".into(), resources_model(used.iter()));
        out.insert("offered_resources".into(), resources_model(offered.iter()));
        out.insert(
            "capabilities".into(),
            json!(info
                .capabilities
                .iter()
                .map(|c| c.type_)
                .collect::<Vec<_>>()),
        );
        out.insert(
            "hostname".into(),
            json!(info.hostname.clone().unwrap_or_default()),
        );
        out.insert(
            "webui_url".into(),
            json!(info.webui_url.clone().unwrap_or_default()),
        );
        // A disconnected framework is also inactive (it gets no offers), as in Mesos.
        out.insert("active".into(), json!(connected));
        out.insert("connected".into(), json!(connected));
        out.insert("recovered".into(), json!(false));
        out
    }

    /// A framework in full (Mesos' `FullFrameworkWriter`), live or completed.
    fn framework_full(&self, fid: &FrameworkId) -> Value {
        let mut out = self.framework_summary(fid);
        let live = self.master.frameworks.get(fid);
        let completed = self.master.completed.iter().find(|c| &c.id == fid);
        let (info, registered, reregistered, unregistered) = match (live, completed) {
            (Some(fw), _) => (&fw.info, fw.registered_time, fw.reregistered_time, 0.0),
            (None, Some(c)) => (
                &c.info,
                c.registered_time,
                c.reregistered_time,
                c.unregistered_time,
            ),
            (None, None) => return Value::Object(out),
        };
        out.insert("user".into(), json!(info.user));
        out.insert(
            "failover_timeout".into(),
            json!(info.failover_timeout_secs()),
        );
        out.insert("checkpoint".into(), json!(info.is_checkpointing()));
        out.insert("registered_time".into(), json!(registered));
        out.insert("unregistered_time".into(), json!(unregistered));
        if let Some(p) = &info.principal {
            out.insert("principal".into(), json!(p));
        }
        let mut held = Resources::new();
        if live.is_some() {
            held = self.framework_used(fid);
            held.add_all(self.framework_offered(fid).iter());
        }
        out.insert("resources".into(), resources_model(held.iter()));
        // Written only once it subscribed again, as Mesos does.
        if reregistered != registered && reregistered > 0.0 {
            out.insert("reregistered_time".into(), json!(reregistered));
        }
        if info.has_capability(cairn_proto::CapabilityType::MultiRole) {
            out.insert("roles".into(), json!(info.roles));
        } else {
            out.insert(
                "role".into(),
                json!(info.role.clone().unwrap_or_else(|| "*".to_string())),
            );
        }
        let mut tasks = Vec::new();
        let mut unreachable = Vec::new();
        let mut done: Vec<Value> = Vec::new();
        let mut offers = Vec::new();
        let mut executors = Vec::new();
        match (live, completed) {
            (Some(fw), _) => {
                for (id, t) in &fw.tasks {
                    let model = task_model(&task_view(fid, &self.agents[t.agent].id, id, t));
                    if t.unreachable_time.is_some() {
                        unreachable.push(model);
                    } else {
                        tasks.push(model);
                    }
                }
                done.extend(fw.completed_tasks.iter().map(task_model));
                for (id, o) in self
                    .master
                    .offers
                    .iter()
                    .filter(|(_, o)| &o.framework == fid)
                {
                    offers.push(json!({
                        "id": id.value,
                        "framework_id": fid.value,
                        "allocation_info": {"role": o.role},
                        "slave_id": self.agents[o.agent].id.value,
                        "resources": resources_model(o.resources.iter()),
                    }));
                }
                for slot in &self.agents {
                    let Some(rt) = &slot.runtime else { continue };
                    for e in rt.executors.values() {
                        if &e.framework_id == fid
                            && !e.command_task
                            && e.phase != super::ExecutorPhase::Terminated
                        {
                            executors.push(executor_model(&e.info, &slot.id.value));
                        }
                    }
                }
            }
            (None, Some(c)) => done.extend(c.tasks.iter().map(task_model)),
            (None, None) => {}
        }
        out.insert("tasks".into(), Value::Array(tasks));
        out.insert("unreachable_tasks".into(), Value::Array(unreachable));
        out.insert("completed_tasks".into(), Value::Array(done));
        out.insert("offers".into(), Value::Array(offers));
        out.insert("executors".into(), Value::Array(executors));
        if let Some(labels) = &info.labels {
            out.insert("labels".into(), json!(labels.labels));
        }
        out.insert("offer_constraints".into(), json!({}));
        Value::Object(out)
    }

    /// The master itself, as `/state` and `leader_info` describe it.
    fn master_model(&self) -> Value {
        let info = self.master_info();
        json!({
            "id": info.id,
            "pid": info.pid,
            "port": info.port,
            "hostname": info.hostname,
        })
    }

    /// `/state` and `/master/state`.
    pub(crate) fn state_json(&self) -> Value {
        let version = version_info();
        let info = self.master_info();
        let slaves: Vec<Value> = self
            .registered()
            .map(|(i, s)| Value::Object(self.slave_model(i, s)))
            .collect();
        let frameworks: Vec<Value> = self
            .master
            .frameworks
            .keys()
            .map(|fid| self.framework_full(fid))
            .collect();
        let completed: Vec<Value> = self
            .master
            .completed
            .iter()
            .map(|c| self.framework_full(&c.id))
            .collect();
        let count = |f: fn(&AgentSlot) -> bool| self.agents.iter().filter(|a| f(a)).count();
        json!({
            "version": version.version,
            "build_date": version.build_date.unwrap_or_default(),
            "build_time": version.build_time.unwrap_or_default(),
            "build_user": version.build_user.unwrap_or_default(),
            "start_time": self.master.start_time,
            "elected_time": self.master.start_time,
            "id": info.id,
            "pid": info.pid,
            "hostname": info.hostname,
            // cairn's master has none of Mesos' master capabilities (AGENT_UPDATE,
            // AGENT_DRAINING, QUOTA_V2): see DESIGN.md.
            "capabilities": [],
            "activated_slaves": count(|a| a.status == AgentStatus::Running),
            "deactivated_slaves": count(|a| a.status == AgentStatus::Stopped && !a.unreachable),
            "unreachable_slaves": count(|a| a.status == AgentStatus::Stopped && a.unreachable),
            "leader": info.pid,
            "leader_info": self.master_model(),
            "flags": self.flags_object(),
            "slaves": slaves,
            "recovered_slaves": [],
            "frameworks": frameworks,
            "completed_frameworks": completed,
            "orphan_tasks": [],
            "unregistered_frameworks": [],
        })
    }

    /// `/master/state-summary`: agents and live frameworks with their tasks counted by state.
    pub(crate) fn state_summary_json(&self) -> Value {
        let mut by_agent: BTreeMap<String, StateCounts> = BTreeMap::new();
        let mut by_framework: BTreeMap<FrameworkId, StateCounts> = BTreeMap::new();
        let mut agent_frameworks: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let mut framework_agents: BTreeMap<FrameworkId, BTreeSet<String>> = BTreeMap::new();
        for (fid, fw) in &self.master.frameworks {
            let live = fw.tasks.iter().map(|(id, t)| {
                let mut view = task_view(fid, &self.agents[t.agent].id, id, t);
                if t.unreachable_time.is_some() && !t.state.is_terminal() {
                    view.state = TaskState::Unreachable;
                }
                view
            });
            for t in live.chain(fw.completed_tasks.iter().cloned()) {
                let agent = t.agent_id.value.clone();
                by_agent.entry(agent.clone()).or_default().count(t.state);
                by_framework.entry(fid.clone()).or_default().count(t.state);
                agent_frameworks
                    .entry(agent.clone())
                    .or_default()
                    .insert(fid.value.clone());
                framework_agents
                    .entry(fid.clone())
                    .or_default()
                    .insert(agent);
            }
        }
        let slaves: Vec<Value> = self
            .registered()
            .map(|(i, s)| {
                let mut out = self.slave_model(i, s);
                by_agent
                    .get(&s.id.value)
                    .copied()
                    .unwrap_or_default()
                    .write(&mut out);
                out.insert(
                    "framework_ids".into(),
                    json!(agent_frameworks
                        .get(&s.id.value)
                        .cloned()
                        .unwrap_or_default()),
                );
                Value::Object(out)
            })
            .collect();
        let frameworks: Vec<Value> = self
            .master
            .frameworks
            .keys()
            .map(|fid| {
                let mut out = self.framework_summary(fid);
                by_framework
                    .get(fid)
                    .copied()
                    .unwrap_or_default()
                    .write(&mut out);
                out.insert(
                    "slave_ids".into(),
                    json!(framework_agents.get(fid).cloned().unwrap_or_default()),
                );
                Value::Object(out)
            })
            .collect();
        json!({
            "hostname": self.master_info().hostname,
            "slaves": slaves,
            "frameworks": frameworks,
        })
    }

    /// `/master/slaves`, with each agent's resources also in full (reservations, volumes), as
    /// operators need them to unreserve or destroy; `slave_id` picks one.
    pub(crate) fn slaves_json(&self, slave_id: Option<&str>) -> Value {
        let full = |rs: &mut dyn Iterator<Item = &Resource>| -> Value {
            Value::Array(rs.map(|r| json!(r.to_endpoint_format())).collect())
        };
        let slaves: Vec<Value> = self
            .registered()
            .filter(|(_, s)| accepts(slave_id, &s.id.value))
            .map(|(i, s)| {
                let mut out = self.slave_model(i, s);
                let mut reserved: BTreeMap<String, Vec<&Resource>> = BTreeMap::new();
                for r in s.total.iter() {
                    if let Some(role) = r.reservation_role() {
                        reserved.entry(role.to_string()).or_default().push(r);
                    }
                }
                out.insert(
                    "reserved_resources_full".into(),
                    Value::Object(
                        reserved
                            .into_iter()
                            .map(|(role, rs)| (role, full(&mut rs.into_iter())))
                            .collect(),
                    ),
                );
                out.insert(
                    "unreserved_resources_full".into(),
                    full(&mut s.total.iter().filter(|r| r.is_unreserved())),
                );
                let used = self.allocated(i);
                out.insert("used_resources_full".into(), full(&mut used.iter()));
                let offered = self.agent_offered(i);
                out.insert("offered_resources_full".into(), full(&mut offered.iter()));
                Value::Object(out)
            })
            .collect();
        json!({"slaves": slaves, "recovered_slaves": []})
    }

    /// `/master/frameworks`; `framework_id` picks one.
    pub(crate) fn frameworks_json(&self, framework_id: Option<&str>) -> Value {
        let frameworks: Vec<Value> = self
            .master
            .frameworks
            .keys()
            .filter(|fid| accepts(framework_id, &fid.value))
            .map(|fid| self.framework_full(fid))
            .collect();
        let completed: Vec<Value> = self
            .master
            .completed
            .iter()
            .filter(|c| accepts(framework_id, &c.id.value))
            .map(|c| self.framework_full(&c.id))
            .collect();
        json!({
            "frameworks": frameworks,
            "completed_frameworks": completed,
            "unregistered_frameworks": [],
        })
    }

    /// `/master/tasks`: the tasks of every framework (live, unreachable and completed, of live
    /// and completed frameworks), ordered by when each first reported, newest first unless
    /// `order=asc`, a page of `limit` from `offset`.
    pub(crate) fn tasks_json(&self, q: &TasksQuery) -> Value {
        let mut tasks: Vec<Task> = Vec::new();
        for (fid, fw) in &self.master.frameworks {
            if !accepts(q.framework_id.as_deref(), &fid.value) {
                continue;
            }
            for (id, t) in &fw.tasks {
                tasks.push(task_view(fid, &self.agents[t.agent].id, id, t));
            }
            tasks.extend(fw.completed_tasks.iter().cloned());
        }
        for c in &self.master.completed {
            if accepts(q.framework_id.as_deref(), &c.id.value) {
                tasks.extend(c.tasks.iter().cloned());
            }
        }
        tasks.retain(|t| accepts(q.task_id.as_deref(), &t.task_id.value));
        // By the first status's time; a task with no status yet sorts as the newest.
        let first = |t: &Task| t.statuses.first().and_then(|s| s.timestamp);
        tasks.sort_by(|a, b| {
            let order = match (first(a), first(b)) {
                (Some(x), Some(y)) => x.total_cmp(&y),
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, None) => std::cmp::Ordering::Equal,
            };
            if q.ascending {
                order
            } else {
                order.reverse()
            }
        });
        let page: Vec<Value> = tasks
            .iter()
            .skip(q.offset)
            .take(q.limit)
            .map(task_model)
            .collect();
        json!({"tasks": page})
    }

    /// `/master/roles`: every role the master knows, with its weight, what its frameworks hold
    /// and are offered, what is reserved to it, and its quota (cairn sets none: no guarantee,
    /// no limit; what it consumes is what is reserved to it plus what it uses unreserved).
    pub(crate) fn roles_json(&self) -> Value {
        let roles: Vec<Value> = self
            .known_roles()
            .into_iter()
            .map(|(name, frameworks)| {
                let (allocated, offered) = self.role_holdings(&name);
                let mut reserved = Resources::new();
                for (_, slot) in self.registered() {
                    for r in slot.total.iter().filter(|r| r.is_reserved_to(&name)) {
                        reserved.add(r);
                    }
                }
                let mut consumed: Vec<Resource> = reserved.to_vec();
                consumed.extend(allocated.iter().filter(|r| r.is_unreserved()).cloned());
                let mut held: Vec<Resource> = allocated.to_vec();
                held.extend(offered.iter().cloned());
                json!({
                    "name": name,
                    "weight": 1.0,
                    "quota": {
                        "role": name,
                        "guarantee": {},
                        "limit": {},
                        "consumed": quantities(&consumed),
                    },
                    "resources": quantities(&held),
                    "allocated": quantities(allocated.iter()),
                    "offered": quantities(offered.iter()),
                    "reserved": quantities(reserved.iter()),
                    "frameworks": frameworks.iter().map(|f| f.value.clone()).collect::<Vec<_>>(),
                })
            })
            .collect();
        json!({ "roles": roles })
    }

    /// `/master/flags` (and `/flags`).
    pub(crate) fn flags_json(&self) -> Value {
        json!({"flags": self.flags_object()})
    }

    fn flags_object(&self) -> Map<String, Value> {
        self.flags()
            .into_iter()
            .map(|(k, v)| (k, Value::String(v)))
            .collect()
    }

    /// The master's flags under Mesos' names, each with cairn's value: the flags cairn has
    /// (under its own names: `--allocation-interval` is `allocation_interval`), and those
    /// Mesos flags whose meaning holds for cairn with the value that is true of it. Flags of
    /// machinery cairn does not have (a replicated registry, ZooKeeper, the v0 SASL
    /// authenticators, a web UI, offer constraints) are not claimed: see DESIGN.md.
    pub(crate) fn flags(&self) -> Vec<(String, String)> {
        let c = &self.cfg;
        let duration = crate::config::mesos_duration;
        let yes_no = |b: bool| if b { "true" } else { "false" }.to_string();
        let frameworks_authenticate = self.cfg.framework_auth != crate::config::FrameworkAuth::Off;
        let mut flags: BTreeMap<&str, String> = BTreeMap::from([
            // The single timeout after which a silent agent is unreachable.
            ("agent_ping_timeout", duration(c.agent_ping_timeout)),
            ("max_agent_ping_timeouts", "1".to_string()),
            ("allocation_interval", duration(c.allocation_interval)),
            // The allocator, and the order it serves frameworks and roles in, are cairn's own.
            ("allocator", "cairn".to_string()),
            ("framework_sorter", "round_robin".to_string()),
            ("role_sorter", "round_robin".to_string()),
            // A restarted cluster offers again at once: it waits for no share of its agents.
            ("allocator_agent_recovery_factor", "0".to_string()),
            ("allocator_recovery_timeout", "0ns".to_string()),
            // Agents are the master's own: nothing to authenticate.
            ("authenticate_agents", "false".to_string()),
            ("authenticate_frameworks", yes_no(frameworks_authenticate)),
            (
                "authenticate_http_frameworks",
                yes_no(frameworks_authenticate),
            ),
            // Reads are open to callers on loopback only: open when the master listens there.
            (
                "authenticate_http_readonly",
                yes_no(!c.listen.ip().is_loopback()),
            ),
            ("authenticate_http_readwrite", "true".to_string()),
            ("http_authenticators", "basic,bearer".to_string()),
            ("authorizers", "cairn".to_string()),
            // An agent with GPUs is offered only to frameworks with GPU_RESOURCES.
            ("filter_gpu_resources", "true".to_string()),
            ("help", "false".to_string()),
            ("version", "false".to_string()),
            ("quiet", "false".to_string()),
            ("hostname_lookup", "false".to_string()),
            ("ip", c.listen.ip().to_string()),
            ("port", c.listen.port().to_string()),
            ("logbufsecs", "0".to_string()),
            ("logging_level", logging_level().to_string()),
            (
                "max_completed_frameworks",
                super::framework::COMPLETED_FRAMEWORKS.to_string(),
            ),
            (
                "max_completed_tasks_per_framework",
                super::agent::COMPLETED_TASKS.to_string(),
            ),
            (
                "max_operator_event_stream_subscribers",
                super::subscribers::MAX_SUBSCRIBERS.to_string(),
            ),
            ("memory_profiling", "false".to_string()),
            ("publish_per_framework_metrics", "true".to_string()),
            ("require_agent_domain", "false".to_string()),
            ("root_submissions", yes_no(c.allow_root)),
            ("work_dir", c.work_dir.display().to_string()),
        ]);
        if let Some(t) = c.offer_timeout {
            flags.insert("offer_timeout", duration(t));
        }
        if let Some(path) = c.credentials_path() {
            flags.insert("credentials", path.display().to_string());
        }
        flags.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
    }
}

/// The most detailed level the log shows, in Mesos' (glog's) words.
fn logging_level() -> &'static str {
    use tracing::level_filters::LevelFilter;
    match LevelFilter::current() {
        LevelFilter::OFF | LevelFilter::ERROR => "ERROR",
        LevelFilter::WARN => "WARNING",
        _ => "INFO",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_proto::{ReservationInfo, Resource};

    #[test]
    fn resources_sum_per_name_with_ranges_written_as_text_and_the_four_scalars_always_there() {
        let rs = [
            Resource::scalar("cpus", 0.25),
            Resource::scalar("cpus", 0.5)
                .with_reservation(ReservationInfo::dynamic("r").with_principal("p")),
            Resource::ranges("ports", &[(31000, 31005)]),
            Resource::ranges("ports", &[(31007, 31007)]),
        ];
        let model = resources_model(&rs);
        assert_eq!(
            model,
            json!({"cpus": 0.75, "gpus": 0.0, "mem": 0.0, "disk": 0.0,
                   "ports": "[31000-31005, 31007-31007]"})
        );
        assert_eq!(
            quantities(&rs),
            json!({"cpus": 0.75, "ports": 7.0}),
            "quantities count ports and leave out kinds with nothing"
        );
    }

    #[test]
    fn a_tasks_query_reads_paging_and_order_and_refuses_what_is_not_a_count() {
        let q = |pairs: &[(&str, &str)]| {
            TasksQuery::parse(
                &pairs
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            )
        };
        assert_eq!(
            q(&[]),
            Ok(TasksQuery {
                limit: TASK_LIMIT,
                offset: 0,
                ascending: false,
                framework_id: None,
                task_id: None
            })
        );
        let page = q(&[("limit", "5"), ("offset", "10"), ("order", "asc")]).unwrap();
        assert_eq!((page.limit, page.offset, page.ascending), (5, 10, true));
        let bad = q(&[("limit", "-1")]).unwrap_err();
        assert!(bad.contains("'limit'"), "{bad}");
        assert!(q(&[("offset", "x")]).unwrap_err().contains("'offset'"));
    }
}
