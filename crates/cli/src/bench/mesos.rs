//! Real Apache Mesos for `cairn bench deploy --mesos DIR`: a `mesos-master` and agents started
//! as processes, each agent on its own loopback address (127.0.0.2, 127.0.0.3, ..., as
//! `cairn cluster` places its agents), and everything they started killed at the end.
//!
//! The agents get the flags cairn needs of a Mesos agent, the same the real-Mesos tests use
//! (`crates/cli/tests/support/mesos.rs`; test code, which the binary cannot link): the POSIX
//! launcher and isolators, `volume/sandbox_path` so a task group's tasks see the pod's volumes,
//! the executors' library path, and where the executors are. Not the tests' short ping
//! timeouts: those detect a dead agent quickly, and on two cores busy starting a thousand
//! executors they would take a slow agent for a dead one. Everything else is Mesos' default.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use super::procfs::send_signal;

/// The variable the real-Mesos tests read; the bench reads it too when `--mesos` is not given.
pub const MESOS_ENV: &str = "CAIRN_TEST_MESOS";

const START_TIMEOUT: Duration = Duration::from_secs(60);
const KILL_TIMEOUT: Duration = Duration::from_secs(30);

/// Checks that `home` is a Mesos installation: the daemons, the default executor, `lib/`.
pub fn check_installation(home: &Path) -> anyhow::Result<()> {
    for bin in ["mesos-master", "mesos-agent", "mesos-default-executor"] {
        let path = home.join("bin").join(bin);
        anyhow::ensure!(
            path.is_file(),
            "{} is not a Mesos installation: it has no {} (give the directory with bin/mesos-master and lib/)",
            home.display(),
            path.display()
        );
    }
    anyhow::ensure!(
        home.join("lib").is_dir(),
        "{} is not a Mesos installation: it has no lib/ (libmesos)",
        home.display()
    );
    Ok(())
}

/// A running Mesos master and its agents, each leading a process group of its own.
pub struct MesosDaemons {
    home: PathBuf,
    /// Where the master's and the agents' work dirs and logs are.
    root: PathBuf,
    /// `http://127.0.0.1:PORT`.
    pub master: String,
    /// What the master's `/version` says, e.g. `1.12.0`.
    pub version: String,
    master_child: Option<Child>,
    agents: Vec<Child>,
}

impl MesosDaemons {
    /// Starts a master and `agents` agents with `resources` each under `root`, and waits until
    /// the master has every agent. On failure everything started is killed again, and the
    /// error holds the end of the log that says why.
    pub async fn start(
        home: &Path,
        root: &Path,
        agents: usize,
        resources: &str,
        allocation_interval: &str,
        http: &reqwest::Client,
    ) -> anyhow::Result<MesosDaemons> {
        check_installation(home)?;
        std::fs::create_dir_all(root)?;
        let mut daemons = MesosDaemons {
            home: home.to_path_buf(),
            root: root.to_path_buf(),
            master: String::new(),
            version: String::new(),
            master_child: None,
            agents: Vec::new(),
        };
        // From here on a failure drops `daemons`, which kills whatever was started.
        let port = free_port("127.0.0.1")?;
        let work = root.join("master");
        std::fs::create_dir_all(&work)?;
        let child = daemons
            .command("mesos-master", "master.log")?
            .args([
                "--ip=127.0.0.1".to_string(),
                format!("--port={port}"),
                format!("--work_dir={}", work.display()),
                "--registry=in_memory".to_string(),
                format!("--allocation_interval={allocation_interval}"),
            ])
            .spawn()
            .context("starting mesos-master")?;
        daemons.master_child = Some(child);
        daemons.master = format!("http://127.0.0.1:{port}");
        for i in 0..agents {
            let child = daemons.spawn_agent(i, resources)?;
            daemons.agents.push(child);
        }
        daemons.wait_for_agents(agents, http).await?;
        Ok(daemons)
    }

