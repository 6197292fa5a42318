//! How a task's launches end: its last exit and its recent failures, kept in the store beside
//! the task (`Tasks/<name>/History`) so that a restarted scheduler still knows a crash loop.

use cairn_proto::{TaskState, TaskStatus};

use crate::spec::Goal;
use crate::store::{task_history_key, TaskExit, TaskHistory, WriteOp};
use crate::time::Time;

use super::status::{CRASH_LOOP_FAILURES, CRASH_LOOP_WINDOW};
use super::Scheduler;

/// At most this many failure times are kept: enough to tell a crash loop, whatever the window.
const KEPT_FAILURES: usize = 16;

impl Scheduler {
    /// Records how the current launch of task `name` ended, when `status` ends it: the write
    /// goes into the batch that stores the status. `killed_by_us`: the scheduler asked for the
    /// kill (a restart, a rollout, a pause), which is no failure.
    pub(super) fn record_exit(
        &mut self,
        now: Time,
        name: &str,
        status: &TaskStatus,
        killed_by_us: bool,
    ) -> Option<WriteOp> {
        if !status.state.is_terminal() {
            return None;
        }
        let goal = self.task_goal(name);
        let record = self.tasks.get_mut(name)?;
        if record.info.task_id != status.task_id {
            return None;
        }
        // The same end heard twice (a re-delivery) is one end.
        if record
            .history
            .last_exit
            .as_ref()
            .is_some_and(|e| e.task_id == status.task_id.value)
        {
            return None;
        }
        let meant_to_end = status.state == TaskState::Finished && goal != Some(Goal::Running);
        let failure = !killed_by_us && !meant_to_end;
        let history = &mut record.history;
        history.last_exit = Some(TaskExit {
            task_id: status.task_id.value.clone(),
            state: status.state,
            exit_code: status.message.as_deref().and_then(exit_code),
            message: status.message.clone(),
            at: now,
            failure,
        });
        if failure {
            history.failures.push(now);
        }
        prune(history, now);
        Some(WriteOp::Put {
            key: task_history_key(name),
            value: serde_json::to_vec(history).unwrap_or_default(),
        })
    }

    /// The goal of task `name` in the target spec, found by the name each task of each pod
    /// instance would be given.
    fn task_goal(&self, name: &str) -> Option<Goal> {
        let record = self.tasks.get(name)?;
        let pod = crate::labels::task_pod_instance(&record.info)?;
        self.spec.pod(pod.pod_type()).and_then(|p| {
            p.tasks
                .iter()
                .find(|t| crate::plan::assess::task_name(&pod, &t.name) == name)
                .map(|t| t.goal)
        })
    }
}

impl TaskExit {
    /// The exit on one line: `exit 3: boom | disk full` (the exit code when the message has
    /// one, else the state, then the message's words with its stderr lines joined by ` | `).
    pub fn describe(&self) -> String {
        let message = self.message.as_deref().unwrap_or("").trim();
        let (head, stderr) =
            match message.split_once(cairn_proto::executor::FAILURE_STDERR_SEPARATOR) {
                Some((head, tail)) => (head, Some(tail)),
                None => (message, None),
            };
        let mut out = match self.exit_code {
            Some(code) => format!("exit {code}"),
            None => format!("{}", self.state),
        };
        // The words beyond `Command exited with status N` are news; those are not.
        if self.exit_code.is_none() && !head.is_empty() {
            out.push_str(": ");
            out.push_str(head);
        }
        if let Some(lines) = stderr {
            out.push_str(": ");
            out.push_str(&lines.lines().collect::<Vec<_>>().join(" | "));
        }
        out
    }
}

/// Keeps only the failures within the crash-loop window of `now`, and few of them.
fn prune(history: &mut TaskHistory, now: Time) {
    let since = Time(now.as_millis().saturating_sub(window_millis()));
    history.failures.retain(|t| *t >= since);
    let extra = history.failures.len().saturating_sub(KEPT_FAILURES);
    history.failures.drain(..extra);
}

fn window_millis() -> u64 {
    u64::try_from(CRASH_LOOP_WINDOW.as_millis()).unwrap_or(u64::MAX)
}

/// How many of `history`'s failures are within the crash-loop window of `now`.
pub(crate) fn recent_failures(history: &TaskHistory, now: Time) -> u32 {
    let since = Time(now.as_millis().saturating_sub(window_millis()));
    let n = history.failures.iter().filter(|t| **t >= since).count();
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Whether `history` is a crash loop at `now`: [`CRASH_LOOP_FAILURES`] failures within the
/// window.
pub(crate) fn is_crash_looping(history: &TaskHistory, now: Time) -> bool {
    recent_failures(history, now) >= CRASH_LOOP_FAILURES
}

/// The exit code a terminal status's message states, in the words Mesos' executors and
/// cairn's use: `Command exited with status 3` (a signal is no exit code).
pub fn exit_code(message: &str) -> Option<i32> {
    let rest = message.strip_prefix("Command exited with status ")?;
    let digits: &str = rest
        .split(|c: char| !(c.is_ascii_digit() || c == '-'))
        .next()?;
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exit_code_is_read_from_the_executor_s_words_and_only_from_them() {
        assert_eq!(exit_code("Command exited with status 3"), Some(3));
        assert_eq!(
            exit_code("Command exited with status 127; stderr ends: sh: x: not found"),
            Some(127)
        );
        assert_eq!(exit_code("Command terminated with signal Killed"), None);
        assert_eq!(exit_code("exited with status 3"), None);
    }

    #[test]
    fn an_exit_is_described_on_one_line_with_its_code_and_stderr() {
        let exit = |state, message: &str| TaskExit {
            task_id: "t".into(),
            state,
            exit_code: exit_code(message),
            message: Some(message.into()),
            at: Time(0),
            failure: true,
        };
        assert_eq!(
            exit(
                TaskState::Failed,
                "Command exited with status 3; stderr ends: boom\ndisk full"
            )
            .describe(),
            "exit 3: boom | disk full"
        );
        assert_eq!(
            exit(TaskState::Killed, "Command terminated with signal Killed").describe(),
            "TASK_KILLED: Command terminated with signal Killed"
        );
    }

    #[test]
    fn failures_older_than_the_window_neither_count_nor_stay() {
        let minute = 60_000;
        let mut h = TaskHistory {
            last_exit: None,
            failures: vec![
                Time(0),
                Time(5 * minute),
                Time(11 * minute),
                Time(12 * minute),
            ],
        };
        let now = Time(12 * minute);
        assert_eq!(recent_failures(&h, now), 3);
        assert!(is_crash_looping(&h, now));
        prune(&mut h, now);
        assert_eq!(
            h.failures,
            [Time(5 * minute), Time(11 * minute), Time(12 * minute)]
        );
        assert!(!is_crash_looping(&h, Time(16 * minute)));
    }
}
