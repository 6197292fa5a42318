//! What `cairn run` says on the terminal: a line per change of a plan or a step, then where
//! every pod is once the service is deployed (again whenever a pod moves).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use cairn_core::plan::Status;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::driver::Snapshot;
use crate::locate::{self, PodLocation};

/// How long the table waits for sandboxes to appear before it is printed without them (an
/// embedded cluster on another machine has its directories there, not here).
const SANDBOX_WAIT: Duration = Duration::from_secs(10);

/// A step that keeps its status this long says why it waits (once, and again when the
/// reason changes): a deploy that stalls says so within seconds, without a line per offer.
const WAIT_SAID_AFTER: Duration = Duration::from_secs(3);

/// The most waiting steps said at once; the rest are counted (a parallel phase of a thousand
/// steps waiting for offers is one story, not a thousand lines).
const WAITS_SAID: usize = 5;

/// What has been said of each step that is not complete: since when it has its status, and
/// the reason last printed for it.
#[derive(Debug, Default)]
pub(crate) struct Waits {
    steps: BTreeMap<(String, String, String), Wait>,
}

#[derive(Debug)]
struct Wait {
    status: Status,
    since: Instant,
    said: String,
}

impl Waits {
    /// Lines for the steps of `snap` that have kept their status for [`WAIT_SAID_AFTER`] and
    /// wait for a reason not said yet. A step's change of status (which [`lines`] prints with
    /// its message) starts its clock again.
    pub(crate) fn lines(&mut self, now: Instant, snap: &Snapshot) -> Vec<String> {
        let mut seen = BTreeMap::new();
        let mut out = Vec::new();
        let mut unsaid = 0;
        for plan in snap
            .plans
            .iter()
            .filter(|p| shown_status(p) != Status::Complete)
        {
            for phase in &plan.phases {
                for step in &phase.steps {
                    // A delayed step is a crash loop's backoff: the failure line and the
                    // DELAYED line said why, and its countdown is no new reason.
                    if matches!(
                        step.status,
                        Status::Complete | Status::Pending | Status::Delayed
                    ) || recovering(step)
                    {
                        continue;
                    }
                    let key = (plan.name.clone(), phase.name.clone(), step.name.clone());
                    let mut wait = match self.steps.remove(&key) {
                        Some(w) if w.status == step.status => w,
                        // New, or changed: the status line says the message of the moment.
                        _ => Wait {
                            status: step.status,
                            since: now,
                            said: step.message.clone(),
                        },
                    };
                    let due = now.duration_since(wait.since) >= WAIT_SAID_AFTER;
                    if due && !step.message.is_empty() && !same_words(&step.message, &wait.said) {
                        if out.len() < WAITS_SAID {
                            out.push(format!(
                                "{}: {:<12} {} {} for {}s: {}",
                                plan.name,
                                plan.status.as_str(),
                                step.name,
                                step.status,
                                now.duration_since(wait.since).as_secs(),
                                step.message
                            ));
                        } else {
                            unsaid += 1;
                        }
                        wait.said = step.message.clone();
                    }
                    seen.insert(key, wait);
                }
            }
        }
        if unsaid > 0 {
            out.push(format!(
                "... and {unsaid} more steps wait (`cairn plan show` lists them)"
            ));
        }
        self.steps = seen;
        out
    }
}

