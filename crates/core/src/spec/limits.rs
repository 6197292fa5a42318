//! The documented limits of a service spec: every number in it is bounded by what a cluster
//! (and the one scheduler that runs the service) can have.
//!
//! A spec is checked against them before anything is built from it: plans, TaskInfos and the
//! scheduler API's answers all grow with these numbers, so an unchecked `count: 4294967295`
//! would allocate billions of steps before anything said no. Each refusal names the limit and
//! where it was broken, e.g. `pods.data.count: 4294967295 is more than the limit of 10000 pod
//! instances per pod type`.
//!
//! [`LIMITS`] is the one table; README.md shows the same rows (a test compares them).
//!
//! Besides the limits, one rule of precision: Mesos keeps scalar resources to three decimals
//! ([`SCALAR_PRECISION`]), so a `cpus` that rounds to 0 there is refused rather than reserved
//! as nothing.

use std::fmt;

/// One limit: at most `max` of `what`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// The largest value accepted.
    pub max: u64,
    /// What is counted, as it reads after the number: `pod instances per pod type`.
    pub what: &'static str,
    /// Why this bound: the fact it comes from.
    pub why: &'static str,
}

impl Limit {
    /// Whether `value` is beyond the limit.
    pub fn exceeded_by(&self, value: u64) -> bool {
        value > self.max
    }

    /// `4294967295 is more than the limit of 10000 pod instances per pod type`.
    pub fn refusal(&self, value: impl fmt::Display) -> String {
        format!(
            "{value} is more than the limit of {} {}",
            self.max, self.what
        )
    }

    /// For lengths: `is 200000 bytes long, more than the limit of 131071 bytes per command`.
    pub fn length_refusal(&self, len: usize) -> String {
        format!(
            "is {len} bytes long, more than the limit of {} {}",
            self.max, self.what
        )
    }
}

/// Mesos keeps scalar resources (cpus, mem, disk) to three decimals.
pub const SCALAR_PRECISION: f64 = 0.001;

/// Pod types of one service.
pub const POD_TYPES: Limit = Limit {
    max: 100,
    what: "pod types per service",
    why: "each pod type is a phase of the deploy plan and a section of every answer; services have a handful",
};

/// `count` of one pod type.
pub const POD_INSTANCES: Limit = Limit {
    max: 10_000,
    what: "pod instances per pod type",
    why: "the scale one scheduler is built and measured for: 10,000 tasks in 256 MB, reconciled in 10 s",
};

/// Task instances of the service: `count` × tasks, over every pod type.
pub const TASK_INSTANCES: Limit = Limit {
    max: 10_000,
    what: "task instances per service (count × tasks, over every pod type)",
    why: "the same measured scale: every task instance is a TaskInfo and a status the scheduler keeps",
};

/// Tasks of one pod type.
pub const TASKS_PER_POD: Limit = Limit {
    max: 100,
    what: "tasks per pod",
    why: "a pod instance's tasks share one agent and one executor",
};

/// Resource sets of one pod type.
pub const RESOURCE_SETS: Limit = Limit {
    max: 100,
    what: "resource sets per pod",
    why: "a resource set serves tasks of its pod, which has at most 100",
};

/// `cpus` of a task or resource set.
pub const CPUS: Limit = Limit {
    max: 4_096,
    what: "cpus per task or resource set",
    why: "a task runs on one agent, and the largest machines have under 2,000 hardware threads",
};

/// `gpus` of a task or resource set: whole devices.
pub const GPUS: Limit = Limit {
    max: 64,
    what: "GPUs per task or resource set",
    why: "a task runs on one agent, and the largest machines hold 16 GPUs",
};

/// `memory` of a task or resource set, in MB.
pub const MEMORY_MB: Limit = Limit {
    max: 67_108_864,
    what: "MB of memory per task or resource set",
    why: "64 TiB: a task runs on one agent, and the largest machines have 48 TB",
};

