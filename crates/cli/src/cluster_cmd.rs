//! `cairn cluster`: run the embedded cluster, or inject faults into a running one.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use cairn_cluster::{Cluster, ClusterConfig, FrameworkAuth, DEFAULT_AGENT_RESOURCES};
use cairn_proto::Resources;
use clap::{Args, Subcommand};

use crate::duration;

#[derive(Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct ClusterArgs {
    #[command(subcommand)]
    action: Option<AgentCommand>,
    /// Where the master listens (loopback by default).
    #[arg(long, default_value = "127.0.0.1:5050")]
    listen: SocketAddr,
    /// How many agents a new cluster gets (a recovered cluster keeps the ones it had).
    #[arg(long, default_value_t = 3)]
    agents: usize,
    /// The work directory, as `cairn run` takes it: the master and agents keep checkpoints,
    /// sandboxes and volumes in <DIR>/cluster (so `cairn run --master` and every other command
    /// given the same --work-dir find this cluster).
    #[arg(long, default_value = ".cairn")]
    work_dir: PathBuf,
    /// What each agent offers, in Mesos' resource syntax.
    #[arg(long, default_value = DEFAULT_AGENT_RESOURCES)]
    agent_resources: String,
    /// What one agent offers besides --agent-resources, as INDEX=RESOURCES (`1=gpus:2`,
    /// `0=cpus(slave_public):1;mem(slave_public):512`); repeat for more agents.
    #[arg(long, value_name = "INDEX=RESOURCES")]
    agent_extra_resources: Vec<String>,
    /// Attributes of each agent, `name:value;...` (`{i}` is the agent's index).
    #[arg(long, default_value = "")]
    agent_attributes: String,
    /// MOUNT disks per agent, as COUNT:SIZE_MB (e.g. 2:10000).
    #[arg(long)]
    agent_mount_disks: Option<String>,
    /// The first agent's address; agent i gets this plus i.
    #[arg(long, default_value = "127.0.0.2")]
    agent_ip_start: std::net::Ipv4Addr,
    /// How often resources are offered.
    #[arg(long, default_value = "1s", value_parser = duration::parse)]
    allocation_interval: Duration,
    /// Heartbeat period on scheduler streams.
    #[arg(long, default_value = "15s", value_parser = duration::parse)]
    heartbeat_interval: Duration,
    /// How long a silent agent takes to become unreachable.
    #[arg(long, default_value = "75s", value_parser = duration::parse)]
    agent_ping_timeout: Duration,
    /// First retry of an unacknowledged status update (doubles up to 10 min).
    #[arg(long, default_value = "10s", value_parser = duration::parse)]
    status_update_retry: Duration,
    /// How long an executor that lost its agent keeps its tasks.
    #[arg(long, default_value = "15m", value_parser = duration::parse)]
    executor_recovery_timeout: Duration,
    /// How long a framework may hold an offer unanswered before it is rescinded and its
    /// resources offered again (Mesos' --offer_timeout); 0 keeps offers until answered.
    #[arg(long, default_value = "1m", value_parser = duration::parse)]
    offer_timeout: Duration,
    /// The framework credentials file (Mesos' JSON format,
    /// {"credentials":[{"principal":"...","secret":"..."}]}) [default: <work-dir>/credentials,
    /// generated 0600 when missing].
    #[arg(long)]
    credentials: Option<PathBuf>,
    /// Whether frameworks must authenticate (HTTP Basic). `false` lets any local user
    /// subscribe as any framework: only for trying a framework that cannot send credentials.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    authenticate_frameworks: bool,
    /// How much each user's fetcher cache may hold on each agent (Mesos'
    /// --fetcher_cache_size): URIs with `cache` set are downloaded once and copied from there;
    /// past the size the least recently used are evicted. 0 fetches every URI afresh.
    #[arg(long, default_value = "2GB", value_parser = cairn_cluster::parse_bytes, value_name = "BYTES")]
    fetcher_cache_size: u64,
    /// The domain tasks are named under, <task>.<framework>.<DOMAIN>, as Mesos-DNS names them:
    /// the cluster resolves these names for its tasks. It must match the schedulers'
    /// (`cairn scheduler --service-tld`).
    #[arg(long, default_value = cairn_cluster::DEFAULT_DNS_DOMAIN, value_name = "DOMAIN")]
    dns_domain: String,
    #[command(flatten)]
    users: UserArgs,
}

