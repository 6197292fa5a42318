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

/// A probe's result and what it said, in a line: a command's exit code and the tail of its
/// output (`exit 1: Mode: looking`), an HTTP status or why there is none, a TCP connection or
/// why it failed. The executor puts a check's in the `message` of the status it sends, so that
/// the scheduler can say why a task is not ready.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeReport {
    pub result: ProbeResult,
    pub said: String,
}

/// How much of a check command's output is kept: its end, where a failing command says why.
/// A status update carries it, so it stays small.
pub const OUTPUT_TAIL_BYTES: usize = 512;

/// How long the output of a command that exited is still read: a process it left behind
/// holding the pipe open must not hold the probe until its timeout.
const OUTPUT_LINGER: Duration = Duration::from_millis(200);

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
    F: FnMut(ProbeReport) -> Fut,
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
) -> ProbeReport {
    match target {
        ProbeTarget::Command(spec) => {
            let (exit_code, said) = run_command(spec, timeout).await;
            ProbeReport {
                result: ProbeResult::Command { exit_code },
                said,
            }
        }
        ProbeTarget::Http { url } => {
            let (status_code, said) = match client.get(url).timeout(timeout).send().await {
                Ok(response) => {
                    let code = response.status().as_u16();
                    (Some(code), format!("HTTP {code}"))
                }
                Err(error) => (None, format!("GET {url}: {}", error_chain(&error))),
            };
            ProbeReport {
                result: ProbeResult::Http { status_code },
                said,
            }
        }
        ProbeTarget::Tcp { addr } => {
            let connect = tokio::net::TcpStream::connect(addr);
            let (succeeded, said) = match tokio::time::timeout(timeout, connect).await {
                Ok(Ok(_)) => (true, format!("connected to {addr}")),
                Ok(Err(error)) => (false, format!("cannot connect to {addr}: {error}")),
                Err(_) => (
                    false,
                    format!("no connection to {addr} within {}", secs(timeout)),
                ),
            };
            ProbeReport {
                result: ProbeResult::Tcp { succeeded },
                said,
            }
        }
    }
}

/// An error with its causes, one line (reqwest's own says only "error sending request").
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn secs(d: Duration) -> String {
    format!("{}s", d.as_secs_f64())
}

/// The command's exit code, or `None` if it could not start, was killed by a
/// signal, or overran `timeout` (then its whole process group is killed, so a
/// hung probe leaves nothing behind); and what it said: how it ended, and the
/// tail of what it wrote to stdout and stderr.
async fn run_command(spec: &LaunchSpec, timeout: Duration) -> (Option<i32>, String) {
    let started = tokio::net::unix::pipe::pipe().and_then(|(writer, reader)| {
        let child = process::spawn_into(spec, writer.into_blocking_fd()?)?;
        Ok((child, reader))
    });
    let (mut child, reader) = match started {
        Ok(started) => started,
        Err(error) => {
            tracing::warn!(%error, "cannot start a check command");
            return (None, format!("cannot start: {error}"));
        }
    };
    // Until the command is reaped, dropping this (the probe aborted, or
    // timed out) takes its whole process group down.
    let mut guard = GroupGuard(child.id());
    let mut output = OutputTail::default();
    let waited = tokio::time::timeout(timeout, wait_reading(&mut child, reader, &mut output)).await;
    let (code, ended) = match waited {
        Ok(Ok(status)) => {
            // Reaped: the pid may be reused from now on, so never signal it.
            guard.0 = None;
            match ExitOutcome::from_status(status) {
                ExitOutcome::Code(code) => (Some(code), format!("exit {code}")),
                ExitOutcome::Signal(signal) => (
                    None,
                    format!(
                        "killed by signal {signal} ({})",
                        process::signal_name(signal)
                    ),
                ),
            }
        }
        Ok(Err(error)) => {
            tracing::warn!(%error, "cannot wait for a check command");
            (None, format!("cannot wait for it: {error}"))
        }
        Err(_elapsed) => {
            drop(guard);
            // Reap it so no zombie is left per timed-out probe.
            let _ = child.wait().await;
            (None, format!("timed out after {}", secs(timeout)))
        }
    };
    let said = match output.line() {
        tail if tail.is_empty() => ended,
        tail => format!("{ended}: {tail}"),
    };
    (code, said)
}

/// Waits for `child` while reading its output from `reader` into `output` (a command blocked
/// on a full pipe would never exit); once it exited, reads on only while the output keeps
/// coming within [`OUTPUT_LINGER`].
async fn wait_reading(
    child: &mut tokio::process::Child,
    reader: tokio::net::unix::pipe::Receiver,
    output: &mut OutputTail,
) -> std::io::Result<std::process::ExitStatus> {
    use tokio::io::AsyncReadExt as _;
    let mut reader = Some(reader);
    let mut buf = [0u8; 4096];
    let mut status = None;
    loop {
        if let (Some(status), None) = (status, &reader) {
            return Ok(status);
        }
        tokio::select! {
            waited = child.wait(), if status.is_none() => status = Some(waited?),
            read = async { reader.as_mut()?.read(&mut buf).await.ok() }, if reader.is_some() => {
                match read {
                    Some(n) if n > 0 => output.push(&buf[..n]),
                    _ => reader = None,
                }
            }
            () = tokio::time::sleep(OUTPUT_LINGER), if status.is_some() => {
                // Something the command started still holds its output open: done reading.
                reader = None;
            }
        }
    }
}

