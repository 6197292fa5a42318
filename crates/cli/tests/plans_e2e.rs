//! Plans beyond deploy and update with real processes: `cairn cluster`, `cairn scheduler` and
//! `cairn plan start|stop|force-complete`: a sidecar plan started with a parameter runs its
//! FINISH task beside each pod's volume, completes, runs again on the next start, resumes with
//! its parameter after the scheduler is killed with -9; a step that fails for good is
//! force-completed; a plan's RUNNING task killed with -9 comes back with its run and parameter;
//! bad commands change nothing; a pod whose custom deploy steps launch its tasks one by one comes
//! back whole, in place, after a kill -9 of its second step's task.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use cairn::api::ApiClient;
use cairn::core::plan::Status;
use support::service::{cairn, cairn_on, cairn_on_ok, output_text, ServiceScheduler};
use support::ClusterProcess;

/// How long a deploy or a plan may take. Generous: the machine is shared.
const DEADLINE: Duration = Duration::from_secs(120);
const SERVICE: &str = "psvc";
const ROLE: &str = "psvc-role";

/// Two `hello` pods, one per agent, sharing a pod volume `data` between their tasks. The deploy
/// plan runs `server`; plan `sidecar` runs `sidecar` (it appends `$PLAN_PARAM` to the volume's
/// `runs`, then waits for the test's `go-$PLAN_PARAM` there), one pod after the other; plan
/// `stuck` runs `fail`, which fails for good on hello-0 and succeeds on hello-1; plan `watch`
/// runs `watcher`, a RUNNING task that appends `$PLAN_PARAM` to the volume's `watcher` at each
/// start and then runs for good.
const SPEC: &str = r#"
name: psvc
pods:
  hello:
    count: 2
    placement: '[["hostname", "UNIQUE"]]'
    volume: {path: data, type: ROOT, size: 10}
    tasks:
      server:
        goal: RUNNING
        cmd: 'echo $POD_INSTANCE_INDEX > data/pod && exec sleep 100000'
        cpus: 0.1
        memory: 32
      sidecar:
        goal: FINISH
        cmd: 'echo "$PLAN_PARAM" >> data/runs && until [ -e "data/go-$PLAN_PARAM" ]; do sleep 0.2; done'
        cpus: 0.1
        memory: 32
      fail:
        goal: FINISH
        cmd: 'echo tried >> data/tries; [ "$POD_INSTANCE_INDEX" != 0 ]'
        cpus: 0.1
        memory: 32
      watcher:
        goal: RUNNING
        essential: false
        cmd: 'echo "$PLAN_PARAM" >> data/watcher && echo $$ > data/watcher.pid && exec sleep 100000'
        cpus: 0.1
        memory: 32
plans:
  deploy:
    phases:
      hello:
        pod: hello
        steps: [{default: [[server]]}]
  sidecar:
    phases:
      run:
        pod: hello
        strategy: serial
        steps: [{default: [[sidecar]]}]
  stuck:
    phases:
      try:
        pod: hello
        strategy: serial
        steps: [{default: [[fail]]}]
  watch:
    phases:
      run:
        pod: hello
        steps: [{default: [[watcher]]}]
"#;

fn start_scheduler(cluster: &ClusterProcess, spec: &Path, n: usize) -> ServiceScheduler {
    ServiceScheduler::on_cluster(cluster, spec, n, &[])
}

fn state(cluster: &ClusterProcess) -> PathBuf {
    cluster.scratch.join("state")
}

/// `cairn plan ARGS --state-dir STATE`.
fn plan(cluster: &ClusterProcess, args: &[&str]) -> Output {
    cairn_on(cluster, &[&["plan"], args].concat())
}

fn plan_ok(cluster: &ClusterProcess, args: &[&str]) -> String {
    cairn_on_ok(cluster, &[&["plan"], args].concat())
}

/// Each plan's status and its steps' (name, status), by plan name.
type Plans = BTreeMap<String, (Status, Vec<(String, Status)>)>;