/// Which users frameworks may run tasks as (a cluster that runs as root starts each executor as
/// its tasks' user; one that does not runs every task as itself).
#[derive(Args, Clone, Default)]
pub struct UserArgs {
    /// The only users tasks may run as, comma-separated [default: any user but root].
    #[arg(long, value_name = "USER,...", value_delimiter = ',')]
    allowed_users: Option<Vec<String>>,
    /// Let frameworks run tasks as root.
    #[arg(long)]
    pub allow_root: bool,
}

impl UserArgs {
    /// The flags' users, checked: root is allowed only through --allow-root, so that running
    /// tasks as root is always a choice of its own.
    pub fn policy(&self) -> anyhow::Result<(Option<Vec<String>>, bool)> {
        let users: Option<Vec<String>> = self.allowed_users.as_ref().map(|users| {
            users
                .iter()
                .map(|u| u.trim().to_string())
                .filter(|u| !u.is_empty())
                .collect()
        });
        if let Some(users) = &users {
            if users.iter().any(|u| u == "root") {
                bail!("--allowed-users: root is allowed with --allow-root, not in the list");
            }
            if users.is_empty() {
                bail!("--allowed-users: name at least one user");
            }
        }
        Ok((users, self.allow_root))
    }
}

#[derive(Subcommand)]
enum AgentCommand {
    /// Act on the agents of a running cluster (fault injection).
    Agent {
        #[command(subcommand)]
        action: AgentAction,
        /// The work directory of the cluster (as `cairn run` or `cairn cluster` took it): its
        /// master is the one running there.
        #[arg(long, global = true, default_value = ".cairn")]
        work_dir: PathBuf,
        /// The cluster's master, instead of the one running in the work dir.
        #[arg(long, global = true)]
        master: Option<String>,
        /// The file holding the operator's token [default: <work-dir>/cluster/operator-token].
        #[arg(long, global = true)]
        operator_token: Option<PathBuf>,
    },
    /// Stop the embedded cluster of a work dir and everything it started: its executors and
    /// tasks, and the `cairn run` it runs in, if it does. Reservations, volumes and the state
    /// stay: `cairn run` starts it all again.
    Down {
        /// The work directory of the cluster (as `cairn run` or `cairn cluster` took it).
        #[arg(long, default_value = ".cairn")]
        work_dir: PathBuf,
        /// How long the cluster's process may take to stop after SIGTERM before it is killed.
        #[arg(long, default_value = "30s", value_parser = duration::parse)]
        timeout: Duration,
    },
}

#[derive(Subcommand)]
enum AgentAction {
    /// List the agents and their status.
    List {
        /// Print the cluster's JSON (`GET /cluster/agents`) instead.
        #[arg(long)]
        json: bool,
    },
    /// Stop an agent as if its process died: tasks keep running.
    Stop { agent: String },
    /// Start a stopped agent again: it recovers its executors and re-registers.
    Restart { agent: String },
    /// Lose an agent for good: its processes, reservations and volumes are gone.
    Lose { agent: String },
    /// Add a new agent.
    Add,
}

/// `--agent-extra-resources INDEX=RESOURCES`, each checked (the embedded cluster's own
/// reading, shared with a service's `cairn::run`).
pub fn agent_extra_resources(
    entries: &[String],
    agents: usize,
) -> anyhow::Result<std::collections::BTreeMap<usize, Resources>> {
    cairn_cluster::parse_agent_extra_resources(entries, agents).map_err(anyhow::Error::msg)
}

