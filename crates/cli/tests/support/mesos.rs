//! Real Apache Mesos for end-to-end tests: a `mesos-master` and agents as processes on
//! loopback, started the way an operator would start them, so the same scenario can run against
//! `cairn cluster` and against the system it stands in for.
//!
//! Where Mesos lives is read from `CAIRN_TEST_MESOS` (a directory with `bin/mesos-master`,
//! `bin/mesos-agent` and the executors, and `lib/` with `libmesos`). Without it, tests that
//! need real Mesos say so and skip: a developer's machine rarely has Mesos, CI always does.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::{http_client, pid_alive, processes_mentioning, signal, DEADLINE};

/// The environment variable naming a Mesos installation.
pub const MESOS_ENV: &str = "CAIRN_TEST_MESOS";

static NEXT_CLUSTER: AtomicUsize = AtomicUsize::new(0);

/// The Mesos installation to test against, or `None` (and a line on stderr saying why the
/// caller skips) when there is none.
pub fn installation(test: &str) -> Option<PathBuf> {
    let Some(home) = std::env::var_os(MESOS_ENV).map(PathBuf::from) else {
        eprintln!(
            "skipping {test}: no real Mesos ({MESOS_ENV} is not set; point it at a Mesos \
             installation with bin/mesos-master and lib/, see README.md)"
        );
        return None;
    };
    for bin in ["mesos-master", "mesos-agent", "mesos-default-executor"] {
        let path = home.join("bin").join(bin);
        assert!(
            path.is_file(),
            "{MESOS_ENV}={} has no {}: point it at a Mesos installation",
            home.display(),
            path.display()
        );
    }
    Some(home)
}

/// A real Mesos master and agents, each a process leading its own process group.
pub struct MesosCluster {
    home: PathBuf,
    /// `http://127.0.0.1:PORT`.
    pub master: String,
    /// Where the master and the agents keep their work directories and logs.
    pub root: PathBuf,
    master_child: Option<Child>,
    agents: Vec<MesosAgent>,
}

/// One `mesos-agent`.
pub struct MesosAgent {
    child: Option<Child>,
    /// Its own loopback address, which is also its hostname.
    pub ip: String,
    pub port: u16,
    pub work_dir: PathBuf,
    log: PathBuf,
}

/// Agent resources when a test says nothing else: those of a `cairn cluster` agent.
pub const AGENT_RESOURCES: &str = "cpus:4;mem:8192;disk:40000;ports:[31000-32000]";

