//! Who may call what: `cairn cluster` and a scheduler's API, probed the way another user of the
//! machine would probe them — with curl, with the credentials they can read (none), and with
//! credentials of their own that are not the victim's.
//!
//! Set `CAIRN_E2E_BINARY` to run these against another build of `cairn` (they fail against
//! one that authenticates no one).

mod support;

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use cairn_proto::executor;
use cairn_proto::scheduler::{Call, EventType};
use cairn_proto::{Bytes, ExecutorId, FrameworkId, Source, TaskId, TaskState, TaskStatus};
use reqwest::StatusCode;
use serde_json::{json, Value};
use support::*;

const ROLE: &str = "auth-role";
/// `nobody`: a user with no business on the cluster, and no credential it can read.
const NOBODY: u32 = 65534;

/// One request with `authorization` (none: no header at all); the status, the challenge and
/// the body.
async fn probe(
    method: &str,
    url: &str,
    body: &str,
    authorization: Option<&str>,
) -> (StatusCode, Option<String>, String) {
    try_probe(method, url, body, authorization)
        .await
        .unwrap_or_else(|e| panic!("{method} {url}: no answer: {e}"))
}

/// [`probe`], or why there was no answer.
async fn try_probe(
    method: &str,
    url: &str,
    body: &str,
    authorization: Option<&str>,
) -> Result<(StatusCode, Option<String>, String), reqwest::Error> {
    let mut req = http_client()
        .request(method.parse().unwrap(), url)
        .header("Content-Type", "application/json")
        .body(body.to_string());
    if let Some(a) = authorization {
        req = req.header("Authorization", a);
    }
    let resp = req.send().await?;
    let status = resp.status();
    let challenge = resp
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    Ok((status, challenge, resp.text().await.unwrap_or_default()))
}

fn subscribe_body(info: &cairn_proto::FrameworkInfo) -> String {
    serde_json::to_string(&Call::subscribe(info.clone())).unwrap()
}

// ---------------------------------------------------------------------------
// Frameworks
// ---------------------------------------------------------------------------

