//! Which stopped tasks count as failures, as an ordered rule table: the first rule that
//! applies decides, and its name and reason are what the recovery plan shows.
//!
//! The table is data so that it can be read top to bottom like a policy, unit-tested rule by
//! rule, and shown to an operator ("why is data-2 being replaced?" → the rule's reason).

use cairn_proto::{Reason, TaskState, TaskStatus};

use crate::spec::Goal;

/// What recovery makes of one task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Category {
    /// Nothing to recover: running, on its way, or just launched.
    Healthy,
    /// Failed, but its agent and data may still be there: relaunch in place (same
    /// reservations, same volumes), with a crash-loop backoff; the failure timer runs.
    Transient,
    /// Its home is gone for good (or the operator said so): replace the pod elsewhere with
    /// fresh reservations and volumes; the old ones are reclaimed.
    Permanent,
    /// Not recovery's business: the deploy plan handles it (FINISH/ONCE goals, an older
    /// config, TASK_ERROR).
    Ignore,
}

/// What the classification looks at for one task.
#[derive(Debug, Clone, Copy)]
pub struct Observation<'a> {
    /// The task's goal.
    pub goal: Goal,
    /// Its last persisted status (none: launched, not heard from yet).
    pub status: Option<&'a TaskStatus>,
    /// Whether it was launched under the target config.
    pub on_target: bool,
    /// Whether its pod is marked for replacement (operator `replace`, or an earlier automatic
    /// decision, persisted).
    pub marked_for_replacement: bool,
    /// Whether the explicit reconciliation after a (re)subscription is still running.
    pub reconciling: bool,
    /// Whether the master removed the task's agent: a TASK_GONE named it and the master's list
    /// of agents, read after it, no longer has it. A status alone never says so.
    pub agent_removed: bool,
    /// Whether the master's latest list of agents lacks the task's agent (removed, or
    /// unreachable), and no offer of it came since.
    pub agent_away: bool,
}

