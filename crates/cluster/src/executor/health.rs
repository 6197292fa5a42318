//! What probe results mean: the pure half of health checks and checks.
//!
//! A health check decides whether the task lives (Mesos kills a task after
//! too many failures in a row); a check only reports (the scheduler reads it,
//! for example as a readiness check). Both only tell the scheduler about
//! *changes*, so a steady task does not flood the status update stream. A
//! check also tells what it said (a command's exit code and the tail of its
//! output): a change of result is sent at once with its words, a change of
//! the words alone at most once per [`OUTPUT_ONLY_INTERVAL`], so a check that
//! prints a counter or a time does not make an update per probe.

use std::time::{Duration, Instant};

use cairn_proto::{
    CheckStatusCommand, CheckStatusHttp, CheckStatusInfo, CheckStatusTcp, CheckType,
};

use super::probe::{ProbeReport, ProbeResult};

/// The parts of a `HealthCheck` that judge results.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthPolicy {
    /// After start, failures are ignored for this long, until the first
    /// success: a slow starter is not killed while it boots.
    pub grace_period: Duration,
    /// Failures in a row that kill the task.
    pub max_consecutive_failures: u32,
    /// HTTP statuses that count as healthy; empty means 200..=399.
    pub healthy_statuses: Vec<u32>,
}

/// What the executor should do after a health check result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HealthVerdict {
    /// Tell the scheduler the task's health is now this.
    pub report: Option<bool>,
    /// Kill the task: it failed this many times in a row.
    pub kill_after_failures: Option<u32>,
}

/// Tracks one task's health check results.
#[derive(Debug, Clone)]
pub struct HealthTracker {
    policy: HealthPolicy,
    started_at: Instant,
    seen_success: bool,
    consecutive_failures: u32,
    reported: Option<bool>,
}

impl HealthTracker {
    /// `started_at` is when the task started: the grace period counts from
    /// there, not from the first probe.
    pub fn new(policy: HealthPolicy, started_at: Instant) -> Self {
        HealthTracker {
            policy,
            started_at,
            seen_success: false,
            consecutive_failures: 0,
            reported: None,
        }
    }

    /// The health last reported to the scheduler, if any.
    pub fn reported(&self) -> Option<bool> {
        self.reported
    }

    pub fn consecutive_failures(&self) -> u32 {
        self.consecutive_failures
    }

    pub fn observe(&mut self, now: Instant, result: ProbeResult) -> HealthVerdict {
        if self.passes(result) {
            self.seen_success = true;
            self.consecutive_failures = 0;
            return HealthVerdict {
                report: self.report(true),
                kill_after_failures: None,
            };
        }
        let in_grace = now.saturating_duration_since(self.started_at) < self.policy.grace_period;
        if in_grace && !self.seen_success {
            return HealthVerdict::default();
        }
        self.consecutive_failures += 1;
        HealthVerdict {
            report: self.report(false),
            kill_after_failures: (self.consecutive_failures
                >= self.policy.max_consecutive_failures)
                .then_some(self.consecutive_failures),
        }
    }

    fn passes(&self, result: ProbeResult) -> bool {
        match result {
            ProbeResult::Http {
                status_code: Some(code),
            } if !self.policy.healthy_statuses.is_empty() => {
                self.policy.healthy_statuses.contains(&u32::from(code))
            }
            other => other.healthy(),
        }
    }

    fn report(&mut self, healthy: bool) -> Option<bool> {
        if self.reported == Some(healthy) {
            None
        } else {
            self.reported = Some(healthy);
            Some(healthy)
        }
    }
}

/// How often a check's words alone (the same result, other output) may make a status update.
pub const OUTPUT_ONLY_INTERVAL: Duration = Duration::from_secs(10);

/// Tracks one task's check results and turns changes into `CheckStatusInfo`.
#[derive(Debug, Clone)]
pub struct CheckTracker {
    kind: CheckType,
    last: Option<ProbeResult>,
    /// What the last reported result said, and when it was reported.
    said: Option<(String, Instant)>,
}

impl CheckTracker {
    pub fn new(kind: CheckType) -> Self {
        CheckTracker {
            kind,
            last: None,
            said: None,
        }
    }

    /// What the check said with its last reported result.
    pub fn said(&self) -> Option<&str> {
        self.said.as_ref().map(|(words, _)| words.as_str())
    }

