//! Where a task runs: Mesos' layout of an executor's sandbox.
//!
//! A command task runs in the executor's sandbox itself. A task of a task group runs in a nested
//! container of its own, whose sandbox is `containers/<container id>` below the executor's, and
//! `tasks/<task id>` is a symbolic link to it (the path Mesos' tools and operators look for a
//! task by). The agent makes both before it hands the task over, with the task's volumes linked
//! in; the executor finds the container by the link. An executor started without such an agent
//! (a test, say) makes them itself, as Mesos' default executor makes the link.
//!
//! The executor runs as its tasks' user in a sandbox of that user's, so nothing here is a wall
//! against its tasks (they could do whatever the executor does); the agent never takes the
//! executor's word for a container ID (`state::agent`).

use std::io;
use std::path::{Path, PathBuf};

use super::task::TaskKind;
use crate::paths::{create_dir_inside, join_inside};

/// The directory of the executor's sandbox holding its tasks' sandboxes.
pub const CONTAINERS: &str = "containers";
/// The directory of the executor's sandbox holding a link to each task's sandbox.
pub const TASKS: &str = "tasks";

/// Where a task runs, once its directory is there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskDir {
    /// The task's sandbox: its working directory and `MESOS_SANDBOX`.
    pub path: PathBuf,
    /// The task's own (nested) container, for a task of a group; `None` for a command task,
    /// which runs in its executor's container, and for a task directory of the layout before
    /// nested containers (a plain `tasks/<task id>` directory).
    pub container: Option<String>,
}

/// `tasks/<task id>` below the executor's sandbox: the link to a task's sandbox.
pub fn task_link(executor_sandbox: &Path, task_id: &str) -> Result<PathBuf, String> {
    // The id becomes a directory entry: it must be one plain name.
    if task_id.contains('/') {
        return Err(format!(
            "task id '{}' cannot name a sandbox directory: it contains a '/'",
            task_id.escape_debug()
        ));
    }
    join_inside(executor_sandbox, &[TASKS, task_id]).map_err(|error| {
        format!(
            "task id '{}' cannot name a sandbox directory: {error}",
            task_id.escape_debug()
        )
    })
}

/// `containers/<container id>` below the executor's sandbox: a task's sandbox.
pub fn container_dir(executor_sandbox: &Path, container: &str) -> Result<PathBuf, String> {
    if container.contains('/') {
        return Err(format!(
            "container id '{}' cannot name a directory: it contains a '/'",
            container.escape_debug()
        ));
    }
    join_inside(executor_sandbox, &[CONTAINERS, container]).map_err(|error| error.to_string())
}

/// Finds (or, without an agent that made it, makes) the directory a task runs in: for a task of
/// a group, the container `tasks/<task id>` links to. A link anywhere but to a directory in
/// `containers/` is refused.
pub fn prepare(executor_sandbox: &Path, kind: TaskKind, task_id: &str) -> Result<TaskDir, String> {
    if kind == TaskKind::Command {
        create_dir_inside(executor_sandbox, executor_sandbox).map_err(|e| e.to_string())?;
        return Ok(TaskDir {
            path: executor_sandbox.to_path_buf(),
            container: None,
        });
    }
    let link = task_link(executor_sandbox, task_id)?;
    match std::fs::read_link(&link) {
        Ok(target) => {
            let container = target
                .file_name()
                .and_then(|n| n.to_str())
                .ok_or_else(|| leads_astray(&link, &target))?
                .to_string();
            let dir = container_dir(executor_sandbox, &container)?;
            if target != dir {
                return Err(leads_astray(&link, &target));
            }
            // A real directory below the sandbox, no link on the way.
            create_dir_inside(executor_sandbox, &dir).map_err(|e| e.to_string())?;
            Ok(TaskDir {
                path: dir,
                container: Some(container),
            })
        }
        // Not a link: the layout before nested containers, a plain directory.
        Err(e) if e.kind() == io::ErrorKind::InvalidInput => {
            create_dir_inside(executor_sandbox, &link).map_err(|e| e.to_string())?;
            Ok(TaskDir {
                path: link,
                container: None,
            })
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let container = uuid::Uuid::new_v4().to_string();
            let dir = container_dir(executor_sandbox, &container)?;
            create_dir_inside(executor_sandbox, &dir).map_err(|e| e.to_string())?;
            let tasks = join_inside(executor_sandbox, &[TASKS]).map_err(|e| e.to_string())?;
            create_dir_inside(executor_sandbox, &tasks).map_err(|e| e.to_string())?;
            std::os::unix::fs::symlink(&dir, &link)
                .map_err(|e| format!("cannot link {} to {}: {e}", link.display(), dir.display()))?;
            Ok(TaskDir {
                path: dir,
                container: Some(container),
            })
        }
        Err(e) => Err(format!("cannot read {}: {e}", link.display())),
    }
}

