//! Who owns what the cluster makes on disk, and with which modes.
//!
//! * The directories on the way from the work dir to sandboxes and volumes are 0711 when the
//!   cluster switches executors to their users (a task's user may pass through them to its own
//!   sandbox and volumes, never list them), 0700 when it does not (no one else needs to enter).
//! * A sandbox, and the task directories in it, are 0750 and belong to the executor's user, as
//!   a Mesos agent makes them.
//! * A volume's directory is 0700 and belongs to the user of the pod that uses it: at each
//!   launch it is handed to the sandbox's owner, at the top only (as Mesos does), so a pod that
//!   changes hands keeps what it wrote readable only if the files let the new owner in.
//! * Checkpoints are the cluster's alone: 0600 files in 0700 directories (`checkpoint.rs`).
//!
//! Below an agent's directory everything is made through `paths`, which never follows a link.
//! Inside a sandbox, which belongs to a task's user who could swap a directory for a link at any
//! moment, the cluster works through handles of directories it holds open ([`DirHandle`]), so
//! that nothing it makes or hands over can be steered elsewhere.

use std::ffi::{CString, OsStr};
use std::fs::{self, File, Permissions};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{fchown, lchown, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path};

use crate::paths::{create_dir_inside_as, PathError};
use crate::users;

/// A file's owner, as `(uid, gid)`.
pub(crate) type Owner = (u32, u32);

/// The mode of the directories a task's user must pass through.
pub(crate) fn passage_mode() -> u32 {
    if users::switching() {
        0o711
    } else {
        0o700
    }
}

/// The mode of a sandbox and of the directories made in it.
const SANDBOX_MODE: u32 = 0o750;

/// The mode of a persistent volume's directory.
const VOLUME_MODE: u32 = 0o700;