fn free_port(ip: &str) -> u16 {
    std::net::TcpListener::bind((ip, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl MesosCluster {
    /// Starts a master and `agents` agents with [`AGENT_RESOURCES`]; waits until every agent
    /// is registered.
    pub async fn start(home: &Path, name: &str, agents: usize) -> MesosCluster {
        Self::start_with(home, name, agents, AGENT_RESOURCES).await
    }

    pub async fn start_with(
        home: &Path,
        name: &str,
        agents: usize,
        resources: &str,
    ) -> MesosCluster {
        Self::start_each(home, name, &vec![resources; agents]).await
    }

    /// Starts a master and one agent per entry of `resources`, each with its own `--resources`
    /// (static reservations such as `cpus(slave_public):1` on one agent only); waits until
    /// every agent is registered.
    pub async fn start_each(home: &Path, name: &str, resources: &[&str]) -> MesosCluster {
        let agents = resources.len();
        let n = NEXT_CLUSTER.fetch_add(1, Ordering::SeqCst);
        let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("mesos-e2e/{name}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).expect("creating the Mesos test directory");
        // Each cluster of this process gets its own block of loopback addresses, so clusters
        // of tests running at once never share an agent address (agents are told apart, and
        // placed, by hostname). `cairn cluster` uses 127.0.0.x; Mesos tests use 127.<k>.y.x.
        let block = 100 + (std::process::id() as usize % 50) * 2 + (n % 2);
        let subnet = n / 2 % 250;
        let mut cluster = MesosCluster {
            home: home.to_path_buf(),
            master: String::new(),
            root,
            master_child: None,
            agents: Vec::new(),
        };
        cluster.start_master();
        for (i, resources) in resources.iter().enumerate() {
            let ip = format!("127.{block}.{subnet}.{}", i + 2);
            cluster.start_agent(ip, resources);
        }
        cluster.wait_for_agents(agents).await;
        cluster
    }

    fn command(&self, bin: &str) -> Command {
        let mut cmd = Command::new(self.home.join("bin").join(bin));
        cmd.env("LD_LIBRARY_PATH", self.home.join("lib"))
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        // Each daemon leads a process group of its own, as it would under an init system.
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        cmd
    }

    fn start_master(&mut self) {
        let port = free_port("127.0.0.1");
        let work = self.root.join("master");
        std::fs::create_dir_all(&work).expect("master work dir");
        let log = std::fs::File::create(self.root.join("master.log")).expect("master log");
        let child = self
            .command("mesos-master")
            .args([
                "--ip=127.0.0.1".to_string(),
                format!("--port={port}"),
                format!("--work_dir={}", work.display()),
                "--registry=in_memory".to_string(),
                // The timers cairn's own test clusters run with.
                "--allocation_interval=100ms".to_string(),
                "--agent_ping_timeout=1secs".to_string(),
                "--max_agent_ping_timeouts=2".to_string(),
            ])
            .stderr(log)
            .spawn()
            .expect("spawning mesos-master");
        self.master = format!("http://127.0.0.1:{port}");
        self.master_child = Some(child);
    }

    fn start_agent(&mut self, ip: String, resources: &str) {
        let i = self.agents.len();
        let work_dir = self.root.join(format!("agent{i}"));
        std::fs::create_dir_all(&work_dir).expect("agent work dir");
        let port = free_port(&ip);
        let log = self.root.join(format!("agent{i}.log"));
        let mut agent = MesosAgent {
            child: None,
            ip,
            port,
            work_dir,
            log,
        };
        agent.child = Some(self.spawn_agent(&agent, resources));
        self.agents.push(agent);
    }

    fn spawn_agent(&self, agent: &MesosAgent, resources: &str) -> Child {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&agent.log)
            .expect("agent log");
        // Executors are separate programs linked against libmesos: the agent must hand them the
        // library path. `volume/sandbox_path` lets the tasks of a task group see the pod's
        // persistent volumes, which the POSIX filesystem isolator links into the executor's
        // sandbox (Mesos turns it on by itself only with `filesystem/linux`).
        let executor_env = serde_json::json!({
            "LD_LIBRARY_PATH": self.home.join("lib"),
            "PATH": "/usr/local/bin:/usr/bin:/bin",
        });
        self.command("mesos-agent")
            .args([
                format!("--master={}", self.master.trim_start_matches("http://")),
                format!("--ip={}", agent.ip),
                format!("--hostname={}", agent.ip),
                format!("--port={}", agent.port),
                format!("--work_dir={}", agent.work_dir.display()),
                format!("--runtime_dir={}", agent.work_dir.join("run").display()),
                "--launcher=posix".to_string(),
                "--isolation=posix/cpu,posix/mem,posix/rlimits,filesystem/posix,volume/sandbox_path"
                    .to_string(),
                "--no-systemd_enable_support".to_string(),
                format!("--launcher_dir={}", self.home.join("bin").display()),
                format!("--resources={resources}"),
                format!("--executor_environment_variables={executor_env}"),
                "--executor_shutdown_grace_period=2secs".to_string(),
            ])
            .stderr(log)
            .spawn()
            .expect("spawning mesos-agent")
    }

    /// Waits until the master counts `n` activated agents.
    pub async fn wait_for_agents(&self, n: usize) {
        let http = http_client();
        let deadline = Instant::now() + DEADLINE;
        loop {
            let active = async {
                let doc: serde_json::Value = http
                    .get(format!("{}/state", self.master))
                    .send()
                    .await
                    .ok()?
                    .json()
                    .await
                    .ok()?;
                doc["activated_slaves"].as_f64()
            }
            .await;
            if active == Some(n as f64) {
                return;
            }
            if Instant::now() > deadline {
                panic!(
                    "Mesos did not come up with {n} agents (saw {active:?}); master log:\n{}",
                    self.log_tail("master.log")
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The agents, in the order they were started.
    pub fn agents(&self) -> &[MesosAgent] {
        &self.agents
    }

    /// Kills an agent process with SIGKILL; its executors and tasks keep running, as on a
    /// machine whose agent crashed.
    pub fn kill_agent(&mut self, i: usize) {
        if let Some(mut child) = self.agents[i].child.take() {
            signal(child.id(), libc::SIGKILL);
            let _ = child.wait();
        }
    }

    /// Starts a killed agent again on its work dir: it recovers its executors.
    pub fn restart_agent(&mut self, i: usize) {
        assert!(self.agents[i].child.is_none(), "agent {i} still runs");
        let child = self.spawn_agent(&self.agents[i], AGENT_RESOURCES);
        self.agents[i].child = Some(child);
    }

    /// `POST /api/v1` with a JSON body; the status and the body text.
    pub async fn operator_raw(&self, body: &serde_json::Value) -> (reqwest::StatusCode, String) {
        let request = http_client().post(format!("{}/api/v1", self.master));
        super::post_operator(request, body).await
    }

    /// The agent the master knows by this id.
    pub async fn agent_by_id(&self, id: &cairn_proto::AgentId) -> &MesosAgent {
        let (_, body) = self
            .operator_raw(&serde_json::json!({"type": "GET_AGENTS"}))
            .await;
        let doc: serde_json::Value = serde_json::from_str(&body).expect("a GET_AGENTS answer");
        let hostname = doc["get_agents"]["agents"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|a| a["agent_info"]["id"]["value"].as_str() == Some(id.value.as_str()))
            .and_then(|a| a["agent_info"]["hostname"].as_str())
            .unwrap_or_else(|| panic!("the master knows no agent {id}"))
            .to_string();
        self.agents
            .iter()
            .find(|a| a.ip == hostname)
            .unwrap_or_else(|| panic!("no agent of ours at {hostname}"))
    }

    /// Where a persistent volume of `role` lives on the agent with this id.
    pub async fn volume_dir(
        &self,
        agent: &cairn_proto::AgentId,
        role: &str,
        persistence_id: &str,
    ) -> PathBuf {
        self.agent_by_id(agent)
            .await
            .work_dir
            .join("volumes/roles")
            .join(role)
            .join(persistence_id)
    }

    fn log_tail(&self, file: &str) -> String {
        let text = std::fs::read_to_string(self.root.join(file)).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// Every process left of this cluster: the daemons, and whatever runs in (or names) its
    /// directory, which is every executor and task.
    fn leftovers(&self) -> Vec<u32> {
        processes_mentioning(&self.root.display().to_string())
    }
}

impl Drop for MesosCluster {
    fn drop(&mut self) {
        let mut daemons: Vec<Child> = self.master_child.take().into_iter().collect();
        daemons.extend(self.agents.iter_mut().filter_map(|a| a.child.take()));
        for child in &mut daemons {
            // Each daemon leads its own process group.
            signal(child.id(), libc::SIGKILL);
            let _ = child.wait();
        }
        for _ in 0..50 {
            let left = self.leftovers();
            if left.is_empty() {
                break;
            }
            for pid in left {
                signal(pid, libc::SIGKILL);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        if std::thread::panicking() {
            eprintln!(
                "Mesos work dirs kept at {}; last lines of the master log:\n{}",
                self.root.display(),
                self.log_tail("master.log")
            );
        } else {
            let left: Vec<u32> = self
                .leftovers()
                .into_iter()
                .filter(|p| pid_alive(*p))
                .collect();
            assert!(left.is_empty(), "processes survived Mesos: {left:?}");
            let _ = std::fs::remove_dir_all(&self.root);
        }
    }
}
