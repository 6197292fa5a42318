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

/// The address space a scheduler under test may have: a regression that allocates in
/// proportion to a number (a count of 4294967295 once wanted 24 GB; a scheduler needs about 30 MB) ends in an allocation
/// failure of that scheduler rather than in the machine's OOM killer.
const ADDRESS_SPACE_KB: u64 = 1024 * 1024;

/// A command that runs `cairn` with its address space capped at [`ADDRESS_SPACE_KB`] (the
/// shell execs it: the pid is cairn's).
fn capped_cairn() -> Command {
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(format!(
            "ulimit -v {ADDRESS_SPACE_KB} && exec \"$0\" \"$@\""
        ))
        .arg(CAIRN);
    cmd
}

/// A process's resident memory, in KB.
fn rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

impl Scheduler {
    fn start(cluster: &ClusterProcess, spec: &Path) -> Scheduler {
        let stdout = cluster.scratch.join("scheduler.out");
        let child = capped_cairn()
            .arg("scheduler")
            .arg(spec)
            .arg("--master")
            .arg(&cluster.master)
            .arg("--state-dir")
            .arg(cluster.scratch.join("state"))
            .arg("--credentials")
            .arg(cluster.credentials_path())
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

/// The tokens of the APIs the tests found, by base URL.
static TOKENS: std::sync::Mutex<Vec<(String, String)>> = std::sync::Mutex::new(Vec::new());

/// The base URL of the API whose address file is `file`, once its token is known (the
/// scheduler writes it, 0600, beside the address).
fn api_base(file: &Path) -> String {
    let base = std::fs::read_to_string(file).unwrap().trim().to_string();
    let mut token_file = file.as_os_str().to_owned();
    token_file.push("-token");
    let token = std::fs::read_to_string(PathBuf::from(token_file)).expect("the API's token");
    TOKENS
        .lock()
        .unwrap()
        .push((base.clone(), token.trim().to_string()));
    base
}

/// The token of the API at `base` (found by [`api_base`]).
fn token_of(base: &str) -> String {
    TOKENS
        .lock()
        .unwrap()
        .iter()
        .find(|(b, _)| b == base)
        .map(|(_, t)| t.clone())
        .expect("the token of the API at base")
}

/// One request to the API, with its token: the status code and the JSON body (null when
/// there is none).
async fn request(method: reqwest::Method, base: &str, path: &str, body: Vec<u8>) -> (u16, Value) {
    let token = token_of(base);
    let r = support::http_client()
        .request(method, format!("{base}{path}"))
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {token}"))
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
    let (code, page) = get(base, "/v1/pods").await;
    assert_eq!(code, 200);
    let pods = &page["pods"];
    assert_eq!(page["total"], pods.as_array().map_or(0, Vec::len), "{page}");
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
    let base = api_base(&file);
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
    // An unknown pod is a 404 naming the pods there are, as an unknown plan is.
    let (code, body) = post(&base, "/v1/pods/node-9/replace").await;
    assert_eq!(code, 404, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap_or_default()
            .contains("no pod `node-9` (pods: node-0"),
        "{body}"
    );
    let (code, body) = post(&base, "/v1/pods/node-0/explode").await;
    assert_eq!(code, 404, "{body}");
    // An unknown plan is a 404, as `GET /v1/plans/nope` (and the SDK's plan commands) answer.
    let (code, body) = post(&base, "/v1/plans/nope/continue").await;
    assert_eq!(code, 404, "{body}");
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

/// A scheduler of `spec_yaml(0.1, 10)` on a fresh cluster, deployed; its API's address.
async fn deployed(name: &str) -> (ClusterProcess, Scheduler, String) {
    let cluster = ClusterProcess::start(name).await;
    let v1 = cluster.scratch.join("v1.yml");
    std::fs::write(&v1, spec_yaml(0.1, 10)).unwrap();
    let mut sched = Scheduler::start(&cluster, &v1);
    let file = cluster.scratch.join("state").join(format!("{SERVICE}.api"));
    support::eventually("the API address file", || file.exists()).await;
    let base = api_base(&file);
    wait_status(&base, &mut sched, "deployed", |s| {
        s["deployed"] == true && s["connected"] == true
    })
    .await;
    (cluster, sched, base)
}

/// The stored target's id and every stored config's id: what a refused update must not touch.
fn stored_configs(cluster: &ClusterProcess) -> (String, Vec<String>) {
    let dir = cluster.scratch.join("state").join(SERVICE);
    let target = std::fs::read_to_string(dir.join("ConfigTarget")).unwrap_or_default();
    let mut configs: Vec<String> = std::fs::read_dir(dir.join("Configurations"))
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    configs.sort();
    (target, configs)
}

// Goal: the spec that made a scheduler grow to 24 GB (`count: 4294967295`) and its kin are
// refused by the running scheduler at once, naming the place and the limit, and nothing grows.
// Method: a deployed service under a 1 GB address-space cap; bad specs posted; its resident
// memory read from /proc before and after.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unbounded_spec_is_refused_with_its_path_and_the_scheduler_stays_small() {
    let (cluster, mut sched, base) = deployed("api-unbounded").await;
    let before = stored_configs(&cluster);
    let rss_before = rss_kb(sched.child.id());
    assert!(rss_before > 0, "the scheduler's memory is readable");

    let cases = [
        (
            "count",
            Value::from(4_294_967_295u64),
            "pods.node.count: 4294967295 is more than the limit of 10000 pod instances per pod type",
        ),
        (
            "cpus",
            Value::from(1e16),
            "pods.node.tasks.server.cpus: 1e16 is more than the limit of 4096 cpus",
        ),
        (
            "cpus",
            Value::from(1e-300),
            "pods.node.tasks.server.cpus: 1e-300 rounds to 0 at Mesos' precision of 0.001",
        ),
    ];
    for (field, value, want) in cases {
        let mut spec = spec_json(0.1, 10);
        match field {
            "count" => spec["pods"][0]["count"] = value,
            _ => spec["pods"][0]["tasks"][0]["resources"]["cpus"] = value,
        }
        let started = Instant::now();
        let (code, body) = post_update(&base, serde_json::to_vec(&spec).unwrap()).await;
        assert_eq!(code, 400, "{field}: {body}");
        let why = body["error"].as_str().unwrap_or_default();
        assert!(why.contains(want), "{field}: {body}");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{field}: answered at once"
        );
    }

    sched.assert_alive();
    let (code, status) = get(&base, "/v1/status").await;
    assert_eq!((code, &status["connected"]), (200, &Value::from(true)));
    assert_eq!(stored_configs(&cluster), before, "nothing was stored");
    let rss_after = rss_kb(sched.child.id());
    assert!(
        rss_after < 256 * 1024 && rss_after < rss_before + 64 * 1024,
        "the scheduler stays small: {rss_before} kB before, {rss_after} kB after"
    );
}

// Goal: a role or principal change through the API would strand every pod (their
// reservations belong to the old role and principal); it is refused by the validator's name,
// and the store keeps its target. Method: each change posted to a deployed service.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_role_or_principal_change_is_refused_by_name_and_the_store_is_untouched() {
    let (cluster, mut sched, base) = deployed("api-role").await;
    let before = stored_configs(&cluster);
    let tasks = task_ids(&base).await;
    for (field, validator) in [
        ("role", "role_cannot_change"),
        ("principal", "principal_cannot_change"),
    ] {
        let mut spec = spec_json(0.1, 10);
        spec[field] = Value::from(format!("another-{field}"));
        let (code, body) = post_update(&base, serde_json::to_vec(&spec).unwrap()).await;
        assert_eq!(code, 422, "{field}: {body}");
        assert_eq!(body["result"], "refused");
        assert_eq!(body["violations"][0]["validator"], validator, "{body}");
        assert_eq!(body["violations"].as_array().unwrap().len(), 1, "{body}");
    }
    sched.assert_alive();
    assert_eq!(
        stored_configs(&cluster),
        before,
        "the stored target is untouched"
    );
    assert_eq!(task_ids(&base).await, tasks, "no task was touched");
}

