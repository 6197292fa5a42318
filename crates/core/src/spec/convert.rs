//! svc.yml (raw) → model: defaults, svc.yml-only spellings, and keys cairn refuses.
//!
//! Conversion never stops at the first problem: it always produces a model (with a neutral
//! value where the input was unusable) plus every problem found, so that validation can run on
//! the model too and the author sees all problems at once. It only checks what the model cannot
//! express (negative numbers, unknown enum spellings, refused keys); everything else is
//! [`super::validate()`]'s job, which builder-made specs go through as well.
//!
//! # Defaults
//!
//! | key | default |
//! |---|---|
//! | role (no key) | `<name>-role`, `/` written `__` |
//! | `scheduler.principal` | `<name>-principal`, `/` written `__` |
//! | `scheduler.user` | `nobody`, as the SDK's packages default to (not the user running the scheduler: a root scheduler must not mean root tasks) |
//! | `goal` | `RUNNING` (legacy `FINISHED` is read as `ONCE`, as dcos-commons did) |
//! | `essential` | true |
//! | volume `type` | `ROOT` |
//! | port `port` | 0 (dynamic) |
//! | `vip.prefix` / `vip.protocol` | the port name / `tcp` |
//! | `health-check` | interval 10, grace-period 10, max-consecutive-failures 3, delay 15, timeout 20 (Mesos') |
//! | `readiness-check` | interval 10, delay 15, timeout 20 (Mesos') |
//! | `strategy` | `serial` (`canary` is read as `serial-canary`) |
//! | `placement: ''` | no placement (templates often render an unset option as empty) |
//!
//! # Keys that are read but refused
//!
//! Never silently dropped: each is an error `<path>: not supported here: <why>` (DC/OS or
//! isolation features that cairn's clusters do not have) or `<path>: not supported yet: <why>`
//! (features cairn means to add).
//!
//! | key | where | answer | why |
//! |---|---|---|---|
//! | `secrets` | pod | here | DC/OS Enterprise secret store |
//! | `container` | pod | here | the old form of `image` and `networks` |
//! | `networks` | pod | here | virtual (overlay) networks are DC/OS networking; tasks use the agent's network |
//! | `image` | pod | here | container images need the Mesos containerizer's image provisioner; tasks run on the host filesystem |
//! | `seccomp-unconfined: true`, `seccomp-profile-name` | pod | here | DC/OS' seccomp isolator |
//! | `share-pid-namespace: true` | pod | here | needs the `namespaces/pid` isolator |
//! | `ipc-mode`, `shm-size` | pod, task | here | need the `namespaces/ipc` isolator |
//! | `external-volumes` | pod | here | Docker volume isolator (DVDI) and its drivers |
//! | `transport-encryption` | task | here | certificates from the DC/OS CA |
//! | volume `profiles` | volume | here | DC/OS Storage Service |
//! | `host-volumes` | pod | yet | host bind mounts without an image are plausible; not built |
//!
//! `configs` are read here: each `template` is a file beside the spec (read through
//! [`super::TemplateFiles`]), and its text goes into the model, so that a changed template is a
//! changed config. An unreadable file is a problem at `<path>.configs.<name>.template`.
//! `TASKCFG_*` variables are not routed here: they are the scheduler's settings, routed into
//! every spec it takes ([`super::taskcfg`], `SchedulerConfig::taskcfg`).
//!
//! Accepted although DC/OS-flavoured: `scheduler.zookeeper` (the ZooKeeper state store is
//! planned), `pre-reserved-role` (plain Mesos reservation refinement), port `vip` (published as
//! discovery info), `discovery`, pod-level `user` (overrides the service user for that pod;
//! dcos-commons silently ignored it).

use std::collections::BTreeMap;

use super::error::Report;
use super::model::*;
use super::placement::Placement;
use super::raw::*;

const CONTAINER: &str = "not supported here: `container` (an image and virtual networks) is the old DC/OS form of `image` and `networks`: images need the Mesos containerizer's image provisioner, and virtual networks are DC/OS networking";
const SECRETS: &str = "not supported here: secrets come from the DC/OS Enterprise secret store";
const NETWORKS: &str = "not supported here: virtual (overlay) networks are DC/OS networking; tasks use the agent's network";
const IMAGE: &str = "not supported here: container images need the Mesos containerizer's image provisioner; tasks run on the host filesystem in a sandbox";
const SECCOMP: &str = "not supported here: seccomp profiles need DC/OS' seccomp isolator";
const SHARE_PID: &str =
    "not supported here: sharing a PID namespace needs the namespaces/pid isolator";
