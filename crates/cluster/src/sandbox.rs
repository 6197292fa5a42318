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

use std::fs::{self, Permissions};
use std::io;
use std::os::unix::fs::{lchown, MetadataExt, PermissionsExt};
use std::path::Path;

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

/// Who the files made in `sandbox` must belong to: its owner, when the cluster switches users
/// (otherwise everything is the cluster's own).
pub(crate) fn owner(sandbox: &Path) -> Result<Option<Owner>, PathError> {
    if !users::switching() {
        return Ok(None);
    }
    let meta = fs::symlink_metadata(sandbox).map_err(|source| PathError::Io {
        path: sandbox.to_path_buf(),
        source,
    })?;
    Ok(Some((meta.uid(), meta.gid())))
}

/// Makes `dir` in a sandbox (the sandbox itself, a task's directory, the parent of a volume's
/// link): each directory it makes is 0750 and `owner`'s.
pub(crate) fn create_in_sandbox(
    agent_dir: &Path,
    dir: &Path,
    owner: Option<Owner>,
) -> Result<(), PathError> {
    create_dir_inside_as(agent_dir, dir, Some(SANDBOX_MODE), owner)
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

/// Hands a file or directory (not what a symbolic link points to) to `owner`.
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
        create_sandbox(&agent, &agent.join("slaves/s/runs/c"), None).unwrap();
        assert_eq!(mode(&agent.join("slaves/s/runs")), passage);
        assert_eq!(mode(&agent.join("slaves/s/runs/c")), "750");
        create_in_sandbox(&agent, &agent.join("slaves/s/runs/c/tasks/t"), None).unwrap();
        assert_eq!(mode(&agent.join("slaves/s/runs/c/tasks/t")), "750");
        create_volume(&agent, &agent.join("volumes/roles/r/id"), None).unwrap();
        assert_eq!(mode(&agent.join("volumes/roles/r")), passage);
        assert_eq!(mode(&agent.join("volumes/roles/r/id")), "700");
        let _ = fs::remove_dir_all(&root);
    }
}
