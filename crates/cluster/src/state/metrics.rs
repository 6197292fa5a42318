//! `/metrics/snapshot` (and the operator API's `GET_METRICS`): the master's metrics under
//! Mesos' names.
//!
//! Counters are counted where the event happens (a call, a status update, an agent that
//! registers); gauges are read off the state when a snapshot is taken. Every number is one
//! cairn can count about itself. Where a Mesos metric names machinery cairn runs differently,
//! it counts cairn's own: the "registrar" is the write of `master.json`, a "message" from an
//! agent or an executor is the in-process call that carries the same news, and the master's
//! "event queue" is the changes waiting for the state's lock. Metrics of machinery cairn does
//! not have at all answer what is true of it: no revocable resources (0), no response cache
//! (no hits), no queue of the allocator's own (nothing in it). Like Mesos' own, they live in
//! memory: a restarted cluster counts from zero.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use cairn_proto::scheduler::{self, CallType, EventType};
use cairn_proto::{
    FrameworkId, OperationState, OperationType, Resource, Resources, TaskState, TaskStatus,
};

use super::{AgentStatus, ClusterState, Now};

/// How many recent samples a timer keeps for its percentiles (Mesos keeps 1,000).
const TIMER_WINDOW: usize = 1000;

/// The counters that exist from the start, at zero, as Mesos registers them.
const COUNTERS: &[&str] = &[
    "master/dropped_messages",
    "master/http_cache_hits",
    "master/messages_register_framework",
    "master/messages_reregister_framework",
    "master/messages_unregister_framework",
    "master/messages_deactivate_framework",
    "master/messages_kill_task",
    "master/messages_status_update_acknowledgement",
    "master/messages_operation_status_update_acknowledgement",
    "master/messages_resource_request",
    "master/messages_launch_tasks",
    "master/messages_decline_offers",
    "master/messages_revive_offers",
    "master/messages_suppress_offers",
    "master/messages_reconcile_operations",
    "master/messages_reconcile_tasks",
    "master/messages_framework_to_executor",
    "master/messages_executor_to_framework",
    "master/messages_register_slave",
    "master/messages_reregister_slave",
    "master/messages_unregister_slave",
    "master/messages_status_update",
    "master/messages_operation_status_update",
    "master/messages_exited_executor",
    "master/messages_update_slave",
    "master/messages_authenticate",
    "master/valid_framework_to_executor_messages",
    "master/invalid_framework_to_executor_messages",
    "master/valid_executor_to_framework_messages",
    "master/invalid_executor_to_framework_messages",
    "master/valid_status_updates",
    "master/invalid_status_updates",
    "master/valid_status_update_acknowledgements",
    "master/invalid_status_update_acknowledgements",
    "master/valid_operation_status_updates",
    "master/invalid_operation_status_updates",
    "master/valid_operation_status_update_acknowledgements",
    "master/invalid_operation_status_update_acknowledgements",
    "master/recovery_slave_removals",
    "master/slave_registrations",
    "master/slave_reregistrations",
    "master/slave_removals",
    "master/slave_removals/reason_unhealthy",
    "master/slave_removals/reason_unregistered",
    "master/slave_removals/reason_registered",
    "master/slave_shutdowns_scheduled",
    "master/slave_shutdowns_completed",
    "master/slave_shutdowns_canceled",
    "master/slave_unreachable_scheduled",
    "master/slave_unreachable_completed",
    "master/slave_unreachable_canceled",
    "master/tasks_finished",
    "master/tasks_failed",
    "master/tasks_killed",
    "master/tasks_lost",
    "master/tasks_error",
    "master/tasks_dropped",
    "master/tasks_gone",
    "master/tasks_gone_by_operator",
];

/// Offer operations whose states the master counts (LAUNCH and LAUNCH_GROUP have none).
const COUNTED_OPERATIONS: &[OperationType] = &[
    OperationType::Reserve,
    OperationType::Unreserve,
    OperationType::Create,
    OperationType::Destroy,
    OperationType::GrowVolume,
    OperationType::ShrinkVolume,
    OperationType::CreateDisk,
    OperationType::DestroyDisk,
];