/// `size` of one volume, in MB.
pub const VOLUME_MB: Limit = Limit {
    max: 1_073_741_824,
    what: "MB per volume",
    why: "1 PiB: a volume lives on one agent's disk",
};

/// Volumes of one pod: its own, its resource sets' and its tasks'.
pub const VOLUMES: Limit = Limit {
    max: 100,
    what: "volumes per pod (its own, its resource sets' and its tasks')",
    why: "each is a reservation and a directory on the pod's agent",
};

/// Named ports of a task or resource set.
pub const PORTS: Limit = Limit {
    max: 1_000,
    what: "ports per task or resource set",
    why: "an agent offers 1,001 ports by default (31000-32000)",
};

/// `ranges` of one port.
pub const PORT_RANGES: Limit = Limit {
    max: 100,
    what: "ranges per port",
    why: "ranges only say where one dynamic port may come from",
};

/// URIs of a pod or of a task.
pub const URIS: Limit = Limit {
    max: 100,
    what: "URIs per pod or task",
    why: "each is fetched into the sandbox before the task starts",
};

/// Config templates of a task.
pub const CONFIGS: Limit = Limit {
    max: 100,
    what: "config templates per task",
    why: "each is a URI fetched and a file rendered before the task starts, and an environment variable",
};

/// One config template, and its rendered text.
pub const TEMPLATE_BYTES: Limit = Limit {
    max: 1_000_000,
    what: "bytes per config template (its text, and the file rendered from it)",
    why: "a template is part of the stored config, which must fit the spec limit with the rest of the spec (the DC/OS SDK's bootstrap caps one at 1 MiB)",
};

/// Environment variables of a task.
pub const ENV: Limit = Limit {
    max: 1_000,
    what: "environment variables per task",
    why: "they are all passed to exec, which takes at most 2 MB of them (Linux ARG_MAX)",
};

/// Labels of a task.
pub const LABELS: Limit = Limit {
    max: 100,
    what: "labels per task",
    why: "they travel in every TaskInfo and status",
};

/// `cmd` of a task and of its health and readiness checks.
pub const COMMAND_BYTES: Limit = Limit {
    max: 131_071,
    what: "bytes per command (cmd, health-check cmd, readiness-check cmd)",
    why: "a command is one argument of `sh -c`, and Linux refuses to exec an argument of 128 KiB or more (MAX_ARG_STRLEN)",
};

/// One environment variable, `NAME=value`.
pub const ENV_BYTES: Limit = Limit {
    max: 131_071,
    what: "bytes per environment variable (NAME=value)",
    why: "each is one exec string, under the same MAX_ARG_STRLEN",
};

/// Every other string: URIs, labels, paths, user, principal, role, placement, web-url, ...
pub const STRING_BYTES: Limit = Limit {
    max: 4_096,
    what: "bytes per URI, label, path, user, principal, role, placement or other string",
    why: "PATH_MAX; none of them needs more",
};

/// What one task puts in its TaskInfo: cmd, env, labels, URIs (its pod's too), check commands.
pub const LAUNCH_BYTES: Limit = Limit {
    max: 524_288,
    what: "bytes of launch data per task (cmd, env, labels, URIs, check commands)",
    why: "a TaskInfo is one state-store entry, under ZooKeeper's 1 MB node limit, and exec takes at most 2 MB of arguments and environment",
};

/// Launch data over every task instance of the service (count × each task's).
pub const SERVICE_LAUNCH_BYTES: Limit = Limit {
    max: 268_435_456,
    what: "bytes of launch data over every task instance (count × each task's)",
    why: "the scheduler keeps every instance's TaskInfo in memory and in the store; 256 MB is its footprint target at 10,000 tasks",
};

/// A whole spec: svc.yml before and after rendering, and the stored JSON.
pub const SPEC_BYTES: Limit = Limit {
    max: 1_048_575,
    what: "bytes per spec (svc.yml before and after rendering, and the stored JSON)",
    why: "a config is one state-store entry, and ZooKeeper's default node limit (jute.maxbuffer) is 1,048,575 bytes",
};

