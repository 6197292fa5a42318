//! `configs:` templates with real processes: `cairn cluster`, `cairn scheduler` (which serves
//! the templates and the renderer from its API) and real tasks, whose sandboxes render the
//! templates before their commands run.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use support::service::{cairn_with_env, output_text, ServiceScheduler};
use support::ClusterProcess;

/// How long a deploy or a rollout may take. Generous: the machine is shared.
const DEADLINE: Duration = Duration::from_secs(120);
const SERVICE: &str = "csvc";
const ROLE: &str = "csvc-role";

/// Two pods, one per agent, whose task writes its rendered config into its volume.
fn spec(template: &str) -> String {
    format!(
        r#"
name: {SERVICE}
pods:
  app:
    count: 2
    placement: '[["hostname", "UNIQUE"]]'
    tasks:
      server:
        goal: RUNNING
        cmd: 'cat etc/app.conf > data/rendered && exec sleep 100000'
        cpus: 0.1
        memory: 32
        ports: {{http: {{port: 0}}}}
        volume: {{path: data, type: ROOT, size: 10}}
        configs:
          app-conf: {{template: {template}, dest: etc/app.conf}}
"#
    )
}

const TEMPLATE: &str = "port={{PORT_HTTP}}\nindex={{POD_INSTANCE_INDEX}}\nsandbox={{MESOS_SANDBOX}}\nlevel={{LEVEL}}\nversion=";

fn start_scheduler(cluster: &ClusterProcess, spec_file: &Path, n: usize) -> ServiceScheduler {
    ServiceScheduler::on_cluster(cluster, spec_file, n, TASKCFG)
}

/// The scheduler's environment: it routes its TASKCFG_* into every spec it takes.
const TASKCFG: &[(&str, &str)] = &[("TASKCFG_ALL_LEVEL", "debug")];

/// The operator's environment for `cairn update`, with another value: the spec is rendered
/// with it, but TASKCFG_* are the scheduler's.
const OPERATOR_TASKCFG: &[(&str, &str)] = &[("TASKCFG_ALL_LEVEL", "info")];

/// A running task of the service: its id, agent, port and volume.
#[derive(Debug, Clone, PartialEq)]
struct Running {
    task_id: String,
    agent_id: String,
    port: u64,
    volume: String,
}

/// The service's running tasks, by name.
async fn running(cluster: &ClusterProcess) -> BTreeMap<String, Running> {
    let mut out = BTreeMap::new();
    for t in cluster.running_tasks_json().await {
        let resources = t["resources"].as_array().cloned().unwrap_or_default();
        let port = resources
            .iter()
            .find(|r| r["name"] == "ports")
            .and_then(|r| r["ranges"]["range"][0]["begin"].as_u64())
            .unwrap_or(0);
        let volume = resources
            .iter()
            .find_map(|r| r["disk"]["persistence"]["id"].as_str().map(str::to_string))
            .unwrap_or_default();
        out.insert(
            t["name"].as_str().unwrap_or("").to_string(),
            Running {
                task_id: t["task_id"]["value"].as_str().unwrap_or("").to_string(),
                agent_id: t["agent_id"]["value"].as_str().unwrap_or("").to_string(),
                port,
                volume,
            },
        );
    }
    out
}

/// What each running task wrote into its volume from its rendered config, by task name.
async fn rendered(
    cluster: &ClusterProcess,
    tasks: &BTreeMap<String, Running>,
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (name, t) in tasks {
        let agent = cluster
            .agent_index(&cairn_proto::AgentId::new(t.agent_id.clone()))
            .await;
        let file = cluster.volume_dir(agent, ROLE, &t.volume).join("rendered");
        out.insert(
            name.clone(),
            std::fs::read_to_string(&file).unwrap_or_default(),
        );
    }
    out
}

