//! `cairn executor`: the per-pod executor process of the embedded cluster.
//!
//! An agent starts one executor per executor id (a LAUNCH_GROUP pod, or a
//! LAUNCH command task) as a separate OS process in its own session, so that
//! it survives the cluster process dying: its tasks keep running and it
//! re-subscribes when the agent is back, as Mesos executors do across agent
//! restarts.
//!
//! It speaks the Mesos v1 executor HTTP API to its agent
//! (`POST /api/v1/executor`: SUBSCRIBE with a RecordIO event stream, UPDATE
//! for status updates kept until ACKNOWLEDGED) and runs each task as a real
//! process in its own process group and sandbox, with URI fetching, health
//! checks, checks and graceful kills.
//!
//! # Contract with the agent
//!
//! * Environment: `MESOS_FRAMEWORK_ID`, `MESOS_EXECUTOR_ID`,
//!   `MESOS_AGENT_ENDPOINT` (`ip:port`), `MESOS_SANDBOX` (or
//!   `MESOS_DIRECTORY`; absolute, created by the agent) are required;
//!   `MESOS_AGENT_ID`, `MESOS_HOSTNAME`, `MESOS_CHECKPOINT` (`1` to survive
//!   agent restarts), `MESOS_RECOVERY_TIMEOUT` (default 15mins),
//!   `MESOS_SUBSCRIPTION_BACKOFF_MAX` (2secs) and
//!   `MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD` (5secs) are optional. The
//!   executor's token is the first line of stdin when stdin is a pipe, else
//!   `MESOS_EXECUTOR_AUTHENTICATION_TOKEN`; every call carries it.
//! * A LAUNCH_GROUP task runs in its own nested container's sandbox,
//!   `<sandbox>/containers/<container id>`, which `<sandbox>/tasks/<task id>`
//!   links to (the agent makes both, with the task's volumes linked in, before
//!   the launch reaches the executor; see [`layout`]); a LAUNCH task runs in the
//!   sandbox itself. Task output is appended to `stdout`/`stderr` there.
//! * Every update is kept until ACKNOWLEDGED and re-sent in the next
//!   SUBSCRIBE; the agent answers a re-sent update it already had
//!   acknowledged with ACKNOWLEDGED again, or the executor waits for it.
//! * SHUTDOWN (even in place of SUBSCRIBED) or SIGTERM: tasks are killed
//!   within the shutdown grace period, then the executor exits 0.
//!
//! Layout: [`machine`] is the pure state machine (with [`task`] and [`health`]
//! under it, and [`launch`] turning a `TaskInfo` into a plan); [`runtime`]
//! drives it with real IO through [`agent`] (HTTP), [`process`] (spawn and
//! signals), [`fetch`] and [`probe`].

pub mod agent;
pub mod cache;
pub mod config;
pub mod fetch;
pub mod health;
pub mod launch;
pub mod layout;
pub mod machine;
pub mod probe;
pub mod process;
pub mod rlimits;
pub mod runtime;
pub mod task;

use std::time::Duration;

pub use config::{parse_mesos_duration, ExecutorConfig};

/// Why the executor could not run, or stopped abnormally.
#[derive(Debug, thiserror::Error)]
pub enum ExecutorError {
    #[error("the agent did not set {0}")]
    MissingEnv(&'static str),
    #[error("{name}={value:?} is invalid: {reason}")]
    InvalidEnv {
        name: &'static str,
        value: String,
        reason: String,
    },
    #[error("cannot listen for termination signals: {0}")]
    Signals(#[source] std::io::Error),
    #[error(
        "the agent did not come back within the recovery timeout ({0:?}); all tasks were killed"
    )]
    RecoveryTimedOut(Duration),
    #[error(
        "lost the agent and, without checkpointing, cannot be recovered; all tasks were killed"
    )]
    AgentLost,
}

/// Reads the configuration from the `MESOS_*` environment the agent sets and
/// runs the executor until it is done. `Ok` when every task ended and was
/// acknowledged, or after a SHUTDOWN or SIGTERM; an error when the
/// configuration is wrong or the agent was lost for good.
pub async fn run_from_env() -> Result<(), ExecutorError> {
    // Before the token is read: a process of the same user (another pod's task) must not read
    // it from this one's memory.
    process::forbid_inspection();
    run(ExecutorConfig::from_env()?).await
}

/// Runs the executor with an explicit configuration.
pub async fn run(config: ExecutorConfig) -> Result<(), ExecutorError> {
    runtime::run(config).await
}
