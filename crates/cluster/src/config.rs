//! How a cluster is laid out and how fast its clocks tick.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use cairn_proto::Resources;

/// Everything `cairn cluster` can be told. [`ClusterConfig::new`] gives Mesos' defaults.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// Where the master serves HTTP (`127.0.0.1:5050`; port 0 picks a free one).
    pub listen: SocketAddr,
    /// How many agents a fresh cluster gets.
    pub agents: usize,
    /// Where the master and the agents keep their checkpoints, sandboxes and volumes.
    pub work_dir: PathBuf,
    /// What each agent offers, in Mesos' flag syntax (`cpus:4;mem:8192;...`).
    pub agent_resources: Resources,
    /// Attributes for each agent (`rack:r{i}` gets the agent's index for `{i}`).
    pub agent_attributes: String,
    /// MOUNT disks per agent: (count, size in MB each).
    pub agent_mount_disks: (usize, u64),
    /// The first agent's loopback address; agent `i` gets this plus `i`. Giving every agent its
    /// own address is what makes `hostname:UNIQUE` placement and advertised endpoints work.
    pub agent_ip_start: Ipv4Addr,
    /// How often resources are offered (Mesos `--allocation_interval`, 1 s).
    pub allocation_interval: Duration,
    /// Heartbeat period on scheduler streams (Mesos: 15 s).
    pub heartbeat_interval: Duration,
    /// How long a stopped agent stays "disconnected" before it is unreachable (Mesos: 15 s × 5).
    pub agent_ping_timeout: Duration,
    /// First retry of an unacknowledged status update (Mesos: 10 s); doubles up to the max.
    pub status_update_retry_min: Duration,
    /// Longest interval between retries of an unacknowledged status update (Mesos: 10 min).
    pub status_update_retry_max: Duration,
    /// How long a recovering agent waits for its executors to re-subscribe.
    pub executor_reregister_timeout: Duration,
    /// How long an executor that lost its agent keeps its tasks before giving up.
    pub executor_recovery_timeout: Duration,
    /// How long a launched executor may take to subscribe before its tasks fail.
    pub executor_registration_timeout: Duration,
    /// The program run as each pod's executor, and its arguments (`cairn executor`).
    pub executor_command: (PathBuf, Vec<String>),
}

impl ClusterConfig {
    /// Mesos' defaults, `agents` agents with `cpus:4;mem:8192;disk:40000;ports:[31000-32000]`,
    /// and the current executable as the executor program.
    pub fn new(work_dir: impl Into<PathBuf>) -> Self {
        let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("cairn"));
        ClusterConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 5050)),
            agents: 3,
            work_dir: work_dir.into(),
            agent_resources: Resources::parse(DEFAULT_AGENT_RESOURCES)
                .expect("the default agent resources parse"),
            agent_attributes: String::new(),
            agent_mount_disks: (0, 0),
            agent_ip_start: Ipv4Addr::new(127, 0, 0, 2),
            allocation_interval: Duration::from_secs(1),
            heartbeat_interval: Duration::from_secs(15),
            agent_ping_timeout: Duration::from_secs(75),
            status_update_retry_min: Duration::from_secs(10),
            status_update_retry_max: Duration::from_secs(600),
            executor_reregister_timeout: Duration::from_secs(5),
            executor_recovery_timeout: Duration::from_secs(15 * 60),
            executor_registration_timeout: Duration::from_secs(60),
            executor_command: (exe, vec!["executor".to_string()]),
        }
    }
}

/// What an agent offers when nothing else is said.
pub const DEFAULT_AGENT_RESOURCES: &str = "cpus:4;mem:8192;disk:40000;ports:[31000-32000]";

/// Formats a duration the way Mesos' flags and environment variables spell one.
pub(crate) fn mesos_duration(d: Duration) -> String {
    format!("{}ms", d.as_millis())
}
