//! The scheduler's HTTP API with real processes: a `cairn scheduler` on a `cairn cluster`,
//! asked over HTTP what it is doing and handed new specs, good and bad.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{ClusterProcess, CAIRN};

const DEADLINE: Duration = Duration::from_secs(90);
const SERVICE: &str = "apisvc";

/// Two pods, each one task with a small ROOT volume; `{cpus}` is what a rollout changes.
fn spec_yaml(cpus: f64, size: u32) -> String {
    format!(
        r#"
name: {SERVICE}
pods:
  node:
    count: 2
    tasks:
      server:
        goal: RUNNING
        cmd: 'echo "$TASK_NAME" >> data/marker && exec sleep 100000'
        cpus: {cpus}
        memory: 32
        volume: {{path: data, type: ROOT, size: {size}}}
"#
    )
}

/// The spec's JSON, as `cairn update` sends it.
fn spec_json(cpus: f64, size: u32) -> Value {
    let spec =
        cairn::core::parse_yaml(&spec_yaml(cpus, size), &Default::default()).expect("a valid spec");
    serde_json::to_value(spec).unwrap()
}

struct Scheduler {
    child: Child,
    stdout: PathBuf,
}

impl Scheduler {
    fn start(cluster: &ClusterProcess, spec: &Path) -> Scheduler {
        let stdout = cluster.scratch.join("scheduler.out");
        let child = Command::new(CAIRN)
            .arg("scheduler")
            .arg(spec)
            .arg("--master")
            .arg(&cluster.master)
            .arg("--state-dir")
            .arg(cluster.scratch.join("state"))
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&stdout).unwrap())
            .stderr(std::fs::File::create(cluster.scratch.join("scheduler.err")).unwrap())
            .spawn()
            .expect("starting cairn scheduler");
        Scheduler { child, stdout }
    }

    fn output(&self) -> String {
        std::fs::read_to_string(&self.stdout).unwrap_or_default()
    }

    fn assert_alive(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!("the scheduler exited ({status})\n{}", self.output());
        }
    }
}