const IPC: &str =
    "not supported here: IPC namespaces and /dev/shm sizing need the namespaces/ipc isolator";
const EXTERNAL_VOLUMES: &str =
    "not supported here: external volumes need the Docker volume isolator (DVDI) and its drivers";
const TLS: &str = "not supported here: certificates are issued by the DC/OS CA";
const PROFILES: &str = "not supported here: volume profiles come from the DC/OS Storage Service";
const HOST_VOLUMES: &str = "not supported yet: host bind mounts are not built yet";

/// A converted spec, the problems met on the way, and how to name model places in svc.yml.
pub(crate) struct Converted {
    pub(crate) spec: ServiceSpec,
    pub(crate) report: Report,
    /// (model path prefix, svc.yml path prefix) for volumes, which the model keeps in a list
    /// (`volumes[1]`) while svc.yml names them (`volume`, `volumes.data`).
    volume_paths: Vec<(String, String)>,
}

impl Converted {
    /// Rewrites a validation path from model form into the svc.yml form the author wrote.
    pub(crate) fn yaml_path(&self, path: &str) -> String {
        for (model, yaml) in &self.volume_paths {
            if let Some(rest) = path.strip_prefix(model.as_str()) {
                if rest.is_empty() || rest.starts_with('.') {
                    return format!("{yaml}{rest}");
                }
            }
        }
        path.to_string()
    }
}

struct Ctx<'a> {
    report: Report,
    volume_paths: Vec<(String, String)>,
    files: &'a dyn super::TemplateFiles,
}

pub(crate) fn convert(raw: RawServiceSpec, files: &dyn super::TemplateFiles) -> Converted {
    let mut cx = Ctx {
        report: Report::default(),
        volume_paths: Vec::new(),
        files,
    };
    let name = raw.name.unwrap_or_default();
    let scheduler = raw.scheduler.unwrap_or(RawScheduler {
        principal: None,
        user: None,
        zookeeper: None,
    });
    let user = scheduler
        .user
        .unwrap_or_else(|| ServiceSpec::DEFAULT_USER.to_string());
    let pods = raw
        .pods
        .unwrap_or_default()
        .0
        .into_iter()
        .map(|(type_name, pod)| convert_pod(&mut cx, type_name, pod))
        .collect();
    let plans = raw
        .plans
        .unwrap_or_default()
        .0
        .into_iter()
        .map(|(plan_name, plan)| convert_plan(&mut cx, plan_name, plan))
        .collect();
    let spec = ServiceSpec {
        role: ServiceSpec::default_role(&name),
        principal: scheduler
            .principal
            .unwrap_or_else(|| ServiceSpec::default_principal(&name)),
        name,
        user,
        web_url: raw.web_url,
        zookeeper: scheduler.zookeeper,
        pods,
        plans,
        replacement_failure_policy: raw
            .replacement_failure_policy
            .map(|p| convert_replacement_policy(&mut cx, p)),
    };
    Converted {
        spec,
        report: cx.report,
        volume_paths: cx.volume_paths,
    }
}

fn refuse_if<T>(cx: &mut Ctx<'_>, value: &Option<T>, path: String, why: &str) {
    if value.is_some() {
        cx.report.push(path, why);
    }
}

