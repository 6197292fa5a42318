//! A task's POSIX resource limits (`ContainerInfo.rlimit_info`), applied as Mesos' `posix/rlimits`
//! isolator applies them: every limit set before the task's command starts, both or neither of
//! soft and hard (neither is unlimited), soft no higher than hard.
//!
//! The limits are checked in the executor before the fork, where a refusal can be worded and
//! allocation is allowed, and then set with `setrlimit` in the child between fork and exec. A
//! limit the executor cannot grant fails the task with that reason instead of being capped:
//! raising a hard limit needs `CAP_SYS_RESOURCE`. An agent that has it (root, outside a
//! container that drops it) raises an executor's hard limits to what its tasks ask for before
//! the executor drops to the task's user ([`ceilings`], [`raise_hard`]); otherwise a task can
//! have at most the hard limits its agent runs with. Open files never go past the kernel's
//! `fs.nr_open`.

use cairn_proto::{RlimitInfo, RlimitType};

/// `RLIM_INFINITY`: `rlim_t` is a `u64` on the 64-bit Linux cairn runs on.
const INFINITY: u64 = libc::RLIM_INFINITY;

/// One limit to set: `INFINITY` for unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskRlimit {
    pub resource: RlimitType,
    pub soft: u64,
    pub hard: u64,
}

/// The limits of an `RLimitInfo`, or why it is not one the agent can apply (a TASK_ERROR: the
/// message names the limit).
pub fn from_info(info: &RlimitInfo) -> Result<Vec<TaskRlimit>, String> {
    let mut limits: Vec<TaskRlimit> = Vec::new();
    for limit in &info.rlimits {
        let name = limit.type_.posix_name();
        if resource(limit.type_).is_none() {
            return Err(format!(
                "resource limit {} is not one this agent knows",
                limit.type_
            ));
        }
        if limits.iter().any(|l| l.resource == limit.type_) {
            return Err(format!("{name} is given twice"));
        }
        let (soft, hard) = match (limit.soft, limit.hard) {
            (Some(soft), Some(hard)) if soft > hard => {
                return Err(format!(
                    "{name}: the soft limit {soft} is above the hard limit {hard}"
                ))
            }
            (Some(soft), Some(hard)) => (soft, hard),
            (None, None) => (INFINITY, INFINITY),
            _ => {
                return Err(format!(
                    "{name}: give both the soft and the hard limit, or neither for unlimited"
                ))
            }
        };
        limits.push(TaskRlimit {
            resource: limit.type_,
            soft,
            hard,
        });
    }
    Ok(limits)
}

/// Whether this process can give its child every limit in `limits`; if not, why, in words an
/// operator can act on.
pub fn check_grantable(limits: &[TaskRlimit]) -> Result<(), String> {
    let privileged = may_raise_hard_limits();
    for limit in limits {
        let name = limit.resource.posix_name();
        let Some(resource) = resource(limit.resource) else {
            continue;
        };
        let mut current = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: `current` is a valid rlimit for getrlimit to fill in.
        #[allow(unsafe_code)]
        if unsafe { libc::getrlimit(resource, &mut current) } != 0 {
            return Err(format!(
                "{name}: cannot read the agent's own limit: {}",
                std::io::Error::last_os_error()
            ));
        }
        let agent_hard = current.rlim_max;
        if !privileged
            && agent_hard != INFINITY
            && (limit.hard == INFINITY || limit.hard > agent_hard)
        {
            return Err(format!(
                "{name}: the hard limit {} is above this agent's hard limit {agent_hard}, and \
                 raising it takes CAP_SYS_RESOURCE, which the agent does not have (lower the \
                 spec's limit, or start the cluster with a higher limit or as root with that \
                 capability)",
                show(limit.hard)
            ));
        }
        if limit.resource == RlimitType::Nofile {
            if let Some(nr_open) = nr_open() {
                if limit.hard > nr_open {
                    return Err(format!(
                        "{name}: the hard limit {} is above the kernel's fs.nr_open {nr_open}",
                        show(limit.hard)
                    ));
                }
            }
        }
    }
    Ok(())
}

/// The highest hard limit of each resource that the tasks in `containers` (their
/// `ContainerInfo`s) ask for. A root agent raises its executor's hard limits to these before the
/// executor drops to the task's user, as Mesos' agent applies rlimits as root: the executor can
/// then give each task its limits without privileges. Malformed `rlimit_info` is skipped here;
/// the executor refuses it with the reason.
pub fn ceilings<'a>(
    containers: impl IntoIterator<Item = Option<&'a serde_json::Value>>,
) -> Vec<(RlimitType, u64)> {
    let mut highest: Vec<(RlimitType, u64)> = Vec::new();
    for container in containers {
        let Ok(Some(info)) = RlimitInfo::of_container(container) else {
            continue;
        };
        for limit in from_info(&info).unwrap_or_default() {
            match highest.iter_mut().find(|(t, _)| *t == limit.resource) {
                Some((_, hard)) => *hard = (*hard).max(limit.hard),
                None => highest.push((limit.resource, limit.hard)),
            }
        }
    }
    highest
}

