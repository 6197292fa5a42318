//! Config changes and uninstall with real processes: `cairn cluster`, `cairn scheduler`,
//! `cairn update` and `cairn uninstall`, observed through the cluster's operator API and the
//! state directory.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::service::{cairn, output_text, ServiceScheduler};
use support::{ClusterProcess, CAIRN};

/// How long a deploy or an uninstall may take. Generous: the machine is shared.
const DEADLINE: Duration = Duration::from_secs(90);
const ROLE: &str = "usvc-role";
const SERVICE: &str = "usvc";

/// Three pods, one per agent, each one task with a small ROOT volume. `{size}` and `{cpus}`
/// are what the tests change.
fn spec(size: u32, cpus: f64) -> String {
    format!(
        r#"
name: {SERVICE}
pods:
  node:
    count: 3
    placement: '[["hostname", "UNIQUE"]]'
    tasks:
      server:
        goal: RUNNING
        cmd: 'echo "$TASK_NAME $$" >> data/marker && exec sleep 100000'
        cpus: {cpus}
        memory: 32
        volume: {{path: data, type: ROOT, size: {size}}}
"#
    )
}

/// `cairn scheduler` of the spec in `spec_file` against the test's cluster, with its state in
/// the scratch dir; `n` numbers its stderr file.
fn start_scheduler(cluster: &ClusterProcess, spec_file: &Path, n: usize) -> ServiceScheduler {
    ServiceScheduler::on_cluster(cluster, spec_file, n, &[])
}

async fn operator(cluster: &ClusterProcess, call: &str) -> Value {
    let (status, body) = cluster.operator_raw(&json!({ "type": call })).await;
    assert!(status.is_success(), "{call}: {status} {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{call} answer {body}: {e}"))
}

/// The role's reservations on every agent: (agent id, resource name, persistence id).
async fn reservations(
    cluster: &ClusterProcess,
    role: &str,
) -> Vec<(String, String, Option<String>)> {
    let doc = operator(cluster, "GET_AGENTS").await;
    let mut out = Vec::new();
    for agent in doc["get_agents"]["agents"]
        .as_array()
        .cloned()
        .unwrap_or_default()
    {
        let id = agent["agent_info"]["id"]["value"]
            .as_str()
            .unwrap_or("")
            .to_string();
        for r in agent["total_resources"]
            .as_array()
            .cloned()
            .unwrap_or_default()
        {
            let on_role = r["reservations"]
                .as_array()
                .is_some_and(|rs| rs.iter().any(|res| res["role"] == role));
            if on_role || r["disk"]["persistence"].is_object() {
                out.push((
                    id.clone(),
                    r["name"].as_str().unwrap_or("").to_string(),
                    r["disk"]["persistence"]["id"].as_str().map(str::to_string),
                ));
            }
        }
    }
    out
}

/// Deploys `usvc` as `spec(10, 0.1)` with a first scheduler and waits for it: the scheduler
/// (still running) and the tasks it runs.
async fn deploy_usvc(
    cluster: &ClusterProcess,
) -> (
    ServiceScheduler,
    BTreeMap<String, (String, String, Option<String>)>,
) {
    start_deployed(cluster, "v1.yml", &spec(10, 0.1), 3, 1).await
}

/// Writes `text` to `file` in the scratch dir, starts scheduler number `n_scheduler` with it and
/// waits for it to say the deploy is complete with `tasks` tasks running.
async fn start_deployed(
    cluster: &ClusterProcess,
    file: &str,
    text: &str,
    tasks: usize,
    n_scheduler: usize,
) -> (
    ServiceScheduler,
    BTreeMap<String, (String, String, Option<String>)>,
) {
    let path = cluster.scratch.join(file);
    std::fs::write(&path, text).unwrap();
    let mut sched = start_scheduler(cluster, &path, n_scheduler);
    let running = deployed_n(cluster, &mut sched, file, tasks, |l| {
        l.iter().any(|l| l == "deploy COMPLETE")
    })
    .await;
    (sched, running)
}