fn convert_pod(cx: &mut Ctx<'_>, type_name: String, raw: RawPod) -> PodSpec {
    let path = format!("pods.{type_name}");
    refuse_if(cx, &raw.secrets, format!("{path}.secrets"), SECRETS);
    refuse_if(cx, &raw.networks, format!("{path}.networks"), NETWORKS);
    refuse_if(cx, &raw.image, format!("{path}.image"), IMAGE);
    refuse_if(cx, &raw.container, format!("{path}.container"), CONTAINER);
    refuse_if(
        cx,
        &raw.seccomp_profile_name,
        format!("{path}.seccomp-profile-name"),
        SECCOMP,
    );
    if raw.seccomp_unconfined == Some(true) {
        cx.report
            .push(format!("{path}.seccomp-unconfined"), SECCOMP);
    }
    if raw.share_pid_namespace == Some(true) {
        cx.report
            .push(format!("{path}.share-pid-namespace"), SHARE_PID);
    }
    refuse_if(cx, &raw.ipc_mode, format!("{path}.ipc-mode"), IPC);
    refuse_if(cx, &raw.shm_size, format!("{path}.shm-size"), IPC);
    refuse_if(
        cx,
        &raw.external_volumes,
        format!("{path}.external-volumes"),
        EXTERNAL_VOLUMES,
    );
    refuse_if(
        cx,
        &raw.host_volumes,
        format!("{path}.host-volumes"),
        HOST_VOLUMES,
    );

    let count = match raw.count {
        None => {
            cx.report.push(format!("{path}.count"), "is required");
            0
        }
        Some(n) if n < 0 => {
            cx.report.push(format!("{path}.count"), "must be >= 0");
            0
        }
        // Beyond the model's range is beyond the limit too; said the way validation says it.
        Some(n) => u32::try_from(n).unwrap_or_else(|_| {
            cx.report.push(
                format!("{path}.count"),
                crate::spec::limits::POD_INSTANCES.refusal(n),
            );
            0
        }),
    };
    let placement = raw
        .placement
        .filter(|p| !p.trim().is_empty())
        .and_then(|text| match Placement::parse(&text) {
            Ok(p) => Some(p),
            Err(e) => {
                cx.report.push(format!("{path}.placement"), e.to_string());
                None
            }
        });
    let volumes = convert_volumes(
        cx,
        &format!("{path}.volumes"),
        &path,
        raw.volume,
        raw.volumes,
    );
    let mut resource_sets: Vec<ResourceSetSpec> = raw
        .resource_sets
        .unwrap_or_default()
        .0
        .into_iter()
        .map(|(id, set)| convert_resource_set(cx, &path, id, set))
        .collect();
    let mut tasks: Vec<TaskSpec> = raw
        .tasks
        .unwrap_or_default()
        .0
        .into_iter()
        .map(|(name, task)| convert_task(cx, &path, name, task))
        .collect();
    fold_task_sizes_into_sets(cx, &path, &mut tasks, &mut resource_sets);
    PodSpec {
        type_name,
        count,
        allow_decommission: raw.allow_decommission.unwrap_or(false),
        placement,
        uris: raw.uris.unwrap_or_default(),
        volumes,
        resource_sets,
        tasks,
        // `*` is how SDK specs (and their packages' default options) say "none".
        pre_reserved_role: raw.pre_reserved_role.filter(|r| r != "*"),
        user: raw.user,
        rlimits: convert_rlimits(cx, &path, raw.rlimits),
    }
}

/// `rlimits:` by POSIX name; the values' rules (both or neither, soft <= hard) are validation's.
fn convert_rlimits(
    cx: &mut Ctx,
    pod_path: &str,
    raw: Option<OrderedMap<Option<RawRlimit>>>,
) -> Vec<RlimitSpec> {
    let mut rlimits = Vec::new();
    for (name, value) in raw.unwrap_or_default().0 {
        let path = format!("{pod_path}.rlimits.{name}");
        let Some(resource) = cairn_proto::RlimitType::from_posix_name(&name) else {
            let known: Vec<String> = cairn_proto::RlimitType::ALL
                .iter()
                .map(|t| t.posix_name())
                .collect();
            cx.report.push(
                path,
                format!(
                    "unknown resource limit (expected one of: {})",
                    known.join(", ")
                ),
            );
            continue;
        };
        let value = value.unwrap_or(RawRlimit {
            soft: None,
            hard: None,
        });
        let mut limit = |key: &str, n: Option<i64>| match n {
            Some(n) if n < 0 => {
                cx.report.push(format!("{path}.{key}"), "must be >= 0");
                Some(0)
            }
            n => n.map(|n| n.unsigned_abs()),
        };
        let soft = limit("soft", value.soft);
        let hard = limit("hard", value.hard);
        rlimits.push(RlimitSpec {
            resource,
            soft,
            hard,
        });
    }
    rlimits
}