/// The states an operation gauge is kept for.
const OPERATION_STATES: &[(OperationState, &str)] = &[
    (OperationState::Pending, "pending"),
    (OperationState::Recovering, "recovering"),
    (OperationState::Unreachable, "unreachable"),
    (OperationState::Finished, "finished"),
    (OperationState::Failed, "failed"),
    (OperationState::Error, "error"),
    (OperationState::Dropped, "dropped"),
    (OperationState::GoneByOperator, "gone_by_operator"),
];

/// A timer: the last duration, and percentiles over the recent ones.
#[derive(Default)]
pub(crate) struct Timer {
    samples: VecDeque<f64>,
}

impl Timer {
    fn record(&mut self, d: Duration) {
        if self.samples.len() == TIMER_WINDOW {
            self.samples.pop_front();
        }
        self.samples.push_back(d.as_nanos() as f64 / 1e6);
    }

    /// `name` (the last value), `name/count`, `/min`, `/max` and `/pNN`, as Mesos writes a
    /// timer; nothing before the first sample.
    fn write(&self, name: &str, out: &mut BTreeMap<String, f64>) {
        let Some(&last) = self.samples.back() else {
            return;
        };
        let mut sorted: Vec<f64> = self.samples.iter().copied().collect();
        sorted.sort_by(f64::total_cmp);
        out.insert(name.to_string(), last);
        out.insert(format!("{name}/count"), sorted.len() as f64);
        out.insert(format!("{name}/min"), sorted[0]);
        out.insert(format!("{name}/max"), sorted[sorted.len() - 1]);
        for (suffix, p) in [
            ("p50", 0.5),
            ("p90", 0.9),
            ("p95", 0.95),
            ("p99", 0.99),
            ("p999", 0.999),
            ("p9999", 0.9999),
        ] {
            out.insert(format!("{name}/{suffix}"), percentile(&sorted, p));
        }
    }
}

/// The `p` percentile of sorted samples, interpolating between the two nearest ranks.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = (sorted.len() - 1) as f64 * p;
    let (lo, hi) = (rank.floor() as usize, rank.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - lo as f64)
}

/// One framework's counters (its gauges are read off the state).
pub(crate) struct FrameworkCounters {
    name: String,
    calls: BTreeMap<CallType, u64>,
    events: BTreeMap<EventType, u64>,
    offers_sent: u64,
    offers_accepted: u64,
    offers_declined: u64,
    offers_rescinded: u64,
    operations: BTreeMap<OperationType, u64>,
    terminal: BTreeMap<TaskState, u64>,
}

/// The master's counters and timers.
pub(crate) struct Metrics {
    started: Instant,
    counters: BTreeMap<String, u64>,
    frameworks: BTreeMap<FrameworkId, FrameworkCounters>,
    /// Calls received from the frameworks of each principal.
    principals: BTreeMap<String, u64>,
    /// Operations with feedback the master still tracks (not yet acknowledged), by type and
    /// state.
    operations: BTreeMap<(OperationType, OperationState), i64>,
    allocation_runs: u64,
    allocation_run: Timer,
    allocation_latency: Timer,
    registry_store: Timer,
    registry_fetch: Duration,
    registry_size: u64,
}

impl Metrics {
    pub(crate) fn new(started: Instant, registry_fetch: Duration) -> Metrics {
        Metrics {
            started,
            counters: BTreeMap::new(),
            frameworks: BTreeMap::new(),
            principals: BTreeMap::new(),
            operations: BTreeMap::new(),
            allocation_runs: 0,
            allocation_run: Timer::default(),
            allocation_latency: Timer::default(),
            registry_store: Timer::default(),
            registry_fetch,
            registry_size: 0,
        }
    }

    /// Adds one to a counter of the master (`master/messages_kill_task`, ...).
    pub(crate) fn inc(&mut self, name: &str) {
        *self.counters.entry(name.to_string()).or_default() += 1;
    }

    fn framework(&mut self, fid: &FrameworkId) -> Option<&mut FrameworkCounters> {
        self.frameworks.get_mut(fid)
    }

