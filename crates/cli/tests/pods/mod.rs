//! Pods outlive the processes that started them (by design: a scheduler or cluster that stops
//! leaves its tasks running). Tests therefore clean up by session: each executor leads one, and
//! it and its tasks carry their sandbox, under the test's directory, in their environment.

#![allow(dead_code)] // not every test file uses every helper

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long anything but a whole deploy may take.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// A fresh directory for one test, removed (with every pod it started) when dropped.
pub struct Scratch {
    pub root: PathBuf,
}

impl Scratch {
    pub fn new(name: &str) -> Scratch {
        let root = std::env::temp_dir().join(format!("cairn-e2e-{name}-{}", std::process::id()));
        kill_pod_sessions(&root);
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        Scratch { root }
    }

    pub fn work_dir(&self) -> PathBuf {
        self.root.join("work")
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        kill_pod_sessions(&self.root);
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// Sessions of the pods a work directory's agents started: each executor leads a session,
/// and it and its tasks carry their sandbox, under the work directory, in their environment.
pub fn pod_sessions(dir: &Path) -> BTreeSet<i32> {
    let needle = dir.to_string_lossy().into_owned().into_bytes();
    let own = session_of(std::process::id() as i32);
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return BTreeSet::new();
    };
    procs
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
            environ
                .windows(needle.len())
                .any(|w| w == needle.as_slice())
        })
        .filter_map(session_of)
        .filter(|sid| Some(*sid) != own && *sid > 1)
        .collect()
}

pub fn session_of(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // After the parenthesised command name: state, ppid, pgrp, session.
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split_whitespace().nth(3)?.parse().ok()
}

/// Kills every process in the pod sessions of `dir`, until none is left.
pub fn kill_pod_sessions(dir: &Path) {
    let until = Instant::now() + DEADLINE;
    loop {
        let sessions = pod_sessions(dir);
        if sessions.is_empty() || Instant::now() >= until {
            return;
        }
        let Ok(procs) = std::fs::read_dir("/proc") else {
            return;
        };
        for pid in procs
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        {
            if session_of(pid).is_some_and(|sid| sessions.contains(&sid)) {
                signal(pid as u32, libc::SIGKILL);
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Whether the test (and the cairn it starts) runs as root: only then are tasks switched to
/// their service's user.
pub fn running_as_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

#[allow(unsafe_code)]
pub fn signal(pid: u32, sig: i32) {
    // SAFETY: kill(2) takes plain integers and touches no memory of ours.
    unsafe {
        libc::kill(pid as i32, sig);
    }
}
