//! `cairn::Error`: everything that can stop a cairn service.

use std::path::PathBuf;

use cairn_core::spec::SpecErrors;
use cairn_core::store::StoreError;

use crate::mesos::MesosError;

/// Why `cairn::run` (or one of its parts) stopped.
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The command line is wrong.
    #[error("{0}")]
    Usage(String),
    /// The spec file could not be read.
    #[error("reading the service spec {}", path.display())]
    ReadSpec {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The spec is invalid: every problem, each with its path.
    #[error("{0}")]
    Spec(SpecErrors),
    /// The state store failed.
    #[error("the state store")]
    Store(#[source] StoreError),
    /// The embedded cluster could not start.
    #[cfg(feature = "embedded-cluster")]
    #[error("starting the embedded cluster")]
    Cluster(#[source] cairn_cluster::ClusterError),
    /// No subscription to the master could be made for as long as the driver was told to try
    /// (`DriverOptions::give_up_after`).
    #[error("no answer from the Mesos master at {master} for {after:?} (last: {why}); stopped")]
    MasterUnreachable {
        /// The master.
        master: String,
        /// How long it was tried.
        after: std::time::Duration,
        /// What the last attempt said.
        why: String,
    },
    /// The work directory's embedded cluster runs already (a `cairn cluster`, or another
    /// `cairn run`): starting a second on its checkpoints is refused.
    #[error(
        "the embedded cluster in {} is running already ({running}): stop it first \
         (`cairn cluster down --work-dir {}`), or run against it with --master URL",
        work_dir.join("cluster").display(),
        work_dir.display()
    )]
    ClusterRunning {
        /// The work directory (`--work-dir`).
        work_dir: std::path::PathBuf,
        /// Who runs it.
        running: cairn_cluster::RunningCluster,
    },
    /// No master was given, and this binary was built without the embedded cluster.
    #[error("this program was built without the embedded cluster (cairn's `embedded-cluster` feature): give it a Mesos master with --master http://HOST:5050")]
    NoEmbeddedCluster,
    /// The embedded cluster cannot run the service's tasks as the user the spec names.
    #[error("service {service}: the embedded cluster cannot run its tasks")]
    User {
        /// The service.
        service: String,
        /// Why.
        #[source]
        source: cairn_cluster::UserError,
    },
    /// Talking to the master failed in a way that retrying does not fix.
    #[error("talking to the Mesos master")]
    Mesos(#[source] MesosError),
    /// The takeover check refused the stored state: what the store lost or the master did,
    /// and what the operator can do (`--adopt-framework`, `--force`, `cairn uninstall`).
    #[error("{0}")]
    Takeover(cairn_core::scheduler::TakeoverRefusal),
    /// The scheduler could not start, or must stop (e.g. a write batch was not committed).
    #[error("the scheduler stopped")]
    Scheduler(#[source] cairn_core::scheduler::SchedulerError),
    /// An uninstall stopped before it finished, or left reservations on silent agents.
    #[error("{0}")]
    Uninstall(String),
    /// A scheduler's HTTP API could not be reached, or answered with an error.
    #[error("{0}")]
    Api(String),
    /// A scheduler's HTTP API refused the request for want of its token (401): a scheduler
    /// runs there, but this caller may not use it.
    #[error("{0}")]
    ApiUnauthorized(String),
    /// The framework's credential could not be read or written.
    #[error("the framework's credential")]
    Credentials(#[source] cairn_cluster::auth::AuthError),
    /// This process ran as a pod's executor, and the executor failed.
    #[cfg(feature = "embedded-cluster")]
    #[error("the executor")]
    Executor(#[source] cairn_cluster::executor::ExecutorError),
    /// Some other IO failed.
    #[error("{context}")]
    Io {
        /// What cairn was doing.
        context: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// A service's `fn main() -> Result<(), cairn::Error>` prints its error with `{:?}`: that is
/// the message and its causes as a person reads them, not the enum's structure.
impl std::fmt::Debug for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self}")?;
        let mut source = std::error::Error::source(self);
        while let Some(cause) = source {
            write!(f, ": {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}

impl From<SpecErrors> for Error {
    fn from(e: SpecErrors) -> Self {
        Error::Spec(e)
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        Error::Store(e)
    }
}

impl From<MesosError> for Error {
    fn from(e: MesosError) -> Self {
        Error::Mesos(e)
    }
}

impl From<cairn_core::scheduler::SchedulerError> for Error {
    fn from(e: cairn_core::scheduler::SchedulerError) -> Self {
        Error::Scheduler(e)
    }
}

impl Error {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_printed_by_main_reads_as_its_message_and_causes() {
        let e = Error::io(
            "writing the state",
            std::io::Error::new(std::io::ErrorKind::StorageFull, "no space left on device"),
        );
        assert_eq!(
            format!("{e:?}"),
            "writing the state: no space left on device"
        );
        assert!(format!("{:?}", Error::NoEmbeddedCluster).contains("--master"));
    }
}
