//! A service's endpoints with real processes: `cairn cluster`, `cairn scheduler` and two web
//! servers on advertised ports. `/v1/endpoints` and `cairn endpoints` list the agents' addresses
//! the cluster placed them on; a client reaches each server through the listed address; after
//! `cairn pod replace` the endpoint names the new agent; after kill -9 and restart of the
//! scheduler the endpoints are the same; an unknown endpoint is refused naming the ones there
//! are.

mod support;

use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use cairn::api::ApiClient;
use cairn::core::scheduler::Endpoint;
use support::service::{cairn, output_text, ServiceScheduler};
use support::ClusterProcess;

/// How long a deploy, a replace or a restart may take. Generous: the machine is shared.
const DEADLINE: Duration = Duration::from_secs(180);
const SERVICE: &str = "websvc";

/// Two web servers, one per agent, each serving its own task name as `/whoami` on its
/// advertised port `http`, bound to its agent's address; `admin` is a port with a VIP.
const SPEC: &str = r#"
name: websvc
pods:
  web:
    count: 2
    placement: '[["hostname", "UNIQUE"]]'
    tasks:
      server:
        goal: RUNNING
        cmd: 'echo "$TASK_NAME" > whoami && exec python3 -m http.server "$PORT_HTTP" --bind "$MESOS_CONTAINER_IP"'
        cpus: 0.1
        memory: 64
        ports:
          http: {port: 0, advertise: true}
          admin: {port: 0, vip: {prefix: web-admin, port: 80}}
"#;

fn state(cluster: &ClusterProcess) -> PathBuf {
    cluster.scratch.join("state")
}

