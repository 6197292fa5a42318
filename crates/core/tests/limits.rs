//! The documented limits of a spec: each one accepted at its value and refused one past it,
//! naming the place and the limit; svc.yml's size and nesting refused before they cost time.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use cairn_core::spec::limits::{self, Limit, LIMITS};
use cairn_core::spec::*;

/// One pod type `data` of one instance, one task `node`, nothing else.
fn base() -> ServiceSpec {
    ServiceSpec::builder("svc")
        .pod(
            PodSpec::builder("data")
                .count(1)
                .task(TaskSpec::builder("node").cmd("run").cpus(0.1).memory_mb(32)),
        )
        .build()
        .expect("the base spec is valid")
}

fn task(spec: &mut ServiceSpec) -> &mut TaskSpec {
    &mut spec.pods[0].tasks[0]
}

fn named_task(name: String) -> TaskSpec {
    TaskSpec::builder(name)
        .cmd("run")
        .cpus(0.1)
        .memory_mb(32)
        .build()
}

fn other_pod(name: String, count: u32) -> PodSpec {
    PodSpec {
        type_name: name,
        count,
        allow_decommission: false,
        placement: None,
        uris: Vec::new(),
        volumes: Vec::new(),
        resource_sets: Vec::new(),
        tasks: vec![named_task("node".into())],
        pre_reserved_role: None,
        user: None,
        rlimits: Vec::new(),
    }
}

fn phase(name: String) -> PhaseSpec {
    PhaseSpec::new(name, "data")
}

/// The size of `spec`'s stored form.
fn json_len(spec: &ServiceSpec) -> u64 {
    serde_json::to_vec(spec).unwrap().len() as u64
}

/// How a limit is reached: `set(spec, n)` makes the spec hold `n` of what the limit counts,
/// and the refusal one past it is named at `path`.
struct Case {
    limit: Limit,
    path: &'static str,
    set: fn(&mut ServiceSpec, u64),
    /// The refusal speaks of a length (`is N bytes long`) rather than a count.
    length: bool,
}