fn convert_resource_set(
    cx: &mut Ctx<'_>,
    pod_path: &str,
    id: String,
    raw: RawResourceSet,
) -> ResourceSetSpec {
    let path = format!("{pod_path}.resource-sets.{id}");
    let resources = convert_resources(cx, &path, raw.cpus, raw.memory, raw.gpus, raw.ports);
    let volumes = convert_volumes(
        cx,
        &format!("{path}.volumes"),
        &path,
        raw.volume,
        raw.volumes,
    );
    ResourceSetSpec {
        id,
        resources,
        volumes,
        resource_limits: convert_limits(cx, &path, raw.resource_limits),
    }
}

fn convert_resources(
    cx: &mut Ctx<'_>,
    path: &str,
    cpus: Option<f64>,
    memory: Option<i64>,
    gpus: Option<f64>,
    ports: Option<OrderedMap<RawPort>>,
) -> ResourceSpec {
    let key = format!("{path}.gpus");
    let gpus = match gpus {
        None => 0,
        // NaN too.
        Some(n) if n.is_nan() || n < 0.0 => {
            cx.report.push(key, "must be >= 0");
            0
        }
        // Mesos refuses fractional GPUs: a task gets whole devices or none.
        Some(n) if n.fract() != 0.0 => {
            cx.report.push(
                key,
                format!(
                    "{n} is not a whole number (GPUs are whole devices; Mesos refuses fractions)"
                ),
            );
            0
        }
        // Above the limit, validation refuses it; the exact large value does not matter.
        Some(n) => u32::try_from(n as u64).unwrap_or(u32::MAX),
    };
    ResourceSpec {
        cpus: cpus.unwrap_or(0.0),
        // Negative memory becomes 0, which validation reports as `must be > 0`.
        memory_mb: memory.map_or(0, |m| u64::try_from(m).unwrap_or(0)),
        ports: ports
            .unwrap_or_default()
            .0
            .into_iter()
            .map(|(name, port)| convert_port(cx, &format!("{path}.ports.{name}"), name, port))
            .collect(),
        gpus,
    }
}

fn convert_task(cx: &mut Ctx<'_>, pod_path: &str, name: String, raw: RawTask) -> TaskSpec {
    let path = format!("{pod_path}.tasks.{name}");
    refuse_if(
        cx,
        &raw.transport_encryption,
        format!("{path}.transport-encryption"),
        TLS,
    );
    refuse_if(cx, &raw.ipc_mode, format!("{path}.ipc-mode"), IPC);
    refuse_if(cx, &raw.shm_size, format!("{path}.shm-size"), IPC);
    let goal = match raw.goal.as_deref() {
        None | Some("RUNNING") => Goal::Running,
        Some("FINISH") => Goal::Finish,
        Some("ONCE" | "FINISHED") => Goal::Once,
        Some(other) => {
            cx.report.push(
                format!("{path}.goal"),
                format!("unknown goal `{other}` (expected RUNNING, FINISH or ONCE)"),
            );
            Goal::Running
        }
    };
    let kill_grace_period_s = raw.kill_grace_period.map(|s| {
        u32::try_from(s).unwrap_or_else(|_| {
            let why = if s < 0 {
                crate::spec::validate::KILL_GRACE_RANGE.to_string()
            } else {
                crate::spec::limits::KILL_GRACE_SECONDS.refusal(s)
            };
            cx.report.push(format!("{path}.kill-grace-period"), why);
            0
        })
    });
    let resources = convert_resources(cx, &path, raw.cpus, raw.memory, raw.gpus, raw.ports);
    let volumes = convert_volumes(
        cx,
        &format!("{path}.volumes"),
        &path,
        raw.volume,
        raw.volumes,
    );
    let health_check = raw
        .health_check
        .map(|h| convert_health_check(cx, &format!("{path}.health-check"), h));
    let readiness_check = raw
        .readiness_check
        .map(|r| convert_readiness_check(cx, &format!("{path}.readiness-check"), r));
    let discovery = raw
        .discovery
        .map(|d| convert_discovery(cx, &format!("{path}.discovery"), d));
    TaskSpec {
        goal,
        essential: raw.essential.unwrap_or(true),
        cmd: raw.cmd.unwrap_or_default(),
        // A null value (`FOO:`, often an empty template variable) is the empty string.
        env: raw
            .env
            .unwrap_or_default()
            .0
            .into_iter()
            .map(|(k, v)| (k, v.unwrap_or_default()))
            .collect(),
        configs: convert_configs(cx, &path, raw.configs),
        resources,
        volumes,
        resource_set: raw.resource_set,
        health_check,
        readiness_check,
        kill_grace_period_s,
        labels: convert_labels(cx, &format!("{path}.labels"), raw.labels),
        discovery,
        uris: raw.uris.unwrap_or_default(),
        resource_limits: convert_limits(cx, &path, raw.resource_limits),
        name,
    }
}