    /// A framework registered: its counters start (or, when it comes back after a restart of
    /// the cluster, start again).
    pub(crate) fn framework_added(&mut self, fid: &FrameworkId, name: &str) {
        self.frameworks
            .entry(fid.clone())
            .or_insert_with(|| FrameworkCounters {
                name: name.to_string(),
                calls: BTreeMap::new(),
                events: BTreeMap::new(),
                offers_sent: 0,
                offers_accepted: 0,
                offers_declined: 0,
                offers_rescinded: 0,
                operations: BTreeMap::new(),
                terminal: BTreeMap::new(),
            });
    }

    /// A completed framework the master no longer remembers: its metrics go with it.
    pub(crate) fn forget_framework(&mut self, fid: &FrameworkId) {
        self.frameworks.remove(fid);
    }

    /// A scheduler call of a known framework, from a caller of `principal`.
    pub(crate) fn framework_call(
        &mut self,
        fid: &FrameworkId,
        principal: Option<&str>,
        call: CallType,
    ) {
        if let Some(f) = self.framework(fid) {
            *f.calls.entry(call).or_default() += 1;
        }
        if let Some(p) = principal {
            *self.principals.entry(p.to_string()).or_default() += 1;
        }
        let message = match call {
            CallType::Teardown => "master/messages_unregister_framework",
            CallType::Accept => "master/messages_launch_tasks",
            CallType::Decline => "master/messages_decline_offers",
            CallType::Revive => "master/messages_revive_offers",
            CallType::Suppress => "master/messages_suppress_offers",
            CallType::Kill => "master/messages_kill_task",
            CallType::Acknowledge => "master/messages_status_update_acknowledgement",
            CallType::AcknowledgeOperationStatus => {
                "master/messages_operation_status_update_acknowledgement"
            }
            CallType::Reconcile => "master/messages_reconcile_tasks",
            CallType::ReconcileOperations => "master/messages_reconcile_operations",
            CallType::Message => "master/messages_framework_to_executor",
            CallType::Request => "master/messages_resource_request",
            _ => return,
        };
        self.inc(message);
    }

    /// An event queued on a framework's stream.
    pub(crate) fn framework_event(&mut self, fid: &FrameworkId, event: &scheduler::Event) {
        let Some(f) = self.framework(fid) else {
            return;
        };
        *f.events.entry(event.type_).or_default() += 1;
        match event.type_ {
            EventType::Offers => {
                f.offers_sent += event.offers.as_ref().map_or(0, |o| o.offers.len()) as u64;
            }
            EventType::Rescind => f.offers_rescinded += 1,
            _ => {}
        }
    }

    /// Offers a framework answered: accepted, or declined (an ACCEPT whose operations all
    /// failed still accepted its offers, as in Mesos).
    pub(crate) fn offers_answered(&mut self, fid: &FrameworkId, accepted: bool, count: usize) {
        if let Some(f) = self.framework(fid) {
            if accepted {
                f.offers_accepted += count as u64;
            } else {
                f.offers_declined += count as u64;
            }
        }
    }

    /// An offer operation a framework asked for.
    pub(crate) fn framework_operation(&mut self, fid: &FrameworkId, op: OperationType) {
        if let Some(f) = self.framework(fid) {
            *f.operations.entry(op).or_default() += 1;
        }
    }

    /// A task reached a terminal state in the master's books.
    pub(crate) fn task_terminal(&mut self, fid: &FrameworkId, status: &TaskStatus) {
        let state = status.state;
        self.inc(&format!("master/tasks_{}", state_suffix(state)));
        if let Some(f) = self.framework(fid) {
            *f.terminal.entry(state).or_default() += 1;
        }
        // Mesos counts terminal updates by source and reason when they have both.
        if let (Some(source), Some(reason)) = (status.source, status.reason) {
            self.inc(&format!(
                "master/{}/{}/{}",
                state.as_str().to_ascii_lowercase(),
                source.as_str().to_ascii_lowercase(),
                reason.as_str().to_ascii_lowercase()
            ));
        }
    }

    /// An operation with feedback entered (`delta` 1) or left (-1) a state.
    pub(crate) fn operation_state(&mut self, op: OperationType, state: OperationState, delta: i64) {
        *self.operations.entry((op, state)).or_default() += delta;
    }

