//! Mesos v1 protocol types for cairn.
//!
//! This crate holds the Rust shapes of the Mesos v1 scheduler, executor and
//! operator APIs as Mesos' own JSON codec writes them (snake_case proto field
//! names, enum value names as strings, wrapped IDs, base64 bytes), the RecordIO
//! framing of event streams, and the resource arithmetic a master and a
//! scheduler both need (merging, subtracting, reservation formats, parsing the
//! agent `--resources` syntax).
//!
//! It does no IO at all: no network, no files, no clock, no threads. Both the
//! scheduler SDK and the embedded cluster build on it, so a type here is the
//! wire contract between them.
//!
//! Layout: shared messages (`FrameworkInfo`, `TaskInfo`, `TaskStatus`,
//! `Resource`, ...) live at the crate root; the three APIs whose envelopes
//! would otherwise clash are in [`scheduler`], [`executor`] and [`master`].

#[macro_use]
mod macros;

pub mod common;
pub mod dns;
pub mod executor;
pub mod ids;
pub mod master;
pub mod messages;
pub mod num;
pub mod operations;
pub mod recordio;
pub mod resources;
pub mod scheduler;
pub mod validation;

pub use common::*;
pub use ids::*;
pub use messages::*;
pub use recordio::{DecodeError, Decoder};
pub use resources::*;

/// The Mesos version the embedded cluster reports (`GET /version`,
/// `MasterInfo.version`). Clients such as pymesos pick features from it.
pub const MESOS_VERSION: &str = "1.11.0";