/// Makes `dir` and whichever of its ancestors are missing, each with exactly `mode` (whatever
/// the umask says: a umask of 077 must not lock task users out of their sandboxes). For the
/// cluster's own directories above any agent's: the work dir, an agent's directory.
pub(crate) fn create_dirs(dir: &Path, mode: u32) -> io::Result<()> {
    let mut missing: Vec<&Path> = dir
        .ancestors()
        .filter(|d| !d.as_os_str().is_empty())
        .take_while(|d| fs::symlink_metadata(d).is_err())
        .collect();
    missing.reverse();
    for d in missing {
        match fs::create_dir(d) {
            Ok(()) => fs::set_permissions(d, Permissions::from_mode(mode))?,
            // Made meanwhile by another launch: it chose the same mode.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Makes an executor's sandbox below the agent's directory: 0750, given to `owner` (the user it
/// runs as, when the cluster switches users); the directories on the way are passages.
pub(crate) fn create_sandbox(
    agent_dir: &Path,
    sandbox: &Path,
    owner: Option<Owner>,
) -> Result<(), PathError> {
    if let Some(parent) = sandbox.parent() {
        create_dir_inside_as(agent_dir, parent, Some(passage_mode()), None)?;
    }
    create_dir_inside_as(agent_dir, sandbox, Some(SANDBOX_MODE), owner)
}

/// A sandbox held open, with the owner of what is made in it: the sandbox's owner when the
/// cluster switches users (otherwise everything is the cluster's own).
#[derive(Debug)]
pub(crate) struct Sandbox {
    root: DirHandle,
    owner: Option<Owner>,
}

impl Sandbox {
    /// Opens an existing sandbox. Its name is in a directory of the cluster's (`runs/`), which
    /// no task user may write, so the name is trusted; the link check is for good measure.
    pub(crate) fn open(sandbox: &Path) -> Result<Sandbox, PathError> {
        let io_err = |source| PathError::Io {
            path: sandbox.to_path_buf(),
            source,
        };
        let root = DirHandle::open(sandbox).map_err(io_err)?;
        let owner = if users::switching() {
            let meta = root.0.metadata().map_err(io_err)?;
            Some((meta.uid(), meta.gid()))
        } else {
            None
        };
        Ok(Sandbox { root, owner })
    }

    /// The owner of what is made in the sandbox.
    pub(crate) fn owner(&self) -> Option<Owner> {
        self.owner
    }

    /// The directory `rel` below the sandbox (plain components only), each missing directory
    /// made 0750 and given to the owner.
    pub(crate) fn dir(&self, sandbox: &Path, rel: &Path) -> Result<DirHandle, PathError> {
        let mut dir = self.root.try_clone().map_err(|source| PathError::Io {
            path: sandbox.to_path_buf(),
            source,
        })?;
        let mut path = sandbox.to_path_buf();
        for name in plain_components(sandbox, rel)? {
            path.push(name);
            dir = dir
                .subdir(name, SANDBOX_MODE, self.owner)
                .map_err(|source| match source.raw_os_error() {
                    // Refused already; the second look only says what was in the way.
                    Some(libc::ELOOP | libc::ENOTDIR)
                        if fs::symlink_metadata(&path).is_ok_and(|m| m.is_symlink()) =>
                    {
                        PathError::Symlink {
                            root: sandbox.to_path_buf(),
                            path: path.clone(),
                        }
                    }
                    Some(libc::ELOOP | libc::ENOTDIR) => {
                        PathError::NotADirectory { path: path.clone() }
                    }
                    _ => PathError::Io {
                        path: path.clone(),
                        source,
                    },
                })?;
        }
        Ok(dir)
    }

    /// A symbolic link at `rel` below the sandbox pointing to `target`, its parent made as
    /// [`Sandbox::dir`] makes directories. Whatever is at `rel` already is left alone.
    pub(crate) fn link(&self, sandbox: &Path, rel: &Path, target: &Path) -> Result<(), PathError> {
        let (Some(name), Some(parent)) = (rel.file_name(), rel.parent()) else {
            return Err(PathError::Outside {
                root: sandbox.to_path_buf(),
                name: rel.display().to_string(),
                reason: "it names no file",
            });
        };
        let dir = self.dir(sandbox, parent)?;
        dir.symlink(target, name, self.owner)
            .map_err(|source| PathError::Io {
                path: sandbox.join(rel),
                source,
            })
    }
}

/// The components of `rel`, refused unless each is a plain name.
fn plain_components<'a>(root: &Path, rel: &'a Path) -> Result<Vec<&'a OsStr>, PathError> {
    rel.components()
        .map(|c| match c {
            Component::Normal(name) => Ok(name),
            _ => Err(PathError::Outside {
                root: root.to_path_buf(),
                name: rel.display().to_string(),
                reason: "it has a component that is not a plain name",
            }),
        })
        .collect()
}

/// A directory held open: what is made through it is made in this very directory, whatever its
/// name may have been re-pointed to since it was opened.
#[derive(Debug)]
pub(crate) struct DirHandle(File);

impl DirHandle {
    /// Opens a directory, refusing a symbolic link.
    fn open(path: &Path) -> io::Result<DirHandle> {
        let file = fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW)
            .open(path)?;
        Ok(DirHandle(file))
    }

    fn try_clone(&self) -> io::Result<DirHandle> {
        Ok(DirHandle(self.0.try_clone()?))
    }

    /// The directory `name` in this one, made (exactly `mode`, given to `owner`) when missing.
    /// A symbolic link (ELOOP) or a file (ENOTDIR) there is refused, never followed.
    #[allow(unsafe_code)]
    fn subdir(&self, name: &OsStr, mode: u32, owner: Option<Owner>) -> io::Result<DirHandle> {
        let c_name = CString::new(name.as_bytes())?;
        // SAFETY: mkdirat(2) reads the NUL-terminated name we own and takes a descriptor we
        // hold open.
        let made = unsafe { libc::mkdirat(self.0.as_raw_fd(), c_name.as_ptr(), mode) } == 0;
        if !made {
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::AlreadyExists {
                return Err(e);
            }
        }
        // SAFETY: as above; the flags make the call fail rather than follow a link.
        let fd = unsafe {
            libc::openat(
                self.0.as_raw_fd(),
                c_name.as_ptr(),
                libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` was just opened by openat(2) and is owned by nothing else.
        let dir = DirHandle(File::from(unsafe { OwnedFd::from_raw_fd(fd) }));
        if made {
            dir.0.set_permissions(Permissions::from_mode(mode))?;
            if let Some((uid, gid)) = owner {
                fchown(&dir.0, Some(uid), Some(gid))?;
            }
        }
        Ok(dir)
    }

    /// A symbolic link `name` in this directory pointing to `target`, given to `owner`; an
    /// existing entry of that name is left alone and not followed.
    #[allow(unsafe_code)]
    fn symlink(&self, target: &Path, name: &OsStr, owner: Option<Owner>) -> io::Result<()> {
        let c_target = CString::new(target.as_os_str().as_bytes())?;
        let c_name = CString::new(name.as_bytes())?;
        // SAFETY: symlinkat(2) reads two NUL-terminated strings we own and takes a descriptor
        // we hold open.
        let rc = unsafe { libc::symlinkat(c_target.as_ptr(), self.0.as_raw_fd(), c_name.as_ptr()) };
        if rc != 0 {
            let e = io::Error::last_os_error();
            return match e.kind() {
                io::ErrorKind::AlreadyExists => Ok(()),
                _ => Err(e),
            };
        }
        if let Some((uid, gid)) = owner {
            // SAFETY: as above; AT_SYMLINK_NOFOLLOW changes the link itself.
            let rc = unsafe {
                libc::fchownat(
                    self.0.as_raw_fd(),
                    c_name.as_ptr(),
                    uid,
                    gid,
                    libc::AT_SYMLINK_NOFOLLOW,
                )
            };
            if rc != 0 {
                return Err(io::Error::last_os_error());
            }
        }
        Ok(())
    }
}

/// Makes a persistent volume's directory below the agent's directory (0700) if it is missing,
/// and hands it to `owner`.
pub(crate) fn create_volume(
    agent_dir: &Path,
    volume: &Path,
    owner: Option<Owner>,
) -> Result<(), PathError> {
    if let Some(parent) = volume.parent() {
        create_dir_inside_as(agent_dir, parent, Some(passage_mode()), None)?;
    }
    create_dir_inside_as(agent_dir, volume, Some(VOLUME_MODE), None)?;
    // `create_dir_inside_as` has just seen a real directory there, not a link.
    give(volume, owner)
}

/// Hands a file or directory (not what a symbolic link points to) to `owner`. Only for paths
/// whose directories are the cluster's (a task user could re-point a name in its own).
pub(crate) fn give(path: &Path, owner: Option<Owner>) -> Result<(), PathError> {
    match owner {
        Some((uid, gid)) => lchown(path, Some(uid), Some(gid)).map_err(|source| PathError::Io {
            path: path.to_path_buf(),
            source,
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> String {
        format!(
            "{:o}",
            fs::metadata(path).unwrap().permissions().mode() & 0o7777
        )
    }

    #[test]
    fn what_the_cluster_makes_gets_exactly_its_mode_and_existing_directories_keep_theirs() {
        let root = std::env::temp_dir().join(format!("cairn-dirs-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        fs::create_dir_all(&root).unwrap();
        fs::set_permissions(&root, Permissions::from_mode(0o755)).unwrap();
        create_dirs(&root.join("a/b"), 0o711).unwrap();
        assert_eq!(mode(&root), "755");
        for d in ["a", "a/b"] {
            assert_eq!(mode(&root.join(d)), "711", "{d}");
        }
        let agent = root.join("a/b");
        let passage = format!("{:o}", passage_mode());
        let path = agent.join("slaves/s/runs/c");
        create_sandbox(&agent, &path, None).unwrap();
        assert_eq!(mode(&agent.join("slaves/s/runs")), passage);
        assert_eq!(mode(&path), "750");
        let sandbox = Sandbox::open(&path).unwrap();
        sandbox.dir(&path, Path::new("tasks/t")).unwrap();
        assert_eq!(mode(&path.join("tasks")), "750");
        assert_eq!(mode(&path.join("tasks/t")), "750");
        create_volume(&agent, &agent.join("volumes/roles/r/id"), None).unwrap();
        assert_eq!(mode(&agent.join("volumes/roles/r")), passage);
        assert_eq!(mode(&agent.join("volumes/roles/r/id")), "700");
        let _ = fs::remove_dir_all(&root);
    }

    #[test]
    fn inside_a_sandbox_a_link_a_task_planted_is_never_followed() {
        let root = std::env::temp_dir().join(format!("cairn-held-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        let path = root.join("sandbox");
        let elsewhere = root.join("elsewhere");
        fs::create_dir_all(&path).unwrap();
        fs::create_dir_all(&elsewhere).unwrap();
        let volume = root.join("volume");
        fs::create_dir_all(&volume).unwrap();
        let sandbox = Sandbox::open(&path).unwrap();
        sandbox
            .link(&path, Path::new("tasks/t1/data"), &volume)
            .unwrap();
        assert_eq!(fs::read_link(path.join("tasks/t1/data")).unwrap(), volume);
        // Made again: the link is there already, and stays as it is.
        sandbox
            .link(&path, Path::new("tasks/t1/data"), &volume)
            .unwrap();

        // A task turned a directory into a link out of its sandbox.
        std::os::unix::fs::symlink(&elsewhere, path.join("tasks/t2")).unwrap();
        let err = sandbox
            .dir(&path, Path::new("tasks/t2/deeper"))
            .unwrap_err();
        assert!(err.to_string().contains("does not follow"), "{err}");
        let err = sandbox
            .link(&path, Path::new("tasks/t2/data"), &volume)
            .unwrap_err();
        assert!(err.to_string().contains("does not follow"), "{err}");
        assert!(fs::read_dir(&elsewhere).unwrap().next().is_none());
        assert!(sandbox.dir(&path, Path::new("../x")).is_err());
        // The sandbox itself may not be a link either.
        std::os::unix::fs::symlink(&elsewhere, root.join("linked")).unwrap();
        assert!(Sandbox::open(&root.join("linked")).is_err());
        let _ = fs::remove_dir_all(&root);
    }
}
