//! `cairn-core`: the sans-IO brain of cairn.
//!
//! This crate decides; it never does IO. It has no tokio, no filesystem, no network, no clock
//! and reads no environment variables: callers pass in what the outside world says (the
//! environment map for a spec template, the time, the events) and get values back. That keeps
//! every decision testable and lets a simulator drive it deterministically.
//!
//! Start with [`spec::ServiceSpec`]: build one with [`spec::ServiceSpec::builder`] or parse a
//! svc.yml with [`spec::parse_yaml`]; both validate and report every problem at once as
//! [`spec::SpecErrors`]. Then run it with a [`scheduler::Scheduler`]: events in, actions
//! ([`scheduler::Action`]: write batches, Mesos calls, reads of the master's agents) out, with
//! persist-before-act built into the API. Inside, [`plan`] derives plans from the state, [`offer`] matches pod
//! requirements with offers and explains every decision, [`reconcile`] and [`recovery`] keep
//! the picture true after failures.
#![warn(missing_docs)]

pub mod config;
pub mod decide;
pub mod ids;
pub mod labels;
pub mod offer;
pub mod plan;
pub mod reconcile;
pub mod recovery;
pub mod scheduler;
pub mod spec;
pub mod store;
pub mod time;

pub use scheduler::{Action, Scheduler, SchedulerConfig, SchedulerError};
pub use spec::{parse_yaml, validate, ServiceSpec, SpecError, SpecErrors};
pub use time::Time;
