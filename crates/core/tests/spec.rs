//! The service spec from the outside: svc.yml in, model or every problem out; builder = YAML.

use std::collections::BTreeMap;

use cairn_core::spec::*;

fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn parse(yaml: &str) -> Result<ServiceSpec, SpecErrors> {
    parse_yaml(yaml, &env(&[]))
}

/// The problems as `path: message` lines; panics if the spec was accepted.
fn problems(yaml: &str) -> Vec<String> {
    match parse(yaml) {
        Ok(spec) => panic!("expected problems, got {spec:#?}"),
        Err(e) => e.lines(),
    }
}

fn example(name: &str) -> String {
    let path = format!("{}/../../examples/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"))
}

/// A minimal valid service with `extra` appended to task `t` of pod `a` (indented 8 spaces).
fn with_task_keys(extra: &str) -> String {
    format!(
        "name: svc\npods:\n  a:\n    count: 1\n    tasks:\n      t:\n        cmd: run\n        cpus: 0.1\n        memory: 32\n{extra}"
    )
}

// Goal: every supported svc.yml key lands in the model field it names. Method: one spec using
// all of them, compared with the model written out by hand.
#[test]
fn every_supported_key_is_parsed_into_the_model() {
    let yaml = r#"
name: full
web-url: http://example.com/full
scheduler:
  principal: custom-principal
  user: alice
  zookeeper: zk-1:2181,zk-2:2181
pods:
  server:
    count: 3
    allow-decommission: true
    placement: 'hostname:UNIQUE'
    uris:
      - http://example.com/server.tgz
    pre-reserved-role: slave_public
    user: bob
    rlimits:
      RLIMIT_NOFILE:
        soft: 128000
        hard: 128000
    volume:
      path: shared
      type: MOUNT
      size: 1000
    volumes:
      extra:
        path: extra
        size: 10
    resource-sets:
      sidecar-resources:
        cpus: 0.5
        gpus: 0
        memory: 128
        resource-limits: {cpus: unlimited, memory: "512"}
        ports:
          admin:
            port: 9000
        volume:
          path: sidecar-data
          type: ROOT
          size: 20
    tasks:
      node:
        goal: RUNNING
        essential: false
        cmd: ./node
        env:
          MODE: fast
          LEVEL: 3
          EMPTY:
        cpus: 1.5
        gpus: 0
        memory: 256
        resource-limits:
          cpus: 3
          memory: Infinity
        ports:
          http:
            port: 8080
            env-key: HTTP_PORT
            advertise: true
            vip:
              port: 80
              prefix: web
              protocol: udp
          dyn:
            ranges:
              - begin: 10000
                end: 10010
        health-check:
          cmd: ./healthy
          interval: 11
          grace-period: 12
          max-consecutive-failures: 4
          delay: 13
          timeout: 14
        readiness-check:
          cmd: ./ready
          interval: 21
          delay: 22
          timeout: 23
        volumes:
          data:
            path: data
            type: ROOT
            size: 500
        discovery:
          prefix: srv
          visibility: CLUSTER
        labels: "team:storage, tier:gold"
        kill-grace-period: 30
        uris: [http://example.com/task.tgz]
      init:
        goal: ONCE
        cmd: ./init
        resource-set: sidecar-resources
        labels: {a: b}
      legacy:
        goal: FINISHED
        cmd: ./legacy
        resource-set: sidecar-resources
      check:
        goal: FINISH
        cmd: ./check
        cpus: 0.1
        memory: 32
plans:
  deploy:
    strategy: parallel
    phases:
      server-deploy:
        strategy: canary
        pod: server
        steps:
          - default: [[init], [node]]
          - 0: [[init, legacy], [node]]
  repair:
    phases:
      repair-phase:
        pod: server
        strategy: parallel-canary
"#;
    let task = |name: &str, goal: Goal, cmd: &str| TaskSpec {
        name: name.into(),
        goal,
        essential: true,
        cmd: cmd.into(),
        env: BTreeMap::new(),
        configs: vec![],
        resources: ResourceSpec::default(),
        volumes: vec![],
        resource_set: Some("sidecar-resources".into()),
        health_check: None,
        readiness_check: None,
        kill_grace_period_s: None,
        labels: BTreeMap::new(),
        discovery: None,
        uris: vec![],
        resource_limits: ResourceLimits::default(),
    };
    let want = ServiceSpec {
        name: "full".into(),
        role: "full-role".into(),
        principal: "custom-principal".into(),
        user: "alice".into(),
        web_url: Some("http://example.com/full".into()),
        zookeeper: Some("zk-1:2181,zk-2:2181".into()),
        pods: vec![PodSpec {
            type_name: "server".into(),
            count: 3,
            allow_decommission: true,
            placement: Some(Placement::parse("hostname:UNIQUE").unwrap()),
            uris: vec!["http://example.com/server.tgz".into()],
            volumes: vec![
                VolumeSpec::mount("shared", 1000),
                VolumeSpec::root("extra", 10),
            ],
            resource_sets: vec![ResourceSetSpec {
                id: "sidecar-resources".into(),
                resources: ResourceSpec {
                    cpus: 0.5,
                    memory_mb: 128,
                    ports: vec![PortSpec::new("admin", 9000)],
                    gpus: 0,
                },
                volumes: vec![VolumeSpec::root("sidecar-data", 20)],
                resource_limits: ResourceLimits {
                    cpus: Some(ResourceLimit::Unlimited),
                    memory_mb: Some(ResourceLimit::At(512.0)),
                },
            }],
            tasks: vec![
                TaskSpec {
                    name: "node".into(),
                    goal: Goal::Running,
                    essential: false,
                    cmd: "./node".into(),
                    env: env(&[("MODE", "fast"), ("LEVEL", "3"), ("EMPTY", "")]),
                    configs: vec![],
                    resources: ResourceSpec {
                        cpus: 1.5,
                        memory_mb: 256,
                        ports: vec![
                            PortSpec::new("http", 8080)
                                .env_key("HTTP_PORT")
                                .advertise()
                                .vip(VipSpec {
                                    prefix: "web".into(),
                                    port: 80,
                                    protocol: VipProtocol::Udp,
                                }),
                            PortSpec::new("dyn", 0).range(10000, 10010),
                        ],
                        gpus: 0,
                    },
                    volumes: vec![VolumeSpec::root("data", 500)],
                    resource_set: None,
                    health_check: Some(HealthCheckSpec {
                        cmd: "./healthy".into(),
                        interval_s: 11,
                        grace_period_s: 12,
                        max_consecutive_failures: 4,
                        delay_s: 13,
                        timeout_s: 14,
                    }),
                    readiness_check: Some(ReadinessCheckSpec {
                        cmd: "./ready".into(),
                        interval_s: 21,
                        delay_s: 22,
                        timeout_s: 23,
                    }),
                    kill_grace_period_s: Some(30),
                    labels: env(&[("team", "storage"), ("tier", "gold")]),
                    discovery: Some(DiscoverySpec {
                        prefix: Some("srv".into()),
                        visibility: Some(Visibility::Cluster),
                    }),
                    uris: vec!["http://example.com/task.tgz".into()],
                    resource_limits: ResourceLimits {
                        cpus: Some(ResourceLimit::At(3.0)),
                        memory_mb: Some(ResourceLimit::Unlimited),
                    },
                },
                TaskSpec {
                    labels: env(&[("a", "b")]),
                    ..task("init", Goal::Once, "./init")
                },
                // The legacy `FINISHED` goal is read as ONCE, as dcos-commons did.
                task("legacy", Goal::Once, "./legacy"),
                TaskSpec {
                    resource_set: None,
                    resources: ResourceSpec {
                        cpus: 0.1,
                        memory_mb: 32,
                        ..ResourceSpec::default()
                    },
                    ..task("check", Goal::Finish, "./check")
                },
            ],
            pre_reserved_role: Some("slave_public".into()),
            user: Some("bob".into()),
            rlimits: vec![RlimitSpec::new(
                cairn_proto::RlimitType::Nofile,
                128_000,
                128_000,
            )],
        }],
        plans: vec![
            PlanSpec::new("deploy").strategy(Strategy::Parallel).phase(
                PhaseSpec::new("server-deploy", "server")
                    .strategy(Strategy::SerialCanary)
                    .step(StepSpec::default_for([["init"], ["node"]]))
                    .step(StepSpec::new(
                        StepIndex::Index(0),
                        [vec!["init", "legacy"], vec!["node"]],
                    )),
            ),
            PlanSpec::new("repair")
                .phase(PhaseSpec::new("repair-phase", "server").strategy(Strategy::ParallelCanary)),
        ],
        replacement_failure_policy: None,
    };
    assert_eq!(parse(yaml).unwrap(), want);
}

#[test]
fn pods_and_tasks_keep_the_order_they_are_written_in() {
    let yaml = "name: svc\npods:\n  zeta:\n    count: 1\n    tasks:\n      z: {cmd: x, cpus: 1, memory: 1}\n      a: {cmd: x, cpus: 1, memory: 1}\n      m: {cmd: x, cpus: 1, memory: 1}\n  alpha:\n    count: 1\n    tasks:\n      t: {cmd: x, cpus: 1, memory: 1}\n  mid:\n    count: 1\n    tasks:\n      t: {cmd: x, cpus: 1, memory: 1}\n";
    let spec = parse(yaml).unwrap();
    let pods: Vec<_> = spec.pods.iter().map(|p| p.type_name.as_str()).collect();
    assert_eq!(pods, ["zeta", "alpha", "mid"]);
    let tasks: Vec<_> = spec.pods[0].tasks.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(tasks, ["z", "a", "m"]);
}

#[test]
fn role_principal_and_user_have_defaults() {
    let yaml = with_task_keys("").replace("name: svc", "name: /prod/svc");
    let spec = parse(&yaml).unwrap();
    assert_eq!(spec.role, "prod__svc-role");
    assert_eq!(spec.principal, "prod__svc-principal");
    // No scheduler.user: nobody, whoever runs the scheduler (a root scheduler must not
    // mean root tasks).
    assert_eq!(spec.user, "nobody");
    let spec = parse_yaml(&yaml, &env(&[("USER", "root")])).unwrap();
    assert_eq!(spec.user, "nobody");
    // An explicit scheduler.user wins.
    let explicit = format!("scheduler:\n  user: dave\n{yaml}");
    let spec = parse_yaml(&explicit, &env(&[("USER", "carol")])).unwrap();
    assert_eq!(spec.user, "dave");
}

#[test]
fn health_and_readiness_checks_default_to_mesos_timings() {
    let spec = parse(&with_task_keys(
        "        health-check:\n          cmd: ok\n        readiness-check:\n          cmd: ready\n",
    ))
    .unwrap();
    let task = &spec.pods[0].tasks[0];
    assert_eq!(task.health_check, Some(HealthCheckSpec::new("ok")));
    assert_eq!(task.readiness_check, Some(ReadinessCheckSpec::new("ready")));
}

#[test]
fn an_empty_placement_means_no_placement() {
    let yaml = with_task_keys("").replace("    count: 1\n", "    count: 1\n    placement: ''\n");
    assert_eq!(parse(&yaml).unwrap().pods[0].placement, None);
}

// Goal: a misspelt or unknown key is an error at every level, naming the key's full path.
#[test]
fn unknown_keys_are_errors_with_their_exact_path_at_every_level() {
    let cases = [
        (
            "nmae: svc\n",
            "nmae: unknown key (did you mean `name`?) (line 1)",
        ),
        (
            "name: svc\npods:\n  a:\n    count: 1\n    placment: x\n",
            "pods.a.placment: unknown key (did you mean `placement`?) (line 5)",
        ),
        (
            &with_task_keys("        cpu: 1\n"),
            "pods.a.tasks.t.cpu: unknown key (did you mean `cpus`?) (line 10)",
        ),
        (
            &with_task_keys("        ports:\n          http:\n            prot: 80\n"),
            "pods.a.tasks.t.ports.http.prot: unknown key (did you mean `port`?) (line 12)",
        ),
        (
            &with_task_keys("        health-check:\n          cmd: x\n          intervall: 5\n"),
            "pods.a.tasks.t.health-check.intervall: unknown key (did you mean `interval`?) (line 12)",
        ),
        (
            "name: svc\nplans:\n  deploy:\n    phase: {}\n",
            "plans.deploy.phase: unknown key (did you mean `phases`?) (line 4)",
        ),
        (
            "name: svc\nplans:\n  deploy:\n    phases:\n      p:\n        pod: a\n        stepz: []\n",
            "plans.deploy.phases.p.stepz: unknown key (did you mean `steps`?) (line 7)",
        ),
        (
            "name: svc\nscheduler:\n  secret: x\n",
            "scheduler.secret: unknown key (expected one of: principal, user, zookeeper) (line 3)",
        ),
    ];
    for (yaml, want) in cases {
        // The specs are fragments: what else they lack is reported too.
        let problems = problems(yaml);
        assert!(
            problems.contains(&want.to_string()),
            "{yaml}\n{problems:#?}"
        );
    }
}

#[test]
fn yaml_aliases_work_but_merge_keys_are_refused_clearly() {
    let alias = "name: svc\npods:\n  a:\n    count: 1\n    tasks:\n      t:\n        cmd: &cmd run\n        cpus: 0.1\n        memory: 32\n      u:\n        cmd: *cmd\n        cpus: 0.1\n        memory: 32\n";
    assert_eq!(parse(alias).unwrap().pods[0].tasks[1].cmd, "run");
    let merge = "name: svc\npods:\n  a:\n    count: 1\n    tasks:\n      t: &base\n        cmd: run\n        cpus: 0.1\n        memory: 32\n      u:\n        <<: *base\n";
    assert_eq!(
        problems(merge),
        ["pods.a.tasks.u.<<: YAML merge keys (`<<: *anchor`) are not supported; repeat the keys, or use an alias for a whole value (line 11)"]
    );
}

#[test]
fn a_key_given_twice_is_an_error_at_its_second_line() {
    assert_eq!(
        problems(&with_task_keys("  a:\n    count: 2\n")),
        ["pods.a: duplicate key (line 10)"]
    );
    assert_eq!(
        problems(&with_task_keys("").replace("    count: 1\n", "    count: 1\n    count: 2\n")),
        ["pods.a.count: duplicate key (line 5)"]
    );
    assert_eq!(
        problems(&with_task_keys(
            "        env:\n          A: 1\n          A: 2\n"
        )),
        ["pods.a.tasks.t.env.A: duplicate key (line 12)"]
    );
    assert_eq!(
        problems(&with_task_keys(
            "        env: {A: 1,\n              A: 2,\n              A: 3}\n"
        )),
        [
            "pods.a.tasks.t.env.A: duplicate key (line 11)",
            "pods.a.tasks.t.env.A: duplicate key (line 12)",
        ]
    );
}

#[test]
fn a_value_of_the_wrong_type_is_an_error_in_words() {
    assert_eq!(
        problems(&with_task_keys("").replace("count: 1", "count: many")),
        ["pods.a.count: invalid type: string \"many\", expected a whole number (line 4)"]
    );
    assert_eq!(
        problems("- svc\n"),
        ["line 1: invalid type: sequence, expected a mapping (column 1); the rest of the spec is not checked until this is fixed"]
    );
}

// Goal: DC/OS-only keys are recognised and refused by name, never dropped. Method: one pod and
// one task using all of them; every refusal is reported at once.
#[test]
fn dcos_only_keys_are_refused_with_their_path_and_why() {
    let yaml = r#"
name: svc
pods:
  a:
    count: 1
    secrets: {s: {secret: x, env-key: X}}
    networks: {dcos: {}}
    image: nginx
    seccomp-unconfined: true
    seccomp-profile-name: p
    share-pid-namespace: true
    ipc-mode: PRIVATE
    shm-size: 64
    external-volumes: {v: {type: DOCKER}}
    host-volumes: {h: {host-path: /x, container-path: y}}
    tasks:
      t:
        cmd: run
        cpus: 0.1
        memory: 32
        transport-encryption: [{name: n, type: TLS}]
        ipc-mode: SHARE_PARENT
        shm-size: 1
        resource-limits: {cpus: unlimited}
        volume: {path: v, type: MOUNT, size: 10, profiles: [fast]}
"#;
    assert_eq!(
        problems(yaml),
        [
            "pods.a.secrets: not supported here: secrets come from the DC/OS Enterprise secret store (line 6)",
            "pods.a.networks: not supported here: virtual (overlay) networks are DC/OS networking; tasks use the agent's network (line 7)",
            "pods.a.image: not supported here: container images need the Mesos containerizer's image provisioner; tasks run on the host filesystem in a sandbox (line 8)",
            "pods.a.seccomp-unconfined: not supported here: seccomp profiles need DC/OS' seccomp isolator (line 9)",
            "pods.a.seccomp-profile-name: not supported here: seccomp profiles need DC/OS' seccomp isolator (line 10)",
            "pods.a.share-pid-namespace: not supported here: sharing a PID namespace needs the namespaces/pid isolator (line 11)",
            "pods.a.ipc-mode: not supported here: IPC namespaces and /dev/shm sizing need the namespaces/ipc isolator (line 12)",
            "pods.a.shm-size: not supported here: IPC namespaces and /dev/shm sizing need the namespaces/ipc isolator (line 13)",
            "pods.a.external-volumes: not supported here: external volumes need the Docker volume isolator (DVDI) and its drivers (line 14)",
            "pods.a.host-volumes: not supported yet: host bind mounts are not built yet (line 15)",
            "pods.a.tasks.t.transport-encryption: not supported here: certificates are issued by the DC/OS CA (line 21)",
            "pods.a.tasks.t.ipc-mode: not supported here: IPC namespaces and /dev/shm sizing need the namespaces/ipc isolator (line 22)",
            "pods.a.tasks.t.shm-size: not supported here: IPC namespaces and /dev/shm sizing need the namespaces/ipc isolator (line 23)",
            "pods.a.tasks.t.volume.profiles: not supported here: volume profiles come from the DC/OS Storage Service (line 25)",
        ]
    );
}

#[test]
fn switched_off_dcos_flags_and_gpus_zero_are_accepted() {
    let yaml = with_task_keys("        gpus: 0\n").replace(
        "    count: 1\n",
        "    count: 1\n    seccomp-unconfined: false\n    share-pid-namespace: false\n",
    );
    assert!(parse(&yaml).is_ok());
}

#[test]
fn a_port_range_without_an_end_or_a_begin_reaches_the_end_of_the_port_space() {
    // Goal: specs written for the DC/OS SDK (its multiport example) leave a range open at
    // one side; the SDK reads a missing `end` as 65535 and a missing `begin` as 0. Method:
    // both, parsed into the model.
    let yaml = with_task_keys(
        "        ports:
          p: {ranges: [{begin: 10000}, {end: 999}]}
",
    );
    let spec = parse(&yaml).unwrap();
    let ranges = &spec.pods[0].tasks[0].resources.ports[0].ranges;
    assert_eq!(
        ranges.iter().map(|r| (r.begin, r.end)).collect::<Vec<_>>(),
        [(10000, 65535), (0, 999)]
    );
}

#[test]
fn a_missing_template_variable_is_an_error_naming_it_and_its_line() {
    let yaml = "name: {{SERVICE_NAME}}\npods:\n  a:\n    count: {{COUNT}}\n";
    let errors = parse_yaml(yaml, &env(&[("SERVICE_NAME", "svc")]))
        .unwrap_err()
        .lines();
    assert_eq!(errors, ["line 4: template variable `COUNT` is not set"]);
}

#[test]
fn template_sections_switch_parts_of_the_spec_on_and_off() {
    let yaml = "\
name: svc
pods:
  a:
    count: {{A_COUNT}}
    tasks:
      t:
        cmd: run
        cpus: 0.1
        memory: 32
{{#ENABLE_SIDECAR}}
      sidecar:
        cmd: side
        cpus: 0.1
        memory: 32
{{/ENABLE_SIDECAR}}
{{^ENABLE_SIDECAR}}
        env:
          ALONE: 'yes'
{{/ENABLE_SIDECAR}}
";
    let on = parse_yaml(yaml, &env(&[("A_COUNT", "2"), ("ENABLE_SIDECAR", "true")])).unwrap();
    assert_eq!(on.pods[0].count, 2);
    assert_eq!(on.pods[0].tasks.len(), 2);
    assert!(on.pods[0].tasks[0].env.is_empty());
    let off = parse_yaml(yaml, &env(&[("A_COUNT", "1"), ("ENABLE_SIDECAR", "false")])).unwrap();
    assert_eq!(off.pods[0].tasks.len(), 1);
    assert_eq!(off.pods[0].tasks[0].env, env(&[("ALONE", "yes")]));
    // An option nobody set is off, as in the DC/OS SDK: no error, the inverted part is in.
    let unset = parse_yaml(yaml, &env(&[("A_COUNT", "1")])).unwrap();
    assert_eq!(unset, off);
}

#[test]
fn yaml_error_lines_point_into_the_template_not_the_rendered_text() {
    // Lines 3-5 vanish when OFF is false, so the bad count is on rendered line 5 but template
    // line 8.
    let yaml =
        "name: svc\npods:\n{{#OFF}}\n  x: {}\n{{/OFF}}\n  a:\n    tasks: {}\n    count: lots\n";
    assert_eq!(
        parse_yaml(yaml, &env(&[("OFF", "false")]))
            .unwrap_err()
            .lines(),
        [
            "pods.a.tasks: a pod needs at least one task (line 7)",
            "pods.a.count: invalid type: string \"lots\", expected a whole number (line 8)"
        ]
    );
}

// Goal: validation reports every problem at once. Method: three independent mistakes give
// exactly three lines, in document order.
#[test]
fn three_problems_give_three_lines() {
    let yaml = "\
name: svc
pods:
  data:
    count: -1
    tasks:
      node:
        cmd: run
        cpus: 0
        memory: 32
        volume:
          path: data
          size: 0
";
    let err = parse(yaml).unwrap_err();
    assert_eq!(
        err.to_string(),
        "3 problems in the service spec:\n  \
         pods.data.count: must be >= 0 (line 4)\n  \
         pods.data.tasks.node.cpus: must be > 0 (line 8)\n  \
         pods.data.tasks.node.volume.size: must be > 0 (line 12)"
    );
}

// Goal: every problem of a svc.yml in one pass, each at its own line: an unknown key and a
// repeated key (which the YAML library reports one at a time, the first only) together with a
// bad value found by validation. Method: one spec with all three, listed in line order.
#[test]
fn an_unknown_key_a_negative_cpus_and_a_repeated_key_are_reported_together_each_at_its_line() {
    let yaml = "\
name: svc
pods:
  data:
    count: 1
    placment: 'hostname:UNIQUE'
    tasks:
      node:
        cmd: run
        cpus: -1
        memory: 32
        memory: 64
";
    assert_eq!(
        problems(yaml),
        [
            "pods.data.placment: unknown key (did you mean `placement`?) (line 5)",
            "pods.data.tasks.node.cpus: must be > 0 (line 9)",
            "pods.data.tasks.node.memory: duplicate key (line 11)",
        ]
    );
}

#[test]
fn unknown_keys_in_two_pods_are_both_reported() {
    let yaml = "\
name: svc
pods:
  a:
    count: 1
    tasks:
      t: {cmd: run, cpus: 0.1, memroy: 32}
  b:
    count: 1
    tasks:
      t:
        cmd: run
        cpus: 0.1
        memory: 32
        helth-check: {cmd: 'true'}
";
    assert_eq!(
        problems(yaml),
        [
            "pods.a.tasks.t.memroy: unknown key (did you mean `memory`?) (line 6)",
            "pods.a.tasks.t.memory: must be > 0 (line 6)",
            "pods.b.tasks.t.helth-check: unknown key (did you mean `health-check`?) (line 14)",
        ]
    );
}

#[test]
fn a_type_error_and_a_validation_error_are_reported_together_without_its_echo() {
    // `count: two` is read as absent to read on; `count: is required` would only say it
    // again, so it is not listed.
    let yaml = with_task_keys("        memory: 0\n")
        .replace("count: 1", "count: two")
        .replace("        memory: 32\n", "");
    assert_eq!(
        problems(&yaml),
        [
            "pods.a.count: invalid type: string \"two\", expected a whole number (line 4)",
            "pods.a.tasks.t.memory: must be > 0 (line 9)",
        ]
    );
}

#[test]
fn lines_are_the_template_s_when_a_section_before_them_renders_to_nothing() {
    let yaml = "\
name: svc
pods:
  a:
{{#WITH_PLACEMENT}}
    placement: '{{PLACEMENT}}'
{{/WITH_PLACEMENT}}
    count: 1
    tasks:
      t:
        cmd: run
        cpus: 0
        memory: 32
        colour: blue
";
    assert_eq!(
        problems(yaml),
        [
            "pods.a.tasks.t.cpus: must be > 0 (line 11)",
            "pods.a.tasks.t.colour: unknown key (expected one of: goal, essential, cmd, env, cpus, gpus, memory, ports, health-check, readiness-check, volume, volumes, resource-set, discovery, labels, kill-grace-period, uris, configs, resource-limits, transport-encryption, ipc-mode, shm-size) (line 13)",
        ]
    );
}

// Goal: problems in flow collections, sequences and named volumes are placed at the line of
// what they name, also where validation's path (`volumes[1]`) differs from svc.yml's.
#[test]
fn problems_in_flow_style_sequences_and_volumes_are_placed_at_their_own_lines() {
    let yaml = "\
name: svc
pods:
  a:
    count: 1
    uris:
      - http://example.com/ok.tgz
      - ''
    tasks:
      t: {cmd: run, cpus: 0.1, memory: 32,
          ports: {http: {port: 99999}},
          volume: {path: v, size: 1},
          volumes: {logs: {path: logs,
                           size: 0}}}
plans:
  deploy:
    phases:
      p:
        pod: a
        steps:
          - default: [[t]]
          - 7: [[t]]
";
    assert_eq!(
        problems(yaml),
        [
            "pods.a.uris[1]: must not be empty (line 7)",
            "pods.a.tasks.t.ports.http.port: must be within 0..=65535 (line 10)",
            "pods.a.tasks.t.volumes.logs.size: must be > 0 (line 13)",
            "plans.deploy.phases.p.steps[1].7: pod `a` has 1 instance(s), so there is no instance 7 (line 21)",
        ]
    );
}

#[test]
fn a_yaml_syntax_error_stops_the_reading_and_says_so() {
    let yaml = with_task_keys("        cpu: 1\n        env: {A: 'x}\n");
    assert_eq!(
        problems(&yaml),
        ["line 12: found unexpected end of stream (column 1), while scanning a quoted scalar at line 11 column 18; the rest of the spec is not checked until this is fixed"]
    );
}

#[test]
fn reading_past_shape_problems_stops_after_a_bound_and_says_so() {
    let keys: String = (0..60).map(|i| format!("        extra{i}: x\n")).collect();
    let problems = problems(&with_task_keys(&keys));
    assert_eq!(problems.len(), 51, "{problems:#?}");
    assert!(problems[0].starts_with("pods.a.tasks.t.extra0: unknown key"));
    assert!(problems[0].ends_with("(line 10)"));
    assert!(problems[49].ends_with("(line 59)"), "{}", problems[49]);
    assert_eq!(
        problems[50],
        "spec: more problems of shape may follow: reading stops after 50 of them; fix these and validate again"
    );
}

/// A spec in every style svc.yml is written in: block and flow collections over several
/// lines, `- key:` items, quoted, folded, literal and continued scalars, comments.
const STYLES: &str = r#"name: svc
web-url: http://example.com:8080/ui
scheduler: {principal: p, user: nobody}
pods:
  data:
    count: 2
    placement: '[["hostname", "UNIQUE"]]'
    uris:
    - http://example.com/a.tgz
    -   "http://example.com/b: c.tgz"   # a comment, with: a colon
    volume: {path: data, size: 10}
    resource-sets:
      rs:
        cpus: 0.5
        memory: 64
        ports: {admin: {port: 0, env-key: ADMIN}}
    tasks:
      node:
        goal: RUNNING
        cmd: |
                set -e
                echo "a: b"
                exec ./run
        cpus: 0.1
        memory: 32
        env:
          A: "one
            two"
          B: plain
            continued
          C: >
            folded
        health-check: {cmd: 'true', interval: 5,
                       grace-period: 5}
        labels: 'a:b,c:d'
      init:
        goal: ONCE
        resource-set: rs
        cmd: >-
          echo init
plans:
  deploy:
    strategy: serial
    phases:
      init:
        pod: data
        steps:
          - default: [[init], [node]]
          - 1:
            - [init]
      more:
        pod: data
        steps: [{default: [[node]]}]
"#;

// Goal: reading past a problem never loses or misplaces another, whatever the style around
// it. Method: an unknown key written as a line of its own after every line of three valid
// specs (indented as the next line), and into every flow mapping; each is reported at its own
// line, and nothing else is, but for the mapping holding it.
#[test]
fn an_extra_key_anywhere_is_reported_at_its_line_and_changes_nothing_else() {
    let mut checked = 0;
    for base in [
        STYLES.to_string(),
        example("hello-world.yml"),
        example("my-service.yml"),
    ] {
        parse(&base).expect("the base spec is valid");
        let lines: Vec<&str> = base.lines().collect();
        let mut variants = Vec::new();
        for i in 0..lines.len() {
            // After `key:`, `|` or `>`, a line of its own would become that key's value.
            let opens = lines[i].trim_end().ends_with([':', '|', '>', '-']);
            let next = lines.get(i + 1).unwrap_or(&"");
            let indent = next.len() - next.trim_start().len();
            if !opens {
                let mut v: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
                v.insert(i + 1, format!("{}zzkey: 1", " ".repeat(indent)));
                variants.push((v.join("\n"), i + 2));
            }
            if let Some(brace) = lines[i].find('{') {
                let mut v: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
                v[i].insert_str(brace + 1, "zzkey: 1, ");
                variants.push((v.join("\n"), i + 1));
            }
        }
        for (text, line) in variants {
            let Err(e) = parse(&text) else { continue };
            // Inside a scalar the line is text, not a key: nothing to find.
            if !e.errors().iter().any(|e| e.path.ends_with("zzkey")) {
                continue;
            }
            let (zz, others): (Vec<_>, Vec<_>) =
                e.errors().iter().partition(|e| e.path.ends_with("zzkey"));
            assert_eq!(zz.len(), 1, "{e}\n{text}");
            assert_eq!(zz[0].line, Some(line), "{e}\n{text}");
            // Where any key is a name (a step entry's instance), the extra one is a value of
            // the wrong type, and its mapping then has one key too many: said at the mapping.
            assert!(
                others
                    .iter()
                    .all(|o| zz[0].path.starts_with(&format!("{}.", o.path))),
                "{e}\n{text}"
            );
            checked += 1;
        }
    }
    assert!(checked > 100, "only {checked} places checked");
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]

    // Goal: reading past a shape problem never turns a spec the YAML library could read into
    // one it cannot (which would end the reading early), and every unknown or repeated key is
    // placed at a line. Method: texts made of svc.yml keys, indicators and blanks in any order.
    #[test]
    fn reading_past_problems_never_breaks_a_readable_text(
        text in "(name: svc\npods:\n  a:\n    count: 1\n    tasks:\n      t:\n)?([ ]{0,10}(- |cmd: |cpus: |memory|t|a: |env: |zz: |count: |tasks: |pods: |ports: |p: |port: |steps: |default: |uris: |labels: |volume: |size: |\\{|\\[|'x|\"y|: |:|, |,|\\}|\\]|1|-1|x|#|\\| |> |&a |\\*a|<<: |---|~|\t){0,7}\n){0,14}"
    ) {
        if let Err(e) = parse(&text) {
            for problem in e.errors() {
                proptest::prop_assert!(
                    !problem.message.contains("could not be read past"),
                    "{}\n---\n{}", problem, text
                );
                if problem.message.starts_with("unknown key") || problem.message == "duplicate key" {
                    proptest::prop_assert!(problem.line.is_some(), "{}\n---\n{}", problem, text);
                }
            }
        }
    }
}

// Goal: one test per validation rule, each with its exact message.
#[test]
fn each_validation_rule_reports_its_own_message() {
    let cases: Vec<(String, &str)> = vec![
        (with_task_keys("").replace("memory: 32", "memory: 0"), "pods.a.tasks.t.memory: must be > 0 (line 9)"),
        (with_task_keys("").replace("cpus: 0.1", "cpus: -1"), "pods.a.tasks.t.cpus: must be > 0 (line 8)"),
        (with_task_keys("").replace("cpus: 0.1", "cpus: .nan"), "pods.a.tasks.t.cpus: must be > 0 (line 8)"),
        (with_task_keys("").replace("        cmd: run\n", ""), "pods.a.tasks.t.cmd: must not be empty (line 6)"),
        (with_task_keys("").replace("    count: 1\n", ""), "pods.a.count: is required (line 3)"),
        (with_task_keys("        volumes:\n          v:\n            path: d\n            size: -5\n"), "pods.a.tasks.t.volumes.v.size: must be > 0 (line 13)"),
        (with_task_keys("        volume:\n          path: /abs\n          size: 5\n"), "pods.a.tasks.t.volume.path: `/abs` must be a relative path inside the sandbox, without `.`, `..` or empty parts (line 11)"),
        (with_task_keys("        volume:\n          path: ../up\n          size: 5\n"), "pods.a.tasks.t.volume.path: `../up` must be a relative path inside the sandbox, without `.`, `..` or empty parts (line 11)"),
        (with_task_keys("        volume:\n          path: d\n          type: TMPFS\n          size: 5\n"), "pods.a.tasks.t.volume.type: unknown volume type `TMPFS` (expected ROOT or MOUNT) (line 12)"),
        (with_task_keys("        volume: {path: d, size: 5}\n        volumes:\n          again: {path: d, size: 5}\n"), "pods.a.tasks.t.volumes.again.path: `d` is used by another volume of this pod (line 12)"),
        (with_task_keys("        goal: DONE\n"), "pods.a.tasks.t.goal: unknown goal `DONE` (expected RUNNING, FINISH or ONCE) (line 10)"),
        (with_task_keys("        kill-grace-period: 3601\n"), "pods.a.tasks.t.kill-grace-period: 3601 is more than the limit of 3600 seconds of kill grace period (line 10)"),
        (with_task_keys("        kill-grace-period: -1\n"), "pods.a.tasks.t.kill-grace-period: must be within 0..=3600 seconds (line 10)"),
        (with_task_keys("        health-check:\n          cmd: x\n          interval: 0\n"), "pods.a.tasks.t.health-check.interval: must be > 0 (line 12)"),
        (with_task_keys("        health-check:\n          cmd: x\n          timeout: -3\n"), "pods.a.tasks.t.health-check.timeout: must be > 0 (line 12)"),
        (with_task_keys("        health-check:\n          cmd: x\n          delay: -3\n"), "pods.a.tasks.t.health-check.delay: must be >= 0 (line 12)"),
        (with_task_keys("        health-check:\n          cmd: x\n          max-consecutive-failures: 0\n"), "pods.a.tasks.t.health-check.max-consecutive-failures: must be >= 1 (line 12)"),
        (with_task_keys("        health-check:\n          interval: 5\n"), "pods.a.tasks.t.health-check.cmd: must not be empty (line 10)"),
        (with_task_keys("        readiness-check:\n          cmd: x\n          interval: 0\n"), "pods.a.tasks.t.readiness-check.interval: must be > 0 (line 12)"),
        (with_task_keys("        readiness-check:\n          cmd: x\n          timeout: 0\n"), "pods.a.tasks.t.readiness-check.timeout: must be > 0 (line 12)"),
        ("name: svc\npods:\n  a:\n    count: 1\n    tasks:\n      t:\n        cmd: run\n        resource-set: missing\n".to_string(), "pods.a.tasks.t.resource-set: `missing` is not a resource set of pod `a` (it has no resource sets) (line 8)"),
        (with_task_keys("        ports:\n          p: {port: 70000}\n"), "pods.a.tasks.t.ports.p.port: must be within 0..=65535 (line 11)"),
        (with_task_keys("        ports:\n          p: {port: 5, ranges: [{begin: 10, end: 20}]}\n"), "pods.a.tasks.t.ports.p.port: must be 0 (dynamic) when ranges are given: ranges say where a dynamic port comes from (line 11)"),
        (with_task_keys("        ports:\n          p: {ranges: [{begin: 20, end: 10}]}\n"), "pods.a.tasks.t.ports.p.ranges[0]: `20..10` is not a range of ports (begin <= end) (line 11)"),
        (with_task_keys("        ports:\n          p: {vip: {prefix: web}}\n"), "pods.a.tasks.t.ports.p.vip.port: must be > 0 (line 11)"),
        (with_task_keys("        ports:\n          p: {env-key: 1BAD}\n"), "pods.a.tasks.t.ports.p.env-key: `1BAD` is not an environment variable name (letters, digits, `_`; not starting with a digit) (line 11)"),
        (with_task_keys("        env:\n          BAD-NAME: x\n"), "pods.a.tasks.t.env.BAD-NAME: `BAD-NAME` is not an environment variable name (letters, digits, `_`; not starting with a digit) (line 11)"),
        (with_task_keys("        labels: 'novalue'\n"), "pods.a.tasks.t.labels: `novalue` is not a `key:value` pair (line 10)"),
        (with_task_keys("        discovery:\n          visibility: WORLD\n"), "pods.a.tasks.t.discovery.visibility: unknown visibility `WORLD` (expected FRAMEWORK, CLUSTER or EXTERNAL) (line 11)"),
        (with_task_keys("        discovery:\n          prefix: Bad_Prefix\n"), "pods.a.tasks.t.discovery.prefix: `Bad_Prefix` must contain only lowercase letters, digits and `-` (it becomes part of DNS names) (line 11)"),
        (with_task_keys("").replace("    count: 1\n", "    count: 1\n    placement: '[[\"hostname\", \"SOMETIMES\"]]'\n"), "pods.a.placement: unknown operator `SOMETIMES` (expected UNIQUE, CLUSTER, GROUP_BY, LIKE, UNLIKE, MAX_PER, IS or IS_NOT) (line 5)"),
        (with_task_keys("").replace("name: svc", &format!("name: {}", "s".repeat(64))), "name: `ssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssss` is 64 characters; at most 63 (it becomes part of DNS names) (line 1)"),
        (with_task_keys("").replace("name: svc", "name: My_Service"), "name: `My_Service` must contain only lowercase letters, digits and `-` (it becomes part of DNS names) (a service name is DNS labels of `[a-z0-9-]`, optionally in `/` folders) (line 1)"),
        (with_task_keys("").replace("  a:\n", "  a/b:\n"), "pods.a/b: pod type `a/b` must contain only letters, digits, `-` and `_` (it names API paths, files and task ids) (line 3)"),
        (with_task_keys("").replace("  a:\n", "  '..':\n"), "pods...: pod type `..` must contain only letters, digits, `-` and `_` (it names API paths, files and task ids) (line 3)"),
        (with_task_keys("").replace("  a:\n", "  -a:\n"), "pods.-a: pod type `-a` must not start with `-` (on a command line it would read as an option) (line 3)"),
        (with_task_keys("").replace("      t:\n", "      run.it:\n"), "pods.a.tasks.run.it: task name `run.it` must contain only letters, digits, `-` and `_` (it names API paths, files and task ids) (line 6)"),
        (with_task_keys("").replace("      t:\n", "      'run it':\n"), "pods.a.tasks.run it: task name `run it` must contain only letters, digits, `-` and `_` (it names API paths, files and task ids) (line 6)"),
        (with_task_keys("").replace("      t:\n", "      __:\n"), "pods.a.tasks.__: task name `__` needs a letter or a digit (it has no DNS label otherwise) (line 6)"),
        (with_task_keys("").replace("      t:\n", &format!("      {}:\n", "t".repeat(60))), "pods.a.tasks.tttttttttttttttttttttttttttttttttttttttttttttttttttttttttttt: task name `a-0-tttttttttttttttttttttttttttttttttttttttttttttttttttttttttttt` is 64 characters; at most 63 fit a DNS label (line 6)"),
        ("name: svc\npods:\n  a:\n    count: 1\n    tasks: {}\n".to_string(), "pods.a.tasks: a pod needs at least one task (line 5)"),
        ("name: svc\n".to_string(), "pods: a service needs at least one pod type"),
        (with_task_keys("plans:\n  deploy:\n    strategy: sideways\n    phases:\n      p: {pod: a}\n"), "plans.deploy.strategy: unknown strategy `sideways` (expected serial, parallel, serial-canary, canary or parallel-canary) (line 12)"),
        (with_task_keys("plans:\n  deploy:\n    strategy: canary\n    phases:\n      p: {pod: a}\n"), "plans.deploy.strategy: `serial-canary`: a plan's strategy is serial or parallel (canaries are for phases) (line 12)"),
        (with_task_keys("plans:\n  deploy:\n    phases: {}\n"), "plans.deploy.phases: a plan needs at least one phase (line 12)"),
        (with_task_keys("plans:\n  deploy:\n    phases:\n      p: {pod: nope}\n"), "plans.deploy.phases.p.pod: `nope` is not a pod type of this service (pod types: a) (line 13)"),
        (with_task_keys("plans:\n  deploy:\n    phases:\n      p: {}\n"), "plans.deploy.phases.p.pod: is required: the pod type this phase deploys (line 13)"),
        (with_task_keys("plans:\n  deploy:\n    phases:\n      p:\n        pod: a\n        steps:\n          - default: [[t, ghost]]\n"), "plans.deploy.phases.p.steps[0].default[0]: `ghost` is not a task of pod `a` (tasks: t) (line 16)"),
        (with_task_keys("plans:\n  deploy:\n    phases:\n      p:\n        pod: a\n        steps:\n          - 3: [[t]]\n"), "plans.deploy.phases.p.steps[0].3: pod `a` has 1 instance(s), so there is no instance 3 (line 16)"),
        (with_task_keys("plans:\n  deploy:\n    phases:\n      p:\n        pod: a\n        steps:\n          - default: [[t]]\n          - default: [[t]]\n"), "plans.deploy.phases.p.steps[1].default: instance `default` already has steps at steps[0] (line 17)"),
        (with_task_keys("plans:\n  deploy:\n    phases:\n      p:\n        pod: a\n        steps:\n          - default: []\n"), "plans.deploy.phases.p.steps: gives no instance of pod `a` a step: a phase with nothing to do is a mistake (list task groups, e.g. `default: [[server]]`) (line 15)"),
        (with_task_keys("plans:\n  deploy:\n    phases:\n      p:\n        pod: a\n        steps:\n          - default: [[]]\n"), "plans.deploy.phases.p.steps[0].default[0]: a task group names at least one task (line 16)"),
        (with_task_keys("plans:\n  deploy:\n    phases:\n      p:\n        pod: a\n        steps:\n          - first: [[t]]\n"), "plans.deploy.phases.p.steps[0].first: a step key is an instance index or `default` (line 16)"),
        (with_task_keys("plans:\n  deploy:\n    phases:\n      p:\n        pod: a\n        steps:\n          - {}\n"), "plans.deploy.phases.p.steps[0]: a step entry has exactly one key, an instance index or `default` (found 0) (line 16)"),
    ];
    for (yaml, want) in cases {
        assert_eq!(problems(&yaml), vec![want.to_string()], "{yaml}");
    }
}

#[test]
fn an_empty_step_list_gives_those_instances_no_step_in_the_phase() {
    // Goal: `default: []` (and `N: []`) reads as dcos-commons reads it: the instances it
    // covers get no step in that phase, e.g. a one-off task on instance 0 only; a phase left
    // with no step at all is refused. Method: a three-instance pod whose second phase runs
    // `init` on instance 0 only, then one whose every entry is empty.
    let yaml = "\
name: svc
pods:
  node:
    count: 3
    tasks:
      server: {cmd: run, cpus: 0.1, memory: 32}
      init_keys: {goal: ONCE, cmd: init, cpus: 0.1, memory: 32}
plans:
  deploy:
    phases:
      nodes:
        pod: node
        steps:
          - default: [[server]]
      keys:
        pod: node
        steps:
          - 0: [[init_keys]]
          - default: []
";
    let spec = parse(yaml).unwrap_or_else(|e| panic!("{e}"));
    let plan = spec.plan("deploy").unwrap();
    let steps = |phase: usize| -> Vec<String> {
        cairn_core::plan::steps::phase_steps(&spec, &plan.phases[phase])
            .unwrap()
            .iter()
            .map(|s| format!("{}:{:?}", s.pod_instance, s.tasks))
            .collect()
    };
    assert_eq!(
        steps(0),
        vec![
            "node-0:[\"server\"]",
            "node-1:[\"server\"]",
            "node-2:[\"server\"]"
        ]
    );
    assert_eq!(steps(1), vec!["node-0:[\"init_keys\"]"]);

    let nothing = yaml.replace("          - 0: [[init_keys]]\n", "          - 0: []\n");
    assert_eq!(
        problems(&nothing),
        vec!["plans.deploy.phases.keys.steps: gives no instance of pod `node` a step: a phase \
              with nothing to do is a mistake (list task groups, e.g. `default: [[server]]`) (line 17)"]
    );
}

#[test]
fn a_task_with_a_resource_set_and_its_own_resources_is_refused() {
    let yaml = "\
name: svc
pods:
  a:
    count: 1
    resource-sets:
      shared: {cpus: 0.1, memory: 32}
    tasks:
      t:
        cmd: run
        cpus: 0.1
        resource-set: shared
";
    assert_eq!(
        problems(yaml),
        ["pods.a.tasks.t.resource-set: a task has either its own resources (cpus, memory, gpus, ports, volumes) or a resource-set, not both (line 11)"]
    );
}

#[test]
fn a_resource_set_of_ports_alone_is_sized_by_its_tasks_cpus_and_memory() {
    let yaml = |second_cpus: &str| {
        format!(
            "\
name: svc
pods:
  a:
    count: 1
    resource-sets:
      ports-only:
        ports: {{one: {{port: 0, env-key: ONE}}}}
    tasks:
      t:
        cmd: run
        cpus: 0.5
        memory: 64
        resource-set: ports-only
      u:
        cmd: run
        cpus: {second_cpus}
        memory: 64
        resource-set: ports-only
"
        )
    };
    let spec = parse(&yaml("0.5")).unwrap();
    let pod = spec.pod("a").unwrap();
    let set = &pod.resource_sets[0].resources;
    assert_eq!((set.cpus, set.memory_mb, set.ports.len()), (0.5, 64, 1));
    assert!(pod.tasks.iter().all(|t| t.resources.is_empty()));
    assert_eq!(
        problems(&yaml("0.25")),
        ["pods.a.tasks.u: sizes resource set `ports-only` with cpus 0.25 and memory 64, but task `t` sizes it with cpus 0.5 and memory 64: give the set its own cpus and memory (line 14)"]
    );
}

#[test]
fn port_names_are_unique_across_the_service_and_fixed_ports_within_a_pod() {
    let yaml = "\
name: svc
pods:
  a:
    count: 1
    tasks:
      t: {cmd: x, cpus: 1, memory: 1, ports: {http: {port: 8080}}}
      u: {cmd: x, cpus: 1, memory: 1, ports: {admin: {port: 8080}}}
  b:
    count: 1
    tasks:
      t: {cmd: x, cpus: 1, memory: 1, ports: {http: {port: 0}}}
";
    assert_eq!(
        problems(yaml),
        [
            "pods.a.tasks.u.ports.admin.port: port 8080 is also asked for at pods.a.tasks.t.ports.http; tasks of a pod instance share one agent (line 7)",
            "pods.b.tasks.t.ports.http: port name `http` is also used at pods.a.tasks.t.ports.http; port names are unique across the service (line 11)",
        ]
    );
}

#[test]
fn two_pod_types_cannot_share_a_discovery_prefix() {
    let yaml = "\
name: svc
pods:
  a:
    count: 1
    tasks:
      t: {cmd: x, cpus: 1, memory: 1, discovery: {prefix: node}}
  b:
    count: 1
    tasks:
      t: {cmd: x, cpus: 1, memory: 1, discovery: {prefix: node}}
";
    assert_eq!(
        problems(yaml),
        ["pods.b.tasks.t.discovery.prefix: prefix `node` is also used by pod `a`; pod types cannot share a discovery prefix (line 10)"]
    );
}

// Goal: specs written for the DC/OS SDK keep their names: capitals and `_` in pod types, task
// names, plans and phases (and so in steps, which name tasks). Method: pods as the SDK's plan
// example names them, cassandra's init task, a custom plan of capitalised phases.
#[test]
fn pod_task_plan_and_phase_names_with_capitals_and_underscores_are_accepted_as_written() {
    let yaml = "\
name: svc
pods:
  custom-pod-A:
    count: 2
    tasks:
      init_system_keyspaces: {goal: ONCE, cmd: x, cpus: 0.1, memory: 32}
      Server: {cmd: x, cpus: 0.1, memory: 32}
  custom-pod-B:
    count: 1
    tasks:
      server: {cmd: x, cpus: 0.1, memory: 32}
plans:
  deploy:
    strategy: serial
    phases:
      Phase_A:
        pod: custom-pod-A
        steps:
          - default: [[init_system_keyspaces], [Server]]
      phase-B: {pod: custom-pod-B}
  Repair_All:
    phases:
      Repair-A:
        pod: custom-pod-A
        steps:
          - 1: [[Server]]
";
    let spec = parse(yaml).unwrap();
    let pods: Vec<&str> = spec.pods.iter().map(|p| p.type_name.as_str()).collect();
    assert_eq!(pods, ["custom-pod-A", "custom-pod-B"]);
    let tasks: Vec<&str> = spec.pods[0].tasks.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(tasks, ["init_system_keyspaces", "Server"]);
    let plans: Vec<&str> = spec.plans.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(plans, ["deploy", "Repair_All"]);
    assert_eq!(spec.plans[0].phases[0].name, "Phase_A");
    assert_eq!(spec.plans[1].phases[0].name, "Repair-A");
    // The Mesos task name keeps the names; the DNS label is derived from it.
    let instance = PodInstanceName::parse("custom-pod-A-1").unwrap();
    assert_eq!(instance.pod_type(), "custom-pod-A");
    let task = TaskName::parse("custom-pod-A-1-init_system_keyspaces", &spec).unwrap();
    assert_eq!(task, TaskName::new(instance, "init_system_keyspaces"));
    assert_eq!(
        dns_label(&task.to_string()),
        "custom-pod-a-1-init-system-keyspaces"
    );
}

// Goal: the Rust builder takes the same names as svc.yml. Method: the names above, built.
#[test]
fn the_builder_accepts_the_same_names_as_svc_yml() {
    let spec = ServiceSpec::builder("svc")
        .pod(
            PodSpec::builder("Custom_Pod-A")
                .task(TaskSpec::builder("init_x").cmd("x").cpus(0.1).memory_mb(32)),
        )
        .plan(PlanSpec::new("Deploy_All").phase(PhaseSpec::new("Phase_A", "Custom_Pod-A")))
        .build()
        .unwrap();
    assert_eq!(spec.pods[0].type_name, "Custom_Pod-A");
    assert_eq!(spec.pods[0].tasks[0].name, "init_x");
}

// Goal: two names that DNS cannot tell apart are refused, naming both places. Method: pod
// types that differ in case, tasks of one pod that differ in `-` and `_`, in svc.yml and in
// the builder.
#[test]
fn two_names_that_make_the_same_dns_label_are_refused_naming_both() {
    let yaml = "\
name: svc
pods:
  data:
    count: 1
    tasks:
      init_x: {cmd: x, cpus: 0.1, memory: 32}
      init-x: {cmd: x, cpus: 0.1, memory: 32}
  Data:
    count: 1
    tasks:
      t: {cmd: x, cpus: 0.1, memory: 32}
  _data_:
    count: 1
    tasks:
      t: {cmd: x, cpus: 0.1, memory: 32}
";
    assert_eq!(
        problems(yaml),
        [
            "pods.data.tasks.init-x: task `init-x` makes the DNS label `init-x`, as does task `init_x` at pods.data.tasks.init_x; names that differ only in case or in `-` and `_` cannot be told apart (line 7)",
            "pods.Data: pod type `Data` makes the DNS label `data`, as does pod type `data` at pods.data; names that differ only in case or in `-` and `_` cannot be told apart (line 8)",
            "pods._data_: pod type `_data_` makes the DNS label `data`, as does pod type `data` at pods.data; names that differ only in case or in `-` and `_` cannot be told apart (line 12)",
        ]
    );
    let task = |name: &str| TaskSpec::builder(name).cmd("x").cpus(0.1).memory_mb(32);
    let err = ServiceSpec::builder("svc")
        .pod(PodSpec::builder("a").task(task("Run")).task(task("run")))
        .build()
        .unwrap_err();
    assert_eq!(
        err.lines(),
        ["pods.a.tasks.run: task `run` makes the DNS label `run`, as does task `Run` at pods.a.tasks.Run; names that differ only in case or in `-` and `_` cannot be told apart"]
    );
}

// Goal: two pod types whose tasks end up with one Mesos task name, exactly or but for case
// and `-`/`_`, are refused at validation naming both (not found ambiguous later, when a
// command names them). Method: pod `a` with task `1-x` and pod `a-1` with task `x` (both make
// `a-1-1-x`), and pod `B` with task `0-Y` against pod `b-0` with task `y`; one instance
// fewer leaves nothing to collide, and the builder is held to the same rule.
#[test]
fn two_pods_whose_task_names_coincide_ignoring_case_are_refused_naming_both() {
    let yaml = |count: u32| {
        format!(
            "name: svc
pods:
  a:
    count: {count}
    tasks:
      1-x: {{cmd: x, cpus: 0.1, memory: 32}}
  a-1:
    count: 2
    tasks:
      x: {{cmd: x, cpus: 0.1, memory: 32}}
  B:
    count: 1
    tasks:
      0-Y: {{cmd: x, cpus: 0.1, memory: 32}}
  b-0:
    count: 1
    tasks:
      y: {{cmd: x, cpus: 0.1, memory: 32}}
"
        )
    };
    assert_eq!(
        problems(&yaml(2)),
        [
            "pods.a-1.tasks.x: task `x` of pod type `a-1` is named `a-1-1-x` in Mesos, as task `1-x` of pod type `a` at pods.a.tasks.1-x is named `a-1-1-x`: task names that differ only in case or in `-` and `_` cannot be told apart (line 10)",
            "pods.b-0.tasks.y: task `y` of pod type `b-0` is named `b-0-0-y` in Mesos, as task `0-Y` of pod type `B` at pods.B.tasks.0-Y is named `B-0-0-Y`: task names that differ only in case or in `-` and `_` cannot be told apart (line 18)",
        ]
    );
    // With one instance of `a` there is no `a-1-1-x`: only the second pair is refused.
    assert_eq!(problems(&yaml(1)).len(), 1);
    let task = |name: &str| TaskSpec::builder(name).cmd("x").cpus(0.1).memory_mb(32);
    let err = ServiceSpec::builder("svc")
        .pod(PodSpec::builder("Web").task(task("0-Ui")))
        .pod(PodSpec::builder("web-0").task(task("ui")))
        .build()
        .unwrap_err();
    assert_eq!(
        err.lines(),
        ["pods.web-0.tasks.ui: task `ui` of pod type `web-0` is named `web-0-0-ui` in Mesos, as task `0-Ui` of pod type `Web` at pods.Web.tasks.0-Ui is named `Web-0-0-Ui`: task names that differ only in case or in `-` and `_` cannot be told apart"]
    );
}

// Goal: a spec plan cannot take the name of a plan the scheduler makes itself. Method: plans
// named `recovery`, `decommission` and `uninstall` beside a good one; each is refused at its
// own line, and the good one alone passes.
#[test]
fn a_spec_plan_named_like_one_of_cairn_s_own_plans_is_refused_at_its_line() {
    let plan = |name: &str| {
        format!("  {name}:\n    phases:\n      p:\n        pod: a\n        steps: [{{default: [[t]]}}]\n")
    };
    let yaml = format!(
        "name: svc\npods:\n  a:\n    count: 1\n    tasks:\n      t: {{cmd: x, cpus: 0.1, memory: 32}}\nplans:\n{}{}{}{}",
        plan("backup"),
        plan("recovery"),
        plan("decommission"),
        plan("uninstall")
    );
    let own = "recovery, decommission, uninstall";
    assert_eq!(
        problems(&yaml),
        ["recovery", "decommission", "uninstall"]
            .iter()
            .zip([13, 18, 23])
            .map(|(name, line)| format!(
                "plans.{name}: `{name}` is the name of one of cairn's own plans ({own}): the API, `cairn plan` and the store could not tell the two apart; give this plan another name (line {line})"
            ))
            .collect::<Vec<_>>()
    );
    let good = format!(
        "name: svc\npods:\n  a:\n    count: 1\n    tasks:\n      t: {{cmd: x, cpus: 0.1, memory: 32}}\nplans:\n{}",
        plan("backup")
    );
    assert!(parse(&good).is_ok());
}

// Goal: every port of a task reaches its environment. Method: two ports whose names differ
// only in case and `-`/`_` (both `PORT_ADMIN_UI`), and one whose env-key takes another's.
#[test]
fn two_ports_of_a_task_that_set_the_same_environment_variable_are_refused() {
    let yaml = "\
name: svc
pods:
  a:
    count: 1
    tasks:
      t:
        cmd: x
        cpus: 0.1
        memory: 32
        ports:
          admin-ui: {port: 0}
          ADMIN_UI: {port: 0}
          web: {port: 0, env-key: PORT_ADMIN_UI}
";
    assert_eq!(
        problems(yaml),
        [
            "pods.a.tasks.t.ports.ADMIN_UI: port `ADMIN_UI` sets the environment variable `PORT_ADMIN_UI`, as does port `admin-ui` of this task (line 12)",
            "pods.a.tasks.t.ports.web: port `web` sets the environment variable `PORT_ADMIN_UI`, as does port `admin-ui` of this task (line 13)",
        ]
    );
}

#[test]
fn builder_specs_are_validated_with_svc_yml_paths() {
    let err = ServiceSpec::builder("svc")
        .pod(
            PodSpec::builder("a")
                .placement("hostname:NEVER")
                .task(TaskSpec::builder("t").cmd("run").memory_mb(32))
                .task(TaskSpec::builder("t").cmd("run").cpus(0.1).memory_mb(32)),
        )
        .plan(PlanSpec::new("deploy").phase(PhaseSpec::new("p", "b")))
        .build()
        .unwrap_err();
    assert_eq!(
        err.lines(),
        [
            "pods.a.placement: unknown operator `NEVER` (expected UNIQUE, CLUSTER, GROUP_BY, LIKE, UNLIKE, MAX_PER, IS or IS_NOT)",
            "pods.a.tasks.t.cpus: must be > 0",
            "pods.a.tasks.t: duplicate task",
            "plans.deploy.phases.p.pod: `b` is not a pod type of this service (pod types: a)",
        ]
    );
}

#[test]
fn a_builder_spec_without_a_user_runs_as_nobody() {
    let task = || TaskSpec::builder("t").cmd("run").cpus(0.1).memory_mb(32);
    let spec = ServiceSpec::builder("svc")
        .pod(PodSpec::builder("a").task(task()))
        .build()
        .unwrap();
    assert_eq!(spec.user, "nobody");
    let spec = ServiceSpec::builder("svc")
        .user("root")
        .pod(PodSpec::builder("a").task(task()))
        .build()
        .unwrap();
    assert_eq!(spec.user, "root");
}

#[test]
fn builder_volumes_are_named_by_their_index() {
    let err = ServiceSpec::builder("svc")
        .pod(
            PodSpec::builder("a").task(
                TaskSpec::builder("t")
                    .cmd("run")
                    .cpus(0.1)
                    .memory_mb(32)
                    .volume(VolumeSpec::root("data", 0)),
            ),
        )
        .build()
        .unwrap_err();
    assert_eq!(err.lines(), ["pods.a.tasks.t.volumes[0].size: must be > 0"]);
}

#[test]
fn builder_refuses_what_svc_yml_refuses() {
    let err = ServiceSpec::builder("svc")
        .pod(
            PodSpec::builder("a").task(
                TaskSpec::builder("t")
                    .cmd("run")
                    .cpus(0.1)
                    .memory_mb(32)
                    .gpus(65),
            ),
        )
        .build()
        .unwrap_err();
    assert_eq!(
        err.lines(),
        ["pods.a.tasks.t.gpus: 65 is more than the limit of 64 GPUs per task or resource set"]
    );
}

#[test]
fn gpus_written_as_a_whole_number_are_read_and_a_fraction_is_refused_naming_the_key() {
    // Goal: SDK specs write `gpus: 1` or `gpus: 1.0`; Mesos refuses fractional GPUs, so
    // `1.5` is an error at its key, not a rounded or silently dropped value.
    for text in ["1", "1.0"] {
        let spec = parse(&with_task_keys(&format!("        gpus: {text}\n"))).unwrap();
        assert_eq!(spec.pods[0].tasks[0].resources.gpus, 1, "gpus: {text}");
        assert!(spec.uses_gpus());
    }
    assert_eq!(
        problems(&with_task_keys("        gpus: 1.5\n")),
        ["pods.a.tasks.t.gpus: 1.5 is not a whole number (GPUs are whole devices; Mesos refuses fractions) (line 10)"]
    );
    assert_eq!(
        problems(&with_task_keys("        gpus: -1\n")),
        ["pods.a.tasks.t.gpus: must be >= 0 (line 10)"]
    );
    assert!(!parse(&with_task_keys("        gpus: 0\n"))
        .unwrap()
        .uses_gpus());
}

#[test]
fn a_pre_reserved_role_of_star_means_none_as_in_sdk_specs() {
    // Goal: SDK packages default a pod's pre-reserved role to `*` ("any"): that is no
    // pre-reservation, not a role to refine. Method: `*` and `slave_public`, and the roles the
    // framework subscribes with for each.
    let star = parse(&with_task_keys("").replace(
        "    count: 1\n",
        "    count: 1\n    pre-reserved-role: \"*\"\n",
    ))
    .unwrap();
    assert_eq!(star.pods[0].pre_reserved_role, None);
    assert_eq!(star.roles(), vec![star.role.clone()]);
    let public = parse(&with_task_keys("").replace(
        "    count: 1\n",
        "    count: 1\n    pre-reserved-role: slave_public\n",
    ))
    .unwrap();
    assert_eq!(
        public.roles(),
        [public.role.clone(), format!("slave_public/{}", public.role)]
    );
}

/// my-service written with the builder, as in examples/my-service.yml.
fn my_service_by_builder() -> ServiceSpec {
    let node = || {
        TaskSpec::builder("node")
            .cmd(r#"echo "$TASK_NAME" >> my-service-container-path/marker && echo "$TASK_NAME: launch $(wc -l < my-service-container-path/marker) on this volume" && sleep 100000"#)
            .cpus(0.1)
            .memory_mb(64)
            .volume(VolumeSpec::root("my-service-container-path", 5000))
    };
    ServiceSpec::builder("my-service")
        .pod(
            PodSpec::builder("metadata")
                .count(2)
                .placement(r#"[["hostname", "MAX_PER", "2"]]"#)
                .task(node()),
        )
        .pod(
            PodSpec::builder("data")
                .count(3)
                .placement(r#"[["hostname", "MAX_PER", "2"]]"#)
                .task(node()),
        )
        .build()
        .unwrap()
}

#[test]
fn the_seed_my_service_in_yaml_equals_the_builder_version() {
    let from_yaml = parse(&example("my-service.yml")).unwrap();
    assert_eq!(from_yaml, my_service_by_builder());
    assert_eq!(from_yaml.role, "my-service-role");
    assert_eq!(from_yaml.principal, "my-service-principal");
    let instances: Vec<String> = from_yaml
        .pods
        .iter()
        .flat_map(|p| p.instances())
        .map(|i| i.to_string())
        .collect();
    assert_eq!(
        instances,
        ["metadata-0", "metadata-1", "data-0", "data-1", "data-2"]
    );
}

#[test]
fn builder_produces_the_same_model_as_the_equivalent_yaml() {
    let yaml = "\
name: shop
scheduler:
  principal: shop-admin
  user: shopper
pods:
  web:
    count: 2
    allow-decommission: true
    uris: [http://example.com/web.tgz]
    resource-sets:
      side: {cpus: 0.2, memory: 16}
    tasks:
      server:
        cmd: ./serve
        cpus: 0.5
        memory: 128
        env: {MODE: prod}
        ports:
          web-http: {port: 0, advertise: true}
        health-check: {cmd: ./ok, interval: 5}
        readiness-check: {cmd: ./ready}
        kill-grace-period: 10
        labels: {tier: front}
      warmup:
        goal: ONCE
        essential: false
        cmd: ./warm
        resource-set: side
plans:
  deploy:
    phases:
      web-deploy:
        pod: web
        strategy: parallel
        steps:
          - default: [[warmup], [server]]
";
    let mut health = HealthCheckSpec::new("./ok");
    health.interval_s = 5;
    let built = ServiceSpec::builder("shop")
        .principal("shop-admin")
        .user("shopper")
        .pod(
            PodSpec::builder("web")
                .count(2)
                .allow_decommission(true)
                .uri("http://example.com/web.tgz")
                .resource_set(ResourceSetSpec::new("side").cpus(0.2).memory_mb(16))
                .task(
                    TaskSpec::builder("server")
                        .cmd("./serve")
                        .cpus(0.5)
                        .memory_mb(128)
                        .env("MODE", "prod")
                        .port(PortSpec::new("web-http", 0).advertise())
                        .health_check(health)
                        .readiness_check(ReadinessCheckSpec::new("./ready"))
                        .kill_grace_period_s(10)
                        .label("tier", "front"),
                )
                .task(
                    TaskSpec::builder("warmup")
                        .goal(Goal::Once)
                        .essential(false)
                        .cmd("./warm")
                        .resource_set("side"),
                ),
        )
        .plan(
            PlanSpec::new("deploy").phase(
                PhaseSpec::new("web-deploy", "web")
                    .strategy(Strategy::Parallel)
                    .step(StepSpec::default_for([["warmup"], ["server"]])),
            ),
        )
        .build()
        .unwrap();
    assert_eq!(parse(yaml).unwrap(), built);
}

#[test]
fn the_hello_world_example_parses_with_its_checks() {
    let spec = parse(&example("hello-world.yml")).unwrap();
    let hello = spec.pod("hello").unwrap().task("server").unwrap();
    assert_eq!(
        hello.health_check,
        Some(HealthCheckSpec {
            cmd: "test -s hello-container-path/output".into(),
            interval_s: 5,
            grace_period_s: 30,
            max_consecutive_failures: 3,
            delay_s: 0,
            timeout_s: 10,
        })
    );
    let world_pod = spec.pod("world").unwrap();
    assert!(world_pod.allow_decommission);
    let world = world_pod.task("server").unwrap();
    assert_eq!(world.readiness_check.as_ref().unwrap().interval_s, 5);
    assert_eq!(world.kill_grace_period_s, Some(5));
    assert_eq!(world.volumes.len(), 2);
    assert_eq!(spec.plan("deploy").unwrap().phases.len(), 2);
    assert!(validate(&spec).is_ok());
}

#[test]
fn a_parsed_spec_survives_a_json_round_trip_unchanged() {
    for name in ["my-service.yml", "hello-world.yml"] {
        let spec = parse(&example(name)).unwrap();
        let json = serde_json::to_string(&spec).unwrap();
        let back: ServiceSpec = serde_json::from_str(&json).unwrap();
        assert_eq!(back, spec, "{name}");
    }
}

#[test]
fn the_json_form_uses_explicit_names_and_tags() {
    let spec = my_service_by_builder();
    let json = serde_json::to_value(&spec).unwrap();
    let pod = &json["pods"][0];
    assert_eq!(pod["type_name"], "metadata");
    assert_eq!(pod["placement"], r#"[["hostname", "MAX_PER", "2"]]"#);
    let task = &pod["tasks"][0];
    assert_eq!(task["goal"], "RUNNING");
    assert_eq!(task["resources"]["memory_mb"], 64);
    assert_eq!(
        task["volumes"][0],
        serde_json::json!({"path": "my-service-container-path", "type": "ROOT", "size_mb": 5000})
    );
}

#[test]
fn task_names_resolve_against_the_spec() {
    let spec = my_service_by_builder();
    let name = TaskName::parse("data-2-node", &spec).unwrap();
    assert_eq!(name.pod_instance, PodInstanceName::new("data", 2));
    assert_eq!(name.task, "node");
    assert_eq!(name.to_string(), "data-2-node");
    assert!(TaskName::parse("data-2-other", &spec).is_err());
    assert!(TaskName::parse("nothing-0-node", &spec).is_err());
}

#[test]
fn placement_rules_are_available_after_parsing() {
    let spec = my_service_by_builder();
    let rules = spec.pods[0].placement.as_ref().unwrap().rules();
    assert_eq!(
        rules,
        [PlacementRule::MaxPer {
            field: PlacementField::Hostname,
            max: 2
        }]
    );
}

/// A one-pod spec whose pod has `rlimits` set to `rlimits` (a flow mapping).
fn with_rlimits(rlimits: &str) -> String {
    format!(
        r#"
name: svc
pods:
  a:
    count: 1
    rlimits: {rlimits}
    tasks:
      t:
        cmd: run
        cpus: 0.1
        memory: 32
"#
    )
}

#[test]
fn rlimits_are_read_by_their_posix_names_and_a_name_without_limits_is_unlimited() {
    let spec = parse(&with_rlimits(
        "{RLIMIT_NOFILE: {soft: 128000, hard: 128000}, RLIMIT_CORE: , RLIMIT_STACK: {}}",
    ))
    .unwrap();
    let pod = spec.pod("a").unwrap();
    assert_eq!(
        pod.rlimits,
        [
            RlimitSpec::new(cairn_proto::RlimitType::Nofile, 128_000, 128_000),
            RlimitSpec::unlimited(cairn_proto::RlimitType::Core),
            RlimitSpec::unlimited(cairn_proto::RlimitType::Stack),
        ]
    );
}

#[test]
fn rlimits_mesos_or_linux_would_refuse_are_refused_at_their_path() {
    assert_eq!(
        problems(&with_rlimits(
            "{RLIMIT_FILES: {soft: 1, hard: 1}, RLIMIT_CPU: {soft: 10}, RLIMIT_AS: {soft: 9, hard: 8}, RLIMIT_NOFILE: {}, RLIMIT_NPROC: {soft: -1, hard: 1}}"
        )),
        [
            "pods.a.rlimits.RLIMIT_FILES: unknown resource limit (expected one of: RLIMIT_AS, RLIMIT_CORE, RLIMIT_CPU, RLIMIT_DATA, RLIMIT_FSIZE, RLIMIT_LOCKS, RLIMIT_MEMLOCK, RLIMIT_MSGQUEUE, RLIMIT_NICE, RLIMIT_NOFILE, RLIMIT_NPROC, RLIMIT_RSS, RLIMIT_RTPRIO, RLIMIT_RTTIME, RLIMIT_SIGPENDING, RLIMIT_STACK) (line 6)",
            "pods.a.rlimits.RLIMIT_NPROC.soft: must be >= 0 (line 6)",
            "pods.a.rlimits.RLIMIT_CPU: give both `soft` and `hard`, or neither for unlimited (line 6)",
            "pods.a.rlimits.RLIMIT_AS: soft limit 9 is above the hard limit 8 (line 6)",
            "pods.a.rlimits.RLIMIT_NOFILE: open files cannot be unlimited on Linux (the kernel caps them at fs.nr_open); give `soft` and `hard` (line 6)",
        ]
    );
    let unknown_key = problems(&with_rlimits("{RLIMIT_NOFILE: {soft: 1, hard: 2, max: 3}}"));
    assert!(
        unknown_key[0].starts_with(
            "pods.a.rlimits.RLIMIT_NOFILE.max: unknown key (expected one of: soft, hard)"
        ),
        "{unknown_key:?}"
    );
}

#[test]
fn a_rust_spec_gets_the_same_rlimit_rules_as_svc_yml() {
    let built = ServiceSpec::builder("svc")
        .pod(
            PodSpec::builder("a")
                .rlimit(RlimitSpec::new(cairn_proto::RlimitType::Nofile, 10, 5))
                .rlimit(RlimitSpec::unlimited(cairn_proto::RlimitType::Core))
                .rlimit(RlimitSpec::new(cairn_proto::RlimitType::Core, 0, 0))
                .task(TaskSpec::builder("t").cmd("run").cpus(0.1).memory_mb(32)),
        )
        .build()
        .unwrap_err()
        .lines();
    assert_eq!(
        built,
        [
            "pods.a.rlimits.RLIMIT_NOFILE: soft limit 10 is above the hard limit 5",
            "pods.a.rlimits.RLIMIT_CORE: duplicate resource limit",
        ]
    );
}

/// Template files by path, as `cairn::load_spec` reads them beside a spec.
struct Files(Vec<(&'static str, String)>);

impl TemplateFiles for Files {
    fn read(&self, path: &str) -> Result<String, String> {
        self.0
            .iter()
            .find(|(p, _)| *p == path)
            .map(|(_, text)| text.clone())
            .ok_or_else(|| format!("cannot read `{path}`: No such file or directory"))
    }
}

fn with_configs(configs: &str) -> String {
    with_task_keys(&format!("        configs:\n{configs}"))
}

#[test]
fn a_config_template_s_text_is_read_beside_the_spec_and_kept_in_the_config() {
    // Goal: the template's content, not its path, is part of the stored config (so a changed
    // file is a changed config). Method: parse with files; the model holds the text; the
    // same spec with another text is another model.
    let yaml = with_configs(
        "          server-conf: {template: conf/server.mustache, dest: etc/server.conf}\n",
    );
    let files = |text: &str| Files(vec![("conf/server.mustache", text.to_string())]);
    let spec = parse_yaml_with(&yaml, &env(&[]), &files("port={{PORT_HTTP}}\n")).unwrap();
    assert_eq!(
        spec.pods[0].tasks[0].configs,
        vec![ConfigFileSpec::new(
            "server-conf",
            "etc/server.conf",
            "port={{PORT_HTTP}}\n"
        )]
    );
    let changed = parse_yaml_with(&yaml, &env(&[]), &files("port={{PORT_HTTP}} # v2\n")).unwrap();
    assert_ne!(spec, changed);
    // The builder makes the same model from the text.
    let built = ServiceSpec::builder("svc")
        .pod(
            PodSpec::builder("a").task(
                TaskSpec::builder("t")
                    .cmd("run")
                    .cpus(0.1)
                    .memory_mb(32)
                    .config("server-conf", "etc/server.conf", "port={{PORT_HTTP}}\n"),
            ),
        )
        .build()
        .unwrap();
    assert_eq!(built, spec);
}

#[test]
fn a_config_dest_written_with_dot_components_is_the_same_sandbox_path_without_them() {
    let yaml = with_configs("          c: {template: c.mustache, dest: ./conf/./c.yaml}\n");
    let files = Files(vec![("c.mustache", "x\n".to_string())]);
    let spec = parse_yaml_with(&yaml, &env(&[]), &files).unwrap();
    assert_eq!(spec.pods[0].tasks[0].configs[0].dest, "conf/c.yaml");
}

#[test]
fn bad_configs_are_refused_each_at_its_key_with_the_template_s_line() {
    // Goal: every way a config can be wrong is said at once, at its key, and nothing is
    // built. Method: one spec with a missing file, an escaping and an absolute dest, a
    // template syntax error, an oversized template, a bad name and two names that make one
    // variable.
    let yaml = with_configs(concat!(
        "          missing: {template: nowhere.conf, dest: a.conf}\n",
        "          up: {template: ok.conf, dest: ../a.conf}\n",
        "          abs: {template: ok.conf, dest: /etc/passwd}\n",
        "          broken: {template: broken.conf, dest: b.conf}\n",
        "          big: {template: big.conf, dest: c.conf}\n",
        "          sl/ash: {template: ok.conf, dest: d.conf}\n",
        "          x-y: {template: ok.conf, dest: e.conf}\n",
        "          x.y: {template: ok.conf, dest: f.conf}\n",
        "          nodest: {template: ok.conf}\n",
    ));
    let files = Files(vec![
        ("ok.conf", "fine\n".into()),
        ("broken.conf", "a\n{{#TLS}}\nb\n".into()),
        ("big.conf", "x".repeat(1_048_577)),
    ]);
    let problems = parse_yaml_with(&yaml, &env(&[]), &files)
        .unwrap_err()
        .lines();
    assert_eq!(
        problems,
        [
            "pods.a.tasks.t.configs.missing.template: cannot read `nowhere.conf`: No such file or directory (line 11)",
            "pods.a.tasks.t.configs.up.dest: must be a path inside the sandbox: '../a.conf' has a '..' component (line 12)",
            "pods.a.tasks.t.configs.abs.dest: must be a path inside the sandbox: '/etc/passwd' is absolute (line 13)",
            "pods.a.tasks.t.configs.broken.template: line 2: `{{#TLS}}` is never closed (line 14)",
            "pods.a.tasks.t.configs.big.template: is 1048577 bytes long, more than the limit of 1000000 bytes per config template (its text, and the file rendered from it) (line 15)",
            "pods.a.tasks.t.configs.sl/ash: a config's name is letters, digits, `.`, `_` and `-` (it names a file in the sandbox and a variable) (line 16)",
            "pods.a.tasks.t.configs.x.y: its variable CONFIG_TEMPLATE_X_Y is config `x-y`'s too: rename one (line 18)",
            "pods.a.tasks.t.configs.nodest.dest: is required (line 19)",
            // The oversized template makes the stored config too big, too.
            "spec: 1049672 is more than the limit of 1048575 bytes per spec (svc.yml before and after rendering, and the stored JSON)",
        ]
    );
    // A spec given as text alone cannot read templates, and says so at the key.
    assert_eq!(
        problems_of(&with_configs("          c: {template: a.conf, dest: a}\n")),
        ["pods.a.tasks.t.configs.c.template: cannot read `a.conf`: this spec was given as text, and templates are read beside a spec file (line 11)"]
    );
}

fn problems_of(yaml: &str) -> Vec<String> {
    problems(yaml)
}

#[test]
fn taskcfg_settings_reach_the_pods_they_name_without_their_prefix_over_the_spec_s_env() {
    // Goal: the scheduler's TASKCFG_ALL_* reach every task, TASKCFG_<POD>_* the tasks of that
    // pod type only (its name upper-cased, `-` as `_`), and both override the spec's env, as
    // the SDK routes them; rendering svc.yml routes none (whoever renders it, the scheduler
    // that runs it routes its own). Method: two pod types and a spec env they override; the
    // scheduler's settings among the process environment's.
    let yaml = r#"
name: svc
pods:
  hello-world:
    count: 1
    tasks:
      t: {cmd: run, cpus: 0.1, memory: 32, env: {LEVEL: debug, OWN: mine}}
  web:
    count: 1
    tasks:
      t: {cmd: run, cpus: 0.1, memory: 32}
"#;
    let e = env(&[
        ("TASKCFG_ALL_LEVEL", "info"),
        ("TASKCFG_ALL_CLUSTER", "c1"),
        ("TASKCFG_HELLO_WORLD_CLUSTER", "c2"),
        ("TASKCFG_WEB_PORT_COUNT", "3"),
        ("UNRELATED", "x"),
    ]);
    let mut spec = parse_yaml(yaml, &e).unwrap();
    assert_eq!(
        spec.pods[0].tasks[0].env,
        env(&[("LEVEL", "debug"), ("OWN", "mine")]),
        "rendering routes nothing"
    );
    let settings = taskcfg_settings(e.clone());
    assert!(!settings.contains_key("UNRELATED"));
    route_task_env(&mut spec, &settings);
    assert_eq!(
        spec.pods[0].tasks[0].env,
        env(&[("CLUSTER", "c2"), ("LEVEL", "info"), ("OWN", "mine")])
    );
    assert_eq!(
        spec.pods[1].tasks[0].env,
        env(&[("CLUSTER", "c1"), ("LEVEL", "info"), ("PORT_COUNT", "3")])
    );
}

#[test]
fn a_replacement_failure_policy_is_read_in_seconds_or_minutes() {
    let spec = |policy: &str| {
        format!(
            "name: svc\nreplacement-failure-policy: {policy}\npods:\n  a:\n    count: 1\n    tasks:\n      t: {{cmd: run, cpus: 0.1, memory: 32}}\n"
        )
    };
    let read = |policy: &str| parse(&spec(policy)).unwrap().replacement_failure_policy;
    assert_eq!(
        read("{permanent-failure-timeout-secs: 600, min-replace-delay-secs: 240}"),
        Some(ReplacementFailurePolicy {
            permanent_failure_timeout_s: 600,
            min_replace_delay_s: 240
        })
    );
    assert_eq!(
        read("{permanent-failure-timeout-mins: 5}"),
        Some(ReplacementFailurePolicy {
            permanent_failure_timeout_s: 300,
            ..ReplacementFailurePolicy::default()
        })
    );
    assert_eq!(
        problems(&spec(
            "{permanent-failure-timeout-secs: 60, permanent-failure-timeout-mins: 1, min-replace-delay-secs: -1}"
        )),
        [
            "replacement-failure-policy.permanent-failure-timeout-mins: give `permanent-failure-timeout-secs` or `permanent-failure-timeout-mins`, not both (line 2)",
            "replacement-failure-policy.min-replace-delay-secs: must be >= 0 (line 2)",
        ]
    );
}

#[test]
fn resource_limits_are_numbers_or_unlimited_and_never_below_the_request() {
    let spec = |limits: &str| {
        format!(
            "name: svc\npods:\n  a:\n    count: 1\n    tasks:\n      t:\n        cmd: run\n        cpus: 1\n        memory: 256\n        resource-limits: {limits}\n"
        )
    };
    let task = parse(&spec("{cpus: unlimited, memory: \"1024\"}"))
        .unwrap()
        .pods[0]
        .tasks[0]
        .clone();
    assert_eq!(
        task.resource_limits,
        ResourceLimits {
            cpus: Some(ResourceLimit::Unlimited),
            memory_mb: Some(ResourceLimit::At(1024.0)),
        }
    );
    assert_eq!(
        problems(&spec("{cpus: 0.5, memory: lots}")),
        [
            "pods.a.tasks.t.resource-limits.memory: `lots` is not a number or `unlimited` (line 10)",
            "pods.a.tasks.t.resource-limits.cpus: 0.5 is below the 1 cpus the task reserves (line 10)",
        ]
    );
}
