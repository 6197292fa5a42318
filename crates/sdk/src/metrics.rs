//! What the scheduler counts about itself, served as `GET /v1/metrics` in Prometheus' text
//! exposition format (version 0.0.4).
//!
//! Counters are bumped where the event happens: offers, launches, failures, relaunches,
//! acknowledgement latency and reconciliation time in the driver (`driver.rs`), the store's
//! commit latency around each commit (also the driver: it commits inline), requests in the
//! API's middleware. Gauges (tasks by state, plans and steps by status, connected, deployed)
//! are read off the scheduler's last [`Snapshot`] when the page is asked for, so that they are
//! never out of step with what `GET /v1/pods` and `GET /v1/plans` say.
//!
//! One [`Metrics`] lives as long as the process: an accepted update restarts the scheduler in
//! process, and the counters carry on (Prometheus takes a reset as a restart of the process).
//!
//! | Metric | Type | Labels |
//! |---|---|---|
//! | `cairn_offers_received_total` | counter | |
//! | `cairn_offers_declined_total` | counter | |
//! | `cairn_offers_accepted_total` | counter | |
//! | `cairn_task_launches_total` | counter | |
//! | `cairn_task_failures_total` | counter | `state`, `reason` (Mesos' `TaskStatus.Reason`, `none` when absent) |
//! | `cairn_task_relaunches_total` | counter | `reason`: the state the task's previous launch ended in |
//! | `cairn_tasks` | gauge | `state` (`TASK_RUNNING`, ..., `NOT_LAUNCHED`) |
//! | `cairn_plan_status` | gauge (1) | `plan`, `status` |
//! | `cairn_plan_steps` | gauge | `plan`, `status` |
//! | `cairn_connected`, `cairn_deployed` | gauge (0/1) | |
//! | `cairn_store_commit_seconds` | histogram | |
//! | `cairn_status_ack_seconds` | histogram | from a status update's arrival to its ACKNOWLEDGE being queued |
//! | `cairn_reconciliation_seconds` | histogram | from SUBSCRIBED to the explicit reconciliation settling |
//! | `cairn_api_requests_total` | counter | `route` (the route's pattern, never the path a caller sent), `method`, `code` |

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

use crate::driver::Snapshot;

/// The content type of the page.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Upper bounds of the latency histograms' buckets, in seconds: a store commit is about a
/// millisecond, an acknowledgement a few, a reconciliation up to seconds.
const BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// A latency histogram: counts per bucket (not cumulative; summed when written), sum, count.
#[derive(Debug, Clone, Default)]
struct Histogram {
    buckets: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    fn observe(&mut self, d: Duration) {
        if self.buckets.is_empty() {
            self.buckets = vec![0; BUCKETS.len()];
        }
        let secs = d.as_secs_f64();
        if let Some(i) = BUCKETS.iter().position(|b| secs <= *b) {
            self.buckets[i] += 1;
        }
        self.sum += secs;
        self.count += 1;
    }
}

#[derive(Debug, Default)]
struct Counts {
    offers_received: u64,
    offers_declined: u64,
    offers_accepted: u64,
    launches: u64,
    failures: BTreeMap<(String, String), u64>,
    relaunches: BTreeMap<String, u64>,
    api_requests: BTreeMap<(String, String, u16), u64>,
    store_commit: Histogram,
    status_ack: Histogram,
    reconciliation: Histogram,
}

/// The scheduler's counters, shared by the driver(s) and the API.
#[derive(Debug, Default)]
pub struct Metrics {
    // One lock for all: each bump is a few instructions, and nothing waits under it.
    counts: Mutex<Counts>,
}

impl Metrics {
    /// No counts yet.
    pub fn new() -> Metrics {
        Metrics::default()
    }

    fn with(&self, f: impl FnOnce(&mut Counts)) {
        // A poisoned lock only means a bump panicked half-way: the counts are still numbers.
        f(&mut self.counts.lock().unwrap_or_else(|e| e.into_inner()));
    }

    /// `n` offers arrived.
    pub fn offers_received(&self, n: usize) {
        self.with(|c| c.offers_received += n as u64);
    }

    /// `n` offers were declined.
    pub fn offers_declined(&self, n: usize) {
        self.with(|c| c.offers_declined += n as u64);
    }

    /// `n` offers were accepted (with operations).
    pub fn offers_accepted(&self, n: usize) {
        self.with(|c| c.offers_accepted += n as u64);
    }

