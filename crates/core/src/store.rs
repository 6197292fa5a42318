//! The state store's shape: keyed paths, atomic write batches, and the typed state a
//! scheduler reads at start.
//!
//! The core never writes to a store itself. The scheduler emits [`WriteBatch`]es as actions; the
//! driver commits each atomically (one rename on disk, one ZooKeeper multi-op) and tells the
//! scheduler it is durable. Layout under a service's root (the same for every backend):
//! `FrameworkID`, `SchemaVersion`, `ConfigTarget`, `Configurations/<id>`,
//! `Tasks/<task-name>/TaskInfo`, `Tasks/<task-name>/TaskStatus`, `Tasks/<task-name>/History`,
//! `Properties/<key>`.

use std::collections::BTreeMap;

use cairn_proto::{FrameworkId, TaskInfo, TaskStatus};
use serde::{Deserialize, Serialize};

use crate::spec::ServiceSpec;

/// The store's schema version; a mismatch at start is refused rather than guessed at.
pub const SCHEMA_VERSION: &str = "1";

/// Key of the framework id.
pub const FRAMEWORK_ID: &str = "FrameworkID";
/// Key of the schema version.
pub const SCHEMA_VERSION_KEY: &str = "SchemaVersion";
/// Key of the target config id.
pub const CONFIG_TARGET: &str = "ConfigTarget";
/// Prefix of stored configs.
pub const CONFIGURATIONS: &str = "Configurations";
/// Prefix of task records.
pub const TASKS: &str = "Tasks";
/// Prefix of properties.
pub const PROPERTIES: &str = "Properties";

/// `Configurations/<id>`.
pub fn config_key(id: &ConfigId) -> String {
    format!("{CONFIGURATIONS}/{}", id.0)
}
/// `Tasks/<name>/TaskInfo`.
pub fn task_info_key(task_name: &str) -> String {
    format!("{TASKS}/{task_name}/TaskInfo")
}
/// `Tasks/<name>/TaskStatus`.
pub fn task_status_key(task_name: &str) -> String {
    format!("{TASKS}/{task_name}/TaskStatus")
}
/// `Tasks/<name>/History`: the task's last exit and recent failures ([`TaskHistory`]).
pub fn task_history_key(task_name: &str) -> String {
    format!("{TASKS}/{task_name}/History")
}
/// `Properties/<key>`.
pub fn property_key(key: &str) -> String {
    format!("{PROPERTIES}/{key}")
}

/// The property holding when config `id` was stored (milliseconds since the epoch).
pub fn config_stored_property(id: &ConfigId) -> String {
    format!("config-stored-{}", id.0)
}

/// A stored config's id (a uuid string).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ConfigId(pub String);

impl std::fmt::Display for ConfigId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// One write in a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteOp {
    /// Set a key.
    Put {
        /// The key.
        key: String,
        /// The value.
        value: Vec<u8>,
    },
    /// Delete a key and everything under it.
    Delete {
        /// The key.
        key: String,
    },
}

/// Writes that must land together or not at all.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WriteBatch {
    /// The id the scheduler uses to release actions waiting for this batch.
    pub id: u64,
    /// The writes, applied in order.
    pub ops: Vec<WriteOp>,
}

/// A store backend failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A stored value is not what cairn wrote.
    #[error("corrupt value at {key}: {reason}")]
    Corrupt {
        /// The key.
        key: String,
        /// What is wrong.
        reason: String,
    },
    /// Another scheduler holds the lock, or a conditional write lost.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The schema version is not the one this cairn writes.
    #[error("the store has schema version {found}, this cairn uses {SCHEMA_VERSION}")]
    Schema {
        /// What the store says.
        found: String,
    },
    /// The backend failed.
    #[error("{context}")]
    Backend {
        /// What cairn was doing.
        context: String,
        /// The cause.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// A path-keyed byte store with atomic batches. Implemented by the file-directory and
/// ZooKeeper backends in `cairn` (the sdk) and by [`MemStore`] here.
///
/// # Guarantees
/// `commit` applies all of a batch's writes or none of them.
pub trait Store: Send {
    /// Every key and value under the service's root.
    fn load(&self) -> Result<BTreeMap<String, Vec<u8>>, StoreError>;
    /// Applies a batch atomically.
    fn commit(&mut self, batch: &WriteBatch) -> Result<(), StoreError>;
}

/// An in-memory store, for tests and the simulator.
#[derive(Debug, Clone, Default)]
pub struct MemStore {
    /// The content.
    pub entries: BTreeMap<String, Vec<u8>>,
}

impl Store for MemStore {
    fn load(&self) -> Result<BTreeMap<String, Vec<u8>>, StoreError> {
        Ok(self.entries.clone())
    }

    fn commit(&mut self, batch: &WriteBatch) -> Result<(), StoreError> {
        apply(&mut self.entries, batch);
        Ok(())
    }
}

/// Applies a batch to a map of entries (what every backend means by `commit`).
pub fn apply(entries: &mut BTreeMap<String, Vec<u8>>, batch: &WriteBatch) {
    for op in &batch.ops {
        match op {
            WriteOp::Put { key, value } => {
                entries.insert(key.clone(), value.clone());
            }
            WriteOp::Delete { key } => {
                let prefix = format!("{key}/");
                entries.retain(|k, _| k != key && !k.starts_with(&prefix));
            }
        }
    }
}

/// A task as the store keeps it: what was launched and the last status heard.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TaskRecord {
    /// The TaskInfo as launched (labels carry the target config id, pod type and index).
    pub info: TaskInfo,
    /// The last status persisted for it.
    pub status: Option<TaskStatus>,
    /// How its launches ended: kept across relaunches (which replace `info` and clear
    /// `status`), so an operator sees why a task that is starting again stopped.
    pub history: TaskHistory,
}

