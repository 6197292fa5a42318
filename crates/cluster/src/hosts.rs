//! Stable task names on one machine, resolved as Mesos-DNS would resolve them on a cluster.
//!
//! The master keeps one hosts file, `<work-dir>/hosts`: the machine's own `/etc/hosts`, then a
//! line `<agent address> <task>.<framework>.<domain>` for every task that is placed and not
//! terminal. Each executor is started in a mount namespace of its own where that file is
//! bind-mounted over `/etc/hosts` (as Mesos' network isolator gives a container its own), so the
//! executor and every task it forks resolve the names; the machine's `/etc/hosts` is never
//! touched.
//!
//! A bind mount holds the file's inode, not its name: the file is therefore only ever written in
//! place, and kept across restarts of the cluster (executors outlive them and keep the inode
//! their namespace was given).

use std::collections::BTreeMap;
use std::ffi::{CStr, CString};
use std::fs::File;
use std::io;
use std::net::Ipv4Addr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The file under the work dir.
pub(crate) const FILE_NAME: &str = "hosts";

/// The machine's own hosts file: read, never written.
pub(crate) const MACHINE_HOSTS: &str = "/etc/hosts";

/// The line that separates the machine's entries from the tasks'.
const TASKS_HEADER: &str = "# cairn cluster: placed tasks, <task>.<framework>.<domain>";

/// One task's name and where it runs, with what decides between two tasks of one name.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct HostEntry {
    /// `<task label>.<framework label>.<domain>`.
    pub name: String,
    /// Its agent's address.
    pub ip: Ipv4Addr,
    /// Whether its agent is registered and reachable now.
    pub reachable: bool,
    /// When its latest status was made (seconds since the epoch; 0 before any).
    pub since: f64,
}

/// The text of the file: the machine's own entries first (so `localhost` and the machine's
/// names resolve as before), then one line per name, ordered by name. Two tasks of one name (a
/// pod replaced while its old agent is away, whose task the master still counts) give one
/// line: a reachable agent's task over an unreachable one's, then the newer.
pub(crate) fn render(machine: &str, entries: &[HostEntry]) -> String {
    let mut best: BTreeMap<&str, &HostEntry> = BTreeMap::new();
    for e in entries {
        let better = match best.get(e.name.as_str()) {
            None => true,
            Some(b) => (e.reachable, e.since) > (b.reachable, b.since),
        };
        if better {
            best.insert(&e.name, e);
        }
    }
    let mut text = String::with_capacity(machine.len() + 80 * (best.len() + 1));
    text.push_str(machine);
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(TASKS_HEADER);
    text.push('\n');
    for (name, e) in best {
        text.push_str(&format!("{} {name}\n", e.ip));
    }
    text
}

/// The hosts file, open for writing in place.
pub(crate) struct HostsFile {
    file: File,
    path: PathBuf,
}

impl HostsFile {
    /// Opens `<work_dir>/hosts`, creating it (0644: every task user reads it) when missing. An
    /// existing file is kept, never replaced: running executors hold its inode.
    pub(crate) fn open(work_dir: &Path) -> io::Result<HostsFile> {
        let path = work_dir.join(FILE_NAME);
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o644)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&path)?;
        file.set_permissions(std::fs::Permissions::from_mode(0o644))?;
        Ok(HostsFile { file, path })
    }

    /// The file's path.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Replaces the file's text in place. A reader never sees it empty or cut short: the new
    /// text is written over the old, padded with a comment to the old length when shorter (so
    /// no line of the old text is left after it), and only then is the padding cut off.
    pub(crate) fn write(&mut self, text: &str) -> io::Result<()> {
        let old = self.file.metadata()?.len();
        let new = text.len() as u64;
        let mut bytes = text.as_bytes().to_vec();
        if new < old {
            bytes.extend(padding((old - new) as usize));
        }
        self.file.write_all_at(&bytes, 0)?;
        if new < old {
            self.file.set_len(new)?;
        }
        Ok(())
    }
}

/// `n` bytes that a hosts file reader skips: a comment line (or a bare newline), which stays a
/// comment wherever a reader's view of the file ends.
fn padding(n: usize) -> Vec<u8> {
    let mut pad = vec![b' '; n];
    pad[0] = if n == 1 { b'\n' } else { b'#' };
    pad[n - 1] = b'\n';
    pad
}

/// What a spawned executor needs to enter its namespace: the hosts file's path, made before
/// the fork (the child may not allocate).
#[derive(Clone)]
pub(crate) struct Namespace {
    hosts: CString,
}

impl Namespace {
    pub(crate) fn new(hosts: &Path) -> io::Result<Namespace> {
        let hosts = CString::new(hosts.as_os_str().as_bytes())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        Ok(Namespace { hosts })
    }