fn cases() -> Vec<Case> {
    let count = |limit, path, set| Case {
        limit,
        path,
        set,
        length: false,
    };
    let length = |limit, path, set| Case {
        limit,
        path,
        set,
        length: true,
    };
    vec![
        count(limits::POD_TYPES, "pods", |s, n| {
            for i in 1..n {
                s.pods.push(other_pod(format!("p{i}"), 1));
            }
        }),
        count(limits::POD_INSTANCES, "pods.data.count", |s, n| {
            s.pods[0].count = n as u32;
        }),
        count(limits::TASK_INSTANCES, "pods", |s, n| {
            // Each pod type within its own limit; together one past the service's.
            s.pods[0].count = 5_000;
            s.pods.push(other_pod("other".into(), (n - 5_000) as u32));
        }),
        count(limits::TASKS_PER_POD, "pods.data.tasks", |s, n| {
            for i in 1..n {
                s.pods[0].tasks.push(named_task(format!("t{i}")));
            }
        }),
        count(limits::RESOURCE_SETS, "pods.data.resource-sets", |s, n| {
            for i in 0..n {
                let set = ResourceSetSpec::new(format!("s{i}"))
                    .cpus(0.1)
                    .memory_mb(32);
                s.pods[0].resource_sets.push(set);
            }
        }),
        count(limits::CPUS, "pods.data.tasks.node.cpus", |s, n| {
            task(s).resources.cpus = n as f64;
        }),
        count(limits::GPUS, "pods.data.tasks.node.gpus", |s, n| {
            task(s).resources.gpus = n as u32;
        }),
        count(limits::MEMORY_MB, "pods.data.tasks.node.memory", |s, n| {
            task(s).resources.memory_mb = n;
        }),
        count(
            limits::VOLUME_MB,
            "pods.data.tasks.node.volumes[0].size",
            |s, n| {
                task(s).volumes.push(VolumeSpec::root("v", n));
            },
        ),
        count(limits::VOLUMES, "pods.data", |s, n| {
            for i in 0..n {
                task(s).volumes.push(VolumeSpec::root(format!("v{i}"), 1));
            }
        }),
        count(limits::PORTS, "pods.data.tasks.node.ports", |s, n| {
            for i in 0..n {
                task(s)
                    .resources
                    .ports
                    .push(PortSpec::new(format!("p{i}"), 0));
            }
        }),
        count(
            limits::PORT_RANGES,
            "pods.data.tasks.node.ports.p.ranges",
            |s, n| {
                let mut port = PortSpec::new("p", 0);
                for _ in 0..n {
                    port = port.range(31000, 32000);
                }
                task(s).resources.ports.push(port);
            },
        ),
        count(limits::URIS, "pods.data.uris", |s, n| {
            for i in 0..n {
                s.pods[0].uris.push(format!("http://example.com/{i}"));
            }
        }),
        count(limits::CONFIGS, "pods.data.tasks.node.configs", |s, n| {
            for i in 0..n {
                task(s)
                    .configs
                    .push(ConfigFileSpec::new(format!("c{i}"), format!("c{i}"), "x"));
            }
        }),
        length(
            limits::TEMPLATE_BYTES,
            "pods.data.tasks.node.configs.c.template",
            |s, n| {
                let text = "x".repeat(n as usize);
                task(s).configs.push(ConfigFileSpec::new("c", "c", text));
            },
        ),
        count(limits::ENV, "pods.data.tasks.node.env", |s, n| {
            for i in 0..n {
                task(s).env.insert(format!("V{i}"), "x".into());
            }
        }),
        count(limits::LABELS, "pods.data.tasks.node.labels", |s, n| {
            for i in 0..n {
                task(s).labels.insert(format!("l{i}"), "x".into());
            }
        }),
        length(limits::COMMAND_BYTES, "pods.data.tasks.node.cmd", |s, n| {
            task(s).cmd = "x".repeat(n as usize);
        }),
        length(limits::ENV_BYTES, "pods.data.tasks.node.env.V", |s, n| {
            // `V=` and the value.
            task(s).env.insert("V".into(), "x".repeat(n as usize - 2));
        }),
        length(limits::STRING_BYTES, "pods.data.uris[0]", |s, n| {
            s.pods[0].uris.push("x".repeat(n as usize));
        }),
        count(limits::LAUNCH_BYTES, "pods.data.tasks.node", |s, n| {
            // `run` plus five variables of `Vi=` and a value: each under its own limit.
            let each = (n - 3) / 5;
            for i in 0..5u64 {
                let value = if i == 4 { n - 3 - 4 * each } else { each };
                task(s)
                    .env
                    .insert(format!("V{i}"), "x".repeat(value as usize - 3));
            }
        }),
        count(limits::SERVICE_LAUNCH_BYTES, "pods", |s, n| {
            // 8,192 instances of a task whose launch data is n / 8,192 bytes (rounded up).
            s.pods[0].count = 8_192;
            task(s).cmd = "x".repeat(n.div_ceil(8_192) as usize);
        }),
        count(limits::SPEC_BYTES, "spec", |s, n| {
            // Three tasks' environments, each within the task limits, together n bytes of
            // JSON: measured, then topped up one byte at a time.
            for t in 1..3 {
                s.pods[0].tasks.push(named_task(format!("t{t}")));
            }
            for t in 0..3 {
                for v in 0..4 {
                    let env = &mut s.pods[0].tasks[t].env;
                    env.insert(format!("V{v}"), "x".repeat(85_000));
                }
            }
            let missing = n - json_len(s);
            let top = s.pods[0].tasks[0].env.get_mut("V0").unwrap();
            top.push_str(&"x".repeat(missing as usize));
            assert_eq!(json_len(s), n);
        }),
        count(
            limits::CHECK_SECONDS,
            "pods.data.tasks.node.health-check.interval",
            |s, n| {
                let mut check = HealthCheckSpec::new("true");
                check.interval_s = n as u32;
                check.timeout_s = 1;
                task(s).health_check = Some(check);
            },
        ),
        count(
            limits::CHECK_FAILURES,
            "pods.data.tasks.node.health-check.max-consecutive-failures",
            |s, n| {
                let mut check = HealthCheckSpec::new("true");
                check.max_consecutive_failures = n as u32;
                task(s).health_check = Some(check);
            },
        ),
        count(
            limits::KILL_GRACE_SECONDS,
            "pods.data.tasks.node.kill-grace-period",
            |s, n| {
                task(s).kill_grace_period_s = Some(n as u32);
            },
        ),
        count(
            limits::REPLACE_SECONDS,
            "replacement-failure-policy.permanent-failure-timeout",
            |s, n| {
                s.replacement_failure_policy = Some(ReplacementFailurePolicy {
                    permanent_failure_timeout_s: n,
                    min_replace_delay_s: 60,
                });
            },
        ),
        count(limits::PLANS, "plans", |s, n| {
            for i in 0..n {
                let plan = PlanSpec::new(format!("p{i}")).phase(phase("all".into()));
                s.plans.push(plan);
            }
        }),
        count(limits::PHASES, "plans.deploy.phases", |s, n| {
            let mut plan = PlanSpec::new("deploy");
            for i in 0..n {
                plan = plan.phase(phase(format!("p{i}")));
            }
            s.plans.push(plan);
        }),
        count(limits::STEPS, "plans.deploy", |s, n| {
            // Two steps per instance, and one instance with a third when past the limit.
            s.pods[0].count = 10_000;
            let mut p = phase("all".into()).step(StepSpec::default_for([["node"], ["node"]]));
            if n % 2 == 1 {
                p = p.step(StepSpec::new(
                    StepIndex::Index(0),
                    [["node"], ["node"], ["node"]],
                ));
            }
            s.plans.push(PlanSpec::new("deploy").phase(p));
        }),
    ]
}

