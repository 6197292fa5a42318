//! From a `TaskInfo` to what the executor runs: the sandbox, the command and
//! its environment, the URIs to fetch and the probes. Pure functions, so the
//! exact environment a task sees is tested without starting anything.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use cairn_proto::{
    CheckInfo, CheckType, CommandInfo, EnvVarType, HealthCheck, HealthCheckType, KillPolicy,
    RlimitInfo, TaskInfo,
};

use super::fetch::UriSpec;
use super::health::HealthPolicy;
use super::layout;
use super::probe::{ProbeSchedule, ProbeTarget};
use super::process::{set_var, LaunchSpec, OutputFiles, Program};
use super::rlimits;
use super::task::TaskKind;

/// Mesos' default kill grace period when neither the task nor the KILL says.
pub const DEFAULT_KILL_GRACE: Duration = Duration::from_secs(3);

/// Executor-wide facts every task's environment is built from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskContext {
    pub framework_id: String,
    pub executor_id: String,
    pub agent_endpoint: SocketAddr,
    pub hostname: String,
    pub executor_sandbox: PathBuf,
    /// The executor's own environment; only a few basics pass to tasks.
    pub inherited_env: Vec<(String, String)>,
}

impl TaskContext {
    fn agent_ip(&self) -> IpAddr {
        self.agent_endpoint.ip()
    }
}

