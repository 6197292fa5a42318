//! A service's scheduler as a user runs it: `cairn scheduler SPEC --master URL` in a process of
//! its own, its stdout collected line by line, against any master (a `cairn cluster` or real
//! Mesos), or `cairn run SPEC` with its embedded cluster; and the one-shot commands that act on
//! it (`cairn update`, `cairn uninstall`).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::signal;

/// `cairn scheduler` as a child process.
pub struct ServiceScheduler {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    stderr: PathBuf,
}

impl ServiceScheduler {
    /// Starts `cairn scheduler spec --master master --state-dir state [--credentials file]
    /// [extra..]`; its stderr goes to `stderr`.
    pub fn start(
        master: &str,
        spec: &Path,
        state: &Path,
        credentials: Option<&Path>,
        stderr: PathBuf,
        extra: &[&str],
    ) -> ServiceScheduler {
        Self::start_with_env(master, spec, state, credentials, stderr, extra, &[])
    }

    /// `cairn scheduler` of `spec` against a test's `cairn cluster`: its state in
    /// `<scratch>/state`, its stderr in `<scratch>/scheduler-<n>.err`, `env` added to its
    /// environment.
    pub fn on_cluster(
        cluster: &super::ClusterProcess,
        spec: &Path,
        n: usize,
        env: &[(&str, &str)],
    ) -> ServiceScheduler {
        Self::start_with_env(
            &cluster.master,
            spec,
            &cluster.scratch.join("state"),
            Some(&cluster.credentials_path()),
            cluster.scratch.join(format!("scheduler-{n}.err")),
            &[],
            env,
        )
    }

    /// [`ServiceScheduler::start`] with `env` added to the scheduler's environment.
    pub fn start_with_env(
        master: &str,
        spec: &Path,
        state: &Path,
        credentials: Option<&Path>,
        stderr: PathBuf,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> ServiceScheduler {
        let mut cmd = Command::new(super::cairn_binary());
        cmd.envs(env.iter().copied());
        cmd.arg("scheduler")
            .arg(spec)
            .arg("--master")
            .arg(master)
            .arg("--state-dir")
            .arg(state);
        if let Some(c) = credentials {
            cmd.arg("--credentials").arg(c);
        }
        cmd.args(extra);
        Self::spawn(cmd, stderr)
    }

    /// `cairn run spec --work-dir work_dir --listen 127.0.0.1:0 [extra..]` (its embedded
    /// cluster on a free port), `env` added to its environment; its stderr goes to `stderr`.
    pub fn run(
        spec: &Path,
        work_dir: &Path,
        stderr: PathBuf,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> ServiceScheduler {
        let mut cmd = Command::new(super::cairn_binary());
        cmd.envs(env.iter().copied())
            .arg("run")
            .arg(spec)
            .arg("--work-dir")
            .arg(work_dir)
            .args(["--listen", "127.0.0.1:0"])
            .args(extra);
        Self::spawn(cmd, stderr)
    }

    fn spawn(mut cmd: Command, stderr: PathBuf) -> ServiceScheduler {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr).expect("the scheduler's stderr file"))
            .spawn()
            .expect("starting cairn");
        let out = child.stdout.take().expect("piped stdout");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                sink.lock().unwrap_or_else(|e| e.into_inner()).push(line);
            }
        });
        ServiceScheduler {
            child,
            lines,
            stderr,
        }
    }

    /// Its pid.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for a line `f` says something of; panics with the output at the deadline, or
    /// when the process exits first.
    pub fn wait_for<T>(
        &mut self,
        what: &str,
        within: Duration,
        f: impl Fn(&str) -> Option<T>,
    ) -> T {
        let until = Instant::now() + within;
        loop {
            if let Some(found) = self.stdout().iter().find_map(|l| f(l)) {
                return found;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                // The reader thread may still hold the last lines.
                std::thread::sleep(Duration::from_millis(200));
                if let Some(found) = self.stdout().iter().find_map(|l| f(l)) {
                    return found;
                }
                panic!("it exited ({status}) before {what}\n{}", self.output());
            }
            assert!(
                Instant::now() < until,
                "timed out after {within:?} waiting for {what}\n{}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Whether it has exited.
    pub fn exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }

    /// What it wrote to stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// What it printed so far.
    pub fn stdout(&self) -> Vec<String> {
        self.lines.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Its stdout and stderr, for a failure message.
    pub fn output(&self) -> String {
        format!(
            "--- scheduler stdout ---\n{}\n--- scheduler stderr ---\n{}",
            self.stdout().join("\n"),
            std::fs::read_to_string(&self.stderr).unwrap_or_default()
        )
    }

    /// Panics with its output if it has exited.
    pub fn assert_alive(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!("the scheduler exited ({status})\n{}", self.output());
        }
    }

    /// SIGKILL, as a crash would.
    pub fn kill9(&mut self) {
        signal(self.child.id(), libc::SIGKILL);
        let _ = self.child.wait();
    }

    /// SIGTERM, and waits for it to exit.
    pub fn stop(&mut self) {
        signal(self.child.id(), libc::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ServiceScheduler {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("{}", self.output());
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs a `cairn` command to its end (it must end within `within`).
pub fn cairn(args: &[&str], within: Duration) -> Output {
    cairn_with_env(args, &[], within)
}

/// [`cairn`] with `env` added to its environment.
pub fn cairn_with_env(args: &[&str], env: &[(&str, &str)], within: Duration) -> Output {
    let mut child = Command::new(super::cairn_binary())
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting cairn");
    let deadline = Instant::now() + within;
    loop {
        if let Ok(Some(_)) = child.try_wait() {
            return child.wait_with_output().expect("the output of cairn");
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().expect("the output of cairn");
            panic!(
                "cairn {args:?} did not end within {within:?}\n{}",
                output_text(&out)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A finished command's status, stdout and stderr, for a failure message.
pub fn output_text(out: &Output) -> String {
    format!(
        "status {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `cairn ARGS --state-dir <scratch>/state`: a command on the service a test's
/// [`ServiceScheduler::on_cluster`] runs.
pub fn cairn_on(cluster: &super::ClusterProcess, args: &[&str]) -> Output {
    let state = cluster.scratch.join("state");
    let mut all = args.to_vec();
    all.extend_from_slice(&["--state-dir", state.to_str().expect("a UTF-8 path")]);
    cairn(&all, Duration::from_secs(60))
}

/// [`cairn_on`], which must succeed: its stdout.
pub fn cairn_on_ok(cluster: &super::ClusterProcess, args: &[&str]) -> String {
    let out = cairn_on(cluster, args);
    assert!(
        out.status.success(),
        "cairn {args:?}\n{}",
        output_text(&out)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