/// Waits until the scheduler has said `done` and two tasks run whose rendered files all end
/// with `version=<version>`.
async fn rendered_with(
    cluster: &ClusterProcess,
    sched: &mut ServiceScheduler,
    version: &str,
) -> (BTreeMap<String, Running>, BTreeMap<String, String>) {
    let deadline = Instant::now() + DEADLINE;
    loop {
        sched.assert_alive();
        let tasks = running(cluster).await;
        let files = rendered(cluster, &tasks).await;
        let complete = sched.stdout().iter().any(|l| l.ends_with("COMPLETE"));
        if complete
            && tasks.len() == 2
            && files
                .values()
                .all(|f| f.ends_with(&format!("version={version}")))
        {
            return (tasks, files);
        }
        assert!(
            Instant::now() < deadline,
            "version {version} not rendered after {DEADLINE:?}: {tasks:#?} {files:#?}\n{}",
            sched.output()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_config_template_is_rendered_in_the_sandbox_with_the_task_s_port_index_sandbox_and_taskcfg_values_and_a_changed_template_rolls_out_keeping_the_scheduler_s_taskcfg(
) {
    // Goal: the scheduler serves a task's template and the renderer, and the task renders it
    // with its own runtime environment before its command runs; a changed template file is a
    // changed config that `cairn update` rolls out, with the scheduler's TASKCFG_* values
    // whatever the operator's environment holds (it says it does not use its own). Method:
    // two pods that copy their rendered config into their volume; read it there; change the
    // template, update from an environment with another TASKCFG value, read again.
    let cluster = ClusterProcess::start("configs").await;
    let conf = cluster.scratch.join("conf");
    std::fs::create_dir_all(&conf).unwrap();
    std::fs::write(conf.join("app.mustache"), format!("{TEMPLATE}1")).unwrap();
    let spec_file = cluster.scratch.join("svc.yml");
    std::fs::write(&spec_file, spec("conf/app.mustache")).unwrap();
    let mut sched = start_scheduler(&cluster, &spec_file, 1);

    let (first, files) = rendered_with(&cluster, &mut sched, "1").await;
    for (name, t) in &first {
        let index = name.trim_start_matches("app-").trim_end_matches("-server");
        let text = &files[name];
        let sandbox = text
            .lines()
            .find_map(|l| l.strip_prefix("sandbox="))
            .unwrap_or_else(|| panic!("{name}: no sandbox line in {text}"));
        assert_eq!(
            text,
            &format!(
                "port={}\nindex={index}\nsandbox={sandbox}\nlevel=debug\nversion=1",
                t.port
            ),
            "{name}"
        );
        assert!(t.port > 0, "{name} has a port");
        assert!(
            PathBuf::from(sandbox).join("etc/app.conf").is_file(),
            "{name}: MESOS_SANDBOX is the task's sandbox, where the config was rendered: {sandbox}"
        );
    }

    // A new template text: the same spec file, a changed config.
    std::fs::write(conf.join("app.mustache"), format!("{TEMPLATE}2")).unwrap();
    let (path, state) = (
        spec_file.to_str().unwrap().to_string(),
        cluster.scratch.join("state").to_str().unwrap().to_string(),
    );
    let out = tokio::task::spawn_blocking(move || {
        cairn_with_env(
            &["update", &path, "--state-dir", &state],
            OPERATOR_TASKCFG,
            DEADLINE,
        )
    })
    .await
    .unwrap();
    assert!(out.status.success(), "{}", output_text(&out));
    assert!(
        output_text(&out).contains(
            "note: TASKCFG_ALL_LEVEL of this environment is not used: the tasks get the running scheduler's own TASKCFG_* settings"
        ),
        "{}",
        output_text(&out)
    );
    let (second, files) = rendered_with(&cluster, &mut sched, "2").await;
    for (name, text) in &files {
        assert!(
            text.contains("\nlevel=debug\n"),
            "{name} kept the scheduler's TASKCFG value: {text}"
        );
    }
    for (name, t) in &second {
        assert_ne!(t.task_id, first[name].task_id, "{name} was relaunched");
        assert_eq!(t.volume, first[name].volume, "{name} kept its volume");
    }
    sched.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_template_with_a_missing_value_fails_its_task_naming_the_template_the_line_and_the_variable(
) {
    // Goal: a template whose value the task's environment lacks stops the task before its
    // command, and says which template, line and variable. Method: one pod whose template
    // uses an unset variable on line 2; the command would leave a mark if it ran.
    let cluster = ClusterProcess::start("configs-missing").await;
    std::fs::write(
        cluster.scratch.join("bad.mustache"),
        "ok={{TASK_NAME}}\nbad={{NOT_SET}}\n",
    )
    .unwrap();
    let spec_file = cluster.scratch.join("svc.yml");
    std::fs::write(
        &spec_file,
        r#"
name: csvc
pods:
  app:
    count: 1
    tasks:
      server:
        cmd: 'touch command-ran && exec sleep 100000'
        cpus: 0.1
        memory: 32
        configs:
          bad-conf: {template: bad.mustache, dest: bad.conf}
"#,
    )
    .unwrap();
    let mut sched = start_scheduler(&cluster, &spec_file, 1);
    let want = "template bad-conf line 2: variable `NOT_SET` is not set";
    let deadline = Instant::now() + DEADLINE;
    let stderr = loop {
        sched.assert_alive();
        if let Some(found) = files_named(&cluster.work_dir, "stderr")
            .into_iter()
            .find(|f| std::fs::read_to_string(f).is_ok_and(|t| t.contains(want)))
        {
            break found;
        }
        assert!(
            Instant::now() < deadline,
            "no task said `{want}` after {DEADLINE:?}\n{}",
            sched.output()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let sandbox = stderr.parent().unwrap();
    assert!(
        !sandbox.join("command-ran").exists(),
        "the command did not run"
    );
    assert!(!sandbox.join("bad.conf").exists(), "nothing half-rendered");
    // And where an operator looks first: the failure's message, which the scheduler shows
    // while the task waits to be launched again.
    let deadline = Instant::now() + DEADLINE;
    while !sched.stdout().iter().any(|l| l.contains(want)) {
        sched.assert_alive();
        assert!(
            Instant::now() < deadline,
            "the scheduler never showed `{want}`\n{}",
            sched.output()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    sched.stop();
}

/// Every file called `name` under `dir`.
fn files_named(dir: &Path, name: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        let Ok(listing) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in listing.map_while(Result::ok) {
            let path = entry.path();
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                pending.push(path);
            } else if path.file_name().is_some_and(|n| n == name) {
                out.push(path);
            }
        }
    }
    out
}