    /// One allocation pass: how long it took and how late after it was due it ran.
    pub(crate) fn allocation(&mut self, ran: Duration, late: Duration) {
        self.allocation_runs += 1;
        self.allocation_run.record(ran);
        self.allocation_latency.record(late);
    }

    /// `master.json` (the master's registry) was written.
    pub(crate) fn registry_stored(&mut self, took: Duration, size: u64) {
        self.registry_store.record(took);
        self.registry_size = size;
    }
}

/// `TASK_KILLED` → `killed`, as Mesos names its task counters.
fn state_suffix(state: TaskState) -> String {
    let name = state.as_str().to_ascii_lowercase();
    name.strip_prefix("task_").unwrap_or(&name).to_string()
}

/// Percent-encodes a framework's name for its metric keys, as Mesos does (every byte but
/// letters, digits and `-._~`), so that a `/` or a space cannot split the key.
fn encode(name: &str) -> String {
    let mut out = String::new();
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// What the machine says of itself (`system/*`), from `/proc` and `/sys`.
fn system(out: &mut BTreeMap<String, f64>) {
    let read = |path: &str| std::fs::read_to_string(path).ok();
    // CPUs online: `0-3,6` lists them.
    let cpus = read("/sys/devices/system/cpu/online").map(|text| {
        text.trim()
            .split(',')
            .filter_map(|part| match part.split_once('-') {
                Some((a, b)) => Some(b.parse::<u64>().ok()? - a.parse::<u64>().ok()? + 1),
                None => part.parse::<u64>().ok().map(|_| 1),
            })
            .sum::<u64>()
    });
    if let Some(n) = cpus.filter(|n| *n > 0) {
        out.insert("system/cpus_total".into(), n as f64);
    }
    if let Some(text) = read("/proc/loadavg") {
        let loads: Vec<f64> = text
            .split_whitespace()
            .take(3)
            .filter_map(|v| v.parse().ok())
            .collect();
        if let [one, five, fifteen] = loads[..] {
            out.insert("system/load_1min".into(), one);
            out.insert("system/load_5min".into(), five);
            out.insert("system/load_15min".into(), fifteen);
        }
    }
    if let Some(text) = read("/proc/meminfo") {
        let field = |name: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|rest| {
                    rest.trim()
                        .trim_end_matches("kB")
                        .trim()
                        .parse::<f64>()
                        .ok()
                })
                .map(|kb| kb * 1024.0)
        };
        if let Some(total) = field("MemTotal:") {
            out.insert("system/mem_total_bytes".into(), total);
        }
        if let Some(free) = field("MemFree:") {
            out.insert("system/mem_free_bytes".into(), free);
        }
    }
}

/// Changes waiting for the state's lock when a snapshot is taken, by where they came from.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Queue {
    /// HTTP requests (scheduler calls, operator calls, reads).
    pub http_requests: usize,
    /// Everything else: the clock, executor processes, stream closings.
    pub dispatches: usize,
}

