//! Task processes: building the environment, spawning a command in its own
//! process group, signalling the group, and reading how it ended.
//!
//! Each task gets a process group of its own (its leader's pid is the group
//! id), so that a kill reaches everything the task forked, as a Mesos
//! container's destruction would.

use std::fs::OpenOptions;
use std::io;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};

use tokio::process::{Child, Command};

use super::rlimits::{self, TaskRlimit};

/// Variables a task inherits from the executor. Everything else it gets is
/// explicit, so a task does not depend on how the cluster process was started.
const INHERITED_VARIABLES: &[&str] = &["PATH", "HOME", "USER", "LANG"];

/// What to run: a shell command line, or a program with its full argv.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Program {
    /// `sh -c <line>`.
    Shell(String),
    /// `program` executed directly; `argv` includes `argv[0]` (Mesos'
    /// `CommandInfo.arguments`), and may be empty.
    Argv { program: String, argv: Vec<String> },
}

/// Everything needed to start one task (or one command health check).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaunchSpec {
    pub program: Program,
    /// The complete environment; nothing else is inherited.
    pub env: Vec<(String, String)>,
    pub cwd: PathBuf,
    /// Where stdout and stderr are appended; `None` discards them.
    pub output: Option<OutputFiles>,
    /// Resource limits set before the program starts (the task's `rlimit_info`).
    pub rlimits: Vec<TaskRlimit>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputFiles {
    pub stdout: PathBuf,
    pub stderr: PathBuf,
}

impl OutputFiles {
    /// `stdout` and `stderr` in `dir`, as Mesos lays out a sandbox.
    pub fn in_dir(dir: &Path) -> Self {
        OutputFiles {
            stdout: dir.join("stdout"),
            stderr: dir.join("stderr"),
        }
    }
}

/// How a task's main process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitOutcome {
    Code(i32),
    Signal(i32),
}

impl ExitOutcome {
    pub fn from_status(status: ExitStatus) -> Self {
        match (status.code(), status.signal()) {
            (Some(code), _) => ExitOutcome::Code(code),
            (None, Some(signal)) => ExitOutcome::Signal(signal),
            // Neither is only possible for a stopped or continued child, which
            // `wait` never reports; call it a failure rather than panic.
            (None, None) => ExitOutcome::Code(-1),
        }
    }

    pub fn succeeded(self) -> bool {
        self == ExitOutcome::Code(0)
    }

    /// Mesos' wording for the status update message.
    pub fn describe(self) -> String {
        match self {
            ExitOutcome::Code(code) => format!("Command exited with status {code}"),
            ExitOutcome::Signal(signal) => {
                format!("Command terminated with signal {}", signal_name(signal))
            }
        }
    }
}

/// The signal's description as `strsignal(3)` gives it on Linux, which is
/// what Mesos puts in its messages.
pub fn signal_name(signal: i32) -> String {
    let name = match signal {
        libc::SIGHUP => "Hangup",
        libc::SIGINT => "Interrupt",
        libc::SIGQUIT => "Quit",
        libc::SIGILL => "Illegal instruction",
        libc::SIGTRAP => "Trace/breakpoint trap",
        libc::SIGABRT => "Aborted",
        libc::SIGBUS => "Bus error",
        libc::SIGFPE => "Floating point exception",
        libc::SIGKILL => "Killed",
        libc::SIGUSR1 => "User defined signal 1",
        libc::SIGSEGV => "Segmentation fault",
        libc::SIGUSR2 => "User defined signal 2",
        libc::SIGPIPE => "Broken pipe",
        libc::SIGALRM => "Alarm clock",
        libc::SIGTERM => "Terminated",
        _ => return format!("Unknown signal {signal}"),
    };
    name.to_owned()
}

/// The environment of a task: a few inherited variables, then the Mesos task
/// variables, then the task's own `command.environment` (which wins, because
/// the framework asked for it explicitly).
pub fn task_environment(
    inherited: impl IntoIterator<Item = (String, String)>,
    mesos: &[(&str, String)],
    command: &[(String, String)],
) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = Vec::new();
    for (name, value) in inherited {
        if INHERITED_VARIABLES.contains(&name.as_str()) {
            set_var(&mut env, &name, value);
        }
    }
    for (name, value) in mesos {
        set_var(&mut env, name, value.clone());
    }
    for (name, value) in command {
        set_var(&mut env, name, value.clone());
    }
    env
}

/// Sets `name` in `env`, replacing an earlier value in place so the order
/// of first definition is kept.
pub fn set_var(env: &mut Vec<(String, String)>, name: &str, value: String) {
    match env.iter_mut().find(|(existing, _)| existing == name) {
        Some(slot) => slot.1 = value,
        None => env.push((name.to_owned(), value)),
    }
}

/// Starts the program as the leader of a new process group.
///
/// `kill_on_drop` is off: a task must outlive anything in the executor that
/// holds its handle; it ends only when we signal its group.
pub fn spawn(spec: &LaunchSpec) -> io::Result<Child> {
    let mut command = command(spec)?;
    match &spec.output {
        Some(files) => {
            command
                .stdout(append(&files.stdout)?)
                .stderr(append(&files.stderr)?);
        }
        None => {
            command.stdout(Stdio::null()).stderr(Stdio::null());
        }
    }
    command.spawn()
}