/// Raises the calling process's hard limits to `ceilings` where they are lower, keeping the soft
/// limits. Best effort: a raise the kernel refuses (past `fs.nr_open`) is left for the
/// executor's check to report per task. Async-signal-safe: it runs between fork and exec.
pub fn raise_hard(ceilings: &[(RlimitType, u64)]) {
    for &(resource_type, hard) in ceilings {
        let Some(resource) = resource(resource_type) else {
            continue;
        };
        let mut current = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit and setrlimit read and fill in the rlimit we pass, nothing else.
        #[allow(unsafe_code)]
        unsafe {
            if libc::getrlimit(resource, &mut current) == 0
                && current.rlim_max < hard
                && current.rlim_max != libc::RLIM_INFINITY
            {
                current.rlim_max = hard;
                libc::setrlimit(resource, &current);
            }
        }
    }
}

/// Sets `limits` in the calling process. Only async-signal-safe calls on values computed
/// beforehand: this runs in the child between fork and exec.
pub fn apply(limits: &[TaskRlimit]) -> std::io::Result<()> {
    for limit in limits {
        let Some(resource) = resource(limit.resource) else {
            continue;
        };
        let value = libc::rlimit {
            rlim_cur: limit.soft,
            rlim_max: limit.hard,
        };
        // SAFETY: setrlimit reads the rlimit we pass and nothing else.
        #[allow(unsafe_code)]
        if unsafe { libc::setrlimit(resource, &value) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Whether this process holds `CAP_SYS_RESOURCE`, without which even root cannot raise a hard
/// limit (containers often drop it).
pub fn may_raise_hard_limits() -> bool {
    const CAP_SYS_RESOURCE: u32 = 24;
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let hex = status.lines().find_map(|l| l.strip_prefix("CapEff:"))?;
            u64::from_str_radix(hex.trim(), 16).ok()
        })
        .is_some_and(|caps| caps & (1 << CAP_SYS_RESOURCE) != 0)
}

fn show(value: u64) -> String {
    if value == INFINITY {
        "unlimited".to_string()
    } else {
        value.to_string()
    }
}

/// The kernel's ceiling on open files per process.
fn nr_open() -> Option<u64> {
    std::fs::read_to_string("/proc/sys/fs/nr_open")
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// The `setrlimit` resource of a Mesos limit type.
fn resource(t: RlimitType) -> Option<libc::__rlimit_resource_t> {
    Some(match t {
        RlimitType::As => libc::RLIMIT_AS,
        RlimitType::Core => libc::RLIMIT_CORE,
        RlimitType::Cpu => libc::RLIMIT_CPU,
        RlimitType::Data => libc::RLIMIT_DATA,
        RlimitType::Fsize => libc::RLIMIT_FSIZE,
        RlimitType::Locks => libc::RLIMIT_LOCKS,
        RlimitType::Memlock => libc::RLIMIT_MEMLOCK,
        RlimitType::Msgqueue => libc::RLIMIT_MSGQUEUE,
        RlimitType::Nice => libc::RLIMIT_NICE,
        RlimitType::Nofile => libc::RLIMIT_NOFILE,
        RlimitType::Nproc => libc::RLIMIT_NPROC,
        RlimitType::Rss => libc::RLIMIT_RSS,
        RlimitType::Rtprio => libc::RLIMIT_RTPRIO,
        RlimitType::Rttime => libc::RLIMIT_RTTIME,
        RlimitType::Sigpending => libc::RLIMIT_SIGPENDING,
        RlimitType::Stack => libc::RLIMIT_STACK,
        RlimitType::Unknown => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_proto::Rlimit;

    fn info(limits: &[(RlimitType, Option<u64>, Option<u64>)]) -> RlimitInfo {
        RlimitInfo {
            rlimits: limits
                .iter()
                .map(|&(type_, soft, hard)| Rlimit { type_, soft, hard })
                .collect(),
        }
    }

    #[test]
    fn neither_limit_means_unlimited_and_both_are_taken_as_given() {
        let limits = from_info(&info(&[
            (RlimitType::Core, None, None),
            (RlimitType::Nofile, Some(1000), Some(2000)),
        ]))
        .unwrap();
        assert_eq!(limits[0].soft, INFINITY);
        assert_eq!(limits[0].hard, INFINITY);
        assert_eq!((limits[1].soft, limits[1].hard), (1000, 2000));
    }

    #[test]
    fn a_limit_mesos_would_refuse_is_refused_with_its_name() {
        let one_sided = from_info(&info(&[(RlimitType::Nofile, Some(10), None)])).unwrap_err();
        assert!(one_sided.contains("RLIMIT_NOFILE"), "{one_sided}");
        let inverted = from_info(&info(&[(RlimitType::Stack, Some(10), Some(5))])).unwrap_err();
        assert!(inverted.contains("above the hard limit 5"), "{inverted}");
        let twice = from_info(&info(&[
            (RlimitType::Core, None, None),
            (RlimitType::Core, Some(0), Some(0)),
        ]))
        .unwrap_err();
        assert!(twice.contains("twice"), "{twice}");
        let unknown = from_info(&info(&[(RlimitType::Unknown, None, None)])).unwrap_err();
        assert!(unknown.contains("UNKNOWN"), "{unknown}");
    }
}