/// POST `path` with `body` to the scheduler's API, with its token: the status and the body.
async fn post_api(cluster: &ClusterProcess, path: &str, body: &str) -> (u16, String) {
    let state = state(cluster);
    let client = ApiClient::find(&state, SERVICE)
        .unwrap()
        .expect("the scheduler wrote its API address");
    let token = read(&cairn::api::token_file(&state, SERVICE));
    let r = support::http_client()
        .post(format!("{}{path}", client.base()))
        .header("authorization", format!("Bearer {}", token.trim()))
        .body(body.to_string())
        .send()
        .await
        .expect("the API answers");
    (r.status().as_u16(), r.text().await.unwrap_or_default())
}

/// The plans' statuses and every step's, by plan name (none before the scheduler wrote its
/// API's address).
async fn plans(cluster: &ClusterProcess) -> Plans {
    let mut out = BTreeMap::new();
    let Ok(Some(client)) = ApiClient::find(&state(cluster), SERVICE) else {
        return out;
    };
    let Ok(summaries) = client.plans().await else {
        return out;
    };
    for s in summaries {
        let Ok((summary, steps)) = client.plan_steps(&s.name).await else {
            return BTreeMap::new();
        };
        out.insert(
            s.name.clone(),
            (
                summary.status,
                steps.into_iter().map(|e| (e.name, e.status)).collect(),
            ),
        );
    }
    out
}

