//! `cairn cluster`: an embedded, single-machine, Mesos-compatible cluster.
//!
//! One process plays a Mesos master with N agents. It serves the Mesos v1 scheduler and operator
//! HTTP APIs exactly enough that any v1 client works against it unmodified, and it runs tasks as
//! real OS processes: each pod gets a `cairn executor` process speaking Mesos' v1 executor API to
//! its agent, in its own session, with a sandbox directory and persistent volumes that are
//! directories outliving the tasks. Reservations, volumes, tasks and unacknowledged status
//! updates are checkpointed under the work directory, so a restarted cluster recovers its
//! agents, and running tasks keep running through it.
//!
//! Start with [`Cluster::start`] and a [`ClusterConfig`]. Faults a datacenter would inject —
//! an agent stopping, coming back, or being lost for good — are part of the cluster's own HTTP
//! API (`/cluster/agents/{agent}/{stop|restart|lose}`). Every caller but a reader on loopback
//! authenticates: frameworks, the operator and executors each with their own credential
//! ([`auth`]).

pub mod auth;
mod checkpoint;
mod cluster;
mod config;
pub mod executor;
mod http;
mod paths;
mod process;
mod sandbox;
mod serve;
mod state;
mod stream;
mod users;

pub use checkpoint::CheckpointError;
pub use cluster::{Cluster, ClusterError};
pub use config::{
    ClusterConfig, FrameworkAuth, DEFAULT_AGENT_RESOURCES, DEFAULT_OFFER_TIMEOUT,
    DEFAULT_STREAM_BACKLOG,
};
pub use http::{agent_routes, master_routes, Access};
pub use paths::PathError;
pub use serve::{serve, RequestLimits};
pub use users::{check_task_user, UserError};