/// `resource-limits: {cpus, memory}`: each a number or `unlimited` (also `Infinity`, and
/// numbers in quotes, as SDK specs write them). Whether they are at least the request is
/// validation's.
fn convert_limits(
    cx: &mut Ctx<'_>,
    owner_path: &str,
    raw: Option<RawResourceLimits>,
) -> ResourceLimits {
    let Some(raw) = raw else {
        return ResourceLimits::default();
    };
    let mut read = |key: &str, value: Option<RawLimit>| {
        let path = format!("{owner_path}.resource-limits.{key}");
        let number = match value? {
            RawLimit::Text(t)
                if t.eq_ignore_ascii_case("unlimited") || t.eq_ignore_ascii_case("infinity") =>
            {
                return Some(ResourceLimit::Unlimited)
            }
            RawLimit::Text(t) => match t.trim().parse::<f64>() {
                Ok(n) => n,
                Err(_) => {
                    cx.report
                        .push(path, format!("`{t}` is not a number or `unlimited`"));
                    return None;
                }
            },
            RawLimit::Number(n) => n,
        };
        if !number.is_finite() || number <= 0.0 {
            cx.report.push(path, "must be a number > 0, or `unlimited`");
            return None;
        }
        Some(ResourceLimit::At(number))
    };
    ResourceLimits {
        cpus: read("cpus", raw.cpus),
        memory_mb: read("memory", raw.memory),
    }
}

/// Reads each config's template through the context's files; a problem is said at the key.
fn convert_configs(
    cx: &mut Ctx<'_>,
    task_path: &str,
    raw: Option<OrderedMap<RawConfig>>,
) -> Vec<ConfigFileSpec> {
    let mut configs = Vec::new();
    for (name, config) in raw.unwrap_or_default().0 {
        let path = format!("{task_path}.configs.{name}");
        if config.dest.is_none() {
            cx.report.push(format!("{path}.dest"), "is required");
        }
        let template = match config.template.as_deref() {
            None => {
                cx.report.push(format!("{path}.template"), "is required");
                String::new()
            }
            Some(file) => cx.files.read(file).unwrap_or_else(|why| {
                cx.report.push(format!("{path}.template"), why);
                String::new()
            }),
        };
        configs.push(ConfigFileSpec {
            // Missing (said above): a stand-in that validation takes, so the one problem is
            // not echoed as "the path is empty".
            // `./conf/x.yaml` is how SDK specs often write a sandbox path, and the SDK takes it:
            // the `.` components say nothing, so they are dropped.
            dest: config.dest.map_or_else(
                || format!("{name}.missing-dest"),
                |dest| without_dot_components(&dest),
            ),
            template,
            name,
        });
    }
    configs
}

fn convert_health_check(cx: &mut Ctx<'_>, path: &str, raw: RawHealthCheck) -> HealthCheckSpec {
    let d = HealthCheckSpec::new("");
    HealthCheckSpec {
        cmd: raw.cmd.unwrap_or_default(),
        interval_s: seconds(cx, path, "interval", raw.interval, d.interval_s, true),
        grace_period_s: seconds(
            cx,
            path,
            "grace-period",
            raw.grace_period,
            d.grace_period_s,
            false,
        ),
        max_consecutive_failures: seconds(
            cx,
            path,
            "max-consecutive-failures",
            raw.max_consecutive_failures,
            d.max_consecutive_failures,
            true,
        ),
        delay_s: seconds(cx, path, "delay", raw.delay, d.delay_s, false),
        timeout_s: seconds(cx, path, "timeout", raw.timeout, d.timeout_s, true),
    }
}

fn convert_readiness_check(
    cx: &mut Ctx<'_>,
    path: &str,
    raw: RawReadinessCheck,
) -> ReadinessCheckSpec {
    let d = ReadinessCheckSpec::new("");
    ReadinessCheckSpec {
        cmd: raw.cmd.unwrap_or_default(),
        interval_s: seconds(cx, path, "interval", raw.interval, d.interval_s, true),
        delay_s: seconds(cx, path, "delay", raw.delay, d.delay_s, false),
        timeout_s: seconds(cx, path, "timeout", raw.timeout, d.timeout_s, true),
    }
}

