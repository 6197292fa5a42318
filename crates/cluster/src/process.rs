//! Processes on this machine: whether an executor is still alive, and killing all that an
//! executor started. An executor makes itself a session leader when it starts, so "everything
//! of this pod" is "every process in its session", even after the executor itself has died.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

/// The start time of a process (clock ticks since boot), which tells a live executor apart
/// from an unrelated process that later got the same pid.
pub(crate) fn start_time(pid: u32) -> Option<u64> {
    stat(pid).map(|s| s.start)
}

/// Whether the process is alive (not a zombie) and, when `start` is known, the same process.
pub(crate) fn alive(pid: u32, start: Option<u64>) -> bool {
    match stat(pid) {
        Some(s) => s.state != 'Z' && start.is_none_or(|st| st == s.start),
        None => false,
    }
}

struct Stat {
    state: char,
    session: u32,
    start: u64,
}

fn stat(pid: u32) -> Option<Stat> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces and parentheses: fields start after the last ')'.
    let rest = &text[text.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    // `rest` starts at field 3 (state); session is field 6, starttime field 22.
    Some(Stat {
        state: fields.first()?.chars().next()?,
        session: fields.get(3)?.parse().ok()?,
        start: fields.get(19)?.parse().ok()?,
    })
}

/// Every process's pid, as `/proc` lists them now (none where it cannot be read).
fn pids() -> impl Iterator<Item = u32> {
    fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()))
}

/// Sends `signal` to every process in the session led by `leader`. Members must have started
/// no earlier than the leader did, so a recycled pid never takes strangers with it.
pub(crate) fn signal_session(leader: u32, leader_start: Option<u64>, signal: i32) -> usize {
    let mut hit = 0;
    for pid in pids() {
        let Some(s) = stat(pid) else { continue };
        if s.session != leader || leader_start.is_some_and(|ls| s.start < ls) {
            continue;
        }
        if send_signal(pid, signal) {
            hit += 1;
        }
    }
    hit
}

/// Whether any process of the session is still there.
pub(crate) fn session_alive(leader: u32, leader_start: Option<u64>) -> bool {
    let Ok(entries) = fs::read_dir("/proc") else {
        return false;
    };
    entries.flatten().any(|entry| {
        entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
            .and_then(stat)
            .is_some_and(|s| {
                s.session == leader && s.state != 'Z' && leader_start.is_none_or(|ls| s.start >= ls)
            })
    })
}

/// A pod process the agent has no checkpoint for.
#[derive(Debug)]
pub(crate) struct Orphan {
    pub pid: u32,
    /// Its session: the pid of the executor that started it.
    pub session: u32,
    /// The sandbox it says it runs in (`MESOS_SANDBOX`).
    pub sandbox: PathBuf,
}

/// SIGKILLs the pod processes running in an agent's sandboxes (`sandboxes`, its `slaves/`
/// tree) that belong to none of the executors it knows (`known`: pid and start time, and
/// sandbox): what a lost executor checkpoint leaves running. An agent that does not know a
/// process cannot account for what it uses; as Mesos' containerizer destroys the containers it
/// finds at recovery and has no checkpoint for, they go.
///
/// A pod process is recognised by the `MESOS_SANDBOX` its executor gave it, inside
/// `sandboxes`: a shell an operator opened in a sandbox directory is not one. An orphan
/// executor takes its whole session (its tasks) with it; a task whose executor is already gone
/// goes alone.
pub(crate) fn kill_orphans(
    sandboxes: &Path,
    known: &[(Option<u32>, Option<u64>, PathBuf)],
) -> Vec<Orphan> {
    let me = std::process::id();
    let mut orphans = Vec::new();
    for pid in pids() {
        if pid == me {
            continue;
        }
        let Some(sandbox) = sandbox_of(pid) else {
            continue;
        };
        if !sandbox.is_absolute()
            || !sandbox.starts_with(sandboxes)
            || known.iter().any(|(_, _, dir)| sandbox.starts_with(dir))
        {
            continue;
        }
        let Some(s) = stat(pid) else { continue };
        let of_known = known
            .iter()
            .any(|(p, start, _)| *p == Some(s.session) && start.is_none_or(|st| s.start >= st));
        if s.state == 'Z' || of_known {
            continue;
        }
        orphans.push((
            Orphan {
                pid,
                session: s.session,
                sandbox,
            },
            s.start,
        ));
    }
    let leaders: BTreeMap<u32, u64> = orphans
        .iter()
        .filter(|(o, _)| o.pid == o.session)
        .map(|(o, start)| (o.pid, *start))
        .collect();
    for (leader, start) in &leaders {
        signal_session(*leader, Some(*start), libc::SIGKILL);
    }
    for (o, _) in &orphans {
        if !leaders.contains_key(&o.session) {
            send_signal(o.pid, libc::SIGKILL);
        }
    }
    orphans.into_iter().map(|(o, _)| o).collect()
}