/// [`spawn`], with stdout and stderr both written to `output` whatever `spec.output` says (a
/// check's output is read, not kept; one pipe keeps the two in the order they were written).
pub fn spawn_into(spec: &LaunchSpec, output: std::os::fd::OwnedFd) -> io::Result<Child> {
    command(spec)?
        .stdout(output.try_clone()?)
        .stderr(output)
        .spawn()
}

/// The command of `spec`, all but its output.
fn command(spec: &LaunchSpec) -> io::Result<Command> {
    let mut command = match &spec.program {
        Program::Shell(line) => {
            let mut command = Command::new("sh");
            command.arg("-c").arg(line);
            command
        }
        Program::Argv { program, argv } => {
            let mut command = Command::new(program);
            if let Some((arg0, rest)) = argv.split_first() {
                command.arg0(arg0).args(rest);
            }
            command
        }
    };
    command
        .env_clear()
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .current_dir(&spec.cwd)
        .stdin(Stdio::null())
        .process_group(0)
        .kill_on_drop(false);
    if !spec.rlimits.is_empty() {
        rlimits::check_grantable(&spec.rlimits).map_err(io::Error::other)?;
        let limits = spec.rlimits.clone();
        // SAFETY: the closure runs in the child between fork and exec; `apply` only makes
        // setrlimit calls on values copied before the fork, allocating nothing.
        #[allow(unsafe_code)]
        unsafe {
            command.pre_exec(move || rlimits::apply(&limits));
        }
    }
    Ok(command)
}

/// Opens a task's output file for appending. Not through a symbolic link: the sandbox is the
/// tasks' to write in, and a link planted where the next task's output goes must not make the
/// executor append to a file elsewhere.
fn append(path: &Path) -> io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    OpenOptions::new()
        .create(true)
        .append(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
}

/// The signals the executor sends to a task's process group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupSignal {
    /// SIGTERM: ask the task to stop.
    Terminate,
    /// SIGKILL: end it.
    Kill,
}

/// Sends `signal` to every process of the group `pgid`. A group that is
/// already gone is not an error: the task beat us to it.
pub fn signal_group(pgid: u32, signal: GroupSignal) -> io::Result<()> {
    let pgid = i32::try_from(pgid)
        .ok()
        // 0 would signal our own group and 1 is init's; neither is a task.
        .filter(|pgid| *pgid > 1)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not a task process group"))?;
    let signal = match signal {
        GroupSignal::Terminate => libc::SIGTERM,
        GroupSignal::Kill => libc::SIGKILL,
    };
    match killpg(pgid, signal) {
        Err(error) if error.raw_os_error() == Some(libc::ESRCH) => Ok(()),
        other => other,
    }
}

/// Makes this process undumpable: its `/proc` files become root's, and a process of the
/// same user may neither read its memory nor trace it. The executor holds a secret its tasks'
/// user must not get from it; the tasks it starts are dumpable again (exec resets it).
#[allow(unsafe_code)]
pub fn forbid_inspection() {
    // SAFETY: prctl(2) with PR_SET_DUMPABLE takes integers only and touches no memory of ours.
    let rc = unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) };
    if rc != 0 {
        tracing::warn!(
            "cannot make the executor undumpable: {}",
            io::Error::last_os_error()
        );
    }
}