/// Nesting in svc.yml: YAML collections inside each other, and template sections.
pub const NESTING: Limit = Limit {
    max: 32,
    what: "levels of nesting in svc.yml (YAML collections, template sections)",
    why: "svc.yml itself is at most 10 deep, and a YAML parser's work grows with the square of the depth",
};

/// Check timings: `interval`, `timeout`, `delay`, `grace-period`.
pub const CHECK_SECONDS: Limit = Limit {
    max: 86_400,
    what: "seconds per check interval, timeout, delay or grace period",
    why: "a day; a longer one is a unit mistake",
};

/// `max-consecutive-failures` of a health check.
pub const CHECK_FAILURES: Limit = Limit {
    max: 1_000,
    what: "consecutive failures per health check",
    why: "at the shortest interval that is a quarter of an hour of failing before the kill",
};

/// `kill-grace-period`.
pub const KILL_GRACE_SECONDS: Limit = Limit {
    max: 3_600,
    what: "seconds of kill grace period",
    why: "as dcos-commons: an hour between SIGTERM and SIGKILL",
};

/// `permanent-failure-timeout` and `min-replace-delay` of the replacement policy.
pub const REPLACE_SECONDS: Limit = Limit {
    max: 31_536_000,
    what: "seconds of permanent-failure timeout or delay between replacements",
    why: "a year; for never, leave the replacement policy out",
};

/// Plans of a spec.
pub const PLANS: Limit = Limit {
    max: 100,
    what: "plans per service",
    why: "each is served and derived after every event",
};

/// Phases of one plan.
pub const PHASES: Limit = Limit {
    max: 100,
    what: "phases per plan",
    why: "a phase walks one pod type, and there are at most 100",
};

/// Steps of one plan (instances × task groups, over its phases).
pub const STEPS: Limit = Limit {
    max: 20_000,
    what: "steps per plan",
    why: "two steps (say init, then serve) per task instance at the task-instance limit",
};

/// Every limit, in the order README.md lists them.
pub const LIMITS: &[Limit] = &[
    POD_TYPES,
    POD_INSTANCES,
    TASK_INSTANCES,
    TASKS_PER_POD,
    RESOURCE_SETS,
    CPUS,
    GPUS,
    MEMORY_MB,
    VOLUME_MB,
    VOLUMES,
    PORTS,
    PORT_RANGES,
    URIS,
    CONFIGS,
    TEMPLATE_BYTES,
    ENV,
    LABELS,
    COMMAND_BYTES,
    ENV_BYTES,
    STRING_BYTES,
    LAUNCH_BYTES,
    SERVICE_LAUNCH_BYTES,
    SPEC_BYTES,
    NESTING,
    CHECK_SECONDS,
    CHECK_FAILURES,
    KILL_GRACE_SECONDS,
    REPLACE_SECONDS,
    PLANS,
    PHASES,
    STEPS,
];

/// The limits as the rows of README.md's table: `| what | max | why |`.
pub fn table_rows() -> Vec<String> {
    LIMITS
        .iter()
        .map(|l| format!("| {} | {} | {} |", l.what, l.max, l.why))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_names_the_value_the_limit_and_what_is_counted() {
        assert_eq!(
            POD_INSTANCES.refusal(4_294_967_295u64),
            "4294967295 is more than the limit of 10000 pod instances per pod type"
        );
        assert!(POD_INSTANCES.exceeded_by(10_001));
        assert!(!POD_INSTANCES.exceeded_by(10_000));
    }

    #[test]
    fn the_readme_shows_every_limit_of_the_code() {
        // Goal: the documented limits are the enforced ones. Method: every row this table
        // makes is in README.md, verbatim.
        let readme = include_str!("../../../../README.md");
        for row in table_rows() {
            assert!(readme.contains(&row), "README.md lacks the row:\n{row}");
        }
    }
}
