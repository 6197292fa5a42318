//! The one way the cluster turns names into paths: [`join_inside`].
//!
//! Sandboxes, task directories, volumes, volume links, fetched files and checkpoints are all
//! named after things a framework chose (its framework, executor and task IDs, a role, a
//! persistence ID, a container path, an output file). The API refuses bad names first; this is
//! the second wall, which holds on its own: a path is built from components that are each a
//! plain file name (not empty, `.` or `..`, no NUL, at most `NAME_MAX` bytes), so it is inside
//! its root by construction, whatever name got past the first.
//!
//! A path inside the root on paper can still lead out of it on disk through a symbolic link
//! that a task planted in its sandbox. The cluster only ever makes directories and removals
//! below a root through [`create_dir_inside`] and [`remove_dir_inside`], which refuse to go
//! through any symbolic link below the root, and makes what it makes inside a sandbox (task
//! directories, volume links) through directories it holds open (`sandbox::Sandbox`): the only
//! links there are the volume links the cluster made itself, and it never writes through them.
//! (A check, then an act: a task racing the agent could still swap a directory for a link in
//! between. A cluster that runs as root runs tasks as their own users, who own their sandboxes
//! and could try that; what the cluster makes in a sandbox it makes only for the sandbox's
//! owner (`sandbox.rs`), and the directories above sandboxes and volumes are the cluster's,
//! which no task user may write.)

use std::io;
use std::path::{Component, Path, PathBuf};

use cairn_proto::validation::NAME_MAX;
use cairn_proto::DiskSourceType;

/// A path the cluster refused to build or to use.
#[derive(Debug, thiserror::Error)]
pub enum PathError {
    /// A name that would not be one plain file name below the root.
    #[error("'{name}' cannot name a path under {root}: {reason}")]
    Outside {
        /// The directory the path had to stay in.
        root: PathBuf,
        /// The name, with control characters escaped.
        name: String,
        /// What was wrong with it.
        reason: &'static str,
    },
    /// A component below the root is a symbolic link, which the cluster does not follow.
    #[error("{path} is a symbolic link: the cluster does not follow links below {root}")]
    Symlink {
        /// The directory the path had to stay in.
        root: PathBuf,
        /// The link.
        path: PathBuf,
    },
    /// A component below the root exists and is not a directory.
    #[error("{path} is in the way: it is not a directory")]
    NotADirectory {
        /// The file.
        path: PathBuf,
    },
    /// The file system said no.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
}

/// Joins `names` onto `root`, each of them one or more `/`-separated components, and proves the
/// result is below `root`: every component must be a plain file name. Nothing is read from disk.
pub(crate) fn join_inside(root: &Path, names: &[&str]) -> Result<PathBuf, PathError> {
    let mut path = root.to_path_buf();
    for name in names {
        let outside = |reason| PathError::Outside {
            root: root.to_path_buf(),
            name: name.escape_debug().to_string(),
            reason,
        };
        if name.is_empty() {
            return Err(outside("it is empty"));
        }
        if name.starts_with('/') {
            return Err(outside("it is absolute"));
        }
        if name.contains('\0') {
            return Err(outside("it contains a NUL"));
        }
        for component in name.split('/') {
            match component {
                "" => return Err(outside("it has an empty component")),
                "." | ".." => return Err(outside("it has a '.' or '..' component")),
                c if c.len() > NAME_MAX => return Err(outside("a component is too long")),
                c => path.push(c),
            }
        }
    }
    Ok(path)
}

/// The components of `path` below `root`, when `path` is `root` joined with plain names only
/// (what [`join_inside`] makes).
fn below<'a>(root: &Path, path: &'a Path) -> Result<Vec<&'a std::ffi::OsStr>, PathError> {
    let outside = |reason| PathError::Outside {
        root: root.to_path_buf(),
        name: path.display().to_string(),
        reason,
    };
    let rest = path
        .strip_prefix(root)
        .map_err(|_| outside("it is not below the root"))?;
    rest.components()
        .map(|c| match c {
            Component::Normal(name) => Ok(name),
            _ => Err(outside("it has a component that is not a plain name")),
        })
        .collect()
}

/// Makes `path` (below `root`) a directory, one component at a time, refusing to go through a
/// symbolic link or a file on the way. `root` itself is the cluster's and is made as it is.
pub(crate) fn create_dir_inside(root: &Path, path: &Path) -> Result<(), PathError> {
    create_dir_inside_as(root, path, None, None)
}