#[allow(unsafe_code)]
fn killpg(pgid: i32, signal: i32) -> io::Result<()> {
    // SAFETY: killpg(2) takes two integers and touches no memory of ours; the
    // caller has checked that `pgid` names a task group, not ours or init's.
    let rc = unsafe { libc::killpg(pgid, signal) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_task_environment_keeps_only_the_inherited_basics_of_the_executor() {
        let inherited = pairs(&[
            ("PATH", "/usr/bin"),
            ("HOME", "/root"),
            ("MESOS_AGENT_ENDPOINT", "leak"),
            ("RUST_LOG", "debug"),
        ]);
        let env = task_environment(inherited, &[], &[]);
        assert_eq!(env, pairs(&[("PATH", "/usr/bin"), ("HOME", "/root")]));
    }

    #[test]
    fn the_commands_own_variables_override_mesos_ones() {
        let env = task_environment(
            pairs(&[("PATH", "/usr/bin")]),
            &[
                ("MESOS_TASK_ID", "t1".to_owned()),
                ("HOST", "127.0.0.2".to_owned()),
            ],
            &pairs(&[("HOST", "custom"), ("PORT_API", "31000")]),
        );
        assert_eq!(
            env,
            pairs(&[
                ("PATH", "/usr/bin"),
                ("MESOS_TASK_ID", "t1"),
                ("HOST", "custom"),
                ("PORT_API", "31000"),
            ])
        );
    }

    #[test]
    fn exit_outcomes_are_described_in_mesos_words() {
        assert_eq!(
            ExitOutcome::Code(3).describe(),
            "Command exited with status 3"
        );
        assert_eq!(
            ExitOutcome::Signal(libc::SIGKILL).describe(),
            "Command terminated with signal Killed"
        );
        assert_eq!(signal_name(200), "Unknown signal 200");
        assert!(ExitOutcome::Code(0).succeeded());
        assert!(!ExitOutcome::Signal(libc::SIGTERM).succeeded());
    }

    #[test]
    fn signalling_our_own_group_or_init_is_refused() {
        assert!(signal_group(0, GroupSignal::Kill).is_err());
        assert!(signal_group(1, GroupSignal::Kill).is_err());
    }

    #[tokio::test]
    async fn a_spawned_task_leads_its_own_process_group_and_dies_with_it() {
        let dir = std::env::temp_dir().join(format!("cairn-process-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let spec = LaunchSpec {
            program: Program::Shell("echo started; sleep 30 & wait".to_owned()),
            env: pairs(&[("PATH", "/usr/bin:/bin")]),
            cwd: dir.clone(),
            output: Some(OutputFiles::in_dir(&dir)),
            rlimits: Vec::new(),
        };
        let mut child = spawn(&spec).unwrap();
        let pid = child.id().unwrap();
        // procfs field 5 is the process group id: it must be the leader pid.
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        let after_name = &stat[stat.rfind(')').unwrap() + 2..];
        let pgrp: u32 = after_name.split(' ').nth(2).unwrap().parse().unwrap();
        assert_eq!(pgrp, pid);

        signal_group(pid, GroupSignal::Kill).unwrap();
        let status = child.wait().await.unwrap();
        assert_eq!(
            ExitOutcome::from_status(status),
            ExitOutcome::Signal(libc::SIGKILL)
        );
        // Signalling a group that no longer exists is fine.
        signal_group(pid, GroupSignal::Kill).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test]
    async fn a_task_output_file_that_is_a_link_is_not_appended_through() {
        let dir = std::env::temp_dir().join(format!("cairn-process-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let elsewhere = dir.join("elsewhere");
        std::fs::write(&elsewhere, "untouched").unwrap();
        std::os::unix::fs::symlink(&elsewhere, dir.join("stdout")).unwrap();
        let spec = LaunchSpec {
            program: Program::Shell("echo appended".to_owned()),
            env: pairs(&[("PATH", "/usr/bin:/bin")]),
            cwd: dir.clone(),
            output: Some(OutputFiles::in_dir(&dir)),
            rlimits: Vec::new(),
        };
        if let Ok(mut child) = spawn(&spec) {
            child.wait().await.unwrap();
        }
        assert_eq!(std::fs::read_to_string(&elsewhere).unwrap(), "untouched");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test]
    async fn an_argv_command_runs_without_a_shell_and_gets_its_argv0() {
        let dir = std::env::temp_dir().join(format!("cairn-process-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let spec = LaunchSpec {
            program: Program::Argv {
                program: "/bin/sh".to_owned(),
                argv: vec![
                    "my-shell".to_owned(),
                    "-c".to_owned(),
                    "echo \"$0 $GREETING\"".to_owned(),
                ],
            },
            env: pairs(&[("GREETING", "hello")]),
            cwd: dir.clone(),
            output: Some(OutputFiles::in_dir(&dir)),
            rlimits: Vec::new(),
        };
        let status = spawn(&spec).unwrap().wait().await.unwrap();
        assert!(ExitOutcome::from_status(status).succeeded());
        let stdout = std::fs::read_to_string(dir.join("stdout")).unwrap();
        assert_eq!(stdout, "my-shell hello\n");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test]
    async fn a_task_starts_with_its_resource_limits_and_one_past_the_kernel_is_refused_by_name() {
        let dir = std::env::temp_dir().join(format!("cairn-process-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let limited = |soft, hard| {
            vec![TaskRlimit {
                resource: cairn_proto::RlimitType::Nofile,
                soft,
                hard,
            }]
        };
        let spec = LaunchSpec {
            program: Program::Shell("ulimit -Sn; ulimit -Hn".to_owned()),
            env: pairs(&[("PATH", "/usr/bin:/bin")]),
            cwd: dir.clone(),
            output: Some(OutputFiles::in_dir(&dir)),
            rlimits: limited(321, 654),
        };
        let status = spawn(&spec).unwrap().wait().await.unwrap();
        assert!(ExitOutcome::from_status(status).succeeded());
        assert_eq!(
            std::fs::read_to_string(dir.join("stdout")).unwrap(),
            "321\n654\n"
        );

        // No process may hold more open files than fs.nr_open, root or not: refused before
        // the fork, naming the limit, rather than capped.
        let nr_open: u64 = std::fs::read_to_string("/proc/sys/fs/nr_open")
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let too_many = LaunchSpec {
            rlimits: limited(nr_open + 1, nr_open + 1),
            ..spec
        };
        let error = spawn(&too_many).unwrap_err().to_string();
        assert!(error.contains("RLIMIT_NOFILE"), "{error}");
        assert!(error.contains(&(nr_open + 1).to_string()), "{error}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