/// Prints progress lines and locations until the snapshot channel closes.
pub(crate) async fn print(mut rx: watch::Receiver<Snapshot>, service: String) {
    let mut last: Option<Snapshot> = None;
    let mut waits = Waits::default();
    let mut shown_placement: Option<Vec<(String, String)>> = None;
    // When the current placement was first seen without every sandbox in place.
    let mut waiting_since: Option<Instant> = None;
    loop {
        let snap = rx.borrow_and_update().clone();
        for line in lines(last.as_ref(), &snap) {
            println!("{line}");
        }
        // Only once connected: before, a step waits for the subscription, not for its reason.
        if snap.connected {
            for line in waits.lines(Instant::now(), &snap) {
                println!("{line}");
            }
        }
        // Only once connected: before, the pods' states are what the store remembers, not
        // what the master says.
        let mut pending = false;
        if snap.deployed && snap.connected {
            let placement = placement(&snap);
            if shown_placement.as_ref() != Some(&placement) {
                let agents = locate::cluster_agents(&snap.master).await;
                let found =
                    locate::locate(&snap.pods, agents.as_deref(), snap.framework_id.as_deref());
                // Sandboxes appear when executors start; show the table once they are there.
                let complete = agents.is_none()
                    || found
                        .iter()
                        .flat_map(|p| &p.tasks)
                        .all(|t| t.sandbox.is_some());
                let since = *waiting_since.get_or_insert_with(Instant::now);
                if complete || since.elapsed() >= SANDBOX_WAIT {
                    print!("{}", describe(&service, &snap, &found));
                    shown_placement = Some(placement);
                    waiting_since = None;
                } else {
                    pending = true;
                }
            }
        }
        let deployed = snap.deployed;
        last = Some(snap);
        // While the table waits for sandboxes, look again every half second even if nothing
        // else changes; while a step waits, every second, so that its reason is said in time.
        let look_again = if pending {
            Some(Duration::from_millis(500))
        } else if !deployed {
            Some(Duration::from_secs(1))
        } else {
            None
        };
        let changed = match look_again {
            Some(after) => match tokio::time::timeout(after, rx.changed()).await {
                Ok(r) => r,
                Err(_) => Ok(()),
            },
            None => rx.changed().await,
        };
        if changed.is_err() {
            // The driver is gone; say what its last snapshot says.
            let snap = rx.borrow().clone();
            for line in lines(last.as_ref(), &snap) {
                println!("{line}");
            }
            return;
        }
    }
}

/// Which pod lives on which agent: a pod placed or moved (replaced) is worth the whole table
/// again. A relaunch in place is not: its lines already say so, and a table of every pod per
/// relaunch buried them (and, walking every sandbox, slowed a 1,000-pod service's relaunches
/// by seconds).
fn placement(snap: &Snapshot) -> Vec<(String, String)> {
    snap.pods
        .iter()
        .map(|p| (p.name.clone(), p.agent_id.clone().unwrap_or_default()))
        .collect()
}