fn leads_astray(link: &Path, target: &Path) -> String {
    format!(
        "{} leads to {}, not to a task's directory in {CONTAINERS}/",
        link.display(),
        target.display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("cairn-layout-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_group_task_runs_in_the_container_its_link_leads_to() {
        let sandbox = scratch("linked");
        let dir = sandbox.join("containers/c-1");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::create_dir_all(sandbox.join("tasks")).unwrap();
        std::os::unix::fs::symlink(&dir, sandbox.join("tasks/web-0")).unwrap();
        assert_eq!(
            prepare(&sandbox, TaskKind::Group, "web-0").unwrap(),
            TaskDir {
                path: dir,
                container: Some("c-1".to_string())
            }
        );
        let _ = std::fs::remove_dir_all(sandbox);
    }

    #[test]
    fn without_a_link_the_executor_makes_the_container_and_the_link() {
        let sandbox = scratch("made");
        let made = prepare(&sandbox, TaskKind::Group, "web-0").unwrap();
        let container = made.container.clone().unwrap();
        assert_eq!(made.path, sandbox.join("containers").join(&container));
        assert!(made.path.is_dir());
        assert_eq!(
            std::fs::read_link(sandbox.join("tasks/web-0")).unwrap(),
            made.path
        );
        // Found again by its link.
        assert_eq!(prepare(&sandbox, TaskKind::Group, "web-0").unwrap(), made);
        let _ = std::fs::remove_dir_all(sandbox);
    }

    #[test]
    fn a_link_that_leads_anywhere_but_into_containers_is_refused() {
        let sandbox = scratch("astray");
        let elsewhere = scratch("astray-elsewhere");
        std::fs::create_dir_all(sandbox.join("tasks")).unwrap();
        std::os::unix::fs::symlink(&elsewhere, sandbox.join("tasks/a")).unwrap();
        std::os::unix::fs::symlink("../containers/x", sandbox.join("tasks/b")).unwrap();
        for task in ["a", "b"] {
            let error = prepare(&sandbox, TaskKind::Group, task).unwrap_err();
            assert!(error.contains("not to a task's directory"), "{error}");
        }
        assert!(prepare(&sandbox, TaskKind::Group, "../x").is_err());
        let _ = std::fs::remove_dir_all(sandbox);
        let _ = std::fs::remove_dir_all(elsewhere);
    }

    #[test]
    fn a_plain_task_directory_of_the_older_layout_is_used_as_it_is() {
        let sandbox = scratch("older");
        std::fs::create_dir_all(sandbox.join("tasks/web-0")).unwrap();
        assert_eq!(
            prepare(&sandbox, TaskKind::Group, "web-0").unwrap(),
            TaskDir {
                path: sandbox.join("tasks/web-0"),
                container: None
            }
        );
        let _ = std::fs::remove_dir_all(sandbox);
    }

    #[test]
    fn a_command_task_runs_in_the_executor_sandbox() {
        let sandbox = scratch("command");
        assert_eq!(
            prepare(&sandbox, TaskKind::Command, "t").unwrap(),
            TaskDir {
                path: sandbox.clone(),
                container: None
            }
        );
        let _ = std::fs::remove_dir_all(sandbox);
    }
}
