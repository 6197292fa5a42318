//! End-to-end tests of what `cairn cluster`'s master answers to tools: the operator API's
//! event stream, the v0 endpoints (`/master/tasks` and its kin), the metrics, the redirect,
//! and the agent URL that offers carry. (Their shapes are held to real Mesos' by the
//! conformance suite; these tests hold the values to what the cluster did.)

mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cairn_proto::TaskState;
use reqwest::StatusCode;
use serde_json::{json, Value};
use support::*;

const ROLE: &str = "endpoints";

/// An operator's event stream, read into a list as it arrives.
struct OperatorStream {
    events: Arc<Mutex<Vec<Value>>>,
    reader: tokio::task::JoinHandle<()>,
}

impl OperatorStream {
    /// SUBSCRIBEs to the operator API with no credential (a read from loopback).
    async fn open(master: &str) -> OperatorStream {
        let resp = reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("an HTTP client")
            .post(format!("{master}/api/v1"))
            .header("Content-Type", "application/json")
            .header("Accept", "application/json")
            .body(json!({"type": "SUBSCRIBE"}).to_string())
            .send()
            .await
            .expect("POST SUBSCRIBE");
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(
            resp.headers().get("Content-Type").unwrap(),
            "application/json"
        );
        let events: Arc<Mutex<Vec<Value>>> = Arc::default();
        let sink = events.clone();
        let mut resp = resp;
        let reader = tokio::spawn(async move {
            let mut decoder = cairn_proto::recordio::Decoder::new();
            while let Ok(Some(chunk)) = resp.chunk().await {
                let records = decoder.feed_json(&chunk).expect("RecordIO records");
                sink.lock().unwrap().extend(records);
            }
        });
        OperatorStream { events, reader }
    }

