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

//!
//! Without the `embedded` feature (on by default) only what the SDK's scheduler API shares with
//! the cluster is built: credentials and tokens ([`auth`]), the hardened HTTP server
//! ([`serve`]), how HTTP clients are built ([`http_client`]), and the task-user checks. A
//! service that runs only on real Mesos has no master, agents or executor in its binary.

// Without the master, parts of the shared modules (the cluster's own credential books, its
// config's helpers) have no caller; they are not worth a cfg each.
#![cfg_attr(not(feature = "embedded"), allow(dead_code, unused_imports))]

pub mod auth;
#[cfg(feature = "embedded")]
mod checkpoint;
#[cfg(feature = "embedded")]
mod cluster;
mod config;
#[cfg(feature = "embedded")]
pub mod executor;
#[cfg(feature = "embedded")]
mod files;
#[cfg(feature = "embedded")]
mod hosts;
#[cfg(feature = "embedded")]
mod http;
pub mod http_client;
mod paths;
#[cfg(feature = "embedded")]
mod process;
pub mod running;
mod sandbox;
mod serve;
#[cfg(feature = "embedded")]
mod state;
#[cfg(feature = "embedded")]
mod stream;
mod users;

#[cfg(feature = "embedded")]
pub use checkpoint::CheckpointError;
#[cfg(feature = "embedded")]
pub use cluster::{Cluster, ClusterError};
pub use config::{
    check_whole_gpus, parse_agent_extra_resources, parse_bytes, ClusterConfig, FrameworkAuth,
    DEFAULT_AGENT_RESOURCES, DEFAULT_DNS_DOMAIN, DEFAULT_FETCHER_CACHE_SIZE, DEFAULT_OFFER_TIMEOUT,
    DEFAULT_STREAM_BACKLOG,
};
#[cfg(feature = "embedded")]
pub use http::{agent_routes, master_routes, Access};
pub use paths::{volume_path, PathError};
#[cfg(feature = "embedded")]
pub use process::stop_pods;
pub use running::{running, RunningCluster};
pub use serve::{serve, RequestLimits};
#[cfg(feature = "embedded")]
pub use state::utc_date;
pub use users::{check_task_user, UserError};
