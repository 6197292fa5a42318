//! The `cairn` command line.

mod cluster_cmd;
mod duration;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "cairn",
    version,
    about = "Stateful services on Mesos, and an embedded cluster to run them on"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the embedded single-machine Mesos-compatible cluster, or act on a running one.
    Cluster(Box<cluster_cmd::ClusterArgs>),
    /// Run a pod's executor (started by a cluster agent; speaks Mesos' v1 executor API).
    #[command(hide = true)]
    Executor,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    init_logging();
    let result = match cli.command {
        Command::Cluster(args) => cluster_cmd::run(*args),
        Command::Executor => run_executor(),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("CAIRN_LOG").unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new("warn,cairn_cluster=info,cairn_cli=info")
    });
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

/// An executor is small and runs once per pod: a single-threaded runtime keeps a thousand of
/// them cheap.
fn run_executor() -> anyhow::Result<()> {
    become_session_leader();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(cairn_cluster::executor::run_from_env())?;
    Ok(())
}

/// The executor leads a session of its own: that detaches it from the cluster's terminal (a
/// Ctrl-C there must not kill pods), and gives the agent one handle, the session, on every
/// process of the pod, even after the executor itself has died.
#[allow(unsafe_code)]
fn become_session_leader() {
    // SAFETY: setsid(2) takes no arguments and touches no memory of ours; it fails harmlessly
    // when the process already leads a process group.
    unsafe {
        libc::setsid();
    }
}
