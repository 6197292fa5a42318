//! `cairn pod list|status|info|restart|replace|pause|resume` and `GET /v1/health` with real
//! processes: `cairn cluster`, `cairn scheduler` (whose progress lines are `cairn run`'s: one
//! printer for both) and real tasks. A crash-looping task is reported with its exit code and
//! the last lines of its stderr by the progress lines, `pod status` and `/v1/health`; a paused
//! pod runs nothing on its volume, stays paused through a kill -9 of the scheduler and an update,
//! and resumes on the same volume; health answers deploying, healthy, errors and unreachable.

mod support;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use cairn::api::ApiClient;
use cairn::core::scheduler::PodStatus;
use cairn_proto::TaskState;
use serde_json::Value;
use support::service::{cairn_on, cairn_on_ok, output_text, ServiceScheduler};
use support::ClusterProcess;

/// How long a deploy or a relaunch may take. Generous: the machine is shared.
const DEADLINE: Duration = Duration::from_secs(120);
const SERVICE: &str = "podsvc";

fn state(cluster: &ClusterProcess) -> PathBuf {
    cluster.scratch.join("state")
}

/// `cairn ARGS` on the test's service, which must succeed: its stdout.
fn ok(cluster: &ClusterProcess, args: &[&str]) -> String {
    cairn_on_ok(cluster, args)
}

/// `cairn ARGS --json` on the test's service: its JSON.
fn json(cluster: &ClusterProcess, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.push("--json");
    let text = ok(cluster, &all);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("cairn {all:?}: {e}\n{text}"))
}

