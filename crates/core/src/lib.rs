//! `cairn-core`: the sans-IO brain of cairn.
//!
//! This crate decides; it never does IO. It has no tokio, no filesystem, no network, no clock
//! and reads no environment variables: callers pass in what the outside world says (the
//! environment map for a spec template, later the time and the events) and get values back.
//! That keeps every decision testable and lets a simulator drive it deterministically.
//!
//! Start with [`spec::ServiceSpec`]: build one with [`spec::ServiceSpec::builder`] or parse a
//! svc.yml with [`spec::parse_yaml`]; both validate and report every problem at once as
//! [`spec::SpecErrors`]. Plans, the offer pipeline and the scheduler state machine will build on
//! the spec in later modules.
#![warn(missing_docs)]

pub mod spec;
pub mod store;

pub use spec::{parse_yaml, validate, ServiceSpec, SpecError, SpecErrors};