/// How a task's launches ended lately (`Tasks/<name>/History`), written with the terminal
/// status that changes it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TaskHistory {
    /// The last launch that ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_exit: Option<TaskExit>,
    /// When its recent failures happened, oldest first; only those within the crash-loop
    /// window of the latest are kept (see `scheduler::status::CRASH_LOOP_WINDOW`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failures: Vec<crate::time::Time>,
}

/// How one launch of a task ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskExit {
    /// The Mesos task id of that launch.
    pub task_id: String,
    /// Its terminal state.
    pub state: cairn_proto::TaskState,
    /// The exit code of its command, when the message says it (`Command exited with status N`,
    /// the words of Mesos' executors and cairn's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// The terminal status's message (cairn's executor ends a failure's with the last lines
    /// of stderr).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// When the scheduler heard it.
    pub at: crate::time::Time,
    /// Whether it counts as a failure: not a kill the scheduler asked for, nor the end of a
    /// task that was meant to finish.
    pub failure: bool,
}

/// Everything a scheduler reads from its store when it starts.
#[derive(Debug, Clone, Default)]
pub struct StoredState {
    /// The framework id Mesos gave this service, once it has one.
    pub framework_id: Option<FrameworkId>,
    /// Why the stored `FrameworkID` could not be used (empty, not UTF-8, not an id), when it
    /// could not: the id is then taken as lost (`framework_id` is `None`), which the takeover
    /// check (`Scheduler::handle_master_state`) refuses to act on while the master holds
    /// anything of the service's.
    pub framework_id_problem: Option<String>,
    /// The config in force.
    pub target: Option<ConfigId>,
    /// Every stored config.
    pub configs: BTreeMap<ConfigId, ServiceSpec>,
    /// Tasks by task name (`data-2-node`).
    pub tasks: BTreeMap<String, TaskRecord>,
    /// Free-form properties (`uninstalling`, `deploy-completed`, timers, ...).
    pub properties: BTreeMap<String, Vec<u8>>,
}

impl StoredState {
    /// When config `id` was stored (milliseconds since the epoch), if the store says: configs
    /// stored by an older cairn carry no time.
    pub fn config_stored_at(&self, id: &ConfigId) -> Option<u64> {
        let value = self.properties.get(&config_stored_property(id))?;
        std::str::from_utf8(value).ok()?.parse().ok()
    }