// Goal: every documented limit is enforced exactly: the spec at the limit is valid, one past
// it is refused at the path, with the limit's own words. Method: one case per row of the
// limits table (a row without a case fails the test), each applied at max and at max + 1.
#[test]
fn every_limit_accepts_its_value_and_refuses_one_more_naming_the_place_and_the_limit() {
    let cases = cases();
    for limit in LIMITS {
        let handled = cases.iter().any(|c| c.limit == *limit) || *limit == limits::NESTING; // svc.yml only: see the YAML tests below.
        assert!(handled, "no case for the limit of {}", limit.what);
    }
    for case in &cases {
        let what = case.limit.what;
        let mut at = base();
        (case.set)(&mut at, case.limit.max);
        if let Err(e) = validate(&at) {
            panic!("{what}: refused at the limit:\n{e}");
        }
        let past_value = case.limit.max + 1;
        let mut past = base();
        (case.set)(&mut past, past_value);
        let errors = validate(&past).expect_err(what).lines();
        let shown = match case.limit {
            l if l == limits::SERVICE_LAUNCH_BYTES => 8_192 * past_value.div_ceil(8_192),
            _ => past_value,
        };
        let message = if case.length {
            case.limit.length_refusal(shown as usize)
        } else {
            case.limit.refusal(shown)
        };
        let want = format!("{}: {message}", case.path);
        assert!(
            errors.contains(&want),
            "{what}: want\n{want}\nin {errors:#?}"
        );
    }
}

#[test]
fn cpus_that_round_to_zero_at_mesos_precision_are_refused_and_huge_ones_too() {
    let with_cpus = |cpus: f64| {
        let mut s = base();
        task(&mut s).resources.cpus = cpus;
        validate(&s).map_err(|e| e.lines())
    };
    assert!(with_cpus(0.0005).is_ok(), "0.0005 rounds to 0.001");
    assert_eq!(
        with_cpus(0.0004).unwrap_err(),
        ["pods.data.tasks.node.cpus: 0.0004 rounds to 0 at Mesos' precision of 0.001 (three decimals)"]
    );
    assert_eq!(
        with_cpus(1e-300).unwrap_err(),
        ["pods.data.tasks.node.cpus: 1e-300 rounds to 0 at Mesos' precision of 0.001 (three decimals)"]
    );
    assert_eq!(
        with_cpus(1e16).unwrap_err(),
        ["pods.data.tasks.node.cpus: 1e16 is more than the limit of 4096 cpus per task or resource set"]
    );
}

fn env() -> BTreeMap<String, String> {
    BTreeMap::new()
}

fn data_pod(count: &str) -> String {
    format!(
        "name: svc\npods:\n  data:\n    count: {count}\n    tasks:\n      node:\n        cmd: run\n        cpus: 0.1\n        memory: 32\n"
    )
}

#[test]
fn a_svc_yml_count_past_the_limit_is_refused_with_its_path_however_large() {
    for count in ["4294967295", "99999999999", "10001"] {
        let errors = parse_yaml(&data_pod(count), &env()).unwrap_err().lines();
        assert_eq!(
            errors,
            [format!(
                "pods.data.count: {count} is more than the limit of 10000 pod instances per pod type (line 4)"
            )]
        );
    }
    assert_eq!(
        parse_yaml(&data_pod("10000"), &env()).unwrap().pods[0].count,
        10_000
    );
}

#[test]
fn a_check_timing_past_the_model_range_names_the_limit() {
    let yaml = format!(
        "{}        health-check:\n          cmd: 'true'\n          interval: 99999999999\n",
        data_pod("1")
    );
    assert_eq!(
        parse_yaml(&yaml, &env()).unwrap_err().lines(),
        ["pods.data.tasks.node.health-check.interval: 99999999999 is more than the limit of 86400 seconds per check interval, timeout, delay or grace period (line 12)"]
    );
}

/// `external-volumes` (refused for its own reason) holding `flow` nested flow sequences: the
/// line is 3 block levels deep before them (the top, `pods`, `data`).
fn deep_refused_key(flow: usize) -> String {
    let value = format!("{}{}", "[".repeat(flow), "]".repeat(flow));
    data_pod("1").replace(
        "    count: 1\n",
        &format!("    count: 1\n    external-volumes: {value}\n"),
    )
}