// Goal: concurrent updates are serialised: exactly one is accepted and rolled out, every
// other is told another update is being applied (and how to follow it), and the accepted spec
// sent again is answered as one that is the target already. Method: ten different specs
// posted at once from ten connections opened beforehand.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_concurrent_updates_are_one_accepted_and_nine_refused_with_409() {
    let (cluster, mut sched, base) = deployed("api-concurrent").await;
    let (_, status) = get(&base, "/v1/status").await;
    let config = status["config_id"].clone();
    let clients: Vec<reqwest::Client> = (0..10).map(|_| support::http_client()).collect();
    for c in &clients {
        // Each connection is open before the race starts.
        let r = c
            .get(format!("{base}/v1/status"))
            .bearer_auth(token_of(&base))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
    }
    let gate = std::sync::Arc::new(tokio::sync::Barrier::new(clients.len()));
    let mut posts = Vec::new();
    for (i, client) in clients.into_iter().enumerate() {
        let cpus = 0.11 + 0.01 * i as f64;
        let body = serde_json::to_vec(&spec_json(cpus, 10)).unwrap();
        let (gate, url) = (gate.clone(), format!("{base}/v1/update"));
        let token = token_of(&base);
        posts.push(tokio::spawn(async move {
            gate.wait().await;
            let r = client
                .post(url)
                .bearer_auth(token)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .expect("the API answers");
            let code = r.status().as_u16();
            (cpus, code, r.json::<Value>().await.unwrap_or(Value::Null))
        }));
    }
    let mut answers = Vec::new();
    for p in posts {
        answers.push(p.await.unwrap());
    }
    let accepted: Vec<f64> = answers
        .iter()
        .filter(|(_, code, _)| *code == 202)
        .map(|(cpus, _, _)| *cpus)
        .collect();
    assert_eq!(accepted.len(), 1, "exactly one accepted: {answers:#?}");
    for (_, code, body) in answers.iter().filter(|(_, code, _)| *code != 202) {
        assert_eq!(*code, 409, "{body}");
        let why = body["error"].as_str().unwrap_or_default();
        assert!(
            why.contains("another update is being applied") && why.contains("cairn update status"),
            "{body}"
        );
    }
    let winner = accepted[0];
    let (code, body) =
        post_update(&base, serde_json::to_vec(&spec_json(winner, 10)).unwrap()).await;
    assert_eq!(
        (code, &body["result"]),
        (200, &Value::from("unchanged")),
        "{body}"
    );

    wait_status(&base, &mut sched, "the accepted spec rolled out", |s| {
        s["config_id"] != config && s["deployed"] == true && s["connected"] == true
    })
    .await;
    let target = cairn::stored_target(&cluster.scratch.join("state"), SERVICE)
        .unwrap()
        .expect("a stored target");
    assert_eq!(
        target.pods[0].tasks[0].resources.cpus, winner,
        "the accepted spec is the one that runs"
    );
    // Once it runs, the next update is judged against it as usual.
    let (code, body) = post_update(&base, serde_json::to_vec(&spec_json(0.3, 10)).unwrap()).await;
    assert_eq!(code, 202, "{body}");
}