    /// Whether this process may give its children the namespace: tries it on a child that
    /// does nothing else. The error says why not.
    pub(crate) fn check(&self) -> io::Result<()> {
        use std::os::unix::process::CommandExt;
        let mut probe = std::process::Command::new("/bin/sh");
        probe
            .args(["-c", ":"])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        let ns = self.clone();
        // SAFETY: `enter` makes only system calls on values made before the fork.
        #[allow(unsafe_code)]
        unsafe {
            probe.pre_exec(move || ns.enter());
        }
        let status = probe.spawn()?.wait()?;
        if status.success() {
            Ok(())
        } else {
            Err(io::Error::other(format!("the probe exited with {status}")))
        }
    }

    /// Between fork and exec, in the child: a mount namespace of its own, its mounts made
    /// private first (nothing it mounts may propagate back to the machine's), then the hosts
    /// file bound over `/etc/hosts`. Needs CAP_SYS_ADMIN, so it runs before the switch to the
    /// task's user.
    #[allow(unsafe_code)]
    pub(crate) fn enter(&self) -> io::Result<()> {
        const ROOT: &CStr = c"/";
        const ETC_HOSTS: &CStr = c"/etc/hosts";
        // SAFETY: plain system calls on NUL-terminated strings that outlive them.
        unsafe {
            if libc::unshare(libc::CLONE_NEWNS) != 0 {
                return Err(io::Error::last_os_error());
            }
            if libc::mount(
                std::ptr::null(),
                ROOT.as_ptr(),
                std::ptr::null(),
                libc::MS_REC | libc::MS_PRIVATE,
                std::ptr::null(),
            ) != 0
            {
                return Err(io::Error::last_os_error());
            }
            if libc::mount(
                self.hosts.as_ptr(),
                ETC_HOSTS.as_ptr(),
                std::ptr::null(),
                libc::MS_BIND,
                std::ptr::null(),
            ) != 0
            {
                return Err(io::Error::last_os_error());
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    fn entry(name: &str, ip: [u8; 4], reachable: bool, since: f64) -> HostEntry {
        HostEntry {
            name: name.into(),
            ip: Ipv4Addr::from(ip),
            reachable,
            since,
        }
    }

    #[test]
    fn the_machine_s_entries_come_first_then_one_line_per_task_name_in_name_order() {
        let text = render(
            "127.0.0.1 localhost\n::1 localhost ip6-localhost",
            &[
                entry("zk-1-server.prodzk.mesos", [127, 0, 0, 3], true, 2.0),
                entry("app-0-web.svc.mesos", [127, 0, 0, 2], true, 1.0),
                entry("zk-0-server.prodzk.mesos", [127, 0, 0, 4], true, 1.0),
            ],
        );
        assert_eq!(
            text,
            format!(
                "127.0.0.1 localhost\n::1 localhost ip6-localhost\n{TASKS_HEADER}\n\
                 127.0.0.2 app-0-web.svc.mesos\n\
                 127.0.0.4 zk-0-server.prodzk.mesos\n\
                 127.0.0.3 zk-1-server.prodzk.mesos\n"
            )
        );
    }

    #[test]
    fn a_name_held_by_two_tasks_goes_to_the_reachable_one_then_the_newer() {
        let text = render(
            "",
            &[
                entry("a.s.mesos", [127, 0, 0, 2], false, 9.0),
                entry("a.s.mesos", [127, 0, 0, 3], true, 1.0),
                entry("b.s.mesos", [127, 0, 0, 2], true, 1.0),
                entry("b.s.mesos", [127, 0, 0, 4], true, 5.0),
            ],
        );
        assert_eq!(
            text,
            format!("{TASKS_HEADER}\n127.0.0.3 a.s.mesos\n127.0.0.4 b.s.mesos\n")
        );
    }

    #[test]
    fn the_file_is_rewritten_in_place_and_never_left_longer_than_its_text() {
        let dir = std::env::temp_dir().join(format!("cairn-hosts-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut file = HostsFile::open(&dir).unwrap();
        let inode = std::fs::metadata(file.path()).unwrap().ino();
        file.write("127.0.0.1 localhost\n127.0.0.2 a-long-name.svc.mesos\n")
            .unwrap();
        file.write("127.0.0.1 localhost\n").unwrap();
        assert_eq!(
            std::fs::read_to_string(file.path()).unwrap(),
            "127.0.0.1 localhost\n"
        );
        // Opened again (a restarted cluster): the same file, not a new one beside it.
        let mut again = HostsFile::open(&dir).unwrap();
        again.write("127.0.0.9 b.svc.mesos\n").unwrap();
        let meta = std::fs::metadata(again.path()).unwrap();
        assert_eq!(meta.ino(), inode);
        assert_eq!(meta.mode() & 0o777, 0o644);
        assert_eq!(
            std::fs::read_to_string(again.path()).unwrap(),
            "127.0.0.9 b.svc.mesos\n"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn padding_is_a_comment_however_much_of_it_a_reader_sees() {
        assert_eq!(padding(1), b"\n");
        assert_eq!(padding(2), b"#\n");
        assert_eq!(padding(4), b"#  \n");
    }
}
