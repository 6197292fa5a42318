//! The decision table of DESIGN.md, read and checked row by row against [`decide`].

use cairn_proto::{Reason, TaskState, TaskStatus};

use super::*;
use crate::labels::TARGET_CONFIGURATION;
use crate::recovery::InPlaceRecovery;

const DESIGN: &str = include_str!("../../../../DESIGN.md");

const GOALS: [(&str, Goal); 3] = [
    ("running", Goal::Running),
    ("finish", Goal::Finish),
    ("once", Goal::Once),
];
const AGES: [(&str, ConfigAge); 2] = [("target", ConfigAge::Target), ("older", ConfigAge::Older)];
const CONDITIONS: [(&str, Condition); 12] = [
    ("absent", Condition::Absent),
    ("launched", Condition::Launched),
    ("starting", Condition::Starting),
    ("running", Condition::Running),
    ("ready", Condition::Ready),
    ("unreachable", Condition::Unreachable),
    ("finished", Condition::Finished),
    ("failed", Condition::Failed),
    ("lost-reconciling", Condition::LostReconciling),
    ("gone", Condition::Gone),
    ("gone-by-operator", Condition::GoneByOperator),
    ("errored", Condition::Errored),
];
const AGENTS: [(&str, AgentCondition); 3] = [
    ("listed", AgentCondition::Listed),
    ("away", AgentCondition::Away),
    ("removed", AgentCondition::Removed),
];
const MARKS: [(&str, bool); 2] = [("no", false), ("yes", true)];
const POLICIES: [(&str, Recovery); 3] = [
    ("in-place", Recovery::RelaunchInPlace),
    ("replace", Recovery::Replace),
    ("leave", Recovery::Leave),
];
const DECISIONS: [Decision; 15] = [
    Decision::Done,
    Decision::InFlight,
    Decision::Launch,
    Decision::KillThenLaunch,
    Decision::Held,
    Decision::Error,
    Decision::Relaunch(RelaunchCause::Stopped),
    Decision::Relaunch(RelaunchCause::LostReconciling),
    Decision::Left,
    Decision::AwaitAgent,
    Decision::AwaitReplacement(AgentLoss::Gone),
    Decision::AwaitReplacement(AgentLoss::Away),
    Decision::Replace(ReplaceCause::Marked),
    Decision::Replace(ReplaceCause::GoneByOperator),
    Decision::Replace(ReplaceCause::Policy),
];

/// The values a cell matches: `*` all of them, else a comma-separated list of names.
fn cell<T: Copy>(row: usize, column: &str, text: &str, values: &[(&str, T)]) -> Vec<T> {
    if text == "*" {
        return values.iter().map(|(_, v)| *v).collect();
    }
    text.split(',')
        .map(|name| {
            let name = name.trim();
            values
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| *v)
                .unwrap_or_else(|| panic!("row {row}: no {column} `{name}`"))
        })
        .collect()
}

struct Row {
    number: usize,
    goals: Vec<Goal>,
    ages: Vec<ConfigAge>,
    conditions: Vec<Condition>,
    agents: Vec<AgentCondition>,
    marks: Vec<bool>,
    policies: Vec<Recovery>,
    decision: Decision,
    timer: bool,
}

impl Row {
    fn matches(&self, f: &TaskFacts) -> bool {
        self.goals.contains(&f.goal)
            && self.ages.contains(&f.age)
            && self.conditions.contains(&f.condition)
            && self.agents.contains(&f.agent)
            && self.marks.contains(&f.marked)
            && self.policies.contains(&f.policy)
    }
}

/// The rows of the table under "What becomes of a task".
fn table() -> Vec<Row> {
    let section = DESIGN
        .split("## What becomes of a task")
        .nth(1)
        .expect("DESIGN.md has a section \"What becomes of a task\"");
    let rows: Vec<Row> = section
        .lines()
        .skip_while(|l| !l.starts_with("| row |"))
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .map(|line| {
            let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
            assert_eq!(cells.len(), 9, "a row has 9 cells: {line}");
            let number: usize = cells[0].parse().expect("a row number");
            let decision = DECISIONS
                .into_iter()
                .find(|d| d.name() == cells[7])
                .unwrap_or_else(|| panic!("row {number}: no decision `{}`", cells[7]));
            Row {
                number,
                goals: cell(number, "goal", cells[1], &GOALS),
                ages: cell(number, "config", cells[2], &AGES),
                conditions: cell(number, "condition", cells[3], &CONDITIONS),
                agents: cell(number, "agent", cells[4], &AGENTS),
                marks: cell(number, "marked", cells[5], &MARKS),
                policies: cell(number, "policy", cells[6], &POLICIES),
                decision,
                timer: cell(number, "timer", cells[8], &MARKS)[0],
            }
        })
        .collect();
    assert!(rows.len() > 10, "the table was found");
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(r.number, i + 1, "rows are numbered in order");
    }
    rows
}

/// Every combination of facts.
fn every_case() -> Vec<TaskFacts> {
    let mut out = Vec::new();
    for (_, goal) in GOALS {
        for (_, age) in AGES {
            for (_, condition) in CONDITIONS {
                for (_, agent) in AGENTS {
                    for (_, marked) in MARKS {
                        for (_, policy) in POLICIES {
                            out.push(TaskFacts {
                                goal,
                                age,
                                condition,
                                agent,
                                marked,
                                policy,
                            });
                        }
                    }
                }
            }
        }
    }
    out
}