pub fn run(args: ClusterArgs) -> anyhow::Result<()> {
    match args.action {
        Some(AgentCommand::Agent {
            action,
            work_dir,
            master,
            operator_token,
        }) => {
            let cluster_dir = work_dir.join("cluster");
            // Never a default address: another cluster may listen there.
            let master = match master {
                Some(m) => m,
                None => crate::update_cmd::running_master(&cluster_dir)?,
            };
            let token = operator_token
                .unwrap_or_else(|| cluster_dir.join(cairn_cluster::auth::OPERATOR_TOKEN_FILE));
            return agent_action(&master, &token, action);
        }
        Some(AgentCommand::Down { work_dir, timeout }) => return down(&work_dir, timeout),
        None => {}
    }
    let service_dir = args.work_dir.clone();
    let mut cfg = ClusterConfig::new(absolute(&args.work_dir.join("cluster"))?);
    cfg.listen = args.listen;
    cfg.agents = args.agents;
    cfg.agent_resources = Resources::parse(&args.agent_resources)
        .with_context(|| format!("--agent-resources '{}'", args.agent_resources))?;
    cfg.agent_extra_resources = agent_extra_resources(&args.agent_extra_resources, args.agents)?;
    cairn_cluster::check_whole_gpus(&cfg.agent_resources, "--agent-resources")
        .map_err(anyhow::Error::msg)?;
    cfg.agent_attributes = args.agent_attributes;
    if let Some(disks) = &args.agent_mount_disks {
        let (n, size) = disks
            .split_once(':')
            .and_then(|(n, s)| Some((n.parse().ok()?, s.parse().ok()?)))
            .with_context(|| format!("--agent-mount-disks '{disks}': expected COUNT:SIZE_MB"))?;
        cfg.agent_mount_disks = (n, size);
    }
    cfg.agent_ip_start = args.agent_ip_start;
    cfg.allocation_interval = args.allocation_interval;
    cfg.heartbeat_interval = args.heartbeat_interval;
    cfg.agent_ping_timeout = args.agent_ping_timeout;
    cfg.status_update_retry_min = args.status_update_retry;
    cfg.executor_recovery_timeout = args.executor_recovery_timeout;
    cfg.offer_timeout = (!args.offer_timeout.is_zero()).then_some(args.offer_timeout);
    (cfg.allowed_users, cfg.allow_root) = args.users.policy()?;
    cfg.fetcher_cache_size = args.fetcher_cache_size;
    cfg.dns_domain = dns_domain(&args.dns_domain)?;
    cfg.framework_auth = match (args.authenticate_frameworks, &args.credentials) {
        (false, Some(_)) => bail!("--credentials and --authenticate-frameworks false contradict"),
        (false, None) => FrameworkAuth::Off,
        (true, Some(file)) => FrameworkAuth::File(absolute(file)?),
        (true, None) => FrameworkAuth::Generated,
    };
    if cfg.agents == 0 {
        bail!("--agents must be at least 1");
    }
    // Executors are spawned on the blocking pool; a few threads keep up with 2 cores, and every
    // extra thread costs an allocator arena of resident memory.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(4)
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let work_dir = cfg.work_dir.clone();
        let cluster = match Cluster::start(cfg).await {
            Err(cairn_cluster::ClusterError::Claim(
                e @ cairn_cluster::running::ClaimError::Running { .. },
            )) => {
                bail!(
                    "{e}: use it (`cairn run SPEC --master URL`), or stop it first with \
                     `cairn cluster down --work-dir {}`",
                    service_dir.display()
                )
            }
            other => other?,
        };
        let agents = cluster.agent_count();
        println!(
            "cairn cluster ready master={} agents={agents} work_dir={}",
            cluster.master_url(),
            work_dir.display()
        );
        match cluster.credentials_path() {
            Some(path) => println!(
                "frameworks authenticate (HTTP Basic) with a credential of {}",
                path.display()
            ),
            None => {
                let warning = "WARNING: framework authentication is OFF \
                               (--authenticate-frameworks false): any local user can subscribe \
                               as any framework, launch tasks and tear frameworks down";
                println!("{warning}");
                eprintln!("{warning}");
            }
        }
        println!(
            "the operator's token (for `cairn cluster agent` and operator calls that change \
             something) is in {}",
            cluster.operator_token_path().display()
        );
        wait_for_signal().await;
        cluster.shutdown();
        eprintln!("cairn cluster stopped; running tasks keep running and are recovered on restart");
        Ok(())
    })
}

