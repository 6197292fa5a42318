//! The executor as a binary of its own, so the integration tests can start
//! it as a real process (`CARGO_BIN_EXE_cairn-test-executor`). In a cluster
//! the agent runs `cairn executor`, which calls the same `run_from_env` on the
//! same single-threaded runtime.

use std::process::ExitCode;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(std::io::stderr)
        .init();
    match cairn_cluster::executor::run_from_env().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(%error, "executor failed");
            ExitCode::FAILURE
        }
    }
}