impl ClusterState {
    /// Every metric, by Mesos' name.
    pub(crate) fn metrics_snapshot(&self, now: Now, queue: Queue) -> BTreeMap<String, f64> {
        let m = &self.master.metrics;
        let mut out: BTreeMap<String, f64> = BTreeMap::new();
        for name in COUNTERS {
            out.insert((*name).to_string(), 0.0);
        }
        for (name, n) in &m.counters {
            out.insert(name.clone(), *n as f64);
        }
        out.insert(
            "master/uptime_secs".into(),
            now.instant.duration_since(m.started).as_secs_f64(),
        );
        out.insert("master/elected".into(), 1.0);
        // The master has no message queue (agents are its own, in-process); its changes wait
        // for one lock, which is its queue.
        out.insert("master/event_queue_messages".into(), 0.0);
        out.insert(
            "master/event_queue_dispatches".into(),
            queue.dispatches as f64,
        );
        out.insert(
            "master/event_queue_http_requests".into(),
            queue.http_requests as f64,
        );
        out.insert(
            "master/operator_event_stream_subscribers".into(),
            self.master.subscribers.len() as f64,
        );
        out.insert(
            "master/outstanding_offers".into(),
            self.master.offers.len() as f64,
        );
        self.agent_gauges(&mut out);
        self.framework_gauges(&mut out);
        self.task_gauges(&mut out);
        self.operation_gauges(&mut out);
        self.allocator_metrics(&mut out);
        for (principal, n) in &m.principals {
            if self
                .master
                .frameworks
                .values()
                .any(|f| f.info.principal.as_deref() == Some(principal))
            {
                let prefix = format!("frameworks/{}", encode(principal));
                out.insert(format!("{prefix}/messages_received"), *n as f64);
                out.insert(format!("{prefix}/messages_processed"), *n as f64);
            }
        }
        self.per_framework(&mut out);
        // The registry is `master.json`, written synchronously under the lock: nothing queues.
        out.insert("registrar/queued_operations".into(), 0.0);
        out.insert(
            "registrar/registry_size_bytes".into(),
            m.registry_size as f64,
        );
        out.insert(
            "registrar/state_fetch_ms".into(),
            m.registry_fetch.as_nanos() as f64 / 1e6,
        );
        m.registry_store.write("registrar/state_store_ms", &mut out);
        system(&mut out);
        out
    }

    /// Agents the master counts as registered: running ones and those stopped but not yet
    /// unreachable (Mesos keeps a disconnected agent registered until it is unreachable).
    fn registered_agents(&self) -> impl Iterator<Item = (usize, &super::AgentSlot)> {
        self.agents
            .iter()
            .enumerate()
            .filter(|(_, a)| a.status != AgentStatus::Gone && !a.unreachable)
    }

    fn agent_gauges(&self, out: &mut BTreeMap<String, f64>) {
        let running = self
            .agents
            .iter()
            .filter(|a| a.status == AgentStatus::Running)
            .count() as f64;
        let disconnected = self
            .agents
            .iter()
            .filter(|a| a.status == AgentStatus::Stopped && !a.unreachable)
            .count() as f64;
        let unreachable = self
            .agents
            .iter()
            .filter(|a| a.status == AgentStatus::Stopped && a.unreachable)
            .count() as f64;
        out.insert("master/slaves_connected".into(), running);
        out.insert("master/slaves_active".into(), running);
        out.insert("master/slaves_disconnected".into(), disconnected);
        out.insert("master/slaves_inactive".into(), disconnected);
        out.insert("master/slaves_unreachable".into(), unreachable);
        let mut total = Resources::new();
        let mut used = Resources::new();
        for (i, a) in self.registered_agents() {
            total.add_all(a.total.iter());
            used.add_all(self.used(i).iter());
        }
        for name in ["cpus", "gpus", "mem", "disk"] {
            let (t, u) = (total.scalar(name), used.scalar(name));
            out.insert(format!("master/{name}_total"), t);
            out.insert(format!("master/{name}_used"), u);
            out.insert(
                format!("master/{name}_percent"),
                if t > 0.0 { u / t } else { 0.0 },
            );
            // cairn has no revocable resources.
            for suffix in ["total", "used", "percent"] {
                out.insert(format!("master/{name}_revocable_{suffix}"), 0.0);
            }
        }
    }

    fn framework_gauges(&self, out: &mut BTreeMap<String, f64>) {
        let connected = self
            .master
            .frameworks
            .values()
            .filter(|f| f.stream.is_some())
            .count() as f64;
        let disconnected = self.master.frameworks.len() as f64 - connected;
        // A disconnected framework is deactivated (it gets no offers), as in Mesos.
        out.insert("master/frameworks_connected".into(), connected);
        out.insert("master/frameworks_active".into(), connected);
        out.insert("master/frameworks_disconnected".into(), disconnected);
        out.insert("master/frameworks_inactive".into(), disconnected);
    }