/// Polls `probe` until it gives a value, for at most [`DEADLINE`].
async fn until<T, F, Fut>(what: &str, sched: &mut ServiceScheduler, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + DEADLINE;
    loop {
        sched.assert_alive();
        if let Some(value) = probe().await {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {DEADLINE:?} waiting for {what}\n{}",
            sched.output()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The scheduler's API client, once it wrote its address.
fn api(state: &Path) -> Option<ApiClient> {
    ApiClient::find(state, SERVICE).ok().flatten()
}

/// Every endpoint, as the API gives them (names, then each by name).
async fn endpoints(state: &Path) -> Option<BTreeMap<String, Endpoint>> {
    let api = api(state)?;
    let mut out = BTreeMap::new();
    for name in api.endpoints().await.ok()? {
        out.insert(name.clone(), api.endpoint(&name).await.ok()??);
    }
    Some(out)
}

/// Where the cluster runs the service's live tasks: task name → `<agent address>:<http port>`,
/// from the master's own view (GET_TASKS, GET_AGENTS).
async fn placed(cluster: &ClusterProcess) -> BTreeMap<String, String> {
    let agents = cluster.get_agents().await;
    let host_of = |id: &cairn_proto::AgentId| {
        agents
            .agents
            .iter()
            .find(|a| a.agent_info.id.as_ref() == Some(id))
            .map(|a| a.agent_info.hostname.clone())
    };
    let mut out = BTreeMap::new();
    for task in cluster.get_tasks().await.tasks {
        if task.state != cairn_proto::TaskState::Running {
            continue;
        }
        let port = task
            .discovery
            .as_ref()
            .and_then(|d| d.ports.as_ref())
            .and_then(|p| p.ports.iter().find(|p| p.name.as_deref() == Some("http")))
            .map(|p| p.number);
        if let (Some(host), Some(port)) = (host_of(&task.agent_id), port) {
            out.insert(task.name.clone(), format!("{host}:{port}"));
        }
    }
    out
}

/// What the server at `address` says it is.
async fn whoami(address: &str) -> Option<String> {
    let body = support::http_client()
        .get(format!("http://{address}/whoami"))
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    Some(body.trim().to_string())
}

/// `cairn endpoints ARGS --state-dir STATE`.
fn cairn_endpoints(state: &Path, args: &[&str]) -> Output {
    let mut all = vec!["endpoints"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--state-dir", state.to_str().unwrap()]);
    cairn(&all, Duration::from_secs(60))
}

/// Both servers listed and serving: the `http` endpoint once it lists web-0 and web-1 where
/// the cluster runs them (web-1 not at `not_at`), each answering as itself through its listed
/// address.
async fn serving(
    cluster: &ClusterProcess,
    sched: &mut ServiceScheduler,
    state: &Path,
    not_at: Option<&str>,
    what: &str,
) -> BTreeMap<String, Endpoint> {
    until(what, sched, || async {
        let all = endpoints(state).await?;
        let http = all.get("http")?;
        if not_at.is_some_and(|old| http.address.get(1).map(String::as_str) == Some(old)) {
            return None;
        }
        let placed = placed(cluster).await;
        let expected = [
            placed.get("web-0-server")?.clone(),
            placed.get("web-1-server")?.clone(),
        ];
        if http.address != expected {
            return None;
        }
        for (address, task) in http.address.iter().zip(["web-0-server", "web-1-server"]) {
            if whoami(address).await.as_deref() != Some(task) {
                return None;
            }
        }
        Some(all)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoints_list_the_agents_addresses_a_client_connects_through_and_follow_a_replace_and_a_scheduler_restart(
) {
    let cluster = ClusterProcess::start("service-endpoints").await;
    let spec = cluster.scratch.join("svc.yml");
    std::fs::write(&spec, SPEC).unwrap();
    let state = state(&cluster);
    let mut sched = ServiceScheduler::on_cluster(&cluster, &spec, 1, &[]);

    // Deployed: each advertised port is an endpoint named after it, in pod-index order, with
    // the address the cluster runs the task at and the task's stable name.
    let before = serving(
        &cluster,
        &mut sched,
        &state,
        None,
        "both servers listed and serving",
    )
    .await;
    assert_eq!(
        before.keys().collect::<Vec<_>>(),
        ["admin", "http"],
        "{before:#?}"
    );
    let http = &before["http"];
    let port = |address: &str| address.rsplit_once(':').unwrap().1.to_string();
    assert_eq!(
        http.dns,
        [
            format!("web-0-server.websvc.mesos:{}", port(&http.address[0])),
            format!("web-1-server.websvc.mesos:{}", port(&http.address[1])),
        ]
    );
    assert_eq!(http.vip, None);
    assert_eq!(
        before["admin"].vip.as_deref(),
        Some("web-admin.websvc.l4lb.thisdcos.directory:80")
    );

    // The same for people, with the connect string of one endpoint; JSON on request.
    let out = cairn_endpoints(&state, &["http"]);
    assert!(out.status.success(), "{}", output_text(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    let connect = format!("connect: {},{}", http.address[0], http.address[1]);
    assert!(text.lines().any(|l| l == connect), "{text}");
    for (address, dns) in http.address.iter().zip(&http.dns) {
        assert!(
            text.lines()
                .any(|l| l.contains(address.as_str()) && l.contains(dns.as_str())),
            "{text}"
        );
    }
    let out = cairn_endpoints(&state, &["http", "--json"]);
    assert!(out.status.success(), "{}", output_text(&out));
    let json: Endpoint = serde_json::from_slice(&out.stdout).expect("the endpoint's JSON");
    assert_eq!(&json, http);
    let out = cairn_endpoints(&state, &["--json"]);
    let names: Vec<String> = serde_json::from_slice(&out.stdout).expect("a list of names");
    assert_eq!(names, ["admin", "http"]);

    // An endpoint the service does not have: refused naming the ones it has.
    let out = cairn_endpoints(&state, &["nope"]);
    assert!(!out.status.success(), "{}", output_text(&out));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("no endpoint `nope` (endpoints: admin, http)"),
        "{said}"
    );
    let client = api(&state).unwrap();
    let token = std::fs::read_to_string(cairn::api::token_file(&state, SERVICE)).unwrap();
    let resp = support::http_client()
        .get(format!("{}/v1/endpoints/nope", client.base()))
        .header("authorization", format!("Bearer {}", token.trim()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 404);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(
        body["error"], "no endpoint `nope` (endpoints: admin, http)",
        "{body}"
    );

    // web-1's agent stops and the operator replaces web-1: it runs on the third agent, and
    // the endpoint lists that agent's address.
    let old = http.address[1].clone();
    let tasks = cluster.get_tasks().await.tasks;
    let web1 = tasks.iter().find(|t| t.name == "web-1-server").unwrap();
    let web1_agent = cluster.agent_index(&web1.agent_id).await;
    cluster.agent_action(web1_agent, "stop").await;
    let out = cairn(
        &[
            "pod",
            "replace",
            "web-1",
            "--state-dir",
            state.to_str().unwrap(),
        ],
        Duration::from_secs(60),
    );
    assert!(out.status.success(), "{}", output_text(&out));
    let replaced = serving(
        &cluster,
        &mut sched,
        &state,
        Some(&old),
        "web-1 serving elsewhere",
    )
    .await;
    let moved = &replaced["http"].address[1];
    let host = |address: &str| address.rsplit_once(':').unwrap().0.to_string();
    assert_ne!(host(moved), host(&old), "web-1 is on another agent");
    assert_eq!(replaced["http"].address[0], http.address[0], "web-0 stays");

    // The scheduler dies with -9 and comes back: the same endpoints, from its store.
    sched.kill9();
    let mut sched = ServiceScheduler::on_cluster(&cluster, &spec, 2, &[]);
    let restarted = until(
        "the restarted scheduler's endpoints",
        &mut sched,
        || async {
            let status = api(&state)?.status().await.ok()?;
            if !status.connected {
                return None;
            }
            endpoints(&state).await
        },
    )
    .await;
    assert_eq!(restarted, replaced);
    cluster.agent_action(web1_agent, "restart").await;
}