    /// The first event from the `from`-th on that `pred` accepts, and its place; waits for it.
    async fn after(
        &self,
        from: usize,
        what: &str,
        pred: impl Fn(&Value) -> bool,
    ) -> (usize, Value) {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let found = self
                .events
                .lock()
                .unwrap()
                .iter()
                .enumerate()
                .skip(from)
                .find(|(_, e)| pred(e))
                .map(|(i, e)| (i, e.clone()));
            if let Some(found) = found {
                return found;
            }
            assert!(Instant::now() < deadline, "no {what} on the stream");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn first(&self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        self.after(0, what, pred).await.1
    }
}

impl Drop for OperatorStream {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

async fn get(master: &str, path: &str) -> (StatusCode, Value) {
    let resp = http_client()
        .get(format!("{master}{path}"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {path}: {e}"));
    let status = resp.status();
    let text = resp.text().await.unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

#[tokio::test]
async fn the_operator_event_stream_starts_with_the_state_then_tells_of_every_agent_framework_and_task_change(
) {
    let cluster = ClusterProcess::start_with(
        "operator-events",
        ClusterOptions {
            agents: 2,
            ..ClusterOptions::default()
        },
    )
    .await;
    let stream = OperatorStream::open(&cluster.master).await;
    let subscribed = stream
        .first("SUBSCRIBED", |e| e["type"] == "SUBSCRIBED")
        .await;
    let state = &subscribed["subscribed"]["get_state"];
    assert_eq!(state["get_agents"]["agents"].as_array().unwrap().len(), 2);
    assert_eq!(subscribed["subscribed"]["heartbeat_interval_seconds"], 1.0);
    stream
        .first("HEARTBEAT", |e| e["type"] == "HEARTBEAT")
        .await;
    let (_, metrics) = get(&cluster.master, "/metrics/snapshot").await;
    assert_eq!(metrics["master/operator_event_stream_subscribers"], 1.0);

    // A new agent.
    let resp = cluster
        .as_operator(http_client().post(format!("{}/cluster/agents", cluster.master)))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success());
    let added: Value = resp.json().await.unwrap();
    let new_agent = added["id"].as_str().unwrap().to_string();
    stream
        .first("AGENT_ADDED of the new agent", |e| {
            e["agent_added"]["agent"]["agent_info"]["id"]["value"] == new_agent.as_str()
        })
        .await;

    // A framework and its task.
    let mut sched = Scheduler::subscribe(&cluster.master, modern_framework("watched", ROLE)).await;
    stream
        .first("FRAMEWORK_ADDED", |e| {
            e["framework_added"]["framework"]["framework_info"]["name"] == "watched"
        })
        .await;
    let offer = sched
        .offer("not on the new agent", |o| o.agent_id.value != new_agent)
        .await;
    let task = launch_sleeper(&mut sched, &offer, "watched-task", &cluster.scratch).await;
    sched.update(&task, TaskState::Running).await;
    let of_task = |e: &Value| {
        e["task_added"]["task"]["task_id"]["value"] == task.value.as_str()
            || e["task_updated"]["status"]["task_id"]["value"] == task.value.as_str()
    };
    let (at, added) = stream
        .after(0, "TASK_ADDED", |e| e["type"] == "TASK_ADDED" && of_task(e))
        .await;
    assert_eq!(added["task_added"]["task"]["state"], "TASK_STAGING");
    stream
        .after(at, "TASK_UPDATED to TASK_RUNNING", |e| {
            of_task(e) && e["task_updated"]["state"] == "TASK_RUNNING"
        })
        .await;

    // The task's agent stops: past the ping timeout it is unreachable, which removes it from
    // the registered agents, and its task is unreachable; restarted, it is added again.
    let index = cluster.agent_index(&offer.agent_id).await;
    cluster.agent_action(index, "stop").await;
    let (at, _) = stream
        .after(0, "AGENT_REMOVED of the stopped agent", |e| {
            e["agent_removed"]["agent_id"]["value"] == offer.agent_id.value.as_str()
        })
        .await;
    stream
        .after(0, "TASK_UPDATED to TASK_UNREACHABLE", |e| {
            of_task(e) && e["task_updated"]["state"] == "TASK_UNREACHABLE"
        })
        .await;
    cluster.agent_action(index, "restart").await;
    stream
        .after(at, "AGENT_ADDED of the restarted agent", |e| {
            e["agent_added"]["agent"]["agent_info"]["id"]["value"] == offer.agent_id.value.as_str()
        })
        .await;
    sched.update(&task, TaskState::Running).await;

    // Subscribing again updates the framework; a teardown kills its task and removes it.
    let again = Scheduler::resubscribe(&cluster.master, &sched.info, &sched.framework_id).await;
    stream
        .first("FRAMEWORK_UPDATED", |e| {
            e["framework_updated"]["framework"]["framework_info"]["name"] == "watched"
        })
        .await;
    let (status, body) = again
        .call_json(&json!({"framework_id": {"value": again.framework_id.value},
                           "type": "TEARDOWN"}))
        .await;
    assert!(status.is_success(), "{body}");
    let (at, killed) = stream
        .after(0, "TASK_UPDATED to TASK_KILLED", |e| {
            of_task(e) && e["task_updated"]["state"] == "TASK_KILLED"
        })
        .await;
    assert_eq!(
        killed["task_updated"]["status"]["reason"],
        "REASON_FRAMEWORK_REMOVED"
    );
    stream
        .after(at, "FRAMEWORK_REMOVED", |e| {
            e["framework_removed"]["framework_info"]["name"] == "watched"
        })
        .await;

    // A lost agent leaves for good.
    let lost = cluster
        .agent_index(&cairn_proto::AgentId::new(&new_agent))
        .await;
    cluster.agent_action(lost, "lose").await;
    stream
        .first("AGENT_REMOVED of the lost agent", |e| {
            e["agent_removed"]["agent_id"]["value"] == new_agent.as_str()
        })
        .await;
    // And heartbeats keep coming.
    let beats = |events: &[Value]| events.iter().filter(|e| e["type"] == "HEARTBEAT").count();
    let before = beats(&stream.events.lock().unwrap());
    let deadline = Instant::now() + DEADLINE;
    while beats(&stream.events.lock().unwrap()) == before {
        assert!(Instant::now() < deadline, "no second heartbeat");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn the_v0_endpoints_count_page_and_filter_what_the_cluster_runs_and_the_metrics_count_it_too()
{
    let cluster = ClusterProcess::start("v0-endpoints").await;
    let mut sched = Scheduler::subscribe(&cluster.master, modern_framework("counted", ROLE)).await;
    let fid = sched.framework_id.value.clone();
    let mut tasks = Vec::new();
    for i in 0..3 {
        let offer = sched.any_offer().await;
        // Offers carry the URL of their agent, which answers there.
        let url = offer.url.clone().expect("an offer with its agent's URL");
        assert_eq!(url.address.ip.as_deref(), Some(offer.hostname.as_str()));
        assert_eq!(url.path.as_deref(), Some("/slave(1)"));
        let health = http_client()
            .get(format!(
                "{}://{}:{}{}/health",
                url.scheme,
                offer.hostname,
                url.address.port,
                url.path.unwrap()
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(health.status(), StatusCode::OK);
        let id = launch_sleeper(
            &mut sched,
            &offer,
            &format!("counted-{i}"),
            &cluster.scratch,
        )
        .await;
        sched.update(&id, TaskState::Running).await;
        tasks.push(id);
    }
    let master = &cluster.master;

    // Pages of tasks, newest first unless asked otherwise.
    let ids = |doc: &Value| -> Vec<String> {
        doc["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].as_str().unwrap().to_string())
            .collect()
    };
    let (_, all) = get(master, "/master/tasks").await;
    assert_eq!(ids(&all), ["counted-2", "counted-1", "counted-0"]);
    let (_, page) = get(master, "/master/tasks?limit=2&offset=1&order=asc").await;
    assert_eq!(ids(&page), ["counted-1", "counted-2"]);
    let (_, one) = get(master, "/tasks?task_id=counted-1").await;
    assert_eq!(ids(&one), ["counted-1"]);
    assert_eq!(one["tasks"][0]["state"], "TASK_RUNNING");
    assert_eq!(one["tasks"][0]["resources"]["cpus"], 0.1);
    assert_eq!(one["tasks"][0]["role"], ROLE);
    let (status, _) = get(master, "/master/tasks?limit=all").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Frameworks and agents, whole or picked by id.
    let (_, fws) = get(master, &format!("/master/frameworks?framework_id={fid}")).await;
    let fw = &fws["frameworks"][0];
    assert_eq!(fw["tasks"].as_array().unwrap().len(), 3);
    assert_eq!(fw["roles"], json!([ROLE]));
    let (_, none) = get(master, "/master/frameworks?framework_id=nobody").await;
    assert_eq!(none["frameworks"], json!([]));
    let agent = cluster.agent_id(0).await;
    let (_, slaves) = get(master, &format!("/master/slaves?slave_id={}", agent.value)).await;
    assert_eq!(slaves["slaves"].as_array().unwrap().len(), 1);
    assert_eq!(slaves["slaves"][0]["resources"]["cpus"], 4.0);
    let (_, summary) = get(master, "/master/state-summary").await;
    assert_eq!(summary["frameworks"][0]["TASK_RUNNING"], 3);
    assert_eq!(summary["slaves"].as_array().unwrap().len(), 3);
    let (_, roles) = get(master, "/master/roles").await;
    let role = roles["roles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == ROLE)
        .expect("the framework's role");
    assert_eq!(role["frameworks"], json!([fid]));
    assert!((role["allocated"]["cpus"].as_f64().unwrap() - 0.3).abs() < 1e-9);
    let (_, flags) = get(master, "/master/flags").await;
    assert_eq!(flags["flags"]["allocation_interval"], "100ms");
    assert_eq!(flags["flags"]["root_submissions"], "true");

    // The redirect names this master, without a scheme.
    let resp = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!("{master}/master/redirect"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::TEMPORARY_REDIRECT);
    let host = master.trim_start_matches("http://");
    assert_eq!(
        resp.headers().get("Location").unwrap(),
        &format!("//{host}")
    );

    // The metrics count the calls, the offers and the tasks.
    sched.kill(&tasks[0], None).await;
    sched.update(&tasks[0], TaskState::Killed).await;
    let (_, m) = get(master, "/metrics/snapshot").await;
    let prefix = format!("master/frameworks/counted/{fid}");
    assert_eq!(m["master/tasks_running"], 2.0);
    assert_eq!(m["master/tasks_killed"], 1.0);
    assert_eq!(m[format!("{prefix}/tasks/active/task_running")], 2.0);
    assert_eq!(m[format!("{prefix}/tasks/terminal/task_killed")], 1.0);
    assert_eq!(m[format!("{prefix}/calls/accept")], 3.0);
    assert_eq!(m[format!("{prefix}/calls/kill")], 1.0);
    assert_eq!(m[format!("{prefix}/subscribed")], 1.0);
    assert!(m[format!("{prefix}/offers/sent")].as_f64().unwrap() >= 3.0);
    assert_eq!(m[format!("{prefix}/offers/accepted")], 3.0);
    assert_eq!(m["master/slaves_active"], 3.0);
    assert_eq!(m["master/frameworks_active"], 1.0);
    assert_eq!(m["master/slave_registrations"], 3.0);
    assert_eq!(m["master/messages_kill_task"], 1.0);
    assert_eq!(m["master/cpus_total"], 12.0);
    assert!((m["master/cpus_used"].as_f64().unwrap() - 0.2).abs() < 1e-9);
    assert!(m["master/uptime_secs"].as_f64().unwrap() > 0.0);
    assert!(m["allocator/mesos/allocation_runs"].as_f64().unwrap() > 0.0);
    assert!(m["registrar/registry_size_bytes"].as_f64().unwrap() > 0.0);
    assert_eq!(m["master/elected"], 1.0);

    // A task killed by its framework is among the completed ones.
    let (_, done) = get(master, "/master/tasks?task_id=counted-0").await;
    assert_eq!(done["tasks"][0]["state"], "TASK_KILLED");
}
