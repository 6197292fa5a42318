//! Checkpoint files: small JSON documents written atomically (write a temporary file, then
//! rename), so that a cluster killed at any instant finds either the old or the new content.
//!
//! There is no fsync: checkpoints protect against the cluster *process* dying (the page cache
//! survives that), which is the failure the embedded cluster exists to exercise. Surviving a
//! machine power loss is out of scope for a single-machine development cluster.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::Serialize;

/// A checkpoint could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// Reading or writing the file failed.
    #[error("checkpoint {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The file's name could not be made (see `join_inside`).
    #[error("checkpoint path: {0}")]
    Path(#[from] crate::paths::PathError),
    /// The file exists but does not hold what cairn wrote there.
    #[error("corrupt checkpoint {path}: {source}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
}

/// Writes `value` as JSON to `path`, atomically.
pub fn write<T: Serialize>(path: &Path, value: &T) -> Result<(), CheckpointError> {
    let io_err = |source| CheckpointError::Io {
        path: path.to_path_buf(),
        source,
    };
    if let Some(parent) = path.parent() {
        // What holds checkpoints is the cluster's alone.
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(parent)
            .map_err(io_err)?;
    }
    let bytes = serde_json::to_vec(value).map_err(|e| CheckpointError::Corrupt {
        path: path.to_path_buf(),
        source: e,
    })?;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(io_err)?;
    // The mode above applies only to a new file; a temporary file left by a crash keeps its own.
    file.set_permissions(fs::Permissions::from_mode(0o600))
        .map_err(io_err)?;
    file.write_all(&bytes).map_err(io_err)?;
    drop(file);
    fs::rename(&tmp, path).map_err(io_err)
}

/// Reads a checkpoint; `Ok(None)` when the file does not exist.
pub fn read<T: DeserializeOwned>(path: &Path) -> Result<Option<T>, CheckpointError> {
    match fs::read(path) {
        Ok(bytes) => {
            serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|source| CheckpointError::Corrupt {
                    path: path.to_path_buf(),
                    source,
                })
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(CheckpointError::Io {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Removes a checkpoint file; a missing file is not an error.
pub fn remove(path: &Path) -> Result<(), CheckpointError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(CheckpointError::Io {
            path: path.to_path_buf(),
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_written_checkpoint_reads_back_and_a_missing_one_is_none() {
        let dir = std::env::temp_dir().join(format!("cairn-ckpt-{}", std::process::id()));
        let path = dir.join("a/b.json");
        write(&path, &vec![1, 2, 3]).unwrap();
        assert_eq!(read::<Vec<i32>>(&path).unwrap(), Some(vec![1, 2, 3]));
        remove(&path).unwrap();
        assert_eq!(read::<Vec<i32>>(&path).unwrap(), None);
        let _ = fs::remove_dir_all(dir);
    }

    #[test]
    fn a_checkpoint_is_a_0600_file_in_a_0700_directory() {
        let dir = std::env::temp_dir().join(format!("cairn-ckpt-mode-{}", std::process::id()));
        let path = dir.join("executors/c.json");
        // A temporary file left by an earlier crash, readable by anyone.
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::set_permissions(path.parent().unwrap(), fs::Permissions::from_mode(0o700)).unwrap();
        fs::write(dir.join("executors/c.json.tmp"), b"old").unwrap();
        fs::set_permissions(
            dir.join("executors/c.json.tmp"),
            fs::Permissions::from_mode(0o644),
        )
        .unwrap();
        write(&path, &vec![1]).unwrap();
        write(&dir.join("fresh/d.json"), &vec![2]).unwrap();
        let mode = |p: &Path| {
            format!(
                "{:o}",
                fs::metadata(p).unwrap().permissions().mode() & 0o777
            )
        };
        assert_eq!(mode(&path), "600");
        assert_eq!(mode(&dir.join("fresh/d.json")), "600");
        assert_eq!(mode(&dir.join("fresh")), "700");
        let _ = fs::remove_dir_all(dir);
    }

    #[test]
    fn a_corrupt_checkpoint_is_reported_with_its_path() {
        let dir = std::env::temp_dir().join(format!("cairn-ckpt-bad-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("x.json");
        fs::write(&path, b"{not json").unwrap();
        let err = read::<Vec<i32>>(&path).unwrap_err().to_string();
        assert!(
            err.contains("corrupt checkpoint") && err.contains("x.json"),
            "{err}"
        );
        let _ = fs::remove_dir_all(dir);
    }
}