    fn command(&self, bin: &str, log: &str) -> anyhow::Result<Command> {
        let log = std::fs::File::create(self.root.join(log))?;
        let mut cmd = Command::new(self.home.join("bin").join(bin));
        cmd.env("LD_LIBRARY_PATH", self.home.join("lib"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        // Each daemon leads a process group of its own, as under an init system, so that a
        // Ctrl-C meant for the bench does not reach it before the bench has cleaned up.
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        Ok(cmd)
    }

    fn spawn_agent(&self, i: usize, resources: &str) -> anyhow::Result<Child> {
        // 127.0.0.1 is the master's; agents from 127.0.0.2 on, one address (and hostname)
        // each, so that `hostname:UNIQUE` placement sees distinct machines.
        anyhow::ensure!(i < 250, "at most 250 agents (one 127.0.0.N address each)");
        let ip = format!("127.0.0.{}", i + 2);
        let work = self.root.join(format!("agent{i}"));
        std::fs::create_dir_all(&work)?;
        let port = free_port(&ip)?;
        // Executors are programs linked against libmesos: they need the library path.
        // `volume/sandbox_path` links a pod's persistent volumes into its tasks' sandboxes
        // (Mesos does it by itself only with `filesystem/linux`).
        let executor_env = serde_json::json!({
            "LD_LIBRARY_PATH": self.home.join("lib"),
            "PATH": "/usr/local/bin:/usr/bin:/bin",
        });
        self.command("mesos-agent", &format!("agent{i}.log"))?
            .args([
                format!("--master={}", self.master.trim_start_matches("http://")),
                format!("--ip={ip}"),
                format!("--hostname={ip}"),
                format!("--port={port}"),
                format!("--work_dir={}", work.display()),
                format!("--runtime_dir={}", work.join("run").display()),
                "--launcher=posix".to_string(),
                "--isolation=posix/cpu,posix/mem,filesystem/posix,volume/sandbox_path".to_string(),
                "--no-systemd_enable_support".to_string(),
                format!("--launcher_dir={}", self.home.join("bin").display()),
                format!("--resources={resources}"),
                format!("--executor_environment_variables={executor_env}"),
            ])
            .spawn()
            .with_context(|| format!("starting mesos-agent {i}"))
    }

    async fn wait_for_agents(&mut self, n: usize, http: &reqwest::Client) -> anyhow::Result<()> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(why) = self.exited() {
                bail!("{why}; the end of its log:\n{}", self.log_tail_of(&why));
            }
            let state = async {
                http.get(format!("{}/state", self.master))
                    .timeout(Duration::from_secs(5))
                    .send()
                    .await
                    .ok()?
                    .json::<serde_json::Value>()
                    .await
                    .ok()
            }
            .await;
            let active = state.as_ref().and_then(|s| s["activated_slaves"].as_f64());
            if active == Some(n as f64) {
                self.version = state
                    .as_ref()
                    .and_then(|s| s["version"].as_str())
                    .unwrap_or("?")
                    .to_string();
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!(
                    "Mesos did not come up with {n} agents within {START_TIMEOUT:?} (the master counts {active:?}); the end of the master's log:\n{}",
                    self.log_tail("master.log")
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Which daemon has exited, if one has.
    fn exited(&mut self) -> Option<String> {
        if let Some(Ok(Some(status))) = self.master_child.as_mut().map(Child::try_wait) {
            return Some(format!("mesos-master exited ({status})"));
        }
        self.agents
            .iter_mut()
            .enumerate()
            .find_map(|(i, c)| match c.try_wait() {
                Ok(Some(status)) => Some(format!("mesos-agent {i} exited ({status})")),
                _ => None,
            })
    }

    fn log_tail_of(&self, why: &str) -> String {
        let log = why
            .strip_prefix("mesos-agent ")
            .and_then(|rest| rest.split_whitespace().next())
            .map_or("master.log".to_string(), |i| format!("agent{i}.log"));
        self.log_tail(&log)
    }

    fn log_tail(&self, file: &str) -> String {
        let text = std::fs::read_to_string(self.root.join(file)).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// The master's and the agents' process ids.
    pub fn pids(&self) -> Vec<u32> {
        self.master_child
            .iter()
            .chain(self.agents.iter())
            .map(Child::id)
            .collect()
    }

    /// Kills the daemons, then every process that names the Mesos directory in its command
    /// line or environment: the executors and their tasks, which outlive a killed agent (as
    /// on a machine whose agent crashed) and all carry their sandbox paths in their
    /// environment. Returns how many could not be killed.
    pub fn stop(&mut self) -> usize {
        let mut daemons: Vec<Child> = self.master_child.take().into_iter().collect();
        daemons.append(&mut self.agents);
        for child in &mut daemons {
            send_signal(child.id(), libc::SIGKILL);
            let _ = child.wait();
        }
        let deadline = Instant::now() + KILL_TIMEOUT;
        loop {
            let left = processes_mentioning(&self.root);
            if left.is_empty() || Instant::now() >= deadline {
                return left.len();
            }
            for pid in left {
                send_signal(pid, libc::SIGKILL);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for MesosDaemons {
    fn drop(&mut self) {
        if self.master_child.is_some() || !self.agents.is_empty() {
            let left = self.stop();
            if left > 0 {
                eprintln!(
                    "bench: {left} processes of Mesos under {} could not be killed",
                    self.root.display()
                );
            }
        }
    }
}

fn free_port(ip: &str) -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind((ip, 0))
        .and_then(|l| l.local_addr())
        .with_context(|| format!("finding a free port on {ip}"))?
        .port())
}

/// Processes (not this one) whose command line or environment holds `dir`.
pub fn processes_mentioning(dir: &Path) -> Vec<u32> {
    let needle = dir.as_os_str().as_encoded_bytes();
    let me = std::process::id();
    let mentions = |hay: &[u8]| hay.windows(needle.len()).any(|w| w == needle);
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| pid != me)
        .filter(|pid| {
            let read =
                |what: &str| std::fs::read(format!("/proc/{pid}/{what}")).unwrap_or_default();
            mentions(&read("cmdline")) || mentions(&read("environ"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_without_the_mesos_daemons_is_refused_naming_what_is_missing() {
        let dir = std::env::temp_dir();
        let err = check_installation(&dir).expect_err("no Mesos in the temp dir");
        assert!(err.to_string().contains("bin/mesos-master"), "{err}");
    }
}