/// The last [`OUTPUT_TAIL_BYTES`] of a command's output.
#[derive(Debug, Default)]
struct OutputTail {
    bytes: Vec<u8>,
    /// Whether its beginning was dropped (its first line may then be a part of one).
    cut: bool,
}

impl OutputTail {
    fn push(&mut self, bytes: &[u8]) {
        self.bytes.extend_from_slice(bytes);
        if self.bytes.len() > OUTPUT_TAIL_BYTES {
            self.bytes.drain(..self.bytes.len() - OUTPUT_TAIL_BYTES);
            self.cut = true;
        }
    }

    /// One line of at most [`OUTPUT_TAIL_BYTES`]: the last whole non-blank lines, trimmed and
    /// joined with `; ` (a status message is shown on one line of a plan).
    fn line(&self) -> String {
        let text = String::from_utf8_lossy(&self.bytes);
        let mut lines: Vec<&str> = text.lines().skip(usize::from(self.cut)).collect();
        lines.retain(|l| !l.trim().is_empty());
        let mut kept = Vec::new();
        let mut len = 0;
        for line in lines.iter().rev().map(|l| l.trim()) {
            len += line.len() + 2;
            if len > OUTPUT_TAIL_BYTES + 2 {
                break;
            }
            kept.push(line);
        }
        kept.reverse();
        kept.join("; ")
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
        let report = probe_once(&shell("exit 7"), Duration::from_secs(5), &client).await;
        assert_eq!(report.result, ProbeResult::Command { exit_code: Some(7) });
        assert_eq!(report.said, "exit 7");
    }

    #[tokio::test]
    async fn a_command_probe_says_its_exit_code_and_the_tail_of_its_output_on_one_line() {
        let client = probe_client();
        let line = "echo Zookeeper version: 3.8; echo; echo 'Mode: looking' >&2; exit 1";
        let report = probe_once(&shell(line), Duration::from_secs(5), &client).await;
        assert_eq!(report.result, ProbeResult::Command { exit_code: Some(1) });
        assert_eq!(report.said, "exit 1: Zookeeper version: 3.8; Mode: looking");
        // A chatty command: only the end of what it wrote is kept.
        let chatty = "seq 1 100000; echo the end";
        let report = probe_once(&shell(chatty), Duration::from_secs(10), &client).await;
        assert!(report.said.starts_with("exit 0: "), "{}", report.said);
        assert!(
            report.said.ends_with("; 100000; the end"),
            "{}",
            report.said
        );
        assert!(
            report.said.len() <= OUTPUT_TAIL_BYTES + 20,
            "{}",
            report.said
        );
        let first = report
            .said
            .trim_start_matches("exit 0: ")
            .split("; ")
            .next();
        assert!(
            first.unwrap().parse::<u32>().unwrap() > 99_000,
            "whole lines only: {}",
            report.said
        );
    }

    #[tokio::test]
    async fn a_command_that_leaves_a_process_holding_its_output_is_not_waited_for() {
        let client = probe_client();
        let started = std::time::Instant::now();
        let line = "echo ready; sleep 30 & exit 0";
        let report = probe_once(&shell(line), Duration::from_secs(20), &client).await;
        assert_eq!(report.result, ProbeResult::Command { exit_code: Some(0) });
        assert_eq!(report.said, "exit 0: ready");
        assert!(started.elapsed() < Duration::from_secs(10));
    }

    #[tokio::test]
    async fn a_command_probe_that_overruns_its_timeout_has_no_exit_code() {
        let client = probe_client();
        let started = std::time::Instant::now();
        let report = probe_once(&shell("sleep 30"), Duration::from_millis(200), &client).await;
        assert_eq!(report.result, ProbeResult::Command { exit_code: None });
        assert_eq!(report.said, "timed out after 0.2s");
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
        assert_eq!(open.result, ProbeResult::Tcp { succeeded: true });
        drop(listener);
        let closed = probe_once(&ProbeTarget::Tcp { addr }, Duration::from_secs(2), &client).await;
        assert_eq!(closed.result, ProbeResult::Tcp { succeeded: false });
        assert!(
            closed.said.starts_with("cannot connect to "),
            "{}",
            closed.said
        );
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
            probe_once(&url("/ok"), timeout, &client).await.result,
            ProbeResult::Http {
                status_code: Some(200)
            }
        );
        assert_eq!(
            probe_once(&url("/moved"), timeout, &client).await.result,
            ProbeResult::Http {
                status_code: Some(302)
            }
        );
        let missing = probe_once(&url("/missing"), timeout, &client).await;
        assert_eq!(
            missing.result,
            ProbeResult::Http {
                status_code: Some(404)
            }
        );
        assert_eq!(missing.said, "HTTP 404");
        server.abort();
    }
}
