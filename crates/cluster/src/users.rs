//! Who an executor and its tasks run as, and which users a framework may name.
//!
//! Like a Mesos agent with `--switch_user` (its default), a cluster that runs as root starts each
//! executor as the user its tasks name — the task's `CommandInfo.user`, else the framework's
//! `FrameworkInfo.user` — with that user's primary group and supplementary groups. The executor
//! fetches and runs its tasks, so they, and every file they make, are that user's too. A cluster
//! that does not run as root cannot switch: every task runs as the cluster's own user, as with
//! Mesos' `--no-switch_user`.
//!
//! Which users may be named is the cluster's policy: any user of the machine except root by
//! default ([`ClusterConfig::allowed_users`]); root only when the operator says so
//! ([`ClusterConfig::allow_root`]).

use std::ffi::{CStr, CString, OsStr};
use std::fs::Metadata;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use cairn_proto::{FrameworkInfo, TaskInfo};

use crate::config::ClusterConfig;

/// A user of this machine, resolved as an executor is switched to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TaskUser {
    /// The login name.
    pub name: String,
    /// Its uid.
    pub uid: u32,
    /// Its primary group.
    pub gid: u32,
    /// Every group it is in (the primary one included), as `initgroups` would set them.
    pub groups: Vec<u32>,
    /// Its home directory, for `HOME`.
    pub home: PathBuf,
}

/// Why a user cannot run a cluster's tasks.
#[derive(Debug, thiserror::Error)]
pub enum UserError {
    /// The cluster's policy does not allow the user.
    #[error("{0}")]
    NotAllowed(String),
    /// No such user on this machine.
    #[error("there is no user '{0}' on this machine")]
    Unknown(String),
    /// The user database could not be read.
    #[error("looking up user '{user}' failed")]
    Lookup {
        /// The user.
        user: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The user cannot reach a directory or program its tasks need.
    #[error(
        "user '{user}' cannot reach {target}: {blocker} ({mode:04o}, owner uid {owner}) does not \
         let it pass. Tasks run as their framework's user, so the cluster's work dir and the \
         executor program must be reachable by it: give the cluster a work dir outside any private \
         directory (e.g. --work-dir /var/tmp/cairn), or let the user pass (chmod o+x {blocker})"
    )]
    Unreachable {
        /// The user.
        user: String,
        /// What it needs to reach.
        target: PathBuf,
        /// The first directory on the way that it may not search.
        blocker: PathBuf,
        /// That directory's permission bits.
        mode: u32,
        /// Its owner.
        owner: u32,
    },
}

impl UserError {
    /// The error with its causes, for a status message (which has no error chain).
    pub(crate) fn describe(&self) -> String {
        match self {
            UserError::Lookup { source, .. } => format!("{self}: {source}"),
            other => other.to_string(),
        }
    }
}

/// Whether this cluster switches executors to their tasks' users: it runs as root.
pub(crate) fn switching() -> bool {
    static ROOT: OnceLock<bool> = OnceLock::new();
    *ROOT.get_or_init(|| effective_uid() == 0)
}

/// The name of the user the cluster runs as (its uid when it has no name).
pub(crate) fn own_name() -> &'static str {
    static NAME: OnceLock<String> = OnceLock::new();
    NAME.get_or_init(|| {
        let uid = effective_uid();
        match passwd(Query::Uid(uid)) {
            Ok(Some(entry)) => entry.name,
            _ => format!("uid {uid}"),
        }
    })
}

#[allow(unsafe_code)]
fn effective_uid() -> u32 {
    // SAFETY: geteuid(2) takes no arguments, cannot fail and touches no memory of ours.
    unsafe { libc::geteuid() }
}

/// The user a task runs as: its command's `user`, else its framework's. (An ExecutorInfo may not
/// carry a command here: LAUNCH_GROUP takes only DEFAULT executors.)
pub(crate) fn task_user<'a>(framework: &'a FrameworkInfo, task: &'a TaskInfo) -> &'a str {
    task.command
        .as_ref()
        .and_then(|c| c.user.as_deref())
        .filter(|u| !u.is_empty())
        .unwrap_or(&framework.user)
}

/// Why tasks of one launch may not start: they ask for a user the cluster does not allow
/// (TASK_ERROR with an UNAUTHORIZED reason), or for more than one user in one executor, which
/// this cluster cannot do (TASK_ERROR, invalid).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum LaunchRefusal {
    Unauthorized(String),
    Invalid(String),
}