    /// Reads the typed state from a store's raw entries; a value that does not parse is
    /// reported with its key.
    pub fn from_entries(entries: &BTreeMap<String, Vec<u8>>) -> Result<StoredState, StoreError> {
        let corrupt = |key: &str, reason: String| StoreError::Corrupt {
            key: key.to_string(),
            reason,
        };
        let text = |key: &str, v: &[u8]| {
            String::from_utf8(v.to_vec()).map_err(|e| corrupt(key, e.to_string()))
        };
        if let Some(v) = entries.get(SCHEMA_VERSION_KEY) {
            let found = text(SCHEMA_VERSION_KEY, v)?;
            if found != SCHEMA_VERSION {
                return Err(StoreError::Schema { found });
            }
        }
        let mut state = StoredState::default();
        for (key, value) in entries {
            if key == FRAMEWORK_ID {
                match framework_id_of(value) {
                    Ok(id) => state.framework_id = Some(id),
                    Err(problem) => state.framework_id_problem = Some(problem),
                }
            } else if key == CONFIG_TARGET {
                state.target = Some(ConfigId(text(key, value)?));
            } else if let Some(id) = key.strip_prefix(&format!("{CONFIGURATIONS}/")) {
                let spec: ServiceSpec =
                    serde_json::from_slice(value).map_err(|e| corrupt(key, e.to_string()))?;
                state.configs.insert(ConfigId(id.to_string()), spec);
            } else if let Some(rest) = key.strip_prefix(&format!("{TASKS}/")) {
                let Some((name, leaf)) = rest.rsplit_once('/') else {
                    continue;
                };
                let record = state.tasks.entry(name.to_string()).or_default();
                match leaf {
                    "TaskInfo" => {
                        record.info = serde_json::from_slice(value)
                            .map_err(|e| corrupt(key, e.to_string()))?
                    }
                    "TaskStatus" => {
                        record.status = Some(
                            serde_json::from_slice(value)
                                .map_err(|e| corrupt(key, e.to_string()))?,
                        )
                    }
                    "History" => {
                        record.history = serde_json::from_slice(value)
                            .map_err(|e| corrupt(key, e.to_string()))?
                    }
                    _ => {}
                }
            } else if let Some(p) = key.strip_prefix(&format!("{PROPERTIES}/")) {
                state.properties.insert(p.to_string(), value.clone());
            }
        }
        // A status without its TaskInfo is a half-written task from an older crash: not a task.
        state.tasks.retain(|_, r| !r.info.task_id.value.is_empty());
        Ok(state)
    }
}

/// The framework id a stored `FrameworkID` value holds, or why it holds none. A damaged value
/// is not a corrupt store (that would stop every start, the recovering one included): it is a
/// lost id, which the takeover check weighs against what the master knows.
fn framework_id_of(value: &[u8]) -> Result<FrameworkId, String> {
    let text = std::str::from_utf8(value).map_err(|_| "it is not UTF-8".to_string())?;
    if text.trim().is_empty() {
        return Err("it is empty".into());
    }
    if text
        .chars()
        .any(|c| c.is_control() || c.is_whitespace() || c == '/')
    {
        return Err(format!("`{}` is not a framework id", text.escape_debug()));
    }
    Ok(FrameworkId::new(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_or_garbled_framework_id_is_read_as_lost_with_the_reason() {
        // Goal: a damaged FrameworkID must not stop the start as corrupt (the takeover check
        // decides) nor be used as an id. Method: empty, blank, non-UTF-8, control characters.
        for (value, why) in [
            (&b""[..], "empty"),
            (b"  \n", "empty"),
            (b"\xff\xfe", "UTF-8"),
            (b"fw\x00-1", "not a framework id"),
        ] {
            let mut e = BTreeMap::new();
            e.insert(FRAMEWORK_ID.to_string(), value.to_vec());
            let s = StoredState::from_entries(&e).unwrap();
            assert_eq!(s.framework_id, None, "{value:?}");
            let problem = s.framework_id_problem.unwrap();
            assert!(problem.contains(why), "{value:?}: {problem}");
        }
        let mut e = BTreeMap::new();
        e.insert(FRAMEWORK_ID.to_string(), b"abc-0001".to_vec());
        let s = StoredState::from_entries(&e).unwrap();
        assert_eq!(s.framework_id, Some(FrameworkId::new("abc-0001")));
        assert_eq!(s.framework_id_problem, None);
    }

    #[test]
    fn a_delete_removes_the_key_and_everything_under_it_but_not_its_siblings() {
        let mut s = MemStore::default();
        let put = |k: &str| WriteOp::Put {
            key: k.into(),
            value: b"x".to_vec(),
        };
        s.commit(&WriteBatch {
            id: 1,
            ops: vec![
                put("Tasks/a/TaskInfo"),
                put("Tasks/a/TaskStatus"),
                put("Tasks/ab/TaskInfo"),
            ],
        })
        .unwrap();
        s.commit(&WriteBatch {
            id: 2,
            ops: vec![WriteOp::Delete {
                key: "Tasks/a".into(),
            }],
        })
        .unwrap();
        assert_eq!(
            s.entries.keys().collect::<Vec<_>>(),
            vec!["Tasks/ab/TaskInfo"]
        );
    }

    #[test]
    fn a_corrupt_task_record_is_reported_with_its_key() {
        let mut e = BTreeMap::new();
        e.insert("Tasks/x-0-node/TaskInfo".to_string(), b"{nope".to_vec());
        let err = StoredState::from_entries(&e).unwrap_err().to_string();
        assert!(err.contains("Tasks/x-0-node/TaskInfo"), "{err}");
    }
}