/// `cairn cluster down`: SIGTERM to the process that runs the cluster (a `cairn cluster`, or a
/// `cairn run` with its embedded cluster, which then stops its scheduler too), SIGKILL past
/// `timeout`; then every executor and task the cluster left running, which a stopped cluster
/// otherwise keeps for its next start.
fn down(work_dir: &std::path::Path, timeout: Duration) -> anyhow::Result<()> {
    let cluster_dir = absolute(&work_dir.join("cluster"))?;
    if !cluster_dir.join("master.json").exists() && !cluster_dir.join("agents").exists() {
        bail!(
            "no embedded cluster in {} (nothing was ever run there)",
            cluster_dir.display()
        );
    }
    let running = cairn_cluster::running(&cluster_dir)
        .with_context(|| format!("looking for a cluster in {}", cluster_dir.display()))?;
    match running {
        Some(cairn_cluster::RunningCluster {
            pid: Some(pid),
            master,
        }) => {
            let what = command_of(pid);
            signal(pid, libc::SIGTERM).with_context(|| {
                format!("stopping {what} (pid {pid}) of {}", cluster_dir.display())
            })?;
            let deadline = std::time::Instant::now() + timeout;
            while alive(pid) && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            let killed = alive(pid);
            if killed {
                signal(pid, libc::SIGKILL)?;
                let deadline = std::time::Instant::now() + Duration::from_secs(10);
                while alive(pid) {
                    if std::time::Instant::now() > deadline {
                        bail!("{what} (pid {pid}) is still there 10s after SIGKILL");
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
            println!(
                "stopped {what} (pid {pid}{}){}",
                master.map(|m| format!(", master {m}")).unwrap_or_default(),
                if killed {
                    format!(": it did not stop within {timeout:?} of SIGTERM and was killed")
                } else {
                    String::new()
                }
            );
        }
        Some(r) => bail!(
            "the cluster in {} is starting ({r}); try again in a moment",
            cluster_dir.display()
        ),
        None => println!("no cluster runs in {}", cluster_dir.display()),
    }
    match cairn_cluster::stop_pods(&cluster_dir) {
        0 => println!("no executor or task of it was left running"),
        n => println!(
            "killed {n} process{} it had started (executors and their tasks)",
            if n == 1 { "" } else { "es" }
        ),
    }
    Ok(())
}

/// What a process is, for people: its first two words (`cairn run`, `cairn cluster`).
fn command_of(pid: u32) -> String {
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let words: Vec<String> = cmdline
        .split(|b| *b == 0)
        .filter(|w| !w.is_empty())
        .take(2)
        .map(|w| {
            let w = String::from_utf8_lossy(w);
            w.rsplit('/').next().unwrap_or_default().to_string()
        })
        .collect();
    if words.is_empty() {
        "the cluster".to_string()
    } else {
        format!("`{}`", words.join(" "))
    }
}

/// Whether the process exists and is not a zombie.
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rfind(')')
            .and_then(|i| stat[i + 1..].split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X")
    })
}

/// Sends `sig` to `pid`; an error when it may not (another user's process).
#[allow(unsafe_code)]
fn signal(pid: u32, sig: i32) -> anyhow::Result<()> {
    let pid = i32::try_from(pid)
        .ok()
        .filter(|p| *p > 1)
        .with_context(|| format!("{pid} is not a pid to signal"))?;
    // SAFETY: kill(2) takes plain integers and touches no memory of ours.
    if unsafe { libc::kill(pid, sig) } == 0 {
        return Ok(());
    }
    match std::io::Error::last_os_error() {
        // Gone meanwhile: what was wanted.
        e if e.raw_os_error() == Some(libc::ESRCH) => Ok(()),
        e => Err(e.into()),
    }
}

fn absolute(p: &std::path::Path) -> anyhow::Result<PathBuf> {
    if p.is_absolute() {
        return Ok(p.to_path_buf());
    }
    Ok(std::env::current_dir()?.join(p))
}

async fn wait_for_signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

fn agent_action(
    master: &str,
    operator_token: &std::path::Path,
    action: AgentAction,
) -> anyhow::Result<()> {
    // Listing is a read anyone on the machine may make; the rest is the operator's.
    let token = match (&action, cairn_cluster::auth::read_token(operator_token)) {
        (_, Ok(token)) => Some(token),
        (AgentAction::List { .. }, Err(_)) => None,
        (_, Err(e)) => {
            return Err(e).context("reading the operator's token (give it with --operator-token)")
        }
    };
    let rt = crate::runtime()?;
    rt.block_on(async move {
        let client = cairn_cluster::http_client::build_plain(reqwest::Client::builder)?;
        let base = master.trim_end_matches('/');
        let request = match &action {
            AgentAction::List { .. } => client.get(format!("{base}/cluster/agents")),
            AgentAction::Add => client.post(format!("{base}/cluster/agents")),
            AgentAction::Stop { agent } => {
                client.post(format!("{base}/cluster/agents/{agent}/stop"))
            }
            AgentAction::Restart { agent } => {
                client.post(format!("{base}/cluster/agents/{agent}/restart"))
            }
            AgentAction::Lose { agent } => {
                client.post(format!("{base}/cluster/agents/{agent}/lose"))
            }
        };
        let request = match &token {
            Some(t) => request.header(
                reqwest::header::AUTHORIZATION,
                cairn_cluster::auth::bearer_authorization(t),
            ),
            None => request,
        };
        let resp = request
            .send()
            .await
            .with_context(|| format!("talking to the cluster at {base}"))?;
        let status = resp.status();
        let body = resp.text().await?;
        if !status.is_success() {
            bail!("{status}: {body}");
        }
        let doc: serde_json::Value = serde_json::from_str(&body)?;
        if matches!(action, AgentAction::List { json: true }) {
            println!("{}", serde_json::to_string_pretty(&doc)?);
            return Ok(());
        }
        if let Some(agents) = doc.get("agents").and_then(|a| a.as_array()) {
            println!(
                "{:<6} {:<12} {:<18} {:<12} ID",
                "INDEX", "HOSTNAME", "ENDPOINT", "STATUS"
            );
            for a in agents {
                println!(
                    "{:<6} {:<12} {:<18} {:<12} {}",
                    a["index"].to_string(),
                    a["hostname"].as_str().unwrap_or(""),
                    a["endpoint"].as_str().unwrap_or(""),
                    a["status"].as_str().unwrap_or(""),
                    a["id"].as_str().unwrap_or("")
                );
                if let Some(why) = a["held_back"].as_str() {
                    println!("       {why}");
                }
            }
        } else {
            println!("{doc}");
        }
        Ok(())
    })
}

/// `--dns-domain`: DNS labels separated by dots, as a domain is written.
pub(crate) fn dns_domain(domain: &str) -> anyhow::Result<String> {
    let labels_ok = domain.split('.').all(|l| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    });
    if domain.len() > 200 || !labels_ok {
        bail!(
            "--dns-domain '{domain}': expected a domain of lowercase DNS labels separated by \
             dots (`mesos`, `cluster.example.org`)"
        );
    }
    Ok(domain.to_string())
}
