//! Running health checks and checks: the IO half. Deciding what a result
//! means (healthy or not, whether to tell the scheduler, whether to kill) is
//! the task state machine's job; this module only runs probes on schedule.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use super::process::{self, ExitOutcome, GroupSignal, LaunchSpec};

/// What one probe does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeTarget {
    /// Run a command in the task's sandbox with the task's environment.
    Command(LaunchSpec),
    /// GET this URL.
    Http { url: String },
    /// Open a TCP connection.
    Tcp { addr: SocketAddr },
}

/// When probes run: first after `delay`, then `interval` after each one
/// finished, each allowed `timeout` (Mesos' checker semantics).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProbeSchedule {
    pub delay: Duration,
    pub interval: Duration,
    pub timeout: Duration,
}

/// The result of one probe, in the shape of Mesos' `CheckStatusInfo`:
/// `None` means the probe could not produce a value (timed out, could not
/// start, connection refused for HTTP).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeResult {
    Command { exit_code: Option<i32> },
    Http { status_code: Option<u16> },
    Tcp { succeeded: bool },
}

impl ProbeResult {
    /// A health check passes on exit 0, on an HTTP status in 200..=399, or on
    /// an accepted TCP connection.
    pub fn healthy(self) -> bool {
        match self {
            ProbeResult::Command { exit_code } => exit_code == Some(0),
            ProbeResult::Http { status_code } => {
                matches!(status_code, Some(code) if (200..400).contains(&code))
            }
            ProbeResult::Tcp { succeeded } => succeeded,
        }
    }
}

/// A client for HTTP probes: redirects are a result, not something to follow
/// (Mesos' checker does not follow them either).
pub fn probe_client() -> reqwest::Client {
    crate::http_client::build_plain(|| {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
    })
    .unwrap_or_else(|error| {
        tracing::warn!(%error, "cannot build the probe HTTP client; using the default one");
        reqwest::Client::new()
    })
}

/// Runs probes forever on `schedule`, handing each result to `report`. The
/// caller stops it by dropping (aborting) the future.
pub async fn run_probes<F, Fut>(
    target: ProbeTarget,
    schedule: ProbeSchedule,
    client: reqwest::Client,
    mut report: F,
) where
    F: FnMut(ProbeResult) -> Fut,
    Fut: Future<Output = bool>,
{
    tokio::time::sleep(schedule.delay).await;
    loop {
        let result = probe_once(&target, schedule.timeout, &client).await;
        if !report(result).await {
            // Nobody listens any more: the executor is going away.
            return;
        }
        tokio::time::sleep(schedule.interval).await;
    }
}

/// Runs one probe, bounded by `timeout`.
pub async fn probe_once(
    target: &ProbeTarget,
    timeout: Duration,
    client: &reqwest::Client,
) -> ProbeResult {
    match target {
        ProbeTarget::Command(spec) => ProbeResult::Command {
            exit_code: run_command(spec, timeout).await,
        },
        ProbeTarget::Http { url } => {
            let status = client.get(url).timeout(timeout).send().await;
            ProbeResult::Http {
                status_code: status.ok().map(|response| response.status().as_u16()),
            }
        }
        ProbeTarget::Tcp { addr } => {
            let connect = tokio::net::TcpStream::connect(addr);
            ProbeResult::Tcp {
                succeeded: matches!(tokio::time::timeout(timeout, connect).await, Ok(Ok(_))),
            }
        }
    }
}

/// The command's exit code, or `None` if it could not start, was killed by a
/// signal, or overran `timeout` (then its whole process group is killed, so a
/// hung probe leaves nothing behind).
async fn run_command(spec: &LaunchSpec, timeout: Duration) -> Option<i32> {
    let mut child = match process::spawn(spec) {
        Ok(child) => child,
        Err(error) => {
            tracing::warn!(%error, "cannot start a check command");
            return None;
        }
    };
    // Until the command is reaped, dropping this (the probe aborted, or
    // timed out) takes its whole process group down.
    let mut guard = GroupGuard(child.id());
    match tokio::time::timeout(timeout, child.wait()).await {
        Ok(Ok(status)) => {
            // Reaped: the pid may be reused from now on, so never signal it.
            guard.0 = None;
            match ExitOutcome::from_status(status) {
                ExitOutcome::Code(code) => Some(code),
                ExitOutcome::Signal(_) => None,
            }
        }
        Ok(Err(error)) => {
            tracing::warn!(%error, "cannot wait for a check command");
            None
        }
        Err(_elapsed) => {
            drop(guard);
            // Reap it so no zombie is left per timed-out probe.
            let _ = child.wait().await;
            None
        }
    }
}