    fn task_gauges(&self, out: &mut BTreeMap<String, f64>) {
        let mut counts: BTreeMap<&str, f64> = BTreeMap::new();
        for name in ["staging", "starting", "running", "killing", "unreachable"] {
            counts.insert(name, 0.0);
        }
        for fw in self.master.frameworks.values() {
            for t in fw.tasks.values() {
                let key = match (t.unreachable_time.is_some(), t.state) {
                    (true, s) if !s.is_terminal() => "unreachable",
                    (_, TaskState::Staging) => "staging",
                    (_, TaskState::Starting) => "starting",
                    (_, TaskState::Running) => "running",
                    (_, TaskState::Killing) => "killing",
                    _ => continue,
                };
                *counts.entry(key).or_default() += 1.0;
            }
        }
        for (name, n) in counts {
            out.insert(format!("master/tasks_{name}"), n);
        }
    }

    fn operation_gauges(&self, out: &mut BTreeMap<String, f64>) {
        let m = &self.master.metrics;
        let mut all: BTreeMap<&str, i64> = BTreeMap::new();
        for op in COUNTED_OPERATIONS {
            let prefix = format!("master/operations/{}", op.as_str().to_ascii_lowercase());
            let mut total = 0;
            for (state, name) in OPERATION_STATES {
                let n = m.operations.get(&(*op, *state)).copied().unwrap_or(0);
                total += n;
                *all.entry(name).or_default() += n;
                out.insert(format!("{prefix}/{name}"), n as f64);
            }
            out.insert(format!("{prefix}/total"), total as f64);
        }
        let mut total = 0;
        for (_, name) in OPERATION_STATES {
            let n = all.get(name).copied().unwrap_or(0);
            total += n;
            out.insert(format!("master/operations/{name}"), n as f64);
        }
        out.insert("master/operations/total".into(), total as f64);
    }

    /// The allocator's metrics, as Mesos' hierarchical allocator names them; cairn's allocator
    /// is its own (round-robin over frameworks and roles), but what they measure it has too.
    fn allocator_metrics(&self, out: &mut BTreeMap<String, f64>) {
        let m = &self.master.metrics;
        // The allocator runs under the master's lock: it has no queue of its own.
        out.insert("allocator/event_queue_dispatches".into(), 0.0);
        out.insert("allocator/mesos/event_queue_dispatches".into(), 0.0);
        out.insert(
            "allocator/mesos/allocation_runs".into(),
            m.allocation_runs as f64,
        );
        m.allocation_run
            .write("allocator/mesos/allocation_run_ms", out);
        m.allocation_latency
            .write("allocator/mesos/allocation_run_latency_ms", out);

        let mut total = Resources::new();
        let mut taken = Resources::new();
        for (i, a) in self.registered_agents() {
            total.add_all(a.total.iter());
            taken.add_all(self.used(i).iter());
        }
        for o in self.master.offers.values() {
            taken.add_all(
                o.resources
                    .iter()
                    .map(super::strip)
                    .collect::<Vec<_>>()
                    .iter(),
            );
        }
        for name in scalar_names(total.iter()) {
            out.insert(
                format!("allocator/mesos/resources/{name}/total"),
                total.scalar(&name),
            );
            out.insert(
                format!("allocator/mesos/resources/{name}/offered_or_allocated"),
                taken.scalar(&name),
            );
        }

        // What each role holds: reserved to it, and unreserved resources its frameworks use or
        // are offered (a role's holdings count toward its ancestors too, and toward the root
        // of the role tree, the role named "").
        let mut reserved: BTreeMap<String, Resources> = BTreeMap::new();
        let mut allocated: BTreeMap<String, Resources> = BTreeMap::new();
        for (i, a) in self.registered_agents() {
            for r in a.total.iter() {
                if let Some(role) = r.reservation_role() {
                    reserved.entry(role.to_string()).or_default().add(r);
                }
            }
            for (role, r) in self.used_by_role(i) {
                allocated.entry(role).or_default().add(&r);
            }
        }
        let mut offered: BTreeMap<String, Resources> = BTreeMap::new();
        for o in self.master.offers.values() {
            let stripped: Vec<Resource> = o.resources.iter().map(super::strip).collect();
            offered
                .entry(o.role.clone())
                .or_default()
                .add_all(stripped.iter());
        }
        let mut roles: BTreeSet<String> = BTreeSet::new();
        for fw in self.master.frameworks.values() {
            roles.extend(fw.info.effective_roles());
        }
        roles.extend(reserved.keys().cloned());
        let mut tree: BTreeSet<String> = BTreeSet::from([String::new()]);
        for role in &roles {
            let mut at = role.as_str();
            tree.insert(at.to_string());
            while let Some((parent, _)) = at.rsplit_once('/') {
                tree.insert(parent.to_string());
                at = parent;
            }
        }
        let within = |role: &str, of: &str| {
            of.is_empty() || role == of || role.starts_with(&format!("{of}/"))
        };
        for node in &tree {
            let mut consumed = Resources::new();
            for (role, r) in &reserved {
                if within(role, node) {
                    consumed.add_all(r.iter());
                }
            }
            for (role, r) in &allocated {
                if within(role, node) {
                    consumed.add_all(r.iter().filter(|x| x.is_unreserved()));
                }
            }
            for name in scalar_names(consumed.iter()) {
                out.insert(
                    format!("allocator/mesos/quota/roles/{node}/resources/{name}/consumed"),
                    consumed.scalar(&name),
                );
            }
        }
        for fw in self.master.frameworks.values() {
            for role in fw.info.effective_roles() {
                let filters = self
                    .master
                    .frameworks
                    .values()
                    .map(|f| f.filters.iter().filter(|x| x.role == role).count())
                    .sum::<usize>();
                out.insert(
                    format!("allocator/mesos/offer_filters/roles/{role}/active"),
                    filters as f64,
                );
                // The dominant share: of each kind the cluster has, the fraction the role's
                // frameworks use or are offered; the largest.
                let mut held = Resources::new();
                if let Some(r) = allocated.get(&role) {
                    held.add_all(r.iter());
                }
                if let Some(r) = offered.get(&role) {
                    held.add_all(r.iter());
                }
                let share = scalar_names(total.iter())
                    .iter()
                    .filter(|n| total.scalar(n) > 0.0)
                    .map(|n| held.scalar(n) / total.scalar(n))
                    .fold(0.0, f64::max);
                out.insert(
                    format!("allocator/mesos/roles/{role}/shares/dominant"),
                    share,
                );
            }
        }
    }