// Goal: a plan of 10,000 steps is answered in pages of bounded size, and `cairn update status`
// stays readable. Method: a pod type of 10,000 instances that no agent can fit (so nothing
// launches), its plans, steps and pods asked for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ten_thousand_instance_plan_is_answered_in_bounded_pages() {
    let cluster = ClusterProcess::start("api-big").await;
    let spec = cluster.scratch.join("big.yml");
    let big = spec_yaml(0.1, 10)
        .replace("count: 2", "count: 10000")
        .replace("memory: 32", "memory: 1000000");
    std::fs::write(&spec, big).unwrap();
    let mut sched = Scheduler::start(&cluster, &spec);
    let file = cluster.scratch.join("state").join(format!("{SERVICE}.api"));
    support::eventually("the API address file", || file.exists()).await;
    let base = api_base(&file);
    wait_status(&base, &mut sched, "connected", |s| s["connected"] == true).await;

    let size = |v: &Value| serde_json::to_vec(v).unwrap().len();
    let (code, plans) = get(&base, "/v1/plans").await;
    assert_eq!(code, 200);
    assert!(
        size(&plans) < 8 * 1024,
        "/v1/plans is {} bytes",
        size(&plans)
    );
    assert_eq!(plans[0]["name"], "deploy");
    assert_eq!(plans[0]["steps"]["total"], 10_000, "{plans}");
    assert_eq!(plans[0]["phases"][0]["steps"]["total"], 10_000, "{plans}");

    let (code, plan) = get(&base, "/v1/plans/deploy").await;
    assert_eq!(code, 200);
    assert!(
        size(&plan) < 8 * 1024,
        "/v1/plans/deploy is {} bytes",
        size(&plan)
    );
    assert!(plan.get("page").is_none(), "steps only on request: {plan}");

    let (code, page) = get(&base, "/v1/plans/deploy?offset=9990&limit=100").await;
    assert_eq!(code, 200);
    let steps = page["page"]["steps"].as_array().unwrap();
    assert_eq!(page["page"]["total"], 10_000);
    assert_eq!(steps.len(), 10);
    assert_eq!(steps[0]["name"], "node-9990:[server]");
    assert_eq!(steps[0]["phase"], "node");
    let (code, page) = get(&base, "/v1/plans/deploy?limit=1000").await;
    assert_eq!(code, 200);
    assert_eq!(page["page"]["steps"].as_array().unwrap().len(), 1000);
    assert!(
        size(&page) < 256 * 1024,
        "a full page is {} bytes",
        size(&page)
    );
    let (code, body) = get(&base, "/v1/plans/deploy?limit=1001").await;
    assert_eq!(code, 400, "{body}");
    assert!(body["error"].as_str().unwrap_or_default().contains("1000"));
    let (code, _) = get(&base, "/v1/plans/deploy?offset=x").await;
    assert_eq!(code, 400);

    let (code, pods) = get(&base, "/v1/pods").await;
    assert_eq!(code, 200);
    assert_eq!(pods["total"], 10_000);
    assert_eq!(pods["pods"].as_array().unwrap().len(), 100);
    assert!(
        size(&pods) < 128 * 1024,
        "/v1/pods is {} bytes",
        size(&pods)
    );

    let out = Command::new(CAIRN)
        .args(["update", "status", "--api", &base, "--state-dir"])
        .arg(cluster.scratch.join("state"))
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(said.lines().count() < 30, "{said}");
    assert!(said.contains("10000 steps: "), "{said}");
    sched.assert_alive();
}