/// `cairn ARGS`, which must fail: its stderr.
fn refused(cluster: &ClusterProcess, args: &[&str]) -> String {
    let out: Output = cairn_on(cluster, args);
    assert!(
        !out.status.success(),
        "cairn {args:?} succeeded\n{}",
        output_text(&out)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

async fn client(cluster: &ClusterProcess) -> Option<ApiClient> {
    ApiClient::find(&state(cluster), SERVICE).ok().flatten()
}

/// Pod `pod` as the API shows it, once `cond` holds of it.
async fn pod_until(
    cluster: &ClusterProcess,
    sched: &mut ServiceScheduler,
    pod: &str,
    what: &str,
    cond: impl Fn(&PodStatus) -> bool,
) -> PodStatus {
    let deadline = Instant::now() + DEADLINE;
    let mut last = None;
    loop {
        sched.assert_alive();
        if let Some(c) = client(cluster).await {
            if let Ok(p) = c.pod(pod).await {
                if cond(&p) {
                    return p;
                }
                last = Some(p);
            }
        }
        assert!(
            Instant::now() < deadline,
            "{pod}: {what}: not within {DEADLINE:?}: {last:#?}\n{}",
            sched.output()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The health answer once its status is `want`: the HTTP code and the body.
async fn health_until(
    cluster: &ClusterProcess,
    sched: &mut ServiceScheduler,
    want: &str,
) -> (u16, cairn::health::Health) {
    let deadline = Instant::now() + DEADLINE;
    let mut last = None;
    loop {
        sched.assert_alive();
        if let Some(c) = client(cluster).await {
            if let Ok((code, h)) = c.health().await {
                if h.status == want {
                    return (code.as_u16(), h);
                }
                last = Some((code, h));
            }
        }
        assert!(
            Instant::now() < deadline,
            "health {want}: not within {DEADLINE:?}: {last:?}\n{}",
            sched.output()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn running_and_ready(p: &PodStatus) -> bool {
    p.tasks
        .iter()
        .all(|t| t.state == Some(TaskState::Running) && t.ready)
}

fn write_spec(cluster: &ClusterProcess, text: &str) -> PathBuf {
    let spec = cluster.scratch.join("svc.yml");
    std::fs::write(&spec, text).unwrap();
    spec
}

/// The lines of `path` (none when it is missing).
fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

const CRASHING: &str = r#"
name: podsvc
pods:
  crash:
    count: 1
    tasks:
      server:
        goal: RUNNING
        cmd: 'echo starting; echo "first trouble" >&2; echo "boom: disk full" >&2; exit 3'
        cpus: 0.1
        memory: 32
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_looping_task_shows_its_exit_code_and_stderr_in_the_progress_lines_pod_status_and_health(
) {
    let cluster = ClusterProcess::start("pods-crash").await;
    let spec = write_spec(&cluster, CRASHING);
    let mut sched = ServiceScheduler::on_cluster(&cluster, &spec, 1, &[]);

    // The first failure, as the scheduler heard it; then the line saying it, within seconds.
    let first = pod_until(&cluster, &mut sched, "crash-0", "a failure", |p| {
        p.tasks[0].last_exit.as_ref().is_some_and(|e| e.failure)
    })
    .await;
    let heard = first.tasks[0].last_exit.clone().unwrap();
    assert_eq!(heard.exit_code, Some(3), "{heard:?}");
    let want = "pod crash-0: crash-0-server failed: exit 3: first trouble | boom: disk full";
    let deadline = Instant::now() + Duration::from_secs(5);
    while !sched.stdout().iter().any(|l| l.starts_with(want)) {
        assert!(
            Instant::now() < deadline,
            "no `{want}` within 5 s of the failure\n{}",
            sched.output()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Relaunched under the backoff, it fails again: a crash loop.
    let looping = pod_until(&cluster, &mut sched, "crash-0", "crash-looping", |p| {
        p.crash_looping
    })
    .await;
    assert!(looping.tasks[0].failures >= 3, "{looping:#?}");
    assert!(
        sched
            .stdout()
            .iter()
            .any(|l| l.starts_with(want) && l.contains("crash-looping")),
        "{}",
        sched.output()
    );

    let human = ok(&cluster, &["pod", "status", "crash-0"]);
    let row = human
        .lines()
        .find(|l| l.starts_with("crash-0 "))
        .unwrap_or_else(|| panic!("no row of crash-0:\n{human}"));
    assert!(row.contains("CRASH_LOOPING"), "{human}");
    assert!(
        row.contains("exit 3: first trouble | boom: disk full"),
        "{human}"
    );
    assert!(human.starts_with("POD"), "{human}");
    let listed = ok(&cluster, &["pod", "list"]);
    assert!(
        listed
            .lines()
            .any(|l| l.starts_with("crash-0") && l.contains("CRASH_LOOPING")),
        "{listed}"
    );

    let j = json(&cluster, &["pod", "status", "crash-0"]);
    assert_eq!(j["name"], "crash-0", "{j:#}");
    assert_eq!(j["crash_looping"], true, "{j:#}");
    let task = &j["tasks"][0];
    assert_eq!(task["crash_looping"], true, "{j:#}");
    assert_eq!(task["last_exit"]["exit_code"], 3, "{j:#}");
    assert_eq!(
        task["last_exit"]["message"],
        "Command exited with status 3; stderr ends: first trouble\nboom: disk full",
        "{j:#}"
    );

    let (code, health) = health_until(&cluster, &mut sched, "errors").await;
    assert_eq!(code, 417, "{health:?}");
    assert!(
        health
            .reasons
            .iter()
            .any(|r| r.contains("crash-0-server is crash-looping") && r.contains("boom")),
        "{health:?}"
    );

    // The failures are kept with the task: a scheduler killed and started again says so in
    // its first answer, before its own relaunches could fail three times again.
    sched.kill9();
    let _ = std::fs::remove_file(cairn::api::address_file(&state(&cluster), SERVICE));
    let mut sched = ServiceScheduler::on_cluster(&cluster, &spec, 2, &[]);
    let first = pod_until(&cluster, &mut sched, "crash-0", "an answer", |_| true).await;
    assert!(first.crash_looping, "{first:#?}");
    assert_eq!(
        first.tasks[0].last_exit.as_ref().and_then(|e| e.exit_code),
        Some(3),
        "{first:#?}"
    );
    sched.stop();
}

/// Two pods with a volume; `server` counts its starts on the volume, appends a tick there
/// every 0.2 s, and copies a `repaired` file it finds into `seen`. Readiness: the volume's
/// `starts` file exists.
const VOLUME_PODS: &str = r#"
name: podsvc
pods:
  data:
    count: 2
    placement: '[["hostname", "UNIQUE"]]'
    volume: {path: data, type: ROOT, size: 10}
    tasks:
      server:
        goal: RUNNING
        cmd: 'echo $$ >> data/starts; cat data/repaired >> data/seen 2>/dev/null; while true; do echo t >> data/ticks; sleep 0.2; done'
        cpus: 0.1
        memory: 32
        env:
          GREETING: hi
        readiness-check:
          cmd: 'test -s data/starts'
          interval: 1
          delay: 0
          timeout: 10
"#;

/// The volume directory of pod `pod`'s task, found from its persistence id.
fn volume_of(cluster: &ClusterProcess, pod: &PodStatus) -> PathBuf {
    let id = &pod.tasks[0].volumes[0].persistence_id;
    (0..3)
        .map(|agent| cluster.volume_dir(agent, "podsvc-role", id))
        .find(|d| d.is_dir())
        .unwrap_or_else(|| panic!("no directory of volume {id}"))
}

/// Waits until `path` has more than `n` lines.
async fn grows_past(sched: &mut ServiceScheduler, path: &Path, n: usize) {
    let deadline = Instant::now() + DEADLINE;
    while lines(path).len() <= n {
        sched.assert_alive();
        assert!(
            Instant::now() < deadline,
            "{} stays at {} lines\n{}",
            path.display(),
            lines(path).len(),
            sched.output()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn deployed(name: &str) -> (ClusterProcess, ServiceScheduler) {
    let cluster = ClusterProcess::start(name).await;
    let spec = write_spec(&cluster, VOLUME_PODS);
    let mut sched = ServiceScheduler::on_cluster(&cluster, &spec, 1, &[]);
    for pod in ["data-0", "data-1"] {
        pod_until(
            &cluster,
            &mut sched,
            pod,
            "running and ready",
            running_and_ready,
        )
        .await;
    }
    (cluster, sched)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pod_list_status_info_restart_and_replace_answer_people_and_scripts() {
    let (cluster, mut sched) = deployed("pods-cli").await;

    let listed = ok(&cluster, &["pod", "list"]);
    let rows: Vec<&str> = listed.lines().collect();
    assert!(
        rows[0].starts_with("POD") && rows[0].contains("READY"),
        "{listed}"
    );
    for pod in ["data-0", "data-1"] {
        assert!(
            rows.iter()
                .any(|r| r.starts_with(pod) && r.contains("1/1") && r.contains("READY")),
            "{listed}"
        );
    }
    let j = json(&cluster, &["pod", "list"]);
    let names: Vec<&str> = j
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["data-0", "data-1"], "{j:#}");

    let status = ok(&cluster, &["pod", "status"]);
    for pod in ["data-0", "data-1"] {
        let row = status
            .lines()
            .find(|l| l.starts_with(&format!("{pod} ")))
            .unwrap_or_else(|| panic!("no row of {pod}\n{status}"));
        assert!(
            row.contains(&format!("{pod}-server")) && row.contains("TASK_RUNNING"),
            "{status}"
        );
        assert!(row.contains("s ago"), "{status}");
    }
    let one = json(&cluster, &["pod", "status", "data-0"]);
    assert_eq!(one["tasks"][0]["state"], "TASK_RUNNING", "{one:#}");
    assert_eq!(one["tasks"][0]["ready"], true, "{one:#}");
    assert_eq!(one["tasks"][0]["failures"], 0, "{one:#}");
    assert!(one["tasks"][0]["since"].as_u64().is_some(), "{one:#}");

    let info = ok(&cluster, &["pod", "info", "data-0"]);
    assert!(info.starts_with("data-0-server ("), "{info}");
    assert!(info.contains("echo $$ >> data/starts"), "{info}");
    assert!(info.contains("volume    data (10 MB"), "{info}");
    assert!(
        info.contains("cpus 0.1") && info.contains("mem 32"),
        "{info}"
    );
    assert!(info.contains("GREETING"), "{info}");
    assert!(info.contains("checks    readiness"), "{info}");
    let infos = json(&cluster, &["pod", "info", "data-0"]);
    assert_eq!(infos[0]["name"], "data-0-server", "{infos:#}");
    assert!(
        infos[0]["command"]["value"]
            .as_str()
            .unwrap()
            .contains("data/ticks"),
        "{infos:#}"
    );

    // Unknown pods: named, with the pods there are, and nothing happens.
    for args in [
        &["pod", "status", "nope-0"][..],
        &["pod", "info", "nope-0"],
        &["pod", "restart", "nope-0"],
        &["pod", "pause", "nope-0"],
    ] {
        let err = refused(&cluster, args);
        assert!(
            err.contains("no pod `nope-0` (pods: data-0, data-1)"),
            "{args:?}: {err}"
        );
    }

    // Restart: in place, on the same volume.
    let before = pod_until(&cluster, &mut sched, "data-0", "ready", running_and_ready).await;
    let volume = volume_of(&cluster, &before);
    let said = ok(&cluster, &["pod", "restart", "data-0"]);
    assert_eq!(said.trim(), "data-0: restarting in place");
    let old_id = before.tasks[0].task_id.clone();
    let after = pod_until(&cluster, &mut sched, "data-0", "restarted", |p| {
        p.tasks[0].task_id != old_id && running_and_ready(p)
    })
    .await;
    assert_eq!(volume_of(&cluster, &after), volume);
    assert_eq!(lines(&volume.join("starts")).len(), 2);
    // The scheduler's own kill is no failure.
    let exit = after.tasks[0].last_exit.clone().unwrap();
    assert!(!exit.failure && after.tasks[0].failures == 0, "{after:#?}");

    // Replace: a fresh volume.
    let before = pod_until(&cluster, &mut sched, "data-1", "ready", running_and_ready).await;
    let said = ok(&cluster, &["pod", "replace", "data-1"]);
    assert!(said.starts_with("data-1: replacing"), "{said}");
    let old_volume = before.tasks[0].volumes[0].persistence_id.clone();
    let after = pod_until(&cluster, &mut sched, "data-1", "replaced", |p| {
        p.tasks[0]
            .volumes
            .first()
            .is_some_and(|v| v.persistence_id != old_volume)
            && running_and_ready(p)
    })
    .await;
    assert_eq!(lines(&volume_of(&cluster, &after).join("starts")).len(), 1);
    sched.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_pod_runs_nothing_on_its_volume_through_a_kill_9_and_an_update_and_resumes_on_the_same_volume(
) {
    let (cluster, mut sched) = deployed("pods-pause").await;
    let before = pod_until(&cluster, &mut sched, "data-0", "ready", running_and_ready).await;
    let volume = volume_of(&cluster, &before);
    let ticks = volume.join("ticks");

    let said = ok(&cluster, &["pod", "pause", "data-0"]);
    assert!(said.starts_with("data-0: pausing"), "{said}");
    let paused = pod_until(&cluster, &mut sched, "data-0", "paused and running", |p| {
        p.paused && p.tasks[0].paused && running_and_ready(p)
    })
    .await;
    // The no-op runs, without checks; the scheduler's kill was no failure.
    let infos = json(&cluster, &["pod", "info", "data-0"]);
    let command = infos[0]["command"]["value"].as_str().unwrap();
    assert!(
        command.contains("sleep") && !command.contains("ticks"),
        "{infos:#}"
    );
    assert!(infos[0].get("check").is_none(), "{infos:#}");
    assert_eq!(paused.tasks[0].failures, 0, "{paused:#?}");
    let human = ok(&cluster, &["pod", "status", "data-0"]);
    assert!(human.contains("TASK_RUNNING PAUSED"), "{human}");
    assert!(ok(&cluster, &["pod", "list"]).contains("PAUSED"));
    assert_eq!(json(&cluster, &["pod", "status", "data-0"])["paused"], true);

    // Its command's side effect stopped; its data is there, and an operator repairs it.
    let ticked = lines(&ticks).len();
    assert!(ticked > 0);
    let watched = Instant::now();
    while watched.elapsed() < Duration::from_secs(2) {
        assert_eq!(lines(&ticks).len(), ticked, "the real command still runs");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(lines(&volume.join("starts")).len(), 1);
    std::fs::write(volume.join("repaired"), "fixed by hand\n").unwrap();

    // Pausing again is refused with the reason; the pod stays as it is.
    let err = refused(&cluster, &["pod", "pause", "data-0"]);
    assert!(err.contains("pod `data-0` is paused already"), "{err}");

    // The scheduler dies; a new one keeps the pod paused (no relaunch: the same task).
    sched.kill9();
    let spec = cluster.scratch.join("svc.yml");
    let mut sched = ServiceScheduler::on_cluster(&cluster, &spec, 2, &[]);
    let id = paused.tasks[0].task_id.clone();
    let (code, _) = health_until(&cluster, &mut sched, "healthy").await;
    assert_eq!(code, 200);
    let still = pod_until(&cluster, &mut sched, "data-0", "still paused", |p| {
        p.paused && p.tasks[0].paused && running_and_ready(p)
    })
    .await;
    assert_eq!(still.tasks[0].task_id, id, "a paused pod was relaunched");
    assert_eq!(lines(&ticks).len(), ticked);

    // An update rolls the pod out paused: its new config, still running nothing.
    let updated = cluster.scratch.join("svc-2.yml");
    std::fs::write(
        &updated,
        VOLUME_PODS.replace("GREETING: hi", "GREETING: hello"),
    )
    .unwrap();
    ok(&cluster, &["update", updated.to_str().unwrap()]);
    pod_until(&cluster, &mut sched, "data-0", "relaunched paused", |p| {
        p.tasks[0].task_id != id && p.tasks[0].paused && running_and_ready(p)
    })
    .await;
    let infos = client(&cluster)
        .await
        .unwrap()
        .pod_info("data-0")
        .await
        .unwrap();
    let env = infos[0]
        .command
        .as_ref()
        .and_then(|c| c.environment.clone());
    assert!(
        env.is_some_and(|e| e
            .variables
            .iter()
            .any(|v| v.name == "GREETING" && v.value.as_deref() == Some("hello"))),
        "{infos:#?}"
    );
    assert_eq!(lines(&ticks).len(), ticked);

    let said = ok(&cluster, &["pod", "resume", "data-0"]);
    assert!(said.starts_with("data-0: resuming"), "{said}");
    let resumed = pod_until(&cluster, &mut sched, "data-0", "resumed", |p| {
        !p.paused && !p.tasks[0].paused && running_and_ready(p)
    })
    .await;
    assert_eq!(volume_of(&cluster, &resumed), volume);
    grows_past(&mut sched, &ticks, ticked).await;
    assert_eq!(lines(&volume.join("starts")).len(), 2);
    assert_eq!(lines(&volume.join("seen")), ["fixed by hand"]);
    let err = refused(&cluster, &["pod", "resume", "data-0"]);
    assert!(err.contains("pod `data-0` is not paused"), "{err}");
    sched.stop();
}

/// A pod whose readiness waits for a file the test makes.
const GATED: &str = r#"
name: podsvc
pods:
  gate:
    count: 1
    tasks:
      server:
        goal: RUNNING
        cmd: 'exec sleep 100000'
        cpus: 0.1
        memory: 32
        readiness-check:
          cmd: 'test -e GATE_FILE'
          interval: 1
          delay: 0
          timeout: 10
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_is_202_while_deploying_200_once_deployed_and_503_without_the_master() {
    let mut cluster = ClusterProcess::start("pods-health").await;
    let gate = cluster.scratch.join("gate");
    let spec = write_spec(
        &cluster,
        &GATED.replace("GATE_FILE", gate.to_str().unwrap()),
    );
    let mut sched = ServiceScheduler::on_cluster(&cluster, &spec, 1, &[]);

    let (code, health) = health_until(&cluster, &mut sched, "deploying").await;
    assert_eq!(code, 202, "{health:?}");
    assert!(
        health.reasons.iter().any(|r| r.starts_with("deploy: ")),
        "{health:?}"
    );
    pod_until(&cluster, &mut sched, "gate-0", "running", |p| {
        p.tasks[0].state == Some(TaskState::Running)
    })
    .await;
    let (code, _) = health_until(&cluster, &mut sched, "deploying").await;
    assert_eq!(code, 202, "running but not ready is still deploying");

    std::fs::write(&gate, "").unwrap();
    let (code, health) = health_until(&cluster, &mut sched, "healthy").await;
    assert_eq!(code, 200);
    assert!(health.reasons.is_empty(), "{health:?}");

    cluster.kill9();
    let (code, health) = health_until(&cluster, &mut sched, "unreachable").await;
    assert_eq!(code, 503);
    assert!(health.reasons[0].contains(&cluster.master), "{health:?}");
    cluster.start_again().await;
    let (code, _) = health_until(&cluster, &mut sched, "healthy").await;
    assert_eq!(code, 200);
    sched.stop();
}