/// Waits until `cond` holds of the plans.
async fn plans_until(
    cluster: &ClusterProcess,
    sched: &mut ServiceScheduler,
    what: &str,
    cond: impl Fn(&Plans) -> bool,
) {
    let deadline = Instant::now() + DEADLINE;
    loop {
        sched.assert_alive();
        let now = plans(cluster).await;
        if cond(&now) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: not within {DEADLINE:?}: {now:#?}\n{}",
            sched.output()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A cluster named `name` running `spec_text`'s service, its deploy plan complete.
async fn deployed(name: &str, spec_text: &str) -> (ClusterProcess, ServiceScheduler) {
    let cluster = ClusterProcess::start(name).await;
    let spec = cluster.scratch.join("svc.yml");
    std::fs::write(&spec, spec_text).unwrap();
    let mut sched = start_scheduler(&cluster, &spec, 1);
    plans_until(&cluster, &mut sched, "deployed", |p| {
        status_of(p, "deploy") == Some(Status::Complete)
    })
    .await;
    (cluster, sched)
}

fn status_of(plans: &Plans, plan: &str) -> Option<Status> {
    plans.get(plan).map(|p| p.0)
}

/// Each pod's volume directory, by pod index (the server writes its index there).
fn volumes(cluster: &ClusterProcess) -> BTreeMap<String, PathBuf> {
    let mut out = BTreeMap::new();
    for agent in 0..3 {
        let roles = cluster.agent_dir(agent).join("volumes/roles").join(ROLE);
        let Ok(listing) = std::fs::read_dir(&roles) else {
            continue;
        };
        for volume in listing.flatten() {
            if let Ok(index) = std::fs::read_to_string(volume.path().join("pod")) {
                out.insert(index.trim().to_string(), volume.path());
            }
        }
    }
    out
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

async fn file_says(sched: &mut ServiceScheduler, path: &Path, want: &str) {
    let deadline = Instant::now() + DEADLINE;
    while read(path) != want {
        sched.assert_alive();
        assert!(
            Instant::now() < deadline,
            "{} says {:?}, not {want:?}\n{}",
            path.display(),
            read(path),
            sched.output()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sidecar_plan_runs_beside_the_pods_volumes_with_its_parameter_again_on_the_next_start_and_across_a_kill_9(
) {
    let cluster = ClusterProcess::start("plans-sidecar").await;
    let spec = cluster.scratch.join("svc.yml");
    std::fs::write(&spec, SPEC).unwrap();
    let mut sched = start_scheduler(&cluster, &spec, 1);
    plans_until(&cluster, &mut sched, "deployed, sidecar idle", |p| {
        status_of(p, "deploy") == Some(Status::Complete)
            && status_of(p, "sidecar") == Some(Status::Waiting)
    })
    .await;
    let vols = volumes(&cluster);
    assert_eq!(vols.len(), 2, "one volume per pod: {vols:?}");
    let (v0, v1) = (vols["0"].clone(), vols["1"].clone());

    // Bad input changes nothing.
    let before = plans(&cluster).await;
    let unknown = plan(&cluster, &["start", "nightly"]);
    assert!(!unknown.status.success());
    assert!(
        output_text(&unknown).contains(
            "no plan `nightly` (plans: deploy, recovery, decommission, sidecar, stuck, watch)"
        ),
        "{}",
        output_text(&unknown)
    );
    let nokey = plan(&cluster, &["start", "sidecar", "-p", "NOKEY"]);
    assert!(!nokey.status.success());
    assert!(
        output_text(&nokey).contains("`NOKEY` is not KEY=VALUE"),
        "{}",
        output_text(&nokey)
    );
    for (path, body, code, says) in [
        ("/v1/plans/nightly/start", "", 404, "no plan `nightly`"),
        (
            "/v1/plans/sidecar/start",
            "[1]",
            400,
            "a JSON object of strings",
        ),
        (
            "/v1/plans/sidecar/start",
            r#"{"1X": "y"}"#,
            400,
            "`1X` is not an environment variable name",
        ),
        (
            "/v1/plans/deploy/start",
            "",
            409,
            "the `deploy` plan runs by itself",
        ),
        (
            "/v1/plans/sidecar/restart?phase=run&step=hello-9:[sidecar]",
            "",
            409,
            "has no step `hello-9:[sidecar]`",
        ),
    ] {
        let (got, answer) = post_api(&cluster, path, body).await;
        assert!(
            got == code && answer.contains(says),
            "POST {path} {body}: {got} {answer}"
        );
    }
    assert_eq!(plans(&cluster).await, before, "nothing changed");
    assert_eq!(read(&v0.join("runs")), "", "nothing started");

    // A first start: each pod's sidecar writes the parameter into the pod's own volume.
    let said = plan_ok(&cluster, &["start", "sidecar", "-p", "PLAN_PARAM=first"]);
    assert!(
        said.contains("sidecar: started with PLAN_PARAM=first"),
        "{said}"
    );
    file_says(&mut sched, &v0.join("runs"), "first\n").await;
    std::fs::write(v0.join("go-first"), "").unwrap();
    file_says(&mut sched, &v1.join("runs"), "first\n").await;
    std::fs::write(v1.join("go-first"), "").unwrap();
    plans_until(&cluster, &mut sched, "sidecar complete", |p| {
        status_of(p, "sidecar") == Some(Status::Complete)
    })
    .await;

    // Started again with another parameter, it runs again; the scheduler is killed with -9
    // while hello-0's task runs, and the next one carries on with the same parameter.
    plan_ok(&cluster, &["start", "sidecar", "-p", "PLAN_PARAM=second"]);
    file_says(&mut sched, &v0.join("runs"), "first\nsecond\n").await;
    let status = cairn(
        &[
            "update",
            "status",
            "--state-dir",
            state(&cluster).to_str().unwrap(),
        ],
        Duration::from_secs(60),
    );
    let shown = String::from_utf8_lossy(&status.stdout).into_owned();
    assert!(
        shown.contains("plan sidecar (serial): IN_PROGRESS\n  parameters: PLAN_PARAM=second\n"),
        "{}",
        output_text(&status)
    );
    sched.kill9();
    let mut sched = start_scheduler(&cluster, &spec, 2);
    std::fs::write(v0.join("go-second"), "").unwrap();
    file_says(&mut sched, &v1.join("runs"), "first\nsecond\n").await;
    std::fs::write(v1.join("go-second"), "").unwrap();
    plans_until(&cluster, &mut sched, "sidecar complete again", |p| {
        status_of(p, "sidecar") == Some(Status::Complete)
    })
    .await;
    assert_eq!(
        read(&v0.join("runs")),
        "first\nsecond\n",
        "the restarted scheduler resumed the run, it did not run hello-0 again"
    );
    sched.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_that_fails_for_good_is_force_completed_and_its_plan_completes() {
    let (cluster, mut sched) = deployed("plans-stuck", SPEC).await;
    let vols = volumes(&cluster);
    plan_ok(&cluster, &["start", "stuck"]);
    // hello-0's task fails, is launched again, fails again: the plan cannot get past it.
    let tries = vols["0"].join("tries");
    let deadline = Instant::now() + DEADLINE;
    while read(&tries).lines().count() < 2 {
        sched.assert_alive();
        assert!(
            Instant::now() < deadline,
            "no second try\n{}",
            sched.output()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let now = plans(&cluster).await;
    assert_eq!(
        status_of(&now, "stuck"),
        Some(Status::InProgress),
        "{now:#?}"
    );
    assert_eq!(read(&vols["1"].join("tries")), "", "hello-1 waits its turn");

    let said = plan_ok(
        &cluster,
        &["force-complete", "stuck", "try", "hello-0:[fail]"],
    );
    assert!(
        said.contains("step hello-0:[fail] of phase try of plan stuck: force-complete done"),
        "{said}"
    );
    plans_until(&cluster, &mut sched, "stuck complete", |p| {
        status_of(p, "stuck") == Some(Status::Complete)
    })
    .await;
    assert_eq!(
        read(&vols["1"].join("tries")),
        "tried\n",
        "hello-1 ran once"
    );
    sched.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_s_running_task_killed_with_9_is_relaunched_in_place_with_its_run_and_parameter() {
    let (cluster, mut sched) = deployed("plans-watch", SPEC).await;
    let v0 = volumes(&cluster)["0"].clone();
    plan_ok(&cluster, &["start", "watch", "-p", "PLAN_PARAM=kept"]);
    plans_until(&cluster, &mut sched, "watch complete", |p| {
        status_of(p, "watch") == Some(Status::Complete)
    })
    .await;
    file_says(&mut sched, &v0.join("watcher"), "kept\n").await;
    let labels_of_running = |tasks: &cairn_proto::master::GetTasks| {
        tasks
            .tasks
            .iter()
            .find(|t| t.name == "hello-0-watcher" && t.state == cairn_proto::TaskState::Running)
            .map(|t| {
                (
                    t.task_id.value.clone(),
                    t.labels.clone().unwrap_or_default(),
                )
            })
    };
    let (first_id, first_labels) =
        labels_of_running(&cluster.get_tasks().await).expect("hello-0-watcher runs");
    let run = first_labels.get("plan_run").map(str::to_string);
    assert!(run.is_some(), "{first_labels:?}");

    let pid = support::read_pid(&v0.join("watcher.pid")).await;
    support::signal(pid, libc::SIGKILL);
    // Recovery relaunches it in place with the parameter it was started with (the file's next
    // line), and the plan takes the relaunch for its own run: it stays complete and launches
    // nothing more.
    file_says(&mut sched, &v0.join("watcher"), "kept\nkept\n").await;
    let deadline = Instant::now() + DEADLINE;
    let (second_id, second_labels) = loop {
        sched.assert_alive();
        if let Some((id, labels)) = labels_of_running(&cluster.get_tasks().await) {
            if id != first_id {
                break (id, labels);
            }
        }
        assert!(
            Instant::now() < deadline,
            "no relaunched hello-0-watcher runs\n{}",
            sched.output()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(
        second_labels.get("plan_run").map(str::to_string),
        run,
        "{second_id}: {second_labels:?}"
    );
    plans_until(
        &cluster,
        &mut sched,
        "recovered, watch still complete",
        |p| {
            status_of(p, "watch") == Some(Status::Complete)
                && p.get("recovery").is_some_and(|(_, steps)| steps.is_empty())
        },
    )
    .await;
    assert_eq!(
        labels_of_running(&cluster.get_tasks().await).map(|(id, _)| id),
        Some(second_id),
        "the relaunch still runs: the plan did not replace it"
    );
    assert_eq!(read(&v0.join("watcher")), "kept\nkept\n");
    sched.stop();
}

/// One `pair` pod whose custom deploy plan launches its two RUNNING tasks in steps of their own
/// (`[[a], [b]]`), both essential, sharing the pod volume: each appends `<task> <pid>` to the
/// volume's `marker` and its pid to `<task>.pid`, then runs for good.
const PAIR_SPEC: &str = r#"
name: psvc
pods:
  pair:
    count: 1
    volume: {path: data, type: ROOT, size: 10}
    tasks:
      a:
        goal: RUNNING
        cmd: 'echo $POD_INSTANCE_INDEX > data/pod && echo "a $$" >> data/marker && echo $$ > data/a.pid && exec sleep 100000'
        cpus: 0.1
        memory: 32
      b:
        goal: RUNNING
        cmd: 'echo "b $$" >> data/marker && echo $$ > data/b.pid && exec sleep 100000'
        cpus: 0.1
        memory: 32
plans:
  deploy:
    phases:
      pair:
        pod: pair
        steps: [{default: [[a], [b]]}]
"#;

/// The `marker` lines of a volume, as (task, pid).
fn marker(volume: &Path) -> Vec<(String, u32)> {
    read(&volume.join("marker"))
        .lines()
        .filter_map(|l| {
            let (task, pid) = l.split_once(' ')?;
            Some((task.to_string(), pid.parse().ok()?))
        })
        .collect()
}

/// The running tasks of the pair, by name: (task id, agent id).
async fn running_pair(cluster: &ClusterProcess) -> BTreeMap<String, (String, String)> {
    cluster
        .get_tasks()
        .await
        .tasks
        .iter()
        .filter(|t| t.name.starts_with("pair-0-") && t.state == cairn_proto::TaskState::Running)
        .map(|t| {
            (
                t.name.clone(),
                (t.task_id.value.clone(), t.agent_id.value.clone()),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_9_of_the_second_step_s_task_brings_both_tasks_back_in_place_each_launched_once() {
    let (cluster, mut sched) = deployed("plans-pair", PAIR_SPEC).await;
    let volume = volumes(&cluster)["0"].clone();
    let first = marker(&volume);
    assert_eq!(
        first.iter().map(|(t, _)| t.as_str()).collect::<Vec<_>>(),
        ["a", "b"],
        "{first:?}"
    );
    let before = running_pair(&cluster).await;
    assert_eq!(before.len(), 2, "{before:?}");

    // b is essential: the pod comes back whole, a killed as the survivor and both relaunched
    // in their steps' order, once each, and the recovery then holds still.
    support::signal(first[1].1, libc::SIGKILL);
    plans_until(&cluster, &mut sched, "recovered", |p| {
        marker(&volume).len() >= 4
            && status_of(p, "deploy") == Some(Status::Complete)
            && p.get("recovery")
                .is_some_and(|(s, steps)| *s == Status::Complete && steps.is_empty())
    })
    .await;
    let after = running_pair(&cluster).await;
    let lines = marker(&volume);
    assert_eq!(
        lines.iter().map(|(t, _)| t.as_str()).collect::<Vec<_>>(),
        ["a", "b", "a", "b"],
        "each task launched once more, a then b: {lines:?}\n{}",
        sched.output()
    );
    assert!(!support::pid_alive(first[0].1), "the survivor a was killed");
    for (task, pid) in &lines[2..] {
        assert!(support::pid_alive(*pid), "{task} runs as {pid}");
    }
    assert_eq!(after.len(), 2, "{after:?}");
    for (name, (id, agent)) in &after {
        let (old_id, old_agent) = &before[name];
        assert_ne!(id, old_id, "{name} is a new task");
        assert_eq!(agent, old_agent, "{name} is back on its agent");
    }
    assert_eq!(
        volumes(&cluster)["0"],
        volume,
        "the same volume, its data kept"
    );
    sched.stop();
}