fn convert_discovery(cx: &mut Ctx<'_>, path: &str, raw: RawDiscovery) -> DiscoverySpec {
    let visibility = raw.visibility.and_then(|v| match v.as_str() {
        "FRAMEWORK" => Some(Visibility::Framework),
        "CLUSTER" => Some(Visibility::Cluster),
        "EXTERNAL" => Some(Visibility::External),
        other => {
            cx.report.push(
                format!("{path}.visibility"),
                format!("unknown visibility `{other}` (expected FRAMEWORK, CLUSTER or EXTERNAL)"),
            );
            None
        }
    });
    DiscoverySpec {
        prefix: raw.prefix,
        visibility,
    }
}

/// A count of seconds (or of failures). With `positive`, validation already says `must be > 0`
/// for 0, so a negative value is passed on as 0 rather than reported twice.
fn seconds(
    cx: &mut Ctx<'_>,
    path: &str,
    key: &str,
    value: Option<i64>,
    default: u32,
    positive: bool,
) -> u32 {
    match value {
        None => default,
        Some(n) if n < 0 => {
            if !positive {
                cx.report.push(format!("{path}.{key}"), "must be >= 0");
            }
            0
        }
        // Beyond the model's range is beyond the limit too; said the way validation says it.
        Some(n) => u32::try_from(n).unwrap_or_else(|_| {
            let limit = if key == "max-consecutive-failures" {
                &crate::spec::limits::CHECK_FAILURES
            } else {
                &crate::spec::limits::CHECK_SECONDS
            };
            cx.report.push(format!("{path}.{key}"), limit.refusal(n));
            // Reported once: the limit itself passes every later check.
            limit.max as u32
        }),
    }
}

fn convert_labels(
    cx: &mut Ctx<'_>,
    path: &str,
    raw: Option<RawLabels>,
) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    match raw {
        None => {}
        Some(RawLabels::Map(entries)) => {
            labels.extend(entries.into_iter().map(|(k, v)| (k, v.unwrap_or_default())));
        }
        Some(RawLabels::Csv(csv)) => {
            for pair in csv.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                match pair.split_once(':') {
                    Some((k, v)) if !k.trim().is_empty() => {
                        if labels
                            .insert(k.trim().to_string(), v.trim().to_string())
                            .is_some()
                        {
                            cx.report.push(
                                path.to_string(),
                                format!("label `{}` is given twice", k.trim()),
                            );
                        }
                    }
                    _ => cx.report.push(
                        path.to_string(),
                        format!("`{pair}` is not a `key:value` pair"),
                    ),
                }
            }
        }
    }
    labels
}

fn convert_port(cx: &mut Ctx<'_>, path: &str, name: String, raw: RawPort) -> PortSpec {
    let port_number = |cx: &mut Ctx<'_>, key: String, n: i64| {
        u16::try_from(n).unwrap_or_else(|_| {
            cx.report.push(key, "must be within 0..=65535");
            0
        })
    };
    let port = port_number(cx, format!("{path}.port"), raw.port.unwrap_or(0));
    let vip = raw.vip.map(|v| VipSpec {
        prefix: v.prefix.unwrap_or_else(|| name.clone()),
        port: port_number(cx, format!("{path}.vip.port"), v.port.unwrap_or(0)),
        protocol: match v.protocol.as_deref() {
            None | Some("tcp") => VipProtocol::Tcp,
            Some("udp") => VipProtocol::Udp,
            Some(other) => {
                cx.report.push(
                    format!("{path}.vip.protocol"),
                    format!("unknown protocol `{other}` (expected tcp or udp)"),
                );
                VipProtocol::Tcp
            }
        },
    });
    let ranges = raw
        .ranges
        .unwrap_or_default()
        .into_iter()
        .enumerate()
        .map(|(i, r)| {
            let rp = format!("{path}.ranges[{i}]");
            // An open end reaches the end of the port space, as the DC/OS SDK reads it.
            let mut bound = |key: &str, v: Option<i64>, open: i64| {
                port_number(cx, format!("{rp}.{key}"), v.unwrap_or(open))
            };
            PortRange {
                begin: bound("begin", r.begin, 0),
                end: bound("end", r.end, i64::from(u16::MAX)),
            }
        })
        .collect();
    PortSpec {
        name,
        port,
        env_key: raw.env_key,
        advertise: raw.advertise.unwrap_or(false),
        vip,
        ranges,
    }
}