    /// A task was launched; a relaunch when an earlier launch of it ended in `previous`.
    pub fn task_launched(&self, previous: Option<&str>) {
        self.with(|c| {
            c.launches += 1;
            if let Some(reason) = previous {
                *c.relaunches.entry(reason.to_string()).or_default() += 1;
            }
        });
    }

    /// A task failed: its `state` (`TASK_FAILED`, ...) and Mesos' `reason` for it.
    pub fn task_failed(&self, state: &str, reason: &str) {
        self.with(|c| {
            *c.failures
                .entry((state.to_string(), reason.to_string()))
                .or_default() += 1;
        });
    }

    /// A store commit took `d`.
    pub fn store_committed(&self, d: Duration) {
        self.with(|c| c.store_commit.observe(d));
    }

    /// A status update was acknowledged `d` after it arrived.
    pub fn status_acknowledged(&self, d: Duration) {
        self.with(|c| c.status_ack.observe(d));
    }

    /// An explicit reconciliation settled `d` after the subscription.
    pub fn reconciled(&self, d: Duration) {
        self.with(|c| c.reconciliation.observe(d));
    }

    /// The API answered `code` to `method` on `route` (a route's pattern).
    pub fn api_request(&self, route: &str, method: &str, code: u16) {
        self.with(|c| {
            *c.api_requests
                .entry((route.to_string(), method.to_string(), code))
                .or_default() += 1;
        });
    }

    /// The page: every counter, and the gauges of `snapshot`.
    pub fn render(&self, snapshot: &Snapshot) -> String {
        let counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        let mut page = Page::default();
        page.single(
            "cairn_offers_received_total",
            "counter",
            "Offers received from the master.",
            counts.offers_received as f64,
        );
        page.single(
            "cairn_offers_declined_total",
            "counter",
            "Offers declined.",
            counts.offers_declined as f64,
        );
        page.single(
            "cairn_offers_accepted_total",
            "counter",
            "Offers accepted with operations.",
            counts.offers_accepted as f64,
        );
        page.single(
            "cairn_task_launches_total",
            "counter",
            "Tasks launched (relaunches included).",
            counts.launches as f64,
        );
        page.family(
            "cairn_task_failures_total",
            "counter",
            "Task failures, by the state the task ended in and Mesos' reason.",
            counts.failures.iter().map(|((state, reason), n)| {
                (
                    vec![("state", state.as_str()), ("reason", reason.as_str())],
                    *n as f64,
                )
            }),
        );
        page.family(
            "cairn_task_relaunches_total",
            "counter",
            "Tasks launched again, by the state their previous launch ended in.",
            counts
                .relaunches
                .iter()
                .map(|(reason, n)| (vec![("reason", reason.as_str())], *n as f64)),
        );
        let mut tasks: BTreeMap<&str, u64> = BTreeMap::new();
        for task in snapshot.pods.iter().flat_map(|p| &p.tasks) {
            let state = task.state.map_or("NOT_LAUNCHED", |s| s.as_str());
            *tasks.entry(state).or_default() += 1;
        }
        page.family(
            "cairn_tasks",
            "gauge",
            "The service's tasks, by their latest state.",
            tasks
                .iter()
                .map(|(state, n)| (vec![("state", *state)], *n as f64)),
        );
        page.family(
            "cairn_plan_status",
            "gauge",
            "Each plan's status (1 for the status it has).",
            snapshot.plans.iter().map(|p| {
                (
                    vec![("plan", p.name.as_str()), ("status", p.status.as_str())],
                    1.0,
                )
            }),
        );
        let mut steps: BTreeMap<(&str, &str), u64> = BTreeMap::new();
        for plan in &snapshot.plans {
            for step in plan.phases.iter().flat_map(|p| &p.steps) {
                *steps
                    .entry((plan.name.as_str(), step.status.as_str()))
                    .or_default() += 1;
            }
        }
        page.family(
            "cairn_plan_steps",
            "gauge",
            "Steps of each plan, by status.",
            steps
                .iter()
                .map(|((plan, status), n)| (vec![("plan", *plan), ("status", *status)], *n as f64)),
        );
        page.single(
            "cairn_connected",
            "gauge",
            "1 while the scheduler is subscribed to the master.",
            f64::from(u8::from(snapshot.connected)),
        );
        page.single(
            "cairn_deployed",
            "gauge",
            "1 once the rollout plan is complete.",
            f64::from(u8::from(snapshot.deployed)),
        );
        page.histogram(
            "cairn_store_commit_seconds",
            "Time to commit a write batch to the state store.",
            &counts.store_commit,
        );
        page.histogram(
            "cairn_status_ack_seconds",
            "Time from a status update's arrival to its acknowledgement being sent.",
            &counts.status_ack,
        );
        page.histogram(
            "cairn_reconciliation_seconds",
            "Time from a subscription to the end of its explicit reconciliation.",
            &counts.reconciliation,
        );
        page.family(
            "cairn_api_requests_total",
            "counter",
            "Requests to the scheduler's API, by route pattern, method and status code.",
            counts
                .api_requests
                .iter()
                .map(|((route, method, code), n)| {
                    (
                        vec![
                            ("route", route.as_str()),
                            ("method", method.as_str()),
                            ("code", status_word(*code)),
                        ],
                        *n as f64,
                    )
                }),
        );
        page.text
    }
}

