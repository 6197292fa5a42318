//! State store backends: [`FileStore`] (a directory per service, the default) and, for
//! tests, `cairn_core::store::MemStore`; plus [`contract::store_contract`], the behaviour every
//! backend must have.
//!
//! The scheduler never writes to a store itself: it emits `WriteBatch`es and the driver
//! commits each one here before the scheduler may act on it (persist before act).

pub mod contract;
mod file;

pub use cairn_core::store::{MemStore, Store, StoreError, WriteBatch, WriteOp};
pub use file::{FileStore, InvalidKey};