/// `volume` then the entries of `volumes`, in order. Records how each model index is named in
/// svc.yml, for validation messages.
fn convert_volumes(
    cx: &mut Ctx<'_>,
    model_prefix: &str,
    yaml_parent: &str,
    single: Option<RawVolume>,
    named: Option<OrderedMap<RawVolume>>,
) -> Vec<VolumeSpec> {
    let entries = single
        .map(|v| (format!("{yaml_parent}.volume"), v))
        .into_iter()
        .chain(
            named
                .unwrap_or_default()
                .0
                .into_iter()
                .map(|(name, v)| (format!("{yaml_parent}.volumes.{name}"), v)),
        );
    let mut volumes = Vec::new();
    for (i, (yaml_path, raw)) in entries.enumerate() {
        refuse_if(cx, &raw.profiles, format!("{yaml_path}.profiles"), PROFILES);
        let type_ = match raw.type_.as_deref() {
            None | Some("ROOT") => VolumeType::Root,
            Some("MOUNT") => VolumeType::Mount,
            Some(other) => {
                cx.report.push(
                    format!("{yaml_path}.type"),
                    format!("unknown volume type `{other}` (expected ROOT or MOUNT)"),
                );
                VolumeType::Root
            }
        };
        volumes.push(VolumeSpec {
            path: raw.path.unwrap_or_default(),
            type_,
            // Negative or missing sizes become 0, which validation reports as `must be > 0`.
            size_mb: raw.size.map_or(0, |s| u64::try_from(s).unwrap_or(0)),
        });
        cx.volume_paths
            .push((format!("{model_prefix}[{i}]"), yaml_path));
    }
    volumes
}

fn parse_strategy(cx: &mut Ctx<'_>, path: String, raw: Option<String>) -> Strategy {
    match raw.as_deref() {
        None | Some("serial") => Strategy::Serial,
        Some("parallel") => Strategy::Parallel,
        Some("serial-canary" | "canary") => Strategy::SerialCanary,
        Some("parallel-canary") => Strategy::ParallelCanary,
        Some(other) => {
            cx.report.push(
                path,
                format!("unknown strategy `{other}` (expected serial, parallel, serial-canary, canary or parallel-canary)"),
            );
            Strategy::Serial
        }
    }
}

fn convert_plan(cx: &mut Ctx<'_>, name: String, raw: RawPlan) -> PlanSpec {
    let path = format!("plans.{name}");
    let strategy = parse_strategy(cx, format!("{path}.strategy"), raw.strategy);
    let phases = raw
        .phases
        .unwrap_or_default()
        .0
        .into_iter()
        .map(|(phase_name, phase)| {
            let pp = format!("{path}.phases.{phase_name}");
            PhaseSpec {
                strategy: parse_strategy(cx, format!("{pp}.strategy"), phase.strategy),
                pod: phase.pod.unwrap_or_default(),
                steps: phase
                    .steps
                    .unwrap_or_default()
                    .into_iter()
                    .enumerate()
                    .filter_map(|(i, entry)| convert_step(cx, &format!("{pp}.steps[{i}]"), entry))
                    .collect(),
                name: phase_name,
            }
        })
        .collect();
    PlanSpec {
        name,
        strategy,
        phases,
    }
}

fn convert_step(
    cx: &mut Ctx<'_>,
    path: &str,
    entry: OrderedMap<Vec<Vec<String>>>,
) -> Option<StepSpec> {
    let mut entries = entry.0;
    if entries.len() != 1 {
        cx.report.push(
            path.to_string(),
            format!(
                "a step entry has exactly one key, an instance index or `default` (found {})",
                entries.len()
            ),
        );
        return None;
    }
    let (key, task_groups) = entries.remove(0);
    let index = if key == "default" {
        StepIndex::Default
    } else {
        match key.parse::<u32>() {
            Ok(n) if key.bytes().all(|b| b.is_ascii_digit()) => StepIndex::Index(n),
            _ => {
                cx.report.push(
                    format!("{path}.{key}"),
                    "a step key is an instance index or `default`",
                );
                return None;
            }
        }
    };
    Some(StepSpec { index, task_groups })
}