/// The one user the tasks of a launch run as, or why they may not run. `running_as` is the user
/// of the executor the tasks join, when it is already running.
pub(crate) fn launch_user(
    cfg: &ClusterConfig,
    framework: &FrameworkInfo,
    running_as: Option<&str>,
    tasks: &[TaskInfo],
) -> Result<String, LaunchRefusal> {
    let Some(first) = tasks.first() else {
        return Ok(framework.user.clone());
    };
    let user = task_user(framework, first);
    // An executor runs its tasks itself, as the one user it was started as: Mesos' agent can
    // start each task of a group as a user of its own, this cluster cannot.
    if let Some(other) = tasks.iter().find(|t| task_user(framework, t) != user) {
        return Err(LaunchRefusal::Invalid(format!(
            "the tasks of one executor must run as one user in cairn cluster: task '{}' runs as \
             '{user}' and task '{}' as '{}'",
            first.task_id,
            other.task_id,
            task_user(framework, other)
        )));
    }
    if let Some(running) = running_as.filter(|r| !r.is_empty() && *r != user) {
        return Err(LaunchRefusal::Invalid(format!(
            "the executor of task '{}' already runs as user '{running}'; its tasks cannot run as \
             '{user}' in cairn cluster",
            first.task_id
        )));
    }
    if let Some(why) = cfg.refuse_user(user) {
        return Err(LaunchRefusal::Unauthorized(format!(
            "task '{}' may not run as user '{user}': {why}",
            first.task_id
        )));
    }
    Ok(user.to_string())
}

/// Looks a user up by name.
pub(crate) fn lookup(name: &str) -> Result<TaskUser, UserError> {
    let unknown = || UserError::Unknown(name.to_string());
    let entry = match passwd(Query::Name(name)) {
        Ok(Some(entry)) => entry,
        Ok(None) => return Err(unknown()),
        Err(e) => {
            return Err(UserError::Lookup {
                user: name.to_string(),
                source: e,
            })
        }
    };
    let c_name = CString::new(name).map_err(|_| unknown())?;
    let groups = group_list(&c_name, entry.gid);
    Ok(TaskUser {
        name: entry.name,
        uid: entry.uid,
        gid: entry.gid,
        groups,
        home: entry.home,
    })
}

/// Checks, before anything starts, that tasks of `user` could run on a cluster with `cfg`: the
/// policy allows the user and, when the cluster will switch to it (it runs as root), the user
/// exists and can reach the work dir and the executor program.
pub fn check_task_user(cfg: &ClusterConfig, user: &str) -> Result<(), UserError> {
    if let Some(why) = cfg.refuse_user(user) {
        return Err(UserError::NotAllowed(format!(
            "tasks may not run as user '{user}': {why}"
        )));
    }
    if !switching() {
        return Ok(());
    }
    let task_user = lookup(user)?;
    if task_user.uid == 0 && !cfg.allow_root {
        return Err(UserError::NotAllowed(format!(
            "user '{user}' has uid 0: {}",
            ClusterConfig::ROOT_REFUSAL
        )));
    }
    reachable(&task_user, &cfg.work_dir, false)?;
    reachable(&task_user, &cfg.executor_command.0, true)
}

/// Whether `user` can get to `target`: search permission on every existing directory on the
/// way (`target` included when it is a directory), and execute permission on `target` when it
/// is a program. Permission bits only: access control lists are not read.
pub(crate) fn reachable(user: &TaskUser, target: &Path, program: bool) -> Result<(), UserError> {
    if user.uid == 0 {
        return Ok(());
    }
    let unreachable = |blocker: &Path, meta: &Metadata| UserError::Unreachable {
        user: user.name.clone(),
        target: target.to_path_buf(),
        blocker: blocker.to_path_buf(),
        mode: meta.mode() & 0o7777,
        owner: meta.uid(),
    };
    // A program needs its directories searchable; a directory, itself too.
    let mut ancestors: Vec<&Path> = target.ancestors().skip(usize::from(program)).collect();
    ancestors.reverse();
    for dir in ancestors {
        // Directories that do not exist yet are made by the cluster, passable.
        let Ok(meta) = std::fs::metadata(dir) else {
            break;
        };
        if !permits(user, &meta, 0o1) {
            return Err(unreachable(dir, &meta));
        }
    }
    if program {
        if let Ok(meta) = std::fs::metadata(target) {
            if !permits(user, &meta, 0o1) {
                return Err(unreachable(target, &meta));
            }
        }
    }
    Ok(())
}