/// SIGKILLs a probe command's process group when dropped, unless the
/// command has been reaped (then the pid is cleared).
struct GroupGuard(Option<u32>);

impl Drop for GroupGuard {
    fn drop(&mut self) {
        if let Some(pid) = self.0 {
            if let Err(error) = process::signal_group(pid, GroupSignal::Kill) {
                tracing::warn!(%error, pid, "cannot kill a check command");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::executor::process::Program;

    fn shell(line: &str) -> ProbeTarget {
        ProbeTarget::Command(LaunchSpec {
            program: Program::Shell(line.to_owned()),
            env: vec![("PATH".to_owned(), "/usr/bin:/bin".to_owned())],
            cwd: std::env::temp_dir(),
            output: None,
            rlimits: Vec::new(),
        })
    }

    #[test]
    fn health_is_exit_zero_a_2xx_or_3xx_status_or_a_connection() {
        assert!(ProbeResult::Command { exit_code: Some(0) }.healthy());
        assert!(!ProbeResult::Command { exit_code: Some(1) }.healthy());
        assert!(!ProbeResult::Command { exit_code: None }.healthy());
        assert!(ProbeResult::Http {
            status_code: Some(204)
        }
        .healthy());
        assert!(ProbeResult::Http {
            status_code: Some(302)
        }
        .healthy());
        assert!(!ProbeResult::Http {
            status_code: Some(404)
        }
        .healthy());
        assert!(!ProbeResult::Http { status_code: None }.healthy());
        assert!(ProbeResult::Tcp { succeeded: true }.healthy());
    }

    #[tokio::test]
    async fn a_command_probe_reports_the_exit_code() {
        let client = probe_client();
        let result = probe_once(&shell("exit 7"), Duration::from_secs(5), &client).await;
        assert_eq!(result, ProbeResult::Command { exit_code: Some(7) });
    }

    #[tokio::test]
    async fn a_command_probe_that_overruns_its_timeout_has_no_exit_code() {
        let client = probe_client();
        let started = std::time::Instant::now();
        let result = probe_once(&shell("sleep 30"), Duration::from_millis(200), &client).await;
        assert_eq!(result, ProbeResult::Command { exit_code: None });
        assert!(started.elapsed() < Duration::from_secs(10));
    }

    #[tokio::test]
    async fn a_tcp_probe_succeeds_only_against_a_listener() {
        // An address of its own: on 127.0.0.1 a parallel test may take the port just released.
        let listener = tokio::net::TcpListener::bind("127.99.13.7:0")
            .await
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let client = probe_client();
        let open = probe_once(&ProbeTarget::Tcp { addr }, Duration::from_secs(2), &client).await;
        assert_eq!(open, ProbeResult::Tcp { succeeded: true });
        drop(listener);
        let closed = probe_once(&ProbeTarget::Tcp { addr }, Duration::from_secs(2), &client).await;
        assert_eq!(closed, ProbeResult::Tcp { succeeded: false });
    }

    #[tokio::test]
    async fn an_http_probe_reports_the_status_code_without_following_redirects() {
        use axum::{http::StatusCode, routing::get, Router};
        let app = Router::new()
            .route("/ok", get(|| async { StatusCode::OK }))
            .route(
                "/moved",
                get(|| async { (StatusCode::FOUND, [("location", "/missing")]) }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move { axum::serve(listener, app).await });
        let client = probe_client();
        let timeout = Duration::from_secs(2);
        let url = |path: &str| ProbeTarget::Http {
            url: format!("http://{addr}{path}"),
        };
        assert_eq!(
            probe_once(&url("/ok"), timeout, &client).await,
            ProbeResult::Http {
                status_code: Some(200)
            }
        );
        assert_eq!(
            probe_once(&url("/moved"), timeout, &client).await,
            ProbeResult::Http {
                status_code: Some(302)
            }
        );
        assert_eq!(
            probe_once(&url("/missing"), timeout, &client).await,
            ProbeResult::Http {
                status_code: Some(404)
            }
        );
        server.abort();
    }
}