/// `dest` without its `.` components (`./a/./b` is `a/b`); anything else is left for validation.
fn without_dot_components(dest: &str) -> String {
    if !dest.split('/').any(|c| c == ".") {
        return dest.to_string();
    }
    let kept: Vec<&str> = dest.split('/').filter(|c| *c != ".").collect();
    kept.join("/")
}

/// A resource set of ports alone, whose task gives the cpus and memory (`resource-set:` beside
/// `cpus:` and `memory:`, as the SDK's multiport example writes it): the set is sized by its
/// task. dcos-commons silently ignored the task's numbers and ran it with none; cairn takes
/// them as the set's, which is what the author wrote. Two tasks sizing one set differently are
/// refused, and a set that has a size of its own keeps it (validation then refuses the task's
/// numbers as a task with both).
fn fold_task_sizes_into_sets(
    cx: &mut Ctx<'_>,
    pod_path: &str,
    tasks: &mut [TaskSpec],
    sets: &mut [ResourceSetSpec],
) {
    let mut sized_by: BTreeMap<String, (String, f64, u64)> = BTreeMap::new();
    for task in tasks.iter_mut() {
        let Some(set) = task
            .resource_set
            .as_deref()
            .and_then(|id| sets.iter_mut().find(|s| s.id == id))
        else {
            continue;
        };
        let own = &task.resources;
        if !own.ports.is_empty() || own.gpus > 0 || (own.cpus == 0.0 && own.memory_mb == 0) {
            continue;
        }
        let size = (own.cpus, own.memory_mb);
        match sized_by.get(&set.id) {
            Some((other, cpus, memory)) if (*cpus, *memory) != size => {
                cx.report.push(
                    format!("{pod_path}.tasks.{}", task.name),
                    format!(
                        "sizes resource set `{}` with cpus {} and memory {}, but task `{other}` sizes it with cpus {cpus} and memory {memory}: give the set its own cpus and memory",
                        set.id, size.0, size.1
                    ),
                );
            }
            Some(_) => {}
            None if set.resources.cpus == 0.0 && set.resources.memory_mb == 0 => {
                set.resources.cpus = size.0;
                set.resources.memory_mb = size.1;
                sized_by.insert(set.id.clone(), (task.name.clone(), size.0, size.1));
            }
            // The set has a size of its own: the task's numbers are a mistake validation names.
            None => continue,
        }
        task.resources.cpus = 0.0;
        task.resources.memory_mb = 0;
    }
}

/// `replacement-failure-policy`: each value in seconds or minutes (not both); what is missing
/// takes the default.
fn convert_replacement_policy(
    cx: &mut Ctx<'_>,
    raw: RawReplacementFailurePolicy,
) -> ReplacementFailurePolicy {
    const PATH: &str = "replacement-failure-policy";
    let default = ReplacementFailurePolicy::default();
    let mut seconds = |name: &str, secs: Option<i64>, mins: Option<i64>, otherwise: u64| {
        let value = match (secs, mins) {
            (Some(_), Some(_)) => {
                cx.report.push(
                    format!("{PATH}.{name}-mins"),
                    format!("give `{name}-secs` or `{name}-mins`, not both"),
                );
                return otherwise;
            }
            (Some(s), None) => s,
            (None, Some(m)) => m.saturating_mul(60),
            (None, None) => return otherwise,
        };
        let key = if secs.is_some() { "secs" } else { "mins" };
        u64::try_from(value).unwrap_or_else(|_| {
            cx.report
                .push(format!("{PATH}.{name}-{key}"), "must be >= 0");
            otherwise
        })
    };
    ReplacementFailurePolicy {
        permanent_failure_timeout_s: seconds(
            "permanent-failure-timeout",
            raw.permanent_failure_timeout_secs,
            raw.permanent_failure_timeout_mins,
            default.permanent_failure_timeout_s,
        ),
        min_replace_delay_s: seconds(
            "min-replace-delay",
            raw.min_replace_delay_secs,
            raw.min_replace_delay_mins,
            default.min_replace_delay_s,
        ),
    }
}
