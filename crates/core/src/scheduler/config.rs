//! The scheduler's own settings: plain values, built at the edge (CLI flags, environment) and
//! passed in. Nothing here is read from the process.

use std::time::Duration;

use crate::recovery::{BackoffPolicy, ReplacementPolicy};

/// Tunables of the scheduler state machine. `Default` gives dcos-commons' proven values where
/// they exist.
#[derive(Debug, Clone, PartialEq)]
pub struct SchedulerConfig {
    /// Seconds the master keeps the framework's tasks while the scheduler is away (2 weeks).
    pub failover_timeout_secs: f64,
    /// CPUs reserved per pod instance for cairn's executor.
    pub executor_cpus: f64,
    /// Memory (MB) reserved per pod instance for the executor.
    pub executor_mem_mb: f64,
    /// Disk (MB) reserved per pod instance for the executor's sandbox. Mesos refuses a
    /// LAUNCH_GROUP whose executor uses no disk.
    pub executor_disk_mb: f64,
    /// `refuse_seconds` for offers nobody needs: they come back after a REVIVE anyway.
    pub long_decline_secs: f64,
    /// `refuse_seconds` for offers that did not fit a step that is waiting: another may soon.
    pub short_decline_secs: f64,
    /// The most pod instances launched from one offer in one cycle, so one ACCEPT carries at
    /// most this many (three operations each on a first launch). A Mesos master handles an
    /// ACCEPT as one step and answers nothing else meanwhile; the rest of the offer is
    /// accepted with no refuse filter and comes back at the master's next allocation.
    pub max_pods_per_offer: usize,
    /// At most one REVIVE per this interval (a storm of revives makes the allocator thrash).
    pub revive_min_interval: Duration,
    /// How many offer decision records are kept for the API.
    pub decision_history: usize,
    /// Seeds ranking tie-breaks and the id source: the same seed and inputs, the same run.
    pub seed: u64,
    /// Hostname the framework reports to the master.
    pub hostname: Option<String>,
    /// When a failed pod is replaced elsewhere (the recovery policy may adjust it). The spec's
    /// `replacement-failure-policy`, when it has one, is used instead unless
    /// `replacement_from_operator` says an operator chose this one.
    pub replacement: ReplacementPolicy,
    /// `replacement` was given by the operator (`--permanent-failure-timeout`), and wins over
    /// the spec's policy.
    pub replacement_from_operator: bool,
    /// Crash-loop backoff of relaunches.
    pub backoff: BackoffPolicy,
    /// Start in uninstall mode (`cairn uninstall`): persists `Properties/uninstalling` first,
    /// after which every later start continues the uninstall whatever this says.
    pub uninstall: bool,
    /// How long an uninstall waits for agents that hold reservations but make no offers (a
    /// stopped agent) before giving up on them; `None` waits until an operator forces them
    /// (`Command::ForceCompleteUninstall`) or the master declares them gone.
    pub uninstall_agent_timeout: Option<Duration>,
    /// What the operator decided about a framework the store lost or the master tore down,
    /// for this start (see `Scheduler::handle_master_state`). Never persisted.
    pub takeover: TakeoverChoice,
    /// Where tasks reach the scheduler's API, whose artifact routes serve the config
    /// templates and the renderer (`bootstrap`) a task with `configs` fetches. `None`: no API,
    /// and a task's configs cannot be served (the SDK refuses to start such a service).
    pub api: Option<ApiEndpoint>,
    /// The domain under which a service's tasks are named: `FRAMEWORK_HOST` is
    /// `<service>.<service_tld>`. Default [`DEFAULT_SERVICE_TLD`].
    pub service_tld: String,
    /// The scheduler's own `TASKCFG_ALL_*` and `TASKCFG_<POD>_*` settings (the SDK reads them
    /// from the scheduler's environment), routed into the tasks of every spec the scheduler
    /// takes: the one it starts with and each one an update hands it
    /// ([`crate::spec::route_task_env`]). Other variables are ignored. Default: none.
    pub taskcfg: std::collections::BTreeMap<String, String>,
}

/// The default of [`SchedulerConfig::service_tld`]: Mesos-DNS's domain, under which it names
/// each task `<task>.<framework>.mesos`, so `<TASK_NAME>.<FRAMEWORK_HOST>` resolves on a
/// cluster that runs Mesos-DNS.
pub const DEFAULT_SERVICE_TLD: &str = "mesos";

/// The scheduler's API as the agents' fetchers reach it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiEndpoint {
    /// The host agents reach the API at (the API's own address on one machine; an advertised
    /// name on a real cluster).
    pub host: String,
    /// The API's port.
    pub port: u16,
    /// The unguessable key in every artifact route's path: the fetchers carry no token.
    pub artifact_key: String,
    /// Names the renderer's build in its URL (`.../bootstrap/<id>/bootstrap`): fetchers cache
    /// it by URL, so a new scheduler binary must be a new URL.
    pub bootstrap_id: String,
}

impl ApiEndpoint {
    /// `http://host:port/v1/artifacts/<key>`, under which artifacts are served.
    pub fn artifact_base(&self) -> String {
        let host = if self.host.contains(':') && !self.host.starts_with('[') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        format!(
            "http://{host}:{}/v1/artifacts/{}",
            self.port, self.artifact_key
        )
    }
}

/// The operator's answer to a takeover check that stopped an earlier start.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum TakeoverChoice {
    /// Act only on a state the master confirms (the default).
    #[default]
    Check,
    /// Take over this framework of the service, whose id the store lost (`--adopt-framework`).
    Adopt(String),
    /// Start anyway (`--force`): register a new framework when the stored one is gone or
    /// unknown, and release the reservations the store does not know.
    Force,
}

/// The default of [`SchedulerConfig::max_pods_per_offer`], measured on real Mesos 1.12 (README,
/// "Benchmarks"): an ACCEPT of 32 pods holds a master 0.5–1.4 s on a fresh agent, of 333 pods
/// 85 s; fewer would add an allocation interval per few pods on `cairn cluster` for little.
pub const DEFAULT_MAX_PODS_PER_OFFER: usize = 32;

impl Default for SchedulerConfig {
    fn default() -> Self {
        Self {
            failover_timeout_secs: 1_209_600.0,
            executor_cpus: 0.05,
            executor_mem_mb: 32.0,
            executor_disk_mb: 32.0,
            long_decline_secs: 3600.0,
            short_decline_secs: 5.0,
            max_pods_per_offer: DEFAULT_MAX_PODS_PER_OFFER,
            // One revive per allocation interval of a Mesos master (1 s) is the most that can
            // help; dcos-commons' 5 s made a crashed pod whose backoff ended just after a revive
            // wait up to 5 s for its relaunch (measured: a 5 s floor on kill -> RUNNING).
            revive_min_interval: Duration::from_secs(1),
            decision_history: 256,
            seed: 0,
            hostname: None,
            replacement: ReplacementPolicy::default(),
            replacement_from_operator: false,
            backoff: BackoffPolicy::default(),
            uninstall: false,
            uninstall_agent_timeout: None,
            takeover: TakeoverChoice::Check,
            api: None,
            service_tld: DEFAULT_SERVICE_TLD.to_string(),
            taskcfg: Default::default(),
        }
    }
}
