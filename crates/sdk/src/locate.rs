//! Where a pod's things are on the embedded cluster's disk: its agent, its tasks' sandboxes and
//! its volumes, computed from the cluster's layout (`cairn cluster` keeps everything under its
//! work directory, the way a Mesos agent does under `--work_dir`):
//!
//! ```text
//! <agent work_dir>/slaves/<agent-id>/frameworks/<fw-id>/executors/<executor-id>/runs/<container>/containers/<task's container>
//! <agent work_dir>/slaves/<agent-id>/frameworks/<fw-id>/executors/<executor-id>/runs/<container>/tasks/<task-id>  (a link to it)
//! <agent work_dir>/volumes/roles/<role>/<persistence-id>
//! ```
//!
//! An agent's work dir comes from the cluster's `GET /cluster/agents`. A real Mesos master has
//! no such endpoint (and its agents' disks are elsewhere), so there only hostnames are known.

use std::path::{Path, PathBuf};
use std::time::Duration;

use cairn_core::scheduler::{PodStatus, TaskVolume};
use serde::{Deserialize, Serialize};

/// An agent of the embedded cluster, as `GET /cluster/agents` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterAgent {
    /// Position in the cluster (what `cairn cluster agent stop <i>` takes).
    pub index: usize,
    /// The Mesos agent id.
    pub id: String,
    /// The agent's hostname (its own loopback address).
    pub hostname: String,
    /// `running`, `stopped`, `unreachable` or `gone`.
    pub status: String,
    /// Where the agent keeps sandboxes and volumes.
    pub work_dir: PathBuf,
}

#[derive(Deserialize)]
struct AgentList {
    agents: Vec<ClusterAgent>,
}

/// The embedded cluster's agents, or `None` when `master` is not an embedded cluster (or does
/// not answer).
pub async fn cluster_agents(master: &str) -> Option<Vec<ClusterAgent>> {
    let url = format!("{}/cluster/agents", master.trim_end_matches('/'));
    let response = cairn_cluster::http_client::build_plain(reqwest::Client::builder)
        .ok()?
        .get(&url)
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .ok()?;
    if !response.status().is_success() {
        return None;
    }
    response.json::<AgentList>().await.ok().map(|l| l.agents)
}

/// Where one pod instance is.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PodLocation {
    /// `data-2`.
    pub pod: String,
    /// The agent's hostname.
    pub hostname: String,
    /// The agent id.
    pub agent_id: String,
    /// The agent's index in the embedded cluster.
    pub agent_index: Option<usize>,
    /// Each task.
    pub tasks: Vec<TaskLocation>,
}

/// Where one task is.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TaskLocation {
    /// `data-2-node`.
    pub name: String,
    /// The Mesos task id.
    pub task_id: String,
    /// The last state heard, e.g. `TASK_RUNNING`.
    pub state: String,
    /// The task's sandbox (its working directory), once it exists.
    pub sandbox: Option<PathBuf>,
    /// Its persistent volumes' directories.
    pub volumes: Vec<PathBuf>,
}

/// Locates every pod on the embedded cluster's disk. Without `agents` (not an embedded
/// cluster), only hostnames and ids are filled in.
pub fn locate(
    pods: &[PodStatus],
    agents: Option<&[ClusterAgent]>,
    framework_id: Option<&str>,
) -> Vec<PodLocation> {
    pods.iter()
        .map(|pod| {
            let agent_id = pod.agent_id.clone().unwrap_or_default();
            let agent = agents.and_then(|a| a.iter().find(|a| a.id == agent_id));
            PodLocation {
                pod: pod.name.clone(),
                hostname: pod
                    .hostname
                    .clone()
                    .or_else(|| agent.map(|a| a.hostname.clone()))
                    .unwrap_or_default(),
                agent_id: agent_id.clone(),
                agent_index: agent.map(|a| a.index),
                tasks: pod
                    .tasks
                    .iter()
                    .map(|t| {
                        let task_id = t.task_id.clone();
                        TaskLocation {
                            name: t.name.clone(),
                            state: t.state.map_or_else(String::new, |s| s.to_string()),
                            sandbox: agent.zip(framework_id).and_then(|(a, fw)| {
                                find_sandbox(&a.work_dir, &agent_id, fw, &task_id)
                            }),
                            volumes: agent
                                .map(|a| {
                                    t.volumes
                                        .iter()
                                        .filter_map(|v| volume_dir(&a.work_dir, v))
                                        .collect()
                                })
                                .unwrap_or_default(),
                            task_id,
                        }
                    })
                    .collect(),
            }
        })
        .collect()
}