/// [`create_dir_inside`], giving each directory it makes exactly `mode` (whatever the umask)
/// and, with `owner` (`uid`, `gid`), to that user: a sandbox's directories are its task user's.
pub(crate) fn create_dir_inside_as(
    root: &Path,
    path: &Path,
    mode: Option<u32>,
    owner: Option<(u32, u32)>,
) -> Result<(), PathError> {
    let io_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| PathError::Io { path, source }
    };
    let components = below(root, path)?;
    std::fs::create_dir_all(root).map_err(io_err(root))?;
    let mut current = root.to_path_buf();
    for name in components {
        current.push(name);
        match std::fs::symlink_metadata(&current) {
            Ok(m) if m.file_type().is_symlink() => {
                return Err(PathError::Symlink {
                    root: root.to_path_buf(),
                    path: current,
                })
            }
            Ok(m) if m.is_dir() => {}
            Ok(_) => return Err(PathError::NotADirectory { path: current }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => match std::fs::create_dir(&current) {
                Ok(()) => {
                    if let Some(mode) = mode {
                        use std::os::unix::fs::PermissionsExt;
                        std::fs::set_permissions(&current, std::fs::Permissions::from_mode(mode))
                            .map_err(io_err(&current))?;
                    }
                    if let Some((uid, gid)) = owner {
                        std::os::unix::fs::lchown(&current, Some(uid), Some(gid))
                            .map_err(io_err(&current))?;
                    }
                }
                // Made meanwhile (two launches at once): fine if it is a real directory.
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    let m = std::fs::symlink_metadata(&current).map_err(io_err(&current))?;
                    if !m.is_dir() {
                        return Err(PathError::NotADirectory { path: current });
                    }
                }
                Err(e) => return Err(io_err(&current)(e)),
            },
            Err(e) => return Err(io_err(&current)(e)),
        }
    }
    Ok(())
}