    /// What an agent's tasks and executors hold, by the role they were allocated to.
    fn used_by_role(&self, agent: usize) -> Vec<(String, Resource)> {
        let mut out = Vec::new();
        let mut add = |r: &Resource| {
            let role = r
                .allocation_role()
                .or_else(|| r.reservation_role())
                .unwrap_or("*")
                .to_string();
            out.push((role, super::strip(r)));
        };
        if let Some(rt) = &self.agents[agent].runtime {
            for e in rt.executors.values() {
                for r in e.used_resources() {
                    add(r);
                }
            }
        } else {
            for fw in self.master.frameworks.values() {
                for t in fw.tasks.values() {
                    if t.agent == agent && !t.state.is_terminal() {
                        for r in &t.info.resources {
                            add(r);
                        }
                    }
                }
            }
        }
        out
    }

    /// `master/frameworks/<name>/<id>/...`, for registered and completed frameworks alike (as
    /// long as the master remembers them).
    fn per_framework(&self, out: &mut BTreeMap<String, f64>) {
        let m = &self.master.metrics;
        for (fid, counters) in &m.frameworks {
            let live = self.master.frameworks.get(fid);
            let roles = match live {
                Some(fw) => fw.info.effective_roles(),
                None => self
                    .master
                    .completed
                    .iter()
                    .find(|c| &c.id == fid)
                    .map(|c| c.info.effective_roles())
                    .unwrap_or_default(),
            };
            let prefix = format!("master/frameworks/{}/{}", encode(&counters.name), fid.value);
            let subscribed = live.is_some_and(|f| f.stream.is_some());
            out.insert(
                format!("{prefix}/subscribed"),
                if subscribed { 1.0 } else { 0.0 },
            );
            for role in roles {
                let suppressed = live.is_some_and(|f| f.suppressed.contains(&role));
                out.insert(
                    format!("{prefix}/roles/{role}/suppressed"),
                    if suppressed { 1.0 } else { 0.0 },
                );
            }
            let calls: u64 = counters.calls.values().sum();
            out.insert(format!("{prefix}/calls"), calls as f64);
            for call in CallType::ALL {
                let n = counters.calls.get(call).copied().unwrap_or(0);
                out.insert(
                    format!("{prefix}/calls/{}", call.as_str().to_ascii_lowercase()),
                    n as f64,
                );
            }
            let events: u64 = counters.events.values().sum();
            out.insert(format!("{prefix}/events"), events as f64);
            for event in EventType::ALL {
                let n = counters.events.get(event).copied().unwrap_or(0);
                out.insert(
                    format!("{prefix}/events/{}", event.as_str().to_ascii_lowercase()),
                    n as f64,
                );
            }
            out.insert(format!("{prefix}/offers/sent"), counters.offers_sent as f64);
            out.insert(
                format!("{prefix}/offers/accepted"),
                counters.offers_accepted as f64,
            );
            out.insert(
                format!("{prefix}/offers/declined"),
                counters.offers_declined as f64,
            );
            out.insert(
                format!("{prefix}/offers/rescinded"),
                counters.offers_rescinded as f64,
            );
            let operations: u64 = counters.operations.values().sum();
            out.insert(format!("{prefix}/operations"), operations as f64);
            for op in OperationType::ALL {
                let n = counters.operations.get(op).copied().unwrap_or(0);
                out.insert(
                    format!("{prefix}/operations/{}", op.as_str().to_ascii_lowercase()),
                    n as f64,
                );
            }
            let mut active: BTreeMap<TaskState, f64> = [
                TaskState::Staging,
                TaskState::Starting,
                TaskState::Running,
                TaskState::Killing,
                TaskState::Unreachable,
                TaskState::Unknown,
            ]
            .into_iter()
            .map(|s| (s, 0.0))
            .collect();
            for t in live.iter().flat_map(|f| f.tasks.values()) {
                let state = if t.unreachable_time.is_some() && !t.state.is_terminal() {
                    TaskState::Unreachable
                } else {
                    t.state
                };
                if let Some(n) = active.get_mut(&state) {
                    *n += 1.0;
                }
            }
            for (state, n) in active {
                out.insert(
                    format!(
                        "{prefix}/tasks/active/{}",
                        state.as_str().to_ascii_lowercase()
                    ),
                    n,
                );
            }
            for state in TaskState::ALL.iter().filter(|s| s.is_terminal()) {
                let n = counters.terminal.get(state).copied().unwrap_or(0);
                out.insert(
                    format!(
                        "{prefix}/tasks/terminal/{}",
                        state.as_str().to_ascii_lowercase()
                    ),
                    n as f64,
                );
            }
        }
    }
}

