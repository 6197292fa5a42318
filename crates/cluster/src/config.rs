//! How a cluster is laid out and how fast its clocks tick.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use cairn_proto::Resources;

use crate::serve::RequestLimits;

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
    /// What some agents offer besides `agent_resources`, by agent index: GPUs on one agent,
    /// or resources statically reserved to a role (`cpus(slave_public):1;...`). Like
    /// `agent_resources`, read when an agent is made; a recovered agent keeps what it had.
    pub agent_extra_resources: std::collections::BTreeMap<usize, Resources>,
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
    /// How long an offer may go unanswered before it is rescinded and its resources offered
    /// again (Mesos `--offer_timeout`); `None` keeps offers until they are answered.
    pub offer_timeout: Option<Duration>,
    /// How many bytes of events a stream (a framework's SUBSCRIBE, an executor's) may hold
    /// unread before its reader is taken for gone and its connection closed.
    pub max_stream_backlog: usize,
    /// Header and body timeouts and the connection cap of the master's and agents' servers.
    pub request_limits: RequestLimits,
    /// The users frameworks may run tasks as (`--allowed-users`); `None`: any user of the
    /// machine except root. (Mesos leaves this to its authorizer's `run_tasks` rules.)
    pub allowed_users: Option<Vec<String>>,
    /// Whether tasks may run as root (`--allow-root`). Off: a cluster that runs as root runs
    /// tasks as root only when its operator chose it.
    pub allow_root: bool,
    /// How frameworks prove who they are to the master.
    pub framework_auth: FrameworkAuth,
    /// How many bytes each user's fetcher cache may hold on each agent (Mesos
    /// `--fetcher_cache_size`, 2 GB): past it, the least recently used URIs are evicted.
    pub fetcher_cache_size: u64,
    /// The domain tasks are named under, `<task>.<framework>.<domain>` (`--dns-domain`, Mesos-DNS'
    /// `mesos` by default): the master's hosts file lists every placed task under it. It must be
    /// the domain the schedulers name their tasks under (cairn's `--service-tld`).
    pub dns_domain: String,
}

/// How frameworks authenticate to the master (Mesos' `--authenticate_frameworks` and
/// `--credentials`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameworkAuth {
    /// HTTP Basic against `<work-dir>/credentials`, which is created (0600) when missing, with
    /// a credential for [`DEFAULT_PRINCIPAL`](crate::auth::DEFAULT_PRINCIPAL). The default.
    Generated,
    /// HTTP Basic against this credentials file, which the cluster only reads.
    File(PathBuf),
    /// None: any caller may subscribe as any principal. For trying a framework that cannot
    /// send credentials; the operator's and executors' credentials are still required.
    Off,
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
            agent_extra_resources: Default::default(),
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
            offer_timeout: Some(DEFAULT_OFFER_TIMEOUT),
            max_stream_backlog: DEFAULT_STREAM_BACKLOG,
            request_limits: RequestLimits::default(),
            allowed_users: None,
            allow_root: false,
            framework_auth: FrameworkAuth::Generated,
            fetcher_cache_size: DEFAULT_FETCHER_CACHE_SIZE,
            dns_domain: DEFAULT_DNS_DOMAIN.to_string(),
        }
    }

    /// What a refusal of root says to do about it.
    pub const ROOT_REFUSAL: &'static str =
        "tasks run as root only on a cluster started with --allow-root";

    /// Why tasks may not run as `user` on this cluster, or `None` when they may.
    pub fn refuse_user(&self, user: &str) -> Option<String> {
        if user == "root" {
            return (!self.allow_root).then(|| Self::ROOT_REFUSAL.to_string());
        }
        match &self.allowed_users {
            Some(users) if !users.iter().any(|u| u == user) => Some(format!(
                "the cluster allows only the users of --allowed-users ({})",
                users.join(",")
            )),
            _ => None,
        }
    }

    /// The framework credentials file the master checks, if frameworks authenticate.
    pub fn credentials_path(&self) -> Option<PathBuf> {
        match &self.framework_auth {
            FrameworkAuth::Generated => Some(self.work_dir.join(crate::auth::CREDENTIALS_FILE)),
            FrameworkAuth::File(path) => Some(path.clone()),
            FrameworkAuth::Off => None,
        }
    }

    /// The file holding the operator's token.
    pub fn operator_token_path(&self) -> PathBuf {
        self.work_dir.join(crate::auth::OPERATOR_TOKEN_FILE)
    }
}