/// How many frameworks named after the service GET_FRAMEWORKS lists as active and as
/// completed, and the whole answer for messages.
async fn service_frameworks(cluster: &ClusterProcess, service: &str) -> (usize, usize, Value) {
    let frameworks = operator(cluster, "GET_FRAMEWORKS").await;
    let named = |key: &str| {
        frameworks["get_frameworks"][key]
            .as_array()
            .map_or(0, |fs| {
                fs.iter()
                    .filter(|f| f["framework_info"]["name"] == service)
                    .count()
            })
    };
    (
        named("frameworks"),
        named("completed_frameworks"),
        frameworks,
    )
}

/// The role's reserved resources by the pod instance their reservation is labeled for:
/// (agent id, resource name, persistence id) each, sorted.
async fn reservations_by_pod(
    cluster: &ClusterProcess,
    role: &str,
) -> BTreeMap<String, Vec<(String, String, Option<String>)>> {
    let doc = operator(cluster, "GET_AGENTS").await;
    let mut out: BTreeMap<String, Vec<_>> = BTreeMap::new();
    for agent in doc["get_agents"]["agents"]
        .as_array()
        .cloned()
        .unwrap_or_default()
    {
        let id = agent["agent_info"]["id"]["value"].as_str().unwrap_or("");
        for r in agent["total_resources"]
            .as_array()
            .cloned()
            .unwrap_or_default()
        {
            let Some(ours) = r["reservations"]
                .as_array()
                .and_then(|rs| rs.iter().find(|res| res["role"] == role))
            else {
                continue;
            };
            let pod = ours["labels"]["labels"]
                .as_array()
                .and_then(|ls| ls.iter().find(|l| l["key"] == "pod_instance"))
                .and_then(|l| l["value"].as_str())
                .unwrap_or("(unlabeled)")
                .to_string();
            out.entry(pod).or_default().push((
                id.to_string(),
                r["name"].as_str().unwrap_or("").to_string(),
                r["disk"]["persistence"]["id"].as_str().map(str::to_string),
            ));
        }
    }
    for v in out.values_mut() {
        v.sort();
    }
    out
}