impl Drop for Scheduler {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- scheduler stdout ---\n{}", self.output());
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One request to the API: the status code and the JSON body (null when there is none).
async fn request(method: reqwest::Method, base: &str, path: &str, body: Vec<u8>) -> (u16, Value) {
    let r = support::http_client()
        .request(method, format!("{base}{path}"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("the API answers");
    let code = r.status().as_u16();
    (code, r.json().await.unwrap_or(Value::Null))
}

async fn get(base: &str, path: &str) -> (u16, Value) {
    request(reqwest::Method::GET, base, path, Vec::new()).await
}

/// POST `path` with no body (an operator command).
async fn post(base: &str, path: &str) -> (u16, Value) {
    request(reqwest::Method::POST, base, path, Vec::new()).await
}

async fn post_update(base: &str, body: Vec<u8>) -> (u16, Value) {
    request(reqwest::Method::POST, base, "/v1/update", body).await
}

/// Task name → task id, as the API's pods say.
async fn task_ids(base: &str) -> Vec<(String, String)> {
    let (code, pods) = get(base, "/v1/pods").await;
    assert_eq!(code, 200);
    let mut ids: Vec<(String, String)> = pods
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["tasks"].as_array().cloned().unwrap_or_default())
        .map(|t| {
            (
                t["name"].as_str().unwrap_or_default().to_string(),
                t["task_id"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    ids.sort();
    ids
}

/// Polls the API's status until `done` holds for it.
async fn wait_status(
    base: &str,
    sched: &mut Scheduler,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + DEADLINE;
    loop {
        sched.assert_alive();
        let (code, status) = get(base, "/v1/status").await;
        if code == 200 && done(&status) {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: not within {DEADLINE:?}; last status {status}\n{}",
            sched.output()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_reports_plans_and_pods_refuses_bad_specs_untouched_and_rolls_out_a_good_one() {
    let cluster = ClusterProcess::start("api").await;
    let state = cluster.scratch.join("state");
    let v1 = cluster.scratch.join("v1.yml");
    std::fs::write(&v1, spec_yaml(0.1, 10)).unwrap();
    let mut sched = Scheduler::start(&cluster, &v1);

    // The scheduler writes where its API is; the API says when the service is deployed.
    let file = state.join(format!("{SERVICE}.api"));
    support::eventually("the API address file", || file.exists()).await;
    let base = std::fs::read_to_string(&file).unwrap().trim().to_string();
    let status = wait_status(&base, &mut sched, "deployed", |s| {
        s["deployed"] == true && s["connected"] == true
    })
    .await;
    assert_eq!(status["service"], SERVICE);
    let config = status["config_id"].clone();
    let before = task_ids(&base).await;
    assert_eq!(before.len(), 2, "{before:?}");

    let (code, plan) = get(&base, "/v1/plans/deploy").await;
    assert_eq!(code, 200);
    assert_eq!(plan["status"], "COMPLETE", "{plan}");
    let (code, plans) = get(&base, "/v1/plans").await;
    assert_eq!(code, 200);
    assert_eq!(
        plans[0]["name"], "deploy",
        "the rollout plan comes first: {plans}"
    );
    let (code, missing) = get(&base, "/v1/plans/nope").await;
    assert_eq!(code, 404);
    let why = missing["error"].as_str().unwrap_or_default();
    assert!(
        why.contains("no plan `nope`") && why.contains("deploy"),
        "{missing}"
    );

    // Bad input: each answer names the problem, and nothing changes.
    let (code, body) = post_update(&base, b"pods: [".to_vec()).await;
    assert_eq!(code, 400, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap_or_default()
            .contains("not a service spec"),
        "{body}"
    );

    let mut invalid = spec_json(0.1, 10);
    invalid["pods"][0]["tasks"][0]["resources"]["cpus"] = Value::from(0.0);
    let (code, body) = post_update(&base, serde_json::to_vec(&invalid).unwrap()).await;
    assert_eq!(code, 400, "{body}");
    let why = body["error"].as_str().unwrap_or_default();
    assert!(
        why.contains("invalid spec") && why.contains("cpus"),
        "{body}"
    );

    let mut other = spec_json(0.1, 10);
    other["name"] = Value::from("someone-else");
    let (code, body) = post_update(&base, serde_json::to_vec(&other).unwrap()).await;
    assert_eq!(code, 409, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap_or_default()
            .contains("someone-else"),
        "{body}"
    );

    let (code, body) = post_update(&base, serde_json::to_vec(&spec_json(0.2, 20)).unwrap()).await;
    assert_eq!(code, 422, "{body}");
    assert_eq!(body["result"], "refused");
    assert_eq!(
        body["violations"][0]["validator"], "volumes_cannot_change",
        "{body}"
    );

    let (code, body) = post_update(&base, serde_json::to_vec(&spec_json(0.1, 10)).unwrap()).await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["result"], "unchanged");

    // Operator commands: unknown pods, plans and actions are refused by name.
    let (code, body) = post(&base, "/v1/pods/node-9/replace").await;
    assert_eq!(code, 409, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap_or_default()
            .contains("node-9"),
        "{body}"
    );
    let (code, body) = post(&base, "/v1/pods/node-0/explode").await;
    assert_eq!(code, 404, "{body}");
    let (code, body) = post(&base, "/v1/plans/nope/continue").await;
    assert_eq!(code, 409, "{body}");
    assert!(
        body["error"].as_str().unwrap_or_default().contains("nope"),
        "{body}"
    );
    // Interrupting and continuing the completed deploy plan touches no task.
    let (code, body) = post(&base, "/v1/plans/deploy/interrupt").await;
    assert_eq!(
        (code, &body["result"]),
        (200, &Value::from("done")),
        "{body}"
    );
    let (code, body) = post(&base, "/v1/plans/deploy/continue").await;
    assert_eq!(
        (code, &body["result"]),
        (200, &Value::from("done")),
        "{body}"
    );

    let (_, status) = get(&base, "/v1/status").await;
    assert_eq!(
        status["config_id"], config,
        "no bad input changed the target"
    );
    assert_eq!(task_ids(&base).await, before, "no bad input touched a task");

    // A good spec: accepted, the same process rolls it out under a new target, every task
    // relaunched.
    let (code, body) = post_update(&base, serde_json::to_vec(&spec_json(0.2, 10)).unwrap()).await;
    assert_eq!(code, 202, "{body}");
    assert_eq!(body["result"], "accepted");
    wait_status(&base, &mut sched, "the new target rolled out", |s| {
        s["config_id"] != config && s["deployed"] == true && s["connected"] == true
    })
    .await;
    let after = task_ids(&base).await;
    assert_eq!(after.len(), 2);
    for ((name, old), (_, new)) in before.iter().zip(&after) {
        assert_ne!(old, new, "{name} was relaunched with the new config");
    }

    // A scheduler killed -9 leaves its address file behind; `cairn update` then finds nobody
    // answering and checks offline (still refusing what must be refused).
    support::signal(sched.child.id(), libc::SIGKILL);
    let _ = sched.child.wait();
    assert!(file.exists());
    let v3 = cluster.scratch.join("v3.yml");
    std::fs::write(&v3, spec_yaml(0.2, 30)).unwrap();
    let out = Command::new(CAIRN)
        .args([
            "update",
            v3.to_str().unwrap(),
            "--state-dir",
            state.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{said}");
    assert!(said.contains("no scheduler answers"), "{said}");
    assert!(said.contains("volumes_cannot_change: "), "{said}");
}