/// The lines that say what changed from `before` to `now`.
pub(crate) fn lines(before: Option<&Snapshot>, now: &Snapshot) -> Vec<String> {
    let mut out = Vec::new();
    let was_connected = before.is_some_and(|b| b.connected);
    if now.connected && !was_connected {
        out.push(format!(
            "connected to {} as framework {}",
            now.master,
            now.framework_id.as_deref().unwrap_or("(new)")
        ));
    } else if !now.connected && was_connected && !now.stopped {
        out.push(format!(
            "lost the connection to {}; re-subscribing",
            now.master
        ));
    }
    // The failures first: a pod that failed has one line, which says its backoff too.
    let failed = before.map(|b| failures(b, now)).unwrap_or_default();
    let crash_looping: std::collections::BTreeSet<&str> = now
        .pods
        .iter()
        .filter(|p| p.tasks.iter().any(|t| t.crash_looping))
        .map(|p| p.name.as_str())
        .collect();
    let old_plans: BTreeMap<&str, _> = before
        .map(|b| b.plans.iter().map(|p| (p.name.as_str(), p)).collect())
        .unwrap_or_default();
    for plan in &now.plans {
        let old = old_plans.get(plan.name.as_str());
        let old_steps: BTreeMap<(&str, &str), _> = old
            .map(|o| {
                o.phases
                    .iter()
                    .flat_map(|ph| {
                        ph.steps.iter().map(move |s| {
                            (
                                (ph.name.as_str(), s.name.as_str()),
                                (s.status, recovering(s)),
                            )
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        let steps = plan.phases.iter().map(|ph| ph.steps.len()).sum::<usize>();
        let status = shown_status(plan);
        let plan_changed = old.is_none_or(|o| shown_status(o) != status);
        if old.is_none() && steps > 0 && status != Status::Complete {
            out.push(format!("{}: {} ({steps} steps)", plan.name, plan.status));
        }
        if plan.name == cairn_core::scheduler::UNINSTALL_PLAN {
            out.extend(uninstall_lines(old.copied(), plan));
        }
        for phase in plan
            .phases
            .iter()
            .filter(|_| plan.name != cairn_core::scheduler::UNINSTALL_PLAN)
        {
            for step in &phase.steps {
                let changed = match old_steps.get(&(phase.name.as_str(), step.name.as_str())) {
                    // A rollout step the recovery plan had in hand is complete again when its
                    // pod is back: the recovery plan's lines tell that story.
                    Some((_, true)) if step.status == Status::Complete => false,
                    Some((s, _)) => *s != step.status,
                    // First sight: only what has started is news.
                    None => old.is_some() || step.status != Status::Pending,
                };
                // A failed pod's backoff is on its failure line.
                let backoff_told = step.status == Status::Delayed
                    && failed.iter().any(|(pod, _, _)| pod == &phase.name);
                if changed && status != Status::Complete && !recovering(step) && !backoff_told {
                    let mut line = format!(
                        "{}: {:<12} {} {}",
                        plan.name,
                        plan.status.as_str(),
                        step.name,
                        step.status
                    );
                    if !step.message.is_empty() {
                        let _ = write!(line, "  ({})", step.message);
                    }
                    out.push(line);
                }
            }
        }
        let said_complete = plan_changed && steps > 0 && status == Status::Complete;
        if said_complete {
            out.push(format!("{} COMPLETE", plan.name));
        }
        // The recovery plan shows only pods in recovery: one that leaves it is back (a phase
        // gone from a plan is over), which nothing else would say unless the plan just did.
        for gone in old
            .iter()
            .filter(|_| !said_complete)
            .flat_map(|o| &o.phases)
            .filter(|ph| !ph.steps.is_empty())
            .filter(|ph| !plan.phases.iter().any(|p| p.name == ph.name))
            // A crash-looping pod is back only until its next failure line.
            .filter(|ph| !crash_looping.contains(ph.name.as_str()))
        {
            out.push(format!(
                "{}: {:<12} {} COMPLETE",
                plan.name,
                plan.status.as_str(),
                gone.name
            ));
        }
        for e in &plan.errors {
            if !old.is_some_and(|o| o.errors.contains(e)) {
                out.push(format!("{}: error: {e}", plan.name));
            }
        }
    }
    for (pod, mut line, mut notes) in failed {
        let backoff = now
            .plans
            .iter()
            .flat_map(|p| &p.phases)
            .filter(|ph| ph.name == pod)
            .flat_map(|ph| &ph.steps)
            .filter(|s| s.status == Status::Delayed)
            .find_map(|s| relaunch_in(&s.message));
        notes.extend(backoff.map(str::to_string));
        if !notes.is_empty() {
            let _ = write!(line, "  ({})", notes.join("; "));
        }
        out.push(line);
    }
    out
}

/// `relaunch in 16.0 s` out of a crash-loop backoff's message.
fn relaunch_in(message: &str) -> Option<&str> {
    let start = message.find("relaunch in ")?;
    let rest = &message[start..];
    Some(rest.split(';').next().unwrap_or(rest).trim())
}

/// Whether two reasons say the same but for their numbers (a countdown, a count of offers):
/// only a reason in other words is said again.
fn same_words(a: &str, b: &str) -> bool {
    let words = |s: &str| -> String { s.chars().filter(|c| !c.is_ascii_digit()).collect() };
    words(a) == words(b)
}

/// A line per task whose launch failed since `before`, by pod: its pod and task, exit code and
/// the last lines of its stderr; and its notes (crash-looping), to which the caller adds the
/// backoff. A pod not in `before` is not
/// news (the first look, or a takeover: what failed before is in `cairn pod status`).
fn failures(before: &Snapshot, now: &Snapshot) -> Vec<(String, String, Vec<String>)> {
    let old: BTreeMap<&str, Option<&str>> = before
        .pods
        .iter()
        .flat_map(|p| &p.tasks)
        .map(|t| {
            let exit = t.last_exit.as_ref().map(|e| e.task_id.as_str());
            (t.name.as_str(), exit)
        })
        .collect();
    let mut out = Vec::new();
    for pod in &now.pods {
        for task in &pod.tasks {
            let Some(exit) = task.last_exit.as_ref().filter(|e| e.failure) else {
                continue;
            };
            match old.get(task.name.as_str()) {
                Some(seen) if *seen != Some(exit.task_id.as_str()) => {}
                _ => continue,
            }
            let line = format!(
                "pod {}: {} failed: {}",
                pod.name,
                task.name,
                exit.describe()
            );
            let mut notes = Vec::new();
            if task.crash_looping {
                notes.push(format!(
                    "crash-looping: {} failures in {} min",
                    task.failures,
                    cairn_core::scheduler::CRASH_LOOP_WINDOW.as_secs() / 60
                ));
            }
            out.push((pod.name.clone(), line, notes));
        }
    }
    out
}

/// An uninstall told in counts: a line when a phase first shows what it has to do, and one when
/// it is done (its steps are one per task and per reservation: hundreds of lines otherwise).
fn uninstall_lines(
    before: Option<&cairn_core::plan::PlanStatus>,
    now: &cairn_core::plan::PlanStatus,
) -> Vec<String> {
    let old = |name: &str| before.and_then(|b| b.phases.iter().find(|p| p.name == name));
    let mut out = Vec::new();
    for phase in &now.phases {
        let total = phase.steps.len();
        let left = phase
            .steps
            .iter()
            .filter(|s| s.status != Status::Complete)
            .count();
        let what = match phase.name.as_str() {
            "kill-tasks" => format!("{left} of {total} tasks to kill"),
            "deregister-service" => "tearing down the framework and deleting the state".into(),
            _ => format!("{total} reservations and volumes to release"),
        };
        match old(&phase.name) {
            None if phase.status != Status::Complete => {
                out.push(format!("{}: {}: {what}", now.name, phase.name))
            }
            Some(o) if o.status != phase.status && phase.status == Status::Complete => {
                out.push(format!("{}: {} COMPLETE", now.name, phase.name))
            }
            _ => {}
        }
    }
    out
}

/// A deploy step whose task of the target stopped: the recovery plan relaunches it, and its
/// lines say so.
fn recovering(step: &cairn_core::plan::StepStatus) -> bool {
    step.message.ends_with(RECOVERY_NOTE)
}

/// What a rollout step says when the recovery plan has its pod.
const RECOVERY_NOTE: &str = "see the recovery plan";

/// A plan's status as the lines tell it: a plan held only by steps the recovery plan has in
/// hand is still rolled out (after `deploy COMPLETE`, a member failing does not make the
/// deploy IN_PROGRESS again; the recovery plan's lines say what happens to it).
fn shown_status(plan: &cairn_core::plan::PlanStatus) -> Status {
    let mut unfinished = plan
        .phases
        .iter()
        .flat_map(|ph| &ph.steps)
        .filter(|s| s.status != Status::Complete)
        .peekable();
    let held_by_recovery = !matches!(plan.status, Status::Complete | Status::Error)
        && unfinished.peek().is_some()
        && unfinished.all(recovering);
    if held_by_recovery {
        Status::Complete
    } else {
        plan.status
    }
}

/// The "where things are" table.
pub(crate) fn describe(service: &str, snap: &Snapshot, pods: &[PodLocation]) -> String {
    let mut out = format!(
        "{service} is deployed: {} pod{} (master {}, framework {})\n",
        pods.len(),
        if pods.len() == 1 { "" } else { "s" },
        snap.master,
        snap.framework_id.as_deref().unwrap_or("?")
    );
    let cwd = std::env::current_dir().unwrap_or_default();
    for pod in pods {
        let agent = match pod.agent_index {
            Some(i) => format!("agent {i}"),
            None => format!("agent {}", pod.agent_id),
        };
        let _ = writeln!(out, "  {:<14} on {} ({agent})", pod.pod, pod.hostname);
        for task in &pod.tasks {
            let _ = writeln!(out, "    {} {}", task.name, task.state);
            if let Some(s) = &task.sandbox {
                let _ = writeln!(out, "      sandbox {}", shorten(s, &cwd));
            }
            for v in &task.volumes {
                let _ = writeln!(out, "      volume  {}", shorten(v, &cwd));
            }
        }
    }
    out
}

/// Paths under the current directory are shown relative to it: they are long enough already.
fn shorten(path: &Path, cwd: &Path) -> String {
    match path.strip_prefix(cwd) {
        Ok(rel) if !cwd.as_os_str().is_empty() => rel.display().to_string(),
        _ => path.display().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_core::plan::{PhaseStatus, PlanStatus, StepStatus};

    fn snapshot(connected: bool, plan: Status, steps: &[(&str, Status)]) -> Snapshot {
        Snapshot {
            connected,
            master: "http://m:5050".into(),
            framework_id: Some("fw-1".into()),
            plans: vec![PlanStatus {
                name: "deploy".into(),
                status: plan,
                strategy: "serial".into(),
                phases: vec![PhaseStatus {
                    name: "data".into(),
                    status: plan,
                    strategy: "serial".into(),
                    steps: steps
                        .iter()
                        .map(|(name, status)| StepStatus {
                            name: (*name).into(),
                            status: *status,
                            message: String::new(),
                        })
                        .collect(),
                }],
                errors: vec![],
                parameters: Default::default(),
                interrupted: false,
            }],
            ..Snapshot::default()
        }
    }

    #[test]
    fn at_first_sight_the_plan_and_its_started_steps_are_news() {
        let now = snapshot(
            false,
            Status::InProgress,
            &[
                ("data-0:[node]", Status::Prepared),
                ("data-1:[node]", Status::Pending),
            ],
        );
        assert_eq!(
            lines(None, &now),
            [
                "deploy: IN_PROGRESS (2 steps)",
                "deploy: IN_PROGRESS  data-0:[node] PREPARED"
            ]
        );
    }

    #[test]
    fn a_step_that_changes_gets_one_line_and_a_finished_plan_says_complete_once() {
        let a = snapshot(
            true,
            Status::InProgress,
            &[
                ("data-0:[node]", Status::Complete),
                ("data-1:[node]", Status::Prepared),
            ],
        );
        let b = snapshot(
            true,
            Status::InProgress,
            &[
                ("data-0:[node]", Status::Complete),
                ("data-1:[node]", Status::Starting),
            ],
        );
        let c = snapshot(
            true,
            Status::Complete,
            &[
                ("data-0:[node]", Status::Complete),
                ("data-1:[node]", Status::Complete),
            ],
        );
        assert_eq!(
            lines(Some(&a), &b),
            ["deploy: IN_PROGRESS  data-1:[node] STARTING"]
        );
        assert_eq!(lines(Some(&b), &c), ["deploy COMPLETE"]);
        assert!(lines(Some(&c), &c).is_empty());
    }

    #[test]
    fn a_pod_that_leaves_the_recovery_plan_is_said_to_be_back() {
        // Goal: after `pod restart` the last line was the relaunch waiting for an offer: the
        // pod's phase then left the recovery plan without a word. Method: a recovery plan
        // with data-0's phase in progress, then without it.
        let recovering = |phase: bool| {
            let mut s = snapshot(
                true,
                Status::Starting,
                &[("data-0:[node]", Status::Starting)],
            );
            s.plans[0].name = "recovery".into();
            s.plans[0].phases[0].name = "data-0".into();
            if !phase {
                s.plans[0].phases.clear();
                s.plans[0].status = Status::Complete;
            }
            s
        };
        assert_eq!(
            lines(Some(&recovering(true)), &recovering(false)),
            ["recovery: COMPLETE     data-0 COMPLETE"]
        );
        assert!(lines(Some(&recovering(false)), &recovering(false)).is_empty());
        // A plan that says COMPLETE as its phases go (an uninstall) says it once.
        let mut done = recovering(false);
        done.plans[0].phases = vec![recovering(true).plans[0].phases[0].clone()];
        done.plans[0].phases[0].name = "other".into();
        done.plans[0].phases[0].steps[0].status = Status::Complete;
        assert_eq!(lines(Some(&recovering(true)), &done), ["recovery COMPLETE"]);
    }

    #[test]
    fn a_step_that_waits_says_why_after_a_few_seconds_and_again_only_when_the_reason_changes() {
        // Goal: `cairn run` says why a step waits (a pod asking for more cpus than any agent
        // has sat at "PREPARED (waiting for an offer)" without a word). Method: a step
        // PREPARED with a bare message, then the offers' reason, looked at over time.
        let with = |message: &str| {
            let mut s = snapshot(
                true,
                Status::InProgress,
                &[("big-0:[node]", Status::Prepared)],
            );
            s.plans[0].phases[0].steps[0].message = message.into();
            s
        };
        let mut waits = Waits::default();
        let t0 = Instant::now();
        assert!(waits.lines(t0, &with("waiting for an offer")).is_empty());
        let why = "waiting for an offer: cpus: 3 of 3 agents short; largest offer 4 of 100.05";
        assert!(
            waits
                .lines(t0 + Duration::from_secs(1), &with(why))
                .is_empty(),
            "not before a few seconds"
        );
        assert_eq!(
            waits.lines(t0 + Duration::from_secs(4), &with(why)),
            [format!(
                "deploy: IN_PROGRESS  big-0:[node] PREPARED for 4s: {why}"
            )]
        );
        assert!(waits
            .lines(t0 + Duration::from_secs(9), &with(why))
            .is_empty());
        let other = "waiting for an offer: mem: 1 of 3 agents short; largest offer 1 of 2";
        assert_eq!(
            waits
                .lines(t0 + Duration::from_secs(10), &with(other))
                .len(),
            1,
            "a new reason is said again"
        );
    }

    #[test]
    fn after_deploy_complete_a_member_failure_is_the_recovery_plan_s_story_not_the_deploy_s() {
        // Goal: a crash after `deploy COMPLETE` printed `deploy: IN_PROGRESS ... STARTING`,
        // as if the deploy ran again. Method: the deploy step of a failed task, which the
        // recovery plan has in hand, then complete again.
        let done = snapshot(
            true,
            Status::Complete,
            &[("data-0:[node]", Status::Complete)],
        );
        let mut failed = snapshot(
            true,
            Status::InProgress,
            &[("data-0:[node]", Status::Starting)],
        );
        failed.plans[0].phases[0].steps[0].message =
            "data-0-node is TASK_FAILED; see the recovery plan".into();
        assert!(
            lines(Some(&done), &failed).is_empty(),
            "{:?}",
            lines(Some(&done), &failed)
        );
        assert!(lines(Some(&failed), &done).is_empty());
    }

    #[test]
    fn losing_the_connection_is_news_but_stopping_is_not() {
        let up = snapshot(true, Status::Complete, &[]);
        let down = snapshot(false, Status::Complete, &[]);
        assert_eq!(
            lines(Some(&up), &down),
            ["lost the connection to http://m:5050; re-subscribing"]
        );
        let stopped = Snapshot {
            stopped: true,
            ..down
        };
        assert!(lines(Some(&up), &stopped).is_empty());
        assert_eq!(
            lines(Some(&stopped), &up),
            ["connected to http://m:5050 as framework fw-1"]
        );
    }

    #[test]
    fn the_table_of_pods_is_worth_printing_again_when_a_pod_moves_and_a_failed_launch_is_one_line()
    {
        let pod = |agent: &str, task_id: &str| cairn_core::scheduler::PodStatus {
            name: "data-0".into(),
            pod_type: "data".into(),
            index: 0,
            agent_id: Some(agent.into()),
            hostname: None,
            tasks: vec![cairn_core::scheduler::PodTaskStatus {
                name: "data-0-node".into(),
                task_id: task_id.into(),
                state: None,
                ready: false,
                volumes: vec![],
                since: None,
                paused: false,
                last_exit: None,
                failures: 0,
                crash_looping: false,
            }],
            paused: false,
            crash_looping: false,
        };
        let with = |p| Snapshot {
            pods: vec![p],
            ..Snapshot::default()
        };
        let first = placement(&with(pod("a1", "data-0-node__1")));
        assert_eq!(first, placement(&with(pod("a1", "data-0-node__2"))));
        assert_ne!(first, placement(&with(pod("a2", "data-0-node__3"))));

        // A failure since the last look is one line with the exit code and stderr; the same
        // exit again, or a kill the scheduler asked for, is none.
        let ended = |task_id: &str, failure: bool, failures: u32| {
            let mut p = pod("a1", "data-0-node__2");
            p.tasks[0].last_exit = Some(cairn_core::store::TaskExit {
                task_id: task_id.into(),
                state: cairn_proto::TaskState::Failed,
                exit_code: Some(3),
                message: Some("Command exited with status 3; stderr ends: a\nboom".into()),
                at: cairn_core::time::Time(0),
                failure,
            });
            p.tasks[0].failures = failures;
            p.tasks[0].crash_looping = failures >= 3;
            with(p)
        };
        let before = with(pod("a1", "data-0-node__1"));
        let failed = ended("data-0-node__1", true, 1);
        assert_eq!(
            lines(Some(&before), &failed),
            ["pod data-0: data-0-node failed: exit 3: a | boom"]
        );
        assert!(lines(Some(&failed), &failed).is_empty());
        assert!(lines(Some(&before), &ended("data-0-node__1", false, 0)).is_empty());
        assert_eq!(
            lines(Some(&failed), &ended("data-0-node__2", true, 3)),
            ["pod data-0: data-0-node failed: exit 3: a | boom  (crash-looping: 3 failures in 10 min)"]
        );
    }

    #[test]
    fn a_crash_loop_is_one_line_per_failure_with_its_backoff_and_no_flip_flopping_steps() {
        let task = |task_id: &str, failed: Option<&str>| cairn_core::scheduler::PodTaskStatus {
            name: "web-0-server".into(),
            task_id: task_id.into(),
            state: None,
            ready: false,
            volumes: vec![],
            since: None,
            paused: false,
            last_exit: failed.map(|id| cairn_core::store::TaskExit {
                task_id: id.into(),
                state: cairn_proto::TaskState::Failed,
                exit_code: Some(3),
                message: Some("Command exited with status 3; stderr ends: bind failed".into()),
                at: cairn_core::time::Time(0),
                failure: true,
            }),
            failures: 4,
            crash_looping: true,
        };
        let step = |name: &str, status: Status, message: &str| StepStatus {
            name: name.into(),
            status,
            message: message.into(),
        };
        let plan = |name: &str, status: Status, steps: Vec<StepStatus>| PlanStatus {
            name: name.into(),
            status,
            strategy: "serial".into(),
            phases: if steps.is_empty() {
                vec![]
            } else {
                vec![PhaseStatus {
                    name: "web-0".into(),
                    status,
                    strategy: "serial".into(),
                    steps,
                }]
            },
            errors: vec![],
            parameters: Default::default(),
            interrupted: false,
        };
        let snap = |t: cairn_core::scheduler::PodTaskStatus, plans: Vec<PlanStatus>| Snapshot {
            connected: true,
            plans,
            pods: vec![cairn_core::scheduler::PodStatus {
                name: "web-0".into(),
                pod_type: "web".into(),
                index: 0,
                agent_id: Some("a1".into()),
                hostname: None,
                tasks: vec![t],
                paused: false,
                crash_looping: true,
            }],
            ..Snapshot::default()
        };
        // Deployed: the plan is complete whenever its step is.
        let deploy = |status: Status, message: &str| {
            let plan_status = if status == Status::Complete {
                Status::Complete
            } else {
                Status::InProgress
            };
            plan(
                "deploy",
                plan_status,
                vec![step("web-0:[server]", status, message)],
            )
        };
        let running = snap(
            task("t2", Some("t1")),
            vec![
                deploy(Status::Complete, ""),
                plan("recovery", Status::Complete, vec![]),
            ],
        );
        let backoff = "crash-loop backoff: 4 failures in a row; relaunch in 16.0 s; last: ...";
        let failed = snap(
            task("t2", Some("t2")),
            vec![
                deploy(
                    Status::Starting,
                    "web-0-server stopped: see the recovery plan",
                ),
                plan(
                    "recovery",
                    Status::InProgress,
                    vec![step("web-0:[server]", Status::Delayed, backoff)],
                ),
            ],
        );
        assert_eq!(
            lines(Some(&running), &failed),
            [
                "pod web-0: web-0-server failed: exit 3: bind failed  (crash-looping: 4 failures \
              in 10 min; relaunch in 16.0 s)"
            ]
        );
        // Back up: no deploy step COMPLETE again, no recovery COMPLETE for a pod that loops.
        let back = snap(
            task("t3", Some("t2")),
            vec![
                deploy(Status::Complete, ""),
                plan("recovery", Status::Complete, vec![]),
            ],
        );
        assert!(
            lines(Some(&failed), &back).is_empty(),
            "{:?}",
            lines(Some(&failed), &back)
        );
        // Its countdown is no reason to say anything while it waits.
        let mut waits = Waits::default();
        let t0 = Instant::now();
        assert!(waits.lines(t0, &failed).is_empty());
        assert!(waits
            .lines(t0 + Duration::from_secs(10), &failed)
            .is_empty());
    }

    #[test]
    fn a_reason_that_changes_only_in_its_numbers_is_not_said_again() {
        assert!(same_words(
            "cpus: 3 of 3 agents short; largest offer 3.7 of 100",
            "cpus: 2 of 3 agents short; largest offer 3.5 of 100"
        ));
        assert!(!same_words("waiting for an offer", "interrupted"));
    }
}