/// RUNNING tasks by name: (task id, agent id, the persistence id of its volume).
async fn running(cluster: &ClusterProcess) -> BTreeMap<String, (String, String, Option<String>)> {
    let doc = operator(cluster, "GET_TASKS").await;
    doc["get_tasks"]["tasks"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter(|t| t["state"] == "TASK_RUNNING")
        .map(|t| {
            let volume = t["resources"].as_array().and_then(|rs| {
                rs.iter()
                    .find_map(|r| r["disk"]["persistence"]["id"].as_str().map(str::to_string))
            });
            (
                t["name"].as_str().unwrap_or("").to_string(),
                (
                    t["task_id"]["value"].as_str().unwrap_or("").to_string(),
                    t["agent_id"]["value"].as_str().unwrap_or("").to_string(),
                    volume,
                ),
            )
        })
        .collect()
}

/// Waits for the scheduler to say the deploy is complete and the master to run `n` tasks.
async fn deployed_n(
    cluster: &ClusterProcess,
    sched: &mut ServiceScheduler,
    what: &str,
    n: usize,
    done: impl Fn(&[String]) -> bool,
) -> BTreeMap<String, (String, String, Option<String>)> {
    let deadline = Instant::now() + DEADLINE;
    loop {
        sched.assert_alive();
        let said = done(&sched.stdout());
        let tasks = running(cluster).await;
        if said && tasks.len() == n {
            return tasks;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: not done after {DEADLINE:?}; running: {tasks:#?}\n{}",
            sched.output()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Every file of a directory tree with its contents.
fn tree(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        let Ok(listing) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in listing.map_while(Result::ok) {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else if let Ok(bytes) = std::fs::read(&path) {
                out.insert(path, bytes);
            }
        }
    }
    out
}

/// The store's files but the task records (the running scheduler may record a status update
/// at any time): the target, the configs, the framework id and the properties.
fn config_tree(state: &Path, service: &str) -> BTreeMap<PathBuf, Vec<u8>> {
    let tasks = state.join(service).join("Tasks");
    let all = tree(&state.join(service));
    assert!(
        all.keys().any(|p| p.ends_with("ConfigTarget")),
        "no target stored: {:#?}",
        all.keys().collect::<Vec<_>>()
    );
    all.into_iter()
        .filter(|(p, _)| !p.starts_with(&tasks))
        .collect()
}

/// Runs `cairn update SPEC --state-dir STATE [extra..]` and asserts whether it succeeds and
/// that its stdout says `says`.
fn update_says(spec: &Path, state: &Path, extra: &[&str], succeeds: bool, says: &str) {
    let mut args = vec![
        "update",
        spec.to_str().unwrap(),
        "--state-dir",
        state.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let update = cairn(&args, Duration::from_secs(30));
    assert_eq!(
        update.status.success(),
        succeeds,
        "{}",
        output_text(&update)
    );
    assert!(
        String::from_utf8_lossy(&update.stdout).contains(says),
        "{}",
        output_text(&update)
    );
}

/// Runs `cairn uninstall` of the service in `state` against the cluster, to its end.
fn run_uninstall(cluster: &ClusterProcess, state: &str, agent_timeout: &str) -> Output {
    cairn(
        &[
            "uninstall",
            "--master",
            &cluster.master,
            "--state-dir",
            state,
            "--agent-timeout",
            agent_timeout,
            "--credentials",
            cluster.credentials_path().to_str().unwrap(),
        ],
        DEADLINE,
    )
}

const MY_SERVICE_ROLE: &str = "my-service-role";
const MY_SERVICE: &str = "my-service";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_update_of_my_service_changes_nothing_and_uninstall_releases_everything() {
    let cluster = ClusterProcess::start("update-uninstall").await;
    let state = cluster.scratch.join("state");
    let state_arg = state.to_str().unwrap().to_string();
    let (mut sched, tasks) = start_deployed(&cluster, "v1.yml", &my_service(0.1), 5, 1).await;
    assert!(
        tasks.values().all(|(_, _, v)| v.is_some()),
        "every task has its volume: {tasks:#?}"
    );
    assert!(
        reservations(&cluster, MY_SERVICE_ROLE)
            .await
            .iter()
            .any(|(_, _, v)| v.is_some()),
        "the role holds volumes"
    );

    // Handed to the running scheduler, a bigger volume is refused: every violation named,
    // non-zero, the store untouched, no task touched.
    let before = config_tree(&state, MY_SERVICE);
    let v2 = cluster.scratch.join("v2.yml");
    std::fs::write(&v2, my_service(0.1).replace("size: 5000", "size: 6000")).unwrap();
    update_says(&v2, &state, &[], false, "volumes_cannot_change: ");
    assert_eq!(
        config_tree(&state, MY_SERVICE),
        before,
        "cairn update changed the store"
    );

    // So is a lower count without allow-decommission.
    let shrunk = cluster.scratch.join("shrunk.yml");
    std::fs::write(&shrunk, my_service(0.1).replace("count: 3", "count: 2")).unwrap();
    update_says(&shrunk, &state, &[], false, "pod_count_cannot_shrink: ");
    assert_eq!(
        config_tree(&state, MY_SERVICE),
        before,
        "cairn update changed the store"
    );
    sched.assert_alive();
    assert_eq!(
        running(&cluster).await,
        tasks,
        "a refused update touches no task"
    );

    // With the scheduler stopped, the same check runs offline: refused, and an accepted change
    // (cpus) is accepted and changes nothing either (a scheduler started with it rolls it out).
    sched.stop();
    update_says(&v2, &state, &[], false, "volumes_cannot_change: ");
    let v3 = cluster.scratch.join("v3.yml");
    std::fs::write(&v3, my_service(0.2)).unwrap();
    update_says(
        &v3,
        &state,
        &[],
        true,
        "update accepted: restart the scheduler",
    );
    assert_eq!(
        config_tree(&state, MY_SERVICE),
        before,
        "cairn update changed the store"
    );

    // The scheduler started with the refused spec says so, and keeps the stored target.
    let mut sched = start_scheduler(&cluster, &v2, 2);
    let again = deployed_n(
        &cluster,
        &mut sched,
        "restart with the refused spec",
        5,
        |l| {
            l.iter()
                .any(|l| l.contains("config change refused") && l.contains("volumes_cannot_change"))
        },
    )
    .await;
    assert_eq!(again, tasks, "nothing was relaunched");
    sched.stop();

    // Uninstall: everything of the role goes, the framework is torn down, the state deleted.
    let uninstall = run_uninstall(&cluster, &state_arg, "2m");
    assert!(uninstall.status.success(), "{}", output_text(&uninstall));
    assert!(
        String::from_utf8_lossy(&uninstall.stdout).contains("my-service: uninstalled"),
        "{}",
        output_text(&uninstall)
    );
    let left = reservations(&cluster, MY_SERVICE_ROLE).await;
    assert!(
        left.is_empty(),
        "reservations or volumes left: {left:#?}\n{}",
        output_text(&uninstall)
    );
    let (active, completed, frameworks) = service_frameworks(&cluster, MY_SERVICE).await;
    assert_eq!(active, 0, "{frameworks:#}");
    assert_eq!(completed, 1, "{frameworks:#}");
    let running = running(&cluster).await;
    assert!(running.is_empty(), "tasks left: {running:#?}");
    let stored = tree(&state);
    assert!(
        stored.keys().all(|p| p
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with('.'))),
        "state left: {:#?}",
        stored.keys().collect::<Vec<_>>()
    );
}

/// examples/my-service.yml (2 metadata + 3 data pods, each with a volume and a marker file)
/// with every task's cpus set to `cpus`.
fn my_service(cpus: f64) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/my-service.yml");
    let text = std::fs::read_to_string(&path).expect("examples/my-service.yml");
    assert!(text.contains("cpus: 0.1"), "my-service.yml sets cpus: 0.1");
    text.replace("cpus: 0.1", &format!("cpus: {cpus}"))
}

/// Asserts that a relaunched task's volume keeps the first launch's marker line and has the
/// relaunch's: the data survived, in place.
async fn assert_marker_kept(
    cluster: &ClusterProcess,
    role: &str,
    task: &str,
    agent: &str,
    volume: &Option<String>,
) {
    let index = cluster
        .agent_index(&cairn_proto::AgentId::new(agent.to_string()))
        .await;
    let volume = volume.as_deref().expect("the task has a volume");
    let marker = std::fs::read_dir(cluster.volume_dir(index, role, volume))
        .expect("the volume directory")
        .map_while(Result::ok)
        .map(|e| e.path())
        .find(|p| p.file_name().is_some_and(|n| n == "marker"))
        .expect("a marker file in the volume");
    let lines = std::fs::read_to_string(&marker).unwrap_or_default();
    assert!(
        lines.lines().filter(|l| l.starts_with(task)).count() >= 2,
        "{task}'s volume keeps the first launch's line and has the new one: {lines:?}"
    );
}

/// Waits for a cpus 0.1 -> 0.2 rollout to finish: never two pods down at once, every pod in
/// `before` relaunched on its own agent and volume, its marker kept, the new cpus in force.
async fn assert_rolled_out(
    cluster: &ClusterProcess,
    sched: &mut ServiceScheduler,
    before: &BTreeMap<String, (String, String, Option<String>)>,
    role: &str,
) {
    let deadline = Instant::now() + DEADLINE;
    let after = loop {
        sched.assert_alive();
        let now = running(cluster).await;
        let down = before.keys().filter(|n| !now.contains_key(*n)).count();
        assert!(
            down <= 1,
            "{down} pods down at once: {now:#?}\n{}",
            sched.output()
        );
        let replaced = now
            .iter()
            .filter(|(n, (id, _, _))| before.get(*n).is_some_and(|b| &b.0 != id))
            .count();
        let said = sched.stdout().iter().any(|l| l == "deploy COMPLETE");
        if said && replaced == before.len() {
            break now;
        }
        assert!(
            Instant::now() < deadline,
            "rollout not done after {DEADLINE:?}: {now:#?}\n{}",
            sched.output()
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    for (name, (_, agent, volume)) in &after {
        let (_, old_agent, old_volume) = &before[name];
        assert_eq!(agent, old_agent, "{name} on the same agent");
        assert_eq!(volume, old_volume, "{name} on the same volume");
        assert_marker_kept(cluster, role, name, agent, volume).await;
    }
    let cpus = task_cpus(cluster).await;
    assert!(
        cpus.values().all(|c| (c - 0.2).abs() < 1e-9),
        "every task runs with the new cpus: {cpus:?}"
    );
}

/// The cpus of a RUNNING task's own resources, by task name.
async fn task_cpus(cluster: &ClusterProcess) -> BTreeMap<String, f64> {
    let doc = operator(cluster, "GET_TASKS").await;
    doc["get_tasks"]["tasks"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter(|t| t["state"] == "TASK_RUNNING")
        .map(|t| {
            let cpus = t["resources"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .iter()
                .filter(|r| r["name"] == "cpus")
                .filter_map(|r| r["scalar"]["value"].as_f64())
                .sum();
            (t["name"].as_str().unwrap_or("").to_string(), cpus)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cpu_change_restarts_all_five_my_service_pods_one_at_a_time_keeping_agents_and_volume_data(
) {
    let cluster = ClusterProcess::start("update-rollout").await;
    let state = cluster.scratch.join("state");
    let (mut sched, before) = start_deployed(&cluster, "v1.yml", &my_service(0.1), 5, 1).await;
    let status_before = update_status(&state);

    // Handed to the running scheduler, which restarts itself with it (same process) and rolls
    // it out while `cairn update` follows; watch every pod go, one at a time.
    let update = spawn_update(&cluster, "v2.yml", &my_service(0.2));
    assert_rolled_out(&cluster, &mut sched, &before, MY_SERVICE_ROLE).await;
    let update = update.await.unwrap();
    assert!(update.status.success(), "{}", output_text(&update));
    let said = String::from_utf8_lossy(&update.stdout).into_owned();
    assert!(said.contains("update accepted by the scheduler"), "{said}");
    assert!(said.contains("my-service: update complete"), "{said}");
    assert!(
        sched
            .stdout()
            .iter()
            .any(|l| l.contains("update accepted; restarting the scheduler with the new spec")),
        "{}",
        sched.output()
    );

    // `cairn update status` shows the new target, rolled out, every step complete.
    let status_after = update_status(&state);
    assert_ne!(
        config_id(&status_after),
        config_id(&status_before),
        "a new target"
    );
    assert!(status_after.contains("rolled out"), "{status_after}");
    assert!(
        status_after.contains("plan deploy (serial): COMPLETE"),
        "{status_after}"
    );
    for pod in ["metadata-0", "metadata-1", "data-0", "data-1", "data-2"] {
        assert!(
            status_after
                .lines()
                .any(|l| l.trim_start().starts_with(pod) && l.contains("COMPLETE")),
            "{pod}: {status_after}"
        );
    }
    sched.stop();
}

/// What `cairn update status` prints for the service in `state`.
fn update_status(state: &Path) -> String {
    let out = cairn(
        &["update", "status", "--state-dir", state.to_str().unwrap()],
        Duration::from_secs(30),
    );
    assert!(out.status.success(), "{}", output_text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The target config id `cairn update status` names on its first line.
fn config_id(status: &str) -> String {
    let first = status.lines().next().unwrap_or_default();
    let id = first
        .split("config ")
        .nth(1)
        .and_then(|r| r.split(',').next());
    id.unwrap_or_else(|| panic!("no config id in {status}"))
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_uninstall_that_times_out_on_a_stopped_agent_fails_naming_it() {
    let cluster = ClusterProcess::start("uninstall-timeout").await;
    let state_arg = cluster.scratch.join("state").to_str().unwrap().to_string();
    let (mut sched, tasks) = deploy_usvc(&cluster).await;
    sched.stop();
    let stopped = tasks["node-1-server"].1.clone();
    let index = cluster
        .agent_index(&cairn_proto::AgentId::new(stopped.clone()))
        .await;
    cluster.agent_action(index, "stop").await;

    // Past before the master could declare the stopped agent gone (its ping timeout
    // is 2s): the uninstall gives up on the agents it still waits for.
    let uninstall = run_uninstall(&cluster, &state_arg, "1ms");
    assert!(!uninstall.status.success(), "{}", output_text(&uninstall));
    let stderr = String::from_utf8_lossy(&uninstall.stderr);
    assert!(
        stderr.contains("agent timeout passed") && stderr.contains(&stopped),
        "{}",
        output_text(&uninstall)
    );
    // The uninstall still finished: the framework is gone.
    let (active, _, frameworks) = service_frameworks(&cluster, SERVICE).await;
    assert_eq!(active, 0, "{frameworks:#}");
}

/// my-service with `count` data pods and `allow-decommission` set to `allow` on them.
fn my_service_data(count: u32, allow: bool) -> String {
    let text = my_service(0.1);
    assert_eq!(text.matches("count: 3").count(), 1, "only data has 3 pods");
    text.replace(
        "count: 3",
        &format!("count: {count}\n    allow-decommission: {allow}"),
    )
}

/// Writes `spec` to `file` and starts `cairn update` with it against the running scheduler of
/// the cluster's state dir; the handle ends with its output once the rollout is done.
fn spawn_update(
    cluster: &ClusterProcess,
    file: &str,
    spec: &str,
) -> tokio::task::JoinHandle<Output> {
    let path = cluster.scratch.join(file);
    std::fs::write(&path, spec).unwrap();
    let state = cluster.scratch.join("state");
    tokio::task::spawn_blocking(move || {
        let (path, state) = (path.to_str().unwrap(), state.to_str().unwrap());
        cairn(&["update", path, "--state-dir", state], DEADLINE)
    })
}

/// Runs `cairn update SPEC` against the running scheduler, to the end of the rollout, and
/// asserts it says so.
async fn update_running(cluster: &ClusterProcess, file: &str, spec: &str) {
    let out = spawn_update(cluster, file, spec).await.unwrap();
    assert!(out.status.success(), "{}", output_text(&out));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("my-service: update complete"),
        "{}",
        output_text(&out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_higher_count_adds_data_3_touching_no_other_pod_and_decommission_frees_exactly_its_reservations(
) {
    let cluster = ClusterProcess::start("update-count").await;
    let (mut sched, five) =
        start_deployed(&cluster, "v1.yml", &my_service_data(3, false), 5, 1).await;

    // 3 -> 4 data pods, handed to the running scheduler: data-3 is launched with a volume of
    // its own; the other five pods are untouched.
    update_running(&cluster, "v2.yml", &my_service_data(4, true)).await;
    let six = running(&cluster).await;
    assert_eq!(six.len(), 6, "{six:#?}");
    for (name, before) in &five {
        assert_eq!(&six[name], before, "{name} was touched by the count change");
    }
    let added = &six["data-3-node"];
    assert!(added.2.is_some(), "data-3 has its own volume: {six:#?}");
    assert!(
        five.values().all(|t| t.2 != added.2),
        "data-3's volume is new: {six:#?}"
    );
    let held = reservations_by_pod(&cluster, MY_SERVICE_ROLE).await;
    assert!(held.contains_key("data-3"), "{held:#?}");
    let volume = added.2.clone().unwrap();
    let agent = cluster
        .agent_index(&cairn_proto::AgentId::new(added.1.clone()))
        .await;
    let volume_dir = cluster.volume_dir(agent, MY_SERVICE_ROLE, &volume);
    assert!(
        volume_dir.join("marker").exists(),
        "data-3 wrote its marker in {}",
        volume_dir.display()
    );

    // 4 -> 3 with allow-decommission: data-3's task, reservations and volume go, and only
    // those (the update command waits for the decommission plan too).
    update_running(&cluster, "v3.yml", &my_service_data(3, true)).await;
    sched.assert_alive();
    let mut expected = held.clone();
    expected.remove("data-3");
    assert_eq!(
        reservations_by_pod(&cluster, MY_SERVICE_ROLE).await,
        expected
    );
    let tasks = running(&cluster).await;
    assert_eq!(
        tasks, five,
        "only data-3 went; every other pod is untouched"
    );
    assert!(
        !volume_dir.exists(),
        "data-3's volume directory is destroyed"
    );
    sched.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_uninstall_killed_midway_with_one_agent_lost_finishes_when_run_again() {
    let cluster = ClusterProcess::start("uninstall-kill").await;
    let state = cluster.scratch.join("state");
    let state_arg = state.to_str().unwrap().to_string();
    let (mut sched, tasks) = deploy_usvc(&cluster).await;
    sched.stop();
    let agent_of = |task: &str| cairn_proto::AgentId::new(tasks[task].1.clone());
    let lost = cluster.agent_index(&agent_of("node-2-server")).await;
    let stopped = cluster.agent_index(&agent_of("node-1-server")).await;
    // One agent is gone for good (its reservations with it); another is down, so the first
    // uninstall cannot finish before it is killed.
    cluster.agent_action(lost, "lose").await;
    cluster.agent_action(stopped, "stop").await;

    let mut first = Command::new(CAIRN)
        .args([
            "uninstall",
            "--master",
            &cluster.master,
            "--state-dir",
            &state_arg,
            "--credentials",
            cluster.credentials_path().to_str().unwrap(),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting cairn uninstall");
    let mark = state.join(SERVICE).join("Properties/uninstalling");
    let on_running_agent = cluster.volume_dir(
        cluster.agent_index(&agent_of("node-0-server")).await,
        ROLE,
        tasks["node-0-server"].2.as_deref().unwrap(),
    );
    assert!(on_running_agent.exists(), "{}", on_running_agent.display());
    // Killed once the uninstall is under way: marked, and the running agent's volume gone.
    support::eventually("the first uninstall to be under way", || {
        mark.exists() && !on_running_agent.exists()
    })
    .await;
    first.kill().expect("kill -9 the uninstall");
    let _ = first.wait();
    assert!(
        tree(&state).keys().any(|p| p.ends_with("ConfigTarget")),
        "the killed uninstall had not finished"
    );

    cluster.agent_action(stopped, "restart").await;
    let again = run_uninstall(&cluster, &state_arg, "2m");
    assert!(again.status.success(), "{}", output_text(&again));
    let left = reservations(&cluster, ROLE).await;
    assert!(
        left.is_empty(),
        "reservations or volumes left: {left:#?}\n{}",
        output_text(&again)
    );
    let (active, _, frameworks) = service_frameworks(&cluster, SERVICE).await;
    assert_eq!(active, 0, "{frameworks:#}");
    assert!(running(&cluster).await.is_empty(), "tasks left");
    assert!(
        !tree(&state).keys().any(|p| p.ends_with("ConfigTarget")),
        "the service's state is deleted"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduler_killed_midway_through_a_rollout_finishes_it_after_restart() {
    let cluster = ClusterProcess::start("update-kill").await;
    let (mut sched, before) = deploy_usvc(&cluster).await;
    sched.stop();

    let v2 = cluster.scratch.join("v2.yml");
    std::fs::write(&v2, spec(10, 0.2)).unwrap();
    let replaced = |now: &BTreeMap<String, (String, String, Option<String>)>| {
        now.iter()
            .filter(|(n, (id, _, _))| before.get(*n).is_some_and(|b| &b.0 != id))
            .count()
    };
    // kill -9 once the first pod runs the new config and before the last does.
    let mut sched = start_scheduler(&cluster, &v2, 2);
    let deadline = Instant::now() + DEADLINE;
    loop {
        sched.assert_alive();
        let now = running(&cluster).await;
        let done = replaced(&now);
        if done >= 1 {
            assert!(done < 3, "the rollout ended before the kill: {now:#?}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no pod replaced\n{}",
            sched.output()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    sched.kill9();

    let mut sched = start_scheduler(&cluster, &v2, 3);
    assert_rolled_out(&cluster, &mut sched, &before, ROLE).await;
    sched.stop();
}