/// One rule of the table.
#[derive(Debug)]
pub struct Rule {
    /// A short stable name (`terminal`), for tests and the API.
    pub name: &'static str,
    /// Why the rule decides what it decides, in words.
    pub reason: &'static str,
    /// Its verdict.
    pub category: Category,
    applies: fn(&Observation<'_>) -> bool,
}

impl Rule {
    /// Whether the rule applies to `o` (whatever the rules before it say).
    pub fn applies(&self, o: &Observation<'_>) -> bool {
        (self.applies)(o)
    }
}

fn state(o: &Observation<'_>) -> Option<TaskState> {
    o.status.map(|s| s.state)
}

/// The name of the rule for a task whose agent the master removed (TASK_GONE, and the agent is
/// no longer registered). Transient, not Permanent: the pod waits for the permanent-failure
/// timer (or `replace`) rather than losing its data on one status, and automatic replacements
/// stay spaced by the min replace delay.
pub const AGENT_GONE: &str = "agent-gone";

/// The name of the rule for a FINISH or ONCE task that failed on an agent the master no longer
/// lists. The deploy plan retries such a task in place, on reservations that may never be
/// offered again, and no TASK_GONE need ever come for it (the master reports only tasks it
/// takes for live): the failure timer runs, as for a RUNNING task, and replaces the pod.
pub const AGENT_AWAY: &str = "agent-away";

/// The rules, in order. The last one applies to everything, so exactly one rule decides.
pub static RULES: &[Rule] = &[
    Rule {
        name: "marked-for-replacement",
        reason: "the pod is marked for replacement (operator `replace` or the permanent-failure timer)",
        category: Category::Permanent,
        applies: |o| o.marked_for_replacement,
    },
    // The two rules on a removed agent come before the goal and the config: the deploy (or
    // update) plan relaunches a FINISH or ONCE task, or rolls a task of an older config, on
    // the reservations it holds, which are gone with the agent. Only a replacement moves the
    // pod, and that is recovery's (found by cairn-sim, seeds 368, 552, 669, 983 and 984: a
    // ONCE pod whose agent was removed during the deploy waited for it forever). Both need
    // the master's word that the agent is gone: a TASK_GONE from a registered agent (one that
    // lost its executor checkpoints, or answers for a task it does not know) is a failed task,
    // relaunched in place by the rules below on the reservations and volumes still there.
    Rule {
        name: "gone-by-operator",
        reason: "the operator marked its agent gone: its reservations and volumes will not come back",
        category: Category::Permanent,
        applies: |o| state(o) == Some(TaskState::GoneByOperator) && o.agent_removed,
    },
    Rule {
        name: AGENT_GONE,
        reason: "its agent was removed (TASK_GONE, and the master no longer lists it): it cannot run there again; the failure timer runs, then the pod is replaced elsewhere",
        category: Category::Transient,
        applies: |o| state(o) == Some(TaskState::Gone) && o.agent_removed,
    },
    Rule {
        // Found by cairn-sim (seeds 4231, 8146, 14611 of the sweep then, 476 now): a FINISH
        // pod whose task failed just before its agent was removed waited for it forever.
        name: AGENT_AWAY,
        reason: "a FINISH or ONCE task failed on an agent the master no longer lists: the deploy plan retries it there; the failure timer runs, then the pod is replaced elsewhere",
        category: Category::Transient,
        applies: |o| {
            o.agent_away
                && o.goal != Goal::Running
                && state(o).is_some_and(|s| s.is_terminal() && s != TaskState::Finished)
        },
    },
    Rule {
        name: "not-a-running-task",
        reason: "FINISH and ONCE tasks are retried by the deploy plan",
        category: Category::Ignore,
        applies: |o| o.goal != Goal::Running,
    },
    Rule {
        name: "older-config",
        reason: "a task of an older config is rolled by the deploy plan",
        category: Category::Ignore,
        applies: |o| !o.on_target,
    },
    Rule {
        name: "no-status-yet",
        reason: "launched and not heard from yet",
        category: Category::Healthy,
        applies: |o| o.status.is_none(),
    },
    Rule {
        // MESOS-6250: right after a master failover the master may not know a task yet and
        // answers TASK_LOST; treating that as permanent would destroy a healthy pod's data.
        name: "lost-during-reconciliation",
        reason: "TASK_LOST from reconciliation may only mean the master does not know the task yet (MESOS-6250): never permanent",
        category: Category::Transient,
        applies: |o| {
            o.reconciling
                && o.status.is_some_and(|s| {
                    s.state == TaskState::Lost && s.reason == Some(Reason::Reconciliation)
                })
        },
    },
    Rule {
        name: "error",
        reason: "TASK_ERROR: the same TaskInfo would fail again; the deploy plan shows the error",
        category: Category::Ignore,
        applies: |o| state(o) == Some(TaskState::Error),
    },
    Rule {
        // FINISHED counts: a RUNNING-goal task that exits has stopped serving.
        name: "terminal",
        reason: "stopped (FAILED, KILLED, FINISHED, LOST, DROPPED, or GONE from an agent still registered): relaunch in place on its reservations",
        category: Category::Transient,
        applies: |o| state(o).is_some_and(TaskState::is_terminal),
    },
    Rule {
        name: "unreachable",
        reason: "its agent is unreachable: it may come back, so wait (the failure timer runs)",
        category: Category::Transient,
        applies: |o| matches!(state(o), Some(TaskState::Unreachable | TaskState::Unknown)),
    },
    Rule {
        name: "alive",
        reason: "staging, starting, running or being killed",
        category: Category::Healthy,
        applies: |_| true,
    },
];

/// Not in the table: the verdict when an author's [`crate::recovery::RecoveryPolicy`] answers
/// `Replace` for a stopped task (the table's Transient is then overruled).
pub static POLICY_REPLACE: Rule = Rule {
    name: "policy-replace",
    reason: "the recovery policy asked for a replacement",
    category: Category::Permanent,
    applies: |_| false,
};

/// The first rule of [`RULES`] that applies to `o`.
pub fn classify(o: &Observation<'_>) -> &'static Rule {
    RULES
        .iter()
        .find(|r| r.applies(o))
        .unwrap_or(&RULES[RULES.len() - 1])
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn status(state: TaskState) -> TaskStatus {
        TaskStatus::new("t", state)
    }

    fn obs(status: Option<&TaskStatus>) -> Observation<'_> {
        Observation {
            goal: Goal::Running,
            status,
            on_target: true,
            marked_for_replacement: false,
            reconciling: false,
            agent_removed: false,
            agent_away: false,
        }
    }

    fn rule(o: Observation<'_>) -> (&'static str, Category) {
        let r = classify(&o);
        (r.name, r.category)
    }

    #[test]
    fn a_pod_marked_for_replacement_is_permanent_even_when_running() {
        let s = status(TaskState::Running);
        let o = Observation {
            marked_for_replacement: true,
            ..obs(Some(&s))
        };
        assert_eq!(rule(o), ("marked-for-replacement", Category::Permanent));
    }

    #[test]
    fn finish_and_once_tasks_are_left_to_the_deploy_plan() {
        let s = status(TaskState::Failed);
        for goal in [Goal::Finish, Goal::Once] {
            let o = Observation {
                goal,
                ..obs(Some(&s))
            };
            assert_eq!(rule(o), ("not-a-running-task", Category::Ignore));
        }
    }

    #[test]
    fn a_task_of_an_older_config_is_left_to_the_deploy_plan() {
        let s = status(TaskState::Failed);
        let o = Observation {
            on_target: false,
            ..obs(Some(&s))
        };
        assert_eq!(rule(o), ("older-config", Category::Ignore));
    }

    #[test]
    fn a_task_not_heard_from_yet_is_healthy() {
        assert_eq!(rule(obs(None)), ("no-status-yet", Category::Healthy));
    }

    #[test]
    fn gone_by_operator_is_permanent_once_the_master_no_longer_lists_the_agent() {
        let s = status(TaskState::GoneByOperator);
        let removed = Observation {
            agent_removed: true,
            ..obs(Some(&s))
        };
        assert_eq!(rule(removed), ("gone-by-operator", Category::Permanent));
        assert_eq!(
            rule(obs(Some(&s))),
            ("terminal", Category::Transient),
            "its agent still registered: a failed task, relaunched in place"
        );
    }

    #[test]
    fn a_task_gone_from_an_agent_still_registered_is_a_failed_task_relaunched_in_place() {
        // Goal: a TASK_GONE is not an agent removal (an agent that lost its executor
        // checkpoints reports its tasks GONE; reconciliation answers GONE for a task a
        // registered agent does not know). Method: GONE without the master's word, under
        // every goal: the rules a failed task of that goal gets.
        let s = status(TaskState::Gone);
        assert_eq!(rule(obs(Some(&s))), ("terminal", Category::Transient));
        for goal in [Goal::Finish, Goal::Once] {
            let o = Observation {
                goal,
                ..obs(Some(&s))
            };
            assert_eq!(rule(o), ("not-a-running-task", Category::Ignore));
        }
    }

    #[test]
    fn a_task_whose_agent_the_master_removed_starts_the_failure_timer_whatever_its_goal_or_config()
    {
        // Goal: the deploy plan cannot relaunch a FINISH/ONCE task, nor roll an older
        // config's, on reservations of a removed agent: recovery takes them up. Method: GONE
        // and GONE_BY_OPERATOR under every goal, on and off the target config.
        for goal in [Goal::Running, Goal::Finish, Goal::Once] {
            for on_target in [true, false] {
                let o = |s| Observation {
                    goal,
                    on_target,
                    agent_removed: true,
                    ..obs(Some(s))
                };
                let gone = status(TaskState::Gone);
                assert_eq!(rule(o(&gone)), (AGENT_GONE, Category::Transient));
                let by_operator = status(TaskState::GoneByOperator);
                assert_eq!(
                    rule(o(&by_operator)),
                    ("gone-by-operator", Category::Permanent)
                );
            }
        }
    }

    #[test]
    fn a_failed_finish_or_once_task_on_an_agent_the_master_no_longer_lists_runs_the_failure_timer()
    {
        for goal in [Goal::Finish, Goal::Once] {
            let failed = status(TaskState::Failed);
            let away = |s| Observation {
                goal,
                agent_away: true,
                ..obs(Some(s))
            };
            assert_eq!(rule(away(&failed)), (AGENT_AWAY, Category::Transient));
            let done = status(TaskState::Finished);
            assert_eq!(
                rule(away(&done)),
                ("not-a-running-task", Category::Ignore),
                "a finished task is done wherever its agent is"
            );
            let here = Observation {
                goal,
                ..obs(Some(&failed))
            };
            assert_eq!(rule(here), ("not-a-running-task", Category::Ignore));
        }
    }

    #[test]
    fn lost_from_reconciliation_during_the_window_is_transient_not_permanent() {
        let s = TaskStatus {
            reason: Some(Reason::Reconciliation),
            ..status(TaskState::Lost)
        };
        let o = Observation {
            reconciling: true,
            ..obs(Some(&s))
        };
        assert_eq!(rule(o), ("lost-during-reconciliation", Category::Transient));
        // Outside the window it is an ordinary terminal state: transient all the same.
        assert_eq!(rule(obs(Some(&s))), ("terminal", Category::Transient));
    }

    #[test]
    fn task_error_is_left_to_the_deploy_plan() {
        let s = status(TaskState::Error);
        assert_eq!(rule(obs(Some(&s))), ("error", Category::Ignore));
    }

    #[test]
    fn every_other_terminal_state_of_a_running_task_is_transient() {
        for st in [
            TaskState::Failed,
            TaskState::Killed,
            TaskState::Finished,
            TaskState::Lost,
            TaskState::Dropped,
        ] {
            let s = status(st);
            assert_eq!(
                rule(obs(Some(&s))),
                ("terminal", Category::Transient),
                "{st}"
            );
        }
    }

    #[test]
    fn a_health_check_kill_is_transient() {
        let s = TaskStatus {
            healthy: Some(false),
            ..status(TaskState::Killed)
        };
        assert_eq!(rule(obs(Some(&s))), ("terminal", Category::Transient));
    }

    #[test]
    fn unreachable_and_unknown_are_transient() {
        for st in [TaskState::Unreachable, TaskState::Unknown] {
            let s = status(st);
            assert_eq!(rule(obs(Some(&s))), ("unreachable", Category::Transient));
        }
    }

    #[test]
    fn running_staging_starting_and_killing_are_healthy() {
        for st in [
            TaskState::Staging,
            TaskState::Starting,
            TaskState::Running,
            TaskState::Killing,
        ] {
            let s = status(st);
            assert_eq!(rule(obs(Some(&s))), ("alive", Category::Healthy), "{st}");
        }
    }

    const STATES: &[TaskState] = &[
        TaskState::Staging,
        TaskState::Starting,
        TaskState::Running,
        TaskState::Killing,
        TaskState::Finished,
        TaskState::Failed,
        TaskState::Killed,
        TaskState::Error,
        TaskState::Lost,
        TaskState::Dropped,
        TaskState::Unreachable,
        TaskState::Gone,
        TaskState::GoneByOperator,
        TaskState::Unknown,
    ];

    proptest! {
        #[test]
        fn exactly_one_category_is_chosen_the_first_applicable_rule_s(
            state in proptest::option::of(0..STATES.len()),
            goal in 0..3usize,
            on_target: bool,
            marked: bool,
            reconciling: bool,
            reconciliation_reason: bool,
            agent_removed: bool,
            agent_away: bool,
        ) {
            let s = state.map(|i| TaskStatus {
                reason: reconciliation_reason.then_some(Reason::Reconciliation),
                ..status(STATES[i])
            });
            let o = Observation {
                goal: [Goal::Running, Goal::Finish, Goal::Once][goal],
                status: s.as_ref(),
                on_target,
                marked_for_replacement: marked,
                reconciling,
                agent_removed,
                agent_away,
            };
            let chosen = classify(&o);
            let first = RULES.iter().position(|r| r.applies(&o));
            prop_assert!(first.is_some(), "some rule always applies");
            prop_assert!(std::ptr::eq(chosen, &RULES[first.unwrap()]));
            // Deterministic: the same observation, the same single verdict.
            prop_assert_eq!(classify(&o).category, chosen.category);
        }
    }
}