#[tokio::test]
async fn a_framework_without_a_valid_credential_is_refused_with_mesos_challenge_and_nothing_registers(
) {
    let cluster = ClusterProcess::start("auth-anonymous").await;
    let url = format!("{}/api/v1/scheduler", cluster.master);
    let info = framework("anon", ROLE, &[]);
    let (status, challenge, body) = probe("POST", &url, &subscribe_body(&info), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(
        challenge.as_deref(),
        Some(r#"Basic realm="mesos-master-scheduler""#)
    );
    let real = cluster.credential("anon-principal").unwrap();
    let guessed = cairn_cluster::auth::basic_authorization("anon-principal", "guessed");
    let (status, _, body) = probe("POST", &url, &subscribe_body(&info), Some(&guessed)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "a wrong secret: {body}");
    // A credential of another cluster's file is no better than a guess.
    assert_ne!(real.secret, "guessed");
    let fws = cluster.get_frameworks().await;
    assert!(
        fws.frameworks.is_empty(),
        "nothing registered: {:?}",
        fws.frameworks
    );
    // The right credential works, so the refusals above were about the credential.
    Scheduler::subscribe(&cluster.master, info).await;
}

#[tokio::test]
async fn a_framework_cannot_subscribe_as_take_over_or_tear_down_a_framework_of_another_principal() {
    let cluster = ClusterProcess::start("auth-takeover").await;
    let mut victim = Scheduler::subscribe(&cluster.master, framework("victim", ROLE, &[])).await;
    let victim_id = victim.framework_id.clone();
    // The attacker is a user with a credential of its own (the cluster's owner gave it one;
    // a cluster that keeps no credentials takes anything).
    let attacker = cluster.credential("attacker-principal").unwrap_or_else(|| {
        cairn_cluster::auth::Credential {
            principal: "attacker-principal".into(),
            secret: "none".into(),
        }
    });

    // Subscribing as the victim's principal with the attacker's credential: Mesos' 400.
    let mut posing = framework("victim", ROLE, &[]);
    posing.principal = Some("victim-principal".into());
    let refused = Scheduler::connect_with(&cluster.master, posing, true, Some(&attacker)).await;
    match refused {
        Err((status, body)) => {
            assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
            assert!(
                body.contains("Authenticated principal 'attacker-principal' does not match principal 'victim-principal'"),
                "{body}"
            );
        }
        Ok(s) => panic!("subscribed as framework {}", s.framework_id),
    }

    // Taking the victim's framework over by its id (anyone can read it in /state): Mesos'
    // ERROR event, and the victim keeps its connection.
    let mut takeover = framework("attacker", ROLE, &[]);
    takeover.id = Some(victim_id.clone());
    match Scheduler::connect_with(&cluster.master, takeover, true, Some(&attacker)).await {
        Err((_, message)) => assert_eq!(message, "Changing framework's principal is not allowed."),
        Ok(s) => panic!("took framework {} over", s.framework_id),
    }
    victim.sync().await;
    assert!(
        !victim.history.iter().any(|e| e.type_ == EventType::Error),
        "the victim was not failed over: {:?}",
        victim.history.iter().map(|e| e.type_).collect::<Vec<_>>()
    );

    // A call on the victim's framework with the attacker's credential (even with the right
    // stream id): Mesos' 400, and nothing happens.
    let teardown = serde_json::to_string(&Call::teardown(victim_id.clone())).unwrap();
    let resp = http_client()
        .post(format!("{}/api/v1/scheduler", cluster.master))
        .header("Content-Type", "application/json")
        .header("Mesos-Stream-Id", victim.stream_id.as_str())
        .header("Authorization", attacker.authorization())
        .body(teardown)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let body = resp.text().await.unwrap_or_default();
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body.contains("does not match principal 'victim-principal'"),
        "{body}"
    );
    victim.sync().await;
    let fws = cluster.get_frameworks().await;
    assert!(
        fws.frameworks
            .iter()
            .any(|f| f.framework_info.id.as_ref() == Some(&victim_id) && f.connected),
        "the victim is still registered and connected: {fws:?}"
    );
}

#[tokio::test]
async fn a_cluster_given_a_credentials_file_checks_it_and_generates_none() {
    let mut cluster = ClusterProcess::start_with(
        "auth-given",
        ClusterOptions {
            agents: 1,
            ..ClusterOptions::default()
        },
    )
    .await;
    cluster.stop().await;
    let given = cluster.scratch.join("given-credentials.json");
    std::fs::write(
        &given,
        r#"{"credentials":[{"principal":"given","secret":"given-secret"}]}"#,
    )
    .unwrap();
    let _ = std::fs::remove_file(cluster.credentials_path());
    cluster.set_extra_args(vec!["--credentials".into(), given.display().to_string()]);
    cluster.start_again().await;
    assert!(
        !cluster.credentials_path().exists(),
        "no credentials file generated beside the given one"
    );
    let mut info = framework("given", ROLE, &[]);
    info.principal = None;
    let credential = cairn_cluster::auth::Credential {
        principal: "given".into(),
        secret: "given-secret".into(),
    };
    let s = Scheduler::connect_with(&cluster.master, info.clone(), true, Some(&credential))
        .await
        .expect("the given credential is accepted");
    // A framework that names no principal is given the authenticated one, as in Mesos.
    let fws = cluster.get_frameworks().await;
    let fw = fws
        .frameworks
        .iter()
        .find(|f| f.framework_info.id.as_ref() == Some(&s.framework_id))
        .unwrap();
    assert_eq!(fw.framework_info.principal.as_deref(), Some("given"));
    let wrong = cairn_cluster::auth::Credential {
        principal: "given".into(),
        secret: "nope".into(),
    };
    let refused = Scheduler::connect_with(&cluster.master, info, true, Some(&wrong)).await;
    assert!(matches!(refused, Err((StatusCode::UNAUTHORIZED, _))));
}

#[tokio::test]
async fn with_framework_authentication_off_the_cluster_says_so_loudly_and_takes_any_framework() {
    let cluster = ClusterProcess::start_with(
        "auth-off",
        ClusterOptions {
            agents: 1,
            extra_args: vec!["--authenticate-frameworks".into(), "false".into()],
            ..ClusterOptions::default()
        },
    )
    .await;
    support::eventually("the warning in the log", || {
        cluster.log().contains("framework authentication is OFF")
    })
    .await;
    Scheduler::connect_with(&cluster.master, framework("open", ROLE, &[]), true, None)
        .await
        .expect("a framework without a credential subscribes");
    // The operator's token is still required for changes.
    let (status, _, _) = probe(
        "POST",
        &format!("{}/cluster/agents/0/stop", cluster.master),
        "",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

// ---------------------------------------------------------------------------
// The operator
// ---------------------------------------------------------------------------

#[tokio::test]
async fn without_the_operator_token_the_operator_api_serves_reads_only_and_faults_are_refused() {
    let cluster = ClusterProcess::start("auth-operator").await;
    let sched = Scheduler::subscribe(&cluster.master, framework("ops", ROLE, &[])).await;
    let fid = sched.framework_id.clone();
    let api = format!("{}/api/v1", cluster.master);
    let agent = cluster.agent_id(0).await;

    let (status, _, body) = probe("POST", &api, r#"{"type":"GET_STATE"}"#, None).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "reads stay open on loopback: {body}"
    );
    for call in [
        json!({"type": "TEARDOWN", "teardown": {"framework_id": {"value": fid.value}}}),
        json!({"type": "MARK_AGENT_GONE", "mark_agent_gone": {"agent_id": {"value": agent.value}}}),
        json!({"type": "UNRESERVE_RESOURCES", "unreserve_resources": {"agent_id": {"value": agent.value}, "resources": []}}),
    ] {
        let (status, challenge, body) = probe("POST", &api, &call.to_string(), None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{call}: {body}");
        assert_eq!(
            challenge.as_deref(),
            Some(r#"Bearer realm="mesos-master-readwrite""#)
        );
        // A framework's credential is not the operator's.
        let framework_cred = cluster.credential("ops-principal").unwrap().authorization();
        let (status, _, _) = probe("POST", &api, &call.to_string(), Some(&framework_cred)).await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "{call} with a framework's credential"
        );
    }
    for (path, what) in [
        ("/cluster/agents/0/stop", "stop"),
        ("/cluster/agents/0/lose", "lose"),
        ("/cluster/agents/0/restart", "restart"),
        ("/cluster/agents", "add"),
    ] {
        let (status, _, body) = probe("POST", &format!("{}{path}", cluster.master), "", None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{what}: {body}");
    }
    let agents = cluster.agents().await;
    assert_eq!(agents.len(), 3, "no agent was added");
    assert!(
        agents.iter().all(|a| a["status"] == "running"),
        "{agents:?}"
    );
    assert!(cluster
        .get_frameworks()
        .await
        .frameworks
        .iter()
        .any(|f| f.framework_info.id.as_ref() == Some(&fid)));

    // The operator's token does it all.
    let (status, body) = cluster
        .operator_raw(
            &json!({"type": "TEARDOWN", "teardown": {"framework_id": {"value": fid.value}}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    cluster.agent_action(0, "stop").await;
}

// ---------------------------------------------------------------------------
// Executors
// ---------------------------------------------------------------------------

/// An executor as its agent checkpointed it: whose it is, its token, and its agent.
#[derive(Debug, Clone)]
struct CheckpointedExecutor {
    agent: usize,
    framework_id: FrameworkId,
    executor_id: ExecutorId,
    token: String,
    file: PathBuf,
    pid: Option<u32>,
}

fn checkpointed_executors(work_dir: &Path) -> Vec<CheckpointedExecutor> {
    let mut out = Vec::new();
    for agent in std::fs::read_dir(work_dir.join("agents"))
        .unwrap()
        .flatten()
    {
        let index: usize = agent.file_name().to_str().unwrap().parse().unwrap();
        let Ok(files) = std::fs::read_dir(agent.path().join("executors")) else {
            continue;
        };
        for f in files.flatten() {
            let doc: Value = serde_json::from_slice(&std::fs::read(f.path()).unwrap()).unwrap();
            out.push(CheckpointedExecutor {
                agent: index,
                framework_id: FrameworkId::new(doc["framework_id"]["value"].as_str().unwrap()),
                executor_id: ExecutorId::new(doc["info"]["executor_id"]["value"].as_str().unwrap()),
                token: doc["auth_token"].as_str().unwrap_or_default().to_string(),
                file: f.path(),
                pid: doc["pid"].as_u64().map(|p| p as u32),
            });
        }
    }
    out
}

fn forged_failure(task: &TaskId) -> TaskStatus {
    TaskStatus {
        task_id: task.clone(),
        state: TaskState::Failed,
        source: Some(Source::Executor),
        uuid: Some(Bytes(uuid::Uuid::new_v4().as_bytes().to_vec())),
        message: Some("forged".into()),
        ..Default::default()
    }
}

#[tokio::test]
async fn an_executor_token_speaks_only_for_its_own_executor_and_its_own_tasks() {
    let cluster = ClusterProcess::start_with(
        "auth-executor",
        ClusterOptions {
            agents: 1,
            ..ClusterOptions::default()
        },
    )
    .await;
    let mut sched = Scheduler::subscribe(&cluster.master, framework("exec", ROLE, &[])).await;
    let offer = sched.any_offer().await;
    let role = offer_role(&offer);
    let small = || {
        vec![
            scalar("cpus", 0.1, &role),
            scalar("mem", 32.0, &role),
            scalar("disk", 16.0, &role),
        ]
    };
    let pod = |name: &str| {
        launch_group(
            pod_executor(&format!("{name}-exec"), &sched.framework_id, small()),
            vec![task(
                &format!("{name}-task"),
                &offer.agent_id,
                "exec sleep 3600",
                small(),
            )],
        )
    };
    let ops = vec![pod("a"), pod("b")];
    sched.accept(&offer.id, ops).await;
    let (task_a, task_b) = (TaskId::new("a-task"), TaskId::new("b-task"));
    sched.update(&task_a, TaskState::Running).await;
    sched.update(&task_b, TaskState::Running).await;

    let execs = checkpointed_executors(&cluster.work_dir);
    let a = execs
        .iter()
        .find(|e| e.executor_id.value == "a-exec")
        .expect("a-exec is checkpointed")
        .clone();
    let b_id = ExecutorId::new("b-exec");
    let endpoint = cluster.agents().await[a.agent]["endpoint"]
        .as_str()
        .unwrap()
        .to_string();
    let url = format!("http://{endpoint}/api/v1/executor");
    let bearer = |t: &str| cairn_cluster::auth::bearer_authorization(t);
    let update_b_as = |executor: &ExecutorId| {
        serde_json::to_string(&executor::Call::update(
            a.framework_id.clone(),
            executor.clone(),
            forged_failure(&task_b),
        ))
        .unwrap()
    };

    // No token, a wrong one: 401 with Mesos' executor realm.
    let (status, challenge, body) = probe("POST", &url, &update_b_as(&b_id), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "no token: {body}");
    assert_eq!(
        challenge.as_deref(),
        Some(r#"Bearer realm="mesos-agent-executor""#)
    );
    let (status, _, body) = probe(
        "POST",
        &url,
        &update_b_as(&b_id),
        Some(&bearer("not-a-token")),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "a wrong token: {body}");
    assert!(!a.token.is_empty(), "an executor is given a token: {a:?}");
    assert_eq!(
        std::fs::metadata(&a.file).unwrap().permissions().mode() & 0o777,
        0o600,
        "the checkpoint holding the token is its owner's alone"
    );
    // A's token naming B, or naming A with B's task: 403.
    let (status, _, body) = probe("POST", &url, &update_b_as(&b_id), Some(&bearer(&a.token))).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "A's token for B: {body}");
    assert!(body.contains("'eid' claim"), "{body}");
    let (status, _, body) = probe(
        "POST",
        &url,
        &update_b_as(&a.executor_id),
        Some(&bearer(&a.token)),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "B's task under A's name: {body}"
    );
    // A's token re-subscribing as A with B's failure among its "unacknowledged updates":
    // the subscription stands (it is A's), the update of B's task is dropped.
    let resubscribe = json!({
        "type": "SUBSCRIBE",
        "framework_id": {"value": a.framework_id.value},
        "executor_id": {"value": a.executor_id.value},
        "subscribe": {"unacknowledged_updates": [
            {"status": serde_json::to_value(forged_failure(&task_b)).unwrap()}
        ]}
    });
    let stream = http_client()
        .post(&url)
        .header("Content-Type", "application/json")
        .header("Authorization", bearer(&a.token))
        .body(resubscribe.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), StatusCode::OK);
    // Dropping the stream lets the real executor A subscribe again.
    drop(stream);
    // The same token for A's own business is accepted: the refusals were about the owner.
    let message = executor::Call::message(
        a.framework_id.clone(),
        a.executor_id.clone(),
        Bytes(b"hello".to_vec()),
    );
    let (status, _, body) = probe(
        "POST",
        &url,
        &serde_json::to_string(&message).unwrap(),
        Some(&bearer(&a.token)),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "A's own message: {body}");
    sched
        .wait_for("A's message", |e| {
            (e.type_ == EventType::Message).then_some(())
        })
        .await;

    sched.sync().await;
    let forged: Vec<_> = sched
        .history
        .iter()
        .filter_map(|e| e.update.as_ref())
        .filter(|u| u.status.task_id == task_b && u.status.state == TaskState::Failed)
        .collect();
    assert!(forged.is_empty(), "a forged update got through: {forged:?}");
    let tasks = cluster.get_tasks().await;
    let b = tasks.tasks.iter().find(|t| t.task_id == task_b).unwrap();
    assert_eq!(b.state, TaskState::Running);
}

// ---------------------------------------------------------------------------
// Every route of every router
// ---------------------------------------------------------------------------

/// Reads anyone on the machine may make without a credential, as Mesos' defaults leave them
/// (`--authenticate_http_readonly` is off by default): method and path, on the master and on
/// an agent. The operator API's `GET_*` calls (a POST with a read in its body) are the other
/// open read, probed separately. Everything else must answer 401 or 403.
const OPEN_READS: &[(&str, &str)] = &[
    ("GET", "/version"),
    ("GET", "/master/version"),
    ("GET", "/health"),
    ("GET", "/master/health"),
    ("GET", "/state"),
    ("GET", "/master/state"),
    ("GET", "/state.json"),
    ("GET", "/master/state.json"),
    ("GET", "/master/state-summary"),
    ("GET", "/state-summary"),
    ("GET", "/master/slaves"),
    ("GET", "/slaves"),
    ("GET", "/master/frameworks"),
    ("GET", "/frameworks"),
    ("GET", "/master/tasks"),
    ("GET", "/tasks"),
    ("GET", "/master/roles"),
    ("GET", "/roles"),
    ("GET", "/master/flags"),
    ("GET", "/flags"),
    ("GET", "/master/redirect"),
    ("GET", "/redirect"),
    ("GET", "/metrics/snapshot"),
    // The agents' list, which /state shows too.
    ("GET", "/cluster/agents"),
];

const METHODS: &[&str] = &["GET", "POST", "PUT", "DELETE", "PATCH"];

/// What a route's path parameters are filled with when probing it.
fn fill(path: &str) -> String {
    let action = if path.starts_with("/v1/pods") {
        "restart"
    } else if path.starts_with("/v1/plans") {
        "interrupt"
    } else {
        "stop"
    };
    path.replace("{agent}", "0")
        .replace("{action}", action)
        .replace("{plan}", "deploy")
        .replace("{pod}", "hello-0")
}

/// One probe of the walk: a method, a URL, a body, and whether it is an open read.
#[derive(Debug, Clone)]
struct Probe {
    method: &'static str,
    url: String,
    body: String,
    open: bool,
}

/// Every route of the master, of an agent and of the scheduler's API, with every method and
/// the bodies that would do damage, and the open reads marked.
fn walk(master: &str, agent: &str, api: &str, victim: &CheckpointedExecutor) -> Vec<Probe> {
    let info = framework("intruder", ROLE, &[]);
    let teardown = serde_json::to_string(&Call::teardown(victim.framework_id.clone())).unwrap();
    let update = serde_json::to_string(&executor::Call::update(
        victim.framework_id.clone(),
        victim.executor_id.clone(),
        forged_failure(&TaskId::new("hello-0-server")),
    ))
    .unwrap();
    let exec_subscribe = json!({
        "type": "SUBSCRIBE",
        "framework_id": {"value": victim.framework_id.value},
        "executor_id": {"value": victim.executor_id.value},
        "subscribe": {}
    })
    .to_string();
    let mut probes = Vec::new();
    let mut add = |base: &str, path: &str, bodies: Vec<String>, open_reads: &[(&str, &str)]| {
        for &method in METHODS {
            for body in &bodies {
                let open = open_reads.iter().any(|(m, p)| *m == method && *p == path);
                probes.push(Probe {
                    method,
                    url: format!("{base}{}", fill(path)),
                    body: body.clone(),
                    open,
                });
            }
        }
    };
    for (path, _) in cairn_cluster::master_routes() {
        let bodies = match path {
            p if p.ends_with("/scheduler") => vec![subscribe_body(&info), teardown.clone()],
            "/api/v1" | "/api/v1/operator" | "/master/api/v1" => vec![
                json!({"type": "TEARDOWN", "teardown": {"framework_id": {"value": victim.framework_id.value}}}).to_string(),
                json!({"type": "MARK_AGENT_GONE", "mark_agent_gone": {"agent_id": {"value": "x"}}}).to_string(),
                "{not json".to_string(),
            ],
            _ => vec![String::new()],
        };
        add(master, path, bodies, OPEN_READS);
    }
    for (path, _) in cairn_cluster::agent_routes() {
        let bodies = if path.ends_with("/api/v1/executor") {
            vec![update.clone(), exec_subscribe.clone()]
        } else {
            vec![String::new()]
        };
        // An agent's health and state are reads like the master's (its sandboxes' files
        // are not: they need the operator's token).
        add(
            agent,
            path,
            bodies,
            &[
                ("GET", "/health"),
                ("GET", "/slave(1)/health"),
                ("GET", "/state"),
                ("GET", "/slave(1)/state"),
            ],
        );
    }
    for path in cairn::api::routes() {
        let body = if path == "/v1/update" {
            r#"{"name":"hello"}"#.to_string()
        } else {
            String::new()
        };
        // Nothing of the scheduler's API is open.
        add(api, path, vec![body], &[]);
    }
    // The operator API's reads: open.
    for path in ["/api/v1", "/api/v1/operator", "/master/api/v1"] {
        probes.push(Probe {
            method: "POST",
            url: format!("{master}{path}"),
            body: r#"{"type":"GET_STATE"}"#.to_string(),
            open: true,
        });
    }
    probes
}

/// The status of `probe` sent by `curl` running as user `uid`.
fn curl_as(uid: u32, probe: &Probe) -> u16 {
    let out = Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--max-time",
            "20",
        ])
        .args(["-X", probe.method])
        .args(["-H", "Content-Type: application/json"])
        .args(["--data-binary", &probe.body])
        .arg(&probe.url)
        .uid(uid)
        .gid(uid)
        .stdin(Stdio::null())
        .output()
        .expect("running curl (this test needs curl installed)");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0)
}

/// Whether user `uid` can read `file` (`cat` as that user).
fn readable_by(uid: u32, file: &Path) -> bool {
    Command::new("cat")
        .arg(file)
        .uid(uid)
        .gid(uid)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("running cat")
        .success()
}

const HELLO: &str = r#"
name: hello
pods:
  hello:
    count: 1
    tasks:
      server:
        goal: RUNNING
        cmd: "exec sleep 3600"
        cpus: 0.1
        memory: 32
"#;

struct SchedulerChild(Child);

impl Drop for SchedulerChild {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_of_every_router_refuses_a_caller_without_credentials_even_another_user() {
    let cluster = ClusterProcess::start_with(
        "auth-walk",
        ClusterOptions {
            agents: 1,
            ..ClusterOptions::default()
        },
    )
    .await;
    let spec = cluster.scratch.join("hello.yml");
    std::fs::write(&spec, HELLO).unwrap();
    let state = cluster.scratch.join("state");
    let mut command = Command::new(cairn_binary());
    command
        .arg("scheduler")
        .arg(&spec)
        .args(["--master", &cluster.master])
        .arg("--state-dir")
        .arg(&state);
    // (A build that keeps no credentials knows no such flag.)
    if cluster.credentials_path().exists() {
        command.arg("--credentials").arg(cluster.credentials_path());
    }
    let _scheduler = SchedulerChild(
        command
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(cluster.scratch.join("scheduler.out")).unwrap())
            .stderr(std::fs::File::create(cluster.scratch.join("scheduler.err")).unwrap())
            .spawn()
            .expect("starting cairn scheduler"),
    );
    let address = state.join("hello.api");
    let mut running = false;
    for _ in 0..600 {
        running = cluster
            .get_tasks()
            .await
            .tasks
            .iter()
            .any(|t| t.state == TaskState::Running);
        if running && address.exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(running && address.exists(), "the service is deployed");
    let api = std::fs::read_to_string(&address)
        .unwrap()
        .trim()
        .to_string();
    let victim = checkpointed_executors(&cluster.work_dir)
        .pop()
        .expect("the pod's executor");
    let agent = format!(
        "http://{}",
        cluster.agents().await[victim.agent]["endpoint"]
            .as_str()
            .unwrap()
    );
    let probes = walk(&cluster.master, &agent, &api, &victim);
    assert!(probes.len() > 100, "{} probes", probes.len());

    // Without credentials, from this process.
    let mut wrong = Vec::new();
    for p in &probes {
        match try_probe(p.method, &p.url, &p.body, None).await {
            Ok((status, _, body)) => {
                let refused = matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN);
                if refused == p.open {
                    wrong.push(format!(
                        "{} {} {:?} -> {status} {body}",
                        p.method, p.url, p.body
                    ));
                }
            }
            // (A server an earlier probe managed to stop answers nothing.)
            Err(e) => wrong.push(format!("{} {} -> no answer: {e}", p.method, p.url)),
        }
    }
    assert!(
        wrong.is_empty(),
        "answered wrongly without credentials:\n{}",
        wrong.join("\n")
    );

    // The credential files are their owner's alone.
    let secrets: Vec<PathBuf> = vec![
        cluster.credentials_path(),
        cluster.operator_token_path(),
        state.join("hello.api-token"),
        victim.file.clone(),
    ];
    for f in &secrets {
        let mode = std::fs::metadata(f).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{} is {mode:o}", f.display());
    }

    // And as another user of the machine, with what it can read: nothing.
    if current_uid() != 0 {
        eprintln!("not root: the walk as user {NOBODY} is skipped");
        return;
    }
    for f in &secrets {
        assert!(
            !readable_by(NOBODY, f),
            "{} is readable by nobody",
            f.display()
        );
    }
    // Nor can it take the executor's token from the executor, though the executor runs as
    // nobody (the service's user): the token is in no environment, and the executor's /proc
    // is closed to its own user.
    let pid = victim.pid.expect("the executor's pid");
    let environ = PathBuf::from(format!("/proc/{pid}/environ"));
    let env = std::fs::read(&environ).unwrap();
    assert!(
        !String::from_utf8_lossy(&env).contains(&victim.token),
        "the executor's environment holds its token"
    );
    assert!(
        !readable_by(NOBODY, &environ),
        "nobody reads the executor's environment"
    );
    assert!(
        !readable_by(NOBODY, Path::new(&format!("/proc/{pid}/mem"))),
        "nobody reads the executor's memory"
    );
    let mut wrong = Vec::new();
    for p in &probes {
        let status = curl_as(NOBODY, p);
        let refused = matches!(status, 401 | 403);
        if refused == p.open || status == 0 {
            wrong.push(format!("{} {} {:?} -> {status}", p.method, p.url, p.body));
        }
    }
    assert!(
        wrong.is_empty(),
        "answered wrongly to user {NOBODY}:\n{}",
        wrong.join("\n")
    );
    // Nothing the walk sent changed anything: the pod still runs, the agent too.
    let tasks = cluster.get_tasks().await;
    assert!(
        tasks.tasks.iter().any(|t| t.state == TaskState::Running),
        "{tasks:?}"
    );
    assert_eq!(cluster.agent_status(0).await, "running");
}

/// This process' user id, from `/proc`.
fn current_uid() -> u32 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(u32::MAX)
}
