//! The executor side of a service binary.
//!
//! The embedded cluster starts each pod's executor by running a program with the argument
//! `executor` — by default the program that started the cluster. For `cairn run` that is the
//! `cairn` binary; for a service built on `cairn::run` it is the service's own binary. Either
//! way the process must turn into an executor before doing anything else, which is what
//! [`executor_main`] does (and `cairn::run` calls it when `argv[1] == "executor"`).

use crate::Error;

/// Whether this process was started as a pod's executor (`<program> executor`).
pub fn is_executor_invocation() -> bool {
    std::env::args().nth(1).as_deref() == Some("executor")
}

/// Runs this process as a pod's executor until the pod is done; reads the `MESOS_*`
/// environment its agent set.
#[cfg(feature = "embedded-cluster")]
pub fn executor_main() -> Result<(), Error> {
    become_session_leader();
    // An executor is small and runs once per pod: a single-threaded runtime keeps a thousand
    // of them cheap.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::io("starting the executor's runtime", e))?;
    rt.block_on(cairn_cluster::executor::run_from_env())
        .map_err(Error::Executor)
}

/// Without the embedded cluster there is no executor: only the cluster starts this program as
/// one (on real Mesos, pods run under Mesos' default executor).
#[cfg(not(feature = "embedded-cluster"))]
pub fn executor_main() -> Result<(), Error> {
    Err(Error::NoEmbeddedCluster)
}

/// The executor leads a session of its own: that detaches it from the terminal of whatever
/// started the cluster (a Ctrl-C there must not kill pods), and gives the agent one handle, the
/// session, on every process of the pod, even after the executor itself has died.
#[cfg(feature = "embedded-cluster")]
#[allow(unsafe_code)]
fn become_session_leader() {
    // SAFETY: setsid(2) takes no arguments and touches no memory of ours; it fails harmlessly
    // when the process already leads a process group.
    unsafe {
        libc::setsid();
    }
}