    /// The check's type with an empty result, as Mesos puts in every status it makes from
    /// scratch (STARTING, the first RUNNING, KILLING, the terminal one).
    pub fn empty(&self) -> CheckStatusInfo {
        empty_status(self.kind)
    }

    /// The latest result, or before any the empty status.
    pub fn current(&self) -> CheckStatusInfo {
        match self.last {
            Some(result) => check_status(result),
            None => empty_status(self.kind),
        }
    }

    /// Records a result; returns the new status to report: when the result differs from the
    /// last, or only what it said does and the last report is [`OUTPUT_ONLY_INTERVAL`] old.
    pub fn observe(&mut self, now: Instant, report: ProbeReport) -> Option<CheckStatusInfo> {
        if self.last == Some(report.result) {
            let (words, at) = self.said.as_ref()?;
            if *words == report.said || now.saturating_duration_since(*at) < OUTPUT_ONLY_INTERVAL {
                return None;
            }
        }
        self.last = Some(report.result);
        self.said = Some((report.said, now));
        Some(check_status(report.result))
    }
}

fn empty_status(kind: CheckType) -> CheckStatusInfo {
    let mut status = CheckStatusInfo {
        type_: Some(kind),
        ..Default::default()
    };
    match kind {
        CheckType::Command => status.command = Some(CheckStatusCommand::default()),
        CheckType::Http => status.http = Some(CheckStatusHttp::default()),
        CheckType::Tcp => status.tcp = Some(CheckStatusTcp::default()),
        CheckType::Unknown => {}
    }
    status
}