/// Everything the executor needs to run one task.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskPlan {
    pub sandbox: PathBuf,
    pub uris: Vec<UriSpec>,
    pub launch: LaunchSpec,
    pub health: Option<HealthPlan>,
    pub check: Option<CheckPlan>,
    /// The task's own kill grace period, if its kill policy has one.
    pub kill_grace: Option<Duration>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct HealthPlan {
    pub target: ProbeTarget,
    pub schedule: ProbeSchedule,
    pub policy: HealthPolicy,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CheckPlan {
    pub target: ProbeTarget,
    pub schedule: ProbeSchedule,
    pub kind: CheckType,
}

/// Plans a task, or says why it cannot run (a message for TASK_ERROR). A task of a group is
/// planned in `tasks/<task id>`, the link to its sandbox; once its directory is found (see
/// `layout`) it is planned again there with [`plan_task_in`].
pub fn plan_task(
    task: &TaskInfo,
    kind: TaskKind,
    context: &TaskContext,
) -> Result<TaskPlan, String> {
    let sandbox = match kind {
        TaskKind::Command => context.executor_sandbox.clone(),
        TaskKind::Group => layout::task_link(&context.executor_sandbox, task.task_id.as_str())?,
    };
    plan_task_in(task, kind, context, &sandbox)
}

/// Plans a task to run in `sandbox`.
pub fn plan_task_in(
    task: &TaskInfo,
    kind: TaskKind,
    context: &TaskContext,
    sandbox: &Path,
) -> Result<TaskPlan, String> {
    let task_id = task.task_id.as_str();
    let command = task
        .command
        .as_ref()
        .ok_or_else(|| format!("task '{task_id}' has no command"))?;
    let sandbox = sandbox.to_path_buf();
    let env = task_environment(task, kind, &sandbox, command, context);
    let rlimits = RlimitInfo::of_container(task.container.as_ref())
        .and_then(|info| info.map_or(Ok(Vec::new()), |info| rlimits::from_info(&info)))
        .map_err(|reason| format!("task '{task_id}': {reason}"))?;
    let launch = LaunchSpec {
        program: program(command).map_err(|reason| format!("task '{task_id}': {reason}"))?,
        env: env.clone(),
        cwd: sandbox.clone(),
        output: Some(OutputFiles::in_dir(&sandbox)),
        rlimits,
    };
    let health = task
        .health_check
        .as_ref()
        .map(|check| plan_health(check, &env, &sandbox, context))
        .transpose()
        .map_err(|reason| format!("task '{task_id}' has an invalid health check: {reason}"))?;
    let check = task
        .check
        .as_ref()
        .map(|check| plan_check(check, &env, &sandbox, context))
        .transpose()
        .map_err(|reason| format!("task '{task_id}' has an invalid check: {reason}"))?;
    Ok(TaskPlan {
        sandbox,
        uris: command.uris.iter().map(uri_spec).collect(),
        launch,
        health,
        check,
        kill_grace: kill_grace(task.kill_policy.as_ref()),
    })
}

/// The grace period of a kill policy, if it has one.
pub fn kill_grace(policy: Option<&KillPolicy>) -> Option<Duration> {
    policy
        .and_then(|policy| policy.grace_period)
        .map(|grace| grace.to_std())
}

fn program(command: &CommandInfo) -> Result<Program, String> {
    let value = command.value.clone().unwrap_or_default();
    if command.is_shell() {
        if value.trim().is_empty() {
            return Err("the shell command is empty".to_owned());
        }
        Ok(Program::Shell(value))
    } else {
        if value.is_empty() {
            return Err("the command names no program".to_owned());
        }
        Ok(Program::Argv {
            program: value,
            argv: command.arguments.clone(),
        })
    }
}

fn uri_spec(uri: &cairn_proto::CommandUri) -> UriSpec {
    UriSpec {
        value: uri.value.clone(),
        executable: uri.is_executable(),
        extract: uri.should_extract(),
        cache: uri.cache.unwrap_or(false),
        output_file: uri.output_file.clone(),
    }
}

/// The `PATH` of a task of a group whose command sets none: the host's default, as Mesos'
/// containerizer gives a nested container (nothing of the executor's environment passes).
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The Mesos task variables, then the command's own ones on top.
///
/// A task of a group sees what Mesos gives a nested container under the default executor:
/// `MESOS_SANDBOX`, `MESOS_CONTAINER_IP` and `MESOS_ALLOCATION_ROLE`, its command's variables,
/// and a default `PATH`; nothing of the executor's environment (no `HOME`, `USER`, task or
/// framework id). What a task needs beyond that its scheduler sets in `command.environment`.
/// A command task sees the executor's basics and ids, as Mesos' command executor passes them.
fn task_environment(
    task: &TaskInfo,
    kind: TaskKind,
    sandbox: &Path,
    command: &CommandInfo,
    context: &TaskContext,
) -> Vec<(String, String)> {
    let ip = context.agent_ip().to_string();
    let role = task
        .resources
        .iter()
        .find_map(|resource| resource.allocation_info.as_ref()?.role.clone());
    let mut mesos = match kind {
        TaskKind::Group => vec![
            ("MESOS_SANDBOX", sandbox.display().to_string()),
            ("MESOS_CONTAINER_IP", ip),
        ],
        TaskKind::Command => vec![
            ("MESOS_SANDBOX", sandbox.display().to_string()),
            ("MESOS_TASK_ID", task.task_id.as_str().to_owned()),
            ("MESOS_FRAMEWORK_ID", context.framework_id.clone()),
            ("MESOS_EXECUTOR_ID", context.executor_id.clone()),
            ("MESOS_AGENT_ENDPOINT", context.agent_endpoint.to_string()),
            ("MESOS_CONTAINER_IP", ip.clone()),
            ("LIBPROCESS_IP", ip),
            ("HOST", context.hostname.clone()),
            ("MESOS_HOSTNAME", context.hostname.clone()),
        ],
    };
    if let Some(role) = role {
        mesos.push(("MESOS_ALLOCATION_ROLE", role));
    }
    let inherited = match kind {
        TaskKind::Group => Vec::new(),
        TaskKind::Command => context.inherited_env.clone(),
    };
    let mut env = super::process::task_environment(inherited, &mesos, &command_variables(command));
    if !env.iter().any(|(name, _)| name == "PATH") {
        set_var(&mut env, "PATH", DEFAULT_PATH.to_owned());
    }
    env
}

/// `command.environment` as pairs. Secrets cannot be resolved here (there is
/// no secret store), so they are left out rather than set to garbage.
fn command_variables(command: &CommandInfo) -> Vec<(String, String)> {
    let Some(environment) = &command.environment else {
        return Vec::new();
    };
    environment
        .variables
        .iter()
        .filter_map(|variable| match (variable.type_, &variable.value) {
            (Some(EnvVarType::Secret), _) => {
                tracing::warn!(name = %variable.name, "secret environment variables are not supported; skipped");
                None
            }
            (_, Some(value)) => Some((variable.name.clone(), value.clone())),
            (_, None) => None,
        })
        .collect()
}

fn seconds(value: f64) -> Duration {
    Duration::try_from_secs_f64(value.max(0.0)).unwrap_or(Duration::ZERO)
}

/// A probe command runs like the task: same sandbox, same environment, plus
/// the probe's own variables on top.
fn probe_command(
    command: &CommandInfo,
    task_env: &[(String, String)],
    sandbox: &Path,
) -> Result<ProbeTarget, String> {
    let mut env = task_env.to_vec();
    for (name, value) in command_variables(command) {
        set_var(&mut env, &name, value);
    }
    // A probe is not the task's process: like Mesos' check containers, it runs without the
    // task's resource limits.
    Ok(ProbeTarget::Command(LaunchSpec {
        program: program(command)?,
        env,
        cwd: sandbox.to_path_buf(),
        output: None,
        rlimits: Vec::new(),
    }))
}

fn http_target(ip: IpAddr, port: u32, path: Option<&str>) -> Result<ProbeTarget, String> {
    let port = u16::try_from(port).map_err(|_| format!("port {port} is out of range"))?;
    let path = path.unwrap_or("/");
    let path = if path.starts_with('/') {
        path.to_owned()
    } else {
        format!("/{path}")
    };
    Ok(ProbeTarget::Http {
        url: format!("http://{}{path}", SocketAddr::new(ip, port)),
    })
}

fn tcp_target(ip: IpAddr, port: u32) -> Result<ProbeTarget, String> {
    let port = u16::try_from(port).map_err(|_| format!("port {port} is out of range"))?;
    Ok(ProbeTarget::Tcp {
        addr: SocketAddr::new(ip, port),
    })
}

fn plan_health(
    check: &HealthCheck,
    task_env: &[(String, String)],
    sandbox: &Path,
    context: &TaskContext,
) -> Result<HealthPlan, String> {
    let ip = context.agent_ip();
    let mut healthy_statuses = Vec::new();
    let target = match check.type_ {
        Some(HealthCheckType::Command) => {
            let command = check
                .command
                .as_ref()
                .ok_or("a COMMAND health check needs `command`")?;
            probe_command(command, task_env, sandbox)?
        }
        Some(HealthCheckType::Http) => {
            let http = check
                .http
                .as_ref()
                .ok_or("an HTTP health check needs `http`")?;
            if let Some(scheme) = http.scheme.as_deref().filter(|scheme| *scheme != "http") {
                return Err(format!("the '{scheme}' scheme is not supported"));
            }
            healthy_statuses = http.statuses.clone();
            http_target(ip, http.port, http.path.as_deref())?
        }
        Some(HealthCheckType::Tcp) => {
            let tcp = check.tcp.as_ref().ok_or("a TCP health check needs `tcp`")?;
            tcp_target(ip, tcp.port)?
        }
        Some(HealthCheckType::Unknown) | None => {
            return Err("the health check has no known type".to_owned())
        }
    };
    Ok(HealthPlan {
        target,
        schedule: ProbeSchedule {
            delay: seconds(check.delay()),
            interval: seconds(check.interval()),
            timeout: seconds(check.timeout()),
        },
        policy: HealthPolicy {
            grace_period: seconds(check.grace_period()),
            max_consecutive_failures: check.max_consecutive_failures(),
            healthy_statuses,
        },
    })
}

fn plan_check(
    check: &CheckInfo,
    task_env: &[(String, String)],
    sandbox: &Path,
    context: &TaskContext,
) -> Result<CheckPlan, String> {
    let ip = context.agent_ip();
    let (kind, target) = match check.type_ {
        Some(CheckType::Command) => {
            let command = check
                .command
                .as_ref()
                .ok_or("a COMMAND check needs `command`")?;
            (
                CheckType::Command,
                probe_command(&command.command, task_env, sandbox)?,
            )
        }
        Some(CheckType::Http) => {
            let http = check.http.as_ref().ok_or("an HTTP check needs `http`")?;
            (
                CheckType::Http,
                http_target(ip, http.port, http.path.as_deref())?,
            )
        }
        Some(CheckType::Tcp) => {
            let tcp = check.tcp.as_ref().ok_or("a TCP check needs `tcp`")?;
            (CheckType::Tcp, tcp_target(ip, tcp.port)?)
        }
        Some(CheckType::Unknown) | None => return Err("the check has no known type".to_owned()),
    };
    Ok(CheckPlan {
        target,
        schedule: ProbeSchedule {
            delay: seconds(check.delay()),
            interval: seconds(check.interval()),
            timeout: seconds(check.timeout()),
        },
        kind,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_proto::{
        AllocationInfo, CheckCommand, CheckHttp, CommandUri, DurationInfo, Environment,
        HttpCheckInfo, Resource, TcpCheckInfo,
    };

    fn context() -> TaskContext {
        TaskContext {
            framework_id: "fw".to_owned(),
            executor_id: "exec".to_owned(),
            agent_endpoint: "127.0.0.3:5051".parse().unwrap(),
            hostname: "agent-3".to_owned(),
            executor_sandbox: PathBuf::from("/sandboxes/exec"),
            inherited_env: vec![
                ("PATH".to_owned(), "/usr/bin:/bin".to_owned()),
                ("SECRET_TOKEN".to_owned(), "do-not-leak".to_owned()),
            ],
        }
    }

    fn task(id: &str, command: CommandInfo) -> TaskInfo {
        TaskInfo {
            name: id.to_owned(),
            task_id: id.into(),
            command: Some(command),
            ..Default::default()
        }
    }

    fn env_of(plan: &TaskPlan) -> std::collections::HashMap<String, String> {
        plan.launch.env.iter().cloned().collect()
    }

    #[test]
    fn a_group_task_is_planned_at_its_link_and_runs_in_the_directory_it_leads_to() {
        let info = task("web-0", CommandInfo::shell("true"));
        let plan = plan_task(&info, TaskKind::Group, &context()).unwrap();
        assert_eq!(plan.sandbox, PathBuf::from("/sandboxes/exec/tasks/web-0"));
        let dir = Path::new("/sandboxes/exec/containers/c-1");
        let plan = plan_task_in(&info, TaskKind::Group, &context(), dir).unwrap();
        assert_eq!(plan.sandbox, dir);
        assert_eq!(plan.launch.cwd, dir);
        assert_eq!(plan.launch.output, Some(OutputFiles::in_dir(dir)));
        assert_eq!(env_of(&plan)["MESOS_SANDBOX"], dir.display().to_string());
    }

    #[test]
    fn a_command_task_runs_in_the_executor_sandbox() {
        let plan = plan_task(
            &task("t", CommandInfo::shell("true")),
            TaskKind::Command,
            &context(),
        )
        .unwrap();
        assert_eq!(plan.sandbox, PathBuf::from("/sandboxes/exec"));
    }

    #[test]
    fn a_task_id_that_is_not_a_plain_name_is_refused_for_a_group_task() {
        for id in ["../x", "a/b", ".."] {
            assert!(plan_task(
                &task(id, CommandInfo::shell("true")),
                TaskKind::Group,
                &context()
            )
            .is_err());
        }
    }

    fn with_role(mut info: TaskInfo, role: &str) -> TaskInfo {
        info.resources = vec![Resource {
            name: "cpus".to_owned(),
            allocation_info: Some(AllocationInfo::role(role)),
            ..Default::default()
        }];
        info
    }

    #[test]
    fn a_group_task_sees_what_mesos_gives_a_nested_container_and_its_commands_own() {
        let mut command = CommandInfo::shell("true");
        command.environment = Some(Environment::from_pairs([
            ("PORT_API", "31000"),
            ("MESOS_CONTAINER_IP", "override"),
        ]));
        let info = with_role(task("web-0", command), "kv");
        let dir = Path::new("/sandboxes/exec/containers/c-1");
        let plan = plan_task_in(&info, TaskKind::Group, &context(), dir).unwrap();
        let env = env_of(&plan);
        let mut names: Vec<&str> = env.keys().map(String::as_str).collect();
        names.sort_unstable();
        assert_eq!(
            names,
            [
                "MESOS_ALLOCATION_ROLE",
                "MESOS_CONTAINER_IP",
                "MESOS_SANDBOX",
                "PATH",
                "PORT_API"
            ]
        );
        assert_eq!(env["MESOS_SANDBOX"], "/sandboxes/exec/containers/c-1");
        assert_eq!(env["MESOS_ALLOCATION_ROLE"], "kv");
        assert_eq!(env["MESOS_CONTAINER_IP"], "override");
        assert_eq!(env["PORT_API"], "31000");
        // Not the executor's PATH: the host's default, unless the command sets one.
        assert_eq!(env["PATH"], DEFAULT_PATH);
        let mut command = CommandInfo::shell("true");
        command.environment = Some(Environment::from_pairs([("PATH", "/opt/svc/bin")]));
        let plan = plan_task_in(&task("web-0", command), TaskKind::Group, &context(), dir).unwrap();
        assert_eq!(env_of(&plan)["PATH"], "/opt/svc/bin");
    }

    #[test]
    fn a_command_task_sees_the_mesos_ids_the_executors_basics_and_its_commands_own() {
        let mut command = CommandInfo::shell("true");
        command.environment = Some(Environment::from_pairs([
            ("PORT_API", "31000"),
            ("HOST", "override"),
        ]));
        let info = with_role(task("t", command), "kv");
        let plan = plan_task(&info, TaskKind::Command, &context()).unwrap();
        let env = env_of(&plan);
        assert_eq!(env["MESOS_SANDBOX"], "/sandboxes/exec");
        assert_eq!(env["MESOS_TASK_ID"], "t");
        assert_eq!(env["MESOS_FRAMEWORK_ID"], "fw");
        assert_eq!(env["MESOS_EXECUTOR_ID"], "exec");
        assert_eq!(env["MESOS_AGENT_ENDPOINT"], "127.0.0.3:5051");
        assert_eq!(env["MESOS_CONTAINER_IP"], "127.0.0.3");
        assert_eq!(env["LIBPROCESS_IP"], "127.0.0.3");
        assert_eq!(env["MESOS_HOSTNAME"], "agent-3");
        assert_eq!(env["MESOS_ALLOCATION_ROLE"], "kv");
        assert_eq!(env["PORT_API"], "31000");
        assert_eq!(env["HOST"], "override");
        assert_eq!(env["PATH"], "/usr/bin:/bin");
        assert!(!env.contains_key("SECRET_TOKEN"));
    }

    #[test]
    fn a_non_shell_command_runs_its_program_with_the_given_argv() {
        let command = CommandInfo {
            shell: Some(false),
            value: Some("/bin/echo".to_owned()),
            arguments: vec!["echo".to_owned(), "hi".to_owned()],
            ..Default::default()
        };
        let plan = plan_task(&task("t", command), TaskKind::Group, &context()).unwrap();
        assert_eq!(
            plan.launch.program,
            Program::Argv {
                program: "/bin/echo".to_owned(),
                argv: vec!["echo".to_owned(), "hi".to_owned()],
            }
        );
    }

    #[test]
    fn a_task_without_a_command_cannot_be_planned() {
        let info = TaskInfo {
            task_id: "t".into(),
            ..Default::default()
        };
        assert!(plan_task(&info, TaskKind::Group, &context())
            .unwrap_err()
            .contains("no command"));
    }

    #[test]
    fn uris_keep_mesos_defaults_and_the_kill_grace_comes_from_the_policy() {
        let mut command = CommandInfo::shell("true");
        command.uris = vec![CommandUri::new("http://h/a.tgz")];
        let mut info = task("t", command);
        info.kill_policy = Some(KillPolicy::grace_period(DurationInfo::from_secs_f64(7.0)));
        let plan = plan_task(&info, TaskKind::Group, &context()).unwrap();
        assert_eq!(
            plan.uris,
            vec![UriSpec {
                value: "http://h/a.tgz".to_owned(),
                executable: false,
                extract: true,
                cache: false,
                output_file: None,
            }]
        );
        assert_eq!(plan.kill_grace, Some(Duration::from_secs(7)));
    }

    #[test]
    fn an_http_health_check_probes_the_agent_address_with_mesos_defaults() {
        let mut info = task("t", CommandInfo::shell("true"));
        info.health_check = Some(HealthCheck {
            type_: Some(HealthCheckType::Http),
            http: Some(HttpCheckInfo {
                port: 31000,
                path: Some("health".to_owned()),
                ..Default::default()
            }),
            ..Default::default()
        });
        let health = plan_task(&info, TaskKind::Group, &context())
            .unwrap()
            .health
            .unwrap();
        assert_eq!(
            health.target,
            ProbeTarget::Http {
                url: "http://127.0.0.3:31000/health".to_owned()
            }
        );
        assert_eq!(
            health.schedule,
            ProbeSchedule {
                delay: Duration::from_secs(15),
                interval: Duration::from_secs(10),
                timeout: Duration::from_secs(20),
            }
        );
        assert_eq!(health.policy.max_consecutive_failures, 3);
        assert_eq!(health.policy.grace_period, Duration::from_secs(10));
    }

    #[test]
    fn a_command_health_check_sees_the_task_environment() {
        let mut command = CommandInfo::shell("true");
        command.environment = Some(Environment::from_pairs([("PORT_API", "31000")]));
        let mut info = task("t", command);
        let mut probe = CommandInfo::shell("curl -f localhost:$PORT_API");
        probe.environment = Some(Environment::from_pairs([("EXTRA", "1")]));
        info.health_check = Some(HealthCheck {
            type_: Some(HealthCheckType::Command),
            command: Some(probe),
            ..Default::default()
        });
        let plan = plan_task(&info, TaskKind::Group, &context()).unwrap();
        let ProbeTarget::Command(spec) = plan.health.unwrap().target else {
            panic!("expected a command probe");
        };
        let env: std::collections::HashMap<_, _> = spec.env.into_iter().collect();
        assert_eq!(env["PORT_API"], "31000");
        assert_eq!(env["EXTRA"], "1");
        assert_eq!(env["MESOS_SANDBOX"], plan.sandbox.display().to_string());
        assert_eq!(spec.cwd, plan.sandbox);
    }

    #[test]
    fn checks_of_every_type_are_planned() {
        let mut info = task("t", CommandInfo::shell("true"));
        info.check = Some(CheckInfo {
            type_: Some(CheckType::Command),
            command: Some(CheckCommand {
                command: CommandInfo::shell("test -f ready"),
            }),
            delay_seconds: Some(0.5),
            interval_seconds: Some(1.0),
            timeout_seconds: Some(2.0),
            ..Default::default()
        });
        let check = plan_task(&info, TaskKind::Group, &context())
            .unwrap()
            .check
            .unwrap();
        assert_eq!(check.kind, CheckType::Command);
        assert_eq!(check.schedule.delay, Duration::from_millis(500));

        info.check = Some(CheckInfo {
            type_: Some(CheckType::Http),
            http: Some(CheckHttp {
                port: 8080,
                ..Default::default()
            }),
            ..Default::default()
        });
        let check = plan_task(&info, TaskKind::Group, &context())
            .unwrap()
            .check
            .unwrap();
        assert_eq!(
            check.target,
            ProbeTarget::Http {
                url: "http://127.0.0.3:8080/".to_owned()
            }
        );

        info.health_check = Some(HealthCheck {
            type_: Some(HealthCheckType::Tcp),
            tcp: Some(TcpCheckInfo {
                port: 9042,
                ..Default::default()
            }),
            ..Default::default()
        });
        let health = plan_task(&info, TaskKind::Group, &context())
            .unwrap()
            .health
            .unwrap();
        assert_eq!(
            health.target,
            ProbeTarget::Tcp {
                addr: "127.0.0.3:9042".parse().unwrap()
            }
        );
    }

    #[test]
    fn a_health_check_without_its_payload_is_an_invalid_task() {
        let mut info = task("t", CommandInfo::shell("true"));
        info.health_check = Some(HealthCheck {
            type_: Some(HealthCheckType::Http),
            ..Default::default()
        });
        let error = plan_task(&info, TaskKind::Group, &context()).unwrap_err();
        assert!(error.contains("invalid health check"), "{error}");
    }
}