/// Whether the owner, group or other bits (`bit` is the "other" one) let `user` in.
fn permits(user: &TaskUser, meta: &Metadata, bit: u32) -> bool {
    let mode = meta.mode();
    if meta.uid() == user.uid {
        mode & (bit << 6) != 0
    } else if meta.gid() == user.gid || user.groups.contains(&meta.gid()) {
        mode & (bit << 3) != 0
    } else {
        mode & bit != 0
    }
}

/// Makes the command start as `user`: its supplementary groups, its primary group, then its
/// uid (the order matters: only root may set groups, and a process stops being root at setuid).
#[allow(unsafe_code)]
pub(crate) fn switch_to(command: &mut tokio::process::Command, user: &TaskUser) {
    let (uid, gid, groups) = (user.uid, user.gid, user.groups.clone());
    command
        .env("USER", &user.name)
        .env("LOGNAME", &user.name)
        .env("HOME", &user.home);
    // SAFETY: the closure runs in the child between fork and exec. It only makes three system
    // calls, which are async-signal-safe, on values computed before the fork; it allocates
    // nothing and takes no lock.
    unsafe {
        command.pre_exec(move || {
            if libc::setgroups(groups.len(), groups.as_ptr()) != 0
                || libc::setgid(gid) != 0
                || libc::setuid(uid) != 0
            {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

struct PasswdEntry {
    name: String,
    uid: u32,
    gid: u32,
    home: PathBuf,
}

enum Query<'a> {
    Name(&'a str),
    Uid(u32),
}

/// One entry of the user database (`/etc/passwd`, or whatever NSS is configured with).
#[allow(unsafe_code)]
fn passwd(query: Query<'_>) -> io::Result<Option<PasswdEntry>> {
    let name = match &query {
        Query::Name(name) => match CString::new(*name) {
            Ok(c) => Some(c),
            // A name with a NUL in it names no one.
            Err(_) => return Ok(None),
        },
        Query::Uid(_) => None,
    };
    let mut buf = vec![0u8; 1024];
    loop {
        // SAFETY: `passwd` is plain old data; all-zero is a valid (empty) value.
        let mut entry: libc::passwd = unsafe { std::mem::zeroed() };
        let mut found: *mut libc::passwd = std::ptr::null_mut();
        // SAFETY: every pointer is valid for the call: the name is a NUL-terminated string we
        // own, the buffer's length is passed with it, and the results are written into locals.
        let rc = unsafe {
            match (&query, &name) {
                (Query::Name(_), Some(c)) => libc::getpwnam_r(
                    c.as_ptr(),
                    &mut entry,
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    &mut found,
                ),
                (Query::Uid(uid), _) => libc::getpwuid_r(
                    *uid,
                    &mut entry,
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    &mut found,
                ),
                (Query::Name(_), None) => return Ok(None),
            }
        };
        if rc == libc::ERANGE && buf.len() < 1 << 20 {
            buf.resize(buf.len() * 2, 0);
            continue;
        }
        // "Not found" is a null result, or one of these on some C libraries.
        if found.is_null() || [libc::ENOENT, libc::ESRCH].contains(&rc) {
            return Ok(None);
        }
        if rc != 0 {
            return Err(io::Error::from_raw_os_error(rc));
        }
        // SAFETY: on success the strings point into `buf`, NUL-terminated, and live as long
        // as it does; they are copied out before it is dropped.
        let (name, home) = unsafe {
            (
                CStr::from_ptr(entry.pw_name).to_string_lossy().into_owned(),
                PathBuf::from(OsStr::from_bytes(CStr::from_ptr(entry.pw_dir).to_bytes())),
            )
        };
        return Ok(Some(PasswdEntry {
            name,
            uid: entry.pw_uid,
            gid: entry.pw_gid,
            home,
        }));
    }
}

/// Every group `name` is in, `gid` first, as `initgroups(3)` would give them.
#[allow(unsafe_code)]
fn group_list(name: &CStr, gid: u32) -> Vec<u32> {
    let mut capacity: libc::c_int = 32;
    loop {
        let mut groups: Vec<libc::gid_t> = vec![0; capacity as usize];
        let mut count = capacity;
        // SAFETY: `groups` has room for `count` entries, and the call writes at most that
        // many; `name` is NUL-terminated.
        let rc = unsafe { libc::getgrouplist(name.as_ptr(), gid, groups.as_mut_ptr(), &mut count) };
        if rc >= 0 {
            groups.truncate(usize::try_from(count).unwrap_or(0));
            return groups;
        }
        // Too small: glibc says how many there are; others do not, so grow.
        capacity = if count > capacity {
            count
        } else {
            capacity * 2
        };
        if capacity > 65_536 {
            return vec![gid];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_proto::CommandInfo;

    fn framework(user: &str) -> FrameworkInfo {
        FrameworkInfo::new(user, "fw")
    }

    fn task(id: &str, user: Option<&str>) -> TaskInfo {
        TaskInfo {
            task_id: id.into(),
            command: Some(CommandInfo {
                user: user.map(str::to_string),
                ..CommandInfo::shell("true")
            }),
            ..Default::default()
        }
    }

    #[test]
    fn a_task_runs_as_its_commands_user_else_as_its_frameworks() {
        let fw = framework("nobody");
        assert_eq!(task_user(&fw, &task("a", None)), "nobody");
        assert_eq!(task_user(&fw, &task("a", Some("daemon"))), "daemon");
        assert_eq!(task_user(&fw, &task("a", Some(""))), "nobody");
    }

    #[test]
    fn root_is_refused_unless_allowed_and_a_list_refuses_whoever_it_does_not_name() {
        let mut cfg = ClusterConfig::new("/tmp/unused");
        let fw = framework("root");
        let refused = launch_user(&cfg, &fw, None, &[task("t", None)]).unwrap_err();
        let LaunchRefusal::Unauthorized(message) = refused else {
            panic!("{refused:?}")
        };
        assert!(
            message.contains("'root'") && message.contains("--allow-root"),
            "{message}"
        );
        cfg.allow_root = true;
        assert_eq!(
            launch_user(&cfg, &fw, None, &[task("t", None)]),
            Ok("root".into())
        );

        cfg.allowed_users = Some(vec!["nobody".into()]);
        let refused = launch_user(&cfg, &fw, None, &[task("t", Some("daemon"))]).unwrap_err();
        let LaunchRefusal::Unauthorized(message) = refused else {
            panic!("{refused:?}")
        };
        assert!(
            message.contains("'daemon'") && message.contains("--allowed-users"),
            "{message}"
        );
        assert!(launch_user(&cfg, &fw, None, &[task("t", Some("nobody"))]).is_ok());
    }

    #[test]
    fn the_tasks_of_one_executor_must_share_its_user() {
        let cfg = ClusterConfig::new("/tmp/unused");
        let fw = framework("nobody");
        let mixed = [task("a", None), task("b", Some("daemon"))];
        assert!(matches!(
            launch_user(&cfg, &fw, None, &mixed),
            Err(LaunchRefusal::Invalid(m)) if m.contains("'b'") && m.contains("'daemon'")
        ));
        assert!(matches!(
            launch_user(&cfg, &fw, Some("daemon"), &[task("a", None)]),
            Err(LaunchRefusal::Invalid(m)) if m.contains("already runs as user 'daemon'")
        ));
        assert_eq!(
            launch_user(&cfg, &fw, Some("nobody"), &[task("a", None)]),
            Ok("nobody".into())
        );
    }

    #[test]
    fn users_are_looked_up_with_their_groups_and_an_unknown_one_is_named() {
        let root = lookup("root").unwrap();
        assert_eq!((root.uid, root.gid), (0, 0));
        assert!(root.groups.contains(&0));
        assert_eq!(
            lookup("cairn-no-such-user").unwrap_err().to_string(),
            "there is no user 'cairn-no-such-user' on this machine"
        );
        assert!(matches!(lookup("a\0b"), Err(UserError::Unknown(_))));
    }

    #[test]
    fn a_directory_without_search_permission_for_the_user_blocks_the_way() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("cairn-reach-{}", std::process::id()));
        let private = dir.join("private");
        std::fs::create_dir_all(private.join("inside")).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o700)).unwrap();
        let meta = std::fs::metadata(&private).unwrap();
        // Someone who neither owns the directory nor is in its group.
        let stranger = TaskUser {
            name: "stranger".into(),
            uid: meta.uid() + 12_345,
            gid: meta.gid() + 12_345,
            groups: vec![],
            home: "/".into(),
        };
        let target = private.join("inside/work");
        let err = reachable(&stranger, &target, false).unwrap_err();
        assert!(
            matches!(&err, UserError::Unreachable { blocker, mode: 0o700, .. } if blocker == &private),
            "{err}"
        );
        let text = err.to_string();
        assert!(
            text.contains("stranger") && text.contains("--work-dir"),
            "{text}"
        );
        // The owner passes; so does everyone once the directory lets others search it.
        let owner = TaskUser {
            uid: meta.uid(),
            ..stranger.clone()
        };
        assert!(reachable(&owner, &target, false).is_ok());
        std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o711)).unwrap();
        assert!(reachable(&stranger, &target, false).is_ok());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