/// Removes the tree at `path` (below `root`, and not `root` itself), refusing when `path` or a
/// directory on the way to it is a symbolic link. Inside the tree links are removed, never
/// followed. A tree that is not there is not an error.
pub(crate) fn remove_dir_inside(root: &Path, path: &Path) -> Result<(), PathError> {
    let components = below(root, path)?;
    if components.is_empty() {
        return Err(PathError::Outside {
            root: root.to_path_buf(),
            name: path.display().to_string(),
            reason: "it is the root itself",
        });
    }
    let mut current = root.to_path_buf();
    for name in components {
        current.push(name);
        match std::fs::symlink_metadata(&current) {
            Ok(m) if m.file_type().is_symlink() => {
                return Err(PathError::Symlink {
                    root: root.to_path_buf(),
                    path: current,
                })
            }
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(source) => {
                return Err(PathError::Io {
                    path: current,
                    source,
                })
            }
        }
    }
    match std::fs::remove_dir_all(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(PathError::Io {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Where a persistent volume lives on an agent's disk: `volumes/roles/<role>/<id>` below the
/// agent's directory (or below its PATH disk's root), or a MOUNT disk's root, which is the
/// volume. The one place the layout is written down: the cluster creates volumes there, and
/// `cairn run` shows operators where their data is. Always below the agent's directory: the role
/// and the persistence ID were chosen by a framework, and [`join_inside`] refuses any that
/// would lead out.
pub fn volume_path(
    agent_dir: &Path,
    role: &str,
    persistence_id: &str,
    disk: Option<(DiskSourceType, &str)>,
) -> Result<PathBuf, PathError> {
    // A role is hierarchical (`dev/web`) but names one directory here.
    let role = role.replace('/', "__");
    let base = match disk {
        // A MOUNT disk is the volume: the whole disk is handed over.
        Some((DiskSourceType::Mount, root)) => return disk_root(agent_dir, root),
        Some((_, root)) => disk_root(agent_dir, root)?,
        None => agent_dir.to_path_buf(),
    };
    join_inside(&base, &["volumes", "roles", &role, persistence_id])
}

/// The root of one of the agent's disks. The cluster made those below the agent's directory;
/// one that is not (a resource that did not come from this agent) is refused.
fn disk_root(agent_dir: &Path, root: &str) -> Result<PathBuf, PathError> {
    let relative = Path::new(root)
        .strip_prefix(agent_dir)
        .ok()
        .and_then(|r| r.to_str())
        .ok_or_else(|| PathError::Outside {
            root: agent_dir.to_path_buf(),
            name: root.escape_debug().to_string(),
            reason: "a disk's root must be below the agent's directory",
        })?;
    join_inside(agent_dir, &[relative])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_root(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "cairn-paths-{name}-{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn plain_names_join_below_the_root() {
        let root = Path::new("/work/agents/0");
        assert_eq!(
            join_inside(root, &["volumes", "roles", "dev__web", "vol-1"]).unwrap(),
            PathBuf::from("/work/agents/0/volumes/roles/dev__web/vol-1")
        );
        assert_eq!(
            join_inside(root, &["tasks/t-1", "data/sub"]).unwrap(),
            PathBuf::from("/work/agents/0/tasks/t-1/data/sub")
        );
        assert_eq!(
            join_inside(root, &["...", ".hidden"]).unwrap(),
            PathBuf::from("/work/agents/0/.../.hidden")
        );
    }

    #[test]
    fn a_name_that_could_leave_the_root_is_refused_with_what_and_where() {
        let root = Path::new("/work/agents/0");
        let long = "x".repeat(NAME_MAX + 1);
        for (name, reason) in [
            ("", "it is empty"),
            ("..", "'..' component"),
            ("../../../../victim", "'..' component"),
            ("a/../..", "'..' component"),
            (".", "'.' or '..' component"),
            ("./.", "'.' or '..' component"),
            ("/", "it is absolute"),
            ("/etc", "it is absolute"),
            ("a//b", "empty component"),
            ("a/", "empty component"),
            ("da\0ta", "NUL"),
            (long.as_str(), "too long"),
        ] {
            let err = join_inside(root, &["volumes", name]).unwrap_err();
            let text = err.to_string();
            assert!(text.contains(reason), "{name:?}: {text}");
            assert!(text.contains("/work/agents/0"), "{name:?}: {text}");
            assert!(!text.contains('\0'), "{name:?}: the NUL is escaped: {text}");
        }
    }

    #[test]
    fn directories_are_made_below_the_root_but_never_through_a_link() {
        let root = temp_root("create");
        let outside = temp_root("create-outside");
        let dir = join_inside(&root, &["slaves", "s", "tasks", "t"]).unwrap();
        create_dir_inside(&root, &dir).unwrap();
        assert!(dir.is_dir());
        create_dir_inside(&root, &dir).unwrap();

        // A task turned a directory of its sandbox into a link out of it.
        let planted = join_inside(&root, &["slaves", "s", "tasks", "evil"]).unwrap();
        std::os::unix::fs::symlink(&outside, &planted).unwrap();
        let through = join_inside(&planted, &["made"]).unwrap();
        let err = create_dir_inside(&root, &through).unwrap_err();
        assert!(matches!(err, PathError::Symlink { .. }), "{err}");
        assert!(!outside.join("made").exists());

        // Links only below the root: a path that is not below it is refused outright.
        let err = create_dir_inside(&root, &outside.join("x")).unwrap_err();
        assert!(matches!(err, PathError::Outside { .. }), "{err}");
        assert!(!outside.join("x").exists());
        let err = create_dir_inside(&root, &root.join("a/../../escape")).unwrap_err();
        assert!(matches!(err, PathError::Outside { .. }), "{err}");
        std::fs::remove_dir_all(&root).unwrap();
        std::fs::remove_dir_all(&outside).unwrap();
    }

    #[test]
    fn a_removal_stays_below_the_root_and_does_not_follow_links() {
        let root = temp_root("remove");
        let victim = temp_root("remove-victim");
        std::fs::write(victim.join("precious"), "keep").unwrap();

        let vol = join_inside(&root, &["volumes", "v"]).unwrap();
        create_dir_inside(&root, &vol).unwrap();
        std::fs::write(vol.join("f"), "x").unwrap();
        // A link inside the tree is removed, not followed.
        std::os::unix::fs::symlink(&victim, vol.join("link")).unwrap();
        remove_dir_inside(&root, &vol).unwrap();
        assert!(!vol.exists());
        assert!(victim.join("precious").exists());
        // Gone already: nothing to do.
        remove_dir_inside(&root, &vol).unwrap();

        // The tree itself, or a directory on the way, being a link: refused.
        let planted = join_inside(&root, &["volumes", "planted"]).unwrap();
        std::os::unix::fs::symlink(&victim, &planted).unwrap();
        let err = remove_dir_inside(&root, &planted).unwrap_err();
        assert!(matches!(err, PathError::Symlink { .. }), "{err}");
        let err = remove_dir_inside(&root, &planted.join("precious")).unwrap_err();
        assert!(matches!(err, PathError::Symlink { .. }), "{err}");
        assert!(victim.join("precious").exists());

        // Outside the root, the root itself, or with `..`: refused.
        for path in [victim.clone(), root.clone(), root.join("volumes/../..")] {
            let err = remove_dir_inside(&root, &path).unwrap_err();
            assert!(matches!(err, PathError::Outside { .. }), "{path:?}: {err}");
        }
        assert!(victim.join("precious").exists());
        std::fs::remove_dir_all(&root).unwrap();
        std::fs::remove_dir_all(&victim).unwrap();
    }
}