/// A status code as a label value (the codes the API answers; anything else is `other`, so
/// that the labels stay few whatever happens).
fn status_word(code: u16) -> &'static str {
    match code {
        200 => "200",
        202 => "202",
        204 => "204",
        400 => "400",
        401 => "401",
        403 => "403",
        404 => "404",
        405 => "405",
        408 => "408",
        409 => "409",
        413 => "413",
        415 => "415",
        422 => "422",
        500 => "500",
        503 => "503",
        _ => "other",
    }
}

/// The text being written.
#[derive(Default)]
struct Page {
    text: String,
}

impl Page {
    fn header(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.text, "# HELP {name} {}", escape_help(help));
        let _ = writeln!(self.text, "# TYPE {name} {kind}");
    }

    fn single(&mut self, name: &str, kind: &str, help: &str, value: f64) {
        self.header(name, kind, help);
        let _ = writeln!(self.text, "{name} {}", number(value));
    }

    fn family<'a>(
        &mut self,
        name: &str,
        kind: &str,
        help: &str,
        samples: impl Iterator<Item = (Vec<(&'a str, &'a str)>, f64)>,
    ) {
        self.header(name, kind, help);
        for (labels, value) in samples {
            let _ = writeln!(self.text, "{name}{} {}", labels_of(&labels), number(value));
        }
    }

    fn histogram(&mut self, name: &str, help: &str, h: &Histogram) {
        self.header(name, "histogram", help);
        let mut cumulative = 0;
        for (i, bound) in BUCKETS.iter().enumerate() {
            cumulative += h.buckets.get(i).copied().unwrap_or(0);
            let _ = writeln!(
                self.text,
                "{name}_bucket{{le=\"{}\"}} {cumulative}",
                number(*bound)
            );
        }
        let _ = writeln!(self.text, "{name}_bucket{{le=\"+Inf\"}} {}", h.count);
        let _ = writeln!(self.text, "{name}_sum {}", number(h.sum));
        let _ = writeln!(self.text, "{name}_count {}", h.count);
    }
}

/// `{a="x",b="y"}`, or nothing for no labels.
fn labels_of(labels: &[(&str, &str)]) -> String {
    if labels.is_empty() {
        return String::new();
    }
    let inner: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", escape_label(v)))
        .collect();
    format!("{{{}}}", inner.join(","))
}

/// A label value as the format wants it: `\`, `"` and newlines escaped.
fn escape_label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// A HELP text: `\` and newlines escaped.
fn escape_help(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\n', "\\n")
}

/// A sample value: integers without a fraction, others as Rust prints them (which the format
/// reads), infinities and NaN by the format's names.
fn number(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_label_value_with_quotes_backslashes_and_newlines_is_escaped() {
        assert_eq!(escape_label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }

    #[test]
    fn histogram_buckets_are_cumulative_and_end_with_the_count() {
        let m = Metrics::new();
        m.store_committed(Duration::from_micros(200));
        m.store_committed(Duration::from_millis(3));
        m.store_committed(Duration::from_secs(100));
        let page = m.render(&Snapshot::default());
        assert!(page.contains("cairn_store_commit_seconds_bucket{le=\"0.0005\"} 1\n"));
        assert!(page.contains("cairn_store_commit_seconds_bucket{le=\"0.005\"} 2\n"));
        assert!(page.contains("cairn_store_commit_seconds_bucket{le=\"30\"} 2\n"));
        assert!(page.contains("cairn_store_commit_seconds_bucket{le=\"+Inf\"} 3\n"));
        assert!(page.contains("cairn_store_commit_seconds_count 3\n"));
    }
}
