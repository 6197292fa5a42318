//! Why a scheduler could not be built or must stop.

use crate::config::ConfigViolation;
use crate::spec::SpecErrors;
use crate::store::StoreError;

/// A scheduler could not be built, or must stop and restart from its store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SchedulerError {
    /// The spec breaks a rule of its own (see [`crate::spec::validate`]).
    #[error("the service spec is invalid")]
    Spec(#[source] SpecErrors),
    /// A config validator refused a first install. (A refused change of a running service is
    /// not an error: the stored target keeps running, see `Scheduler::config_errors`.)
    #[error("the config change is refused: {}", violations_text(.0))]
    Config(Vec<ConfigViolation>),
    /// The stored state is unusable.
    #[error("reading the stored state")]
    Store(#[source] StoreError),
    /// A write batch could not be committed: the in-memory state is ahead of the store, so the
    /// only consistent continuation is a restart from the store.
    #[error("write batch {batch_id} was not committed; restart the scheduler from the store")]
    Commit {
        /// The batch that failed.
        batch_id: u64,
    },
}

impl From<StoreError> for SchedulerError {
    fn from(e: StoreError) -> Self {
        SchedulerError::Store(e)
    }
}

fn violations_text(v: &[ConfigViolation]) -> String {
    v.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}