fn check_status(result: ProbeResult) -> CheckStatusInfo {
    match result {
        ProbeResult::Command { exit_code } => CheckStatusInfo {
            type_: Some(CheckType::Command),
            command: Some(CheckStatusCommand { exit_code }),
            ..Default::default()
        },
        ProbeResult::Http { status_code } => CheckStatusInfo {
            type_: Some(CheckType::Http),
            http: Some(CheckStatusHttp {
                status_code: status_code.map(u32::from),
            }),
            ..Default::default()
        },
        ProbeResult::Tcp { succeeded } => CheckStatusInfo {
            type_: Some(CheckType::Tcp),
            tcp: Some(CheckStatusTcp {
                succeeded: Some(succeeded),
            }),
            ..Default::default()
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASS: ProbeResult = ProbeResult::Command { exit_code: Some(0) };
    const FAIL: ProbeResult = ProbeResult::Command { exit_code: Some(1) };

    fn tracker(grace: u64, max_failures: u32) -> (HealthTracker, Instant) {
        let start = Instant::now();
        let policy = HealthPolicy {
            grace_period: Duration::from_secs(grace),
            max_consecutive_failures: max_failures,
            healthy_statuses: Vec::new(),
        };
        (HealthTracker::new(policy, start), start)
    }

    fn secs(start: Instant, s: u64) -> Instant {
        start + Duration::from_secs(s)
    }

    #[test]
    fn the_first_success_is_reported_and_repeats_are_not() {
        let (mut health, start) = tracker(0, 3);
        assert_eq!(health.observe(secs(start, 1), PASS).report, Some(true));
        assert_eq!(
            health.observe(secs(start, 2), PASS),
            HealthVerdict::default()
        );
    }

    #[test]
    fn failures_inside_the_grace_period_are_ignored_until_the_first_success() {
        let (mut health, start) = tracker(10, 1);
        assert_eq!(
            health.observe(secs(start, 1), FAIL),
            HealthVerdict::default()
        );
        assert_eq!(
            health.observe(secs(start, 5), FAIL),
            HealthVerdict::default()
        );
        assert_eq!(health.consecutive_failures(), 0);
        assert_eq!(health.observe(secs(start, 6), PASS).report, Some(true));
        // After a success the grace period no longer protects the task.
        let verdict = health.observe(secs(start, 7), FAIL);
        assert_eq!(verdict.report, Some(false));
        assert_eq!(verdict.kill_after_failures, Some(1));
    }

    #[test]
    fn failures_after_the_grace_period_count_without_any_success() {
        let (mut health, start) = tracker(2, 3);
        let first = health.observe(secs(start, 3), FAIL);
        assert_eq!(first.report, Some(false));
        assert_eq!(first.kill_after_failures, None);
        assert_eq!(
            health.observe(secs(start, 4), FAIL),
            HealthVerdict::default()
        );
        let third = health.observe(secs(start, 5), FAIL);
        assert_eq!(third.report, None);
        assert_eq!(third.kill_after_failures, Some(3));
    }

    #[test]
    fn a_success_resets_the_failure_count_and_reports_recovery() {
        let (mut health, start) = tracker(0, 3);
        health.observe(secs(start, 1), FAIL);
        health.observe(secs(start, 2), FAIL);
        assert_eq!(health.observe(secs(start, 3), PASS).report, Some(true));
        assert_eq!(health.consecutive_failures(), 0);
        let verdict = health.observe(secs(start, 4), FAIL);
        assert_eq!(verdict.report, Some(false));
        assert_eq!(verdict.kill_after_failures, None);
    }

    #[test]
    fn http_health_uses_the_configured_statuses_when_given() {
        let start = Instant::now();
        let policy = HealthPolicy {
            grace_period: Duration::ZERO,
            max_consecutive_failures: 1,
            healthy_statuses: vec![418],
        };
        let mut health = HealthTracker::new(policy, start);
        let teapot = ProbeResult::Http {
            status_code: Some(418),
        };
        let ok = ProbeResult::Http {
            status_code: Some(200),
        };
        assert_eq!(health.observe(start, teapot).report, Some(true));
        assert_eq!(health.observe(start, ok).kill_after_failures, Some(1));
    }

    fn said(result: ProbeResult, words: &str) -> ProbeReport {
        ProbeReport {
            result,
            said: words.to_owned(),
        }
    }

    #[test]
    fn a_check_starts_empty_and_reports_only_changes() {
        let now = Instant::now();
        let mut check = CheckTracker::new(CheckType::Command);
        assert_eq!(
            check.current(),
            CheckStatusInfo {
                type_: Some(CheckType::Command),
                command: Some(CheckStatusCommand { exit_code: None }),
                ..Default::default()
            }
        );
        assert_eq!(check.said(), None);
        let first = check.observe(now, said(FAIL, "exit 1")).unwrap();
        assert_eq!(first.command.unwrap().exit_code, Some(1));
        assert_eq!(check.said(), Some("exit 1"));
        assert_eq!(check.observe(now, said(FAIL, "exit 1")), None);
        let passed = check.observe(now, said(PASS, "exit 0")).unwrap();
        assert_eq!(passed.command.unwrap().exit_code, Some(0));
        assert_eq!(check.current().command.unwrap().exit_code, Some(0));
    }

    #[test]
    fn a_check_whose_output_alone_changes_is_reported_at_most_once_per_interval() {
        let start = Instant::now();
        let mut check = CheckTracker::new(CheckType::Command);
        assert!(check
            .observe(start, said(FAIL, "exit 1: Mode: looking"))
            .is_some());
        // A chatty check: new words on every probe, the same result.
        let soon = start + OUTPUT_ONLY_INTERVAL / 2;
        assert_eq!(check.observe(soon, said(FAIL, "exit 1: tick 1")), None);
        assert_eq!(check.said(), Some("exit 1: Mode: looking"));
        let later = start + OUTPUT_ONLY_INTERVAL;
        assert!(check.observe(later, said(FAIL, "exit 1: tick 2")).is_some());
        assert_eq!(check.said(), Some("exit 1: tick 2"));
        // A new result is reported at once, whatever the interval.
        assert!(check
            .observe(later, said(PASS, "exit 0: Mode: follower"))
            .is_some());
        assert_eq!(check.said(), Some("exit 0: Mode: follower"));
    }

    #[test]
    fn http_and_tcp_check_results_fill_their_own_fields() {
        let now = Instant::now();
        let mut http = CheckTracker::new(CheckType::Http);
        let status = http
            .observe(
                now,
                said(
                    ProbeResult::Http {
                        status_code: Some(503),
                    },
                    "HTTP 503",
                ),
            )
            .unwrap();
        assert_eq!(status.http.unwrap().status_code, Some(503));
        let mut tcp = CheckTracker::new(CheckType::Tcp);
        assert_eq!(tcp.current().tcp, Some(CheckStatusTcp { succeeded: None }));
        let status = tcp
            .observe(now, said(ProbeResult::Tcp { succeeded: true }, "connected"))
            .unwrap();
        assert_eq!(status.tcp.unwrap().succeeded, Some(true));
    }
}
