//! What `cairn::run` (a service written in Rust) makes of its command line and environment: the
//! same as `cairn run` and `cairn scheduler` do, through the same code.

use cairn::core::scheduler::Scheduler;
use cairn::core::store::StoredState;
use cairn::spec::{PodSpec, ServiceSpec, TaskSpec};
use cairn::RunOptions;

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

// Goal: a Rust service takes `--agent-extra-resources INDEX=RESOURCES` as `cairn run` and
// `cairn cluster` do, with the same checks. Method: a good entry per agent (both spellings), then
// entries naming a missing agent, half a GPU and an agent twice.
#[test]
fn a_rust_service_s_flags_take_agent_extra_resources_as_cairn_run_does() {
    let opts = RunOptions::from_args(args(&[
        "--agent-extra-resources",
        "1=gpus:2",
        "--agents",
        "2",
        "--agent-extra-resources=0=cpus(slave_public):1;mem(slave_public):512",
    ]))
    .unwrap()
    .unwrap();
    assert_eq!(opts.agent_extra_resources.len(), 2);
    assert_eq!(opts.agent_extra_resources[&1].scalar("gpus"), 2.0);
    assert_eq!(opts.agent_extra_resources[&0].scalar("mem"), 512.0);
    for (bad, says) in [
        (
            &["--agents", "2", "--agent-extra-resources", "5=gpus:1"][..],
            "--agent-extra-resources '5=gpus:1': there is no agent 5 (agents are 0 to 1)",
        ),
        (
            &["--agent-extra-resources", "1=gpus:0.5"][..],
            "--agent-extra-resources '1=gpus:0.5': gpus:0.5 is not a whole number of GPUs",
        ),
        (
            &["--agent-extra-resources", "gpus:1"][..],
            "--agent-extra-resources 'gpus:1': expected INDEX=RESOURCES",
        ),
        (
            &[
                "--agent-extra-resources",
                "1=gpus:1",
                "--agent-extra-resources",
                "1=gpus:2",
            ][..],
            "agent 1 is given extra resources twice",
        ),
    ] {
        let err = RunOptions::from_args(args(bad)).unwrap_err().to_string();
        assert!(err.contains(says), "{bad:?}: {err}");
    }
}

// Goal: a Rust service's scheduler routes the `TASKCFG_*` of its environment into its tasks, as
// `cairn scheduler` does with a svc.yml. Method: set them in this test process's environment
// (this file's only test that does), read the options as `cairn::run` reads them, build the
// scheduler they configure and look at its tasks' environments.
#[test]
fn a_rust_service_routes_its_environment_s_taskcfg_into_its_tasks_as_cairn_scheduler_does() {
    std::env::set_var("TASKCFG_ALL_LEVEL", "debug");
    std::env::set_var("TASKCFG_WEB_UI_THEME", "dark");
    let opts = RunOptions::from_args(Vec::new()).unwrap().unwrap();
    let task = |n: &str| TaskSpec::builder(n).cmd("run").cpus(0.1).memory_mb(32);
    let spec = ServiceSpec::builder("svc")
        .pod(PodSpec::builder("web-ui").task(task("server").env("LEVEL", "info")))
        .pod(PodSpec::builder("db").task(task("node")))
        .build()
        .unwrap();
    let scheduler = Scheduler::new(
        opts.scheduler,
        spec,
        StoredState::default(),
        cairn::driver::now(),
    )
    .unwrap();
    let env = |pod: usize| scheduler.spec().pods[pod].tasks[0].env.clone();
    assert_eq!(env(0).get("LEVEL").map(String::as_str), Some("debug"));
    assert_eq!(env(0).get("THEME").map(String::as_str), Some("dark"));
    assert_eq!(env(1).get("LEVEL").map(String::as_str), Some("debug"));
    assert_eq!(env(1).get("THEME"), None, "a pod's own setting is its own");
}
