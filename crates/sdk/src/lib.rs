//! `cairn`: stateful services on Mesos, in Rust.
//!
//! Describe a service once and hand it to [`run`]:
//!
//! ```no_run
//! use cairn::spec::{PodSpec, ServiceSpec, TaskSpec, VolumeSpec};
//!
//! fn main() -> Result<(), cairn::Error> {
//!     let spec = ServiceSpec::builder("my-service")
//!         .pod(PodSpec::builder("data").count(3).task(
//!             TaskSpec::builder("node")
//!                 .cmd("echo hi >> my-service-container-path/marker && sleep 100000")
//!                 .cpus(0.1)
//!                 .memory_mb(64)
//!                 .volume(VolumeSpec::root("my-service-container-path", 5000)),
//!         ))
//!         .build()?;
//!     cairn::run(spec)
//! }
//! ```
//!
//! Without `--master`, `run` starts the embedded single-machine cluster in the same process
//! (`cairn-cluster`), so that program is a complete, working service on a laptop; with
//! `--master http://host:5050` the same program deploys onto a real Mesos cluster.
//!
//! The parts, for programs that need more than `run`:
//!
//! * [`driver::Driver`]: the tokio loop around the sans-IO scheduler of `cairn-core` —
//!   persist before act, reconnects, timers, status snapshots.
//! * [`mesos::Client`]: the Mesos v1 scheduler HTTP client.
//! * [`store::FileStore`]: the default state store (a directory per service, atomic batches),
//!   and [`store::contract`], the rules every store backend follows.
//! * [`api`]: the scheduler's HTTP API (plans, pods, a new spec for `cairn update`), and
//!   [`pages`], the bounded shapes of its answers.
//! * [`locate`]: where a pod's sandboxes and volumes are on the embedded cluster's disk.
#![warn(missing_docs)]

pub mod api;
pub mod bootstrap;
pub mod configs;
pub mod debug;
pub mod driver;
mod error;
mod executor;
pub mod health;
pub mod locate;
pub mod mesos;
pub mod metrics;
pub mod pages;
mod progress;
mod run;
pub mod store;

pub use bootstrap::{bootstrap_main, is_bootstrap_invocation};
pub use cairn_core as core;
pub use cairn_core::scheduler::{Overrides, SchedulerConfig};
pub use cairn_core::spec;
pub use cairn_proto as proto;
pub use error::Error;
pub use executor::{executor_main, is_executor_invocation};
/// The default log filter of a program running a service: cairn's own notices and everyone's
/// warnings (the embedded cluster's notices would bury the progress lines). `CAIRN_LOG`
/// replaces it.
pub const LOG_FILTER: &str = "warn,cairn=info,cairn_cluster=warn";

pub use run::{
    load_spec, preview_plans, run, run_with, stored_target, stored_targets, RunOptions, Service,
    DEFAULT_AGENTS, DEFAULT_API, DEFAULT_LISTEN,
};