/// Where the embedded cluster's agent keeps `volume`: the cluster's own layout (a MOUNT disk's
/// root, or `volumes/roles/<role>/<id>` below the agent's or a PATH disk's directory). None for
/// a volume that cannot be on that agent (a disk outside its directory).
pub fn volume_dir(agent_work_dir: &Path, volume: &TaskVolume) -> Option<PathBuf> {
    let disk = volume.disk.as_ref().map(|(t, root)| (*t, root.as_str()));
    cairn_cluster::volume_path(agent_work_dir, &volume.role, &volume.persistence_id, disk).ok()
}

/// The task's directory in its executor's newest run: where `tasks/<task id>` leads (the
/// sandbox of the task's own container, as on Mesos), or that directory itself in the layout
/// before tasks had containers. The executor id and the container ids are the agent's
/// business, so the layout is searched rather than computed.
pub fn find_sandbox(
    agent_work_dir: &Path,
    agent_id: &str,
    framework_id: &str,
    task_id: &str,
) -> Option<PathBuf> {
    if task_id.is_empty() || agent_id.is_empty() {
        return None;
    }
    let executors = agent_work_dir
        .join("slaves")
        .join(agent_id)
        .join("frameworks")
        .join(framework_id)
        .join("executors");
    let mut found: Vec<(std::time::SystemTime, PathBuf)> = Vec::new();
    for executor in std::fs::read_dir(&executors).ok()?.flatten() {
        let Ok(runs) = std::fs::read_dir(executor.path().join("runs")) else {
            continue;
        };
        for run in runs.flatten() {
            let link = run.path().join("tasks").join(task_id);
            let dir = match std::fs::read_link(&link) {
                Ok(target) => link
                    .parent()
                    .map_or(target.clone(), |tasks| tasks.join(&target)),
                Err(_) => link,
            };
            if let Ok(meta) = std::fs::metadata(&dir) {
                let created = meta.modified().unwrap_or(std::time::UNIX_EPOCH);
                found.push((created, dir));
            }
        }
    }
    found.into_iter().max().map(|(_, dir)| dir)
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_proto::DiskSourceType;

    #[test]
    fn a_tasks_sandbox_is_where_its_link_leads_in_its_executors_newest_run() {
        let root = std::env::temp_dir().join(format!("cairn-locate-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let run = root.join("slaves/S1/frameworks/fw/executors/e1/runs/r1");
        let container = run.join("containers/c1");
        std::fs::create_dir_all(&container).unwrap();
        std::fs::create_dir_all(run.join("tasks")).unwrap();
        std::os::unix::fs::symlink(&container, run.join("tasks/web-0")).unwrap();
        // A run of the layout before tasks had containers of their own.
        let older = root.join("slaves/S1/frameworks/fw/executors/e0/runs/r0/tasks/old-0");
        std::fs::create_dir_all(&older).unwrap();

        assert_eq!(find_sandbox(&root, "S1", "fw", "web-0"), Some(container));
        assert_eq!(find_sandbox(&root, "S1", "fw", "old-0"), Some(older));
        assert_eq!(find_sandbox(&root, "S1", "fw", "nobody"), None);
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn a_volume_on_a_mount_disk_is_shown_at_the_disks_root_as_the_cluster_keeps_it() {
        let agent = Path::new("/work/.cairn/cluster/agents/0");
        let on_root_disk = TaskVolume {
            persistence_id: "v-1".into(),
            role: "dev/web".into(),
            disk: None,
        };
        assert_eq!(
            volume_dir(agent, &on_root_disk),
            Some(agent.join("volumes/roles/dev__web/v-1"))
        );
        let mount = agent.join("disks/mount-1");
        let on_mount = TaskVolume {
            disk: Some((DiskSourceType::Mount, mount.display().to_string())),
            ..on_root_disk.clone()
        };
        assert_eq!(volume_dir(agent, &on_mount), Some(mount.clone()));
        let on_path = TaskVolume {
            disk: Some((DiskSourceType::Path, mount.display().to_string())),
            ..on_root_disk.clone()
        };
        assert_eq!(
            volume_dir(agent, &on_path),
            Some(mount.join("volumes/roles/dev__web/v-1"))
        );
        let elsewhere = TaskVolume {
            disk: Some((DiskSourceType::Mount, "/etc".into())),
            ..on_root_disk
        };
        assert_eq!(volume_dir(agent, &elsewhere), None, "not on this agent");
    }
}