/// Kills every process the cluster on `work_dir` started and left running: each executor
/// its agents checkpointed, with its session (its tasks), and any process that runs in one of
/// the agents' sandboxes (by its `MESOS_SANDBOX`). For after the cluster itself has stopped
/// (`cairn cluster down`): a running cluster would see its executors die and report their tasks
/// lost. Returns how many processes were signalled; repeats until none is left (an executor may
/// be starting a task meanwhile), for at most a few seconds.
pub fn stop_pods(work_dir: &Path) -> usize {
    let mut killed = std::collections::BTreeSet::new();
    let agents: Vec<PathBuf> = fs::read_dir(work_dir.join("agents"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .collect();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let before = killed.len();
        for agent in &agents {
            for (pid, start) in checkpointed_executors(agent) {
                if alive(pid, start) {
                    killed.insert(pid);
                }
                for member in session_members(pid, start) {
                    killed.insert(member);
                }
                signal_session(pid, start, libc::SIGKILL);
            }
            for orphan in kill_orphans(&agent.join("slaves"), &[]) {
                killed.insert(orphan.pid);
            }
        }
        if killed.len() == before || std::time::Instant::now() > deadline {
            return killed.len();
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// The live members of the session `leader` leads (see [`signal_session`]).
fn session_members(leader: u32, leader_start: Option<u64>) -> Vec<u32> {
    pids()
        .filter(|pid| {
            stat(*pid).is_some_and(|s| {
                s.session == leader && s.state != 'Z' && leader_start.is_none_or(|ls| s.start >= ls)
            })
        })
        .collect()
}

/// The executors (pid, start time) an agent's checkpoints name.
fn checkpointed_executors(agent_dir: &Path) -> Vec<(u32, Option<u64>)> {
    let mut out = Vec::new();
    for file in fs::read_dir(agent_dir.join("executors"))
        .into_iter()
        .flatten()
        .flatten()
    {
        let Ok(text) = fs::read_to_string(file.path()) else {
            continue;
        };
        let Ok(doc) = serde_json::from_str::<serde_json::Value>(&text) else {
            continue;
        };
        if let Some(pid) = doc["pid"].as_u64().and_then(|p| u32::try_from(p).ok()) {
            out.push((pid, doc["pid_start"].as_u64()));
        }
    }
    out
}

/// The `MESOS_SANDBOX` a process was started with, if it can be read.
fn sandbox_of(pid: u32) -> Option<PathBuf> {
    let environ = fs::read(format!("/proc/{pid}/environ")).ok()?;
    environ
        .split(|b| *b == 0)
        .find_map(|var| var.strip_prefix(b"MESOS_SANDBOX="))
        .and_then(|v| std::str::from_utf8(v).ok())
        .map(PathBuf::from)
}

#[allow(unsafe_code)]
fn send_signal(pid: u32, signal: i32) -> bool {
    let Ok(pid) = i32::try_from(pid) else {
        return false;
    };
    // SAFETY: kill(2) takes plain integers and touches no memory of ours.
    unsafe { libc::kill(pid, signal) == 0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `sleep` with `MESOS_SANDBOX` set to `sandbox` (when given), working in `cwd`.
    fn sleeper(sandbox: Option<&Path>, cwd: &Path) -> std::process::Child {
        let mut cmd = std::process::Command::new("sleep");
        cmd.arg("100").current_dir(cwd);
        if let Some(s) = sandbox {
            cmd.env("MESOS_SANDBOX", s);
        }
        cmd.spawn().expect("spawning sleep")
    }

    fn reaped_or_killed(child: &mut std::process::Child) -> bool {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::time::Instant::now() < deadline {
            if child.try_wait().unwrap().is_some() {
                return true;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        false
    }

    #[test]
    fn only_pod_processes_no_executor_accounts_for_are_killed_as_orphans() {
        let root = std::env::temp_dir().join(format!("cairn-orphans-{}", std::process::id()));
        let slaves = root.join("agents/0/slaves");
        let lost = slaves.join("S0/frameworks/f/executors/lost/runs/c1");
        let kept = slaves.join("S0/frameworks/f/executors/kept/runs/c2");
        for d in [&lost, &kept] {
            fs::create_dir_all(d).unwrap();
        }
        let mut orphan = sleeper(Some(&lost.join("containers/t1-container")), &root);
        let mut known = sleeper(Some(&kept), &root);
        // An operator's shell that looks around in a sandbox is not a pod process.
        let mut visitor = sleeper(None, &lost);
        // Nor is a process of some other agent's sandbox.
        let mut elsewhere = sleeper(Some(&root.join("agents/1/slaves/x")), &root);

        let found = kill_orphans(&slaves, &[(None, None, kept.clone())]);
        assert_eq!(
            found.iter().map(|o| o.pid).collect::<Vec<_>>(),
            vec![orphan.id()]
        );
        assert!(reaped_or_killed(&mut orphan));
        for child in [&mut known, &mut visitor, &mut elsewhere] {
            assert!(
                child.try_wait().unwrap().is_none(),
                "{} was killed",
                child.id()
            );
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = fs::remove_dir_all(root);
    }

    #[test]
    fn this_process_is_alive_with_its_own_start_time() {
        let me = std::process::id();
        let start = start_time(me);
        assert!(start.is_some());
        assert!(alive(me, start));
        assert!(!alive(me, start.map(|s| s + 1)));
    }
}