/// How long an offer stays with a framework that does not answer it. Mesos keeps offers
/// forever by default; one framework that holds them then starves every other. A minute is
/// far longer than any scheduler needs to answer (cairn's answers each offer as it arrives).
pub const DEFAULT_OFFER_TIMEOUT: Duration = Duration::from_secs(60);

/// Unread events one stream may hold. A thousand-pod deploy's status updates fit many times
/// over; a client that stops reading costs the master at most this much.
pub const DEFAULT_STREAM_BACKLOG: usize = 16 * 1024 * 1024;

/// Mesos-DNS's default domain.
pub const DEFAULT_DNS_DOMAIN: &str = "mesos";

/// Mesos' `--fetcher_cache_size` default: 2 GB.
pub const DEFAULT_FETCHER_CACHE_SIZE: u64 = 2 * 1024 * 1024 * 1024;

/// Parses a size as Mesos' flags spell one: a whole number of `B`, `KB`, `MB`, `GB` or `TB`
/// (powers of 1024), or a bare number of bytes.
pub fn parse_bytes(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: u64 = number
        .parse()
        .map_err(|_| format!("`{text}` does not start with a whole number"))?;
    let unit = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 1,
        "KB" => 1 << 10,
        "MB" => 1 << 20,
        "GB" => 1 << 30,
        "TB" => 1 << 40,
        other => return Err(format!("unknown size unit `{other}` (B, KB, MB, GB or TB)")),
    };
    value
        .checked_mul(unit)
        .ok_or_else(|| format!("`{text}` is too large"))
}

/// Reads `--agent-extra-resources INDEX=RESOURCES` entries (`1=gpus:2`,
/// `0=cpus(slave_public):1;mem(slave_public):512`) for a cluster of `agents` agents, each
/// checked: an index of an agent the cluster has, resources in Mesos' syntax
/// ([`Resources::parse`]) with whole GPUs, one entry per agent. Shared by every command that
/// starts an embedded cluster (`cairn cluster`, `cairn run`, a service's `cairn::run`). The
/// error names the entry.
pub fn parse_agent_extra_resources(
    entries: &[String],
    agents: usize,
) -> Result<std::collections::BTreeMap<usize, Resources>, String> {
    let mut out = std::collections::BTreeMap::new();
    for entry in entries {
        let flag = format!("--agent-extra-resources '{entry}'");
        let (index, text) = entry
            .split_once('=')
            .ok_or_else(|| format!("{flag}: expected INDEX=RESOURCES"))?;
        let index: usize = index
            .trim()
            .parse()
            .map_err(|_| format!("{flag}: `{index}` is not an agent index"))?;
        if index >= agents {
            return Err(format!(
                "{flag}: there is no agent {index} (agents are 0 to {})",
                agents.saturating_sub(1)
            ));
        }
        let resources = Resources::parse(text).map_err(|e| format!("{flag}: {e}"))?;
        check_whole_gpus(&resources, &flag)?;
        if out.insert(index, resources).is_some() {
            return Err(format!(
                "{flag}: agent {index} is given extra resources twice"
            ));
        }
    }
    Ok(out)
}

/// Mesos counts GPUs as devices: an agent offering part of one is a mistake in `flag`.
pub fn check_whole_gpus(resources: &Resources, flag: &str) -> Result<(), String> {
    let gpus = resources.scalar("gpus");
    if gpus.fract() != 0.0 {
        return Err(format!("{flag}: gpus:{gpus} is not a whole number of GPUs"));
    }
    Ok(())
}

/// What an agent offers when nothing else is said.
pub const DEFAULT_AGENT_RESOURCES: &str = "cpus:4;mem:8192;disk:40000;ports:[31000-32000]";

/// Formats a duration the way Mesos' flags and environment variables spell one.
pub(crate) fn mesos_duration(d: Duration) -> String {
    format!("{}ms", d.as_millis())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_as_mesos_flags_spell_them() {
        assert_eq!(parse_bytes("2GB"), Ok(2 << 30));
        assert_eq!(parse_bytes("512MB"), Ok(512 << 20));
        assert_eq!(parse_bytes("10kb"), Ok(10 << 10));
        assert_eq!(parse_bytes("100B"), Ok(100));
        assert_eq!(parse_bytes("4096"), Ok(4096));
        assert_eq!(parse_bytes("0"), Ok(0));
        assert!(parse_bytes("2.5GB").unwrap_err().contains("unit"));
        assert!(parse_bytes("GB").unwrap_err().contains("number"));
        assert!(parse_bytes("-1").is_err());
        assert!(parse_bytes("99999999999TB")
            .unwrap_err()
            .contains("too large"));
    }
}