/// The names of scalar resources among `resources`, each once.
fn scalar_names<'a>(resources: impl Iterator<Item = &'a Resource>) -> Vec<String> {
    let names: BTreeSet<String> = resources
        .filter(|r| r.type_ == cairn_proto::ValueType::Scalar)
        .map(|r| r.name.clone())
        .collect();
    names.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_interpolate_between_the_nearest_ranks() {
        let sorted = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(percentile(&sorted, 0.5), 2.5);
        assert_eq!(percentile(&sorted, 0.0), 1.0);
        assert_eq!(percentile(&sorted, 1.0), 4.0);
        assert_eq!(percentile(&[7.0], 0.99), 7.0);
    }

    #[test]
    fn a_timer_writes_nothing_before_its_first_sample_and_keeps_a_bounded_window() {
        let mut t = Timer::default();
        let mut out = BTreeMap::new();
        t.write("x_ms", &mut out);
        assert!(out.is_empty());
        for i in 0..(TIMER_WINDOW + 10) {
            t.record(Duration::from_millis(i as u64));
        }
        t.write("x_ms", &mut out);
        assert_eq!(out["x_ms/count"], TIMER_WINDOW as f64);
        assert_eq!(out["x_ms/min"], 10.0);
        assert_eq!(out["x_ms"], (TIMER_WINDOW + 9) as f64);
    }

    #[test]
    fn framework_names_are_percent_encoded_in_metric_keys() {
        assert_eq!(encode("my service/a"), "my%20service%2Fa");
        assert_eq!(encode("kv-store_1.0~x"), "kv-store_1.0~x");
    }
}