#[test]
fn yaml_nested_past_the_limit_is_refused_naming_the_line_and_the_limit() {
    let at = parse_yaml(&deep_refused_key(29), &env())
        .unwrap_err()
        .lines();
    assert_eq!(
        at,
        ["pods.data.external-volumes: not supported here: external volumes need the Docker volume isolator (DVDI) and its drivers (line 5)"],
        "32 levels are parsed"
    );
    let past = parse_yaml(&deep_refused_key(30), &env())
        .unwrap_err()
        .lines();
    assert_eq!(
        past,
        [format!(
            "line 5: nests 33 levels deep, more than the limit of 32 {}",
            limits::NESTING.what
        )]
    );
}

// Goal: the 100,000-deep document that took the parser more than 30 s is refused at once, in
// every form a document can nest. Method: flow sequences, flow mappings and block sequences,
// each timed.
#[test]
fn a_yaml_document_nested_100000_deep_is_refused_within_a_second() {
    let n = 100_000;
    let documents = [
        format!("name: {}{}", "[".repeat(n), "]".repeat(n)),
        format!("name: {}x{}", "{a: ".repeat(n), "}".repeat(n)),
        format!("pods:\n{}x\n", "- ".repeat(n)),
    ];
    for doc in documents {
        let started = Instant::now();
        let errors = parse_yaml(&doc, &env()).unwrap_err().lines();
        let took = started.elapsed();
        assert!(took < Duration::from_secs(1), "took {took:?}");
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0].contains("more than the limit of 32 levels of nesting"),
            "{errors:?}"
        );
    }
}

#[test]
fn a_svc_yml_larger_than_the_spec_limit_is_refused_before_it_is_read() {
    let max = limits::SPEC_BYTES.max as usize;
    let padded = |len: usize| {
        let mut text = data_pod("1");
        text.push('#');
        text.push_str(&"x".repeat(len - text.len() - 1));
        text.push('\n');
        text
    };
    assert!(parse_yaml(&padded(max), &env()).is_ok());
    let started = Instant::now();
    let errors = parse_yaml(&padded(max + 1), &env()).unwrap_err().lines();
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(
        errors,
        [format!(
            "spec: the template is 1048576 bytes long, more than the limit of 1048575 {}",
            limits::SPEC_BYTES.what
        )]
    );
}

// Goal: what Mesos (and the embedded cluster) would refuse at the first RESERVE, CREATE or
// fetch is refused in the spec, where it can be fixed, rather than stranding a pod's step.
// Method: a role with a `..` component, a role longer than a file name, a volume path whose
// persistence id would pass Mesos' 255 bytes, a path component longer than a file name, and a
// URI with a quote the fetcher refuses.
#[test]
fn names_the_cluster_would_refuse_are_refused_in_the_spec() {
    let problems = |edit: &dyn Fn(&mut ServiceSpec)| {
        let mut s = base();
        edit(&mut s);
        validate(&s).map_err(|e| e.lines())
    };
    let role = problems(&|s| s.role = "a/../b".into()).unwrap_err();
    assert_eq!(
        role,
        ["role: Role 'a/../b' cannot include '..' as a component"]
    );
    let long = problems(&|s| s.role = "r".repeat(256)).unwrap_err();
    assert!(
        long[0].starts_with("role: Role 'rrrr") && long[0].contains("255"),
        "{long:?}"
    );
    let pre = problems(&|s| s.pods[0].pre_reserved_role = Some("a//b".into())).unwrap_err();
    assert!(
        pre[0].starts_with("pods.data.pre-reserved-role: "),
        "{pre:?}"
    );

    // `data-0-` + path + `__` + 36: a 210-byte path is 255 exactly; one more is refused.
    assert!(problems(&|s| task(s).volumes.push(VolumeSpec::root("v".repeat(210), 1))).is_ok());
    let id = problems(&|s| task(s).volumes.push(VolumeSpec::root("v".repeat(211), 1))).unwrap_err();
    assert_eq!(
        id,
        ["pods.data.tasks.node.volumes[0].path: is too long: it makes persistence ids of 256 bytes (`<pod>-<index>-<path>__<uuid>`, e.g. `data-0-...`), and Mesos takes at most 255"]
    );
    let part = problems(&|s| {
        task(s)
            .volumes
            .push(VolumeSpec::root(format!("a/{}", "x".repeat(256)), 1))
    })
    .unwrap_err();
    assert!(part[0].contains("component longer than 255"), "{part:?}");

    let uri = problems(&|s| s.pods[0].uris.push("http://x/it's".into())).unwrap_err();
    assert_eq!(
        uri,
        ["pods.data.uris[0]: Illegal characters in URI 'http://x/it's'"]
    );
}
