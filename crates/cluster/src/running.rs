//! Whether a cluster runs on a work directory, where its master is, and stopping what it
//! started.
//!
//! A running cluster holds an exclusive `flock` on `<work-dir>/pid` (which holds its pid) for as
//! long as it serves, and writes its master's URL to `<work-dir>/master`. The lock, not the
//! files, says whether it runs: the kernel drops it when the process dies however it dies, so a
//! `kill -9` leaves no stale claim. Commands find the master from here instead of guessing a
//! port, and a second cluster on the same directory is refused with the first one's pid and
//! address instead of `Address already in use` (or, on another port, two masters writing one
//! set of checkpoints).

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

/// The file a running cluster locks and writes its pid to.
pub const PID_FILE: &str = "pid";
/// The file a running cluster writes its master's URL to.
pub const MASTER_FILE: &str = "master";

/// A cluster that runs on a work directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunningCluster {
    /// The process serving it (`cairn cluster`, or a `cairn run` with its embedded cluster);
    /// `None` in the moment between taking the lock and writing the pid.
    pub pid: Option<u32>,
    /// Its master's URL; `None` until the master listens.
    pub master: Option<String>,
}

impl std::fmt::Display for RunningCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.pid {
            Some(pid) => write!(f, "pid {pid}")?,
            None => write!(f, "pid unknown")?,
        }
        match &self.master {
            Some(url) => write!(f, ", master {url}"),
            None => write!(f, ", master not listening yet"),
        }
    }
}

/// The cluster running on `work_dir`, if one does. An error only when the lock file exists
/// and cannot be opened.
pub fn running(work_dir: &Path) -> io::Result<Option<RunningCluster>> {
    let path = work_dir.join(PID_FILE);
    let file = match File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    // A shared lock we can take means nobody holds the exclusive one.
    if try_lock(&file, libc::LOCK_SH)? {
        unlock(&file);
        return Ok(None);
    }
    Ok(Some(describe(work_dir)))
}

fn describe(work_dir: &Path) -> RunningCluster {
    let read = |name: &str| {
        let mut text = String::new();
        File::open(work_dir.join(name))
            .and_then(|f| f.take(4096).read_to_string(&mut text))
            .ok()?;
        let text = text.trim();
        (!text.is_empty()).then(|| text.to_string())
    };
    RunningCluster {
        pid: read(PID_FILE).and_then(|p| p.parse().ok()),
        master: read(MASTER_FILE),
    }
}

/// The claim of a running cluster on its work directory: released when dropped (or when the
/// process dies).
#[derive(Debug)]
pub(crate) struct Claim {
    _file: File,
}

/// Takes the work directory for this process, or says who has it.
pub(crate) fn claim(work_dir: &Path) -> Result<Claim, ClaimError> {
    let path = work_dir.join(PID_FILE);
    let io_error = |source| ClaimError::Io {
        path: path.clone(),
        source,
    };
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(io_error)?;
    if !try_lock(&file, libc::LOCK_EX).map_err(io_error)? {
        return Err(ClaimError::Running {
            work_dir: work_dir.to_path_buf(),
            running: describe(work_dir),
        });
    }
    file.set_len(0).map_err(io_error)?;
    writeln!(file, "{}", std::process::id()).map_err(io_error)?;
    Ok(Claim { _file: file })
}

/// Writes the master's URL for the commands that look for it (through a rename: a reader never
/// sees half of it).
pub(crate) fn write_master(work_dir: &Path, url: &str) -> io::Result<()> {
    let tmp = work_dir.join(format!("{MASTER_FILE}.tmp"));
    std::fs::write(&tmp, format!("{url}\n"))?;
    std::fs::rename(&tmp, work_dir.join(MASTER_FILE))
}

/// The work directory could not be claimed.
#[derive(Debug, thiserror::Error)]
pub enum ClaimError {
    /// Another process runs a cluster on it.
    #[error("the embedded cluster in {work_dir} is running already ({running})")]
    Running {
        /// The cluster's work directory.
        work_dir: PathBuf,
        /// Who runs it.
        running: RunningCluster,
    },
    /// The lock file could not be used.
    #[error("{path}: {source}")]
    Io {
        /// The lock file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
}

#[allow(unsafe_code)]
fn try_lock(file: &File, kind: i32) -> io::Result<bool> {
    loop {
        // SAFETY: flock(2) on a descriptor we own; it touches no memory of ours.
        let rc = unsafe { libc::flock(file.as_raw_fd(), kind | libc::LOCK_NB) };
        if rc == 0 {
            return Ok(true);
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EWOULDBLOCK) => return Ok(false),
            Some(libc::EINTR) => continue,
            _ => return Err(e),
        }
    }
}

#[allow(unsafe_code)]
fn unlock(file: &File) {
    // SAFETY: as in `try_lock`.
    unsafe {
        libc::flock(file.as_raw_fd(), libc::LOCK_UN);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_claimed_directory_is_running_until_the_claim_is_dropped() {
        let dir = std::env::temp_dir().join(format!("cairn-running-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        assert_eq!(running(&dir).unwrap(), None);
        let held = claim(&dir).unwrap();
        write_master(&dir, "http://127.0.0.1:5999").unwrap();
        let seen = running(&dir).unwrap().expect("running");
        assert_eq!(seen.pid, Some(std::process::id()));
        assert_eq!(seen.master.as_deref(), Some("http://127.0.0.1:5999"));
        match claim(&dir) {
            Err(ClaimError::Running { running, .. }) => assert_eq!(running, seen),
            other => panic!("a second claim: {other:?}"),
        }
        drop(held);
        assert_eq!(running(&dir).unwrap(), None);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