#[test]
fn every_row_of_the_design_table_is_what_decide_returns_for_every_case_it_covers() {
    // Goal: the table in DESIGN.md is the decision, not a description of it. Method: every
    // combination of goal, config, condition, agent, mark and policy (1,296 cases) is
    // decided; the first row matching it must name that decision and say whether the
    // failure timer runs; every row must be the first match of some case.
    let rows = table();
    let mut reached = vec![0usize; rows.len()];
    for f in every_case() {
        let (i, row) = rows
            .iter()
            .enumerate()
            .find(|(_, r)| r.matches(&f))
            .unwrap_or_else(|| panic!("no row covers {f:?}"));
        reached[i] += 1;
        let d = decide(&f);
        assert_eq!(d, row.decision, "row {}: {f:?}", row.number);
        assert_eq!(
            d.runs_failure_timer(),
            row.timer,
            "row {}: timer column for {d:?}",
            row.number
        );
    }
    for (row, n) in rows.iter().zip(&reached) {
        assert!(
            *n > 0,
            "row {} is never reached: rows above cover it",
            row.number
        );
    }
}

#[test]
fn decision_names_are_distinct() {
    let mut names: Vec<&str> = DECISIONS.iter().map(|d| d.name()).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), DECISIONS.len());
}

#[test]
fn conditions_follow_the_last_status_the_readiness_and_the_reconciliation() {
    let c =
        |s, ready, reconciling| Condition::read(Some(&TaskStatus::new("t", s)), ready, reconciling);
    assert_eq!(Condition::read(None, false, false), Condition::Launched);
    assert_eq!(c(TaskState::Staging, false, false), Condition::Starting);
    assert_eq!(c(TaskState::Killing, false, false), Condition::Starting);
    assert_eq!(c(TaskState::Running, false, false), Condition::Running);
    assert_eq!(c(TaskState::Running, true, false), Condition::Ready);
    assert_eq!(c(TaskState::Unknown, false, false), Condition::Unreachable);
    assert_eq!(c(TaskState::Finished, false, false), Condition::Finished);
    assert_eq!(c(TaskState::Killed, false, false), Condition::Failed);
    assert_eq!(c(TaskState::Dropped, false, false), Condition::Failed);
    assert_eq!(c(TaskState::Error, false, false), Condition::Errored);
    assert_eq!(c(TaskState::Gone, false, false), Condition::Gone);
    let lost = TaskStatus {
        reason: Some(Reason::Reconciliation),
        ..TaskStatus::new("t", TaskState::Lost)
    };
    assert_eq!(
        Condition::read(Some(&lost), false, true),
        Condition::LostReconciling
    );
    assert_eq!(
        Condition::read(Some(&lost), false, false),
        Condition::Failed,
        "outside the reconciliation window a TASK_LOST is an ordinary failure"
    );
}

#[test]
fn facts_are_read_from_the_record_the_target_the_agents_and_the_policy() {
    use cairn_proto::{AgentId, Label, Labels, TaskId, TaskInfo};
    let target = ConfigId("c2".into());
    let spec = TaskSpec::builder("node").build();
    let record = |config: &str, agent: &str, state: Option<TaskState>| TaskRecord {
        info: TaskInfo {
            name: "data-0-node".into(),
            task_id: TaskId::new("data-0-node__1"),
            agent_id: AgentId::new(agent),
            labels: Some(Labels {
                labels: vec![Label::new(TARGET_CONFIGURATION, config)],
            }),
            ..TaskInfo::default()
        },
        status: state.map(|s| TaskStatus::new("data-0-node__1", s)),
        history: Default::default(),
    };
    let removed: BTreeSet<String> = ["a3".to_string()].into();
    let listed: BTreeSet<String> = ["a1".to_string()].into();
    let ctx = Context {
        removed_agents: &removed,
        listed_agents: Some(&listed),
        ..Context::new(&target, &InPlaceRecovery)
    };
    let f = ctx.facts(
        &spec,
        Some(&record("c2", "a1", Some(TaskState::Running))),
        false,
    );
    assert_eq!(
        (f.age, f.condition, f.agent),
        (ConfigAge::Target, Condition::Ready, AgentCondition::Listed),
        "no readiness check: RUNNING is ready"
    );
    let f = ctx.facts(
        &spec,
        Some(&record("c1", "a2", Some(TaskState::Failed))),
        true,
    );
    assert_eq!(
        (f.age, f.condition, f.agent, f.marked),
        (
            ConfigAge::Older,
            Condition::Failed,
            AgentCondition::Away,
            true
        )
    );
    let f = ctx.facts(
        &spec,
        Some(&record("c2", "a3", Some(TaskState::Gone))),
        false,
    );
    assert_eq!(f.agent, AgentCondition::Removed);
    assert_eq!(decide(&f), Decision::AwaitReplacement(AgentLoss::Gone));
    assert_eq!(ctx.facts(&spec, None, false).condition, Condition::Absent);

    struct Leave;
    impl RecoveryPolicy for Leave {
        fn recover(&self, _: &str, _: &TaskStatus) -> Recovery {
            Recovery::Leave
        }
    }
    let ctx = Context::new(&target, &Leave);
    let running = ctx.facts(
        &spec,
        Some(&record("c2", "a1", Some(TaskState::Running))),
        false,
    );
    assert_eq!(
        running.policy,
        Recovery::RelaunchInPlace,
        "the policy is asked only about a stopped task"
    );
    let failed = ctx.facts(
        &spec,
        Some(&record("c2", "a1", Some(TaskState::Failed))),
        false,
    );
    assert_eq!(failed.policy, Recovery::Leave);
    assert_eq!(decide(&failed), Decision::Left);
}
